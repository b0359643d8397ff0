//! Assembling the kernel side of a run: maps from the embedded object,
//! the state program linked with this run's filters and this kernel's
//! tracepoint layout, per-CPU rings, and the attachment. Dropping a Tracer
//! releases everything in a safe order.

use crate::abi;
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

/// BPF_PROG_TYPE_TRACEPOINT.
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

/// A running trace. Fields drop in declaration order: the program is
/// detached first, then closed, then the rings and maps go.
pub struct Tracer {
    _link: PerfLink,
    _prog: OwnedFd,
    rings: PerfBuffers,
    _maps: Vec<OwnedFd>,
    _tracefs: Tracefs,
}

impl Tracer {
    /// Loads, attaches and starts tracing; rings are registered with `epoll`
    /// under tokens 0..n.
    pub fn start(filters: &Filters, epoll: &Epoll) -> Result<Tracer, Error> {
        let object = parse_object(EMBEDDED_OBJECT)?;
        raise_memlock_limit_if_needed()?;
        let possible = read_cpu_list(POSSIBLE)?;
        let online = read_cpu_list(ONLINE)?;

        let tracefs = Tracefs::open()?;
        let (category, name) = abi::STATE_TRACEPOINT;
        let tracepoint_id = tracefs.tracepoint_id(category, name).map_err(|e| match e {
            TracefsError::NoTracepoint { .. } => Error::NoTracepoint {
                tracepoint: format!("{category}:{name}"),
                since: "it appeared in Linux 4.16",
            },
            other => Error::Tracefs(other),
        })?;
        let fields = tracepoint_field_layouts(&tracefs.tracepoint_fields(category, name)?)?;

        let maps = create_maps(&object, &possible, filters)?;
        let map_fd = |name: &str| object.map_index(name).map(|i| maps[i].as_fd());
        if !filters.ports.is_empty() {
            let ports = map_fd(abi::MAP_PORTS).ok_or_else(|| missing_map(abi::MAP_PORTS))?;
            for port in &filters.ports {
                bpf_map_update_elem(ports, &port.to_ne_bytes(), &[1u8], BPF_ANY)
                    .map_err(Error::kernel("fill the port filter map"))?;
            }
        }

        let program = object.program(abi::PROG_STATE_TRACEPOINT).ok_or_else(|| {
            Error::Object(crate::loader::elf::ElfError::BadProgram {
                section: abi::PROG_STATE_TRACEPOINT.into(),
                reason: "missing from the embedded object".into(),
            })
        })?;
        let raw_fds: Vec<i32> = maps.iter().map(|m| m.as_raw_fd()).collect();
        let constants = filter_constants(filters);
        let insns =
            link_program(program, &LinkInputs { map_fds: &raw_fds, constants: &constants, fields: &fields })
                .map_err(|error| Error::Link { program: program.section.clone(), error })?;
        let prog = bpf_prog_load(&ProgLoad {
            prog_type: PROG_TYPE_TRACEPOINT,
            insns: &insns,
            license: &object.license,
            kern_version: 0,
            name: "tcpconnect_st",
        })
        .map_err(|error| Error::ProgLoad { program: program.section.clone(), error })?;

        let events = map_fd(abi::MAP_EVENTS).ok_or_else(|| missing_map(abi::MAP_EVENTS))?;
        let rings = PerfBuffers::open(events, &online, DEFAULT_RING_PAGES, epoll)
            .map_err(Error::kernel("open the per-CPU perf rings"))?;
        let link = attach_tracepoint(tracepoint_id, prog.as_fd(), online[0])
            .map_err(Error::kernel(format!("attach to tracepoint {category}:{name}")))?;

        Ok(Tracer { _link: link, _prog: prog, rings, _maps: maps, _tracefs: tracefs })
    }

    /// Reads every ring once; see [`PerfBuffers::drain`].
    pub fn drain(&mut self, on_sample: impl FnMut(&[u8])) -> RingStats {
        self.rings.drain(on_sample)
    }
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

fn create_maps(object: &ObjectSpec, possible: &[u32], filters: &Filters) -> Result<Vec<OwnedFd>, Error> {
    object
        .maps
        .iter()
        .map(|spec| {
            let max_entries = match spec.name.as_str() {
                // Indexed by CPU id: sized to the highest possible CPU.
                abi::MAP_EVENTS => possible.iter().max().map_or(1, |&c| c + 1),
                abi::MAP_PORTS => filters.ports.len().max(1) as u32,
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
