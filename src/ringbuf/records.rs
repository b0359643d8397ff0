//! Walking the records of a BPF ring buffer (BPF_MAP_TYPE_RINGBUF, 5.8)
//! over plain bytes, so it can be tested on synthetic rings.
//!
//! All CPUs write into one data area of `size` bytes (a power of two of
//! pages). Two free-running u64 byte counters bound the pending records:
//! `producer_pos` (advanced by the kernel when it *reserves* a record) and
//! `consumer_pos` (advanced by user space after it consumed one). A counter
//! `c` refers to byte `c & (size - 1)`. The kernel offers the data area
//! mapped twice in a row, so that a record crossing the end reads as one
//! run; we map it once (the second copy would double the ring's share of
//! our RSS) and copy a record that crosses the end in two parts. A header
//! never crosses it: records start 8-aligned and the size is a power of two
//! of at least 8.
//!
//! # Record layout (kernel/bpf/ringbuf.c, `struct bpf_ringbuf_hdr`)
//!
//! `{ u32 len; u32 pg_off; u8 data[len]; padding }`, starting 8-aligned; the
//! record takes `round_up(len + 8, 8)` bytes. Two bits of `len` are flags:
//! `BPF_RINGBUF_BUSY_BIT` (31) while the record is reserved but not yet
//! committed, and `BPF_RINGBUF_DISCARD_BIT` (30) for a record its producer
//! discarded, which is consumed but holds nothing. Since the producer
//! position moves at reservation, the pending bytes may end in busy records:
//! the walk stops at the first one (records are committed out of order
//! across CPUs, but consumed in order) and resumes there next time.
//!
//! The kernel writes the data area while we walk it (reserved records, and
//! the header that commits each), so the area is never a `&[u8]` here: it is
//! a [`RingView`]. A header word is loaded with Acquire
//! ([`RingView::load_u32_acquire`]: the busy bit is cleared with
//! smp_store_release), and only after that are the record's bytes copied
//! out, once, into the caller's scratch buffer. `[u8]` is a view too, for
//! tests and fuzzing.

use std::fmt;

use crate::sys::RingView;
use crate::uapi::{BPF_RINGBUF_BUSY_BIT, BPF_RINGBUF_DISCARD_BIT, BPF_RINGBUF_HDR_SZ};

/// What one record was.
#[derive(Debug, PartialEq, Eq)]
pub enum Record<'a> {
    /// A committed record's bytes, exactly `len` of them (no padding),
    /// copied out of the ring into the scratch buffer.
    Sample(&'a [u8]),
    /// A discarded record, consumed unread.
    Discarded,
}

/// Why the pending bytes could not be (fully) walked. The caller should
/// publish the producer position it read, dropping what was not delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingBufError {
    /// The data area is not a power of two of at least 8 bytes.
    BadDataLen { len: usize },
    /// The producer position is behind the consumer's.
    ProducerBehind { consumer: u64, producer: u64 },
    /// More bytes are pending than the ring holds.
    Overrun { consumer: u64, producer: u64, size: usize },
    /// The record at counter `at` is malformed; the records before it were
    /// delivered.
    Corrupt { at: u64, reason: &'static str },
}

impl fmt::Display for RingBufError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RingBufError::BadDataLen { len } => {
                write!(f, "BPF ring buffer data area of {len} bytes is not a power of two >= 8")
            }
            RingBufError::ProducerBehind { consumer, producer } => {
                write!(f, "BPF ring buffer producer position {producer} is behind the consumer's {consumer}")
            }
            RingBufError::Overrun { consumer, producer, size } => write!(
                f,
                "BPF ring buffer has {} pending bytes (consumer {consumer}, producer {producer}) but holds only {size}",
                producer.wrapping_sub(consumer)
            ),
            RingBufError::Corrupt { at, reason } => {
                write!(f, "corrupt BPF ring buffer record at position {at}: {reason}")
            }
        }
    }
}

impl std::error::Error for RingBufError {}

