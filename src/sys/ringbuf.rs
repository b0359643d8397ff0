//! A BPF_MAP_TYPE_RINGBUF map (5.8) mapped into our memory, the way
//! kernel/bpf/ringbuf.c lays it out for user space: at offset 0 the
//! consumer page (read-write: user space publishes `consumer_pos` there), at
//! one page the producer page (read-only, `producer_pos`) followed by the
//! data area, which the kernel offers mapped twice in a row; we map the
//! first copy only (the second would double the ring's share of our RSS:
//! every page of it is mapped at once), and `ringbuf::records` copies a
//! record that wraps around the end in two parts. The record walking is
//! `ringbuf::records`; this is
//! only the mapping, the ordered accesses to its counters and the view of
//! its data area ([`SharedRing`]: copies and Acquire loads, never a slice).

use super::mapping::Mapping;
use super::perf_event::page_size;
use super::{SharedRing, SysError, SysResult};
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a failed mapping of a ring buffer is called in its error.
const MMAP: &str = "mmap(BPF ring buffer)";

/// The consumer page, and the producer page with one copy of the data area.
pub(crate) struct RingBufMap {
    consumer: Mapping,
    producer: Mapping,
    page: usize,
    data_len: usize,
}

// SAFETY: the mappings are plain shared memory owned by this value; the
// counters are only touched through atomics.
unsafe impl Send for RingBufMap {}

impl RingBufMap {
    /// Maps the ring buffer `map` of `data_len` bytes (its max_entries: a
    /// power of two of pages). A `data_len` larger than the map's fails
    /// (the kernel refuses to map past the ring); a smaller one maps part.
    pub fn new(map: BorrowedFd<'_>, data_len: usize) -> SysResult<RingBufMap> {
        let page = page_size();
        // Whole pages, and no wrapped length: data() reads all of it.
        let producer_len = data_len.checked_add(page);
        let producer_len = match producer_len {
            Some(len) if data_len % page == 0 => len,
            _ => {
                let error =
                    std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a whole number of pages");
                return Err(SysError { call: MMAP, error });
            }
        };
        let consumer = Mapping::new(map, page, libc::PROT_READ | libc::PROT_WRITE, 0, MMAP)?;
        let producer = Mapping::new(map, producer_len, libc::PROT_READ, page, MMAP)?;
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
        unsafe { &*(mapping.base() as *const AtomicU64) }
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

    /// The data area, one copy (data_len bytes), to walk records in
    /// (`ringbuf::records`), seen only through copies and Acquire loads:
    /// the kernel writes reserved records and their headers while we read
    /// committed ones, so no `&[u8]` of it may exist. Read producer_pos
    /// first, then each record's header word with Acquire before its bytes.
    pub fn data(&self) -> SharedRing<'_> {
        // SAFETY: the data area starts one page into the producer mapping
        // and is data_len bytes long (page-aligned, whole pages: checked in
        // new), all of it mapped; it stays mapped while self is borrowed
        // (munmap is in Mapping's Drop).
        unsafe { SharedRing::new(self.producer.base().add(self.page), self.data_len) }
    }
}
