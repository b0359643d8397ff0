//! tcpconnect: trace active TCP connections, a drop-in for bcc's tcpconnect.
//!
//! Data flows one way. The command line (`cli`) becomes a `plan` (filters,
//! attach method, modes, columns). The kernel side, `tracer`, checks the
//! `host` (kernel version, lockdown, CPUs, kallsyms, arch), chooses the way
//! in, links the embedded object with the `loader` (syscall-free; names from
//! `abi`, type information from `btf`, where each kernel field lives from `layout`,
//! the user's `pinned_map`s), and attaches through `tracefs` and `attach`;
//! `sys` is its only door to the kernel, and the only module allowed
//! `unsafe_code`.
//! Samples come back through the BPF `ringbuf` (or, before 5.8, `perf`'s
//! rings), are decoded in `event`, get their DNS names from `dns` (-d),
//! and `present` turns them into bcc's lines, JSON or the -c table on stdout; `app` runs the loop, `error` words
//! the failures and `escape` keeps outside bytes off the terminal.

#![deny(unsafe_code)]

pub mod abi;
pub mod app;
pub mod attach;
pub mod btf;
pub mod cli;
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
