//! Process credentials and limits.

/// Whether this process runs with privilege its caller did not have
/// (getauxval(AT_SECURE): set-user-ID, set-group-ID, or file
/// capabilities, by the kernel's own reckoning at exec): then nothing the
/// caller controls, its environment first, may steer what it does.
pub fn secure_execution() -> bool {
    // SAFETY: getauxval reads the auxiliary vector the kernel gave the
    // process; it has no preconditions and returns 0 for an absent entry.
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}

/// The effective user id.
pub fn geteuid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Clock ticks a second, the unit of /proc/PID/stat's times (100 where
/// the C library cannot say).
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no memory preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|&t| t > 0).unwrap_or(100)
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

/// RLIMIT_MEMLOCK, soft and hard.
pub fn memlock_limit() -> super::SysResult<libc::rlimit> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) } != 0 {
        return Err(super::SysError::last("getrlimit(RLIMIT_MEMLOCK)"));
    }
    Ok(limit)
}

/// Sets RLIMIT_MEMLOCK. Lowering the soft limit, or raising it back up to
/// the hard one, needs no privilege; raising the hard limit needs
/// CAP_SYS_RESOURCE.
pub fn set_memlock_limit(limit: libc::rlimit) -> super::SysResult<()> {
    // SAFETY: setrlimit reads a valid rlimit struct that outlives the call.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit) } != 0 {
        return Err(super::SysError::last("setrlimit(RLIMIT_MEMLOCK)"));
    }
    Ok(())
}

/// Raises RLIMIT_MEMLOCK to unlimited, as kernels that charge BPF maps and
/// programs to locked memory need (upstream before 5.11).
pub fn raise_memlock_limit() -> super::SysResult<()> {
    set_memlock_limit(libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY })
}

/// `struct __user_cap_header_struct` / `__user_cap_data_struct`, version 3
/// (two data structs: capabilities 0-31 and 32-63).
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Keeps only the capabilities whose bits are set in `keep` (bit n =
/// capability n) in this thread's effective, permitted and inheritable
/// sets; the rest are gone for good.
pub fn limit_capabilities(keep: u64) -> super::SysResult<()> {
    let mut header = CapHeader { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget writes two CapData structs (version 3) into `data`,
    // which has room for exactly two, and reads the header.
    if unsafe { libc::syscall(libc::SYS_capget, &mut header as *mut CapHeader, data.as_mut_ptr()) } != 0 {
        return Err(super::SysError::last("capget"));
    }
    for (half, set) in data.iter_mut().enumerate() {
        let mask = (keep >> (32 * half)) as u32;
        set.effective &= mask;
        set.permitted &= mask;
        set.inheritable &= mask;
    }
    // SAFETY: capset reads the header and two CapData structs, both live.
    if unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut CapHeader, data.as_ptr()) } != 0 {
        return Err(super::SysError::last("capset"));
    }
    Ok(())
}
