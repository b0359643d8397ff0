//! Per-CPU perf rings: `ring` is the pure record reader over bytes, `buffer`
//! opens, maps and drains the rings of a BPF perf event array.

pub mod buffer;
pub mod ring;

pub use buffer::{PerfBuffers, RingStats};
