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
use crate::cpus::{read_cpu_list, ONLINE, POSSIBLE};
use crate::error::Error;
use crate::kernel::{KernelVersion, MEMCG_ACCOUNTING};
use crate::loader::{link_program, parse_object, FieldLayout, LinkInputs, ObjectSpec, EMBEDDED_OBJECT};
use crate::perf::buffer::DEFAULT_RING_PAGES;
use crate::perf::{PerfBuffers, RingStats};
use crate::sys::bpf::{bpf_map_create, bpf_map_update_elem, bpf_prog_load, MapParams, ProgLoad, BPF_ANY};
use crate::sys::epoll::Epoll;
use crate::sys::process::raise_memlock_limit;
use crate::tracefs::format::{self, Field};
use crate::tracefs::{Tracefs, TracefsError};
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

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
    _maps: Vec<OwnedFd>,
    tracefs: Tracefs,
}

/// What a run has set up before it attaches: the object, its maps, the
/// rings, and tracefs. Both attach paths (and calibration) work on it.
pub(crate) struct Session {
    object: ObjectSpec,
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
        let insns = link_program(program, &LinkInputs { map_fds: &raw_fds, constants, fields })
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
            (AttachMode::Kprobe, _) => Some(kprobes::prepare(&tracefs, &plan.overrides, log)?),
            (AttachMode::Auto, None) => {
                Some(kprobes::prepare(&tracefs, &plan.overrides, log).map_err(|kprobe| {
                    Error::NoAttachMethod { tracepoint: Box::new(no_tracepoint()), kprobe: Box::new(kprobe) }
                })?)
            }
        };

        let maps = create_maps(&object, &possible, &plan.filters, kprobes.is_some())?;
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
        let mut session = Session { object, maps, rings, tracefs, online };

        let (progs, attachments) = match (kprobes, tracepoint) {
            (Some(kprobes), _) => kprobes::start(&mut session, &kprobes, &plan.filters, log)?,
            (None, Some(id)) => {
                log(format_args!("attach: tracepoint {category}:{name}"));
                start_tracepoint(&session, id, &plan.filters)?
            }
            (None, None) => return Err(no_tracepoint()),
        };
        let Session { maps, rings, tracefs, .. } = session;
        Ok(Tracer { attachments, _progs: progs, rings, _maps: maps, tracefs })
    }

    /// Reads every ring once; see [`PerfBuffers::drain`].
    pub fn drain(&mut self, on_sample: impl FnMut(&[u8])) -> RingStats {
        self.rings.drain(on_sample)
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
    filters: &Filters,
) -> Result<(Vec<OwnedFd>, Vec<Attachment>), Error> {
    let (category, name) = abi::STATE_TRACEPOINT;
    let fields = tracepoint_field_layouts(&session.tracefs.tracepoint_fields(category, name)?)?;
    let prog = session.load(
        abi::PROG_STATE_TRACEPOINT,
        PROG_TYPE_TRACEPOINT,
        &filter_constants(filters),
        &fields,
        0,
    )?;
    let link = attach_tracepoint(id, prog.as_fd(), session.attach_cpu())
        .map_err(Error::kernel(format!("attach to tracepoint {category}:{name}")))?;
    Ok((vec![prog], vec![Attachment::Perf(link)]))
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

fn create_maps(
    object: &ObjectSpec,
    possible: &[u32],
    filters: &Filters,
    kprobes: bool,
) -> Result<Vec<OwnedFd>, Error> {
    object
        .maps
        .iter()
        .map(|spec| {
            let max_entries = match spec.name.as_str() {
                // Indexed by CPU id: sized to the highest possible CPU.
                abi::MAP_EVENTS => possible.iter().max().map_or(1, |&c| c + 1),
                abi::MAP_PORTS => filters.ports.len().max(1) as u32,
                // Preallocated: only the kprobe path needs its room.
                abi::MAP_CONNECTING if !kprobes => 1,
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

    /// Links the embedded program as a run would and returns the instructions.
    fn link_embedded(fields: &[Field], filters: &Filters) -> Vec<Insn> {
        let object = parse_object(EMBEDDED_OBJECT).unwrap();
        let program = object.program(abi::PROG_STATE_TRACEPOINT).unwrap();
        let layouts = tracepoint_field_layouts(fields).unwrap();
        let fds: Vec<i32> = (0..object.maps.len() as i32).map(|i| 100 + i).collect();
        let constants = filter_constants(filters);
        let insns =
            link_program(program, &LinkInputs { map_fds: &fds, constants: &constants, fields: &layouts })
                .unwrap();
        insns.into_iter().map(|i| Insn(i.to_le_bytes())).collect()
    }

    #[test]
    fn embedded_program_links_against_the_current_layout() {
        let filters = Filters { pid: Some(4242), uid: None, ports: vec![80] };
        let insns = link_embedded(&layout_6x(), &filters);
        // No marker survives; every context load hits a real field.
        let ctx_offsets: Vec<i16> = insns
            .iter()
            .filter(|i| i.ldx_mem_width().is_some() && i.src_reg() == 6)
            .map(|i| i.off())
            .collect();
        assert!(ctx_offsets.iter().all(|&o| (16..72).contains(&o)), "{ctx_offsets:?}");
        assert!(ctx_offsets.contains(&16) && ctx_offsets.contains(&26) && ctx_offsets.contains(&71));
        // Every map reference became a pseudo map fd with our fds.
        let map_loads: Vec<&Insn> = insns.iter().filter(|i| i.code() == 0x18 && i.src_reg() == 1).collect();
        assert!(map_loads.len() >= 2);
        assert!(map_loads.iter().all(|i| (100..102).contains(&i.imm())));
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
