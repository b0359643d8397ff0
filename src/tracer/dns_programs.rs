//! -d in the kernel: the DNS answers of every network namespace, with the
//! namespace of the socket or process they went to, taken by one of two
//! hooks, whichever loads first:
//!
//! - **As the kernel delivers them** (`PROG_DNS_SKB`): a cgroup_skb ingress
//!   program on the root of the cgroup v2 hierarchy runs for each packet a
//!   socket of the host receives, as it is queued, and sends the UDP
//!   datagrams from port 53 that look like DNS responses, with the
//!   receiving socket's namespace (from BTF). It costs nothing on any
//!   syscall; each received packet pays a look at its headers. It needs a
//!   cgroup v2 mount, BPF links on cgroups (5.7: a killed run leaves
//!   nothing attached, which BPF_PROG_ATTACH would) and a kernel that lets
//!   a cgroup_skb program read kernel memory (bpf_probe_read_kernel): the
//!   load and the attach are the probe. It sees delivery, not the read: an
//!   answer nobody reads (a late duplicate to a socket still open) is
//!   remembered too, and an answer counts from when it was queued.
//! - **As processes read them** (`abi::DNS_READ_PROGRAMS`): programs on the
//!   recvfrom(2), recvmsg(2) and read(2) syscall tracepoints take each
//!   message from the caller's buffer as the call returns (the buffer and
//!   sender through UAPI structs; for a read that names no sender, the
//!   socket behind the fd, through BTF), with the reader's namespace. While
//!   a syscall tracepoint is enabled every syscall of every process takes
//!   the kernel's slower traced path, and every read(2) of the host runs a
//!   program: this is the fallback, or what TCPCONNECT_DNS=syscalls asks for.
//!
//! Both need BTF; where neither loads, or with TCPCONNECT_DNS=packet, -d
//! falls back to the packet socket of `crate::dns`, which sees this
//! namespace only.
//!
//! Why not skb:skb_copy_datagram_iovec: it does not fire for a linear UDP
//! datagram (udp_recvmsg copies it with copy_linear_skb: seen on 6.18, no
//! event for a loopback DNS exchange), and skb:consume_skb neither (UDP
//! frees through skb_attempt_defer_free); kprobes on udp_recvmsg, bcc's
//! way, do not exist on kernels without CONFIG_KPROBES.
//!
//! The messages come through a perf event array of their own, read when
//! connects are formatted (`Rings::drain_dns`): a process reads its answer
//! before it connects, so the answer a drained connect used was written to
//! its ring before the connect's event was. A ring also wakes the reader
//! when half full, so a burst of answers is read before it overflows.

use super::attachment::Attachment;
use super::log::Log;
use super::maps::map_index;
use super::prepared::packet_line;
use super::session::Session;
use super::tracepoint_path::field_layouts;
use crate::abi;
use crate::attach::cgroup::attach_cgroup_ingress;
use crate::attach::tracepoint::attach_tracepoint;
use crate::error::Error;
use crate::escape::escaped;
use crate::host::cgroup_v2;
use crate::perf::PerfBuffers;
use crate::sys::perf_event::page_size;
use crate::uapi::{BPF_PROG_TYPE_CGROUP_SKB, BPF_PROG_TYPE_TRACEPOINT};
use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Data pages of each CPU's DNS ring: 32 messages of the largest size kept
/// (4 KiB), over a thousand common ones (60 to 100 bytes).
pub(super) const DNS_RING_PAGES: usize = 32;

/// The -v line of a run whose DNS answers are taken as processes read them.
const READ_LINE: &str = "dns: answers as processes read them, in every network namespace \
     (tracepoints syscalls:sys_{enter,exit}_{recvfrom,recvmsg,read})";

/// The -v line of a run whose DNS answers are taken as they are delivered.
fn delivery_line(root: &Path) -> String {
    format!(
        "dns: answers as the kernel delivers them to sockets, in every network namespace \
         (cgroup_skb ingress on the cgroup v2 root {})",
        escaped(&root.to_string_lossy())
    )
}

/// What `start` made: the programs, their links and their rings.
pub(super) struct DnsCapture {
    pub progs: Vec<OwnedFd>,
    pub links: Vec<Attachment>,
    /// One perf ring per CPU in `dns_events`, registered with the run's epoll.
    pub rings: PerfBuffers,
}

/// Where `session.constants.dns` is set (the plan asked for -d and BTF gave
/// the offsets): opens the DNS rings and attaches the delivery program,
/// else (or with `read_hook`, TCPCONNECT_DNS=syscalls) the read programs,
/// before any connect program, so no answer a traced connect used is
/// missed. Where neither can, -d falls back to the packet socket: the
/// constants lose `dns` (connects then carry no namespace). -v says which,
/// and why not the better one.
pub(super) fn start(session: &mut Session, read_hook: bool, log: Log<'_>) -> Option<DnsCapture> {
    session.constants.dns?;
    let attached = open_rings(session).and_then(|rings| {
        let delivery = match read_hook {
            true => Err("TCPCONNECT_DNS=syscalls".to_owned()),
            false => attach_delivery(session),
        };
        match delivery {
            Ok((prog, link, root)) => {
                log(format_args!("{}", delivery_line(&root)));
                Ok(DnsCapture { progs: vec![prog], links: vec![link], rings })
            }
            Err(reason) => {
                log(format_args!("dns: no program on delivered datagrams: {reason}"));
                let (progs, links) = attach_reads(session)?;
                log(format_args!("{READ_LINE}"));
                Ok(DnsCapture { progs, links, rings })
            }
        }
    });
    match attached {
        Ok(capture) => Some(capture),
        Err(reason) => {
            session.constants.dns = None;
            log(format_args!("{}", packet_line(&reason)));
            None
        }
    }
}

