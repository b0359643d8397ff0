//! The names and numbers shared with bpf-prebuilt/tcpconnect.bpf.c (and the parts it includes) and
//! tcpconnect.h (the event layout itself is in `event`). Change both together;
//! the tests below check this side against the embedded object.

use crate::uapi::{self, Helper, MapType};

/// Program sections.
pub const PROG_STATE_TRACEPOINT: &str = "tracepoint/sock/inet_sock_set_state";
/// The same, as a raw tracepoint program (arguments sk, oldstate, newstate).
pub const PROG_STATE_RAW_TRACEPOINT: &str = "raw_tracepoint/inet_sock_set_state";
/// The same, as a BTF tracepoint program (tp_btf: the arguments typed by
/// BTF, the socket and task read with plain loads).
pub const PROG_STATE_BTF_TRACEPOINT: &str = "tp_btf/inet_sock_set_state";
/// Kprobe path: one entry program on both functions, a return program each,
/// and the calibration dump (see kprobe_programs.bpf.h and calibration.bpf.h).
pub const PROG_CONNECT_ENTRY: &str = "kprobe/tcp_connect_entry";
pub const PROG_V4_RETURN: &str = "kretprobe/tcp_v4_connect";
pub const PROG_V6_RETURN: &str = "kretprobe/tcp_v6_connect";
pub const PROG_CALIBRATE: &str = "kretprobe/calibrate_v6";
/// --result on the kprobe path: the entry of tcp_set_state.
pub const PROG_SET_STATE: &str = "kprobe/tcp_set_state";
/// --result without BTF: the sk_err calibration dumps, on the state
/// tracepoint and on tcp_set_state.
pub const PROG_CALIBRATE_SK_ERR_TP: &str = "tracepoint/sock/calibrate_sk_err";
pub const PROG_CALIBRATE_SK_ERR_KP: &str = "kprobe/calibrate_sk_err";
/// -L on the tracepoint path: connect(2) entry and exit.
pub const PROG_SYS_ENTER_CONNECT: &str = "tracepoint/syscalls/sys_enter_connect";
pub const PROG_SYS_EXIT_CONNECT: &str = "tracepoint/syscalls/sys_exit_connect";
pub const SYS_ENTER_CONNECT: (&str, &str) = ("syscalls", "sys_enter_connect");
pub const SYS_EXIT_CONNECT: (&str, &str) = ("syscalls", "sys_exit_connect");
/// -d where the kernel takes it: DNS answers as they are delivered to a
/// socket, a cgroup_skb program on the root of the cgroup v2 hierarchy.
pub const PROG_DNS_SKB: &str = "cgroup_skb/ingress";
/// A -d program: its section, the tracepoint it attaches to, and the
/// FIELD_* markers it reads with the tracefs field each stands for.
pub struct DnsReadProgram {
    pub section: &'static str,
    pub tracepoint: (&'static str, &'static str),
    pub fields: &'static [(u8, &'static str)],
}

