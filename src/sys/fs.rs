//! Mounting the tracing filesystem when nobody has.

use super::{SysError, SysResult};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn cpath(path: &Path) -> SysResult<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| SysError {
        call: "mount",
        error: std::io::Error::from_raw_os_error(libc::EINVAL),
    })
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

/// Lazily unmounts `target` (MNT_DETACH: open files keep working).
pub fn unmount_detach(target: &Path) -> SysResult<()> {
    let target = cpath(target)?;
    // SAFETY: target is a valid NUL-terminated string for the call's duration.
    let ret = unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    if ret != 0 {
        return Err(SysError::last("umount2"));
    }
    Ok(())
}
