/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * tcpconnect.bpf.c, part 3 of 8. Why: every attach form (the three state
 * tracepoint programs, the kprobes) reports a connect the same way, so what
 * they share is here, as always_inline functions (the program makes no
 * bpf-to-bpf calls). What: the head of struct sock_common the programs read
 * (struct sock_head, SKC_NUM, SKC_STATE); the current task's namespaces and
 * uid; the filters (-p, -u, --cgroupmap, --mntnsmap, -P, -4/-6); -c's
 * per-flow counting; sending a sample through the ring buffer or this CPU's
 * perf ring, with losses counted (send, submit); and building an event from
 * a socket and the current task (read_socket, fill_task, BTF_LOAD for the
 * BTF tracepoint program's direct loads). Defines no program. Relies on
 * part 1 (helpers, CONST), tcpconnect.h (struct connect_event, struct
 * count_key) and part 2 (the maps).
 */

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

/* One more of kind `kind` (LOST_*, TALLY_*) on `cpu`, where user space reads them. */
static always_inline void tally_on(__u32 cpu, __u32 kind)
{
	__u32 key = cpu * TALLY_KINDS + kind;
	__u64 *n = bpf_map_lookup_elem(&tallies, &key);
	if (n)
		__sync_fetch_and_add(n, 1);
}

/* -v: one more of `kind` for its account at exit; nothing without -v. */
static always_inline void tally(__u32 kind)
{
	if (CONST(count_stats))
		tally_on(bpf_get_smp_processor_id(), kind);
}

/* One event user space will never see. */
static always_inline void count_lost(__u32 cpu)
{
	tally_on(cpu, LOST_EVENT);
}

/* -c: one more connect for this flow (a new flow the full map refuses: counted). */
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
		/* Another CPU created it first, or the map is full. */
		n = bpf_map_lookup_elem(&counts, &key);
		if (!n) {
			tally_on(bpf_get_smp_processor_id(), LOST_FLOW);
			return;
		}
	}
	__sync_fetch_and_add(n, 1);
}

/*
 * One sample to user space, through the ring buffer (CONST(use_ringbuf)) or
 * this CPU's perf ring; one the ring refused is counted lost. The reader is
 * woken as the data waiting crosses a multiple of CONST(ring_wakeup_bytes)
 * (a batch, or half the ring), as the perf rings wake it every
 * WAKEUP_EVENTS samples; what is fewer waits for its 100 ms timer. Once,
 * at the crossing, not for every sample past it: a reader that is not
 * reading (stdout a pipe nobody drains) would otherwise cost every traced
 * connect a forced wakeup (an irq_work), 400-700 ns. Its epoll is level-
 * triggered, so one wakeup is enough however long it takes to come back;
 * the next multiple wakes it again where two CPUs raced past the first.
 */
