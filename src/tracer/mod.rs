//! Assembling the kernel side of a run: the way in chosen from what the
//! kernel offers (`choice`, through the `probe` of this kernel), maps from
//! the embedded object at this run's sizes, per-CPU rings, then either the
//! state program linked with this kernel's tracepoint layout
//! (`tracepoint`), or the kprobe programs (`kprobes`), with this run's
//! typed load-time `constants`. `--attach auto` falls back from the first
//! to the second when the tracepoint path cannot be prepared, loaded or
//! attached. Dropping a Tracer releases everything in a safe order.

mod calibrate;
mod choice;
mod constants;
mod dns_programs;
mod kprobe_common;
mod kprobes;
mod maps;
mod probe;
mod rings;
mod tracepoint;
mod transport;

pub use crate::plan::{AttachMode, BtfSource, Filters, Overrides, Plan};
pub use tracepoint::tracepoint_field_layouts;

use choice::{choose, choose_kprobes, Choice, KprobePlan, TracepointPlan};
use constants::Constants;
use maps::{create_maps, entries_by_cpu_id, map_index, MapSizing};
use probe::HostProbe;
use rings::Rings;
use tracepoint::start_tracepoint;
use transport::{choose_transport, probe_ringbuf, Transport};

use crate::abi;
use crate::attach::kprobe::KprobeLink;
use crate::attach::raw_tracepoint::RawTracepointLink;
use crate::attach::PerfLink;
use crate::error::Error;
use crate::event::{ConnectEvent, CountRow};
use crate::host::cpus::{read_cpu_list, ONLINE, POSSIBLE};
use crate::host::kernel::{KernelVersion, MEMCG_ACCOUNTING};
use crate::layout::btf_source::LazyBtf;
use crate::layout::namespaces::{self, MntnsOffsets};
use crate::layout::sk_err;
use crate::loader::{link_program, parse_object, FieldLayout, LinkInputs, ObjectSpec, EMBEDDED_OBJECT};
use crate::perf::buffer::DEFAULT_RING_PAGES;
use crate::perf::RingStats;
use crate::pinned_map;
use crate::sys::bpf::{bpf_prog_load, BtfAttach, Map, ProgLoad};
use crate::sys::epoll::Epoll;
use crate::sys::perf_event::page_size;
use crate::sys::process::raise_memlock_limit;
use crate::tracefs::Tracefs;
use crate::uapi::{BPF_ANY, BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP};
use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

