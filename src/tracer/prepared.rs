//! What every attempt to attach shares, found once per run before the
//! first: the embedded object, the memlock limit, the CPU lists, lockdown,
//! tracefs, the kernel's BTF (read on first use), how events reach us (the
//! transport, said with -v) and where -d's answers come from. Nothing here
//! depends on the attach path, and nothing but the host can refuse it.

use super::constants::RingWakeup;
use super::log::Log;
use super::transport::{choose_transport, probe_ringbuf, Transport};
use crate::error::Error;
use crate::host::cgroup_hierarchy::{self, Hierarchy};
use crate::host::cpus::{read_cpu_list, ONLINE, POSSIBLE};
use crate::host::memlock::kernel_charges_memlock;
use crate::host::mountinfo;
use crate::layout::btf_source::LazyBtf;
use crate::layout::identity::{self, CgroupOffsets, ParentOffsets};
use crate::layout::namespaces::{self, DnsOffsets};
use crate::loader::{parse_object, ObjectSpec, EMBEDDED_OBJECT};
use crate::plan::Plan;
use crate::sys::perf_event::page_size;
use crate::sys::process::raise_memlock_limit;
use crate::tracefs::Tracefs;

/// Where -d's answers come from, decided once a run.
pub(super) enum DnsSource {
    /// No -d.
    Off,
    /// The DNS programs read them in the kernel, through these offsets
    /// (they may still fail to load: then the packet socket, per attempt).
    Kernel(DnsOffsets),
    /// The packet socket, for this reason (no BTF, or TCPCONNECT_DNS=packet).
    Packet(String),
}

/// What every attempt shares.
pub(super) struct Prepared {
    pub object: ObjectSpec,
    pub possible: Vec<u32>,
    pub online: Vec<u32>,
    pub tracefs: Tracefs,
    pub btf: LazyBtf,
    pub transport: Transport,
    pub dns: DnsSource,
    /// --ppid: where the current task keeps its parent.
    pub parent: Option<ReadBy<ParentOffsets>>,
    /// --container: the hierarchy that names a task's cgroup, and the way
    /// there from the current task.
    pub cgroup: Option<(Hierarchy, ReadBy<CgroupOffsets>)>,
}

/// How --ppid and --container learn who made a connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadBy<T> {
    /// The programs, at the connect, through these offsets (from BTF).
    Kernel(T),
    /// User space, from /proc when the line is printed: the kernel has no
    /// BTF that locates them.
    Proc,
}

impl<T: Copy> ReadBy<T> {
    /// The offsets, where the programs read it.
    pub fn kernel(&self) -> Option<T> {
        match self {
            ReadBy::Kernel(offsets) => Some(*offsets),
            ReadBy::Proc => None,
        }
    }
}

impl Prepared {
    /// Checks the host and chooses the transport (saying which through `log`).
    pub fn new(plan: &Plan, log: Log<'_>) -> Result<Prepared, Error> {
        let object = parse_object(EMBEDDED_OBJECT)?;
        raise_memlock_limit_if_needed()?;
        let possible = read_cpu_list(POSSIBLE)?;
        let online = read_cpu_list(ONLINE)?;
        if crate::host::lockdown::forbids_tracing() {
            return Err(Error::Lockdown { mode: "confidentiality".into() });
        }
        let tracefs = Tracefs::open()?;
        let btf = LazyBtf::new(&plan.overrides.btf);
        let page = page_size();
        let (transport, line) = choose_transport(
            plan.overrides.perf_transport,
            || probe_ringbuf(page),
            plan.ring_kib,
            page,
            possible.len(),
        );
        log(format_args!("{line}"));
        let dns = dns_source(plan, &btf);
        let parent = plan.columns.ppid.then(|| parent_offsets(&btf, log));
        let cgroup = match plan.columns.container {
            true => Some(cgroup_offsets(&btf, log)?),
            false => None,
        };
        Ok(Prepared { object, possible, online, tracefs, btf, transport, dns, parent, cgroup })
    }