static always_inline void send(void *ctx, void *data, __u64 size)
{
	if (CONST(use_ringbuf)) {
		__u64 mark = CONST(ring_wakeup_bytes);
		__u64 waiting = bpf_ringbuf_query(&ring, BPF_RB_AVAIL_DATA);
		/*
		 * What this record takes in the ring: its 8-byte header and the
		 * payload, rounded up to 8 (kernel/bpf/ringbuf.c). Successive
		 * records' spans tile the ring, so each multiple of the mark falls
		 * in exactly one of them; the payload's size alone would leave
		 * gaps, and a mark of 1024 records lands in one every time.
		 */
		__u64 span = (size + RINGBUF_HDR_SZ + 7) & ~7ULL;
		__u64 wakeup = (waiting + span) / mark != waiting / mark ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
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

/*
 * A load of a kernel struct's member at byte offset `off`, in the BTF
 * tracepoint program: the verifier checks it against the member's BTF type
 * and the JIT makes it a plain load that a fault cannot break (no helper
 * call, which costs ~40 ns on a retpoline host).
 */
#define BTF_LOAD(ptr, type, off) (*(volatile type *)((char *)(ptr) + (off)))
/* A pointer member, for BTF_LOAD (`volatile char **` would qualify the char). */
typedef char *kernel_ptr;

/* 16 bytes at `src` (an address, a comm): BTF-checked loads (`direct`) or bpf_probe_read. */
static always_inline void read16(__u8 *dst, char *src, int direct)
{
	if (direct) {
		((__u64 *)dst)[0] = BTF_LOAD(src, __u64, 0);
		((__u64 *)dst)[1] = BTF_LOAD(src, __u64, 8);
	} else {
		bpf_probe_read(dst, 16, src);
	}
}

/* A pointer, u64 or u32 member at `base + off`: BTF-checked loads (`direct`) or bpf_probe_read. */
static always_inline char *load_ptr(char *base, __u32 off, int direct)
{
	char *p = 0;
	if (direct)
		p = BTF_LOAD(base, kernel_ptr, off);
	else
		bpf_probe_read(&p, sizeof(p), base + off);
	return p;
}

static always_inline __u64 load_u64(char *base, __u32 off, int direct)
{
	__u64 v = 0;
	if (direct)
		v = BTF_LOAD(base, __u64, off);
	else
		bpf_probe_read(&v, sizeof(v), base + off);
	return v;
}

static always_inline __u32 load_u32(char *base, __u32 off, int direct)
{
	__u32 v = 0;
	if (direct)
		v = BTF_LOAD(base, __u32, off);
	else
		bpf_probe_read(&v, sizeof(v), base + off);
	return v;
}

/*
 * --ppid, --container: who the current task is, read through its pointers
 * at offsets from BTF (a read that fails leaves zeros): its parent's tgid and
 * name (CONST(read_parent)); its cgroup in the one hierarchy user space
 * chose (CONST(read_cgroup)): css_set.subsys[that controller]->cgroup on a
 * v1 hierarchy (CONST(cgroup_via_css)), css_set.dfl_cgrp on v2, then the
 * cgroup's kernfs node: its id, which user space maps to a path while the
 * cgroup exists; its name and its parent's, and who owns it, which name a
 * container still when the cgroup is gone by the time the line is printed
 * (a client that connects and exits at once). A kernfs node keeps its
 * owner in `iattr`, allocated only when it is not root:root (a cgroup made
 * by another user, or chowned to one: delegation).
 *
 * `task` and `direct` as fill_task has them: in the BTF tracepoint program
 * the pointers are followed by BTF-checked loads (each a plain load, where
 * bpf_probe_read is a ~40 ns helper call here); elsewhere by bpf_probe_read
 * from bpf_get_current_task(). The names stay bpf_probe_read_str (a char
 * pointer is no BTF struct), and so does the owner: a load that faults
 * reads 0, which must never pass for root.
 */
static always_inline void fill_identity(struct identity_event *id, char *task, int direct)
{
	char *parent, *cgroups, *cgrp, *kn, *name, *up, *iattr = 0;
	/*
	 * The slow path reads into the stack, for 4.9's verifier, which
	 * checks this code even where CONST(identity) turns it off; then the
	 * map value. (bpf_probe_read_str, 4.11, is stubbed where it is off.)
	 */
	__u32 owner = CGROUP_OWNER_UNKNOWN;
	__u8 pcomm[TASK_COMM_LEN] = {};

	if (!direct)
		task = (char *)bpf_get_current_task();
	if (CONST(read_parent)) {
		__u32 ppid = 0;
		parent = load_ptr(task, CONST(task_real_parent_off), direct);
		if (parent) {
			/*
			 * real_parent is the thread that forked: the process's
			 * name is its group leader's, as /proc/PPID/comm shows it.
			 */
			char *leader = load_ptr(parent, CONST(task_group_leader_off), direct);
			ppid = load_u32(parent, CONST(task_tgid_off), direct);
			read16(pcomm, (leader ? leader : parent) + CONST(task_comm_off), direct);
		}
		id->ppid = ppid;
		__builtin_memcpy(id->pcomm, pcomm, sizeof(pcomm));
	}
	if (!CONST(read_cgroup))
		return;
	cgroups = load_ptr(task, CONST(task_cgroups_off), direct);
	if (!cgroups)
		return;
	cgrp = load_ptr(cgroups, CONST(css_set_cgroup_off), direct);
	if (cgrp && CONST(cgroup_via_css))
		cgrp = load_ptr(cgrp, CONST(css_cgroup_off), direct);
	if (!cgrp)
		return;
	kn = load_ptr(cgrp, CONST(cgroup_kn_off), direct);
	if (!kn)
		return;
	id->cgroup_id = load_u64(kn, CONST(kn_id_off), direct);
	name = load_ptr(kn, CONST(kn_name_off), direct);
	if (name)
		bpf_probe_read_str(id->cgroup_leaf, sizeof(id->cgroup_leaf), name);
	/* A read that fails leaves the owner unknown, never root. */
	int have_iattr = 1;
	if (direct)
		iattr = BTF_LOAD(kn, kernel_ptr, CONST(kn_iattr_off));
	else
		have_iattr = bpf_probe_read(&iattr, sizeof(iattr), kn + CONST(kn_iattr_off)) == 0;
	if (have_iattr) {
		__u32 uid = 0;
		if (!iattr || bpf_probe_read(&uid, sizeof(uid), iattr + CONST(iattrs_uid_off)) == 0)
			owner = uid;
	}
	id->cgroup_owner = owner;
	up = load_ptr(kn, CONST(kn_parent_off), direct);
	name = up ? load_ptr(up, CONST(kn_name_off), direct) : 0;
	if (name)
		bpf_probe_read_str(id->cgroup_parent, sizeof(id->cgroup_parent), name);
}

/*
 * --ppid, --container: `ev` with who made it, from the per-CPU scratch
 * value (no scratch: counted lost). Only where the current task is the one
 * that connects, which the options' exclusions (-c, -L, --result) ensure.
 */
static always_inline void send_identity(void *ctx, struct connect_event *ev, char *task, int direct)
{
	__u32 zero = 0;
	struct identity_event *id = bpf_map_lookup_elem(&identity_scratch, &zero);
	if (!id) {
		count_lost(bpf_get_smp_processor_id());
		return;
	}
	id->ev = *ev;
	id->cgroup_id = 0;
	id->ppid = 0;
	id->cgroup_owner = CGROUP_OWNER_UNKNOWN;
	__builtin_memset(id->pcomm, 0, sizeof(id->pcomm));
	id->cgroup_leaf[0] = 0;
	id->cgroup_parent[0] = 0;
	fill_identity(id, task, direct);
	send(ctx, id, sizeof(*id));
}

/*
 * The end of every path: count it (-c) or send it to user space; `task`
 * and `direct` as fill_task has them, for --ppid and --container.
 */
static always_inline void submit_from(void *ctx, struct connect_event *ev, char *task, int direct)
{
	tally(TALLY_SENT);
	if (CONST(count_mode)) {
		count_connect(ev);
		return;
	}
	if (CONST(identity)) {
		send_identity(ctx, ev, task, direct);
		return;
	}
	/* Only -d in the kernel reads netns: without it, the bytes before it. */
	if (CONST(dns_netns)) {
		send(ctx, ev, sizeof(*ev));
		return;
	}
	if (ev->ip == 4) {
		/* An IPv4 connect in 48 bytes, not 72: ~14 ns a connect (bpf_stats). */
		struct connect_event4 ev4;
		__builtin_memcpy(&ev4, ev, 24);
		__builtin_memcpy(ev4.saddr, ev->saddr, 4);
		__builtin_memcpy(ev4.daddr, ev->daddr, 4);
		__builtin_memcpy(ev4.comm, ev->comm, sizeof(ev4.comm));
		send(ctx, &ev4, sizeof(ev4));
		return;
	}
	send(ctx, ev, CONNECT_EVENT_BEFORE_NETNS);
}

/* The same where the current task is not read here (or not the connect's). */
static always_inline void submit(void *ctx, struct connect_event *ev)
{
	submit_from(ctx, ev, 0, 0);
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
	if (!keep_port(ev->dport)) {
		tally(TALLY_FILTERED);
		return 0;
	}
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
	if (!keep_family(ev->ip)) {
		tally(TALLY_FILTERED);
		return 0;
	}
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
	/*
	 * The time only where something reads it (CONST(read_clock)): -t, -d,
	 * --result, events held before they are sent, and the perf rings'
	 * merge across CPUs. The one ring buffer is in order without it, and
	 * the helper call is ~20 ns of every connect here (bpf_stats).
	 */
	ev->ts_ns = CONST(read_clock) ? bpf_ktime_get_ns() : 0;
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