/// Walks the records from `consumer` up to `producer` (loaded with
/// Acquire) in `data`, the data area, calling `on_record` with each
/// committed record and the consumer position just past it, which the
/// caller publishes (with Release) so the kernel can reuse the space at
/// once. Each header's length word is loaded with Acquire; each sample is
/// copied into `scratch` (in two parts where it crosses the end of the
/// area), which is reused. Returns the position the walk stopped at:
/// `producer`, the first busy record, or the record after the `limit`th
/// (the next walk starts there).
///
/// The work is bounded by `producer - consumer <= size` bytes and by
/// `limit` records, and every record advances by at least 8; `scratch`
/// never grows past `size` bytes.
pub fn read_records<R, F>(
    data: &R,
    consumer: u64,
    producer: u64,
    limit: usize,
    scratch: &mut Vec<u8>,
    mut on_record: F,
) -> Result<u64, RingBufError>
where
    R: RingView + ?Sized,
    F: FnMut(Record<'_>, u64),
{
    let size = data.size();
    if size < BPF_RINGBUF_HDR_SZ as usize || !size.is_power_of_two() {
        return Err(RingBufError::BadDataLen { len: size });
    }
    if producer < consumer {
        return Err(RingBufError::ProducerBehind { consumer, producer });
    }
    // `size` is at most isize::MAX, so it fits in a u64.
    if producer - consumer > size as u64 {
        return Err(RingBufError::Overrun { consumer, producer, size });
    }
    let mask = size as u64 - 1;
    let mut pos = consumer;
    let mut walked = 0;
    while pos < producer && walked < limit {
        walked += 1;
        let corrupt = move |reason| RingBufError::Corrupt { at: pos, reason };
        if pos % 8 != 0 {
            return Err(corrupt("record not 8-aligned"));
        }
        // Invariant: avail <= size.
        let avail = producer - pos;
        if avail < BPF_RINGBUF_HDR_SZ {
            return Err(corrupt("truncated record header"));
        }
        // Below size, since mask < size, and 8-aligned, since pos is.
        let offset = (pos & mask) as usize;
        let word = data.load_u32_acquire(offset);
        if word & BPF_RINGBUF_BUSY_BIT != 0 {
            // Not committed yet: it and everything after it wait.
            break;
        }
        let len = u64::from(word & !(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT));
        let total = (len + BPF_RINGBUF_HDR_SZ + 7) & !7;
        if total > avail {
            return Err(corrupt("record extends past the producer position"));
        }
        // offset + 8 <= size (8-aligned below a power of two >= 8); the
        // sample starts there, or at 0 where the header ends the area.
        let start = (offset + BPF_RINGBUF_HDR_SZ as usize) & (size - 1);
        let record = if word & BPF_RINGBUF_DISCARD_BIT != 0 {
            Record::Discarded
        } else {
            // len < total <= size: neither truncates nor lets a corrupt
            // length allocate more than the ring's size.
            let len = len as usize;
            scratch.clear();
            scratch.reserve_exact(len);
            scratch.resize(len, 0);
            // Up to the end of the area, then what wrapped to offset 0;
            // len < size, so the second part ends before `start`.
            let (head, wrapped) = scratch.split_at_mut(len.min(size - start));
            data.copy_out(start, head);
            if !wrapped.is_empty() {
                data.copy_out(0, wrapped);
            }
            Record::Sample(scratch)
        };
        pos += total;
        on_record(record, pos);
    }
    Ok(pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Byte the test rings are pre-filled with, so stale reads show up.
    const JUNK: u8 = 0x55;

    /// The data area of a ring of `size` bytes.
    fn ring(size: usize) -> Vec<u8> {
        vec![JUNK; size]
    }

    /// Writes `bytes` at counter `pos`, wrapping at the end of the area as
    /// the kernel's writes do.
    fn put(ring: &mut [u8], pos: u64, bytes: &[u8]) {
        let size = ring.len();
        for (i, &b) in bytes.iter().enumerate() {
            ring[((pos + i as u64) as usize) & (size - 1)] = b;
        }
    }

    /// Writes a record (header flags `flags`) at `pos`; returns the next position.
    fn write(ring: &mut [u8], pos: u64, payload: &[u8], flags: u32) -> u64 {
        let len = payload.len() as u32 | flags;
        let mut header = len.to_ne_bytes().to_vec();
        header.extend_from_slice(&7u32.to_ne_bytes()); // pg_off: ignored
        put(ring, pos, &header);
        put(ring, pos + BPF_RINGBUF_HDR_SZ, payload);
        pos + ((payload.len() as u64 + BPF_RINGBUF_HDR_SZ + 7) & !7)
    }

    fn payload(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|i| seed.wrapping_add(i as u8)).collect()
    }

    /// What the reader delivered: the samples (or None for a discarded
    /// record) with the position after each, and the result.
    type Got = Vec<(Option<Vec<u8>>, u64)>;

    /// A synthetic ring that checks how the walk reads it: header words
    /// only in the first copy, at record boundaries; bytes copied out only
    /// after their record's header was loaded.
    struct Checked<'a> {
        data: &'a [u8],
        /// The record whose header was loaded last: [start, end) of its bytes.
        loaded: std::cell::Cell<(usize, usize)>,
    }

    impl RingView for Checked<'_> {
        fn size(&self) -> usize {
            self.data.len()
        }

        fn copy_out(&self, offset: usize, dst: &mut [u8]) {
            // [start, start + len) of the record, around the end of the area.
            let (start, len) = self.loaded.get();
            let size = self.data.len();
            let inside = |at: usize| (at + size - start) % size < len;
            assert!(
                offset < size && (offset..offset + dst.len()).all(inside),
                "bytes at {offset} read before their header"
            );
            self.data.copy_out(offset, dst);
        }

        fn load_u32_acquire(&self, offset: usize) -> u32 {
            let size = self.data.len();
            assert!(offset < size && offset % 8 == 0, "header read at {offset}");
            let word = self.data.load_u32_acquire(offset);
            let len = (word & !(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT)) as usize;
            let start = (offset + BPF_RINGBUF_HDR_SZ as usize) % size;
            self.loaded.set((start, len));
            word
        }
    }

    fn collect(data: &[u8], consumer: u64, producer: u64) -> (Result<u64, RingBufError>, Got) {
        collect_at_most(data, consumer, producer, usize::MAX)
    }

    fn collect_at_most(
        data: &[u8],
        consumer: u64,
        producer: u64,
        limit: usize,
    ) -> (Result<u64, RingBufError>, Got) {
        let view = Checked { data, loaded: std::cell::Cell::new((0, 0)) };
        let mut scratch = Vec::new();
        let mut got = Vec::new();
        let result = read_records(&view, consumer, producer, limit, &mut scratch, |record, next| {
            let bytes = match record {
                Record::Sample(bytes) => Some(bytes.to_vec()),
                Record::Discarded => None,
            };
            got.push((bytes, next));
        });
        (result, got)
    }

    #[test]
    fn an_empty_ring_stays_where_it_is() {
        assert_eq!(collect(&ring(64), 40, 40), (Ok(40), vec![]));
    }

    #[test]
    fn an_event_and_an_outcome_come_out_exactly_as_written() {
        let mut data = ring(4096);
        let event = payload(72, 1);
        let outcome = payload(88, 100);
        let after_event = write(&mut data, 0, &event, 0);
        assert_eq!(after_event, 80);
        let end = write(&mut data, after_event, &outcome, 0);
        assert_eq!(end, 176);
        let (result, got) = collect(&data, 0, end);
        assert_eq!(result, Ok(176));
        assert_eq!(got, vec![(Some(event), 80), (Some(outcome), 176)]);
    }

    #[test]
    fn a_busy_record_stops_the_walk_until_it_is_committed() {
        let mut data = ring(256);
        let first = write(&mut data, 0, &payload(5, 1), 0);
        // Reserved by one CPU, not committed; the one after it is committed.
        let second = write(&mut data, first, &payload(16, 2), BPF_RINGBUF_BUSY_BIT);
        let third = write(&mut data, second, &payload(3, 3), 0);
        let (result, got) = collect(&data, 0, third);
        assert_eq!(result, Ok(first));
        assert_eq!(got, vec![(Some(payload(5, 1)), 16)]);
        // Committed: the walk resumes there and takes both.
        write(&mut data, first, &payload(16, 2), 0);
        let (result, got) = collect(&data, first, third);
        assert_eq!(result, Ok(third));
        assert_eq!(got, vec![(Some(payload(16, 2)), 40), (Some(payload(3, 3)), 56)]);
    }

    #[test]
    fn a_walk_stops_after_its_limit_and_the_next_one_resumes_there() {
        let mut data = ring(256);
        let mut end = 0;
        for n in 1..=5u8 {
            end = write(&mut data, end, &payload(8, n), 0);
        }
        let (result, got) = collect_at_most(&data, 0, end, 2);
        assert_eq!(result, Ok(32));
        assert_eq!(got, vec![(Some(payload(8, 1)), 16), (Some(payload(8, 2)), 32)]);
        let (result, got) = collect_at_most(&data, 32, end, 2);
        assert_eq!(result, Ok(64));
        assert_eq!(got.len(), 2);
        let (result, got) = collect_at_most(&data, 64, end, 2);
        assert_eq!(result, Ok(end));
        assert_eq!(got, vec![(Some(payload(8, 5)), 80)]);
        assert_eq!(collect_at_most(&data, 0, end, 0), (Ok(0), vec![]));
    }

    #[test]
    fn a_discarded_record_is_consumed_unread() {
        let mut data = ring(256);
        let first = write(&mut data, 0, &payload(72, 9), BPF_RINGBUF_DISCARD_BIT);
        let second = write(&mut data, first, &payload(8, 1), 0);
        let (result, got) = collect(&data, 0, second);
        assert_eq!(result, Ok(96));
        assert_eq!(got, vec![(None, 80), (Some(payload(8, 1)), 96)]);
    }

    #[test]
    fn a_record_crossing_the_end_is_copied_whole_in_two_parts() {
        let size = 256u64;
        for start in (0..size).step_by(8) {
            let mut data = ring(size as usize);
            // Positions in the millions: counters run free, never reset.
            let base = (1 << 20) * size + start;
            let event = payload(72, start as u8);
            let end = write(&mut data, base, &event, 0);
            let (result, got) = collect(&data, base, end);
            assert_eq!(result, Ok(end), "at {start}");
            assert_eq!(got, vec![(Some(event), end)], "at {start}");
        }
    }

    #[test]
    fn a_full_ring_is_read_to_the_end() {
        let mut data = ring(64);
        let first = write(&mut data, 64, &payload(24, 1), 0);
        let end = write(&mut data, first, &payload(24, 2), 0);
        assert_eq!(end - 64, 64);
        let (result, got) = collect(&data, 64, end);
        assert_eq!(result, Ok(128));
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn inconsistent_counters_are_errors() {
        let data = ring(64);
        assert_eq!(
            collect(&data, 80, 72).0,
            Err(RingBufError::ProducerBehind { consumer: 80, producer: 72 })
        );
        assert_eq!(
            collect(&data, 0, 72).0,
            Err(RingBufError::Overrun { consumer: 0, producer: 72, size: 64 })
        );
        assert_eq!(collect(&[JUNK; 96], 0, 8).0, Err(RingBufError::BadDataLen { len: 96 }));
        assert_eq!(collect(&data[..4], 0, 0).0, Err(RingBufError::BadDataLen { len: 4 }));
    }

    #[test]
    fn malformed_records_are_corrupt_after_the_good_ones() {
        let mut data = ring(256);
        let good = write(&mut data, 0, &payload(8, 1), 0);
        // A length running past the producer position.
        write(&mut data, good, &payload(8, 2), 0);
        let (result, got) = collect(&data, 0, good + 8);
        assert_eq!(
            result,
            Err(RingBufError::Corrupt { at: good, reason: "record extends past the producer position" })
        );
        assert_eq!(got, vec![(Some(payload(8, 1)), 16)]);
        // Fewer bytes pending than a header.
        assert_eq!(
            collect(&data, 0, good + 4).0,
            Err(RingBufError::Corrupt { at: good, reason: "truncated record header" })
        );
        // A consumer position that is not a record boundary.
        assert_eq!(
            collect(&data, 4, 16).0,
            Err(RingBufError::Corrupt { at: 4, reason: "record not 8-aligned" })
        );
    }

    #[test]
    fn a_zero_length_record_still_advances() {
        let mut data = ring(64);
        let end = write(&mut data, 0, &[], 0);
        assert_eq!(end, 8);
        assert_eq!(collect(&data, 0, 8), (Ok(8), vec![(Some(vec![]), 8)]));
    }

    #[test]
    fn garbage_never_panics_or_reads_out_of_bounds() {
        // A fixed pseudo-random sequence: every header value, every length.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..2000 {
            let size = 8usize << (next() % 8);
            let data: Vec<u8> = (0..size).map(|_| next() as u8).collect();
            let consumer = next() % 1024 * 8;
            let producer = consumer + next() % (size as u64 + 16);
            let (result, got) = collect(&data, consumer, producer);
            assert!(got.len() <= size / 8);
            if let Ok(pos) = result {
                assert!(pos >= consumer && pos <= producer);
            }
        }
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(
            RingBufError::Corrupt { at: 8, reason: "truncated record header" }.to_string(),
            "corrupt BPF ring buffer record at position 8: truncated record header"
        );
        assert_eq!(
            RingBufError::Overrun { consumer: 0, producer: 72, size: 64 }.to_string(),
            "BPF ring buffer has 72 pending bytes (consumer 0, producer 72) but holds only 64"
        );
    }
}
