//! tcpconnect: trace active TCP connections, a drop-in for bcc's tcpconnect.
//!
//! Data flows one way: options → plan → load → attach → rings → decode →
//! format → stdout. The command line (`cli`) becomes a `plan`, the one
//! description of a run (filters, attach method, modes, columns, the
//! environment's switches). The kernel side, `tracer`, checks the `host`
//! (kernel version, lockdown, CPUs, kallsyms, arch), chooses the way in,
//! learns where each kernel field lives (`layout`: from `btf`, else
//! calibration), links the embedded object with the `loader` (syscall-free;
//! names shared with the object from `abi`, kernel numbers from `uapi`, the
//! user's `pinned_map`s), and attaches through `tracefs` and `attach`; `sys`
//! is its only door to the kernel, and the only module allowed
//! `unsafe_code`. Samples come back through the BPF `ringbuf` (or, before
//! 5.8, `perf`'s rings), are decoded in `event`, get their DNS names from
//! `dns` (-d), and `present` turns them into bcc's lines, JSON or the -c
//! table on stdout; `app` runs the loop, `error` words the failures and
//! `escape` keeps outside bytes off the terminal. docs/architecture.md has
//! the source map.

#![deny(unsafe_code)]

pub mod abi;
pub mod app;
pub mod attach;
pub mod btf;
pub mod cli;
pub mod container;
pub mod dns;
pub mod error;
pub mod escape;
pub mod event;
pub mod host;
pub mod layout;
pub mod loader;
pub mod perf;
pub mod pinned_map;
pub mod plan;
pub mod present;
pub mod ringbuf;
// The one door to the kernel, and the only module allowed `unsafe_code`
// (each block with its SAFETY note).
#[allow(unsafe_code)]
pub mod sys;
pub mod tracefs;
pub mod tracer;
pub mod uapi;