/// -d in the kernel: DNS messages as processes read them, from the entry and
/// exit of recvfrom(2), recvmsg(2) and read(2); exits first, the order they
/// attach in. One exit program serves the three, linked with each one's
/// format.
const DNS_EXIT: &str = "tracepoint/syscalls/sys_exit_recv";
pub const DNS_READ_PROGRAMS: [DnsReadProgram; 6] = [
    DnsReadProgram {
        section: DNS_EXIT,
        tracepoint: ("syscalls", "sys_exit_recvfrom"),
        fields: &[(FIELD_SYSCALL_RET, "ret")],
    },
    DnsReadProgram {
        section: DNS_EXIT,
        tracepoint: ("syscalls", "sys_exit_recvmsg"),
        fields: &[(FIELD_SYSCALL_RET, "ret")],
    },
    DnsReadProgram {
        section: DNS_EXIT,
        tracepoint: ("syscalls", "sys_exit_read"),
        fields: &[(FIELD_SYSCALL_RET, "ret")],
    },
    DnsReadProgram {
        section: "tracepoint/syscalls/sys_enter_recvfrom",
        tracepoint: ("syscalls", "sys_enter_recvfrom"),
        fields: &[(FIELD_RECV_FD, "fd"), (FIELD_RECV_UBUF, "ubuf")],
    },
    DnsReadProgram {
        section: "tracepoint/syscalls/sys_enter_recvmsg",
        tracepoint: ("syscalls", "sys_enter_recvmsg"),
        fields: &[(FIELD_RECV_FD, "fd"), (FIELD_RECV_MSG, "msg")],
    },
    DnsReadProgram {
        section: "tracepoint/syscalls/sys_enter_read",
        tracepoint: ("syscalls", "sys_enter_read"),
        fields: &[(FIELD_RECV_FD, "fd"), (FIELD_READ_BUF, "buf")],
    },
];
/// FIELD_* markers of the -d programs (tcpconnect.h).
pub const FIELD_RECV_UBUF: u8 = 15;
pub const FIELD_RECV_MSG: u8 = 17;
pub const FIELD_SYSCALL_RET: u8 = 18;
pub const FIELD_RECV_FD: u8 = 19;
pub const FIELD_READ_BUF: u8 = 20;

/// The kernel functions the kprobe path probes.
pub const V4_CONNECT: &str = "tcp_v4_connect";
pub const V6_CONNECT: &str = "tcp_v6_connect";
pub const SET_STATE: &str = "tcp_set_state";

/// Maps.
pub const MAP_EVENTS: &str = "events";
/// The BPF ring buffer (BPF_MAP_TYPE_RINGBUF, 5.8), where the run uses it.
pub const MAP_RING: &str = "ring";
pub const MAP_PORTS: &str = "ports";
pub const MAP_CONNECTING: &str = "connecting";
pub const MAP_COUNTS: &str = "counts";
pub const MAP_TALLIES: &str = "tallies";
pub const MAP_CGROUP_FILTER: &str = "cgroup_filter";
pub const MAP_MNTNS_FILTER: &str = "mntns_filter";
pub const MAP_IN_CONNECT: &str = "in_connect";
pub const MAP_PENDING: &str = "pending";
pub const MAP_SYN_SENT_PORTS: &str = "syn_sent_ports";
pub const MAP_HELD_SOCKETS: &str = "held_sockets";
pub const MAP_INFLIGHT: &str = "inflight";
/// -d in the kernel: the perf event array of DNS messages, the per-CPU
/// scratch value each is put together in.
pub const MAP_DNS_EVENTS: &str = "dns_events";
/// -d: each thread's recvfrom/recvmsg in progress, from entry to exit.
pub const MAP_DNS_READS: &str = "dns_reads";
pub const MAP_DNS_SCRATCH: &str = "dns_scratch";
/// --ppid, --container: the per-CPU value an identity event is put together in.
pub const MAP_IDENTITY_SCRATCH: &str = "identity_scratch";

/// `struct count_key` of tcpconnect.h (decoded in `event`).
pub use crate::event::COUNT_KEY_SIZE;

