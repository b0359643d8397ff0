//! A BPF_MAP_TYPE_RINGBUF map (5.8) mapped into our memory, the way
//! kernel/bpf/ringbuf.c lays it out for user space: at offset 0 the
//! consumer page (read-write: user space publishes `consumer_pos` there), at
//! one page the producer page (read-only, `producer_pos`) followed by the
//! data area mapped twice in a row, so a record that wraps around the end is
//! contiguous in memory. The record walking is `ringbuf::records`; this is
//! only the mapping and the ordered accesses to its counters.

use super::perf_event::page_size;
use super::{SysError, SysResult};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// One mmap, unmapped on drop.
struct Mapping {
    base: *mut u8,
    len: usize,
}

impl Mapping {
    fn new(fd: BorrowedFd<'_>, len: usize, prot: libc::c_int, offset: usize) -> SysResult<Mapping> {
        // SAFETY: a fresh shared mapping of a ring buffer map fd at an
        // address the kernel picks; the kernel checks the offset, length
        // and protection against the map (ringbuf_map_mmap_kern/_user) and
        // we check the result.
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
            return Err(SysError::last("mmap(BPF ring buffer)"));
        }
        Ok(Mapping { base: base as *mut u8, len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: base/len are exactly what mmap returned; every reference
        // into the mapping borrows the RingBufMap that owns this.
        unsafe {
            libc::munmap(self.base as *mut libc::c_void, self.len);
        }
    }
}

/// The consumer page, and the producer page with the doubled data area.
pub struct RingBufMap {
    consumer: Mapping,
    producer: Mapping,
    page: usize,
    data_len: usize,
}

// SAFETY: the mappings are plain shared memory owned by this value; the
// counters are only touched through atomics.
unsafe impl Send for RingBufMap {}

impl RingBufMap {
    /// Maps the ring buffer `map` of `data_len` bytes (its max_entries).
    pub fn new(map: BorrowedFd<'_>, data_len: usize) -> SysResult<RingBufMap> {
        let page = page_size();
        let consumer = Mapping::new(map, page, libc::PROT_READ | libc::PROT_WRITE, 0)?;
        let producer = Mapping::new(map, page + 2 * data_len, libc::PROT_READ, page)?;
        Ok(RingBufMap { consumer, producer, page, data_len })
    }

    /// The ring's size in bytes (one copy of the data area).
    pub fn data_len(&self) -> usize {
        self.data_len
    }

    fn counter(mapping: &Mapping) -> &AtomicU64 {
        // SAFETY: offset 0 of a page-aligned mapping at least a page long,
        // which lives as long as &mapping; the kernel updates the word
        // concurrently, hence an atomic view of it.
        unsafe { &*(mapping.base as *const AtomicU64) }
    }

    /// producer_pos, read with Acquire: the headers the kernel reserved up
    /// to it are in place (it stores the position with smp_store_release).
    pub fn producer_pos(&self) -> u64 {
        Self::counter(&self.producer).load(Ordering::Acquire)
    }

    /// consumer_pos as we last published it.
    pub fn consumer_pos(&self) -> u64 {
        Self::counter(&self.consumer).load(Ordering::Relaxed)
    }

    /// Publishes consumer_pos with Release: what we read of the records
    /// before it happens before the kernel may reuse their space.
    pub fn set_consumer_pos(&self, pos: u64) {
        Self::counter(&self.consumer).store(pos, Ordering::Release)
    }

    /// The length word of the record header at byte `offset` of the data
    /// area (8-aligned, below `data_len`), read with Acquire: the kernel
    /// clears its busy bit with smp_store_release when the record is
    /// committed, after writing the record. Out of range reads 0.
    pub fn header_len(&self, offset: usize) -> u32 {
        if offset % 8 != 0 || offset >= self.data_len {
            return 0;
        }
        // SAFETY: in bounds of the first copy of the data area (checked
        // above) and 4-aligned (the mapping is page-aligned, offset
        // 8-aligned); the kernel writes the word concurrently, hence atomic.
        let word = unsafe { &*(self.producer.base.add(self.page + offset) as *const AtomicU32) };
        word.load(Ordering::Acquire)
    }

    /// The data area, both copies (2 * data_len bytes). The kernel writes
    /// into it only where records are reserved but not yet committed (or
    /// not yet reserved); the reader looks at record bytes only after
    /// reading their header's busy bit clear, and at headers only through
    /// `header_len`, so a shared byte view is sound for what it reads.
    pub fn data(&self) -> &[u8] {
        // SAFETY: the data area starts one page into the producer mapping
        // and is 2 * data_len bytes long; it stays mapped for &self's
        // lifetime; committed records are not modified until we publish a
        // consumer position past them.
        unsafe { std::slice::from_raw_parts(self.producer.base.add(self.page), 2 * self.data_len) }
    }
}
