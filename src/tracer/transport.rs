//! How events reach user space: the one BPF ring buffer where the kernel
//! has it (5.8+), found by creating a tiny one, or the per-CPU perf event
//! arrays (every kernel since 4.3, and TCPCONNECT_TRANSPORT=perf). The
//! choice is a pure function of what the probe found, tested below; `-v`
//! names it.

use super::constants::RingWakeup;
use crate::perf::buffer::{DEFAULT_RING_PAGES, WAKEUP_EVENTS};
use crate::sys::bpf::{Map, MapParams};

/// The BPF ring buffer's size when --ring-size does not say: 256 KiB, room
/// for 3276 IPv6 events (4681 IPv4 ones), 113 ms or more of the fastest
/// connect rate measured on a 2-core host with both cores kept busy by CPU
/// hogs (29000 a second), and the same memory as the perf rings of two
/// CPUs. The whole ring is resident
/// (populated at mmap; we map the data area once, not twice as the kernel
/// offers), so 4 MiB would take 4 MiB of RSS, past the 3 MiB target.
pub const DEFAULT_RING_KIB: u32 = 256;

/// Bytes an IPv6 event takes in the ring: the 8-byte header and the
/// 72-byte `struct connect_event` (already 8-aligned). An IPv4 one takes
/// 56 (`struct connect_event4`), so a batch of these bytes is 1024 IPv6
/// events or ~1460 IPv4 ones.
const EVENT_RECORD_BYTES: u64 = 8 + crate::event::EVENT_SIZE as u64;

/// The way events go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    /// One BPF ring buffer of `bytes` (a power of two of pages).
    RingBuffer { bytes: u32 },
    /// One perf ring per online CPU.
    PerfArrays,
}

impl Transport {
    /// The constants the programs need for it: the ring buffer's wakeup
    /// threshold, a batch like the perf rings' (WAKEUP_EVENTS a CPU, for
    /// two CPUs) or half the ring, whichever is less.
    pub fn wakeup(&self) -> Option<RingWakeup> {
        match *self {
            Transport::RingBuffer { bytes } => {
                let batch = 2 * u64::from(WAKEUP_EVENTS) * EVENT_RECORD_BYTES;
                Some(RingWakeup { bytes: batch.min(u64::from(bytes) / 2) })
            }
            Transport::PerfArrays => None,
        }
    }

    /// The ring buffer map's size, None for the perf event arrays.
    pub fn ring_bytes(&self) -> Option<u32> {
        match *self {
            Transport::RingBuffer { bytes } => Some(bytes),
            Transport::PerfArrays => None,
        }
    }
}

/// The ring buffer's size in bytes for --ring-size KIB (a power of two,
/// checked by the command line), at least one page: the kernel wants a
/// power-of-two multiple of the page size.
pub(crate) fn ring_bytes(kib: Option<u32>, page: usize) -> u32 {
    let bytes = kib.unwrap_or(DEFAULT_RING_KIB).saturating_mul(1024);
    bytes.max(page as u32)
}

/// The transport, from the switch and what the probe found; with the -v
/// line that says which and why.
pub(crate) fn choose_transport(
    forced_perf: bool,
    probe: impl FnOnce() -> Result<(), String>,
    ring_kib: Option<u32>,
    page: usize,
    possible_cpus: usize,
) -> (Transport, String) {
    let perf = |why: String| {
        let kib = DEFAULT_RING_PAGES * page / 1024;
        let ignored = if ring_kib.is_some() { "; --ring-size sizes the BPF ring buffer only" } else { "" };
        let line =
            format!("events: perf event arrays ({kib} KiB a CPU, {possible_cpus} CPUs; {why}){ignored}");
        (Transport::PerfArrays, line)
    };
    if forced_perf {
        return perf("TCPCONNECT_TRANSPORT=perf".into());
    }
    match probe() {
        Ok(()) => {
            let bytes = ring_bytes(ring_kib, page);
            (Transport::RingBuffer { bytes }, format!("events: BPF ring buffer ({} KiB)", bytes / 1024))
        }
        Err(reason) => perf(format!("no BPF ring buffer: {reason}")),
    }
}

/// Whether this kernel creates a BPF_MAP_TYPE_RINGBUF: one page, closed at once.
pub(crate) fn probe_ringbuf(page: usize) -> Result<(), String> {
    let params = MapParams {
        map_type: crate::uapi::BPF_MAP_TYPE_RINGBUF.id,
        key_size: 0,
        value_size: 0,
        max_entries: page as u32,
        map_flags: 0,
    };
    Map::create(&params, "probe_ringbuf").map(drop).map_err(|e| match e.errno() {
        libc::EINVAL => "the kernel has no BPF_MAP_TYPE_RINGBUF (upstream Linux added it in 5.8)".to_owned(),
        _ => e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_buffer_where_the_probe_creates_one() {
        let (transport, line) = choose_transport(false, || Ok(()), None, 4096, 2);
        assert_eq!(transport, Transport::RingBuffer { bytes: 256 << 10 });
        assert_eq!(line, "events: BPF ring buffer (256 KiB)");
        assert_eq!(transport.wakeup(), Some(RingWakeup { bytes: 81920 }));
        assert_eq!(transport.ring_bytes(), Some(256 << 10));
    }

    #[test]
    fn perf_event_arrays_where_it_cannot_or_when_forced() {
        let refused =
            || Err("the kernel has no BPF_MAP_TYPE_RINGBUF (upstream Linux added it in 5.8)".to_owned());
        let (transport, line) = choose_transport(false, refused, None, 4096, 4);
        assert_eq!(transport, Transport::PerfArrays);
        assert_eq!(
            line,
            "events: perf event arrays (256 KiB a CPU, 4 CPUs; no BPF ring buffer: the kernel has no BPF_MAP_TYPE_RINGBUF (upstream Linux added it in 5.8))"
        );
        assert_eq!((transport.wakeup(), transport.ring_bytes()), (None, None));
        let (transport, line) = choose_transport(true, || panic!("not probed"), Some(64), 4096, 2);
        assert_eq!(transport, Transport::PerfArrays);
        assert_eq!(
            line,
            "events: perf event arrays (256 KiB a CPU, 2 CPUs; TCPCONNECT_TRANSPORT=perf); --ring-size sizes the BPF ring buffer only"
        );
    }

    #[test]
    fn ring_size_is_the_option_at_least_a_page_and_wakes_at_half_when_small() {
        assert_eq!(ring_bytes(Some(64), 4096), 65536);
        assert_eq!(ring_bytes(Some(4), 65536), 65536);
        let (transport, line) = choose_transport(false, || Ok(()), Some(64), 4096, 2);
        assert_eq!(line, "events: BPF ring buffer (64 KiB)");
        assert_eq!(transport.wakeup(), Some(RingWakeup { bytes: 32768 }));
    }
}
