//! The BPF ring buffer record walker (`ringbuf::records::read_records`) on a
//! hostile data area and hostile counters.
//!
//! Input: byte 0 picks the ring size (8 << (b % 10): 8 B .. 4 KiB) and how
//! the producer position is made; bytes 1..9 are the consumer position;
//! bytes 9..17 the pending byte count or a raw producer position; the rest
//! fills the ring (zeros after it), mapped once as the tool maps it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpconnect::ringbuf::records::{read_records, Record};
use tcpconnect::sys::RingView;

/// The synthetic ring, checking that header words are read 8-aligned and
/// whole inside the ring, and bytes only inside it.
struct CheckedRing<'a>(&'a [u8]);

impl RingView for CheckedRing<'_> {
    fn size(&self) -> usize {
        self.0.len()
    }

    fn copy_out(&self, offset: usize, dst: &mut [u8]) {
        assert!(offset + dst.len() <= self.0.len(), "a copy of {} at {offset} past the ring", dst.len());
        self.0.copy_out(offset, dst)
    }

    fn load_u32_acquire(&self, offset: usize) -> u32 {
        assert!(offset + 4 <= self.0.len() && offset % 8 == 0, "header read at {offset} outside the ring");
        self.0.load_u32_acquire(offset)
    }
}

fn u64_at(data: &[u8], at: usize) -> u64 {
    let mut bytes = [0u8; 8];
    if let Some(src) = data.get(at..) {
        let n = src.len().min(8);
        bytes[..n].copy_from_slice(&src[..n]);
    }
    u64::from_le_bytes(bytes)
}

fuzz_target!(|data: &[u8]| {
    let Some(&control) = data.first() else { return };
    let size = 8usize << (control % 10);
    let consumer = u64_at(data, 1);
    let producer = match control >> 6 {
        // Any counter: producer behind, overruns, misaligned positions.
        0 => u64_at(data, 9),
        // Pending bytes within (or just past) the ring, 8-aligned: the useful case.
        _ => {
            let consumer = consumer & !7;
            consumer.wrapping_add(u64_at(data, 9) % (size as u64 + 9))
        }
    };
    let consumer = if control >> 6 == 0 { consumer } else { consumer & !7 };
    let mut ring = vec![0u8; size];
    let body = data.get(17..).unwrap_or_default();
    let n = body.len().min(size);
    ring[..n].copy_from_slice(&body[..n]);
    // Occasionally a length that is not a power of two.
    let ring: &[u8] = if control & 0x20 != 0 { &ring[..size - 1] } else { &ring };

    let mut scratch = Vec::new();
    let mut records = 0usize;
    let mut last = consumer;
    let result = read_records(&CheckedRing(ring), consumer, producer, usize::MAX, &mut scratch, |record, next| {
        records += 1;
        assert!(next > last && next <= producer, "position {next} after {last}, producer {producer}");
        last = next;
        if let Record::Sample(payload) = record {
            assert!(payload.len() <= size, "a payload larger than the ring");
        }
    });
    if let Ok(stopped) = result {
        assert!(stopped >= consumer && stopped <= producer);
        assert_eq!(stopped, last);
    }
    assert!(records <= size / 8, "{records} records from {size} bytes");
    assert!(scratch.capacity() <= size, "scratch grew to {}", scratch.capacity());
});
