//! Every kernel number this tool uses, written once, each beside the
//! upstream kernel that added it (include/uapi/linux/bpf.h and
//! perf_event.h). The version is history, not a verdict on the running
//! kernel: enterprise kernels carry backports, so whether one of these works
//! is always found out by trying (see `tracer::choice`). `sys` builds its
//! calls from these, the loader and the lint check the object against them,
//! and the tests and benches use the same definitions.

// bpf(2) commands (enum bpf_cmd).
/// 3.18.
pub const BPF_MAP_CREATE: i32 = 0;
/// 3.18.
pub const BPF_MAP_LOOKUP_ELEM: i32 = 1;
/// 3.18.
pub const BPF_MAP_UPDATE_ELEM: i32 = 2;
/// 3.18.
pub const BPF_MAP_DELETE_ELEM: i32 = 3;
/// 3.18.
pub const BPF_MAP_GET_NEXT_KEY: i32 = 4;
/// 3.18.
pub const BPF_PROG_LOAD: i32 = 5;
/// 4.4.
pub const BPF_OBJ_GET: i32 = 7;
/// 4.17.
pub const BPF_RAW_TRACEPOINT_OPEN: i32 = 17;
/// bpf(2) command (5.7 for cgroups).
pub const BPF_LINK_CREATE: i32 = 28;
/// bpf(2) command (5.8).
pub const BPF_ENABLE_STATS: i32 = 32;
/// BPF_ENABLE_STATS's type: every program's run time and runs (5.8).
pub const BPF_STATS_RUN_TIME: u32 = 0;

/// BPF_MAP_UPDATE_ELEM's flag: create or replace (3.18).
pub const BPF_ANY: u64 = 0;
/// Object names are at most 15 bytes plus NUL (4.15).
pub const BPF_OBJ_NAME_LEN: usize = 16;

/// A BPF map type (enum bpf_map_type): its number, what it is called in
/// messages, and the upstream kernel that added it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapType {
    pub id: u32,
    pub kind: &'static str,
    pub since: &'static str,
}

pub const BPF_MAP_TYPE_HASH: MapType = MapType { id: 1, kind: "hash", since: "3.19" };
pub const BPF_MAP_TYPE_ARRAY: MapType = MapType { id: 2, kind: "array", since: "3.19" };
pub const BPF_MAP_TYPE_PERF_EVENT_ARRAY: MapType = MapType { id: 4, kind: "perf event array", since: "4.3" };
pub const BPF_MAP_TYPE_PERCPU_HASH: MapType = MapType { id: 5, kind: "per-CPU hash", since: "4.6" };
pub const BPF_MAP_TYPE_PERCPU_ARRAY: MapType = MapType { id: 6, kind: "per-CPU array", since: "4.6" };
pub const BPF_MAP_TYPE_LRU_HASH: MapType = MapType { id: 9, kind: "LRU hash", since: "4.10" };
/// The last map type of 4.x (4.10): every type up to it exists on the
/// kernels the legacy object is written for.
pub const BPF_MAP_TYPE_LRU_PERCPU_HASH: MapType = MapType { id: 10, kind: "LRU per-CPU hash", since: "4.10" };
pub const BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE: MapType =
    MapType { id: 21, kind: "per-CPU cgroup storage", since: "4.20" };
pub const BPF_MAP_TYPE_RINGBUF: MapType = MapType { id: 27, kind: "ring buffer", since: "5.8" };
/// Not in the object: bench's per-CPU ring buffers.
pub const BPF_MAP_TYPE_ARRAY_OF_MAPS: MapType = MapType { id: 12, kind: "array of maps", since: "4.12" };

/// The map types the object defines.
pub const MAP_TYPES: [MapType; 6] = [
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_PERF_EVENT_ARRAY,
    BPF_MAP_TYPE_PERCPU_ARRAY,
    BPF_MAP_TYPE_LRU_HASH,
    BPF_MAP_TYPE_RINGBUF,
];

// Program types (enum bpf_prog_type).
/// 4.1.
pub const BPF_PROG_TYPE_KPROBE: u32 = 2;
/// 4.7.
pub const BPF_PROG_TYPE_TRACEPOINT: u32 = 5;
/// 4.10: a program on a cgroup's packets (-d's).
pub const BPF_PROG_TYPE_CGROUP_SKB: u32 = 8;
/// 4.17.
pub const BPF_PROG_TYPE_RAW_TRACEPOINT: u32 = 17;
/// 5.5; loaded with BPF_TRACE_RAW_TP it is a BTF tracepoint program.
pub const BPF_PROG_TYPE_TRACING: u32 = 26;

/// expected_attach_type of a BTF tracepoint program (enum
/// bpf_attach_type, 5.5).
pub const BPF_TRACE_RAW_TP: u32 = 23;
/// The attach type of a cgroup_skb program on packets a socket receives
/// (enum bpf_attach_type, 4.10).
pub const BPF_CGROUP_INET_INGRESS: u32 = 0;
/// statfs(2)'s f_type of a cgroup v2 hierarchy (linux/magic.h).
pub const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// A BPF helper (enum bpf_func_id): its number, name, and the upstream
/// kernel that added it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Helper {
    pub id: i32,
    pub name: &'static str,
    pub since: &'static str,
}

