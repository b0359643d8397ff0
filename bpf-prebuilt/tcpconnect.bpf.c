// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * tcpconnect: the kernel side. Built by tools/build-bpf with Debian's clang 14
 * (-target bpf -O2); the object next to this file is what the binary embeds.
 *
 * Written to load on old kernels without libbpf: no kernel headers, no BTF,
 * no CO-RE, no global data, a legacy "maps" section, helpers that exist since
 * 4.x, no loops, no bpf-to-bpf calls. Everything that differs between kernels
 * or runs (filters, tracepoint field offsets) is patched in by the loader as
 * constants, so the verifier sees plain immediates.
 */

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef int __s32;

#include "tcpconnect.h"

#define SEC(name) __attribute__((section(name), used))
#define always_inline inline __attribute__((always_inline))

/*
 * UAPI values (include/uapi/linux/bpf.h, linux/socket.h, linux/in.h,
 * net/tcp_states.h), with the kernel that added each BPF feature. The loader
 * creates a map only in the type a run needs (src/tracer/maps.rs): a map no
 * program of the run uses is made as a plain hash or array, so a kernel that
 * lacks its real type (LRU hash on 4.9) still loads the programs.
 */
#define BPF_ANY 0                       /* update flags: 3.19 */
#define BPF_NOEXIST 1
#define BPF_MAP_TYPE_HASH 1             /* 3.19 */
#define BPF_MAP_TYPE_ARRAY 2            /* 3.19 */
#define BPF_MAP_TYPE_PERF_EVENT_ARRAY 4 /* 4.3 */
#define BPF_MAP_TYPE_PERCPU_ARRAY 6     /* 4.6 */
#define BPF_MAP_TYPE_LRU_HASH 9         /* 4.10 */
#define BPF_MAP_TYPE_RINGBUF 27         /* 5.8 */
#define BPF_RB_NO_WAKEUP 1              /* bpf_ringbuf_output flags: 5.8 */
#define BPF_RB_FORCE_WAKEUP 2
#define BPF_RB_AVAIL_DATA 0             /* bpf_ringbuf_query: 5.8 */
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define DNS_PORT 53
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_CLOSE 7

/*
 * Helpers by number, with the kernel that added each: all exist since 4.4.
 * Program types: kprobe 4.1, tracepoint 4.7, raw tracepoint 4.17.
 */
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;                              /* 3.19 */
static long (*bpf_map_update_elem)(void *map, const void *key, const void *value, __u64 flags) = (void *)2; /* 3.19 */
static long (*bpf_map_delete_elem)(void *map, const void *key) = (void *)3;                              /* 3.19 */
static long (*bpf_probe_read)(void *dst, __u32 size, const void *src) = (void *)4;                       /* 4.1 */
static __u64 (*bpf_ktime_get_ns)(void) = (void *)5;                                                     /* 4.1 */
static __u32 (*bpf_get_smp_processor_id)(void) = (void *)8;                                             /* 4.1 */
static __u64 (*bpf_get_current_pid_tgid)(void) = (void *)14;                                            /* 4.2 */
static __u64 (*bpf_get_current_uid_gid)(void) = (void *)15;                                             /* 4.2 */
static long (*bpf_get_current_comm)(void *buf, __u32 size) = (void *)16;                                /* 4.2 */
static long (*bpf_perf_event_output)(void *ctx, void *map, __u64 flags, void *data, __u64 size) = (void *)25; /* 4.4 */
/*
 * Newer helpers, called only behind a filter that needs them; when the filter
 * is off the loader replaces the call with `r0 = 0`, so older kernels never
 * see the helper id.
 */
static __u64 (*bpf_get_current_task)(void) = (void *)35;      /* 4.8 */
static __u64 (*bpf_get_current_cgroup_id)(void) = (void *)80; /* 4.18 */
/* The BPF ring buffer (CONST(use_ringbuf)): 5.8. */
static long (*bpf_ringbuf_output)(void *ringbuf, void *data, __u64 size, __u64 flags) = (void *)130;
static __u64 (*bpf_ringbuf_query)(void *ringbuf, __u64 flags) = (void *)134;
/* Only in the BTF tracepoint program (5.11), which older kernels never load. */
static void *(*bpf_get_current_task_btf)(void) = (void *)158;

/* The legacy map definition read by our loader (and by every loader since 4.x). */
struct bpf_map_def {
	__u32 type;
	__u32 key_size;
	__u32 value_size;
	__u32 max_entries;
	__u32 map_flags;
};

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
 * Events the ring of a CPU had no room for, per CPU (indexed by CPU id;
 * max_entries set by the loader). The kernel's PERF_RECORD_LOST arrives only
 * when the ring next has room, so a flood that ends with a full ring would
 * never report its last losses; this count is exact.
 */
struct bpf_map_def SEC("maps") lost_events = {
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
 * A load-time constant: a 64-bit immediate load whose relocation names an
 * undefined symbol. The loader writes the value into the instruction.
 */
#define CONST(name) ({ __u64 __v; asm volatile("%0 = " #name " ll" : "=r"(__v)); __v; })

/* A context load at a marked offset, rewritten by the loader (see tcpconnect.h). */
#define TP_LOAD(ctx, type, field, byte) \
	(*(volatile type *)((char *)(ctx) + FIELD_MARK(field, byte)))
#define TP_BYTE(ctx, field, byte) TP_LOAD(ctx, __u8, field, byte)

#define COPY4(dst, ctx, field) do { \
	(dst)[0] = TP_BYTE(ctx, field, 0); (dst)[1] = TP_BYTE(ctx, field, 1); \
	(dst)[2] = TP_BYTE(ctx, field, 2); (dst)[3] = TP_BYTE(ctx, field, 3); \
} while (0)
#define COPY16(dst, ctx, field) do { \
	COPY4((dst), ctx, field); \
	(dst)[4] = TP_BYTE(ctx, field, 4); (dst)[5] = TP_BYTE(ctx, field, 5); \
	(dst)[6] = TP_BYTE(ctx, field, 6); (dst)[7] = TP_BYTE(ctx, field, 7); \
	(dst)[8] = TP_BYTE(ctx, field, 8); (dst)[9] = TP_BYTE(ctx, field, 9); \
	(dst)[10] = TP_BYTE(ctx, field, 10); (dst)[11] = TP_BYTE(ctx, field, 11); \
	(dst)[12] = TP_BYTE(ctx, field, 12); (dst)[13] = TP_BYTE(ctx, field, 13); \
	(dst)[14] = TP_BYTE(ctx, field, 14); (dst)[15] = TP_BYTE(ctx, field, 15); \
} while (0)

