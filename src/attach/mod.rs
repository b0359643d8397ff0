//! Attaching loaded programs to kernel events. Kprobes and tracepoints are
//! perf events with the program set on it; dropping the link disables the
//! event and closes it, which detaches the program. Raw tracepoints and
//! cgroup programs are a bpf(2) link fd of their own.

pub mod cgroup;
pub mod kprobe;
pub mod raw_tracepoint;
pub mod tracepoint;

use crate::sys::perf_event::{perf_event_disable, perf_event_enable, perf_event_set_bpf};
use crate::sys::SysResult;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// A program attached through a perf event.
pub struct PerfLink {
    event: OwnedFd,
}

impl PerfLink {
    /// Sets `prog` on `event` and enables it.
    pub fn new(event: OwnedFd, prog: BorrowedFd<'_>) -> SysResult<PerfLink> {
        perf_event_set_bpf(event.as_fd(), prog)?;
        perf_event_enable(event.as_fd())?;
        Ok(PerfLink { event })
    }
}

impl Drop for PerfLink {
    fn drop(&mut self) {
        // Disable before the fd closes: no event fires into a half-torn-down
        // program. Nothing useful can be done if it fails; close still detaches.
        let _ = perf_event_disable(self.event.as_fd());
    }
}