pub const BPF_FUNC_MAP_LOOKUP_ELEM: Helper = Helper { id: 1, name: "bpf_map_lookup_elem", since: "3.19" };
pub const BPF_FUNC_MAP_UPDATE_ELEM: Helper = Helper { id: 2, name: "bpf_map_update_elem", since: "3.19" };
pub const BPF_FUNC_MAP_DELETE_ELEM: Helper = Helper { id: 3, name: "bpf_map_delete_elem", since: "3.19" };
pub const BPF_FUNC_PROBE_READ: Helper = Helper { id: 4, name: "bpf_probe_read", since: "4.1" };
pub const BPF_FUNC_KTIME_GET_NS: Helper = Helper { id: 5, name: "bpf_ktime_get_ns", since: "4.1" };
pub const BPF_FUNC_GET_SMP_PROCESSOR_ID: Helper =
    Helper { id: 8, name: "bpf_get_smp_processor_id", since: "4.1" };
pub const BPF_FUNC_GET_CURRENT_PID_TGID: Helper =
    Helper { id: 14, name: "bpf_get_current_pid_tgid", since: "4.2" };
pub const BPF_FUNC_GET_CURRENT_UID_GID: Helper =
    Helper { id: 15, name: "bpf_get_current_uid_gid", since: "4.2" };
pub const BPF_FUNC_GET_CURRENT_COMM: Helper = Helper { id: 16, name: "bpf_get_current_comm", since: "4.2" };
pub const BPF_FUNC_PERF_EVENT_OUTPUT: Helper = Helper { id: 25, name: "bpf_perf_event_output", since: "4.4" };
pub const BPF_FUNC_SKB_LOAD_BYTES: Helper = Helper { id: 26, name: "bpf_skb_load_bytes", since: "4.5" };
pub const BPF_FUNC_GET_CURRENT_TASK: Helper = Helper { id: 35, name: "bpf_get_current_task", since: "4.8" };
pub const BPF_FUNC_GET_CURRENT_CGROUP_ID: Helper =
    Helper { id: 80, name: "bpf_get_current_cgroup_id", since: "4.18" };
pub const BPF_FUNC_PROBE_READ_STR: Helper = Helper { id: 45, name: "bpf_probe_read_str", since: "4.11" };
pub const BPF_FUNC_PROBE_READ_KERNEL: Helper =
    Helper { id: 113, name: "bpf_probe_read_kernel", since: "5.5" };
pub const BPF_FUNC_RINGBUF_OUTPUT: Helper = Helper { id: 130, name: "bpf_ringbuf_output", since: "5.8" };
pub const BPF_FUNC_RINGBUF_QUERY: Helper = Helper { id: 134, name: "bpf_ringbuf_query", since: "5.8" };
pub const BPF_FUNC_GET_CURRENT_TASK_BTF: Helper =
    Helper { id: 158, name: "bpf_get_current_task_btf", since: "5.11" };

// perf_event_open(2).
/// perf_event_attr.type (enum perf_type_id).
pub const PERF_TYPE_SOFTWARE: u32 = 1;
pub const PERF_TYPE_TRACEPOINT: u32 = 2;
/// The software event bpf_perf_event_output writes to (4.4).
pub const PERF_COUNT_SW_BPF_OUTPUT: u64 = 10;
/// perf_event_attr.sample_type: the raw bytes a program passed.
pub const PERF_SAMPLE_RAW: u64 = 1 << 10;
/// perf_event_attr.read_format: read(2) gives the count, then the time the
/// event was enabled.
pub const PERF_FORMAT_TOTAL_TIME_ENABLED: u64 = 1 << 0;
/// perf_event_attr's flag bit `watermark`: wakeup_events is wakeup_watermark.
pub const PERF_ATTR_FLAG_WATERMARK: u64 = 1 << 14;
/// PERF_ATTR_SIZE_VER1: perf_event_attr up to config2 (2.6.33).
pub const PERF_ATTR_SIZE_VER1: u32 = 72;
/// perf_event_open flag (3.14).
pub const PERF_FLAG_FD_CLOEXEC: u64 = 1 << 3;
/// _IO('$', 0), _IO('$', 1), _IOW('$', 8, __u32): SET_BPF since 4.1.
pub const PERF_EVENT_IOC_ENABLE: u64 = 0x2400;
pub const PERF_EVENT_IOC_DISABLE: u64 = 0x2401;
pub const PERF_EVENT_IOC_SET_BPF: u64 = 0x4004_2408;
/// `PERF_RECORD_LOST`: the kernel dropped samples because the ring was full.
pub const PERF_RECORD_LOST: u32 = 2;
/// `PERF_RECORD_SAMPLE`: one sample; with `PERF_SAMPLE_RAW` it carries the
/// bytes passed to `bpf_perf_event_output()`.
pub const PERF_RECORD_SAMPLE: u32 = 9;

// The BPF ring buffer's record header (5.8).
/// `BPF_RINGBUF_BUSY_BIT`: reserved, not yet committed.
pub const BPF_RINGBUF_BUSY_BIT: u32 = 1 << 31;
/// `BPF_RINGBUF_DISCARD_BIT`: committed as discarded.
pub const BPF_RINGBUF_DISCARD_BIT: u32 = 1 << 30;
/// `BPF_RINGBUF_HDR_SZ`.
pub const BPF_RINGBUF_HDR_SZ: u64 = 8;