/*
 * The head of struct sock_common, unchanged since Linux 3.x: the address and
 * port pairs are read by the lookup hash functions as one word each, which
 * pins them to the start of the struct (user space checks it against BTF
 * before the raw tracepoint path uses it). The IPv6 addresses come later and
 * move with the kernel config: those are constants from BTF or calibration.
 */
struct sock_head {
	__u32 daddr;            /* skc_daddr */
	__u32 rcv_saddr;        /* skc_rcv_saddr */
	__u32 hash;             /* skc_hash */
	__u16 dport;            /* skc_dport, network order */
	__u16 num;              /* skc_num: local port, host order */
	__u16 family;           /* skc_family */
	__u8 state;             /* skc_state */
};
#define SKC_NUM 14
#define SKC_STATE 18

/*
 * The inode of one namespace of the current task (0 if unreadable): the one
 * task->nsproxy points to at `member` (mnt_ns, net_ns), whose ns_common
 * inum is at `inum`.
 */
static always_inline __u32 current_ns(__u64 member, __u64 inum_off)
{
	char *task = (char *)bpf_get_current_task();
	char *nsproxy = 0, *ns = 0;
	__u32 inum = 0;

	bpf_probe_read(&nsproxy, sizeof(nsproxy), task + CONST(task_nsproxy_off));
	if (!nsproxy)
		return 0;
	bpf_probe_read(&ns, sizeof(ns), nsproxy + member);
	if (!ns)
		return 0;
	bpf_probe_read(&inum, sizeof(inum), ns + inum_off);
	return inum;
}

/* --mntnsmap: the mount namespace of the current task. */
static always_inline __u64 current_mntns(void)
{
	return current_ns(CONST(nsproxy_mnt_ns_off), CONST(mnt_ns_inum_off));
}

/*
 * -d in the kernel: the network namespace of the current task, what keys
 * the DNS cache on both the answer and the connect.
 */
static always_inline __u32 current_netns(void)
{
	return current_ns(CONST(nsproxy_net_ns_off), CONST(net_inum_off));
}

/*
 * The uid of the current task, read only where a line shows it (-U, -j) or
 * -u filters on it: 0 otherwise, and one helper call less per connect.
 */
static always_inline __u32 current_uid(void)
{
	return CONST(read_uid) ? (__u32)bpf_get_current_uid_gid() : 0;
}

/* Shared by every attach method: filters that need no address. */
static always_inline int keep_task(__u32 pid, __u32 uid)
{
	if (CONST(filter_pid) && pid != (__u32)CONST(target_pid))
		return 0;
	if (CONST(filter_uid) && uid != (__u32)CONST(target_uid))
		return 0;
	if (CONST(filter_cgroup)) {
		__u64 cgroup = bpf_get_current_cgroup_id();
		if (!bpf_map_lookup_elem(&cgroup_filter, &cgroup))
			return 0;
	}
	if (CONST(filter_mntns)) {
		__u64 mntns = current_mntns();
		if (!bpf_map_lookup_elem(&mntns_filter, &mntns))
			return 0;
	}
	return 1;
}

static always_inline int keep_port(__u16 dport)
{
	if (CONST(filter_ports) && !bpf_map_lookup_elem(&ports, &dport))
		return 0;
	return 1;
}

/* -4 / -6. */
static always_inline int keep_family(__u8 ip)
{
	return !CONST(only_ip) || ip == (__u8)CONST(only_ip);
}

/* -c: one more connect for this flow. */
static always_inline void count_connect(struct connect_event *ev)
{
	struct count_key key = {};
	__builtin_memcpy(key.saddr, ev->saddr, sizeof(key.saddr));
	__builtin_memcpy(key.daddr, ev->daddr, sizeof(key.daddr));
	key.dport = ev->dport;
	key.ip = ev->ip;
	__u64 *n = bpf_map_lookup_elem(&counts, &key);
	if (!n) {
		__u64 one = 1;
		if (bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST) == 0)
			return;
		/* Another CPU created it first. */
		n = bpf_map_lookup_elem(&counts, &key);
		if (!n)
			return;
	}
	__sync_fetch_and_add(n, 1);
}

/* One event user space will never see, counted where it reads losses. */
static always_inline void count_lost(__u32 cpu)
{
	__u64 *lost = bpf_map_lookup_elem(&lost_events, &cpu);
	if (lost)
		__sync_fetch_and_add(lost, 1);
}

/*
 * One sample to user space, through the ring buffer (CONST(use_ringbuf)) or
 * this CPU's perf ring; one the ring refused is counted lost. The reader is
 * woken only once CONST(ring_wakeup_bytes) are waiting (a batch, or half the
 * ring), as the perf rings wake it every WAKEUP_EVENTS samples; what is
 * fewer waits for its 100 ms timer.
 */
static always_inline void send(void *ctx, void *data, __u64 size)
{
	if (CONST(use_ringbuf)) {
		__u64 wakeup = bpf_ringbuf_query(&ring, BPF_RB_AVAIL_DATA) + size >= CONST(ring_wakeup_bytes)
			? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
		/* The CPU only for a loss: each helper call costs ~40 ns on a retpoline host. */
		if (bpf_ringbuf_output(&ring, data, size, wakeup) != 0)
			count_lost(bpf_get_smp_processor_id());
		return;
	}
	/* The CPU as an index, not BPF_F_CURRENT_CPU: that flag needs 4.8. */
	__u32 cpu = bpf_get_smp_processor_id();
	if (bpf_perf_event_output(ctx, &events, cpu, data, size) != 0)
		count_lost(cpu);
}

