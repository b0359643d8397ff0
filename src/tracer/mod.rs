//! Assembling the kernel side of a run: maps from the embedded object,
//! per-CPU rings, then either the state program linked with this kernel's
//! tracepoint layout, or the kprobe programs (`kprobes`), linked with this
//! run's filters. Dropping a Tracer releases everything in a safe order.

mod calibrate;
mod kprobes;

use crate::abi;
use crate::attach::kprobe::KprobeLink;
use crate::attach::tracepoint::attach_tracepoint;
use crate::attach::PerfLink;
use crate::btf::Btf;
pub use crate::count_table::CountRow;
use crate::cpus::{read_cpu_list, ONLINE, POSSIBLE};
use crate::error::Error;
use crate::kernel::{KernelVersion, MEMCG_ACCOUNTING};
use crate::loader::{link_program, parse_object, FieldLayout, LinkInputs, ObjectSpec, EMBEDDED_OBJECT};
use crate::perf::buffer::DEFAULT_RING_PAGES;
use crate::perf::{PerfBuffers, RingStats};
use crate::pinned_map;
use crate::sys::bpf::{
    bpf_map_create, bpf_map_get_next_key, bpf_map_lookup_elem, bpf_map_update_elem, bpf_prog_load, MapParams,
    ProgLoad, BPF_ANY,
};
use crate::sys::epoll::Epoll;
use crate::sys::process::raise_memlock_limit;
use crate::tracefs::format::{self, Field};
use crate::tracefs::{Tracefs, TracefsError};
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;

/// The counts map's size: no more rows can exist.
const MAX_COUNT_ROWS: usize = 10240;

/// BPF_PROG_TYPE_KPROBE and BPF_PROG_TYPE_TRACEPOINT.
const PROG_TYPE_KPROBE: u32 = 2;
const PROG_TYPE_TRACEPOINT: u32 = 5;

/// What the kernel keeps, decided from the command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    /// Only this process (tgid).
    pub pid: Option<u32>,
    pub uid: Option<u32>,
    /// Only these destination ports; empty means all.
    pub ports: Vec<u16>,
    /// Only IPv4 (4) or IPv6 (6).
    pub family: Option<u8>,
    /// Only tasks whose cgroup id / mount namespace is a key of the hash map
    /// pinned here.
    pub cgroup_map: Option<PathBuf>,
    pub mntns_map: Option<PathBuf>,
}

/// How to hook into the kernel (`--attach`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AttachMode {
    /// The tracepoint where the kernel has it (4.16+), kprobes otherwise.
    #[default]
    Auto,
    Kprobe,
    Tracepoint,
}

/// Switches for testing paths this kernel would not otherwise take, read
/// from the environment (documented in the man page, ENVIRONMENT).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    /// TCPCONNECT_KPROBE_API=legacy: tracefs kprobe_events even where the
    /// kprobe PMU exists.
    pub legacy_kprobes: bool,
    /// TCPCONNECT_BTF=off: ignore /sys/kernel/btf/vmlinux and calibrate.
    pub no_btf: bool,
}

impl Overrides {
    pub fn from_env() -> Overrides {
        let var = |name: &str| std::env::var(name).unwrap_or_default();
        Overrides {
            legacy_kprobes: var("TCPCONNECT_KPROBE_API") == "legacy",
            no_btf: var("TCPCONNECT_BTF") == "off",
        }
    }
}

/// Everything a run asks of the kernel side.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub filters: Filters,
    /// -c: count in the kernel instead of sending events.
    pub count: bool,
    /// -L: events must carry the local port.
    pub lport: bool,
    pub attach: AttachMode,
    pub overrides: Overrides,
}

