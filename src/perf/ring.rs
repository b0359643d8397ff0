//! Parsing of the records in a perf ring buffer's data area.
//!
//! BPF programs that call `bpf_perf_event_output()` write into a
//! `BPF_MAP_TYPE_PERF_EVENT_ARRAY`; each CPU's slot is a perf event whose ring
//! buffer user space `mmap()`s as one metadata page (`struct
//! perf_event_mmap_page`) followed by a data area of 2^n pages.
//!
//! The metadata page holds two free-running `u64` byte counters: `data_head`
//! (advanced by the kernel after it wrote a record) and `data_tail` (advanced by
//! user space after it consumed one). A counter `c` refers to byte
//! `c & (len - 1)` of the data area; the bytes between `tail` and `head` are
//! the pending records. The memory-ordering half of the protocol (load
//! `data_head` with Acquire, store `data_tail` with Release) belongs to the
//! mmap wrapper; this module is the pure parsing step in between, so it can be
//! tested on plain byte arrays.
//!
//! # Record layout (`include/uapi/linux/perf_event.h`)
//!
//! Every record starts with a native-endian
//! `struct perf_event_header { u32 type; u16 misc; u16 size; }`, where `size`
//! counts the header too. The kernel (`perf_output_begin()`) only ever
//! reserves multiples of 8 bytes, and the data area is a multiple of the page
//! size, so every record starts 8-aligned and its 8-byte header can never
//! straddle the end of the ring. A record's *body*, however, may run past the
//! end of the data area and continue at offset 0.
//!
//! * `PERF_RECORD_SAMPLE` (9) with `sample_type == PERF_SAMPLE_RAW`:
//!   `{ header; u32 size; u8 data[size]; padding }`. The payload starts at
//!   record offset 12, i.e. it is only 4-byte aligned, and is `size` bytes long.
//!   Depending on the kernel version `size` may already include up to 7 bytes
//!   of padding; we return `size` bytes and the consumer tolerates the extra.
//! * `PERF_RECORD_LOST` (2): `{ header; u64 id; u64 lost; }`.
//! * Anything else is skipped using its `header.size`.
//!
//! Although the kernel guarantees that headers never straddle the ring end, we
//! read every field through the same wrap-aware copy as the bodies: it costs
//! nothing measurable and means a misbehaving producer can at worst make us
//! report corruption, never index out of bounds.
//!
//! # Reading the ring
//!
//! The kernel writes the data area while we parse it (past `data_head`), so
//! the area is never a `&[u8]` here: it is a [`RingView`], whose fields and
//! payloads are copied out (the mmapped ring's view reads volatile words;
//! `[u8]` is one too, for tests, fuzzing and benches). Each payload is copied
//! once, into the caller's scratch buffer, whether it wrapped or not.
//!
//! # API choice
//!
//! This module uses the callback form, [`read_records`]: each [`Record`] is
//! handed to the closure and the borrow of the scratch buffer ends when the
//! closure returns, so the buffer is reused for the next record.

use std::fmt;

use crate::sys::RingView;
use crate::uapi::{PERF_RECORD_LOST, PERF_RECORD_SAMPLE};

/// `sizeof(struct perf_event_header)`.
const HEADER_LEN: u64 = 8;
/// Record offset of a raw sample's `u32 size` field (right after the header).
const RAW_SIZE_OFFSET: u64 = HEADER_LEN;
/// Record offset of a raw sample's payload: header plus the `u32 size`.
const RAW_DATA_OFFSET: u64 = RAW_SIZE_OFFSET + 4;
/// Record offset of `lost` in a `PERF_RECORD_LOST` (after the header and `u64 id`).
const LOST_OFFSET: u64 = HEADER_LEN + 8;
/// Minimum size of a `PERF_RECORD_LOST`.
const LOST_LEN: u64 = LOST_OFFSET + 8;

/// What one record was.
#[derive(Debug, PartialEq, Eq)]
pub enum Record<'a> {
    /// A PERF_RECORD_SAMPLE's raw payload, copied out of the ring (joined
    /// when it wrapped around the ring end) into the scratch buffer.
    Sample(&'a [u8]),
    /// PERF_RECORD_LOST: the number of samples the kernel dropped.
    Lost(u64),
    /// Any other record type, skipped.
    Unknown(u32),
}

