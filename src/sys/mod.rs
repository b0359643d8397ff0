//! The one door to the kernel: every raw syscall, `ioctl`, `mmap` and every
//! `unsafe` block of the program lives below this module. Everything above it
//! is safe Rust working with owned file descriptors and typed errors.
//!
//! Each wrapper is named after the kernel operation it performs and returns
//! [`SysError`], which carries that name and the errno, so an error message can
//! always say which call failed and why.
//!
//! What sys hands out is sound to use from safe code whatever the caller
//! does: buffers the kernel reads or writes are sized here, never trusted
//! from above, and memory the kernel writes while we read it (the rings) is
//! never seen through a Rust reference, only copied out ([`RingView`]).

pub mod bpf;
pub mod epoll;
pub(crate) mod fs;
#[cfg(all(test, target_env = "gnu"))]
pub(crate) mod glibc_inet_ntop;
pub mod mapped_array;
pub(crate) mod mapped_file;
mod mapping;
pub mod packet;
pub(crate) mod perf_event;
pub mod process;
pub(crate) mod ring_view;
pub(crate) mod ringbuf;
pub(crate) mod signals;
pub(crate) mod stdout;
pub mod tcp;

use std::fmt;
use std::io;

/// A failed system call: which one, and the OS error it returned.
#[derive(Debug)]
pub struct SysError {
    pub call: &'static str,
    pub error: io::Error,
}

impl SysError {
    /// Captures errno for `call` right after it failed.
    pub(crate) fn last(call: &'static str) -> SysError {
        SysError { call, error: io::Error::last_os_error() }
    }

    pub fn errno(&self) -> i32 {
        self.error.raw_os_error().unwrap_or(0)
    }

    /// EPERM or EACCES: the caller lacks a privilege.
    pub fn is_permission(&self) -> bool {
        matches!(self.errno(), libc::EPERM | libc::EACCES)
    }

    /// A call sys refused itself before the kernel saw it (errno 0), as the
    /// typed reason `E` it gave, e.g. [`bpf::PerCpuMismatch`].
    pub fn refusal<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.error.get_ref()?.downcast_ref::<E>()
    }

    /// A refusal of `call` for the typed `reason`, before any syscall.
    fn refused<E: std::error::Error + Send + Sync + 'static>(call: &'static str, reason: E) -> SysError {
        SysError { call, error: io::Error::new(io::ErrorKind::InvalidInput, reason) }
    }
}

impl fmt::Display for SysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.call, self.error)
    }
}

impl std::error::Error for SysError {}

pub type SysResult<T> = Result<T, SysError>;

/// Turns a raw fd returned by a syscall into an owned one.
fn owned_fd(call: &'static str, ret: libc::c_long) -> SysResult<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    if ret < 0 {
        return Err(SysError::last(call));
    }
    // SAFETY: the kernel just returned this descriptor to us; nothing else owns
    // it, so the OwnedFd is its only owner and closes it exactly once.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(ret as libc::c_int) })
}

pub use ring_view::RingView;
pub(crate) use ring_view::SharedRing;
