//! One shared mapping of a BPF map's fd (a ring buffer's pages, an
//! mmapable array's values), unmapped on drop. Who reads it and how (atomics,
//! copies, never a Rust reference to bytes the kernel writes) is the owner's
//! business: `RingBufMap`, `MappedArray`.

use super::{SysError, SysResult};
use std::os::fd::{AsRawFd, BorrowedFd};

pub(super) struct Mapping {
    base: *mut u8,
    len: usize,
}

impl Mapping {
    /// Maps `len` bytes of `fd` at `offset` with `prot`, shared; `call`
    /// names the mapping in an error.
    pub(super) fn new(
        fd: BorrowedFd<'_>,
        len: usize,
        prot: libc::c_int,
        offset: usize,
        call: &'static str,
    ) -> SysResult<Mapping> {
        // SAFETY: a fresh shared mapping of a map fd at an address the
        // kernel picks; the kernel checks the offset, length and protection
        // against the map (its map_mmap operation) and we check the result.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                offset as libc::off_t,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(SysError::last(call));
        }
        Ok(Mapping { base: base as *mut u8, len })
    }

    /// The first byte: page-aligned, `len` bytes mapped behind it while
    /// self lives.
    pub(super) fn base(&self) -> *mut u8 {
        self.base
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: base/len are exactly what mmap returned; every reference
        // or view into the mapping borrows the value that owns this.
        unsafe {
            libc::munmap(self.base as *mut libc::c_void, self.len);
        }
    }
}