/* The end of every path: count it (-c) or send it to user space. */
static always_inline void submit(void *ctx, struct connect_event *ev)
{
	if (CONST(count_mode)) {
		count_connect(ev);
		return;
	}
	/* Only -d in the kernel reads netns: without it, the bytes before it. */
	send(ctx, ev, CONST(dns_netns) ? sizeof(*ev) : CONNECT_EVENT_BEFORE_NETNS);
}

/*
 * A load of a kernel struct's member at byte offset `off`, in the BTF
 * tracepoint program: the verifier checks it against the member's BTF type
 * and the JIT makes it a plain load that a fault cannot break (no helper
 * call, which costs ~40 ns on a retpoline host).
 */
#define BTF_LOAD(ptr, type, off) (*(volatile type *)((char *)(ptr) + (off)))
/* A pointer member, for BTF_LOAD (`volatile char **` would qualify the char). */
typedef char *kernel_ptr;

/* 16 bytes of an address at `src`: BTF-checked loads (`direct`) or bpf_probe_read. */
static always_inline void read16(__u8 *dst, char *src, int direct)
{
	if (direct) {
		((__u64 *)dst)[0] = BTF_LOAD(src, __u64, 0);
		((__u64 *)dst)[1] = BTF_LOAD(src, __u64, 8);
	} else {
		bpf_probe_read(dst, 16, src);
	}
}

/*
 * Addresses and ports of a connecting socket, read from the socket itself
 * (kprobe and raw tracepoint paths), as bcc does. 0 if -P or -4/-6 drop it.
 * `family`: AF_INET or AF_INET6 as the caller knows it, or 0 for the
 * socket's own. An AF_INET6 socket connecting to ::ffff:a.b.c.d is reported
 * as IPv4, like bcc (which sees it in tcp_v4_connect), from the 4-byte
 * fields, which tcp_v4_connect sets for every family.
 */
static always_inline int read_socket(struct connect_event *ev, char *sk, __u16 family, int direct)
{
	struct sock_head head = {};
	if (direct) {
		head.daddr = BTF_LOAD(sk, __u32, 0);
		head.rcv_saddr = BTF_LOAD(sk, __u32, 4);
		head.dport = BTF_LOAD(sk, __u16, 12);
		head.num = BTF_LOAD(sk, __u16, SKC_NUM);
		head.family = BTF_LOAD(sk, __u16, 16);
	} else {
		bpf_probe_read(&head, sizeof(head), sk);
	}
	ev->dport = __builtin_bswap16(head.dport);
	if (!keep_port(ev->dport))
		return 0;
	if (!family)
		family = head.family;
	ev->ip = 4;
	if (family == AF_INET6) {
		read16(ev->daddr, sk + CONST(skc_v6_daddr_off), direct);
		__u64 *half = (__u64 *)ev->daddr;
		__u32 *word = (__u32 *)ev->daddr;
		int mapped = half[0] == 0 && word[2] == 0xffff0000; /* little endian */
		if (!mapped) {
			ev->ip = 6;
			read16(ev->saddr, sk + CONST(skc_v6_rcv_saddr_off), direct);
		} else {
			half[0] = 0;
			half[1] = 0;
		}
	}
	if (!keep_family(ev->ip))
		return 0;
	if (ev->ip == 4) {
		__builtin_memcpy(ev->saddr, &head.rcv_saddr, 4);
		__builtin_memcpy(ev->daddr, &head.daddr, 4);
	}
	ev->lport = head.num;
	return 1;
}

/*
 * The task fields of an event, for the task that connects. `task`: the
 * current task as the BTF tracepoint program has it (`direct`), whose comm
 * is read with two loads instead of bpf_get_current_comm (user space stops
 * at its NUL, so what follows the NUL does not matter).
 */
static always_inline void fill_task(struct connect_event *ev, __u64 pid_tgid, __u32 uid, char *task, int direct)
{
	ev->ts_ns = bpf_ktime_get_ns();
	ev->pid = pid_tgid >> 32;
	ev->uid = uid;
	if (direct) {
		__u64 *comm = (__u64 *)ev->comm;
		comm[0] = BTF_LOAD(task, __u64, CONST(task_comm_off));
		comm[1] = BTF_LOAD(task, __u64, CONST(task_comm_off) + 8);
	} else {
		bpf_get_current_comm(&ev->comm, sizeof(ev->comm));
	}
	if (CONST(dns_netns))
		ev->netns = current_netns();
}

/*
 * -L: the held event of `pid_tgid`, for socket `sk`, if it is still held;
 * taken out of `pending` by this call only. Two programs may race for it
 * (sys_exit_connect in the task, the socket leaving SYN_SENT in softirq):
 * the one whose delete succeeds sends it, so it goes out exactly once.
 */
static always_inline int take_held(__u64 pid_tgid, __u64 sk, struct connect_event *ev)
{
	struct pending_connect *held = bpf_map_lookup_elem(&pending, &pid_tgid);
	if (!held || held->sk != sk)
		return 0;
	*ev = held->ev;
	return bpf_map_delete_elem(&pending, &pid_tgid) == 0;
}

/*
 * -L: socket `sk` leaves SYN_SENT (established, refused, timed out) with
 * local port `sport`. A connect still held for it goes out now, with that
 * port (a blocking connect gets here before connect(2) returns); otherwise
 * the port is remembered for the sys_exit_connect to come, since a refused
 * connect has released it (skc_num = 0) by then.
 */