/// Where -v messages go.
pub type Log<'a> = &'a dyn Fn(std::fmt::Arguments<'_>);

/// -d where the kernel cannot read the answers: opens the caller's packet
/// capture, before any connect program attaches (called again, for a
/// second attempt, it must do nothing more).
pub type PacketDns<'a> = &'a mut dyn FnMut() -> Result<(), Error>;

/// A program attached one way or the other.
pub enum Attachment {
    /// Held for its Drop, which detaches.
    #[allow(dead_code)]
    Perf(PerfLink),
    Kprobe(KprobeLink),
    #[allow(dead_code)]
    Raw(RawTracepointLink),
}

/// A running trace: its kernel objects, then the tracefs they were made
/// through, which outlives them (legacy probes are removed through it).
pub struct Tracer<K: Objects = Real> {
    attached: Attached<K>,
    tracefs: K::Tracefs,
}

/// The kinds of kernel object a trace holds. Real runs hold the real ones;
/// the teardown test holds stand-ins that record when they are dropped.
pub trait Objects {
    type Link;
    type Prog;
    type Rings;
    type Map;
    type Tracefs;
}

/// The objects of a real run.
pub struct Real;

impl Objects for Real {
    type Link = Attachment;
    type Prog = OwnedFd;
    type Rings = Rings;
    type Map = Map;
    type Tracefs = Tracefs;
}

/// The kernel objects of a trace. Fields drop in declaration order, which
/// is the teardown order: the programs are detached first (and legacy
/// probe entries removed), then the programs closed, then the rings and
/// the maps go.
struct Attached<K: Objects> {
    attachments: Vec<K::Link>,
    _progs: Vec<K::Prog>,
    rings: K::Rings,
    /// Index of the perf event array in `maps`.
    events: usize,
    /// Index of the -c counts map in `maps`.
    counts: Option<usize>,
    /// Index of the map of connects waiting for their handshake to end
    /// (--result, or -L on the tracepoint path).
    inflight: Option<usize>,
    /// -d in the kernel: index of the DNS perf event array in `maps`.
    dns_events: Option<usize>,
    /// Index of the per-CPU lost-event counts in `maps`, and how many CPUs
    /// it has entries for.
    lost_events: usize,
    possible_cpus: u32,
    maps: Vec<K::Map>,
}

/// What every attempt to attach shares, found once per run: the object,
/// the CPUs, tracefs and the kernel's BTF.
struct Host {
    object: ObjectSpec,
    possible: Vec<u32>,
    online: Vec<u32>,
    tracefs: Tracefs,
    btf: LazyBtf,
    /// How events reach us (chosen once, before the first attempt).
    transport: Transport,
    /// -d: whether -v has said where its answers come from.
    dns_said: std::cell::Cell<bool>,
}

/// Why an attempt on one path failed.
enum Failed {
    /// Before anything of the path's own (pinned maps, maps, rings): any
    /// other path would fail the same way.
    Common(Error),
    /// The path's programs could not be prepared, loaded or attached.
    Path(Error),
}

impl Failed {
    fn into_error(self) -> Error {
        match self {
            Failed::Common(error) | Failed::Path(error) => error,
        }
    }
}

/// The way in a run attempts.
enum Path {
    Tracepoint(TracepointPlan),
    Kprobe(KprobePlan),
}

/// What one attempt has set up before it attaches: this run's constants,
/// maps and rings over the host's object and tracefs. Both attach paths
/// (and calibration) work on it.
pub(crate) struct Session<'h> {
    object: &'h ObjectSpec,
    /// This run's load-time constants (filters, modes, offsets).
    constants: Constants,
    maps: Vec<Map>,
    rings: Rings,
    tracefs: &'h Tracefs,
    online: &'h [u32],
    epoll: &'h Epoll,
    /// --result where BTF could not give sk_err: why, for the path to
    /// calibrate it before it loads its programs.
    sk_err_unknown: Option<String>,
    /// -d: why its answers cannot be read in the kernel (then the packet
    /// socket captures them); None where they can, or without -d.
    dns_unavailable: Option<String>,
}

