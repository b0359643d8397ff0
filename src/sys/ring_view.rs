//! Reading the mmapped rings the kernel writes while we read them: never
//! through a Rust reference, only by copying out (`RingView`, `SharedRing`).

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, Ordering};

/// The data area of a ring buffer, read only by copying out of it.
///
/// The kernel writes the mmapped rings while we read them, so no `&[u8]` of
/// one may exist: a shared reference promises that nothing changes the bytes
/// behind it, and the kernel does. The record parsers (`perf::ring`,
/// `ringbuf::records`) walk a ring through this trait instead: the mapped
/// rings implement it with volatile and atomic reads ([`SharedRing`]), and
/// `[u8]` implements it for the synthetic rings of tests, fuzzing and benches.
/// Offsets are byte offsets into the data area.
pub trait RingView {
    /// Bytes in the data area.
    fn size(&self) -> usize;

    /// Copies the `dst.len()` bytes at `offset` into `dst`. Panics when they
    /// are not all inside the data area (a parser bug, never a kernel's).
    fn copy_out(&self, offset: usize, dst: &mut [u8]);

    /// The native-endian u32 at `offset` (4-aligned), loaded with Acquire:
    /// what the writer stored before releasing this word is visible after
    /// it (the BPF ring buffer's record header, whose busy bit the kernel
    /// clears with smp_store_release once the record is written). Panics
    /// when the word is not inside the data area or not aligned.
    fn load_u32_acquire(&self, offset: usize) -> u32;
}

/// A ring in our own memory: nothing else writes it while it is borrowed.
impl RingView for [u8] {
    fn size(&self) -> usize {
        self.len()
    }

    fn copy_out(&self, offset: usize, dst: &mut [u8]) {
        dst.copy_from_slice(&self[offset..offset + dst.len()]);
    }

    fn load_u32_acquire(&self, offset: usize) -> u32 {
        assert!(offset % 4 == 0, "unaligned ring word at {offset}");
        let mut word = [0; 4];
        self.copy_out(offset, &mut word);
        u32::from_ne_bytes(word)
    }
}

/// The data area of a ring the kernel shares with us through a live mmap,
/// borrowed from the mapping's owner (`PerfRingMap`, `RingBufMap`), which
/// unmaps it only when dropped.
#[derive(Clone, Copy)]
pub(crate) struct SharedRing<'a> {
    base: *const u8,
    len: usize,
    _mapping: PhantomData<&'a ()>,
}

impl SharedRing<'_> {
    /// # Safety
    ///
    /// `base..base + len` must lie inside a shared mapping of a kernel ring
    /// that stays mapped (and readable) for the lifetime of the result;
    /// `base` must be 8-aligned and `len` a multiple of 8.
    pub(super) unsafe fn new<'a>(base: *const u8, len: usize) -> SharedRing<'a> {
        assert!(base as usize % 8 == 0 && len % 8 == 0, "a ring not in 8-byte words");
        SharedRing { base, len, _mapping: PhantomData }
    }
}

impl RingView for SharedRing<'_> {
    fn size(&self) -> usize {
        self.len
    }

    fn copy_out(&self, offset: usize, dst: &mut [u8]) {
        let end = offset.checked_add(dst.len());
        assert!(
            end.is_some_and(|end| end <= self.len),
            "ring read of {} at {offset} past {}",
            dst.len(),
            self.len
        );
        // Whole aligned words, each read once: the words are inside the
        // area (it is made of whole words), and a word's other bytes may be
        // anything, which the copy ignores. The partial words at either end
        // are cut; the words between are stored whole (a fixed 8-byte copy,
        // no call per word: payloads are copied on every event).
        let word_at = |word_start: usize| -> [u8; 8] {
            // SAFETY: word_start is 8-aligned and word_start + 8 <= len (it
            // is the start of the word holding a byte below end <= len, and
            // len is a multiple of 8), so the word is inside the mapping,
            // which outlives self (SharedRing::new). The mapping is memory
            // outside any Rust allocation that the kernel writes concurrently
            // (perf_output_copy, bpf_ringbuf_reserve): a volatile read is how
            // such memory is read (ptr::read_volatile, "memory outside of any
            // Rust allocation"), like the kernel's own READ_ONCE; a torn value
            // is possible only where the kernel writes, which the ring
            // protocols keep away from the bytes the parsers trust (below
            // data_head; records whose busy bit is clear).
            unsafe { std::ptr::read_volatile(self.base.add(word_start) as *const u64) }.to_ne_bytes()
        };
        let mut at = offset;
        let mut done = 0;
        while done < dst.len() {
            let word_start = at & !7;
            let skip = at - word_start;
            let n = (8 - skip).min(dst.len() - done);
            if n == 8 {
                let chunk: &mut [u8; 8] = (&mut dst[done..done + 8]).try_into().expect("8 bytes");
                *chunk = word_at(word_start);
            } else {
                dst[done..done + n].copy_from_slice(&word_at(word_start)[skip..skip + n]);
            }
            done += n;
            at += n;
        }
    }

    fn load_u32_acquire(&self, offset: usize) -> u32 {
        assert!(offset % 4 == 0 && offset < self.len, "ring word at {offset} not inside {}", self.len);
        // SAFETY: 4-aligned (base is 8-aligned, offset 4-aligned) and inside
        // the mapping (offset < len, a multiple of 8, so offset + 4 <= len),
        // which outlives self. The kernel updates the word concurrently
        // (the ring buffer clears a header's busy bit with
        // smp_store_release), hence an atomic view of it, never a plain one.
        let word = unsafe { &*(self.base.add(offset) as *const AtomicU32) };
        word.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A heap ring standing in for a mapping: u64s, so 8-aligned.
    fn words(len: usize) -> Vec<u64> {
        (0..len as u64 / 8)
            .map(|i| u64::from_ne_bytes(std::array::from_fn(|b| (i * 8) as u8 + b as u8)))
            .collect()
    }

    #[test]
    fn shared_ring_copies_every_range_like_a_slice() {
        let backing = words(64);
        let bytes: Vec<u8> = backing.iter().flat_map(|w| w.to_ne_bytes()).collect();
        // SAFETY: backing is 64 live, 8-aligned bytes that outlive the view
        // and that nothing writes while it exists.
        let ring = unsafe { SharedRing::new(backing.as_ptr() as *const u8, 64) };
        assert_eq!(ring.size(), 64);
        for offset in 0..=64 {
            for n in 0..=64 - offset {
                let (mut got, mut want) = (vec![0xEE; n], vec![0xEE; n]);
                ring.copy_out(offset, &mut got);
                bytes[..].copy_out(offset, &mut want);
                assert_eq!(got, want, "{n} bytes at {offset}");
            }
        }
        for offset in (0..64).step_by(4) {
            assert_eq!(ring.load_u32_acquire(offset), bytes[..].load_u32_acquire(offset), "at {offset}");
        }
    }

    #[test]
    #[should_panic(expected = "past")]
    fn shared_ring_refuses_a_copy_past_its_end() {
        let backing = words(16);
        // SAFETY: as above.
        let ring = unsafe { SharedRing::new(backing.as_ptr() as *const u8, 16) };
        ring.copy_out(12, &mut [0; 5]);
    }

    #[test]
    #[should_panic(expected = "not inside")]
    fn shared_ring_refuses_a_word_past_its_end() {
        let backing = words(16);
        // SAFETY: as above.
        let ring = unsafe { SharedRing::new(backing.as_ptr() as *const u8, 16) };
        ring.load_u32_acquire(16);
    }
}