static always_inline void leave_syn_sent(void *ctx, __u64 sk, __u16 sport)
{
	__u64 *thread = bpf_map_lookup_elem(&held_sockets, &sk);
	if (thread) {
		__u64 pid_tgid = *thread;
		struct connect_event ev;
		bpf_map_delete_elem(&held_sockets, &sk);
		if (take_held(pid_tgid, sk, &ev)) {
			ev.lport = sport;
			submit(ctx, &ev);
			return;
		}
	}
	bpf_map_update_elem(&syn_sent_ports, &sk, &sport, BPF_ANY);
}

/* Keeps `ev` until socket `sk` leaves SYN_SENT (a full map: counted lost). */
static always_inline void await_handshake(struct connect_event *ev, __u64 sk)
{
	if (bpf_map_update_elem(&inflight, &sk, ev, BPF_ANY) != 0)
		count_lost(bpf_get_smp_processor_id());
}

/*
 * Socket `sk` leaves SYN_SENT for `newstate`, with local port `sport` (0:
 * keep the event's). The connect waiting for it in `inflight`, if any, goes
 * out now: with --result as its outcome, else (-L) as the plain event with
 * the port. A simultaneous open (to SYN_RECV) keeps waiting; at exit user
 * space prints what is still waiting.
 */
static always_inline void handshake_done(void *ctx, __u64 sk, int newstate, __u16 sport)
{
	if (newstate != TCP_ESTABLISHED && newstate != TCP_CLOSE)
		return;
	struct connect_event *waiting = bpf_map_lookup_elem(&inflight, &sk);
	if (!waiting)
		return;
	struct outcome_event out = {};
	out.ev = *waiting;
	/* Two CPUs may see it (a close racing a RST): the one whose delete succeeds sends it. */
	if (bpf_map_delete_elem(&inflight, &sk) != 0)
		return;
	if (sport)
		out.ev.lport = sport;
	if (!CONST(result_mode)) {
		submit(ctx, &out.ev);
		return;
	}
	out.done_ns = bpf_ktime_get_ns();
	out.established = newstate == TCP_ESTABLISHED;
	/*
	 * The kernel sets sk_err before the state change of a failure (tcp_reset,
	 * tcp_write_err, tcp_v4_err); a close, shutdown or exit of the owner
	 * leaves it 0 (tcp_disconnect sets ECONNRESET only after the change).
	 */
	if (!out.established)
		bpf_probe_read(&out.error, sizeof(out.error), (char *)sk + CONST(sk_err_off));
	if (out.established && CONST(only_failed))
		return;
	send(ctx, &out, sizeof(out));
}

/*
 * The end of both state programs' CLOSE -> SYN_SENT. --result: the event
 * waits for its outcome. -L: the local port is chosen just after this state
 * change. Inside connect(2), hold the event (with its socket `sk`) until the
 * syscall returns; a connect made any other way (TCP Fast Open, io_uring,
 * the kernel's own) waits until its socket leaves SYN_SENT, and goes out
 * then with the port.
 */
static always_inline void hold_or_submit(void *ctx, struct pending_connect *p, __u64 pid_tgid, __u64 sk)
{
	if (CONST(result_mode)) {
		await_handshake(&p->ev, sk);
		/*
		 * -L: connect(2)'s return writes the port into the waiting
		 * event, for a connect still in SYN_SENT when tracing stops.
		 */
		if (CONST(lport_defer) && bpf_map_lookup_elem(&in_connect, &pid_tgid)) {
			p->sk = sk;
			bpf_map_update_elem(&pending, &pid_tgid, p, BPF_ANY);
		}
		return;
	}
	if (CONST(lport_defer) && bpf_map_lookup_elem(&in_connect, &pid_tgid)) {
		p->sk = sk;
		/* A full map (10240 threads inside connect at once): counted lost. */
		if (bpf_map_update_elem(&pending, &pid_tgid, p, BPF_ANY) != 0) {
			count_lost(bpf_get_smp_processor_id());
			return;
		}
		bpf_map_update_elem(&held_sockets, &sk, &pid_tgid, BPF_ANY);
		return;
	}
	if (CONST(lport_defer)) {
		await_handshake(&p->ev, sk);
		return;
	}
	submit(ctx, &p->ev);
}

/*
 * sock:inet_sock_set_state, CLOSE -> SYN_SENT. Runs in the connecting task
 * (inside tcp_v4_connect/tcp_v6_connect, or the kernel's own caller), after
 * the destination and source addresses are set and before the local port is
 * chosen. A v6 socket connecting to ::ffff:a.b.c.d reports AF_INET6 with
 * v4-mapped addresses; like bcc (which sees it in tcp_v4_connect) we report
 * it as IPv4, taking the addresses from the 4-byte fields, which hold
 * inet_saddr/inet_daddr for every family.
 */