/// Load-time constants (undefined symbols in the object).
pub const CONST_FILTER_PID: &str = "filter_pid";
pub const CONST_TARGET_PID: &str = "target_pid";
pub const CONST_FILTER_UID: &str = "filter_uid";
pub const CONST_READ_UID: &str = "read_uid";
pub const CONST_TARGET_UID: &str = "target_uid";
pub const CONST_FILTER_PORTS: &str = "filter_ports";
pub const CONST_ONLY_IP: &str = "only_ip";
pub const CONST_COUNT_MODE: &str = "count_mode";
pub const CONST_LPORT_DEFER: &str = "lport_defer";
pub const CONST_FILTER_CGROUP: &str = "filter_cgroup";
pub const CONST_FILTER_MNTNS: &str = "filter_mntns";
pub const CONST_TASK_NSPROXY: &str = "task_nsproxy_off";
pub const CONST_NSPROXY_MNT_NS: &str = "nsproxy_mnt_ns_off";
pub const CONST_MNT_NS_INUM: &str = "mnt_ns_inum_off";
pub const CONST_SKC_V6_DADDR: &str = "skc_v6_daddr_off";
pub const CONST_SKC_V6_RCV_SADDR: &str = "skc_v6_rcv_saddr_off";
pub const CONST_SK_PROTOCOL: &str = "sk_protocol_off";
pub const CONST_INET_SPORT: &str = "inet_sport_off";
pub const CONST_RESULT_MODE: &str = "result_mode";
pub const CONST_ONLY_FAILED: &str = "only_failed";
pub const CONST_SK_ERR: &str = "sk_err_off";
pub const CONST_CALIB_PORT: &str = "calib_port";
pub const CONST_USE_RINGBUF: &str = "use_ringbuf";
pub const CONST_RING_WAKEUP_BYTES: &str = "ring_wakeup_bytes";
/// Connect events carry the time (bpf_ktime_get_ns), else 0.
pub const CONST_READ_CLOCK: &str = "read_clock";
/// -v: the programs tally what they see, filter and send.
pub const CONST_COUNT_STATS: &str = "count_stats";
/// -d in the kernel: events carry the task's network namespace, found
/// through task_struct.nsproxy (CONST_TASK_NSPROXY) and these.
pub const CONST_DNS_NETNS: &str = "dns_netns";
pub const CONST_NSPROXY_NET_NS: &str = "nsproxy_net_ns_off";
pub const CONST_NET_INUM: &str = "net_inum_off";
/// -d in the kernel, for a read that names no sender: from the task's fd to
/// the socket behind it (task_struct.files, files_struct.fdt, fdtable.fd and
/// max_fds, file.f_inode and private_data, inode.i_mode, socket.sk).
pub const CONST_TASK_FILES: &str = "task_files_off";
pub const CONST_FILES_FDT: &str = "files_fdt_off";
pub const CONST_FDT_FD: &str = "fdt_fd_off";
pub const CONST_FDT_MAX_FDS: &str = "fdt_max_fds_off";
pub const CONST_FILE_F_INODE: &str = "file_f_inode_off";
pub const CONST_FILE_PRIVATE_DATA: &str = "file_private_data_off";
pub const CONST_INODE_I_MODE: &str = "inode_i_mode_off";
pub const CONST_SOCKET_SK: &str = "socket_sk_off";
/// -d in the kernel: the socket's protocol and where its next datagram
/// waits (its receive queues), and that datagram's UDP header, so that its
/// source port is read from kernel memory (dns.bpf.h `dns_from_port_53`).
pub const CONST_DNS_SK_PROTOCOL: &str = "dns_sk_protocol_off";
pub const CONST_DNS_SK_PROTOCOL_MASK: &str = "dns_sk_protocol_mask";
pub const CONST_SK_RECEIVE_QUEUE: &str = "sk_receive_queue_off";
pub const CONST_UDP_READER_QUEUE: &str = "udp_reader_queue_off";
pub const CONST_SKB_HEAD: &str = "skb_head_off";
pub const CONST_SKB_TRANSPORT_HEADER: &str = "skb_transport_header_off";
/// -d's cgroup_skb program: the receiving socket's network namespace,
/// sock_common.skc_net (then CONST_NET_INUM).
pub const CONST_SK_NET: &str = "sk_net_off";
/// The BTF tracepoint program: task_struct.tgid, .pid, .comm, .cred and
/// cred.uid, read directly from the current task.
pub const CONST_TASK_TGID: &str = "task_tgid_off";
pub const CONST_TASK_PID: &str = "task_pid_off";
pub const CONST_TASK_COMM: &str = "task_comm_off";
pub const CONST_TASK_CRED: &str = "task_cred_off";
pub const CONST_CRED_UID: &str = "cred_uid_off";
/// --ppid, --container: events are `struct identity_event`; what they
/// read (the parent, the cgroup) and where, from BTF.
pub const CONST_IDENTITY: &str = "identity";
pub const CONST_READ_PARENT: &str = "read_parent";
pub const CONST_READ_CGROUP: &str = "read_cgroup";
pub const CONST_TASK_REAL_PARENT: &str = "task_real_parent_off";
pub const CONST_TASK_GROUP_LEADER: &str = "task_group_leader_off";
pub const CONST_TASK_CGROUPS: &str = "task_cgroups_off";
pub const CONST_CSS_SET_CGROUP: &str = "css_set_cgroup_off";
pub const CONST_CGROUP_VIA_CSS: &str = "cgroup_via_css";
pub const CONST_CSS_CGROUP: &str = "css_cgroup_off";
pub const CONST_CGROUP_KN: &str = "cgroup_kn_off";
pub const CONST_KN_ID: &str = "kn_id_off";
pub const CONST_KN_NAME: &str = "kn_name_off";
pub const CONST_KN_PARENT: &str = "kn_parent_off";
pub const CONST_KN_IATTR: &str = "kn_iattr_off";
pub const CONST_IATTRS_UID: &str = "iattrs_uid_off";

