//! tcpconnect: trace active TCP connections, a drop-in for bcc's tcpconnect.
//!
//! Data flows one way: options (`cli`) → plan → load (`loader`, syscall-free,
//! over the embedded object) → kernel objects (`sys`, the only door to the
//! kernel) → attach (`tracefs`, `attach`) → rings (`perf`) → decode (`event`)
//! → format (`inet`, `output`) → stdout.

#![deny(unsafe_code)]

pub mod abi;
pub mod app;
pub mod attach;
pub mod btf;
pub mod cli;
pub mod dns;
pub mod error;
pub mod escape;
pub mod host;
pub mod loader;
pub mod perf;
pub mod pinned_map;
pub mod plan;
pub mod present;
pub mod records;
pub mod sock_offsets;
// The one door to the kernel: every unsafe block, each with its SAFETY note.
#[allow(unsafe_code)]
pub mod sys;
pub mod tracefs;
pub mod tracer;
