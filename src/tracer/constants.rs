//! The load-time constants of the BPF programs (the `CONST(name)` undefined
//! symbols of the BPF source, tcpconnect.bpf.c and its parts), as one typed value. Each run fills it from
//! its plan and what it learns of the kernel (offsets from BTF or
//! calibration); `symbols` is the one place where a field meets the name
//! of its symbol in the object, and a test checks those names against the
//! embedded object.

use crate::abi;
use crate::layout::identity::{CgroupOffsets, ParentOffsets};
use crate::layout::namespaces::{DnsOffsets, MntnsOffsets};
use crate::layout::socket::{SockOffsets, SocketLayout};
use crate::layout::task::TaskOffsets;
use crate::plan::{Filters, Plan};
use crate::uapi;
use std::collections::HashMap;

/// Every constant the programs read. Zero (false, None) is what a program
/// that does not need a value is linked with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Constants {
    /// -p: only this process (tgid).
    pub pid: Option<u32>,
    /// -u: only this user.
    pub uid: Option<u32>,
    /// A line shows the connecting task's uid (-U, -j). The programs read
    /// it then or for -u's filter (`symbols` adds that); else it is 0 and
    /// they skip the helper call.
    pub shows_uid: bool,
    /// -P: the ports map holds the destination ports to keep.
    pub filter_ports: bool,
    /// -4 / -6: only this IP version (0: both).
    pub only_ip: u8,
    /// --cgroupmap / --mntnsmap: the pinned filter map stands in its place.
    pub filter_cgroup: bool,
    pub filter_mntns: bool,
    /// -c: count in the kernel instead of sending events.
    pub count: bool,
    /// -L on the tracepoint path: hold each event until connect(2) returns.
    pub lport_defer: bool,
    /// --result: each connect goes out when its handshake ends, as an outcome.
    pub result: bool,
    /// --failed: outcomes other than established only.
    pub failed: bool,
    /// The sk_err calibration: the destination port of its own connects.
    pub calib_port: u16,
    /// --mntnsmap: task_struct.nsproxy, nsproxy.mnt_ns, mnt_namespace.ns.inum.
    pub mntns: MntnsOffsets,
    /// Where struct sock keeps what the kprobe and raw tracepoint programs read.
    pub socket: SocketConstants,
    /// Where the current task keeps what the BTF tracepoint program reads.
    pub task: TaskOffsets,
    /// Events go through the BPF ring buffer (else the perf event arrays),
    /// whose reader is woken once this many bytes wait in it.
    pub ringbuf: Option<RingWakeup>,
    /// -d in the kernel: events carry the task's network namespace, found
    /// through these.
    pub dns: Option<DnsOffsets>,
    /// -v: the programs tally what they see, filter out and send.
    pub count_stats: bool,
    /// Connect events carry the time: for -t, -d and --result, events held
    /// in a map before they are sent (the kprobe path, -L), and the merge
    /// of the per-CPU perf rings. The BPF ring buffer alone keeps events in
    /// the order they were made without it.
    pub clock: bool,
    /// --ppid: events carry the parent's tgid and comm, found through these.
    pub parent: Option<ParentOffsets>,
    /// --container: events carry the task's cgroup (kernfs id and name) in
    /// the hierarchy these lead to.
    pub cgroup: Option<CgroupOffsets>,
}

/// The ring buffer transport: wake the reader once `bytes` wait in the ring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RingWakeup {
    pub bytes: u64,
}

/// Offsets in struct sock: the IPv6 addresses (kprobe and raw tracepoint
/// paths), sk_protocol and inet_sport (raw tracepoint only).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SocketConstants {
    pub v6_daddr: u32,
    pub v6_rcv_saddr: u32,
    pub sk_protocol: u32,
    pub inet_sport: u32,
    /// struct sock.sk_err (--result).
    pub sk_err: u32,
}