SEC("tracepoint/sock/inet_sock_set_state")
int tcpconnect_state(void *ctx)
{
	struct pending_connect p = {};
	struct connect_event *evp = &p.ev;
	__u8 mapped[12];

	/* A u8 before 5.6: the loader narrows this load (tcpconnect.h). */
	if (TP_LOAD(ctx, __u16, FIELD_PROTOCOL, 0) != IPPROTO_TCP)
		return 0;
	int oldstate = TP_LOAD(ctx, int, FIELD_OLDSTATE, 0);
	if (oldstate == TCP_SYN_SENT) {
		if (CONST(lport_defer) || CONST(result_mode)) {
			__u64 sk = TP_LOAD(ctx, __u64, FIELD_SKADDR, 0);
			__u16 sport = TP_LOAD(ctx, __u16, FIELD_SPORT, 0);
			if (CONST(lport_defer) && !CONST(result_mode))
				leave_syn_sent(ctx, sk, sport);
			handshake_done(ctx, sk, TP_LOAD(ctx, int, FIELD_NEWSTATE, 0), sport);
		}
		return 0;
	}
	if (oldstate != TCP_CLOSE)
		return 0;
	if (TP_LOAD(ctx, int, FIELD_NEWSTATE, 0) != TCP_SYN_SENT)
		return 0;

	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 uid = current_uid();
	if (!keep_task(pid_tgid >> 32, uid))
		return 0;
	__u16 dport = TP_LOAD(ctx, __u16, FIELD_DPORT, 0);
	if (!keep_port(dport))
		return 0;

	/* AF_INET6 with a v4-mapped destination is an IPv4 connect too. */
	__u16 family = TP_LOAD(ctx, __u16, FIELD_FAMILY, 0);
	COPY4(mapped, ctx, FIELD_DADDR_V6);
	mapped[4] = TP_BYTE(ctx, FIELD_DADDR_V6, 4);
	mapped[5] = TP_BYTE(ctx, FIELD_DADDR_V6, 5);
	mapped[6] = TP_BYTE(ctx, FIELD_DADDR_V6, 6);
	mapped[7] = TP_BYTE(ctx, FIELD_DADDR_V6, 7);
	mapped[8] = TP_BYTE(ctx, FIELD_DADDR_V6, 8);
	mapped[9] = TP_BYTE(ctx, FIELD_DADDR_V6, 9);
	mapped[10] = TP_BYTE(ctx, FIELD_DADDR_V6, 10);
	mapped[11] = TP_BYTE(ctx, FIELD_DADDR_V6, 11);
	int is_mapped = (mapped[0] | mapped[1] | mapped[2] | mapped[3] |
			 mapped[4] | mapped[5] | mapped[6] | mapped[7] |
			 mapped[8] | mapped[9]) == 0 &&
			mapped[10] == 0xff && mapped[11] == 0xff;

	if (family == AF_INET || is_mapped) {
		evp->ip = 4;
		COPY4(evp->saddr, ctx, FIELD_SADDR);
		COPY4(evp->daddr, ctx, FIELD_DADDR);
	} else {
		evp->ip = 6;
		COPY16(evp->saddr, ctx, FIELD_SADDR_V6);
		COPY16(evp->daddr, ctx, FIELD_DADDR_V6);
	}
	if (!keep_family(evp->ip))
		return 0;

	evp->dport = dport;
	fill_task(evp, pid_tgid, uid, 0, 0);
	hold_or_submit(ctx, &p, pid_tgid, TP_LOAD(ctx, __u64, FIELD_SKADDR, 0));
	return 0;
}

/* -L: a thread enters connect(2). */
SEC("tracepoint/syscalls/sys_enter_connect")
int tcpconnect_sys_enter(void *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u8 one = 1;
	bpf_map_update_elem(&in_connect, &pid_tgid, &one, BPF_ANY);
	return 0;
}

/* -L: connect(2) returns (blocking or not): the local port is known now. */
SEC("tracepoint/syscalls/sys_exit_connect")
int tcpconnect_sys_exit(void *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	bpf_map_delete_elem(&in_connect, &pid_tgid);
	struct pending_connect *held = bpf_map_lookup_elem(&pending, &pid_tgid);
	if (!held)
		return 0;
	__u64 key = held->sk;
	char *sk = (char *)key;
	if (CONST(result_mode)) {
		/* --result -L: the port, for the event waiting for its outcome. */
		bpf_map_delete_elem(&pending, &pid_tgid);
		struct connect_event *waiting = bpf_map_lookup_elem(&inflight, &key);
		if (waiting) {
			__u16 lport = 0;
			bpf_probe_read(&lport, sizeof(lport), sk + SKC_NUM);
			if (!waiting->lport)
				waiting->lport = lport;
		}
		return 0;
	}
	struct connect_event ev;
	/* Already sent, as the socket left SYN_SENT. */
	if (!take_held(pid_tgid, key, &ev))
		return 0;
	bpf_map_delete_elem(&held_sockets, &key);
	bpf_probe_read(&ev.lport, sizeof(ev.lport), sk + SKC_NUM);
	/* Already closed (refused, unreachable): the port it had then. */
	__u16 *closed_port = bpf_map_lookup_elem(&syn_sent_ports, &key);
	if (closed_port) {
		if (!ev.lport)
			ev.lport = *closed_port;
		bpf_map_delete_elem(&syn_sent_ports, &key);
	}
	submit(ctx, &ev);
	return 0;
}

/* ---- raw and BTF tracepoint paths ------------------------------------ */

/*
 * The body of both programs on the tracepoint's arguments (sk, oldstate,
 * newstate): the raw tracepoint program reads the socket with
 * bpf_probe_read and the task with helpers; the BTF tracepoint program
 * (`direct`) reads both with BTF-checked loads. Same events either way.
 */
static always_inline int state_change(__u64 *ctx, int direct)
{
	char *sk = (char *)ctx[0];
	int oldstate = (int)ctx[1];
	if (oldstate == TCP_SYN_SENT) {
		if (CONST(lport_defer) || CONST(result_mode)) {
			/*
			 * inet_sport, not skc_num: a refused connect has
			 * released its port (skc_num = 0) by now. A probe read
			 * on both: it is in struct inet_sock, past the struct
			 * sock the BTF tracepoint's argument is typed as.
			 */
			__u16 sport = 0;
			bpf_probe_read(&sport, sizeof(sport), sk + CONST(inet_sport_off));
			sport = __builtin_bswap16(sport);
			if (CONST(lport_defer) && !CONST(result_mode))
				leave_syn_sent(ctx, (__u64)sk, sport);
			handshake_done(ctx, (__u64)sk, (int)ctx[2], sport);
		}
		return 0;
	}
	if (oldstate != TCP_CLOSE || (int)ctx[2] != TCP_SYN_SENT)
		return 0;
	/* MPTCP's own socket also enters SYN_SENT; its TCP subflow is the connect. */
	__u16 protocol = 0;
	if (direct)
		protocol = BTF_LOAD(sk, __u16, CONST(sk_protocol_off));
	else
		bpf_probe_read(&protocol, sizeof(protocol), sk + CONST(sk_protocol_off));
	if (protocol != IPPROTO_TCP)
		return 0;

	char *task = 0;
	__u64 pid_tgid;
	__u32 uid = 0;
	if (direct) {
		task = bpf_get_current_task_btf();
		pid_tgid = (__u64)BTF_LOAD(task, __u32, CONST(task_tgid_off)) << 32 |
			   BTF_LOAD(task, __u32, CONST(task_pid_off));
		if (CONST(read_uid)) {
			char *cred = BTF_LOAD(task, kernel_ptr, CONST(task_cred_off));
			uid = BTF_LOAD(cred, __u32, CONST(cred_uid_off));
		}
	} else {
		pid_tgid = bpf_get_current_pid_tgid();
		uid = current_uid();
	}
	if (!keep_task(pid_tgid >> 32, uid))
		return 0;
	struct pending_connect p = {};
	if (!read_socket(&p.ev, sk, 0, direct))
		return 0;
	fill_task(&p.ev, pid_tgid, uid, task, direct);
	hold_or_submit(ctx, &p, pid_tgid, (__u64)sk);
	return 0;
}

