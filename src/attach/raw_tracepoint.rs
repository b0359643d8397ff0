//! Raw tracepoints (4.17+): BPF_RAW_TRACEPOINT_OPEN attaches a program to a
//! tracepoint by name, with no perf event in between. The program then runs
//! on the tracepoint's arguments, before (and instead of) the record a perf
//! tracepoint event would build. A BTF tracepoint program (5.5+) attaches
//! the same way, to the tracepoint it was loaded for.

use crate::sys::bpf::bpf_raw_tracepoint_open;
use crate::sys::SysResult;
use std::ffi::CStr;
use std::os::fd::{BorrowedFd, OwnedFd};

/// A program attached to a raw tracepoint; dropping it closes the fd, which
/// detaches the program.
pub struct RawTracepointLink {
    _fd: OwnedFd,
}

/// Attaches `prog` (BPF_PROG_TYPE_RAW_TRACEPOINT) to tracepoint `name`
/// (without its category: `inet_sock_set_state`).
pub fn attach_raw_tracepoint(name: &CStr, prog: BorrowedFd<'_>) -> SysResult<RawTracepointLink> {
    Ok(RawTracepointLink { _fd: bpf_raw_tracepoint_open(Some(name), prog)? })
}

/// Attaches `prog`, a BTF tracepoint program (BPF_PROG_TYPE_TRACING loaded
/// as BPF_TRACE_RAW_TP for one tracepoint's BTF type), to that tracepoint.
pub fn attach_btf_tracepoint(prog: BorrowedFd<'_>) -> SysResult<RawTracepointLink> {
    Ok(RawTracepointLink { _fd: bpf_raw_tracepoint_open(None, prog)? })
}