impl Constants {
    /// The constants of `plan` on the kprobe path or not, with the ring
    /// buffer's wakeup where events go through it; no offsets yet (the
    /// session adds what BTF or calibration finds). Each field is named as
    /// the plan names it.
    pub fn for_plan(plan: &Plan, kprobes: bool, ringbuf: Option<RingWakeup>) -> Constants {
        Constants {
            count: plan.count,
            shows_uid: plan.columns.print_uid || plan.columns.json,
            lport_defer: plan.lport_defer && !kprobes,
            result: plan.result,
            failed: plan.failed,
            count_stats: plan.verbose,
            ringbuf,
            clock: ringbuf.is_none()
                || kprobes
                || plan.lport_defer
                || plan.result
                || plan.dns
                || plan.columns.timestamp
                // --ppid/--container read from /proc tell a reused PID by it.
                || plan.columns.ppid
                || plan.columns.container,
            ..Constants::for_filters(&plan.filters)
        }
    }

    /// These filters; every mode off, no offsets.
    pub fn for_filters(filters: &Filters) -> Constants {
        Constants {
            pid: filters.pid,
            uid: filters.uid,
            filter_ports: !filters.ports.is_empty(),
            only_ip: filters.family.unwrap_or(0),
            filter_cgroup: filters.cgroup_map.is_some(),
            filter_mntns: filters.mntns_map.is_some(),
            ..Constants::default()
        }
    }

    /// These constants with the IPv6 address offsets of struct sock.
    pub fn with_v6_offsets(self, v6: SockOffsets) -> Constants {
        let socket = SocketConstants { v6_daddr: v6.v6_daddr, v6_rcv_saddr: v6.v6_rcv_saddr, ..self.socket };
        Constants { socket, ..self }
    }

    /// These constants with the whole socket layout the raw tracepoint reads.
    pub fn with_socket_layout(self, layout: &SocketLayout) -> Constants {
        let socket = SocketConstants {
            v6_daddr: layout.v6.v6_daddr,
            v6_rcv_saddr: layout.v6.v6_rcv_saddr,
            sk_protocol: layout.sk_protocol,
            inet_sport: layout.inet_sport,
            ..self.socket
        };
        Constants { socket, ..self }
    }

    /// --ppid or --container: events are identity events.
    pub fn identity(&self) -> bool {
        self.parent.is_some() || self.cgroup.is_some()
    }

    /// Whether connects wait in the inflight map for their socket to leave
    /// SYN_SENT: every one with --result, and -L's made outside connect(2).
    pub fn waits_for_handshakes(&self) -> bool {
        self.result || self.lport_defer
    }