/// Why the pending bytes of a ring could not be (fully) parsed.
///
/// In every case the caller should publish `head` as the new tail, discarding
/// whatever was not delivered, and log the problem (once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingError {
    /// The data area's length is not a power of two of at least 8 bytes.
    BadDataLen {
        /// The length that was passed in.
        len: usize,
    },
    /// `head` is behind `tail`: the counters are inconsistent.
    HeadBeforeTail {
        /// Consumer position.
        tail: u64,
        /// Producer position.
        head: u64,
    },
    /// More bytes are pending than the ring can hold, so the kernel must have
    /// overwritten unread data (or the counters are garbage).
    Overrun {
        /// Consumer position.
        tail: u64,
        /// Producer position.
        head: u64,
        /// Length of the data area.
        len: usize,
    },
    /// The record starting at counter `at` is malformed; the records before it
    /// were delivered.
    Corrupt {
        /// Counter (not ring offset) of the malformed record's header.
        at: u64,
        /// What was wrong with it.
        reason: &'static str,
    },
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RingError::BadDataLen { len } => {
                write!(f, "perf ring data area length {len} is not a power of two >= 8")
            }
            RingError::HeadBeforeTail { tail, head } => {
                write!(f, "perf ring head {head} is behind tail {tail}")
            }
            RingError::Overrun { tail, head, len } => write!(
                f,
                "perf ring has {} pending bytes (tail {tail}, head {head}) but holds only {len}",
                head.wrapping_sub(tail)
            ),
            RingError::Corrupt { at, reason } => {
                write!(f, "corrupt perf record at position {at}: {reason}")
            }
        }
    }
}

impl std::error::Error for RingError {}

/// The data area plus the mask that turns a counter into an offset.
struct Ring<'a, R: RingView + ?Sized> {
    data: &'a R,
    mask: u64,
}

impl<R: RingView + ?Sized> Ring<'_, R> {
    /// Copies `dst.len()` bytes starting at counter `pos` into `dst`: the part
    /// up to the ring end, then the part that wrapped to offset 0.
    ///
    /// Callers guarantee `dst.len() <= data.size()`, so both ranges are in
    /// bounds.
    fn copy(&self, pos: u64, dst: &mut [u8]) {
        // `mask < data.size()`, so the offset always fits in a usize.
        let start = (pos & self.mask) as usize;
        let first = dst.len().min(self.data.size() - start);
        let (head, wrapped) = dst.split_at_mut(first);
        self.data.copy_out(start, head);
        if !wrapped.is_empty() {
            self.data.copy_out(0, wrapped);
        }
    }

    /// Copies `N` (<= 8) bytes starting at counter `pos`, wrapping if needed.
    #[inline]
    fn read_array<const N: usize>(&self, pos: u64) -> [u8; N] {
        let mut out = [0; N];
        self.copy(pos, &mut out);
        out
    }

    fn read_u32(&self, pos: u64) -> u32 {
        u32::from_ne_bytes(self.read_array(pos))
    }

    fn read_u64(&self, pos: u64) -> u64 {
        u64::from_ne_bytes(self.read_array(pos))
    }
}

