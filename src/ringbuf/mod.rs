//! The BPF ring buffer (5.8+): `records` walks its records over bytes,
//! `buffer` maps one ring buffer map and drains it.

pub mod buffer;
pub mod records;

pub use buffer::RingBuffer;