impl Session<'_> {
    /// --result: sk_err from BTF, or else by calibration through `probe`
    /// (the path's own hook); the -v line says which.
    fn ensure_sk_err(&mut self, probe: &calibrate::SkErrProbe<'_>, log: Log<'_>) -> Result<(), Error> {
        if !self.constants.result_mode {
            return Ok(());
        }
        let Some(btf) = self.sk_err_unknown.take() else {
            log(format_args!("struct sock: sk_err at {} (from BTF)", self.constants.socket.sk_err));
            return Ok(());
        };
        log(format_args!("cannot use BTF for sk_err ({btf}); calibrating"));
        let offset = calibrate::calibrate_sk_err(self, probe)
            .map_err(|calibration| Error::SkErrOffset { btf, calibration })?;
        log(format_args!("struct sock: sk_err at {offset} (by calibration)"));
        self.constants.socket.sk_err = offset;
        Ok(())
    }

    /// Links program `section` with these constants and context fields and
    /// loads it.
    fn load(
        &self,
        section: &str,
        prog_type: u32,
        constants: &Constants,
        fields: &HashMap<u8, Option<FieldLayout>>,
        kern_version: u32,
    ) -> Result<OwnedFd, Error> {
        self.load_with(section, prog_type, constants, fields, kern_version, None)
    }

    /// Links program `section` with these constants and loads it as a BTF
    /// tracepoint program for the kernel type `btf_id`.
    fn load_btf_tracepoint(
        &self,
        section: &str,
        constants: &Constants,
        btf_id: u32,
    ) -> Result<OwnedFd, Error> {
        let attach = BtfAttach { attach_type: BPF_TRACE_RAW_TP, btf_id };
        self.load_with(section, BPF_PROG_TYPE_TRACING, constants, &HashMap::new(), 0, Some(attach))
    }

    /// `load`, with what a BTF-typed program attaches to.
    fn load_with(
        &self,
        section: &str,
        prog_type: u32,
        constants: &Constants,
        fields: &HashMap<u8, Option<FieldLayout>>,
        kern_version: u32,
        btf_attach: Option<BtfAttach>,
    ) -> Result<OwnedFd, Error> {
        let program = self.object.program(section).ok_or_else(|| {
            Error::Object(crate::loader::elf::ElfError::BadProgram {
                section: section.into(),
                reason: "missing from the embedded object".into(),
            })
        })?;
        let raw_fds: Vec<i32> = self.maps.iter().map(|m| m.as_raw_fd()).collect();
        // A helper behind a filter that is off is never called: stub it, so
        // kernels that lack it load the program anyway.
        let stub_helpers = constants.stubbed_helpers();
        let symbols = constants.symbols();
        let inputs =
            LinkInputs { map_fds: &raw_fds, constants: &symbols, fields, stub_helpers: &stub_helpers };
        let insns = link_program(program, &inputs)
            .map_err(|error| Error::Link { program: section.to_owned(), error })?;
        // The kernel shows at most 15 characters of a program name.
        let name: String = program.name.chars().take(15).collect();
        bpf_prog_load(&ProgLoad {
            prog_type,
            insns: &insns,
            license: &self.object.license,
            kern_version,
            name: &name,
            btf_attach,
        })
        .map_err(|error| Error::prog_load(section, error))
    }

    /// Calibration dumps come through the perf event array: its rings, open.
    fn open_calibration_rings(&mut self) -> Result<(), String> {
        let events = map_index(self.object, abi::MAP_EVENTS).map_err(|e| e.to_string())?;
        self.rings
            .open_for_calibration(&self.maps[events], self.online, self.epoll)
            .map_err(|e| format!("cannot open the perf rings for calibration: {e}"))
    }

    /// The first online CPU: where attachment events are opened.
    fn attach_cpu(&self) -> u32 {
        self.online[0]
    }
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
        let mut host = preflight(plan)?;
        let page = page_size();
        let (transport, line) = choose_transport(
            plan.overrides.perf_transport,
            || probe_ringbuf(page),
            plan.ring_kib,
            page,
            host.possible.len(),
        );
        log(format_args!("{line}"));
        host.transport = transport;
        let probe = HostProbe::new(&host.tracefs, &host.btf);
        let attached = match choose(plan, &probe, log)? {
            Choice::Kprobe(kprobes) => attach_on(&host, plan, &Path::Kprobe(kprobes), epoll, log, packet_dns)
                .map_err(Failed::into_error)?,
            Choice::Tracepoint { plan: tracepoint, kprobes_if_it_fails } => {
                match attach_on(&host, plan, &Path::Tracepoint(tracepoint), epoll, log, packet_dns) {
                    Ok(attached) => attached,
                    // Another path needs the same privileges.
                    Err(Failed::Path(error)) if kprobes_if_it_fails && !error.needs_privilege() => {
                        let first_line = error.first_line();
                        log(format_args!("tracepoint path failed ({first_line}); trying kprobes"));
                        choose_kprobes(plan, &probe, log)
                            .and_then(|kprobes| {
                                attach_on(&host, plan, &Path::Kprobe(kprobes), epoll, log, packet_dns)
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
        Ok(Tracer { attached, tracefs: host.tracefs })
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
    /// (--result, or -L's connects made outside connect(2)), as the kernel
    /// holds them: no outcome yet. Empty when no map holds them.
    pub fn waiting_connects(&self) -> Result<Vec<ConnectEvent>, Error> {
        match self.attached.inflight {
            Some(index) => maps::read_waiting(&self.attached.maps[index]),
            None => Ok(Vec::new()),
        }
    }

    /// The -c counts, read from the kernel map (empty without -c).
    pub fn counts(&self) -> Result<Vec<CountRow>, Error> {
        match self.attached.counts {
            Some(index) => maps::read_counts(&self.attached.maps[index]),
            None => Ok(Vec::new()),
        }
    }

    /// Events dropped because a ring was full, counted by the BPF side: the
    /// exact total so far (PERF_RECORD_LOST can lag behind it).
    pub fn lost_events(&self) -> Result<u64, Error> {
        let Attached { maps, lost_events, possible_cpus, .. } = &self.attached;
        maps::read_lost_events(&maps[*lost_events], *possible_cpus)
    }

    /// Probe hits the kernel dropped (kretprobe instances exhausted), where
    /// it tells: legacy kprobes report nmissed in tracefs kprobe_profile.
    pub fn kprobe_misses(&self) -> u64 {
        self.attached
            .attachments
            .iter()
            .filter_map(|a| match a {
                Attachment::Kprobe(link) => link.legacy_probe(),
                Attachment::Perf(_) | Attachment::Raw(_) => None,
            })
            .filter_map(|probe| self.tracefs.kprobe_nmissed(probe))
            .sum()
    }
}

/// One attempt on `path`: the session (maps, rings), then the path's
/// programs, loaded and attached. On failure everything it made is released.
fn attach_on(
    host: &Host,
    plan: &Plan,
    path: &Path,
    epoll: &Epoll,
    log: Log<'_>,
    packet_dns: PacketDns<'_>,
) -> Result<Attached<Real>, Failed> {
    let mut session = open_session(host, plan, path, epoll).map_err(Failed::Common)?;
    // -d's line, once a run: a second attempt (kprobes after the tracepoint
    // path failed) chooses the same way.
    let quiet = |_: std::fmt::Arguments<'_>| {};
    let dns_log: Log<'_> = if plan.dns && !host.dns_said.replace(true) { log } else { &quiet };
    if let Some(reason) = session.dns_unavailable.take() {
        dns_log(format_args!("{}", dns_programs::packet_line(&reason)));
    }
    // Before the connect programs, whose events carry the namespace only
    // where the DNS programs run; else the packet capture opens now.
    let dns = dns_programs::start(&mut session, dns_log);
    if plan.dns && dns.is_none() {
        packet_dns().map_err(Failed::Common)?;
    }
    let lport_defer = session.constants.lport_defer;
    let (mut progs, mut attachments) = match path {
        Path::Kprobe(kprobes) => kprobes::start(&mut session, kprobes, log),
        Path::Tracepoint(tracepoint) => start_tracepoint(&mut session, tracepoint, lport_defer, log),
    }
    .map_err(Failed::Path)?;
    let dns_events = match dns {
        Some(capture) => {
            progs.extend(capture.progs);
            attachments.extend(capture.links);
            session.rings.set_dns(capture.rings);
            Some(map_index(&host.object, abi::MAP_DNS_EVENTS).map_err(Failed::Common)?)
        }
        None => None,
    };
    let events = map_index(&host.object, abi::MAP_EVENTS).map_err(Failed::Common)?;
    let counts =
        plan.count.then(|| map_index(&host.object, abi::MAP_COUNTS)).transpose().map_err(Failed::Common)?;
    let inflight = session
        .constants
        .waits_for_handshakes()
        .then(|| map_index(&host.object, abi::MAP_INFLIGHT))
        .transpose()
        .map_err(Failed::Common)?;
    let lost_events = map_index(&host.object, abi::MAP_LOST_EVENTS).map_err(Failed::Common)?;
    let possible_cpus = entries_by_cpu_id(&host.possible);
    let Session { maps, rings, .. } = session;
    Ok(Attached {
        attachments,
        _progs: progs,
        rings,
        events,
        counts,
        inflight,
        dns_events,
        lost_events,
        possible_cpus,
        maps,
    })
}

/// What every attempt needs and nothing but the host can refuse: the
/// object, the memlock limit, the CPU lists, lockdown, tracefs.
fn preflight(plan: &Plan) -> Result<Host, Error> {
    let object = parse_object(EMBEDDED_OBJECT)?;
    raise_memlock_limit_if_needed()?;
    let possible = read_cpu_list(POSSIBLE)?;
    let online = read_cpu_list(ONLINE)?;
    if crate::host::lockdown::forbids_tracing() {
        return Err(Error::Lockdown { mode: "confidentiality".into() });
    }
    let tracefs = Tracefs::open()?;
    let btf = LazyBtf::new(&plan.overrides.btf);
    Ok(Host {
        object,
        possible,
        online,
        tracefs,
        btf,
        transport: Transport::PerfArrays,
        dns_said: std::cell::Cell::new(false),
    })
}

/// This attempt's constants, maps (the user's pinned filters in place) and
/// rings, for `path`.
fn open_session<'h>(
    host: &'h Host,
    plan: &Plan,
    path: &Path,
    epoll: &'h Epoll,
) -> Result<Session<'h>, Error> {
    let kprobes = matches!(path, Path::Kprobe(_));
    let pinned = |option, path: &Option<PathBuf>| {
        path.as_deref().map(|path| pinned_map::open(option, path)).transpose().map_err(Error::PinnedMap)
    };
    let cgroup_map = pinned("--cgroupmap", &plan.filters.cgroup_map)?;
    let mntns_map = pinned("--mntnsmap", &plan.filters.mntns_map)?;

    // The local port is known at the kprobe's return; the tracepoint
    // path holds events until connect(2) returns.
    // With --result each event goes out when its socket leaves SYN_SENT,
    // with the port; -L's syscall programs then only note the port of a
    // connect still in SYN_SENT when tracing stops.
    let lport_defer = plan.lport && !plan.count && !kprobes;
    let mntns = match mntns_map {
        Some(_) => mntns_offsets(&host.btf)?,
        None => MntnsOffsets::default(),
    };
    let mut constants = Constants {
        count_mode: plan.count,
        shows_uid: plan.columns.print_uid || plan.columns.json,
        lport_defer,
        result_mode: plan.result,
        only_failed: plan.failed,
        mntns,
        ringbuf: host.transport.wakeup(),
        ..Constants::for_filters(&plan.filters)
    };
    // -d: the kernel reads the answers where BTF gives the offsets, unless
    // the switch asks for the packet socket (then BTF is not read for it).
    let mut dns_unavailable = None;
    if plan.dns && plan.overrides.packet_dns {
        dns_unavailable = Some("TCPCONNECT_DNS=packet".to_owned());
    } else if plan.dns {
        match host.btf.get().and_then(|btf| namespaces::dns_from_btf(btf).map_err(|e| e.to_string())) {
            Ok(offsets) => constants.dns = Some(offsets),
            Err(reason) => {
                dns_unavailable = Some(format!("no BTF for the network namespace of a task: {reason}"))
            }
        }
    }
    let mut sk_err_unknown = None;
    if plan.result {
        match host.btf.get().and_then(|btf| sk_err::from_btf(btf).map_err(|e| e.to_string())) {
            Ok(offset) => constants.socket.sk_err = offset,
            Err(reason) => sk_err_unknown = Some(reason),
        }
    }

    let sizing = MapSizing {
        possible: &host.possible,
        ports: plan.filters.ports.len(),
        kprobes,
        count: plan.count,
        lport_defer,
        inflight: constants.waits_for_handshakes(),
        ring_bytes: host.transport.ring_bytes(),
        dns: constants.dns.is_some(),
    };
    let maps = create_maps(&host.object, &sizing, cgroup_map, mntns_map)?;
    if !plan.filters.ports.is_empty() {
        let ports = &maps[map_index(&host.object, abi::MAP_PORTS)?];
        for port in &plan.filters.ports {
            ports
                .update(&port.to_ne_bytes(), &[1u8], BPF_ANY)
                .map_err(Error::kernel("fill the port filter map"))?;
        }
    }
    let rings = match host.transport {
        Transport::RingBuffer { bytes } => {
            let ring = &maps[map_index(&host.object, abi::MAP_RING)?];
            Rings::ring_buffer(ring, bytes, epoll).map_err(Error::kernel("map the BPF ring buffer"))?
        }
        Transport::PerfArrays => {
            let events = &maps[map_index(&host.object, abi::MAP_EVENTS)?];
            Rings::perf(events, &host.online, DEFAULT_RING_PAGES, epoll)
                .map_err(Error::kernel("open the per-CPU perf rings"))?
        }
    };
    Ok(Session {
        object: &host.object,
        constants,
        maps,
        rings,
        tracefs: &host.tracefs,
        online: &host.online,
        epoll,
        sk_err_unknown,
        dns_unavailable,
    })
}

/// --mntnsmap's offsets from BTF: struct layouts that no constant can cover.
fn mntns_offsets(btf: &LazyBtf) -> Result<MntnsOffsets, Error> {
    let needs_btf = |reason: String| Error::NeedsBtf {
        option: "--mntnsmap",
        what: "the mount namespace of a task",
        reason,
    };
    let btf = btf.get().map_err(needs_btf)?;
    namespaces::mntns_from_btf(btf).map_err(|e| needs_btf(e.to_string()))
}

/// Before 5.11 BPF memory counts against RLIMIT_MEMLOCK, whose default (64 KiB
/// on many distributions) is too small; later kernels ignore it, so leave it.
fn raise_memlock_limit_if_needed() -> Result<(), Error> {
    match KernelVersion::running() {
        Some(version) if version >= MEMCG_ACCOUNTING => Ok(()),
        _ => raise_memlock_limit().map_err(|error| Error::MemlockLimit { error }),
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
                dns_events: None,
                lost_events: 0,
                possible_cpus: 1,
                maps: vec![it("close events map"), it("close ports map")],
            },
            tracefs: it("release tracefs"),
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
