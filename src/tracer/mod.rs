//! Assembling the kernel side of a run, behind one front door, `Tracer`.
//! Once a run, the host is `prepared` (object, CPUs, tracefs, BTF, the
//! transport, -d's source) and the way in is chosen from what the kernel
//! offers (`choice`, through the `probe` of this kernel); then an `attempt`
//! opens a `session` (this run's typed load-time `constants`, `maps` at
//! this run's sizes, `rings`) and attaches either the state program linked
//! with this kernel's tracepoint layout (`tracepoint_path`) or the kprobe
//! programs (`kprobe_path`), with -d's programs (`dns_programs`) and, where BTF
//! is missing, `calibrate`. `--attach auto` falls back from the first path
//! to the second when the tracepoint path cannot be prepared, loaded or
//! attached. Dropping a Tracer releases everything in a safe order
//! (`attachment`). The children share what they need through their own
//! files (`session`, `attachment`, `log`), never through this one.

mod attachment;
mod attempt;
mod calibrate;
mod choice;
mod constants;
mod dns_programs;
mod kprobe_common;
mod kprobe_path;
mod log;
mod maps;
mod prepared;
mod probe;
mod rings;
mod session;
mod tracepoint_path;
mod transport;

pub use attachment::{Attachment, Objects, Real};
pub use attempt::PacketDns;
pub use log::Log;
pub use maps::Tallies;
pub use tracepoint_path::tracepoint_field_layouts;

use attachment::Attached;
use attempt::{attempt, Failed, Logs, Path};
use choice::{choose, choose_kprobes, Choice};
use log::quiet;
use prepared::Prepared;
use probe::HostProbe;

use crate::abi;
use crate::error::Error;
use crate::event::{ConnectEvent, CountRow};
use crate::host::cgroup_hierarchy::Hierarchy;
use crate::host::cpus::{read_cpu_list, ONLINE};
use crate::perf::RingStats;
use crate::plan::Plan;
use crate::sys::epoll::Epoll;

/// A running trace: its kernel objects, then the tracefs they were made
/// through, which outlives them (legacy probes are removed through it).
pub struct Tracer<K: Objects = Real> {
    attached: Attached<K>,
    tracefs: K::Tracefs,
    /// --ppid, --container: what user space adds to each event.
    identity: IdentityReading,
}

/// What user space does for --ppid and --container once the programs run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdentityReading {
    /// --container: the hierarchy whose cgroups events name.
    pub hierarchy: Option<Hierarchy>,
    /// --ppid without BTF: the parent is read from /proc at print time.
    pub parent_from_proc: bool,
    /// --container without BTF: the cgroup is read from /proc at print time.
    pub cgroup_from_proc: bool,
}

impl Tracer {
    /// Loads, attaches and starts tracing; rings are registered with `epoll`
    /// under tokens 0..n. Says which way it attached through `log`. The
    /// stages: preflight, choose, then an attempt (session, programs) on
    /// the chosen path, and with --attach auto a second one on kprobes if
    /// the tracepoint path's own programs fail.
    pub fn start(
        plan: &Plan,
        epoll: &Epoll,
        log: Log<'_>,
        packet_dns: PacketDns<'_>,
    ) -> Result<Tracer, Error> {
        let host = Prepared::new(plan, log)?;
        let probe = HostProbe::new(&host.tracefs, &host.btf);
        let first = Logs { log, dns_log: log };
        let attached = match choose(plan, &probe, log)? {
            Choice::Kprobe(kprobes) => {
                attempt(&host, plan, &Path::Kprobe(kprobes), epoll, &first, packet_dns)
                    .map_err(Failed::into_error)?
            }
            Choice::Tracepoint { plan: tracepoint, kprobes_if_it_fails } => {
                match attempt(&host, plan, &Path::Tracepoint(tracepoint), epoll, &first, packet_dns) {
                    Ok(attached) => attached,
                    // Another path needs the same privileges.
                    Err(Failed::Path(error)) if kprobes_if_it_fails && !error.needs_privilege() => {
                        let first_line = error.first_line();
                        log(format_args!("tracepoint path failed ({first_line}); trying kprobes"));
                        // -d's line was said by the first attempt.
                        let second = Logs { log, dns_log: &quiet };
                        choose_kprobes(plan, &probe, log)
                            .and_then(|kprobes| {
                                attempt(&host, plan, &Path::Kprobe(kprobes), epoll, &second, packet_dns)
                                    .map_err(Failed::into_error)
                            })
                            .map_err(|kprobe| Error::NoAttachMethod {
                                tracepoint: Box::new(error),
                                kprobe: Box::new(kprobe),
                            })?
                    }
                    Err(failed) => return Err(failed.into_error()),
                }
            }
        };
        let identity = IdentityReading {
            parent_from_proc: host.parent.is_some_and(|read| read.kernel().is_none()),
            cgroup_from_proc: host.cgroup.as_ref().is_some_and(|(_, read)| read.kernel().is_none()),
            hierarchy: host.cgroup.map(|(hierarchy, _)| hierarchy),
        };
        Ok(Tracer { attached, tracefs: host.tracefs, identity })
    }

