//! The perf ring record parser (`perf::ring::read_records`) on a hostile
//! data area and hostile counters.
//!
//! Input: byte 0 picks the data area length (8 << (b % 10): 8 B .. 4 KiB) and
//! how `head` is made; bytes 1..9 are `tail`; bytes 9..17 the pending byte
//! count or a raw `head`; the rest fills the data area (zeros after it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpconnect::perf::ring::{read_records, Record};

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
    let len = 8usize << (control % 10);
    let tail = u64_at(data, 1);
    let head = match control >> 6 {
        // Any counter: head behind tail, overruns, wrapping sums.
        0 => u64_at(data, 9),
        // Pending bytes within (or just past) the ring: the useful case.
        _ => tail.wrapping_add(u64_at(data, 9) % (len as u64 + 9)),
    };
    let mut ring = vec![0u8; len];
    let body = data.get(17..).unwrap_or_default();
    let n = body.len().min(len);
    ring[..n].copy_from_slice(&body[..n]);
    // Occasionally also a non-power-of-two length.
    let ring: &[u8] = if control & 0x20 != 0 && len > 8 { &ring[..len - 8] } else { &ring };

    let mut scratch = Vec::new();
    let mut records = 0usize;
    let result = read_records(ring, tail, head, &mut scratch, |record| {
        records += 1;
        if let Record::Sample(payload) = record {
            assert!(payload.len() <= ring.len(), "a payload larger than the ring");
        }
    });
    if let Ok(new_tail) = result {
        assert_eq!(new_tail, head, "a clean parse consumes everything");
    }
    // Every record is at least 8 bytes and scratch is bounded by the ring.
    assert!(records <= ring.len() / 8, "{records} records from {} bytes", ring.len());
    assert!(scratch.capacity() <= ring.len(), "scratch grew to {}", scratch.capacity());
});