/// REG_* markers of tcpconnect.h: pt_regs loads of the kprobe programs.
pub const REG_ARG1: u8 = 10;
pub const REG_RC: u8 = 11;
pub const REG_ARG2: u8 = 14;

/// What the ring buffer helpers are called for, in `OPTIONAL_HELPERS`.
pub const RINGBUF_TRANSPORT: &str = "the BPF ring buffer transport";

/// The helpers the programs call that not every kernel we run on has, each
/// with the option (or transport) whose code calls it. The loader stubs
/// them out (`r0 = 0`) when that option is off, so kernels older than the
/// helper still load the program.
pub const OPTIONAL_HELPERS: [(Helper, &str); 5] = [
    (uapi::BPF_FUNC_GET_CURRENT_TASK, "--mntnsmap"),
    (uapi::BPF_FUNC_PROBE_READ_STR, "--container"),
    (uapi::BPF_FUNC_GET_CURRENT_CGROUP_ID, "--cgroupmap"),
    (uapi::BPF_FUNC_RINGBUF_OUTPUT, RINGBUF_TRANSPORT),
    (uapi::BPF_FUNC_RINGBUF_QUERY, RINGBUF_TRANSPORT),
];

/// Helpers newer than 4.4 that only a program of a newer kernel calls (it
/// is never loaded where the helper is missing), with that program: the
/// BTF tracepoint program needs 5.11 for bpf_get_current_task_btf, -d's
/// cgroup_skb program bpf_skb_load_bytes and bpf_probe_read_kernel.
pub const NEWER_HELPERS: [(Helper, &str); 3] = [
    (uapi::BPF_FUNC_GET_CURRENT_TASK_BTF, PROG_STATE_BTF_TRACEPOINT),
    (uapi::BPF_FUNC_SKB_LOAD_BYTES, PROG_DNS_SKB),
    (uapi::BPF_FUNC_PROBE_READ_KERNEL, PROG_DNS_SKB),
];

/// Map types newer than 4.x that the object defines, with what uses it. A
/// run that does not use one creates the map as a type every kernel has
/// (`tracer::maps`).
pub const OPTIONAL_MAP_TYPES: [(MapType, &str); 1] = [(uapi::BPF_MAP_TYPE_RINGBUF, RINGBUF_TRANSPORT)];