    /// --ppid, --container: what user space adds to each event.
    pub fn identity_reading(&self) -> &IdentityReading {
        &self.identity
    }

    /// Reads every ring once; see [`Rings::drain`].
    pub fn drain(&mut self, on_sample: impl FnMut(&[u8])) -> RingStats {
        self.attached.rings.drain(on_sample)
    }

    /// Gives a ring to each CPU that came online (or came back, even if it
    /// was gone and back between two calls: its old event stopped) since the
    /// last call, registered with `epoll`, and says so through `log`; what
    /// the old rings of returning CPUs held goes to `on_sample`. Until a
    /// CPU has its ring, what the program sends there is counted lost. On
    /// the BPF ring buffer, which every CPU shares, there is nothing to do.
    pub fn follow_cpu_hotplug(
        &mut self,
        epoll: &Epoll,
        log: Log<'_>,
        on_sample: impl FnMut(&[u8]),
    ) -> Result<RingStats, Error> {
        let Attached { rings, maps, events, dns_events, .. } = &mut self.attached;
        if rings.is_ring_buffer() && dns_events.is_none() {
            return Ok(RingStats::default());
        }
        let online = read_cpu_list(ONLINE)?;
        if let Some(dns_events) = *dns_events {
            // What the old DNS ring of a CPU that went and came back still
            // held is dropped (rare; its answers are then missing).
            rings
                .follow_online_dns(&maps[dns_events], &online, epoll, |_| {})
                .map_err(Error::kernel("open the DNS perf ring of a CPU that came online"))?;
        }
        if rings.is_ring_buffer() {
            return Ok(RingStats::default());
        }
        let (opened, stats) = rings
            .follow_online(&maps[*events], &online, epoll, on_sample)
            .map_err(Error::kernel("open the perf ring of a CPU that came online"))?;
        for cpu in opened {
            log(format_args!("CPU {cpu} came online: its perf ring is open"));
        }
        Ok(stats)
    }

    /// -d in the kernel: every DNS message read since the last call, each to
    /// `on_message` (a `struct dns_event`).
    pub fn drain_dns(&mut self, on_message: impl FnMut(&[u8])) -> RingStats {
        self.attached.rings.drain_dns(on_message)
    }

    /// Whether events come through the BPF ring buffer, which reports no
    /// losses in band: only the programs' count knows them.
    pub fn is_ring_buffer(&self) -> bool {
        self.attached.rings.is_ring_buffer()
    }

    /// The connects whose handshake had not ended when this was called
    /// (--result; -L's connects made outside connect(2), and those whose
    /// connect(2) had not returned), as the kernel holds them, oldest
    /// first: no outcome yet. Empty when no map holds them.
    pub fn waiting_connects(&self) -> Result<Vec<ConnectEvent>, Error> {
        let Attached { maps, inflight, pending, .. } = &self.attached;
        let mut events = match inflight {
            Some(index) => maps::read_waiting(&maps[*index])?,
            None => Vec::new(),
        };
        if let Some(index) = pending {
            events.extend(maps::read_held(&maps[*index])?);
            events.sort_by_key(|e| e.ts_ns);
        }
        Ok(events)
    }

    /// Stops tracing: every program is detached (legacy probe entries
    /// removed), so no event is made after this; the rings and maps stay,
    /// for what they still hold to be read. Returns the kprobe hits the
    /// kernel dropped until then (`kprobe_misses`).
    pub fn detach(&mut self) -> u64 {
        let missed = self.kprobe_misses();
        self.attached.attachments.clear();
        missed
    }