    /// Each constant by the name of its symbol in the object, as the
    /// loader writes them into the programs.
    pub fn symbols(&self) -> HashMap<&'static str, u64> {
        let Constants {
            pid,
            uid,
            shows_uid,
            filter_ports,
            only_ip,
            filter_cgroup,
            filter_mntns,
            count,
            lport_defer,
            result,
            failed,
            calib_port,
            mntns,
            socket,
            task,
            ringbuf,
            dns,
            count_stats,
            clock,
            parent,
            cgroup,
        } = *self;
        // --mntnsmap and -d follow the same task_struct.nsproxy, from the
        // same BTF: whichever is on gives it.
        let task_nsproxy = match dns {
            Some(d) if !filter_mntns => d.task_nsproxy,
            _ => mntns.task_nsproxy,
        };
        let d = dns.unwrap_or_default();
        // The BTF tracepoint program's task offsets and --ppid's parent
        // offsets are the same members of the same BTF.
        let tgid = parent.map_or(task.tgid, |p| p.tgid);
        let comm = parent.map_or(task.comm, |p| p.comm);
        let cg = cgroup.unwrap_or_default();
        HashMap::from([
            (abi::CONST_FILTER_PID, pid.is_some() as u64),
            (abi::CONST_TARGET_PID, pid.unwrap_or(0).into()),
            (abi::CONST_FILTER_UID, uid.is_some() as u64),
            (abi::CONST_TARGET_UID, uid.unwrap_or(0).into()),
            (abi::CONST_READ_UID, (shows_uid || uid.is_some()) as u64),
            (abi::CONST_FILTER_PORTS, filter_ports as u64),
            (abi::CONST_ONLY_IP, only_ip.into()),
            (abi::CONST_FILTER_CGROUP, filter_cgroup as u64),
            (abi::CONST_FILTER_MNTNS, filter_mntns as u64),
            (abi::CONST_COUNT_MODE, count as u64),
            (abi::CONST_LPORT_DEFER, lport_defer as u64),
            (abi::CONST_RESULT_MODE, result as u64),
            (abi::CONST_ONLY_FAILED, failed as u64),
            (abi::CONST_CALIB_PORT, calib_port.into()),
            (abi::CONST_SK_ERR, socket.sk_err.into()),
            (abi::CONST_TASK_NSPROXY, task_nsproxy.into()),
            (abi::CONST_NSPROXY_MNT_NS, mntns.nsproxy_mnt_ns.into()),
            (abi::CONST_MNT_NS_INUM, mntns.mnt_ns_inum.into()),
            (abi::CONST_SKC_V6_DADDR, socket.v6_daddr.into()),
            (abi::CONST_SKC_V6_RCV_SADDR, socket.v6_rcv_saddr.into()),
            (abi::CONST_SK_PROTOCOL, socket.sk_protocol.into()),
            (abi::CONST_INET_SPORT, socket.inet_sport.into()),
            (abi::CONST_TASK_TGID, tgid.into()),
            (abi::CONST_TASK_PID, task.pid.into()),
            (abi::CONST_TASK_COMM, comm.into()),
            (abi::CONST_TASK_CRED, task.cred.into()),
            (abi::CONST_CRED_UID, task.cred_uid.into()),
            (abi::CONST_USE_RINGBUF, ringbuf.is_some() as u64),
            (abi::CONST_RING_WAKEUP_BYTES, ringbuf.map_or(0, |r| r.bytes)),
            (abi::CONST_READ_CLOCK, clock as u64),
            (abi::CONST_COUNT_STATS, count_stats as u64),
            (abi::CONST_DNS_NETNS, dns.is_some() as u64),
            (abi::CONST_NSPROXY_NET_NS, d.nsproxy_net_ns.into()),
            (abi::CONST_NET_INUM, d.net_inum.into()),
            (abi::CONST_TASK_FILES, d.fd.task_files.into()),
            (abi::CONST_FILES_FDT, d.fd.files_fdt.into()),
            (abi::CONST_FDT_FD, d.fd.fdt_fd.into()),
            (abi::CONST_FDT_MAX_FDS, d.fd.fdt_max_fds.into()),
            (abi::CONST_FILE_F_INODE, d.fd.file_f_inode.into()),
            (abi::CONST_FILE_PRIVATE_DATA, d.fd.file_private_data.into()),
            (abi::CONST_INODE_I_MODE, d.fd.inode_i_mode.into()),
            (abi::CONST_SOCKET_SK, d.fd.socket_sk.into()),
            (abi::CONST_DNS_SK_PROTOCOL, d.queue.sock_protocol.into()),
            (abi::CONST_DNS_SK_PROTOCOL_MASK, d.queue.sock_protocol_mask.into()),
            (abi::CONST_SK_RECEIVE_QUEUE, d.queue.sock_receive_queue.into()),
            (abi::CONST_UDP_READER_QUEUE, d.queue.udp_reader_queue.into()),
            (abi::CONST_SKB_HEAD, d.queue.skb_head.into()),
            (abi::CONST_SKB_TRANSPORT_HEADER, d.queue.skb_transport_header.into()),
            (abi::CONST_SK_NET, d.sock_net.unwrap_or(0).into()),
            (abi::CONST_IDENTITY, (parent.is_some() || cgroup.is_some()) as u64),
            (abi::CONST_READ_PARENT, parent.is_some() as u64),
            (abi::CONST_READ_CGROUP, cgroup.is_some() as u64),
            (abi::CONST_TASK_REAL_PARENT, parent.unwrap_or_default().real_parent.into()),
            (abi::CONST_TASK_GROUP_LEADER, parent.unwrap_or_default().group_leader.into()),
            (abi::CONST_TASK_CGROUPS, cg.task_cgroups.into()),
            (abi::CONST_CSS_SET_CGROUP, cg.css_set_cgroup.into()),
            (abi::CONST_CGROUP_VIA_CSS, cg.via_css as u64),
            (abi::CONST_CSS_CGROUP, cg.css_cgroup.into()),
            (abi::CONST_CGROUP_KN, cg.cgroup_kn.into()),
            (abi::CONST_KN_ID, cg.kn_id.into()),
            (abi::CONST_KN_NAME, cg.kn_name.into()),
            (abi::CONST_KN_PARENT, cg.kn_parent.into()),
            (abi::CONST_KN_IATTR, cg.kn_iattr.into()),
            (abi::CONST_IATTRS_UID, cg.iattrs_uid.into()),
        ])
    }

    /// Helper calls the loader replaces with `r0 = 0`: those behind a filter
    /// (or the transport) that is off, which older kernels would refuse even
    /// in dead code.
    pub fn stubbed_helpers(&self) -> Vec<i32> {
        let mut stubbed = Vec::new();
        if self.ringbuf.is_none() {
            stubbed.extend([uapi::BPF_FUNC_RINGBUF_OUTPUT.id, uapi::BPF_FUNC_RINGBUF_QUERY.id]);
        }
        if !self.filter_cgroup {
            stubbed.push(uapi::BPF_FUNC_GET_CURRENT_CGROUP_ID.id);
        }
        if !self.filter_mntns && self.dns.is_none() && !self.identity() {
            stubbed.push(uapi::BPF_FUNC_GET_CURRENT_TASK.id);
        }
        if self.cgroup.is_none() {
            stubbed.push(uapi::BPF_FUNC_PROBE_READ_STR.id);
        }
        stubbed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::namespaces::FdOffsets;
    use crate::loader::{parse_object, RelocTarget, EMBEDDED_OBJECT};
    use std::collections::BTreeSet;

    #[test]
    fn the_symbols_are_exactly_the_constants_of_the_embedded_object() {
        let object = parse_object(EMBEDDED_OBJECT).unwrap();
        let in_object: BTreeSet<String> = object
            .programs
            .iter()
            .flat_map(|p| &p.relocations)
            .filter_map(|r| match &r.target {
                RelocTarget::Constant(name) => Some(name.to_string()),
                RelocTarget::Map(_) => None,
            })
            .collect();
        let ours: BTreeSet<String> = Constants::default().symbols().keys().map(|k| k.to_string()).collect();
        assert_eq!(ours, in_object);
    }

    #[test]
    fn each_field_lands_in_its_own_symbol() {
        let filters =
            Filters { pid: Some(7), uid: Some(8), ports: vec![1], family: Some(6), ..Filters::default() };
        let constants = Constants { count: true, ..Constants::for_filters(&filters) }
            .with_v6_offsets(SockOffsets { v6_daddr: 56, v6_rcv_saddr: 72 });
        let symbols = constants.symbols();
        let value = |name| symbols[name];
        assert_eq!((value(abi::CONST_FILTER_PID), value(abi::CONST_TARGET_PID)), (1, 7));
        assert_eq!((value(abi::CONST_FILTER_UID), value(abi::CONST_TARGET_UID)), (1, 8));
        // -u reads the uid for its filter though no line shows it.
        assert_eq!(value(abi::CONST_READ_UID), 1);
        assert_eq!(Constants::default().symbols()[abi::CONST_READ_UID], 0);
        assert_eq!((value(abi::CONST_FILTER_PORTS), value(abi::CONST_ONLY_IP)), (1, 6));
        assert_eq!((value(abi::CONST_COUNT_MODE), value(abi::CONST_LPORT_DEFER)), (1, 0));
        assert_eq!((value(abi::CONST_SKC_V6_DADDR), value(abi::CONST_SKC_V6_RCV_SADDR)), (56, 72));
        assert_eq!(value(abi::CONST_SK_PROTOCOL), 0);
        assert_eq!(
            constants.stubbed_helpers(),
            [
                uapi::BPF_FUNC_RINGBUF_OUTPUT.id,
                uapi::BPF_FUNC_RINGBUF_QUERY.id,
                uapi::BPF_FUNC_GET_CURRENT_CGROUP_ID.id,
                uapi::BPF_FUNC_GET_CURRENT_TASK.id,
                uapi::BPF_FUNC_PROBE_READ_STR.id,
            ]
        );
        assert_eq!((value(abi::CONST_USE_RINGBUF), value(abi::CONST_RING_WAKEUP_BYTES)), (0, 0));
    }

    #[test]
    fn the_task_offsets_land_in_theirs() {
        let task = TaskOffsets { tgid: 1, pid: 2, comm: 3, cred: 4, cred_uid: 5 };
        let symbols = Constants { task, ..Constants::default() }.symbols();
        let names = [
            abi::CONST_TASK_TGID,
            abi::CONST_TASK_PID,
            abi::CONST_TASK_COMM,
            abi::CONST_TASK_CRED,
            abi::CONST_CRED_UID,
        ];
        assert_eq!(names.map(|name| symbols[name]), [1, 2, 3, 4, 5]);
    }

    #[test]
    fn the_clock_is_read_wherever_something_reads_the_time() {
        let ring = Some(RingWakeup { bytes: 40960 });
        let clock = |plan: &Plan, kprobes, ringbuf| Constants::for_plan(plan, kprobes, ringbuf).clock;
        let default = Plan::default();
        assert!(!clock(&default, false, ring), "the default mode on the ring buffer");
        assert!(clock(&default, false, None), "the perf rings are merged by time");
        assert!(clock(&default, true, ring), "the kprobe path holds events until connect returns");
        let mut timestamp = Plan::default();
        timestamp.columns.timestamp = true;
        let others = [
            timestamp,
            Plan { dns: true, ..Plan::default() },
            Plan { result: true, ..Plan::default() },
            Plan { lport_defer: true, ..Plan::default() },
        ];
        for plan in others {
            assert!(clock(&plan, false, ring), "{plan:?}");
        }
        let symbols = Constants { clock: true, ..Constants::default() }.symbols();
        assert_eq!(
            (symbols[abi::CONST_READ_CLOCK], Constants::default().symbols()[abi::CONST_READ_CLOCK]),
            (1, 0)
        );
    }

    #[test]
    fn the_ring_buffer_keeps_its_helpers_and_sets_its_wakeup() {
        let constants = Constants { ringbuf: Some(RingWakeup { bytes: 40960 }), ..Constants::default() };
        let symbols = constants.symbols();
        assert_eq!((symbols[abi::CONST_USE_RINGBUF], symbols[abi::CONST_RING_WAKEUP_BYTES]), (1, 40960));
        assert_eq!(
            constants.stubbed_helpers(),
            [
                uapi::BPF_FUNC_GET_CURRENT_CGROUP_ID.id,
                uapi::BPF_FUNC_GET_CURRENT_TASK.id,
                uapi::BPF_FUNC_PROBE_READ_STR.id
            ]
        );
    }

    #[test]
    fn the_identity_offsets_land_in_theirs_and_keep_their_helpers() {
        let parent = ParentOffsets { real_parent: 1, group_leader: 13, tgid: 2, comm: 3 };
        let cgroup = CgroupOffsets {
            task_cgroups: 4,
            css_set_cgroup: 5,
            via_css: true,
            css_cgroup: 6,
            cgroup_kn: 7,
            kn_id: 8,
            kn_name: 9,
            kn_parent: 10,
            kn_iattr: 11,
            iattrs_uid: 12,
        };
        let ppid = Constants { parent: Some(parent), ..Constants::default() };
        let symbols = ppid.symbols();
        let value = |symbols: &HashMap<&str, u64>, names: &[&str]| {
            names.iter().map(|n| symbols[n]).collect::<Vec<_>>()
        };
        assert_eq!(
            value(&symbols, &[abi::CONST_IDENTITY, abi::CONST_READ_PARENT, abi::CONST_READ_CGROUP]),
            [1, 1, 0]
        );
        assert_eq!(
            value(
                &symbols,
                &[
                    abi::CONST_TASK_REAL_PARENT,
                    abi::CONST_TASK_TGID,
                    abi::CONST_TASK_COMM,
                    abi::CONST_TASK_GROUP_LEADER
                ]
            ),
            [1, 2, 3, 13]
        );
        assert!(!ppid.stubbed_helpers().contains(&uapi::BPF_FUNC_GET_CURRENT_TASK.id));
        assert!(ppid.stubbed_helpers().contains(&uapi::BPF_FUNC_PROBE_READ_STR.id));
        let container = Constants { cgroup: Some(cgroup), ..Constants::default() };
        let names = [
            abi::CONST_IDENTITY,
            abi::CONST_READ_PARENT,
            abi::CONST_READ_CGROUP,
            abi::CONST_TASK_CGROUPS,
            abi::CONST_CSS_SET_CGROUP,
            abi::CONST_CGROUP_VIA_CSS,
            abi::CONST_CSS_CGROUP,
            abi::CONST_CGROUP_KN,
            abi::CONST_KN_ID,
            abi::CONST_KN_NAME,
            abi::CONST_KN_PARENT,
            abi::CONST_KN_IATTR,
            abi::CONST_IATTRS_UID,
        ];
        assert_eq!(value(&container.symbols(), &names), [1, 0, 1, 4, 5, 1, 6, 7, 8, 9, 10, 11, 12]);
        assert!(!container.stubbed_helpers().contains(&uapi::BPF_FUNC_PROBE_READ_STR.id));
        assert_eq!(Constants::default().symbols()[abi::CONST_IDENTITY], 0);
    }

    #[test]
    fn dns_in_the_kernel_keeps_get_current_task_and_shares_nsproxy_with_mntns() {
        let fd = FdOffsets { socket_sk: 24, ..FdOffsets::default() };
        let dns =
            DnsOffsets { task_nsproxy: 3000, nsproxy_net_ns: 64, net_inum: 200, fd, ..DnsOffsets::default() };
        let constants = Constants { dns: Some(dns), ..Constants::default() };
        let symbols = constants.symbols();
        assert_eq!(symbols[abi::CONST_DNS_NETNS], 1);
        assert_eq!(symbols[abi::CONST_TASK_NSPROXY], 3000);
        assert_eq!((symbols[abi::CONST_NSPROXY_NET_NS], symbols[abi::CONST_NET_INUM]), (64, 200));
        assert_eq!(symbols[abi::CONST_SOCKET_SK], 24);
        assert!(!constants.stubbed_helpers().contains(&uapi::BPF_FUNC_GET_CURRENT_TASK.id));
        let mntns = MntnsOffsets { task_nsproxy: 3000, nsproxy_mnt_ns: 8, mnt_ns_inum: 16 };
        let both = Constants { filter_mntns: true, mntns, ..constants };
        assert_eq!(both.symbols()[abi::CONST_TASK_NSPROXY], 3000);
        assert_eq!(Constants::default().symbols()[abi::CONST_DNS_NETNS], 0);
    }
}
