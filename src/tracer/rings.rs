//! The rings of a run, whichever the transport: the BPF ring buffer, or the
//! per-CPU perf rings. On the ring buffer the perf rings are opened only if
//! a calibration program (which sends its dumps through the perf event
//! array, as on every kernel) needs them, small.

use crate::perf::{PerfBuffers, RingStats};
use crate::ringbuf::RingBuffer;
use crate::sys::bpf::Map;
use crate::sys::epoll::Epoll;
use crate::sys::SysResult;

/// Data pages of each CPU's perf ring when only calibration uses it: its
/// dumps are at most four 264-byte samples per connect.
const CALIBRATION_RING_PAGES: usize = 2;

/// The epoll token of the ring buffer (the perf rings use 0..n).
const RING_TOKEN: u64 = 1 << 32;

pub struct Rings {
    perf: PerfBuffers,
    ring: Option<RingBuffer>,
    /// -d in the kernel: the DNS messages' perf rings.
    dns: Option<PerfBuffers>,
}

impl Rings {
    /// One perf ring of `pages` on each of `cpus`, in `events`.
    pub fn perf(events: &Map, cpus: &[u32], pages: usize, epoll: &Epoll) -> SysResult<Rings> {
        Ok(Rings { perf: PerfBuffers::open(events, cpus, pages, epoll)?, ring: None, dns: None })
    }

    /// The BPF ring buffer `ring` of `bytes`.
    pub fn ring_buffer(ring: &Map, bytes: u32, epoll: &Epoll) -> SysResult<Rings> {
        let ring = RingBuffer::open(ring, bytes as usize, epoll, RING_TOKEN)?;
        Ok(Rings { perf: PerfBuffers::empty(), ring: Some(ring), dns: None })
    }

    /// Whether events go through the ring buffer.
    pub fn is_ring_buffer(&self) -> bool {
        self.ring.is_some()
    }

    /// The perf rings a calibration dump arrives in: on the ring buffer,
    /// opened now (small) on `cpus` if not yet.
    pub fn open_for_calibration(&mut self, events: &Map, cpus: &[u32], epoll: &Epoll) -> SysResult<()> {
        if self.ring.is_some() && self.perf.is_empty() {
            self.perf = PerfBuffers::open(events, cpus, CALIBRATION_RING_PAGES, epoll)?;
        }
        Ok(())
    }

    /// -d in the kernel: the rings the DNS program writes to.
    pub(super) fn set_dns(&mut self, dns: PerfBuffers) {
        self.dns = Some(dns);
    }

    /// Reads every DNS ring once, each message to `on_message`.
    pub fn drain_dns(&mut self, on_message: impl FnMut(&[u8])) -> RingStats {
        self.dns.as_mut().map_or_else(RingStats::default, |dns| dns.drain(on_message))
    }

    /// The DNS rings, brought up to the CPUs `online` now, as the event
    /// rings are; what the old rings held goes to `on_message`.
    pub fn follow_online_dns(
        &mut self,
        dns_events: &Map,
        online: &[u32],
        epoll: &Epoll,
        on_message: impl FnMut(&[u8]),
    ) -> SysResult<RingStats> {
        let Some(dns) = self.dns.as_mut() else {
            return Ok(RingStats::default());
        };
        let (_, stats) = dns.follow_online(dns_events, online, epoll, on_message)?;
        Ok(stats)
    }

    /// Reads every ring once, each sample to `on_sample`.
    pub fn drain(&mut self, mut on_sample: impl FnMut(&[u8])) -> RingStats {
        let mut stats = self.perf.drain(&mut on_sample);
        if let Some(ring) = self.ring.as_mut() {
            stats.corrupt += ring.drain(&mut on_sample);
        }
        stats
    }

    /// The perf rings, brought up to the CPUs `online` now (see
    /// [`PerfBuffers::follow_online`]). The ring buffer serves every CPU:
    /// nothing to follow there.
    pub fn follow_online(
        &mut self,
        events: &Map,
        online: &[u32],
        epoll: &Epoll,
        on_sample: impl FnMut(&[u8]),
    ) -> SysResult<(Vec<u32>, RingStats)> {
        if self.ring.is_some() {
            return Ok((Vec::new(), RingStats::default()));
        }
        self.perf.follow_online(events, online, epoll, on_sample)
    }
}