/// Where -v messages go.
pub type Log<'a> = &'a dyn Fn(std::fmt::Arguments<'_>);

/// A program attached one way or the other.
enum Attachment {
    /// Held for its Drop, which detaches.
    #[allow(dead_code)]
    Perf(PerfLink),
    Kprobe(KprobeLink),
}

/// A running trace. Fields drop in declaration order: the programs are
/// detached first (and legacy probe entries removed), then the programs
/// closed, then the rings and maps go.
pub struct Tracer {
    attachments: Vec<Attachment>,
    _progs: Vec<OwnedFd>,
    rings: PerfBuffers,
    /// Index of the -c counts map in `_maps`.
    counts: Option<usize>,
    _maps: Vec<OwnedFd>,
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
        constants.insert(abi::CONST_COUNT_MODE, plan.count as u64);
        constants.insert(abi::CONST_LPORT_DEFER, lport_defer as u64);
        if mntns_map.is_some() {
            let offsets = mntns_offsets(&plan.overrides)?;
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
        let mut session = Session { object, constants, maps, rings, tracefs, online };

        let (progs, attachments) = match (kprobes, tracepoint) {
            (Some(kprobes), _) => kprobes::start(&mut session, &kprobes, log)?,
            (None, Some(id)) => {
                let attached = start_tracepoint(&session, id, lport_defer)?;
                log(format_args!("attach: tracepoint {category}:{name}"));
                if lport_defer {
                    log(format_args!(
                        "attach: tracepoints syscalls:sys_enter_connect, sys_exit_connect (-L)"
                    ));
                }
                attached
            }
            (None, None) => return Err(no_tracepoint()),
        };
        let Session { maps, rings, tracefs, .. } = session;
        Ok(Tracer { attachments, _progs: progs, rings, counts, _maps: maps, tracefs })
    }

    /// Reads every ring once; see [`PerfBuffers::drain`].
    pub fn drain(&mut self, on_sample: impl FnMut(&[u8])) -> RingStats {
        self.rings.drain(on_sample)
    }

    /// The -c counts, read from the kernel map (empty without -c).
    pub fn counts(&self) -> Result<Vec<CountRow>, Error> {
        let Some(index) = self.counts else {
            return Ok(Vec::new());
        };
        let map = self._maps[index].as_fd();
        let read_error = |error| Error::Kernel { action: "read the connect counts".into(), error };
        let mut rows = Vec::new();
        let mut key = [0u8; abi::COUNT_KEY_SIZE];
        let mut next = [0u8; abi::COUNT_KEY_SIZE];
        let mut first = true;
        // The map holds at most its max_entries keys; bound the walk anyway.
        for _ in 0..=MAX_COUNT_ROWS {
            let more =
                bpf_map_get_next_key(map, (!first).then_some(&key[..]), &mut next).map_err(read_error)?;
            if !more {
                break;
            }
            first = false;
            key = next;
            let mut value = [0u8; 8];
            if bpf_map_lookup_elem(map, &key, &mut value).map_err(read_error)? {
                rows.push(CountRow {
                    saddr: key[0..16].try_into().unwrap_or_default(),
                    daddr: key[16..32].try_into().unwrap_or_default(),
                    dport: u16::from_ne_bytes([key[32], key[33]]),
                    ip: key[34],
                    count: u64::from_ne_bytes(value),
                });
            }
        }
        Ok(rows)
    }

    /// Probe hits the kernel dropped (kretprobe instances exhausted), where
    /// it tells: legacy kprobes report nmissed in tracefs kprobe_profile.
    pub fn kprobe_misses(&self) -> u64 {
        self.attachments
            .iter()
            .filter_map(|a| match a {
                Attachment::Kprobe(link) => link.legacy_probe(),
                Attachment::Perf(_) => None,
            })
            .filter_map(|probe| self.tracefs.kprobe_nmissed(probe))
            .sum()
    }
}

fn start_tracepoint(
    session: &Session,
    id: u64,
    lport_defer: bool,
) -> Result<(Vec<OwnedFd>, Vec<Attachment>), Error> {
    let (category, name) = abi::STATE_TRACEPOINT;
    let fields = tracepoint_field_layouts(&session.tracefs.tracepoint_fields(category, name)?)?;
    let load = |section, fields: &HashMap<u8, Option<FieldLayout>>| {
        session.load(section, PROG_TYPE_TRACEPOINT, &session.constants, fields, 0)
    };
    let mut progs = Vec::new();
    let mut links = Vec::new();
    if lport_defer {
        // Exit before entry: no thread is marked "in connect" without the
        // program that unmarks it.
        for (section, (category, name)) in [
            (abi::PROG_SYS_EXIT_CONNECT, abi::SYS_EXIT_CONNECT),
            (abi::PROG_SYS_ENTER_CONNECT, abi::SYS_ENTER_CONNECT),
        ] {
            let id = session.tracefs.tracepoint_id(category, name).map_err(|e| match e {
                TracefsError::NoTracepoint { .. } => Error::NoTracepoint {
                    tracepoint: format!("{category}:{name}"),
                    since: "-L needs the syscall tracepoints, CONFIG_FTRACE_SYSCALLS",
                },
                other => Error::Tracefs(other),
            })?;
            let prog = load(section, &HashMap::new())?;
            let link = attach_tracepoint(id, prog.as_fd(), session.attach_cpu())
                .map_err(Error::kernel(format!("attach to tracepoint {category}:{name}")))?;
            progs.push(prog);
            links.push(Attachment::Perf(link));
        }
    }
    let prog = load(abi::PROG_STATE_TRACEPOINT, &fields)?;
    let link = attach_tracepoint(id, prog.as_fd(), session.attach_cpu())
        .map_err(Error::kernel(format!("attach to tracepoint {category}:{name}")))?;
    progs.push(prog);
    links.push(Attachment::Perf(link));
    Ok((progs, links))
}

/// Offsets of task_struct.nsproxy, nsproxy.mnt_ns and mnt_namespace.ns.inum
/// for --mntnsmap, from BTF: struct layouts that no constant can cover.
fn mntns_offsets(overrides: &Overrides) -> Result<HashMap<&'static str, u64>, Error> {
    let needs_btf = |reason: String| Error::NeedsBtf { option: "--mntnsmap", reason };
    if overrides.no_btf {
        return Err(needs_btf("disabled by TCPCONNECT_BTF=off".into()));
    }
    let btf = Btf::load_vmlinux().map_err(|e| needs_btf(e.to_string()))?;
    let offset = |ty: &str, path: &[&str]| {
        btf.member_offset(ty, path).map(|m| m.offset as u64).map_err(|e| needs_btf(e.to_string()))
    };
    Ok(HashMap::from([
        (abi::CONST_TASK_NSPROXY, offset("task_struct", &["nsproxy"])?),
        (abi::CONST_NSPROXY_MNT_NS, offset("nsproxy", &["mnt_ns"])?),
        (abi::CONST_MNT_NS_INUM, offset("mnt_namespace", &["ns", "inum"])?),
    ]))
}

