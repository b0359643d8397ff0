//! What a run holds in the kernel, and the order it lets go of it: the
//! attachments (a program on its hook, one of four kinds of link), the
//! programs, the rings and the maps. Every attach path fills the same
//! `Attached`; dropping it is the teardown, tested here with stand-ins.

use super::rings::Rings;
use crate::attach::cgroup::CgroupLink;
use crate::attach::kprobe::KprobeLink;
use crate::attach::raw_tracepoint::RawTracepointLink;
use crate::attach::PerfLink;
use crate::sys::bpf::Map;
use crate::sys::mapped_array::MappedArray;
use crate::tracefs::Tracefs;
use std::os::fd::OwnedFd;

/// A program attached one way or the other.
pub enum Attachment {
    /// Held for its Drop, which detaches.
    #[allow(dead_code)]
    Perf(PerfLink),
    Kprobe(KprobeLink),
    #[allow(dead_code)]
    Raw(RawTracepointLink),
    #[allow(dead_code)]
    Cgroup(CgroupLink),
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
pub(super) struct Attached<K: Objects> {
    pub attachments: Vec<K::Link>,
    pub _progs: Vec<K::Prog>,
    pub rings: K::Rings,
    /// Index of the perf event array in `maps`.
    pub events: usize,
    /// Index of the -c counts map in `maps`.
    pub counts: Option<usize>,
    /// Index of the map of connects waiting for their handshake to end
    /// (--result, or -L on the tracepoint path).
    pub inflight: Option<usize>,
    /// -L without --result: index of the map of events held until their
    /// connect(2) returns.
    pub pending: Option<usize>,
    /// -d in the kernel: index of the DNS perf event array in `maps`.
    pub dns_events: Option<usize>,
    /// Index of the programs' tallies (losses; with -v what they saw,
    /// filtered and sent) in `maps`, and how many CPUs it has entries for.
    pub tallies: usize,
    pub possible_cpus: u32,
    /// The tallies mapped read-only, where the kernel could (5.5).
    pub tallies_mapped: Option<MappedArray>,
    pub maps: Vec<K::Map>,
}