/// Reads the records between `tail` and `head` in `data` (size a power of
/// two), calling `on_record` for each in order. Each sample's payload is
/// copied into `scratch`, which is reused. Returns the tail to publish:
/// `head` when everything was consumed.
/// On a corrupt record, returns Err with the position; the caller then publishes `head`.
///
/// `tail` and `head` are the free-running counters from the metadata page
/// (`head` already loaded with Acquire ordering). Records delivered before an
/// error are valid. The work is bounded by `head - tail <= data.size()` bytes,
/// every record advances by at least 8 bytes, and `scratch` never grows beyond
/// `data.size()` bytes, whatever the ring contains.
pub fn read_records<R, F>(
    data: &R,
    tail: u64,
    head: u64,
    scratch: &mut Vec<u8>,
    mut on_record: F,
) -> Result<u64, RingError>
where
    R: RingView + ?Sized,
    F: FnMut(Record<'_>),
{
    let len = data.size();
    if len < HEADER_LEN as usize || !len.is_power_of_two() {
        return Err(RingError::BadDataLen { len });
    }
    if head < tail {
        return Err(RingError::HeadBeforeTail { tail, head });
    }
    // `len` is at most isize::MAX, so it always fits in a u64.
    if head - tail > len as u64 {
        return Err(RingError::Overrun { tail, head, len });
    }
    let ring = Ring { data, mask: len as u64 - 1 };

    let mut pos = tail;
    while pos < head {
        let corrupt = move |reason| RingError::Corrupt { at: pos, reason };
        // Invariant: avail <= len, so every size checked against it below is
        // also a valid length for `Ring::copy`.
        let avail = head - pos;
        if avail < HEADER_LEN {
            return Err(corrupt("truncated record header"));
        }

        // struct perf_event_header { u32 type; u16 misc; u16 size; }
        let header: [u8; 8] = ring.read_array(pos);
        let kind = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]);
        let size = u64::from(u16::from_ne_bytes([header[6], header[7]]));
        if size < HEADER_LEN {
            // Also what guarantees progress: a size of 0 would loop forever.
            return Err(corrupt("record size smaller than its header"));
        }
        if size > avail {
            return Err(corrupt("record extends past head"));
        }

        // All offsets below are <= size <= avail, so `pos + offset <= head`
        // cannot overflow.
        match kind {
            PERF_RECORD_SAMPLE => {
                if size < RAW_DATA_OFFSET {
                    return Err(corrupt("sample too short for its raw size field"));
                }
                let raw_len = u64::from(ring.read_u32(pos + RAW_SIZE_OFFSET));
                if raw_len > size - RAW_DATA_OFFSET {
                    return Err(corrupt("raw sample size exceeds record size"));
                }
                // raw_len < size <= len, so this neither truncates nor lets a
                // corrupt size allocate more than the ring length below.
                let raw_len = raw_len as usize;
                scratch.clear();
                // Exact, so amortized doubling never takes the buffer past
                // the ring length.
                scratch.reserve_exact(raw_len);
                scratch.resize(raw_len, 0);
                ring.copy(pos + RAW_DATA_OFFSET, scratch);
                on_record(Record::Sample(scratch));
            }
            PERF_RECORD_LOST => {
                if size < LOST_LEN {
                    return Err(corrupt("lost record too short"));
                }
                on_record(Record::Lost(ring.read_u64(pos + LOST_OFFSET)));
            }
            other => on_record(Record::Unknown(other)),
        }
        pos += size;
    }
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Byte the test rings are pre-filled with, so stale reads show up.
    const JUNK: u8 = 0x55;
    /// Byte used for record padding, so padding leaking into payloads shows up.
    const PAD: u8 = 0xAA;

    fn ring(len: usize) -> Vec<u8> {
        vec![JUNK; len]
    }

    /// Writes `bytes` at counter `pos`, wrapping at the ring end like the
    /// kernel's `perf_output_copy()`.
    fn put(ring: &mut [u8], pos: u64, bytes: &[u8]) {
        let mask = ring.len() as u64 - 1;
        for (i, &b) in bytes.iter().enumerate() {
            ring[((pos + i as u64) & mask) as usize] = b;
        }
    }

    /// Writes just a header (for corrupt records). Returns the counter after it.
    fn put_header(ring: &mut [u8], pos: u64, kind: u32, size: u16) -> u64 {
        let mut h = Vec::with_capacity(8);
        h.extend_from_slice(&kind.to_ne_bytes());
        h.extend_from_slice(&0u16.to_ne_bytes());
        h.extend_from_slice(&size.to_ne_bytes());
        put(ring, pos, &h);
        pos + 8
    }

    /// Appends a record of type `kind` with `body`, padded to a multiple of 8
    /// bytes as the kernel does. Returns the counter after the record.
    fn write_record(ring: &mut [u8], pos: u64, kind: u32, body: &[u8]) -> u64 {
        let size = (8 + body.len()).next_multiple_of(8);
        put_header(ring, pos, kind, u16::try_from(size).unwrap());
        let mut rest = body.to_vec();
        rest.resize(size - 8, PAD);
        put(ring, pos + 8, &rest);
        pos + size as u64
    }

    /// Appends a PERF_RECORD_SAMPLE with a raw `payload`.
    fn write_sample(ring: &mut [u8], pos: u64, payload: &[u8]) -> u64 {
        let mut body = u32::try_from(payload.len()).unwrap().to_ne_bytes().to_vec();
        body.extend_from_slice(payload);
        write_record(ring, pos, PERF_RECORD_SAMPLE, &body)
    }

    /// Appends a PERF_RECORD_LOST.
    fn write_lost(ring: &mut [u8], pos: u64, id: u64, lost: u64) -> u64 {
        let mut body = id.to_ne_bytes().to_vec();
        body.extend_from_slice(&lost.to_ne_bytes());
        write_record(ring, pos, PERF_RECORD_LOST, &body)
    }

    /// A recognisable payload of `n` bytes.
    fn payload(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|i| seed.wrapping_add((i as u8).wrapping_mul(7)) | 1).collect()
    }

    /// An owned copy of a [`Record`], so tests can keep it past the callback.
    #[derive(Debug, PartialEq, Eq)]
    enum Got {
        Sample(Vec<u8>),
        Lost(u64),
        Unknown(u32),
    }

    fn collect(data: &[u8], tail: u64, head: u64) -> (Result<u64, RingError>, Vec<Got>) {
        let mut scratch = Vec::new();
        let mut got = Vec::new();
        let res = read_records(data, tail, head, &mut scratch, |r| {
            got.push(match r {
                Record::Sample(p) => Got::Sample(p.to_vec()),
                Record::Lost(n) => Got::Lost(n),
                Record::Unknown(t) => Got::Unknown(t),
            })
        });
        (res, got)
    }

    fn corrupt(at: u64, reason: &'static str) -> RingError {
        RingError::Corrupt { at, reason }
    }

    #[test]
    fn empty_ring_returns_head() {
        let data = ring(64);
        for pos in [0, 8, 64, 1000 * 64 + 24, (1 << 40) + 56] {
            assert_eq!(collect(&data, pos, pos), (Ok(pos), vec![]));
        }
    }

    #[test]
    fn one_sample() {
        let mut data = ring(64);
        let p = payload(16, 1);
        let head = write_sample(&mut data, 0, &p);
        assert_eq!(head, 32);
        assert_eq!(collect(&data, 0, head), (Ok(32), vec![Got::Sample(p)]));
    }

    #[test]
    fn contiguous_sample_is_copied_out_of_the_ring() {
        let mut data = ring(64);
        let p = payload(20, 3);
        let head = write_sample(&mut data, 8, &p);
        let mut scratch = Vec::new();
        let mut seen = 0;
        let res = read_records(&data[..], 8, head, &mut scratch, |r| {
            let Record::Sample(s) = r else { panic!("{r:?}") };
            // Payload starts at record offset 12, and is never borrowed
            // from the ring (the kernel may write the ring meanwhile).
            assert_eq!(s, &data[8 + 12..8 + 12 + 20]);
            assert_eq!(s, &p[..]);
            assert!(!data.as_ptr_range().contains(&s.as_ptr()));
            seen += 1;
        });
        assert_eq!(res, Ok(head));
        assert_eq!(seen, 1);
        assert_eq!(scratch, p, "the payload was copied into scratch");
    }

    #[test]
    fn several_records_in_order() {
        let mut data = ring(256);
        let (a, b, c) = (payload(1, 10), payload(24, 20), payload(0, 0));
        let mut pos = 40;
        pos = write_sample(&mut data, pos, &a);
        pos = write_lost(&mut data, pos, 7, 3);
        pos = write_sample(&mut data, pos, &b);
        pos = write_record(&mut data, pos, 3 /* PERF_RECORD_COMM */, b"comm\0\0\0\0");
        pos = write_sample(&mut data, pos, &c);
        assert_eq!(
            collect(&data, 40, pos),
            (Ok(pos), vec![Got::Sample(a), Got::Lost(3), Got::Sample(b), Got::Unknown(3), Got::Sample(c),])
        );
    }

    /// Places one sample at every aligned ring position (the only positions
    /// the kernel uses) with every payload length that fits, so the ring end
    /// falls before the header's end, inside the raw size field, and at every
    /// reachable byte of the payload.
    #[test]
    fn sample_wrapping_at_every_position() {
        const LEN: usize = 64;
        for start in (0..LEN as u64).step_by(8) {
            for n in 0..=LEN - 12 {
                let mut data = ring(LEN);
                let p = payload(n, start as u8 ^ n as u8);
                let tail = 5 * LEN as u64 + start;
                let head = write_sample(&mut data, tail, &p);

                let mut scratch = vec![0xEE; 3]; // stale contents must not leak
                let mut seen = 0;
                let res = read_records(&data[..], tail, head, &mut scratch, |r| {
                    let Record::Sample(s) = r else { panic!("{r:?}") };
                    assert_eq!(s, &p[..], "start {start} len {n}");
                    if n > 0 {
                        let in_ring = data.as_ptr_range().contains(&s.as_ptr());
                        assert!(!in_ring, "start {start} len {n}: borrowed from the ring");
                    }
                    seen += 1;
                });
                assert_eq!(res, Ok(head), "start {start} len {n}");
                assert_eq!(seen, 1);
                assert_eq!(scratch, p);
            }
        }
    }

    #[test]
    fn header_ends_exactly_at_ring_end() {
        let mut data = ring(64);
        let p = payload(30, 9);
        let tail = 64 * 3 + 56; // header occupies 56..64, body starts at 0
        let head = write_sample(&mut data, tail, &p);
        assert_eq!(&data[0..4], &30u32.to_ne_bytes(), "raw size at offset 0");
        assert_eq!(&data[4..34], &p[..], "payload at offset 4");
        assert_eq!(collect(&data, tail, head), (Ok(head), vec![Got::Sample(p)]));
    }

    #[test]
    fn raw_size_field_ends_at_ring_end() {
        let mut data = ring(64);
        let p = payload(20, 4);
        let tail = 48; // header 48..56, raw size 56..60, payload 60..64 then 0..16
        let head = write_sample(&mut data, tail, &p);
        assert_eq!(&data[60..64], &p[..4]);
        assert_eq!(collect(&data, tail, head), (Ok(head), vec![Got::Sample(p)]));
    }

    #[test]
    fn large_counters_stream_in_batches() {
        // A producer/consumer simulation: counters start near 2^40 and wrap
        // the 128-byte ring many times; each batch must come back intact.
        const LEN: usize = 128;
        let mut data = ring(LEN);
        let mut scratch = Vec::new();
        let mut tail: u64 = (1 << 40) + 8 * 13;
        let mut head = tail;
        for batch in 0..200u32 {
            let mut expected = Vec::new();
            // Fill at most LEN bytes per batch.
            loop {
                let n = ((batch as usize * 5 + expected.len() * 11) % 37) + 1;
                let size = (12 + n).next_multiple_of(8) as u64;
                if head + size - tail > LEN as u64 {
                    break;
                }
                let p = payload(n, batch as u8);
                head = write_sample(&mut data, head, &p);
                expected.push(p);
            }
            let mut got = Vec::new();
            let res = read_records(&data[..], tail, head, &mut scratch, |r| match r {
                Record::Sample(s) => got.push(s.to_vec()),
                other => panic!("{other:?}"),
            });
            assert_eq!(res, Ok(head), "batch {batch}");
            assert_eq!(got, expected, "batch {batch}");
            assert!(scratch.capacity() <= LEN);
            tail = head;
        }
        assert!(tail > (1 << 40) + 100 * LEN as u64);
    }

    #[test]
    fn full_ring_is_accepted() {
        let mut data = ring(64);
        let tail = 64 * 9 + 16;
        let (a, b) = (payload(20, 1), payload(17, 2)); // 32 + 32 bytes
        let mut head = write_sample(&mut data, tail, &a);
        head = write_sample(&mut data, head, &b);
        assert_eq!(head - tail, 64);
        assert_eq!(collect(&data, tail, head), (Ok(head), vec![Got::Sample(a), Got::Sample(b)]));
    }

    #[test]
    fn lost_record() {
        let mut data = ring(64);
        let head = write_lost(&mut data, 16, 99, 12345);
        assert_eq!(head, 16 + 24);
        assert_eq!(collect(&data, 16, head), (Ok(head), vec![Got::Lost(12345)]));
    }

    #[test]
    fn lost_record_wrapped() {
        // Header at the last 8 bytes (whole body at 0), id at the end
        // (lost at 0), and lost being the last field before the end.
        for start in [56u64, 48, 40] {
            let mut data = ring(64);
            let tail = 64 * 7 + start;
            let lost = 0x0102_0304_0506_0708;
            let head = write_lost(&mut data, tail, 1, lost);
            assert_eq!(collect(&data, tail, head), (Ok(head), vec![Got::Lost(lost)]), "start {start}");
        }
    }

    #[test]
    fn unknown_types_are_skipped() {
        let mut data = ring(128);
        let p = payload(9, 5);
        let mut pos = 0;
        pos = write_record(&mut data, pos, 3, &[1; 20]); // PERF_RECORD_COMM
        pos = write_record(&mut data, pos, 0xdead_beef, &[]); // bare header
        pos = write_sample(&mut data, pos, &p);
        pos = write_record(&mut data, pos, 14, &[2; 40]); // PERF_RECORD_THROTTLE-ish
        assert_eq!(
            collect(&data, 0, pos),
            (Ok(pos), vec![Got::Unknown(3), Got::Unknown(0xdead_beef), Got::Sample(p), Got::Unknown(14),])
        );
    }

    #[test]
    fn padded_sample_excludes_padding() {
        let mut data = ring(64);
        let p = payload(5, 7); // 8 + 4 + 5 = 17 -> record of 24, 7 bytes padding
        let mut head = write_sample(&mut data, 0, &p);
        assert_eq!(head, 24);
        assert_eq!(&data[17..24], &[PAD; 7]);
        let q = payload(3, 8);
        head = write_sample(&mut data, head, &q);
        assert_eq!(collect(&data, 0, head), (Ok(head), vec![Got::Sample(p), Got::Sample(q)]));
    }

    #[test]
    fn raw_size_including_kernel_padding_is_returned_whole() {
        // Some kernels round the raw size itself so the record is aligned:
        // 5 bytes of data reported as size 12 (8 + 4 + 12 = 24).
        let mut data = ring(64);
        let mut body = 12u32.to_ne_bytes().to_vec();
        body.extend_from_slice(&[1, 2, 3, 4, 5, 0, 0, 0, 0, 0, 0, 0]);
        let head = write_record(&mut data, 0, PERF_RECORD_SAMPLE, &body);
        assert_eq!(head, 24);
        assert_eq!(
            collect(&data, 0, head),
            (Ok(head), vec![Got::Sample(vec![1, 2, 3, 4, 5, 0, 0, 0, 0, 0, 0, 0])])
        );
    }

    #[test]
    fn zero_header_size_is_corrupt_not_a_hang() {
        let mut data = ring(64);
        let p = payload(4, 1);
        let pos = write_sample(&mut data, 0, &p);
        put_header(&mut data, pos, PERF_RECORD_SAMPLE, 0);
        let head = pos + 32;
        let (res, got) = collect(&data, 0, head);
        assert_eq!(res, Err(corrupt(pos, "record size smaller than its header")));
        assert_eq!(got, vec![Got::Sample(p)], "records before the bad one delivered");
    }

    #[test]
    fn header_size_below_eight_is_corrupt() {
        for size in 1..8 {
            let mut data = ring(64);
            put_header(&mut data, 8, 0, size);
            let (res, got) = collect(&data, 8, 40);
            assert_eq!(res, Err(corrupt(8, "record size smaller than its header")));
            assert!(got.is_empty());
        }
    }

    #[test]
    fn size_larger_than_available_is_corrupt() {
        let mut data = ring(64);
        put_header(&mut data, 0, PERF_RECORD_SAMPLE, 40);
        assert_eq!(collect(&data, 0, 32), (Err(corrupt(0, "record extends past head")), vec![]));
        // A huge size must not be believed either.
        put_header(&mut data, 0, 3, u16::MAX);
        assert_eq!(collect(&data, 0, 64), (Err(corrupt(0, "record extends past head")), vec![]));
    }

    #[test]
    fn truncated_header_is_corrupt() {
        let mut data = ring(64);
        let head = write_sample(&mut data, 0, &payload(4, 0));
        let (res, got) = collect(&data, 0, head + 4);
        assert_eq!(res, Err(corrupt(head, "truncated record header")));
        assert_eq!(got.len(), 1);
    }

    #[test]
    fn raw_size_bigger_than_record_is_corrupt() {
        let mut data = ring(64);
        let mut scratch = Vec::new();
        // 24-byte record has room for at most 12 payload bytes.
        for raw in [13u32, 100, u32::MAX] {
            let mut body = raw.to_ne_bytes().to_vec();
            body.extend_from_slice(&[0; 12]);
            // Place it so the (claimed) payload would wrap: scratch must stay empty.
            let head = write_record(&mut data, 48, PERF_RECORD_SAMPLE, &body);
            let mut called = false;
            let res = read_records(&data[..], 48, head, &mut scratch, |_| called = true);
            assert_eq!(res, Err(corrupt(48, "raw sample size exceeds record size")));
            assert!(!called);
            assert_eq!(scratch.capacity(), 0, "no allocation for a corrupt size");
        }
        // The largest legal raw size is accepted.
        let mut body = 12u32.to_ne_bytes().to_vec();
        body.extend_from_slice(&[7; 12]);
        let head = write_record(&mut data, 48, PERF_RECORD_SAMPLE, &body);
        assert_eq!(collect(&data, 48, head), (Ok(head), vec![Got::Sample(vec![7; 12])]));
    }

    #[test]
    fn sample_without_room_for_raw_size_is_corrupt() {
        let mut data = ring(64);
        put_header(&mut data, 0, PERF_RECORD_SAMPLE, 8);
        assert_eq!(
            collect(&data, 0, 8),
            (Err(corrupt(0, "sample too short for its raw size field")), vec![])
        );
    }

    #[test]
    fn short_lost_record_is_corrupt() {
        let mut data = ring(64);
        put_header(&mut data, 0, PERF_RECORD_LOST, 16);
        assert_eq!(collect(&data, 0, 16), (Err(corrupt(0, "lost record too short")), vec![]));
    }

    #[test]
    fn more_pending_than_ring_length_is_overrun() {
        let data = ring(64);
        let tail = 1 << 40;
        assert_eq!(
            collect(&data, tail, tail + 72),
            (Err(RingError::Overrun { tail, head: tail + 72, len: 64 }), vec![])
        );
    }

    #[test]
    fn head_before_tail_is_error() {
        let data = ring(64);
        assert_eq!(collect(&data, 80, 72), (Err(RingError::HeadBeforeTail { tail: 80, head: 72 }), vec![]));
    }

    #[test]
    fn bad_data_len_is_error() {
        for len in [0, 4, 48, 100] {
            let data = vec![0; len];
            assert_eq!(collect(&data, 0, 0), (Err(RingError::BadDataLen { len }), vec![]));
        }
    }

    #[test]
    fn scratch_is_reused_and_bounded() {
        let mut data = ring(64);
        let mut scratch = Vec::new();
        let mut tail = 40u64;
        for n in [40, 3, 30, 52] {
            let p = payload(n, n as u8);
            let head = write_sample(&mut data, tail, &p);
            let mut got = None;
            let res = read_records(&data[..], tail, head, &mut scratch, |r| {
                if let Record::Sample(s) = r {
                    got = Some(s.to_vec());
                }
            });
            assert_eq!(res, Ok(head));
            assert_eq!(got.as_deref(), Some(&p[..]));
            assert!(scratch.capacity() <= 64);
            tail = head;
        }
    }

    /// Garbage rings and counters: parsing must terminate without panicking,
    /// and scratch must stay within the ring length.
    #[test]
    fn random_garbage_never_panics() {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            // xorshift64: deterministic, no dependencies.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut scratch = Vec::new();
        for _ in 0..20_000 {
            let len = 8usize << (next() % 6);
            let mut data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            // Bias some headers towards plausible types and small sizes.
            if next() % 2 == 0 {
                let at = (next() % len as u64) & !7;
                let kind = [PERF_RECORD_SAMPLE, PERF_RECORD_LOST][next() as usize % 2];
                put_header(&mut data, at, kind, (next() % 80) as u16);
            }
            let tail = next() >> (next() % 64);
            let head = tail.saturating_add(next() % (2 * len as u64));
            let mut calls = 0u64;
            let res = read_records(&data[..], tail, head, &mut scratch, |_| calls += 1);
            if let Ok(t) = res {
                assert_eq!(t, head);
            }
            assert!(calls <= len as u64 / 8);
            assert!(scratch.capacity() <= 256);
        }
    }

    #[test]
    fn errors_display() {
        let errors = [
            RingError::BadDataLen { len: 3 },
            RingError::HeadBeforeTail { tail: 2, head: 1 },
            RingError::Overrun { tail: 0, head: 100, len: 64 },
            corrupt(8, "record extends past head"),
        ];
        for e in errors {
            let s = e.to_string();
            assert!(s.contains("perf"), "{s}");
        }
        assert_eq!(
            corrupt(8, "record extends past head").to_string(),
            "corrupt perf record at position 8: record extends past head"
        );
    }
}