/// Every other helper the programs call (glue.bpf.h declares them): none is newer
/// than 4.4, the oldest kernel we run on.
pub const HELPERS: [Helper; 10] = [
    uapi::BPF_FUNC_MAP_LOOKUP_ELEM,
    uapi::BPF_FUNC_MAP_UPDATE_ELEM,
    uapi::BPF_FUNC_MAP_DELETE_ELEM,
    uapi::BPF_FUNC_PROBE_READ,
    uapi::BPF_FUNC_KTIME_GET_NS,
    uapi::BPF_FUNC_GET_SMP_PROCESSOR_ID,
    uapi::BPF_FUNC_GET_CURRENT_PID_TGID,
    uapi::BPF_FUNC_GET_CURRENT_UID_GID,
    uapi::BPF_FUNC_GET_CURRENT_COMM,
    uapi::BPF_FUNC_PERF_EVENT_OUTPUT,
];

/// LOST_* and TALLY_* of tcpconnect.h: the kinds the programs count in
/// `tallies`, at key CPU id * TALLY_KINDS + kind.
pub const TALLY_KINDS: u32 = 8;
pub const LOST_EVENT: u32 = 0;
pub const LOST_DNS: u32 = 1;
pub const LOST_FLOW: u32 = 2;
pub const TALLY_SEEN: u32 = 3;
pub const TALLY_FILTERED: u32 = 4;
pub const TALLY_SENT: u32 = 5;

/// SOCK_DUMP_LEN of tcpconnect.h: bytes of struct sock a calibration sample holds.
pub const SOCK_DUMP_LEN: usize = 256;
/// SOCK_CHUNKS of tcpconnect.h: the sk_err calibration's samples per socket,
/// each `struct sock_chunk` (a u64 index, then SOCK_DUMP_LEN bytes).
pub const SOCK_CHUNKS: usize = 4;

/// The tracepoint the state program attaches to.
pub const STATE_TRACEPOINT: (&str, &str) = ("sock", "inet_sock_set_state");
/// The same tracepoint as BPF_RAW_TRACEPOINT_OPEN names it.
pub const STATE_RAW_TRACEPOINT: &std::ffi::CStr = c"inet_sock_set_state";