fn map_index(object: &ObjectSpec, name: &str) -> Result<usize, Error> {
    object.map_index(name).ok_or_else(|| missing_map(name))
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

fn missing_map(name: &str) -> Error {
    Error::Object(crate::loader::elf::ElfError::BadMapDef { name: name.into() })
}

/// The values of the program's load-time constants for these filters.
pub fn filter_constants(filters: &Filters) -> HashMap<&'static str, u64> {
    HashMap::from([
        (abi::CONST_FILTER_PID, filters.pid.is_some() as u64),
        (abi::CONST_TARGET_PID, filters.pid.unwrap_or(0) as u64),
        (abi::CONST_FILTER_UID, filters.uid.is_some() as u64),
        (abi::CONST_TARGET_UID, filters.uid.unwrap_or(0) as u64),
        (abi::CONST_FILTER_PORTS, !filters.ports.is_empty() as u64),
        (abi::CONST_ONLY_IP, filters.family.unwrap_or(0) as u64),
        (abi::CONST_FILTER_CGROUP, filters.cgroup_map.is_some() as u64),
        (abi::CONST_FILTER_MNTNS, filters.mntns_map.is_some() as u64),
        // Set by the run when it needs them.
        (abi::CONST_COUNT_MODE, 0),
        (abi::CONST_LPORT_DEFER, 0),
        (abi::CONST_TASK_NSPROXY, 0),
        (abi::CONST_NSPROXY_MNT_NS, 0),
        (abi::CONST_MNT_NS_INUM, 0),
    ])
}

/// Maps each field marker of the program to where this kernel puts it.
pub fn tracepoint_field_layouts(fields: &[Field]) -> Result<HashMap<u8, Option<FieldLayout>>, Error> {
    let (category, name) = abi::STATE_TRACEPOINT;
    let mut layouts = HashMap::new();
    for (id, field_name, presence) in abi::STATE_FIELDS {
        let layout = format::find(fields, field_name).map(|f| FieldLayout { offset: f.offset, size: f.size });
        if layout.is_none() && presence == abi::Presence::Required {
            return Err(Error::MissingField { tracepoint: format!("{category}:{name}"), field: field_name });
        }
        layouts.insert(id, layout);
    }
    Ok(layouts)
}

/// How big the maps of this run must be.
struct MapSizing<'a> {
    possible: &'a [u32],
    ports: usize,
    kprobes: bool,
    count: bool,
    lport_defer: bool,
}

