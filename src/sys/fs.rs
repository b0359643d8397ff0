//! Mounting the tracing filesystem when nobody has, privately; which
//! filesystem an open file is on.

use super::{SysError, SysResult};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn cpath(path: &Path) -> SysResult<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| SysError { call: "mount", error: std::io::Error::from_raw_os_error(libc::EINVAL) })
}

/// `mount -t tracefs nodev <target>`.
pub fn mount_tracefs(target: &Path) -> SysResult<()> {
    let target = cpath(target)?;
    // SAFETY: all pointers are valid NUL-terminated strings that outlive the
    // call; data is NULL, which tracefs accepts.
    let ret = unsafe {
        libc::mount(
            c"nodev".as_ptr(),
            target.as_ptr(),
            c"tracefs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            std::ptr::null(),
        )
    };
    if ret != 0 {
        return Err(SysError::last("mount(tracefs)"));
    }
    Ok(())
}

/// Moves this process into a mount namespace of its own whose mounts do not
/// propagate back (unshare(CLONE_NEWNS) + make "/" recursively private), so
/// what we mount there is invisible to the host and disappears when we exit.
/// Must run while the process is single-threaded.
pub fn unshare_private_mount_namespace() -> SysResult<()> {
    // SAFETY: unshare takes only flags; we are single-threaded here.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
        return Err(SysError::last("unshare(CLONE_NEWNS)"));
    }
    // SAFETY: a propagation change on "/": valid C string, NULL source,
    // fstype and data are accepted for MS_PRIVATE.
    let ret = unsafe {
        libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    };
    if ret != 0 {
        return Err(SysError::last("mount(MS_PRIVATE)"));
    }
    Ok(())
}

/// fstatfs(2)'s f_type: which filesystem the open file `fd` lives on.
pub fn filesystem_type(fd: std::os::fd::BorrowedFd<'_>) -> SysResult<i64> {
    use std::os::fd::AsRawFd;
    let mut stat = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: `fd` is an open descriptor borrowed for the call; `stat` is a
    // writable statfs the kernel fills whole on success.
    if unsafe { libc::fstatfs(fd.as_raw_fd(), stat.as_mut_ptr()) } != 0 {
        return Err(SysError::last("fstatfs"));
    }
    // SAFETY: fstatfs succeeded, so the struct is initialised (it was
    // zeroed before, too).
    let f_type = unsafe { stat.assume_init() }.f_type;
    // Its C type differs by architecture.
    #[allow(clippy::unnecessary_cast)]
    Ok(f_type as i64)
}
