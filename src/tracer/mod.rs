//! Assembling the kernel side of a run: maps from the embedded object,
//! per-CPU rings, then either the state program linked with this kernel's
//! tracepoint layout, or the kprobe programs (`kprobes`), linked with this
//! run's filters. Dropping a Tracer releases everything in a safe order.

mod calibrate;
mod kprobes;
mod maps;
mod plan;
mod tracepoint;

use plan::LazyBtf;
pub use plan::{filter_constants, AttachMode, BtfSource, Filters, Log, Overrides, Plan};
pub use tracepoint::tracepoint_field_layouts;

use maps::{create_maps, map_index, MapSizing};
use tracepoint::start_tracepoint;

use crate::abi;
use crate::attach::kprobe::KprobeLink;
use crate::attach::raw_tracepoint::RawTracepointLink;
use crate::attach::PerfLink;
pub use crate::count_table::CountRow;
use crate::cpus::{read_cpu_list, ONLINE, POSSIBLE};
use crate::error::Error;
use crate::kernel::{KernelVersion, MEMCG_ACCOUNTING};
use crate::loader::{link_program, parse_object, FieldLayout, LinkInputs, ObjectSpec, EMBEDDED_OBJECT};
use crate::perf::buffer::DEFAULT_RING_PAGES;
use crate::perf::{PerfBuffers, RingStats};
use crate::pinned_map;
use crate::sys::bpf::{bpf_map_update_elem, bpf_prog_load, ProgLoad, BPF_ANY};
use crate::sys::epoll::Epoll;
use crate::sys::process::raise_memlock_limit;
use crate::tracefs::{Tracefs, TracefsError};
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;

/// BPF_PROG_TYPE_KPROBE, BPF_PROG_TYPE_TRACEPOINT, BPF_PROG_TYPE_RAW_TRACEPOINT.
const PROG_TYPE_KPROBE: u32 = 2;
const PROG_TYPE_TRACEPOINT: u32 = 5;
const PROG_TYPE_RAW_TRACEPOINT: u32 = 17;

/// A program attached one way or the other.
enum Attachment {
    /// Held for its Drop, which detaches.
    #[allow(dead_code)]
    Perf(PerfLink),
    Kprobe(KprobeLink),
    #[allow(dead_code)]
    Raw(RawTracepointLink),
}

/// A running trace. Fields drop in declaration order: the programs are
/// detached first (and legacy probe entries removed), then the programs
/// closed, then the rings and maps go.
pub struct Tracer {
    attachments: Vec<Attachment>,
    _progs: Vec<OwnedFd>,
    rings: PerfBuffers,
    /// Index of the -c counts map in `maps`.
    counts: Option<usize>,
    /// Index of the per-CPU lost-event counts in `maps`, and how many CPUs
    /// it has entries for.
    lost_events: usize,
    possible_cpus: u32,
    maps: Vec<OwnedFd>,
    tracefs: Tracefs,
}

/// What a run has set up before it attaches: the object, its maps, the
/// rings, and tracefs. Both attach paths (and calibration) work on it.
pub(crate) struct Session {
    object: ObjectSpec,
    /// This run's load-time constants (filters, modes, offsets).
    constants: HashMap<&'static str, u64>,
    maps: Vec<OwnedFd>,
    rings: PerfBuffers,
    tracefs: Tracefs,
    online: Vec<u32>,
    btf: LazyBtf,
}

impl Session {
    /// Links program `section` with these constants and context fields and
    /// loads it.
    fn load(
        &self,
        section: &str,
        prog_type: u32,
        constants: &HashMap<&'static str, u64>,
        fields: &HashMap<u8, Option<FieldLayout>>,
        kern_version: u32,
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
        let off = |name| constants.get(name).copied().unwrap_or(0) == 0;
        let mut stub_helpers = Vec::new();
        if off(abi::CONST_FILTER_CGROUP) {
            stub_helpers.push(abi::HELPER_GET_CURRENT_CGROUP_ID);
        }
        if off(abi::CONST_FILTER_MNTNS) {
            stub_helpers.push(abi::HELPER_GET_CURRENT_TASK);
        }
        let inputs = LinkInputs { map_fds: &raw_fds, constants, fields, stub_helpers: &stub_helpers };
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
        })
        .map_err(|error| Error::ProgLoad { program: section.to_owned(), error })
    }

    /// The first online CPU: where attachment events are opened.
    fn attach_cpu(&self) -> u32 {
        self.online[0]
    }
}

