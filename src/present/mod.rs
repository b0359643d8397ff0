//! Presentation: what the user sees on stdout, and nothing of the kernel.
//! Decoded records (`crate::event`) come in; bytes go out.
//!
//! - `text`: bcc's columns, header and event lines;
//! - `json`: -j, one object per line;
//! - `count_table`: the -c table printed at the end;
//! - `batch`: one ring batch ordered by kernel time and formatted;
//! - `stdout_sink`: writing it out (pipes, signals, EPIPE);
//! - `primitives` and `inet`: numbers, padding and glibc's address text,
//!   the leaves the formats share.

pub mod batch;
pub mod count_table;
pub mod decimal;
pub mod inet;
pub mod json;
pub mod outcome;
pub mod primitives;
pub mod stdout_sink;
pub mod text;
