//! Standard output as a raw descriptor: what it is, and plain writes to it
//! (for the pipe path of `crate::present::stdout_sink`, which must never sit in a
//! write it cannot leave).

use super::{SysError, SysResult};
use std::os::fd::BorrowedFd;

/// Standard output, which `ensure_standard_fds` keeps open for the process's
/// whole life.
pub fn stdout_fd() -> BorrowedFd<'static> {
    // SAFETY: fd 1 is open for the whole run (ensure_standard_fds opens
    // /dev/null there if it was closed) and is never closed by us.
    unsafe { BorrowedFd::borrow_raw(libc::STDOUT_FILENO) }
}

/// Whether `fd` is a pipe, FIFO or socket: the kinds of output whose reader
/// can stop reading and leave a writer blocked.
pub fn is_pipe_or_socket(fd: BorrowedFd<'_>) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: fstat writes one struct stat into `st`, a valid, writable,
    // zero-initialized buffer of the right size.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(fd.as_raw_fd(), &mut st) == 0
            && matches!(st.st_mode & libc::S_IFMT, libc::S_IFIFO | libc::S_IFSOCK)
    }
}

/// One write(2) of `bytes` to `fd`: how many were written.
pub fn write(fd: BorrowedFd<'_>, bytes: &[u8]) -> SysResult<usize> {
    use std::os::fd::AsRawFd;
    // SAFETY: `bytes` is a valid readable buffer of bytes.len() bytes for
    // the duration of the call.
    let n = unsafe { libc::write(fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
    if n < 0 {
        return Err(SysError::last("write"));
    }
    Ok(n as usize)
}