/*
 * sock:inet_sock_set_state as a raw tracepoint (4.17+; used when BTF gives
 * the socket layout). The same hook as above without the perf record the
 * kernel builds for every state change of every TCP socket before the
 * program runs, which is most of what tracing costs a busy host: the
 * arguments are (sk, oldstate, newstate) and the program reads the socket
 * itself, only for CLOSE -> SYN_SENT. Same events as the tracepoint program.
 */
SEC("raw_tracepoint/inet_sock_set_state")
int tcpconnect_state_raw(__u64 *ctx)
{
	return state_change(ctx, 0);
}

/*
 * The same hook as a BTF tracepoint (tp_btf; needs 5.11 for
 * bpf_get_current_task_btf): the kernel types the arguments from BTF, so
 * the socket and the current task are read with plain loads instead of five
 * helper calls (two probe reads, pid, uid, comm): ~110 ns a connect on a
 * retpoline host (bpf_stats). Loaded first where BTF is; any refusal falls back to the
 * raw tracepoint program.
 */
SEC("tp_btf/inet_sock_set_state")
int tcpconnect_state_btf(__u64 *ctx)
{
	return state_change(ctx, 1);
}

/* ---- kprobe path ---------------------------------------------------- */

/* A pt_regs load at a marked offset (REG_* in tcpconnect.h). */
#define REG(ctx, reg) (*(volatile __u64 *)((char *)(ctx) + FIELD_MARK(reg, 0)))

/*
 * Entry of tcp_v4_connect and tcp_v6_connect (one program on both): stash
 * the socket for the return probe of the same thread. A v4-mapped connect
 * runs tcp_v4_connect inside tcp_v6_connect: the inner entry overwrites the
 * stash and the inner return consumes it, so the outer return finds nothing
 * and the connect is reported once, as IPv4, like bcc.
 */
SEC("kprobe/tcp_connect_entry")
int tcpconnect_entry(void *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 uid = current_uid();
	if (!keep_task(pid_tgid >> 32, uid))
		return 0;
	__u64 sk = REG(ctx, REG_ARG1);
	bpf_map_update_elem(&connecting, &pid_tgid, &sk, BPF_ANY);
	return 0;
}

/* The stashed socket of this thread, removed from the map; 0 if none. */
static always_inline __u64 take_socket(__u64 pid_tgid)
{
	__u64 *stashed = bpf_map_lookup_elem(&connecting, &pid_tgid);
	if (!stashed)
		return 0;
	__u64 sk = *stashed;
	bpf_map_delete_elem(&connecting, &pid_tgid);
	return sk;
}

/*
 * Return of tcp_v[46]_connect: report the connect when it returned 0 (the SYN
 * is on its way; the local port is chosen). Addresses come from the socket,
 * as in bcc, so a connect to 0.0.0.0 or :: shows the address the kernel
 * really used.
 */
static always_inline int connect_return(void *ctx, int v6)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	char *sk = (char *)take_socket(pid_tgid);
	if (!sk)
		return 0;
	if ((int)REG(ctx, REG_RC) != 0)
		return 0;

	struct connect_event ev = {};
	if (!read_socket(&ev, sk, v6 ? AF_INET6 : AF_INET, 0))
		return 0;
	fill_task(&ev, pid_tgid, current_uid(), 0, 0);
	if (CONST(result_mode))
		await_handshake(&ev, (__u64)sk);
	else
		submit(ctx, &ev);
	return 0;
}

SEC("kretprobe/tcp_v4_connect")
int tcpconnect_v4_return(void *ctx)
{
	return connect_return(ctx, 0);
}

SEC("kretprobe/tcp_v6_connect")
int tcpconnect_v6_return(void *ctx)
{
	return connect_return(ctx, 1);
}

/*
 * --result on the kprobe path: tcp_set_state(sk, newstate), bcc tcplife's
 * hook on kernels without the tracepoint. At its entry skc_state still
 * holds the old state. The kprobe path's event already has its local port.
 */
SEC("kprobe/tcp_set_state")
int tcpconnect_set_state(void *ctx)
{
	char *sk = (char *)REG(ctx, REG_ARG1);
	__u8 oldstate = 0;
	bpf_probe_read(&oldstate, sizeof(oldstate), sk + SKC_STATE);
	if (oldstate != TCP_SYN_SENT)
		return 0;
	handshake_done(ctx, (__u64)sk, (int)REG(ctx, REG_ARG2), 0);
	return 0;
}

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

/* ---- -d: DNS answers as processes read them ------------------------ */

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
	__u64 addr;             /* recvfrom: the sender's sockaddr (may be NULL) */
	__u32 fd;
	__u32 call;             /* DNS_RECVFROM, DNS_RECVMSG, DNS_READ */
};

struct bpf_map_def SEC("maps") dns_reads = {
	.type = BPF_MAP_TYPE_LRU_HASH,
	.key_size = sizeof(__u64),
	.value_size = sizeof(struct dns_read),
	.max_entries = 10240,
};