/// Creates the object's maps, in its order, except the filters the user
/// pinned, whose fds take their place. Maps a run does not use get one entry:
/// hash maps are preallocated.
fn create_maps(
    object: &ObjectSpec,
    sizing: &MapSizing<'_>,
    mut cgroup_map: Option<OwnedFd>,
    mut mntns_map: Option<OwnedFd>,
) -> Result<Vec<OwnedFd>, Error> {
    let used = |needed: bool, entries: u32| if needed { entries } else { 1 };
    object
        .maps
        .iter()
        .map(|spec| {
            let max_entries = match spec.name.as_str() {
                // Indexed by CPU id: sized to the highest possible CPU.
                abi::MAP_EVENTS => sizing.possible.iter().max().map_or(1, |&c| c + 1),
                abi::MAP_PORTS => sizing.ports.max(1) as u32,
                abi::MAP_CONNECTING => used(sizing.kprobes, spec.max_entries),
                abi::MAP_COUNTS => used(sizing.count, spec.max_entries),
                abi::MAP_IN_CONNECT | abi::MAP_PENDING | abi::MAP_SYN_SENT_PORTS => {
                    used(sizing.lport_defer, spec.max_entries)
                }
                abi::MAP_CGROUP_FILTER => match cgroup_map.take() {
                    Some(fd) => return Ok(fd),
                    None => 1,
                },
                abi::MAP_MNTNS_FILTER => match mntns_map.take() {
                    Some(fd) => return Ok(fd),
                    None => 1,
                },
                _ => spec.max_entries,
            };
            let params = MapParams {
                map_type: spec.map_type,
                key_size: spec.key_size,
                value_size: spec.value_size,
                max_entries,
                map_flags: spec.map_flags,
            };
            bpf_map_create(&params, &spec.name)
                .map_err(Error::kernel(format!("create BPF map {}", spec.name)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader::insn::Insn;

    fn field(name: &str, offset: u16, size: u16) -> Field {
        Field { name: name.into(), offset, size }
    }

    fn layout_6x() -> Vec<Field> {
        vec![
            field("skaddr", 8, 8),
            field("oldstate", 16, 4),
            field("newstate", 20, 4),
            field("sport", 24, 2),
            field("dport", 26, 2),
            field("family", 28, 2),
            field("protocol", 30, 2),
            field("saddr", 32, 4),
            field("daddr", 36, 4),
            field("saddr_v6", 40, 16),
            field("daddr_v6", 56, 16),
        ]
    }

    fn fds_len() -> i32 {
        parse_object(EMBEDDED_OBJECT).unwrap().maps.len() as i32
    }

    /// Links the embedded program as a run would and returns the instructions.
    fn link_embedded(fields: &[Field], filters: &Filters) -> Vec<Insn> {
        let object = parse_object(EMBEDDED_OBJECT).unwrap();
        let program = object.program(abi::PROG_STATE_TRACEPOINT).unwrap();
        let layouts = tracepoint_field_layouts(fields).unwrap();
        let fds: Vec<i32> = (0..object.maps.len() as i32).map(|i| 100 + i).collect();
        let constants = filter_constants(filters);
        let insns = link_program(
            program,
            &LinkInputs { map_fds: &fds, constants: &constants, fields: &layouts, stub_helpers: &[80, 35] },
        )
        .unwrap();
        insns.into_iter().map(|i| Insn(i.to_le_bytes())).collect()
    }

    #[test]
    fn embedded_program_links_against_the_current_layout() {
        let filters = Filters { pid: Some(4242), ports: vec![80], ..Filters::default() };
        let insns = link_embedded(&layout_6x(), &filters);
        // No marker survives; every context load hits a real field.
        let ctx_offsets: Vec<i16> = insns
            .iter()
            .filter(|i| i.ldx_mem_width().is_some() && i.src_reg() == 6)
            .map(|i| i.off())
            .collect();
        assert!(ctx_offsets.iter().all(|&o| (8..72).contains(&o)), "{ctx_offsets:?}");
        assert!(ctx_offsets.contains(&16) && ctx_offsets.contains(&26) && ctx_offsets.contains(&71));
        // Every map reference became a pseudo map fd with our fds.
        let map_loads: Vec<&Insn> = insns.iter().filter(|i| i.code() == 0x18 && i.src_reg() == 1).collect();
        assert!(map_loads.len() >= 2);
        assert!(map_loads.iter().all(|i| (100..100 + fds_len()).contains(&i.imm())));
        // The pid constant is in an immediate.
        assert!(insns.iter().any(|i| i.code() == 0x18 && i.imm() == 4242));
    }

    #[test]
    fn embedded_program_links_against_the_416_layout_without_family() {
        let mut fields = layout_6x();
        fields.retain(|f| f.name != "family");
        for f in fields.iter_mut().filter(|f| f.offset >= 30) {
            f.offset -= 2;
        }
        let insns = link_embedded(&fields, &Filters::default());
        let ctx_offsets: Vec<i16> = insns
            .iter()
            .filter(|i| i.ldx_mem_width().is_some() && i.src_reg() == 6)
            .map(|i| i.off())
            .collect();
        assert!(ctx_offsets.contains(&30), "saddr moved to 30: {ctx_offsets:?}");
        assert!(!ctx_offsets.iter().any(|&o| o >= 0x4000));
        assert!(insns.contains(&Insn::mov64_imm(
            insns.iter().find(|i| i.code() == 0xb7 && i.imm() == 0).unwrap().dst_reg(),
            0
        )));
    }

    #[test]
    fn a_missing_required_field_is_named() {
        let mut fields = layout_6x();
        fields.retain(|f| f.name != "protocol");
        let err = tracepoint_field_layouts(&fields).unwrap_err();
        assert_eq!(
            err.to_string(),
            "tracepoint sock:inet_sock_set_state has no field \"protocol\" on this kernel; cannot trace through it"
        );
    }
}