/// FIELD_* marker ids of tcpconnect.h and the tracefs field names they stand
/// for; every one must be in the format. The layout has been the same since
/// the tracepoint appeared (4.16: `family` included, as in the 4.16.13 tree's
/// include/trace/events/sock.h) but for `protocol`, a u8 until 5.5 and a u16
/// since 5.6 (with sk_protocol's move to 16 bits), which shifts the address
/// fields from 31.. to 32..; see tests/fixtures/tracefs.
pub const STATE_FIELDS: [(u8, &str); 11] = [
    (1, "oldstate"),
    (2, "newstate"),
    (3, "dport"),
    (4, "family"),
    (5, "protocol"),
    (6, "saddr"),
    (7, "daddr"),
    (8, "saddr_v6"),
    (9, "daddr_v6"),
    (12, "skaddr"),
    (13, "sport"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader::{parse_object, RelocTarget, EMBEDDED_OBJECT};

    /// The load-time constants a program references, sorted, once each.
    fn constants_of(obj: &crate::loader::ObjectSpec, section: &str) -> Vec<String> {
        let mut names: Vec<String> = obj
            .program(section)
            .unwrap_or_else(|| panic!("{section} missing"))
            .relocations
            .iter()
            .filter_map(|r| match &r.target {
                RelocTarget::Constant(name) => Some(name.to_string()),
                RelocTarget::Map(_) => None,
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The numbers this side shares with tcpconnect.h, read from the header
    /// itself: a change on one side only fails here.
    #[test]
    fn the_numbers_match_the_header() {
        let header = include_str!("../bpf-prebuilt/tcpconnect.h");
        let define = |name: &str| -> u64 {
            header
                .lines()
                .filter_map(|line| line.strip_prefix("#define "))
                .find_map(|rest| {
                    let mut words = rest.split_whitespace();
                    (words.next() == Some(name)).then(|| words.next().unwrap().parse().unwrap())
                })
                .unwrap_or_else(|| panic!("no #define {name} in tcpconnect.h"))
        };
        let ours: [(&str, u64); 16] = [
            ("TALLY_KINDS", TALLY_KINDS.into()),
            ("TALLY_SEEN", TALLY_SEEN.into()),
            ("TALLY_FILTERED", TALLY_FILTERED.into()),
            ("TALLY_SENT", TALLY_SENT.into()),
            ("LOST_EVENT", LOST_EVENT.into()),
            ("LOST_DNS", LOST_DNS.into()),
            ("LOST_FLOW", LOST_FLOW.into()),
            ("SOCK_DUMP_LEN", SOCK_DUMP_LEN as u64),
            ("SOCK_CHUNKS", SOCK_CHUNKS as u64),
            ("REG_ARG1", REG_ARG1.into()),
            ("REG_RC", REG_RC.into()),
            ("REG_ARG2", REG_ARG2.into()),
            ("FIELD_RECV_UBUF", FIELD_RECV_UBUF.into()),
            ("FIELD_RECV_MSG", FIELD_RECV_MSG.into()),
            ("FIELD_SYSCALL_RET", FIELD_SYSCALL_RET.into()),
            ("FIELD_READ_BUF", FIELD_READ_BUF.into()),
        ];
        for (name, value) in ours {
            assert_eq!(define(name), value, "{name}");
        }
    }

    #[test]
    fn embedded_object_matches_these_names() {
        let obj = parse_object(EMBEDDED_OBJECT).expect("embedded object parses");
        assert_eq!(obj.license.to_str().unwrap(), "Dual MIT/GPL");
        let events = &obj.maps[obj.map_index(MAP_EVENTS).expect("events map")];
        assert_eq!((events.map_type, events.key_size, events.value_size), (4, 4, 4));
        let ring = &obj.maps[obj.map_index(MAP_RING).expect("ring map")];
        assert_eq!((ring.map_type, ring.key_size, ring.value_size), (uapi::BPF_MAP_TYPE_RINGBUF.id, 0, 0));
        let ports = &obj.maps[obj.map_index(MAP_PORTS).expect("ports map")];
        assert_eq!((ports.map_type, ports.key_size, ports.value_size), (1, 2, 1));

        let prog = obj.program(PROG_STATE_TRACEPOINT).expect("state program");
        assert_eq!(prog.name, "tcpconnect_state");
        let state = constants_of(&obj, PROG_STATE_TRACEPOINT);
        for name in [CONST_FILTER_PID, CONST_FILTER_PORTS, CONST_ONLY_IP, CONST_COUNT_MODE, CONST_LPORT_DEFER]
        {
            assert!(state.iter().any(|c| c == name), "{name} missing from {state:?}");
        }
        let maps: Vec<usize> = prog
            .relocations
            .iter()
            .filter_map(|r| if let RelocTarget::Map(i) = r.target { Some(i) } else { None })
            .collect();
        assert!(maps.contains(&obj.map_index(MAP_EVENTS).unwrap()));
        assert!(maps.contains(&obj.map_index(MAP_PORTS).unwrap()));
    }

    #[test]
    fn embedded_object_has_the_kprobe_programs() {
        let obj = parse_object(EMBEDDED_OBJECT).expect("embedded object parses");
        let connecting = &obj.maps[obj.map_index(MAP_CONNECTING).expect("connecting map")];
        assert_eq!((connecting.map_type, connecting.key_size, connecting.value_size), (1, 8, 8));
        // Every constant any program uses is one the loader knows.
        let known = [
            CONST_FILTER_PID,
            CONST_TARGET_PID,
            CONST_FILTER_UID,
            CONST_TARGET_UID,
            CONST_FILTER_PORTS,
            CONST_ONLY_IP,
            CONST_COUNT_MODE,
            CONST_LPORT_DEFER,
            CONST_FILTER_CGROUP,
            CONST_FILTER_MNTNS,
            CONST_TASK_NSPROXY,
            CONST_NSPROXY_MNT_NS,
            CONST_MNT_NS_INUM,
            CONST_SKC_V6_DADDR,
            CONST_SKC_V6_RCV_SADDR,
            CONST_SK_PROTOCOL,
            CONST_INET_SPORT,
            CONST_RESULT_MODE,
            CONST_ONLY_FAILED,
            CONST_SK_ERR,
            CONST_CALIB_PORT,
            CONST_USE_RINGBUF,
            CONST_RING_WAKEUP_BYTES,
            CONST_READ_CLOCK,
            CONST_COUNT_STATS,
            CONST_DNS_NETNS,
            CONST_NSPROXY_NET_NS,
            CONST_NET_INUM,
            CONST_TASK_FILES,
            CONST_FILES_FDT,
            CONST_FDT_FD,
            CONST_FDT_MAX_FDS,
            CONST_FILE_F_INODE,
            CONST_FILE_PRIVATE_DATA,
            CONST_INODE_I_MODE,
            CONST_SOCKET_SK,
            CONST_DNS_SK_PROTOCOL,
            CONST_DNS_SK_PROTOCOL_MASK,
            CONST_SK_RECEIVE_QUEUE,
            CONST_UDP_READER_QUEUE,
            CONST_SKB_HEAD,
            CONST_SKB_TRANSPORT_HEADER,
            CONST_SK_NET,
            CONST_READ_UID,
            CONST_TASK_TGID,
            CONST_TASK_PID,
            CONST_TASK_COMM,
            CONST_TASK_CRED,
            CONST_CRED_UID,
            CONST_IDENTITY,
            CONST_READ_PARENT,
            CONST_READ_CGROUP,
            CONST_TASK_REAL_PARENT,
            CONST_TASK_GROUP_LEADER,
            CONST_TASK_CGROUPS,
            CONST_CSS_SET_CGROUP,
            CONST_CGROUP_VIA_CSS,
            CONST_CSS_CGROUP,
            CONST_CGROUP_KN,
            CONST_KN_ID,
            CONST_KN_NAME,
            CONST_KN_PARENT,
            CONST_KN_IATTR,
            CONST_IATTRS_UID,
        ];
        for prog in &obj.programs {
            for name in constants_of(&obj, &prog.section) {
                assert!(known.contains(&name.as_str()), "{}: unknown constant {name}", prog.section);
            }
        }
        let v6 = constants_of(&obj, PROG_V6_RETURN);
        assert!(v6.iter().any(|c| c == CONST_SKC_V6_DADDR) && v6.iter().any(|c| c == CONST_SKC_V6_RCV_SADDR));
        assert!(!constants_of(&obj, PROG_V4_RETURN).iter().any(|c| c == CONST_SKC_V6_DADDR));
        assert!(constants_of(&obj, PROG_CALIBRATE).is_empty());
        // The raw tracepoint program reads the socket: it needs every offset.
        let raw = constants_of(&obj, PROG_STATE_RAW_TRACEPOINT);
        for name in [
            CONST_SK_PROTOCOL,
            CONST_INET_SPORT,
            CONST_SKC_V6_DADDR,
            CONST_SKC_V6_RCV_SADDR,
            CONST_LPORT_DEFER,
            CONST_RESULT_MODE,
            CONST_SK_ERR,
        ] {
            assert!(raw.iter().any(|c| c == name), "{name} missing from {raw:?}");
        }
        // The BTF tracepoint program reads the same, and the task.
        let btf = constants_of(&obj, PROG_STATE_BTF_TRACEPOINT);
        for name in raw.iter().map(String::as_str).chain([
            CONST_TASK_TGID,
            CONST_TASK_PID,
            CONST_TASK_COMM,
            CONST_TASK_CRED,
            CONST_CRED_UID,
        ]) {
            assert!(btf.iter().any(|c| c == name), "{name} missing from {btf:?}");
        }
    }
}