impl Tracer {
    /// Loads, attaches and starts tracing; rings are registered with `epoll`
    /// under tokens 0..n. Says which way it attached through `log`.
    pub fn start(plan: &Plan, epoll: &Epoll, log: Log<'_>) -> Result<Tracer, Error> {
        let object = parse_object(EMBEDDED_OBJECT)?;
        raise_memlock_limit_if_needed()?;
        let possible = read_cpu_list(POSSIBLE)?;
        let online = read_cpu_list(ONLINE)?;
        if crate::lockdown::forbids_tracing() {
            return Err(Error::Lockdown { mode: "confidentiality".into() });
        }
        let tracefs = Tracefs::open()?;

        let (category, name) = abi::STATE_TRACEPOINT;
        let tracepoint = match tracefs.tracepoint_id(category, name) {
            Ok(id) => Some(id),
            Err(TracefsError::NoTracepoint { .. }) => None,
            Err(other) => return Err(other.into()),
        };
        let no_tracepoint = || Error::NoTracepoint {
            tracepoint: format!("{category}:{name}"),
            since: "it appeared in Linux 4.16",
        };
        let kprobes = match (plan.attach, tracepoint) {
            (AttachMode::Tracepoint, None) => return Err(no_tracepoint()),
            (AttachMode::Tracepoint | AttachMode::Auto, Some(_)) => None,
            (AttachMode::Kprobe, _) => Some(kprobes::prepare(&tracefs, plan, log)?),
            (AttachMode::Auto, None) => Some(kprobes::prepare(&tracefs, plan, log).map_err(|kprobe| {
                Error::NoAttachMethod { tracepoint: Box::new(no_tracepoint()), kprobe: Box::new(kprobe) }
            })?),
        };

        let pinned = |option, path: &Option<PathBuf>| {
            path.as_deref().map(|path| pinned_map::open(option, path)).transpose().map_err(Error::PinnedMap)
        };
        let cgroup_map = pinned("--cgroupmap", &plan.filters.cgroup_map)?;
        let mntns_map = pinned("--mntnsmap", &plan.filters.mntns_map)?;

        // The local port is known at the kprobe's return; the tracepoint
        // path holds events until connect(2) returns.
        let lport_defer = plan.lport && !plan.count && kprobes.is_none();
        let mut constants = filter_constants(&plan.filters);
        let btf = LazyBtf::new(&plan.overrides);
        constants.insert(abi::CONST_COUNT_MODE, plan.count as u64);
        constants.insert(abi::CONST_LPORT_DEFER, lport_defer as u64);
        if mntns_map.is_some() {
            let offsets = mntns_offsets(&btf)?;
            constants.extend(offsets);
        }

        let sizing = MapSizing {
            possible: &possible,
            ports: plan.filters.ports.len(),
            kprobes: kprobes.is_some(),
            count: plan.count,
            lport_defer,
        };
        let maps = create_maps(&object, &sizing, cgroup_map, mntns_map)?;
        if !plan.filters.ports.is_empty() {
            let ports = maps[map_index(&object, abi::MAP_PORTS)?].as_fd();
            for port in &plan.filters.ports {
                bpf_map_update_elem(ports, &port.to_ne_bytes(), &[1u8], BPF_ANY)
                    .map_err(Error::kernel("fill the port filter map"))?;
            }
        }
        let events = maps[map_index(&object, abi::MAP_EVENTS)?].as_fd();
        let rings = PerfBuffers::open(events, &online, DEFAULT_RING_PAGES, epoll)
            .map_err(Error::kernel("open the per-CPU perf rings"))?;
        let counts = plan.count.then(|| map_index(&object, abi::MAP_COUNTS)).transpose()?;
        let lost_events = map_index(&object, abi::MAP_LOST_EVENTS)?;
        let possible_cpus = possible.iter().max().map_or(1, |&c| c + 1);
        let mut session = Session { object, constants, maps, rings, tracefs, online, btf };

        let (progs, attachments) = match (kprobes, tracepoint) {
            (Some(kprobes), _) => kprobes::start(&mut session, &kprobes, log)?,
            (None, Some(id)) => start_tracepoint(&session, id, lport_defer, &plan.overrides, log)?,
            (None, None) => return Err(no_tracepoint()),
        };
        let Session { maps, rings, tracefs, .. } = session;
        Ok(Tracer { attachments, _progs: progs, rings, counts, lost_events, possible_cpus, maps, tracefs })
    }

