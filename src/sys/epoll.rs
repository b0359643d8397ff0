//! epoll(7): one wait for every per-CPU ring and the signal fd.

use super::{owned_fd, SysError, SysResult};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// An epoll instance; each registered fd carries a caller-chosen token.
pub struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    pub fn new() -> SysResult<Epoll> {
        // SAFETY: epoll_create1 takes only flags.
        let ret = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        Ok(Epoll { fd: owned_fd("epoll_create1", ret as libc::c_long)? })
    }

    /// Watches `fd` for readability, reporting `token` when it is.
    pub fn add(&self, fd: BorrowedFd<'_>, token: u64) -> SysResult<()> {
        let mut event = libc::epoll_event { events: libc::EPOLLIN as u32, u64: token };
        // SAFETY: both fds are open; event is a valid epoll_event the kernel
        // copies before returning.
        let ret =
            unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd.as_raw_fd(), &mut event) };
        if ret < 0 {
            return Err(SysError::last("epoll_ctl"));
        }
        Ok(())
    }

    /// Waits up to `timeout_ms` (-1: forever) and appends the ready tokens to
    /// `ready`. An interrupted wait (EINTR) returns no tokens.
    pub fn wait(&self, ready: &mut Vec<u64>, timeout_ms: i32) -> SysResult<()> {
        const MAX_EVENTS: usize = 64;
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS];
        // SAFETY: events is a writable array of MAX_EVENTS epoll_event.
        let n = unsafe {
            libc::epoll_wait(self.fd.as_raw_fd(), events.as_mut_ptr(), MAX_EVENTS as libc::c_int, timeout_ms)
        };
        if n < 0 {
            let err = SysError::last("epoll_wait");
            if err.errno() == libc::EINTR {
                return Ok(());
            }
            return Err(err);
        }
        ready.extend(events[..n as usize].iter().map(|e| e.u64));
        Ok(())
    }
}

impl AsFd for Epoll {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