    /// The ring buffer's wakeup, where events go through it.
    pub fn ring_wakeup(&self) -> Option<RingWakeup> {
        self.transport.wakeup()
    }

    /// -d's packet socket line, where the run decided on it up front.
    pub fn say_packet_dns(&self, log: Log<'_>) {
        if let DnsSource::Packet(reason) = &self.dns {
            log(format_args!("{}", packet_line(reason)));
        }
    }
}

/// The -v line of a run whose -d uses the packet socket, and why.
pub(super) fn packet_line(reason: &str) -> String {
    format!("dns: a packet socket, this network namespace only ({reason})")
}

/// -d: the kernel reads the answers where BTF gives the offsets, unless the
/// switch asks for the packet socket (then BTF is not read for it).
fn dns_source(plan: &Plan, btf: &LazyBtf) -> DnsSource {
    if !plan.dns {
        return DnsSource::Off;
    }
    if plan.overrides.packet_dns {
        return DnsSource::Packet("TCPCONNECT_DNS=packet".to_owned());
    }
    match btf.get().and_then(|btf| namespaces::dns_from_btf(btf).map_err(|e| e.to_string())) {
        Ok(offsets) => DnsSource::Kernel(offsets),
        Err(reason) => DnsSource::Packet(format!("no BTF for the network namespace of a task: {reason}")),
    }
}

/// Where BPF memory counts against RLIMIT_MEMLOCK (upstream before 5.11, and
/// enterprise kernels of any version), its default (64 KiB on RHEL and many
/// others) is too small: raise it. Raising is harmless where the kernel
/// does not charge it, so the kernel is asked only when raising fails.
fn raise_memlock_limit_if_needed() -> Result<(), Error> {
    let Err(error) = raise_memlock_limit() else {
        return Ok(());
    };
    match kernel_charges_memlock() {
        Some(true) => Err(Error::MemlockLimit { error }),
        // Not charged; or no map can be made at all, which the loads say.
        Some(false) | None => Ok(()),
    }
}

/// What /proc cannot promise, said with -v where it stands in for BTF.
const FROM_PROC: &str = "read from /proc when its line is printed: a process gone by then is not named";

/// --ppid's offsets, from BTF (no connect of ours reveals them); else
/// /proc. Said through `log`.
fn parent_offsets(btf: &LazyBtf, log: Log<'_>) -> ReadBy<ParentOffsets> {
    match btf.get().and_then(|btf| identity::parent_from_btf(btf).map_err(|e| e.to_string())) {
        Ok(offsets) => {
            log(format_args!("--ppid: each connect's parent read in the kernel as it connects"));
            ReadBy::Kernel(offsets)
        }
        Err(reason) => {
            log(format_args!("--ppid: each connect's parent {FROM_PROC} (no BTF for it: {reason})"));
            ReadBy::Proc
        }
    }
}

/// --container's hierarchy and offsets (from BTF; else /proc), said
/// through `log`.
fn cgroup_offsets(btf: &LazyBtf, log: Log<'_>) -> Result<(Hierarchy, ReadBy<CgroupOffsets>), Error> {
    let hierarchy = cgroup_hierarchy::choose(&mountinfo::mounts()).ok_or(Error::NoCgroupHierarchy)?;
    match btf.get().and_then(|btf| identity::cgroup_from_btf(btf, &hierarchy).map_err(|e| e.to_string())) {
        Ok(offsets) => {
            log(format_args!(
                "--container: each connect's cgroup in {hierarchy}, read in the kernel as it connects"
            ));
            Ok((hierarchy, ReadBy::Kernel(offsets)))
        }
        Err(reason) => {
            log(format_args!(
                "--container: each connect's cgroup in {hierarchy}, {FROM_PROC} (no BTF for it: {reason})"
            ));
            Ok((hierarchy, ReadBy::Proc))
        }
    }
}
