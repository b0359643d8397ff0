//! Process credentials and limits.

/// The effective user id.
pub fn geteuid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Makes sure fds 0, 1 and 2 are open (on /dev/null if they were closed), so
/// no kernel object we create gets fd 0, which the BPF ABI reads as "none",
/// and stray writes never land in a BPF fd.
pub fn ensure_standard_fds() {
    for fd in 0..3 {
        // SAFETY: F_GETFD only queries the descriptor table.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            // SAFETY: opening /dev/null with a valid C string; the lowest free
            // fd, which is `fd`, is taken and deliberately kept open.
            unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        }
    }
}

/// Raises RLIMIT_MEMLOCK to unlimited, as kernels before 5.11 need for BPF
/// maps and programs (they are charged to locked memory there).
pub fn raise_memlock_limit() -> super::SysResult<()> {
    let unlimited = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: setrlimit reads a valid rlimit struct that outlives the call.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) } != 0 {
        return Err(super::SysError::last("setrlimit(RLIMIT_MEMLOCK)"));
    }
    Ok(())
}
