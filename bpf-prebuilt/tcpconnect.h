/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * The ABI shared by the BPF program (tcpconnect.bpf.c and the *.bpf.h parts
 * it includes) and user space (src/event.rs, src/loader/). Change both sides
 * together.
 */
#ifndef TCPCONNECT_H
#define TCPCONNECT_H

#define TASK_COMM_LEN 16

/*
 * One traced connect, sent through the ring buffer or the perf event array
 * (send() in connect_path.bpf.h). 80 bytes, no holes;
 * sent without `netns` and `pad2` (CONNECT_EVENT_BEFORE_NETNS bytes) unless
 * -d reads the DNS answers in the kernel.
 */
struct connect_event {
	__u64 ts_ns;            /* bpf_ktime_get_ns() at the state change */
	__u32 pid;              /* process id (tgid), not the thread id */
	__u32 uid;
	__u16 dport;            /* host byte order */
	__u16 lport;            /* host byte order; 0 while not yet bound */
	__u8 ip;                /* 4 or 6 */
	__u8 pad[3];
	__u8 saddr[16];         /* IPv4: first 4 bytes, network order */
	__u8 daddr[16];
	char comm[TASK_COMM_LEN];
	__u32 netns;            /* -d in the kernel: the task's network namespace inode, else 0 */
	__u32 pad2;
};
#define CONNECT_EVENT_BEFORE_NETNS 72

/*
 * An IPv4 connect as it is sent where netns is not (without -d in the
 * kernel): struct connect_event up to `pad`, then the two 4-byte addresses
 * and comm. 48 bytes, no holes: 56 in the BPF ring buffer instead of 80,
 * and 24 fewer bytes copied by the program and read by user space.
 */
struct connect_event4 {
	__u64 ts_ns;
	__u32 pid;
	__u32 uid;
	__u16 dport;
	__u16 lport;
	__u8 ip;                /* 4 */
	__u8 pad[3];
	__u8 saddr[4];          /* network order */
	__u8 daddr[4];
	char comm[TASK_COMM_LEN];
};

/*
 * --ppid, --container: a connect and who made it, taken from the connecting
 * task as it connects (the line may print after the process, its parent or
 * its cgroup are gone). Sent instead of the connect_event when either option
 * is on (fill_identity in connect_path.bpf.h). 304 bytes, no holes.
 */
#define CGROUP_LEAF_LEN 112
#define CGROUP_PARENT_LEN 80
#define CGROUP_OWNER_UNKNOWN 0xffffffff
struct identity_event {
	struct connect_event ev;
	__u64 cgroup_id;        /* --container: the kernfs id of the task's cgroup in the hierarchy user space chose; 0 if unread */
	__u32 ppid;             /* --ppid: the parent's process id (tgid); 0 if unread */
	__u32 cgroup_owner;     /* --container: the uid owning the cgroup's directory (CGROUP_OWNER_UNKNOWN if unread) */
	char pcomm[TASK_COMM_LEN]; /* --ppid: the parent's name */
	char cgroup_leaf[CGROUP_LEAF_LEN]; /* --container: the cgroup's name (its path's last element), NUL-terminated; cut at 111 bytes */
	char cgroup_parent[CGROUP_PARENT_LEN]; /* --container: its parent's name, the same way */
};

/*
 * --result: a connect and how its handshake ended, sent through the ring
 * buffer or the perf event array when the socket leaves SYN_SENT. 96 bytes,
 * no holes.
 */
struct outcome_event {
	struct connect_event ev;
	__u64 done_ns;          /* bpf_ktime_get_ns() when it left SYN_SENT */
	__s32 error;            /* sk_err then: 0 if established or closed by its owner */
	__u8 established;       /* 1: SYN_SENT -> ESTABLISHED */
	__u8 pad2[3];
};

/*
 * -d: a DNS message a process read with recvfrom(2), recvmsg(2) or read(2)
 * (from port 53): its first `len` bytes of the `msg_len` the call returned.
 * DNS_EVENT_HEADER bytes, then the message; only the header and `len`
 * bytes of it are sent.
 */
/*
 * What the programs count, in the tallies array: the key of kind K on CPU C
 * is C * TALLY_KINDS + K (user space sizes the array to the highest possible
 * CPU + 1, times TALLY_KINDS, and sums each kind). The losses always; the
 * rest only with -v (CONST(count_stats)), for its account at exit.
 */
