//! One attempt's working set: this run's constants, the maps (the user's
//! pinned filters in place) and the rings, over the prepared object and
//! tracefs. Both attach paths, the -d programs and calibration load and
//! attach their programs through it.

use super::constants::Constants;
use super::maps::{create_maps, map_index, MapSizing};
use super::prepared::{DnsSource, Prepared};
use super::rings::Rings;
use super::transport::Transport;
use crate::abi;
use crate::error::Error;
use crate::layout::btf_source::LazyBtf;
use crate::layout::namespaces::{self, MntnsOffsets};
use crate::layout::sk_err;
use crate::loader::{link_program, FieldLayout, LinkInputs, ObjectSpec};
use crate::perf::buffer::DEFAULT_RING_PAGES;
use crate::pinned_map;
use crate::plan::Plan;
use crate::sys::bpf::{bpf_prog_load, BtfAttach, Map, ProgLoad};
use crate::sys::epoll::Epoll;
use crate::tracefs::Tracefs;
use crate::uapi::{BPF_ANY, BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP};
use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

/// What one attempt has set up before it attaches.
pub(crate) struct Session<'h> {
    pub object: &'h ObjectSpec,
    /// This run's load-time constants (filters, modes, offsets).
    pub constants: Constants,
    pub maps: Vec<Map>,
    pub rings: Rings,
    pub tracefs: &'h Tracefs,
    pub online: &'h [u32],
    pub epoll: &'h Epoll,
    /// --result where BTF could not give sk_err: why, for the path to
    /// calibrate it before it loads its programs (`calibrate::ensure_sk_err`).
    pub sk_err_unknown: Option<String>,
}

impl<'h> Session<'h> {
    /// This attempt's constants, maps and rings, for the kprobe path or not.
    pub fn open(
        host: &'h Prepared,
        plan: &Plan,
        kprobes: bool,
        epoll: &'h Epoll,
    ) -> Result<Session<'h>, Error> {
        let pinned = |option, path: &Option<PathBuf>| {
            path.as_deref().map(|path| pinned_map::open(option, path)).transpose().map_err(Error::PinnedMap)
        };
        let cgroup_map = pinned("--cgroupmap", &plan.filters.cgroup_map)?;
        let mntns_map = pinned("--mntnsmap", &plan.filters.mntns_map)?;
        let mntns = match mntns_map {
            Some(_) => mntns_offsets(&host.btf)?,
            None => MntnsOffsets::default(),
        };
        let mut constants = Constants { mntns, ..Constants::for_plan(plan, kprobes, host.ring_wakeup()) };
        if let DnsSource::Kernel(offsets) = host.dns {
            constants.dns = Some(offsets);
        }
        constants.parent = host.parent.and_then(|read| read.kernel());
        constants.cgroup = host.cgroup.as_ref().and_then(|(_, read)| read.kernel());
        let mut sk_err_unknown = None;
        if plan.result {
            match host.btf.get().and_then(|btf| sk_err::from_btf(btf).map_err(|e| e.to_string())) {
                Ok(offset) => constants.socket.sk_err = offset,
                Err(reason) => sk_err_unknown = Some(reason),
            }
        }

        let sizing =
            MapSizing::for_run(plan, kprobes, &constants, &host.possible, host.transport.ring_bytes());
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
        })
    }

    /// Links program `section` with these constants and context fields and
    /// loads it.
    pub fn load(
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
    pub fn load_btf_tracepoint(
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
    pub fn open_calibration_rings(&mut self) -> Result<(), String> {
        let events = map_index(self.object, abi::MAP_EVENTS).map_err(|e| e.to_string())?;
        self.rings
            .open_for_calibration(&self.maps[events], self.online, self.epoll)
            .map_err(|e| format!("cannot open the perf rings for calibration: {e}"))
    }

    /// The first online CPU: where attachment events are opened.
    pub fn attach_cpu(&self) -> u32 {
        self.online[0]
    }
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
