//! -d in the kernel: the DNS messages processes read, in every network
//! namespace, taken from the caller's buffer as recvfrom(2), recvmsg(2) or
//! read(2) returns (syscall tracepoints: fields from tracefs, the buffer and
//! the sender's address through UAPI structs; for a read that names no
//! sender, the socket behind the fd, through BTF), with the reader's
//! network namespace (from BTF). Only an answer some process read counts, whole,
//! however it travelled (IPv6, fragments). It needs BTF (the namespace) and
//! the syscall tracepoints (CONFIG_FTRACE_SYSCALLS); where either is
//! missing, or with TCPCONNECT_DNS=packet, -d falls back to the packet
//! socket of `crate::dns`, which sees this namespace only.
//!
//! Why not the kernel's receive path: skb:skb_copy_datagram_iovec does not
//! fire for a linear UDP datagram (udp_recvmsg copies it with
//! copy_linear_skb: seen on 6.18, no event for a loopback DNS exchange),
//! and skb:consume_skb neither (UDP frees through skb_attempt_defer_free);
//! kprobes on udp_recvmsg, bcc's way, do not exist on kernels without
//! CONFIG_KPROBES, and the syscall tracepoints do on both attach paths.
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
use crate::attach::tracepoint::attach_tracepoint;
use crate::error::Error;
use crate::perf::PerfBuffers;
use crate::sys::perf_event::page_size;
use crate::uapi::BPF_PROG_TYPE_TRACEPOINT;
use std::os::fd::{AsFd, OwnedFd};

/// Data pages of each CPU's DNS ring: 32 messages of the largest size kept
/// (4 KiB), over a thousand common ones (60 to 100 bytes).
pub(super) const DNS_RING_PAGES: usize = 32;

/// The -v line of a run whose DNS answers are read in the kernel.
const KERNEL_LINE: &str = "dns: answers as processes read them, in every network namespace \
     (tracepoints syscalls:sys_{enter,exit}_{recvfrom,recvmsg,read})";

/// What `start` made: the programs, their links and their rings.
pub(super) struct DnsCapture {
    pub progs: Vec<OwnedFd>,
    pub links: Vec<Attachment>,
    /// One perf ring per CPU in `dns_events`, registered with the run's epoll.
    pub rings: PerfBuffers,
}

/// Where `session.constants.dns` is set (the plan asked for -d and BTF gave
/// the offsets): loads the DNS programs, opens their rings and attaches them,
/// before any connect program, so no answer a traced connect used is
/// missed. On any failure, -d falls back to the packet socket: the
/// constants lose `dns` (connects then carry no namespace) and -v says why.
pub(super) fn start(session: &mut Session, log: Log<'_>) -> Option<DnsCapture> {
    session.constants.dns?;
    match try_start(session) {
        Ok(capture) => {
            log(format_args!("{KERNEL_LINE}"));
            Some(capture)
        }
        Err(reason) => {
            session.constants.dns = None;
            log(format_args!("{}", packet_line(&reason)));
            None
        }
    }
}

fn try_start(session: &Session) -> Result<DnsCapture, String> {
    let first_line = |e: Error| e.first_line();
    let events = map_index(session.object, abi::MAP_DNS_EVENTS).map_err(first_line)?;
    // A ring wakes the reader once half of it is full, so a burst of answers
    // is read before it overflows (a 70000/s burst overran the 100 ms drain
    // alone), and a common answer costs no wakeup of its own (a wakeup every
    // 16 answers added about 0.9 µs to each, measured by tools/bench).
    let half_ring = (DNS_RING_PAGES * page_size() / 2) as u32;
    let buffers = PerfBuffers::open_waking_at_bytes(
        &session.maps[events],
        session.online,
        DNS_RING_PAGES,
        half_ring,
        session.epoll,
    )
    .map_err(|e| format!("cannot open the DNS perf rings: {e}"))?;
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
    Ok(DnsCapture { progs, links, rings: buffers })
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
    }
}
