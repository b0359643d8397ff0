//! A BPF array map made with BPF_F_MMAPABLE (5.5) mapped into our memory:
//! the values, each rounded up to 8 bytes, back to back from the first page
//! (kernel/bpf/arraymap.c, array_map_mmap). BPF programs write it while we
//! read it, so it is seen only through atomics and copies, as the rings are.
//! The tracer maps its tallies read-only, so the reader's timer reads the
//! losses without a syscall; the bench's lock-free delivery floor (`bench
//! attach array-per-cpu`) maps its records read-write.

use super::mapping::Mapping;
use super::perf_event::page_size;
use super::{RingView, SharedRing, SysError, SysResult};
use crate::sys::bpf::Map;
use crate::uapi::BPF_MAP_TYPE_ARRAY;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};

/// BPF_F_MMAPABLE: the map_flags bit that lets an array be mmapped (5.5).
pub const BPF_F_MMAPABLE: u32 = 1 << 10;

/// The values of an mmapable array, read and written through atomics and
/// copies only. Offsets are bytes from the first value.
pub struct MappedArray {
    mapping: Mapping,
    len: usize,
    writable: bool,
}

// SAFETY: the mapping is plain shared memory owned by this value, touched
// only through atomics and volatile copies.
unsafe impl Send for MappedArray {}

impl MappedArray {
    /// Maps all `max_entries` values of the array `map` (its max_entries:
    /// the kernel refuses a mapping past the array), read-write.
    pub fn new(map: &Map, max_entries: u32) -> SysResult<MappedArray> {
        MappedArray::map(map, max_entries, true)
    }

    /// As `new`, read-only: `store_u64_release` then panics.
    pub fn read_only(map: &Map, max_entries: u32) -> SysResult<MappedArray> {
        MappedArray::map(map, max_entries, false)
    }

    fn map(map: &Map, max_entries: u32, writable: bool) -> SysResult<MappedArray> {
        let call = "mmap(BPF array)";
        let invalid =
            |why: &str| SysError { call, error: std::io::Error::new(std::io::ErrorKind::InvalidInput, why) };
        if map.map_type() != BPF_MAP_TYPE_ARRAY.id {
            return Err(invalid("not an array map"));
        }
        let element = (map.value_size() as usize).next_multiple_of(8);
        let page = page_size();
        let len = element
            .checked_mul(max_entries as usize)
            .and_then(|bytes| bytes.checked_next_multiple_of(page))
            .filter(|&len| len > 0)
            .ok_or_else(|| invalid("no size"))?;
        let prot = if writable { libc::PROT_READ | libc::PROT_WRITE } else { libc::PROT_READ };
        let mapping = Mapping::new(map.as_fd(), len, prot, 0, call)?;
        Ok(MappedArray { mapping, len, writable })
    }

    /// Bytes mapped (whole pages).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never: a mapping has at least a page.
    pub fn is_empty(&self) -> bool {
        false
    }

    fn word(&self, offset: usize) -> &AtomicU64 {
        assert!(offset % 8 == 0 && offset < self.len, "array word at {offset} not inside {}", self.len);
        // SAFETY: 8-aligned (the mapping is page-aligned) and inside it
        // (offset < len, a multiple of 8), which lives as long as &self;
        // programs update the word concurrently, hence an atomic view.
        unsafe { &*(self.mapping.base().add(offset) as *const AtomicU64) }
    }

    /// The u64 at `offset`, loaded with Acquire. Panics when the word is
    /// not inside the mapping or not 8-aligned.
    pub fn load_u64_acquire(&self, offset: usize) -> u64 {
        self.word(offset).load(Ordering::Acquire)
    }

    /// Stores the u64 at `offset` with Release. Panics as `load_u64_acquire`,
    /// and on a read-only mapping (whose store would fault).
    pub fn store_u64_release(&self, offset: usize, value: u64) {
        assert!(self.writable, "store into a read-only BPF array mapping");
        self.word(offset).store(value, Ordering::Release)
    }

    /// Copies the `dst.len()` bytes at `offset` out. Panics when they are
    /// not all inside the mapping.
    pub fn copy_out(&self, offset: usize, dst: &mut [u8]) {
        // SAFETY: the whole mapping (page-aligned, whole pages), which stays
        // mapped while self is borrowed.
        let view = unsafe { SharedRing::new(self.mapping.base(), self.len) };
        view.copy_out(offset, dst)
    }
}
