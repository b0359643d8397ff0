//! One attempt to attach on a chosen path: the session (maps, rings), -d's
//! programs or packet socket, then the path's own programs, loaded and
//! attached. On failure everything it made is released, and the error says
//! whether another path could do better (`Failed::Path`) or not.

use super::attachment::{Attached, Real};
use super::choice::{KprobePlan, TracepointPlan};
use super::dns_programs;
use super::kprobe_path;
use super::log::Log;
use super::maps::{entries_by_cpu_id, map_index, tally_entries};
use super::prepared::Prepared;
use super::session::Session;
use super::tracepoint_path::start_tracepoint;
use crate::abi;
use crate::error::Error;
use crate::plan::Plan;
use crate::sys::epoll::Epoll;
use crate::sys::mapped_array::MappedArray;

/// -d where the kernel cannot read the answers: opens the caller's packet
/// capture, before any connect program attaches (called again, for a
/// second attempt, it must do nothing more).
pub type PacketDns<'a> = &'a mut dyn FnMut() -> Result<(), Error>;

/// Why an attempt on one path failed.
pub(super) enum Failed {
    /// Before anything of the path's own (pinned maps, maps, rings): any
    /// other path would fail the same way.
    Common(Error),
    /// The path's programs could not be prepared, loaded or attached.
    Path(Error),
}

impl Failed {
    pub fn into_error(self) -> Error {
        match self {
            Failed::Common(error) | Failed::Path(error) => error,
        }
    }
}

/// The way in an attempt takes.
pub(super) enum Path {
    Tracepoint(TracepointPlan),
    Kprobe(KprobePlan),
}

/// What an attempt says where: the path's lines to `log`, -d's line to
/// `dns_log` (a second attempt's is quiet: the first said it).
pub(super) struct Logs<'a> {
    pub log: Log<'a>,
    pub dns_log: Log<'a>,
}

/// One attempt on `path`.
pub(super) fn attempt(
    host: &Prepared,
    plan: &Plan,
    path: &Path,
    epoll: &Epoll,
    logs: &Logs<'_>,
    packet_dns: PacketDns<'_>,
) -> Result<Attached<Real>, Failed> {
    let Logs { log, dns_log } = *logs;
    let kprobes = matches!(path, Path::Kprobe(_));
    let mut session = Session::open(host, plan, kprobes, epoll).map_err(Failed::Common)?;
    host.say_packet_dns(dns_log);
    // Before the connect programs, whose events carry the namespace only
    // where the DNS programs run; else the packet capture opens now.
    let dns = dns_programs::start(&mut session, plan.overrides.syscall_dns, dns_log);
    if plan.dns && dns.is_none() {
        packet_dns().map_err(Failed::Common)?;
    }
    let (mut progs, mut attachments) = match path {
        Path::Kprobe(kprobes) => kprobe_path::start(&mut session, kprobes, log),
        Path::Tracepoint(tracepoint) => start_tracepoint(&mut session, tracepoint, log),
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
    // With --result the pending map only carries the port to the waiting
    // event: the inflight map has every connect.
    let pending = (session.constants.lport_defer && !session.constants.result)
        .then(|| map_index(&host.object, abi::MAP_PENDING))
        .transpose()
        .map_err(Failed::Common)?;
    let tallies = map_index(&host.object, abi::MAP_TALLIES).map_err(Failed::Common)?;
    let possible_cpus = entries_by_cpu_id(&host.possible);
    let Session { maps, rings, .. } = session;
    // Err where the map could not be made mmapable (before 5.5): read with
    // bpf(2) lookups instead.
    let tallies_mapped = MappedArray::read_only(&maps[tallies], tally_entries(&host.possible)).ok();
    Ok(Attached {
        attachments,
        _progs: progs,
        rings,
        events,
        counts,
        inflight,
        pending,
        dns_events,
        tallies,
        possible_cpus,
        tallies_mapped,
        maps,
    })
}