fn open_rings(session: &Session) -> Result<PerfBuffers, String> {
    let events = map_index(session.object, abi::MAP_DNS_EVENTS).map_err(|e| e.first_line())?;
    // A ring wakes the reader once half of it is full, so a burst of answers
    // is read before it overflows (a 70000/s burst overran the 100 ms drain
    // alone), and a common answer costs no wakeup of its own (a wakeup every
    // 16 answers added about 0.9 µs to each, measured by tools/bench).
    let half_ring = (DNS_RING_PAGES * page_size() / 2) as u32;
    PerfBuffers::open_waking_at_bytes(
        &session.maps[events],
        session.online,
        DNS_RING_PAGES,
        half_ring,
        session.epoll,
    )
    .map_err(|e| format!("cannot open the DNS perf rings: {e}"))
}

/// The cgroup_skb program on the root of the cgroup v2 hierarchy, and the
/// root's path.
fn attach_delivery(session: &Session) -> Result<(OwnedFd, Attachment, PathBuf), String> {
    let offsets = session.constants.dns.unwrap_or_default();
    if offsets.sock_net.is_none() {
        return Err("BTF has no sock_common.skc_net (a kernel without network namespaces)".into());
    }
    let root = cgroup_v2::open_root()?;
    let prog = session
        .load(abi::PROG_DNS_SKB, BPF_PROG_TYPE_CGROUP_SKB, &session.constants, &HashMap::new(), 0)
        .map_err(refusal)?;
    let link = attach_cgroup_ingress(prog.as_fd(), root.dir.as_fd()).map_err(|e| {
        let shown = escaped(&root.path.to_string_lossy()).into_owned();
        match e.errno() {
            libc::EINVAL => {
                format!("this kernel has no BPF links on cgroups (upstream Linux added them in 5.7): {e}")
            }
            libc::EPERM => format!("attaching to the cgroup v2 root {shown} needs CAP_NET_ADMIN: {e}"),
            _ => format!("cannot attach to the cgroup v2 root {shown}: {e}"),
        }
    })?;
    Ok((prog, Attachment::Cgroup(link), root.path))
}

/// Why the delivery program did not load, in one line: with the verifier's
/// reason where it gave one (a kernel without a helper for cgroup_skb
/// programs says which), not its statistics.
fn refusal(e: Error) -> String {
    let reason = match &e {
        // The program type itself is refused before the verifier runs.
        Error::ProgLoad { error, .. }
            if error.verifier_log.trim().is_empty() && error.error.errno() == libc::EINVAL =>
        {
            return "this kernel has no cgroup_skb programs (CONFIG_CGROUP_BPF): bpf(BPF_PROG_LOAD) refused the \
                    type before the verifier ran"
                .to_owned();
        }
        Error::ProgLoad { error, .. } => error
            .verifier_log
            .lines()
            .map(str::trim)
            .rfind(|l| {
                !l.is_empty()
                    && !["processed ", "verification time", "stack depth"].iter().any(|p| l.starts_with(p))
            })
            .map(|l| escaped(l).into_owned()),
        _ => None,
    };
    match reason {
        Some(reason) => format!("{} (verifier: {reason})", e.first_line()),
        None => e.first_line(),
    }
}

/// The programs on the syscall tracepoints of reads, with their links.
fn attach_reads(session: &Session) -> Result<(Vec<OwnedFd>, Vec<Attachment>), String> {
    let first_line = |e: Error| e.first_line();
    let (mut progs, mut links) = (Vec::new(), Vec::new());
    // Exits first: no thread is marked as reading without the program that
    // takes the mark away.
    for abi::DnsReadProgram { section, tracepoint: (category, name), fields: markers } in
        abi::DNS_READ_PROGRAMS
    {
        let tracepoint = format!("{category}:{name}");
        let fields = session
            .tracefs
            .tracepoint_fields(category, name)
            .map_err(|e| format!("no tracepoint {tracepoint} (CONFIG_FTRACE_SYSCALLS): {e}"))?;
        let layouts = field_layouts((category, name), markers, &fields).map_err(first_line)?;
        let id = session.tracefs.tracepoint_id(category, name).map_err(|e| e.to_string())?;
        let prog = session
            .load(section, BPF_PROG_TYPE_TRACEPOINT, &session.constants, &layouts, 0)
            .map_err(first_line)?;
        let link = attach_tracepoint(id, prog.as_fd(), session.attach_cpu())
            .map_err(|e| format!("cannot attach to tracepoint {tracepoint}: {e}"))?;
        progs.push(prog);
        links.push(Attachment::Perf(link));
    }
    Ok((progs, links))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_program_is_in_the_object_with_its_markers() {
        let object = crate::loader::parse_object(crate::loader::EMBEDDED_OBJECT).unwrap();
        for program in abi::DNS_READ_PROGRAMS {
            assert!(object.program(program.section).is_some(), "{}", program.section);
            assert!(!program.fields.is_empty());
        }
        assert!(object.program(abi::PROG_DNS_SKB).is_some());
    }
}