    /// The -c counts, read from the kernel map (empty without -c).
    pub fn counts(&self) -> Result<Vec<CountRow>, Error> {
        match self.attached.counts {
            Some(index) => maps::read_counts(&self.attached.maps[index]),
            None => Ok(Vec::new()),
        }
    }

    /// What the programs could not pass on so far (events a full ring
    /// refused; -d's messages likewise; -c's connects of flows a full map
    /// refused), the exact totals (PERF_RECORD_LOST can lag behind them).
    /// Only the kinds this run can lose are read.
    pub fn losses(&self) -> Result<Tallies, Error> {
        let Attached { maps, tallies, tallies_mapped, possible_cpus, dns_events, counts, .. } =
            &self.attached;
        let mut kinds = vec![abi::LOST_EVENT];
        kinds.extend(dns_events.map(|_| abi::LOST_DNS));
        kinds.extend(counts.map(|_| abi::LOST_FLOW));
        maps::read_tallies(&maps[*tallies], tallies_mapped.as_ref(), *possible_cpus, &kinds)
    }

    /// Whether the losses must be read on a timer: the ring buffer reports
    /// none in band, nor do -d's programs and -c's table (the perf rings'
    /// LOST records say when to read the rest).
    pub fn losses_need_polling(&self) -> bool {
        self.is_ring_buffer() || self.attached.dns_events.is_some() || self.attached.counts.is_some()
    }

    /// Everything the programs tallied: the losses and, with -v, what they
    /// saw, filtered out and sent (-v's account at exit).
    pub fn tallies(&self) -> Result<Tallies, Error> {
        let Attached { maps, tallies, tallies_mapped, possible_cpus, .. } = &self.attached;
        let all = [
            abi::LOST_EVENT,
            abi::LOST_DNS,
            abi::LOST_FLOW,
            abi::TALLY_SEEN,
            abi::TALLY_FILTERED,
            abi::TALLY_SENT,
        ];
        maps::read_tallies(&maps[*tallies], tallies_mapped.as_ref(), *possible_cpus, &all)
    }

    /// Probe hits the kernel skipped, where it tells: legacy kprobes report
    /// nmissed in tracefs kprobe_profile.
    pub fn kprobe_misses(&self) -> u64 {
        self.attached
            .attachments
            .iter()
            .filter_map(|a| match a {
                Attachment::Kprobe(link) => link.legacy_probe(),
                Attachment::Perf(_) | Attachment::Raw(_) | Attachment::Cgroup(_) => None,
            })
            .filter_map(|probe| self.tracefs.kprobe_nmissed(probe))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// A stand-in kernel object: says when it goes.
    struct Recorded(&'static str, Rc<RefCell<Vec<&'static str>>>);

    impl Drop for Recorded {
        fn drop(&mut self) {
            self.1.borrow_mut().push(self.0);
        }
    }

    struct Fake;

    impl Objects for Fake {
        type Link = Recorded;
        type Prog = Recorded;
        type Rings = Recorded;
        type Map = Recorded;
        type Tracefs = Recorded;
    }

    #[test]
    fn teardown_detaches_then_closes_programs_then_rings_then_maps_then_tracefs() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let it = |name| Recorded(name, log.clone());
        let tracer: Tracer<Fake> = Tracer {
            attached: Attached {
                attachments: vec![it("detach kretprobe tcp_v4_connect"), it("detach kprobe tcp_v4_connect")],
                _progs: vec![it("close entry program"), it("close return program")],
                rings: it("unmap the rings"),
                events: 0,
                counts: None,
                inflight: None,
                pending: None,
                dns_events: None,
                tallies: 0,
                possible_cpus: 1,
                tallies_mapped: None,
                maps: vec![it("close events map"), it("close ports map")],
            },
            tracefs: it("release tracefs"),
            identity: IdentityReading::default(),
        };
        assert!(log.borrow().is_empty());
        drop(tracer);
        assert_eq!(
            *log.borrow(),
            [
                "detach kretprobe tcp_v4_connect",
                "detach kprobe tcp_v4_connect",
                "close entry program",
                "close return program",
                "unmap the rings",
                "close events map",
                "close ports map",
                "release tracefs",
            ]
        );
    }
}
