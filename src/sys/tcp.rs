//! What std's TCP sockets cannot do themselves: make a listener drop every
//! packet that reaches it.

use super::SysError;
use std::net::TcpListener;
use std::os::fd::AsRawFd;

/// Attaches a classic BPF socket filter of one instruction, `ret #0`, to
/// `listener`: the kernel then drops every SYN for it silently (TCP runs the
/// listener's filter before it looks at a segment, on every kernel since
/// 2.2), so a connect to it stays in SYN_SENT. Unlike a full accept queue,
/// whose SYN rule changed in 4.9 ("tcp/dccp: drop SYN packets if accept
/// queue is full"; 3.10 and 4.4-4.8 answer while at most one young request
/// waits), this holds on every kernel. Needs no privilege.
pub fn drop_every_packet(listener: &TcpListener) -> Result<(), SysError> {
    const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K
    let mut program = [libc::sock_filter { code: BPF_RET_K, jt: 0, jf: 0, k: 0 }];
    let fprog = libc::sock_fprog { len: program.len() as u16, filter: program.as_mut_ptr() };
    // SAFETY: setsockopt reads `fprog` (size given) and the one instruction
    // it points to, both alive for the call; the kernel copies the program.
    let ret = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            &fprog as *const libc::sock_fprog as *const libc::c_void,
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if ret != 0 {
        return Err(SysError::last("setsockopt(SO_ATTACH_FILTER)"));
    }
    Ok(())
}
