/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * tcpconnect.bpf.c, part 2 of 8. Why: the loader creates every map of a
 * run from these definitions before it loads a program, so they are read
 * together here rather than next to the code of each. What: all 17 maps,
 * that is the whole legacy "maps" section, with the value structs only maps
 * use (struct pending_connect, struct dns_scratch, struct dns_read and its
 * DNS_* call numbers). The order of the definitions is the order of the
 * maps in the section and of their symbols in the object: keep it (the
 * committed object must rebuild byte for byte; a new map goes last). The
 * three -d maps come next, then --ppid/--container's scratch. Relies on struct bpf_map_def and the UAPI
 * numbers (part 1) and on the structs of tcpconnect.h.
 */

/* One perf ring per CPU; max_entries is set by the loader to the possible CPUs. */
struct bpf_map_def SEC("maps") events = {
	.type = BPF_MAP_TYPE_PERF_EVENT_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 0,
};

/*
 * The BPF ring buffer all CPUs write to, where the kernel has it (5.8+):
 * max_entries, its size in bytes, is set by the loader. A run on the perf
 * event arrays creates it as a one-entry array, which 4.x has.
 */
struct bpf_map_def SEC("maps") ring = {
	.type = BPF_MAP_TYPE_RINGBUF,
	.key_size = 0,
	.value_size = 0,
	.max_entries = 0,
};

/* -P: destination ports (host order) to keep; max_entries set by the loader. */
struct bpf_map_def SEC("maps") ports = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u16),
	.value_size = sizeof(__u8),
	.max_entries = 1,
};

/*
 * Kprobe path: the struct sock of each thread's connect in progress, from the
 * entry of tcp_v[46]_connect to its return (bcc's `currsock`).
 */
struct bpf_map_def SEC("maps") connecting = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u64),
	.value_size = sizeof(__u64),
	.max_entries = 10240,
};

/*
 * What the programs tally, per CPU and kind (key: CPU id * TALLY_KINDS +
 * kind, LOST_* and TALLY_* of tcpconnect.h; max_entries set by the
 * loader): events a ring had no room for, -d's messages likewise, -c's
 * connects of flows the counts map had no room for; with -v, the connects
 * seen, filtered out and sent. The kernel's PERF_RECORD_LOST arrives only
 * when the ring next has room, so a flood that ends with a full ring would
 * never report its last losses; this count is exact.
 */
struct bpf_map_def SEC("maps") tallies = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 1,
};

/* -c: connects per (saddr, daddr, dport, ip); read by user space at exit. */
struct bpf_map_def SEC("maps") counts = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(struct count_key),
	.value_size = sizeof(__u64),
	.max_entries = 10240,
};

/*
 * --cgroupmap / --mntnsmap: placeholders; the loader puts the user's pinned
 * map (u64 cgroup id or mount namespace inode -> anything) in their place.
 */
struct bpf_map_def SEC("maps") cgroup_filter = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u64),
	.value_size = sizeof(__u8),
	.max_entries = 1,
};

struct bpf_map_def SEC("maps") mntns_filter = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u64),
	.value_size = sizeof(__u8),
	.max_entries = 1,
};

/*
 * -L on the tracepoint path: threads inside connect(2), and the event each
 * one's connect produced, held until sys_exit_connect, by which time the
 * kernel has chosen the local port.
 */
struct bpf_map_def SEC("maps") in_connect = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u64),
	.value_size = sizeof(__u8),
	.max_entries = 10240,
};

/*
 * -L: the local port a socket had when it left SYN_SENT. A refused blocking
 * connect releases its port (inet_num = 0) before connect(2) returns, but
 * the state change away from SYN_SENT still reports it as sport. LRU: the
 * entries of sockets nobody asks about age out. Only -L on the tracepoint
 * path (4.16+) uses it; elsewhere it is created as a plain hash.
 */
struct bpf_map_def SEC("maps") syn_sent_ports = {
	.type = BPF_MAP_TYPE_LRU_HASH,
	.key_size = sizeof(__u64),
	.value_size = sizeof(__u16),
	.max_entries = 10240,
};

struct pending_connect {
	struct connect_event ev;
	__u64 sk;
};

struct bpf_map_def SEC("maps") pending = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u64),
	.value_size = sizeof(struct pending_connect),
	.max_entries = 10240,
};

/*
 * -L: the thread whose held event (in `pending`) a socket has, so that the
 * socket leaving SYN_SENT releases it too: a held event never waits on
 * sys_exit_connect alone.
 */
struct bpf_map_def SEC("maps") held_sockets = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u64),
	.value_size = sizeof(__u64),
	.max_entries = 10240,
};

/*
 * Connects waiting for their handshake to end, by socket: --result on every
 * path, and -L on the tracepoint path for a connect made outside connect(2)
 * (a TCP Fast Open sendto, io_uring, the kernel's own), whose local port is
 * chosen after the state change that reports it and is known for sure only
 * when the socket leaves SYN_SENT.
 */
struct bpf_map_def SEC("maps") inflight = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u64),
	.value_size = sizeof(struct connect_event),
	.max_entries = 10240,
};

/*
 * -d in the kernel: the DNS messages processes read, one perf ring per CPU
 * (max_entries set by the loader), apart from the events: a run reads them
 * when it formats connects, and is woken for them only when a ring is half
 * full.
 */
struct bpf_map_def SEC("maps") dns_events = {
	.type = BPF_MAP_TYPE_PERF_EVENT_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 0,
};

/*
 * -d: where a DNS event is put together, too big for the stack. Room past
 * the message for the verifier: the copy's length is masked to under
 * 2 * DNS_MAX, so it sees the write bounded by the value (see dns_copy).
 */
struct dns_scratch {
	struct dns_event ev;
	__u8 spill[DNS_MAX];
};

struct bpf_map_def SEC("maps") dns_scratch = {
	.type = BPF_MAP_TYPE_PERCPU_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(struct dns_scratch),
	.max_entries = 1,
};

/*
 * -d: the recvfrom(2), recvmsg(2) or read(2) a thread is in, from its entry
 * to its exit, where the message is in the caller's buffer. LRU: a thread
 * blocked in one for good never keeps a later read out (the -d programs
 * load only on kernels with BTF, long after 4.10's LRU maps).
 */
#define DNS_RECVFROM 0
#define DNS_RECVMSG 1
#define DNS_READ 2
struct dns_read {
	__u64 buf;              /* recvfrom, read: the buffer; recvmsg: the user_msghdr */
	__u32 fd;
	__u32 call;             /* DNS_RECVFROM, DNS_RECVMSG, DNS_READ */
	__u32 ip;               /* recvfrom, recvmsg: the sender's IP version, known from port 53 */
	__u32 pad;
};

struct bpf_map_def SEC("maps") dns_reads = {
	.type = BPF_MAP_TYPE_LRU_HASH,
	.key_size = sizeof(__u64),
	.value_size = sizeof(struct dns_read),
	.max_entries = 10240,
};

/*
 * --ppid, --container: where the identity event is put together, too big
 * for the stack beside the programs' own events.
 */
struct bpf_map_def SEC("maps") identity_scratch = {
	.type = BPF_MAP_TYPE_PERCPU_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(struct identity_event),
	.max_entries = 1,
};
