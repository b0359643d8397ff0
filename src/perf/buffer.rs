//! The rings behind a BPF_MAP_TYPE_PERF_EVENT_ARRAY: one PERF_COUNT_SW_BPF_OUTPUT
//! event per online CPU, mmapped, stored in the map at its CPU's index and
//! watched by epoll. CPUs that come online later get theirs when the
//! reader next looks (`follow_online`); a CPU's event does not survive the
//! CPU going offline, so one that went and came back gets a new one, also
//! when it came back before the reader saw it gone: the kernel takes a
//! CPU's events off it when it goes offline (state OFF) and never puts them
//! back, so their enabled time stops, which the reader watches.

use super::ring::{read_records, Record};
use crate::sys::bpf::Map;
use crate::sys::epoll::Epoll;
use crate::sys::perf_event::{perf_event_open, PerfEventSpec, PerfRingMap};
use crate::sys::SysResult;
use crate::uapi::{BPF_ANY, PERF_COUNT_SW_BPF_OUTPUT, PERF_TYPE_SOFTWARE};
use std::fs::File;
use std::io::Read;
use std::os::fd::AsFd;

/// Data pages per CPU ring (a power of two): 256 KiB with 4 KiB pages, bcc's
/// default, room for ~3600 events between two reads.
pub const DEFAULT_RING_PAGES: usize = 64;

/// Samples a ring takes before the kernel wakes its reader. A wakeup costs
/// the producing CPU an irq_work and a cross-CPU wake-up, and the reader an
/// epoll round and a write: per event, that was most of the tracing
/// overhead on a connect. The kernel also wakes the reader when a ring is
/// half full (its default watermark), so a burst can never fill a ring
/// behind a sleeping reader; samples that are fewer than this are picked up
/// by the reader's timer (`app::FLUSH_INTERVAL_MS`).
pub const WAKEUP_EVENTS: u32 = 512;

struct CpuRing {
    cpu: u32,
    map: PerfRingMap,
    /// The perf event, as a file to read its enabled time from.
    event: File,
    /// Its enabled time when last read.
    enabled_ns: Option<u64>,
}

impl CpuRing {
    /// Whether the event's enabled time stood still since the last call:
    /// it was taken off its CPU, which went offline (and may be back), and
    /// nothing the program sends there arrives (the program counts it
    /// lost). Calls must be apart in time (the reader's are 100 ms apart);
    /// an event that cannot be read is taken as alive.
    fn stopped(&mut self) -> bool {
        let mut values = [0u8; 16];
        if (&self.event).read_exact(&mut values).is_err() {
            return false;
        }
        let enabled = u64::from_ne_bytes(values[8..].try_into().expect("8 bytes"));
        self.enabled_ns.replace(enabled) == Some(enabled)
    }
}

/// errno of perf_event_open on a CPU that is offline.
const ENODEV: i32 = 19;

/// What draining the rings found besides samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingStats {
    /// Samples the kernel reported lost (PERF_RECORD_LOST).
    pub lost: u64,
    /// Corrupt ring contents skipped (should never happen).
    pub corrupt: u64,
}

pub struct PerfBuffers {
    rings: Vec<CpuRing>,
    scratch: Vec<u8>,
    pages: usize,
    /// When a ring's event wakes its epoll: after this many samples, or
    /// (`wakeup_watermark`) once this many bytes wait.
    wakeup_events: u32,
    wakeup_watermark: bool,
    /// The CPUs online when the rings were last brought up to date.
    online: Vec<u32>,
}

impl PerfBuffers {
    /// Opens a ring on each of `cpus`, stores it in `events_map` and registers
    /// it with `epoll` under token = its index among the rings.
    pub fn open(events_map: &Map, cpus: &[u32], pages: usize, epoll: &Epoll) -> SysResult<PerfBuffers> {
        PerfBuffers::open_waking(events_map, cpus, pages, (WAKEUP_EVENTS, false), epoll)
    }

    /// `open`, each ring waking `epoll` once `bytes` wait in it, whatever
    /// the samples' sizes.
    pub fn open_waking_at_bytes(
        events_map: &Map,
        cpus: &[u32],
        pages: usize,
        bytes: u32,
        epoll: &Epoll,
    ) -> SysResult<PerfBuffers> {
        PerfBuffers::open_waking(events_map, cpus, pages, (bytes, true), epoll)
    }