/*
 * -d: user memory, read with bpf_probe_read, which reads it on the 64-bit
 * architectures we run on (disjoint user and kernel address spaces: 5.5+
 * dispatches on the address) and keeps the programs loadable by 4.x;
 * bpf_probe_read_user (5.5) would add nothing there.
 */
#define read_user(dst, size, src) bpf_probe_read(dst, size, src)

/* UAPI struct user_msghdr and struct iovec (linux/socket.h, linux/uio.h), 64-bit. */
struct user_msghdr_head {
	__u64 msg_name;
	__u64 msg_namelen;      /* int, padded */
	__u64 msg_iov;
	__u64 msg_iovlen;
};

struct user_iovec {
	__u64 base;
	__u64 len;
};

/*
 * Copies `n` bytes of user memory at `src` to the message. `n` is bounded by
 * the caller (n <= DNS_MAX); the mask only lets the verifier see it, in asm
 * because clang drops a mask it can prove idle, and the bound with it.
 */
static always_inline long dns_copy(struct dns_scratch *s, __u64 src, __u64 n)
{
	asm volatile("%0 &= %1" : "+r"(n) : "i"(2 * DNS_MAX - 1));
	return read_user(s->ev.data, n, (const void *)src);
}

static always_inline void dns_read_enter(__u32 call, __u64 fd, __u64 buf, __u64 addr)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct dns_read read = { .buf = buf, .addr = addr, .fd = fd, .call = call };
	bpf_map_update_elem(&dns_reads, &pid_tgid, &read, BPF_ANY);
}

#define S_IFMT 0170000
#define S_IFSOCK 0140000

/* The IP version of an address family: 4, 6, or 0 for any other. */
static always_inline __u8 ip_of_family(__u16 family)
{
	return family == AF_INET6 ? 6 : family == AF_INET ? 4 : 0;
}

/*
 * The IP version of the socket behind the current task's `fd` if it is an
 * IPv4 or IPv6 socket connected to port 53, or connected nowhere, else 0:
 * for a read that names no sender (read(2), recv(2) on a connected socket,
 * as Go's resolver reads; recv(2) on an unconnected one). The file table,
 * the file, its inode and its socket, at offsets from BTF; the socket's peer
 * port and family in struct sock_head.
 */
static always_inline __u8 dns_peer_of_fd(__u32 fd)
{
	char *task = (char *)bpf_get_current_task();
	char *files = 0, *fdt = 0, *fds = 0, *file = 0, *inode = 0, *socket = 0, *sk = 0;
	__u32 max_fds = 0;
	__u16 mode = 0;

	bpf_probe_read(&files, sizeof(files), task + CONST(task_files_off));
	if (!files)
		return 0;
	bpf_probe_read(&fdt, sizeof(fdt), files + CONST(files_fdt_off));
	if (!fdt)
		return 0;
	bpf_probe_read(&max_fds, sizeof(max_fds), fdt + CONST(fdt_max_fds_off));
	if (fd >= max_fds)
		return 0;
	bpf_probe_read(&fds, sizeof(fds), fdt + CONST(fdt_fd_off));
	if (!fds)
		return 0;
	bpf_probe_read(&file, sizeof(file), fds + (__u64)fd * sizeof(file));
	if (!file)
		return 0;
	bpf_probe_read(&inode, sizeof(inode), file + CONST(file_f_inode_off));
	if (!inode)
		return 0;
	bpf_probe_read(&mode, sizeof(mode), inode + CONST(inode_i_mode_off));
	if ((mode & S_IFMT) != S_IFSOCK)
		return 0;
	bpf_probe_read(&socket, sizeof(socket), file + CONST(file_private_data_off));
	if (!socket)
		return 0;
	bpf_probe_read(&sk, sizeof(sk), socket + CONST(socket_sk_off));
	if (!sk)
		return 0;
	struct sock_head head = {};
	bpf_probe_read(&head, sizeof(head), sk);
	/* Unconnected (a datagram socket read without asking who sent it): the header decides. */
	if (head.dport != __builtin_bswap16(DNS_PORT) && head.dport != 0)
		return 0;
	return ip_of_family(head.family);
}

/*
 * The read returned `ret` bytes: a DNS response from port 53 goes to user
 * space, with the reader's network namespace. From port 53: the sender's
 * address says so where the caller asked for it, else the socket behind
 * the fd is connected to it. Its header must say response, standard query,
 * one question: checked before the socket, which most reads of a busy host
 * (read(2) of files and pipes) never get to. User space parses it and
 * checks everything again.
 */
static always_inline void dns_read_exit(void *ctx, long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct dns_read *found = bpf_map_lookup_elem(&dns_reads, &pid_tgid);
	if (!found)
		return;
	struct dns_read read = *found;
	bpf_map_delete_elem(&dns_reads, &pid_tgid);
	if (ret < 12)           /* not even a DNS header */
		return;
	__u64 cap = ret;
	if (read.call == DNS_RECVMSG) {
		struct user_msghdr_head msg = {};
		struct user_iovec iov = {};
		if (read_user(&msg, sizeof(msg), (const void *)read.buf) != 0 || !msg.msg_iovlen)
			return;
		if (read_user(&iov, sizeof(iov), (const void *)msg.msg_iov) != 0)
			return;
		read.addr = msg.msg_name;
		read.buf = iov.base;
		cap = iov.len;  /* the first buffer: resolvers read into one */
	}
	__u8 header[6] = {};
	if (read_user(header, sizeof(header), (const void *)read.buf) != 0)
		return;
	/* QR, opcode QUERY; QDCOUNT 1. */
	if (!(header[2] & 0x80) || (header[2] & 0x78) || header[4] != 0 || header[5] != 1)
		return;
	__u8 ip = 0;
	if (read.addr) {
		__u16 sa[2] = {};
		read_user(sa, sizeof(sa), (const void *)read.addr);
		if (sa[1] != __builtin_bswap16(DNS_PORT))
			return;
		ip = ip_of_family(sa[0]);
	} else {
		ip = dns_peer_of_fd(read.fd);
		if (!ip)
			return;
	}

	__u32 zero = 0;
	struct dns_scratch *s = bpf_map_lookup_elem(&dns_scratch, &zero);
	if (!s)
		return;
	__u64 n = (__u64)ret < cap ? (__u64)ret : cap;
	if (n > DNS_MAX)
		n = DNS_MAX;
	if (dns_copy(s, read.buf, n) != 0)
		return;
	s->ev.ts_ns = bpf_ktime_get_ns();
	s->ev.netns = current_netns();
	s->ev.pid = pid_tgid >> 32;
	s->ev.msg_len = ret > 0xffff ? 0xffff : ret;
	s->ev.len = n;
	s->ev.ip = ip;
	__u64 size = n;
	asm volatile("%0 &= %1" : "+r"(size) : "i"(2 * DNS_MAX - 1));
	/* A full ring: the kernel counts it in the ring's PERF_RECORD_LOST. */
	bpf_perf_event_output(ctx, &dns_events, bpf_get_smp_processor_id(), &s->ev,
			      DNS_EVENT_HEADER + size);
}

