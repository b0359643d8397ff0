//! Read-only memory maps of files the kernel publishes and never changes
//! while it runs (/sys/kernel/btf/vmlinux): reading them costs no copy and
//! no freshly zeroed buffer, only page-table entries for the pages touched.

use super::{SysError, SysResult};
use std::os::fd::AsRawFd;
use std::path::Path;

/// A whole file mapped read-only; unmapped on drop.
pub struct MappedFile {
    addr: *mut libc::c_void,
    len: usize,
}

impl MappedFile {
    /// Maps `path` read-only. Fails (and the caller reads the file instead)
    /// where the file system cannot map it (sysfs BTF on older kernels).
    /// Only for files nobody truncates while they are mapped: a truncated
    /// mapping faults on access.
    pub fn open(path: &Path) -> SysResult<MappedFile> {
        let file = std::fs::File::open(path).map_err(|error| SysError { call: "open", error })?;
        let len = file.metadata().map_err(|error| SysError { call: "fstat", error })?.len();
        let len = usize::try_from(len).unwrap_or(0);
        if len == 0 {
            return Err(SysError { call: "mmap", error: std::io::Error::from_raw_os_error(libc::ENODATA) });
        }
        // SAFETY: a new private read-only mapping of `len` bytes of our own
        // fd at an address the kernel picks; no existing memory is touched.
        // The file may close afterwards: the mapping keeps it.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_POPULATE,
                file.as_raw_fd(),
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(SysError::last("mmap"));
        }
        Ok(MappedFile { addr, len })
    }

    pub fn bytes(&self) -> &[u8] {
        // SAFETY: addr..addr+len is a live read-only mapping owned by self
        // (unmapped only in Drop, which needs &mut self), and the file behind
        // it is never truncated (see `open`).
        unsafe { std::slice::from_raw_parts(self.addr as *const u8, self.len) }
    }
}

impl Drop for MappedFile {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping created in `open`, unmapped once; no
        // slice from `bytes` outlives self.
        unsafe { libc::munmap(self.addr, self.len) };
    }
}

// SAFETY: the mapping is read-only and owned; sharing or moving the pointer
// between threads is as safe as sharing a &[u8].
unsafe impl Send for MappedFile {}
unsafe impl Sync for MappedFile {}