    fn open_waking(
        events_map: &Map,
        cpus: &[u32],
        pages: usize,
        (wakeup_events, wakeup_watermark): (u32, bool),
        epoll: &Epoll,
    ) -> SysResult<PerfBuffers> {
        let mut buffers = PerfBuffers {
            rings: Vec::with_capacity(cpus.len()),
            scratch: Vec::new(),
            pages,
            wakeup_events,
            wakeup_watermark,
            online: Vec::new(),
        };
        for &cpu in cpus {
            buffers.open_ring(events_map, cpu, epoll)?;
        }
        buffers.online = cpus.to_vec();
        Ok(buffers)
    }

    /// No rings (the BPF ring buffer carries the events).
    pub fn empty() -> PerfBuffers {
        PerfBuffers {
            rings: Vec::new(),
            scratch: Vec::new(),
            pages: 0,
            wakeup_events: WAKEUP_EVENTS,
            wakeup_watermark: false,
            online: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rings.is_empty()
    }

    fn open_ring(&mut self, events_map: &Map, cpu: u32, epoll: &Epoll) -> SysResult<()> {
        let event = perf_event_open(&PerfEventSpec {
            type_: PERF_TYPE_SOFTWARE,
            config: PERF_COUNT_SW_BPF_OUTPUT,
            probe_func: None,
            config2: 0,
            cpu: cpu as i32,
            wakeup_events: self.wakeup_events,
            wakeup_watermark: self.wakeup_watermark,
        })?;
        let map = PerfRingMap::new(event.as_fd(), self.pages)?;
        let fd = std::os::fd::AsRawFd::as_raw_fd(&event) as u32;
        events_map.update(&cpu.to_ne_bytes(), &fd.to_ne_bytes(), BPF_ANY)?;
        epoll.add(event.as_fd(), self.rings.len() as u64)?;
        self.rings.push(CpuRing { cpu, map, event: File::from(event), enabled_ns: None });
        Ok(())
    }

    /// Brings the rings up to `online`, the CPUs online now: a ring for each
    /// that came online since the last call, a new one for each that went
    /// offline and came back, seen offline by the last call or not (its old
    /// event stopped: `CpuRing::stopped`); the old one is drained into
    /// `on_sample` first, then replaced. A CPU that is offline again by the
    /// time its ring is opened gets it on a later call. Returns the CPUs
    /// given a new ring.
    pub fn follow_online(
        &mut self,
        events_map: &Map,
        online: &[u32],
        epoll: &Epoll,
        on_sample: impl FnMut(&[u8]),
    ) -> SysResult<(Vec<u32>, RingStats)> {
        let was_online = &self.online;
        let stopped: Vec<u32> = self
            .rings
            .iter_mut()
            .filter(|r| was_online.contains(&r.cpu) && online.contains(&r.cpu))
            .filter_map(|r| r.stopped().then_some(r.cpu))
            .collect();
        if online == self.online && stopped.is_empty() {
            return Ok((Vec::new(), RingStats::default()));
        }
        // What the old rings of returning CPUs still hold is read now.
        let stats = self.drain(on_sample);
        let mut opened = Vec::new();
        let mut now_online = Vec::with_capacity(online.len());
        for &cpu in online {
            let has_ring = self.rings.iter().any(|r| r.cpu == cpu);
            let came_back = has_ring && (!self.online.contains(&cpu) || stopped.contains(&cpu));
            if came_back {
                self.rings.retain(|r| r.cpu != cpu);
            }
            if !has_ring || came_back {
                // The map slot is overwritten: the kernel writes to the new ring.
                match self.open_ring(events_map, cpu, epoll) {
                    Ok(()) => opened.push(cpu),
                    Err(e) if e.errno() == ENODEV => continue,
                    Err(e) => return Err(e),
                }
            }
            now_online.push(cpu);
        }
        self.online = now_online;
        Ok((opened, stats))
    }

    /// Reads every ring once, passing each sample payload to `on_sample`.
    pub fn drain(&mut self, mut on_sample: impl FnMut(&[u8])) -> RingStats {
        let mut stats = RingStats::default();
        for ring in &self.rings {
            let head = ring.map.data_head();
            let tail = ring.map.data_tail();
            if head == tail {
                continue;
            }
            // Records below head, read after it (Acquire), copied out.
            let result =
                read_records(&ring.map.data(), tail, head, &mut self.scratch, |record| match record {
                    Record::Sample(payload) => on_sample(payload),
                    Record::Lost(n) => stats.lost += n,
                    Record::Unknown(_) => {}
                });
            // On corruption skip to head: losing a batch beats looping on it.
            let new_tail = result.unwrap_or_else(|_| {
                stats.corrupt += 1;
                head
            });
            ring.map.set_data_tail(new_tail);
        }
        stats
    }
}