SEC("tracepoint/syscalls/sys_enter_recvfrom")
int tcpconnect_dns_recvfrom(void *ctx)
{
	dns_read_enter(DNS_RECVFROM, TP_LOAD(ctx, __u64, FIELD_RECV_FD, 0),
		       TP_LOAD(ctx, __u64, FIELD_RECV_UBUF, 0), TP_LOAD(ctx, __u64, FIELD_RECV_ADDR, 0));
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int tcpconnect_dns_recvmsg(void *ctx)
{
	dns_read_enter(DNS_RECVMSG, TP_LOAD(ctx, __u64, FIELD_RECV_FD, 0),
		       TP_LOAD(ctx, __u64, FIELD_RECV_MSG, 0), 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_read")
int tcpconnect_dns_read(void *ctx)
{
	dns_read_enter(DNS_READ, TP_LOAD(ctx, __u64, FIELD_RECV_FD, 0),
		       TP_LOAD(ctx, __u64, FIELD_READ_BUF, 0), 0);
	return 0;
}

/* One exit program for the three: each reads only `ret`. */
SEC("tracepoint/syscalls/sys_exit_recv")
int tcpconnect_dns_exit(void *ctx)
{
	dns_read_exit(ctx, TP_LOAD(ctx, long, FIELD_SYSCALL_RET, 0));
	return 0;
}

/*
 * Calibration, for kernels without BTF: attached to tcp_v6_connect's return
 * for a loopback connect of our own (the entry program filters on our PID),
 * it sends the first bytes of the socket, where user space looks for the
 * addresses it knows to find skc_v6_daddr and skc_v6_rcv_saddr.
 */
SEC("kretprobe/calibrate_v6")
int tcpconnect_calibrate(void *ctx)
{
	/* Zeroed: before 4.7 a helper could only write to initialized stack. */
	__u64 dump[SOCK_DUMP_LEN / 8] = {};
	char *sk = (char *)take_socket(bpf_get_current_pid_tgid());
	if (!sk)
		return 0;
	if ((int)REG(ctx, REG_RC) != 0)
		return 0;
	if (bpf_probe_read(dump, sizeof(dump), sk) != 0)
		return 0;
	bpf_perf_event_output(ctx, &events, bpf_get_smp_processor_id(), dump, sizeof(dump));
	return 0;
}

/*
 * Calibration of sk_err, for --result on kernels without BTF: attached for
 * two connects of our own to CONST(calib_port) on 127.0.0.1, one refused
 * (sk_err = ECONNREFUSED) and one closed by us in SYN_SENT (sk_err = 0),
 * each sends the first SOCK_CHUNKS * SOCK_DUMP_LEN bytes of the socket as
 * it leaves SYN_SENT for CLOSE. User space takes the one offset that holds
 * ECONNREFUSED in the first and 0 in the second. Chunks from the stack:
 * before 4.11 bpf_perf_event_output sends only stack memory.
 */
static always_inline void dump_sock_chunks(void *ctx, char *sk)
{
	struct sock_chunk chunk = {};
	__u32 cpu = bpf_get_smp_processor_id();
#pragma unroll
	for (int i = 0; i < SOCK_CHUNKS; i++) {
		chunk.index = i;
		bpf_probe_read(chunk.bytes, sizeof(chunk.bytes), sk + i * SOCK_DUMP_LEN);
		bpf_perf_event_output(ctx, &events, cpu, &chunk, sizeof(chunk));
	}
}

SEC("tracepoint/sock/calibrate_sk_err")
int tcpconnect_calibrate_sk_err_tp(void *ctx)
{
	if (TP_LOAD(ctx, int, FIELD_OLDSTATE, 0) != TCP_SYN_SENT ||
	    TP_LOAD(ctx, int, FIELD_NEWSTATE, 0) != TCP_CLOSE ||
	    TP_LOAD(ctx, __u16, FIELD_DPORT, 0) != (__u16)CONST(calib_port))
		return 0;
	dump_sock_chunks(ctx, (char *)TP_LOAD(ctx, __u64, FIELD_SKADDR, 0));
	return 0;
}

SEC("kprobe/calibrate_sk_err")
int tcpconnect_calibrate_sk_err_kp(void *ctx)
{
	char *sk = (char *)REG(ctx, REG_ARG1);
	struct sock_head head = {};
	bpf_probe_read(&head, sizeof(head), sk);
	if (head.state != TCP_SYN_SENT || (int)REG(ctx, REG_ARG2) != TCP_CLOSE ||
	    __builtin_bswap16(head.dport) != (__u16)CONST(calib_port))
		return 0;
	dump_sock_chunks(ctx, sk);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
