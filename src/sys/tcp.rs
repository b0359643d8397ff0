//! What std's TCP sockets cannot do themselves: set a listener's backlog.

use super::SysError;
use std::net::TcpListener;
use std::os::fd::AsRawFd;

/// listen(2) again on a listening socket: sets its accept queue to
/// `backlog` (0 keeps one connection), which std's `bind` fixes at 128.
pub fn set_listen_backlog(listener: &TcpListener, backlog: i32) -> Result<(), SysError> {
    // SAFETY: listen takes a socket fd we borrow for the call and an int.
    if unsafe { libc::listen(listener.as_raw_fd(), backlog) } != 0 {
        return Err(SysError::last("listen"));
    }
    Ok(())
}