#define TALLY_KINDS 8
#define LOST_EVENT 0            /* a connect event: its ring, or a map holding it, was full */
#define LOST_DNS 1              /* -d: a DNS message its ring had no room for */
#define LOST_FLOW 2             /* -c: a connect of a new flow the counts map had no room for */
#define TALLY_SEEN 3            /* -v: a connect the hook saw (kprobes: a call it saw) */
#define TALLY_FILTERED 4        /* -v: a connect the filters dropped */
#define TALLY_SENT 5            /* -v: an event sent to user space (-c: counted) */

#define DNS_MAX 4096            /* bytes of a message kept: EDNS's largest common size */
#define DNS_EVENT_HEADER 24
struct dns_event {
	__u64 ts_ns;            /* bpf_ktime_get_ns() as it was delivered or read */
	__u32 netns;            /* the receiving socket's or reading task's network namespace inode */
	__u32 pid;              /* the reading process (tgid); 0 where taken at delivery */
	__u16 msg_len;          /* the message's length (at most 65535) */
	__u16 len;              /* bytes of it that follow */
	__u8 ip;                /* 4 or 6: the sender's family; 0 if not asked */
	__u8 pad[3];
	__u8 data[DNS_MAX];
};

/* -c: the key of the per-flow connect counts. 40 bytes, no holes. */
struct count_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 dport;            /* host byte order */
	__u8 ip;                /* 4 or 6 */
	__u8 pad[5];
};

/*
 * Tracepoint field markers.
 *
 * Field offsets and widths of sock:inet_sock_set_state differ between kernel
 * versions (`protocol` is a u8 from 4.16 to 5.5 and a u16 since 5.6, which
 * moves every address field by one byte), so the program is compiled with a
 * marker in the 16-bit offset of every context load: FIELD_MARK(field, byte).
 * At load time the loader reads the real offset and size of the field from
 * tracefs `events/sock/inet_sock_set_state/format`, writes offset + byte into
 * the instruction and, where an unsigned field is narrower than the load
 * (the u8 protocol read as a u16), makes the load that narrow, so the
 * verifier sees a plain constant context access of the field's own width.
 * Scalars are written at the widest width any kernel has. Address arrays are
 * loaded byte by byte because their offsets are not always 2- or 4-aligned
 * (31 on 4.19) and context loads must be aligned.
 *
 * Markers live in 0x4000..0x7fff, far beyond any real tracepoint record.
 */
#define FIELD_OLDSTATE 1
#define FIELD_NEWSTATE 2
#define FIELD_DPORT 3
#define FIELD_FAMILY 4
#define FIELD_PROTOCOL 5        /* u8 before 5.6, u16 since */
#define FIELD_SADDR 6
#define FIELD_DADDR 7
#define FIELD_SADDR_V6 8
#define FIELD_DADDR_V6 9
#define FIELD_SKADDR 12         /* the struct sock pointer (for -L) */
#define FIELD_SPORT 13          /* local port, host order (for -L) */
/* -d: syscalls:sys_{enter,exit}_{recvfrom,recvmsg,read}. */
#define FIELD_RECV_UBUF 15      /* recvfrom: ubuf */
#define FIELD_RECV_MSG 17       /* recvmsg: msg */
#define FIELD_SYSCALL_RET 18    /* sys_exit_*: ret */
#define FIELD_RECV_FD 19        /* recvfrom, recvmsg, read: fd */
#define FIELD_READ_BUF 20       /* read: buf */

#define FIELD_MARK(field, byte) (0x4000 | ((field) << 8) | (byte))

/*
 * Kprobe register markers: the same trick for struct pt_regs, whose layout is
 * per architecture. A kprobe program reads the first function argument and a
 * kretprobe program the return value through these markers; the loader writes
 * the running architecture's pt_regs offset (x86_64: di = 112, ax = 80;
 * arm64: regs[0] = 0).
 */
#define REG_ARG1 10
#define REG_RC 11
#define REG_ARG2 14

/* Calibration: the first bytes of struct sock, dumped once for a connect of our own. */
#define SOCK_DUMP_LEN 256

/*
 * Calibration of sk_err (--result without BTF): struct sock of a socket of
 * ours leaving SYN_SENT for CLOSE, as SOCK_CHUNKS samples of one chunk each.
 */
#define SOCK_CHUNKS 4
struct sock_chunk {
	__u64 index;            /* 0 .. SOCK_CHUNKS - 1: bytes index * SOCK_DUMP_LEN on */
	__u8 bytes[SOCK_DUMP_LEN];
};

#endif