    /// Reads every ring once; see [`PerfBuffers::drain`].
    pub fn drain(&mut self, on_sample: impl FnMut(&[u8])) -> RingStats {
        self.rings.drain(on_sample)
    }

    /// The -c counts, read from the kernel map (empty without -c).
    pub fn counts(&self) -> Result<Vec<CountRow>, Error> {
        match self.counts {
            Some(index) => maps::read_counts(self.maps[index].as_fd()),
            None => Ok(Vec::new()),
        }
    }

    /// Events dropped because a ring was full, counted by the BPF side: the
    /// exact total so far (PERF_RECORD_LOST can lag behind it).
    pub fn lost_events(&self) -> Result<u64, Error> {
        maps::read_lost_events(self.maps[self.lost_events].as_fd(), self.possible_cpus)
    }

    /// Probe hits the kernel dropped (kretprobe instances exhausted), where
    /// it tells: legacy kprobes report nmissed in tracefs kprobe_profile.
    pub fn kprobe_misses(&self) -> u64 {
        self.attachments
            .iter()
            .filter_map(|a| match a {
                Attachment::Kprobe(link) => link.legacy_probe(),
                Attachment::Perf(_) | Attachment::Raw(_) => None,
            })
            .filter_map(|probe| self.tracefs.kprobe_nmissed(probe))
            .sum()
    }
}

/// Offsets of task_struct.nsproxy, nsproxy.mnt_ns and mnt_namespace.ns.inum
/// for --mntnsmap, from BTF: struct layouts that no constant can cover.
fn mntns_offsets(btf: &LazyBtf) -> Result<HashMap<&'static str, u64>, Error> {
    let needs_btf = |reason: String| Error::NeedsBtf { option: "--mntnsmap", reason };
    let btf = btf.get().map_err(needs_btf)?;
    let offset = |ty: &str, path: &[&str]| {
        btf.member_offset(ty, path).map(|m| m.offset as u64).map_err(|e| needs_btf(e.to_string()))
    };
    Ok(HashMap::from([
        (abi::CONST_TASK_NSPROXY, offset("task_struct", &["nsproxy"])?),
        (abi::CONST_NSPROXY_MNT_NS, offset("nsproxy", &["mnt_ns"])?),
        (abi::CONST_MNT_NS_INUM, offset("mnt_namespace", &["ns", "inum"])?),
    ]))
}

/// Before 5.11 BPF memory counts against RLIMIT_MEMLOCK, whose default (64 KiB
/// on many distributions) is too small; later kernels ignore it, so leave it.
fn raise_memlock_limit_if_needed() -> Result<(), Error> {
    match KernelVersion::running() {
        Some(version) if version >= MEMCG_ACCOUNTING => Ok(()),
        _ => raise_memlock_limit().map_err(Error::kernel(
            "raise RLIMIT_MEMLOCK, which this kernel (before 5.11) charges BPF maps to",
        )),
    }
}
