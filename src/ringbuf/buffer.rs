//! The one BPF ring buffer every CPU writes events to: mapped, watched by
//! epoll (the map fd is readable while records wait; the programs wake it
//! only once a batch is waiting, see connect_path.bpf.h `send`), and drained
//! record by record, each one's space handed back to the kernel at once.

use super::records::{read_records, Record};
use crate::sys::bpf::Map;
use crate::sys::epoll::Epoll;
use crate::sys::ringbuf::RingBufMap;
use crate::sys::SysResult;
use std::os::fd::AsFd;

/// Records a drain takes at most: a batch is decoded, formatted and
/// written whole, so what it holds is what the reader's memory peaks at.
/// The whole 256 KiB ring (4681 IPv4 events) made a batch of ~870 KB at
/// the maximum connect rate; 1024 events, about a wakeup's worth (the
/// programs wake the reader every 80 KiB: 1024 IPv6, ~1460 IPv4), ~190 KB. The
/// records are in the order they were made, so a batch boundary changes
/// no order.
const DRAIN_LIMIT: usize = 1024;

pub struct RingBuffer {
    map: RingBufMap,
    /// Where each record is copied out of the ring to be handed on.
    scratch: Vec<u8>,
}

impl RingBuffer {
    /// Maps `ring` (a BPF_MAP_TYPE_RINGBUF of `size` bytes) and registers
    /// it with `epoll` under `token`.
    pub fn open(ring: &Map, size: usize, epoll: &Epoll, token: u64) -> SysResult<RingBuffer> {
        let map = RingBufMap::new(ring.as_fd(), size)?;
        epoll.add(ring.as_fd(), token)?;
        Ok(RingBuffer { map, scratch: Vec::new() })
    }

    /// The ring's size in bytes.
    pub fn size(&self) -> usize {
        self.map.data_len()
    }

    /// Reads the committed records once, at most DRAIN_LIMIT of them,
    /// passing each sample to `on_sample`; returns the number of corrupt
    /// batches skipped (should always be 0). What is left keeps the map fd
    /// readable, so the reader's next wait returns at once.
    pub fn drain(&mut self, mut on_sample: impl FnMut(&[u8])) -> u64 {
        let map = &self.map;
        let producer = map.producer_pos();
        let consumer = map.consumer_pos();
        if producer == consumer {
            return 0;
        }
        // Each record's header is loaded with Acquire before its bytes are
        // copied out; its space is handed back (Release) once it is handed on.
        let walked =
            read_records(&map.data(), consumer, producer, DRAIN_LIMIT, &mut self.scratch, |record, next| {
                if let Record::Sample(payload) = record {
                    on_sample(payload);
                }
                map.set_consumer_pos(next);
            });
        match walked {
            Ok(_) => 0,
            // On corruption skip to the producer: losing a batch beats looping on it.
            Err(_) => {
                map.set_consumer_pos(producer);
                1
            }
        }
    }
}
