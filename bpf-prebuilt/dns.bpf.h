/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * tcpconnect.bpf.c, part 7 of 8. Why: -d names each connect's destination
 * after the DNS answer that came to its network namespace, taken in the
 * kernel, in every network namespace (without BTF, user space uses a
 * packet socket instead and these programs are not loaded). What: one
 * cgroup_skb program that takes each answer as the kernel delivers it to a
 * socket (where the kernel takes it: the loader tries it first), and,
 * where it does not load, four programs on recvfrom(2), recvmsg(2) and
 * read(2): three on their entries, which note the thread's buffer in
 * `dns_reads`, and one on their exits, which sends a message from port 53
 * that looks like a DNS response. Either sends it to `dns_events` with the
 * network namespace of the socket or reader. Relies on part 1 (TP_LOAD,
 * helpers), part 2 (dns_events, dns_scratch, dns_reads and struct dns_read
 * with its DNS_RECVFROM, DNS_RECVMSG, DNS_READ), part 3 (current_netns,
 * tally_on, struct sock_head) and tcpconnect.h (struct dns_event, DNS_MAX,
 * DNS_EVENT_HEADER, the FIELD_RECV_*, FIELD_READ_BUF and FIELD_SYSCALL_RET
 * markers).
 */
/*
 * tcpconnect.bpf.c, part 7 of 8. Why: -d names each connect's destination
 * after the DNS answer its process read, taken where processes read the
 * answers, in every network namespace (without BTF, user space uses a
 * packet socket instead and these programs are not loaded). What: three
 * programs on the entries of recvfrom(2), recvmsg(2) and read(2), which note
 * the thread's buffer in `dns_reads`, and one on their exits, which sends a
 * message from port 53 that looks like a DNS response to `dns_events`, with
 * the reader's network namespace. Relies on part 1 (TP_LOAD, helpers),
 * part 2 (dns_events, dns_scratch, dns_reads and struct dns_read with its
 * DNS_RECVFROM, DNS_RECVMSG, DNS_READ), part 3 (current_netns, tally_on, struct
 * sock_head) and tcpconnect.h (struct dns_event, DNS_MAX, DNS_EVENT_HEADER,
 * the FIELD_RECV_*, FIELD_READ_BUF and FIELD_SYSCALL_RET markers).
 */

/* ---- -d: DNS answers as processes read them ------------------------ */

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

#define S_IFMT 0170000
#define S_IFSOCK 0140000
#define IPPROTO_UDP 17

/* The IP version of an address family: 4, 6, or 0 for any other. */
static always_inline __u8 ip_of_family(__u16 family)
{
	return family == AF_INET6 ? 6 : family == AF_INET ? 4 : 0;
}

/*
 * The struct sock behind the current task's `fd`, or 0 where it is no
 * socket: the file table, the file, its inode and its socket, at offsets
 * from BTF.
 */
static always_inline char *dns_sock_of_fd(__u32 fd)
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
	return sk;
}

/*
 * The source port of the datagram first in line in receive queue `queue`
 * (a struct sk_buff_head, whose first member is its first skb; an empty
 * queue points at itself), in network order; 0 where there is none. Read
 * from the skb, kernel memory: its UDP header at head + transport_header.
 */
static always_inline __u16 dns_queued_sport(char *queue)
{
	char *skb = 0, *head = 0;
	__u16 transport = 0, sport = 0;
	bpf_probe_read(&skb, sizeof(skb), queue);
	if (!skb || skb == queue)
		return 0;
	bpf_probe_read(&head, sizeof(head), skb + CONST(skb_head_off));
	bpf_probe_read(&transport, sizeof(transport), skb + CONST(skb_transport_header_off));
	if (!head || transport == 0xffff)
		return 0;
	bpf_probe_read(&sport, sizeof(sport), head + transport);
	return sport;
}

/*
 * The IP version of the socket behind `fd` where the kernel's own memory
 * shows that what it reads comes from port 53, else 0. A socket connected
 * to port 53: a connected socket receives from its peer only. With
 * `queued`, an unconnected UDP socket whose next datagram (the first of
 * its reader queue, else of its receive queue) comes from port 53: taken
 * as the call enters, so the datagram it then returns is that one unless
 * another thread of the reader takes it first (see the man page, -d).
 * Never the sender's address the caller asked for, which is its own
 * memory: another thread of it can rewrite that before we read it.
 */
static always_inline __u8 dns_from_port_53(__u32 fd, int queued)
{
	char *sk = dns_sock_of_fd(fd);
	if (!sk)
		return 0;
	struct sock_head head = {};
	bpf_probe_read(&head, sizeof(head), sk);
	__u8 ip = ip_of_family(head.family);
	if (head.dport == __builtin_bswap16(DNS_PORT))
		return ip;
	if (head.dport != 0 || !queued)
		return 0;
	__u16 protocol = 0;
	/* A u16 since 5.6, a byte of a bitfield before: the mask keeps it. */
	bpf_probe_read(&protocol, sizeof(protocol), sk + CONST(dns_sk_protocol_off));
	if ((protocol & CONST(dns_sk_protocol_mask)) != IPPROTO_UDP)
		return 0;
	__u16 sport = dns_queued_sport(sk + CONST(udp_reader_queue_off));
	if (!sport)
		sport = dns_queued_sport(sk + CONST(sk_receive_queue_off));
	return sport == __builtin_bswap16(DNS_PORT) ? ip : 0;
}

/*
 * A thread enters a read. recvfrom(2) and recvmsg(2) are judged now, from
 * the socket and what waits in it (a read from elsewhere is not noted at
 * all); read(2), which most often reads files and pipes, only at its exit,
 * once what it read looks like a DNS response.
 */
static always_inline void dns_read_enter(__u32 call, __u64 fd, __u64 buf)
{
	__u8 ip = 0;
	if (call != DNS_READ) {
		ip = dns_from_port_53(fd, 1);
		if (!ip)
			return;
	}
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct dns_read read = { .buf = buf, .fd = fd, .call = call, .ip = ip };
	bpf_map_update_elem(&dns_reads, &pid_tgid, &read, BPF_ANY);
}

/*
 * The read returned `ret` bytes: a DNS response from port 53 goes to user
 * space, with the reader's network namespace. From port 53: as the
 * kernel's memory shows it (`dns_from_port_53`): for read(2), the socket
 * behind the fd is connected to it. Its header must say response,
 * standard query, one question: checked before the socket, which most
 * reads of a busy host (read(2) of files and pipes) never get to. User
 * space parses it and checks everything again.
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
		read.buf = iov.base;
		cap = iov.len;  /* the first buffer: resolvers read into one */
	}
	__u8 header[6] = {};
	if (read_user(header, sizeof(header), (const void *)read.buf) != 0)
		return;
	/* QR, opcode QUERY; QDCOUNT 1. */
	if (!(header[2] & 0x80) || (header[2] & 0x78) || header[4] != 0 || header[5] != 1)
		return;
	__u8 ip = read.ip;
	if (read.call == DNS_READ) {
		ip = dns_from_port_53(read.fd, 0);
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
	/*
	 * A full ring: counted here, exact and at once (the ring's own
	 * PERF_RECORD_LOST comes only when it next has room).
	 */
	__u32 cpu = bpf_get_smp_processor_id();
	if (bpf_perf_event_output(ctx, &dns_events, cpu, &s->ev, DNS_EVENT_HEADER + size) != 0)
		tally_on(cpu, LOST_DNS);
}

SEC("tracepoint/syscalls/sys_enter_recvfrom")
int tcpconnect_dns_recvfrom(void *ctx)
{
	dns_read_enter(DNS_RECVFROM, TP_LOAD(ctx, __u64, FIELD_RECV_FD, 0), TP_LOAD(ctx, __u64, FIELD_RECV_UBUF, 0));
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int tcpconnect_dns_recvmsg(void *ctx)
{
	dns_read_enter(DNS_RECVMSG, TP_LOAD(ctx, __u64, FIELD_RECV_FD, 0), TP_LOAD(ctx, __u64, FIELD_RECV_MSG, 0));
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_read")
int tcpconnect_dns_read(void *ctx)
{
	dns_read_enter(DNS_READ, TP_LOAD(ctx, __u64, FIELD_RECV_FD, 0), TP_LOAD(ctx, __u64, FIELD_READ_BUF, 0));
	return 0;
}

/* One exit program for the three: each reads only `ret`. */
SEC("tracepoint/syscalls/sys_exit_recv")
int tcpconnect_dns_exit(void *ctx)
{
	dns_read_exit(ctx, TP_LOAD(ctx, long, FIELD_SYSCALL_RET, 0));
	return 0;
}

/* ---- -d: DNS answers as the kernel delivers them ------------------- */

/*
 * UAPI struct __sk_buff (linux/bpf.h) up to `sk` (5.1), the context of a
 * cgroup_skb program. Loads of it are rewritten by the verifier.
 */
struct sk_buff_md {
	__u32 len;
	__u32 pkt_type, mark, queue_mapping;
	__u32 protocol;         /* the L3 protocol, network order */
	__u32 vlan_present, vlan_tci, vlan_proto, priority;
	__u32 ingress_ifindex, ifindex, tc_index;
	__u32 cb[5];
	__u32 hash, tc_classid, data, data_end, napi_id;
	__u32 family, remote_ip4, local_ip4, remote_ip6[4], local_ip6[4];
	__u32 remote_port, local_port, data_meta;
	__u64 flow_keys, tstamp;
	__u32 wire_len, gso_segs;
	__u64 sk;               /* the receiving socket */
};
_Static_assert(__builtin_offsetof(struct sk_buff_md, sk) == 168, "UAPI __sk_buff.sk");

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define UDP_HEADER 8

/*
 * The network namespace of the socket `sk` points at: sock_common.skc_net,
 * then net.ns.inum, at offsets from BTF. The verifier lets no arithmetic
 * touch a socket pointer, so its value is read back from the stack as a
 * plain number first.
 */
static always_inline __u32 sock_netns(__u64 sk)
{
	char *addr = 0, *net = 0;
	__u32 inum = 0;
	bpf_probe_read_kernel(&addr, sizeof(addr), &sk);
	if (!addr)
		return 0;
	bpf_probe_read_kernel(&net, sizeof(net), addr + CONST(sk_net_off));
	if (!net)
		return 0;
	bpf_probe_read_kernel(&inum, sizeof(inum), net + CONST(net_inum_off));
	return inum;
}

/*
 * Every datagram the kernel delivers to a socket in the cgroup v2 tree
 * below the root it is attached to, which is every socket of the host, in
 * every network namespace; it runs in sk_filter as the datagram is queued,
 * before any reader can take it. A UDP datagram from port 53 (as its
 * header says: the kernel delivered it, no process wrote that) that looks
 * like a DNS response goes to user space, with the receiving socket's
 * network namespace. Everything else costs two loads of its headers. The
 * datagram is always let through.
 */
SEC("cgroup_skb/ingress")
int tcpconnect_dns_skb(struct sk_buff_md *skb)
{
	__u32 udp = 0;
	__u8 ip = 0;
	/* The packet starts at its IP header (the kernel pushes it back). */
	if (skb->protocol == __builtin_bswap16(ETH_P_IP)) {
		__u8 head[10] = {};     /* version/IHL ... protocol */
		if (bpf_skb_load_bytes(skb, 0, head, sizeof(head)) != 0 || head[9] != IPPROTO_UDP)
			return 1;
		udp = (head[0] & 0xf) * 4;
		ip = 4;
	} else if (skb->protocol == __builtin_bswap16(ETH_P_IPV6)) {
		__u8 next = 0;          /* UDP right after the fixed header; reassembly removed a fragment header */
		if (bpf_skb_load_bytes(skb, 6, &next, 1) != 0 || next != IPPROTO_UDP)
			return 1;
		udp = 40;
		ip = 6;
	} else {
		return 1;
	}
	/* The UDP header and the DNS header's first six bytes. */
	__u8 head[UDP_HEADER + 6] = {};
	if (bpf_skb_load_bytes(skb, udp, head, sizeof(head)) != 0)
		return 1;
	if (head[0] != 0 || head[1] != DNS_PORT)
		return 1;
	__u8 *dns = head + UDP_HEADER;
	/* QR, opcode QUERY; QDCOUNT 1. */
	if (!(dns[2] & 0x80) || (dns[2] & 0x78) || dns[4] != 0 || dns[5] != 1)
		return 1;
	/* The datagram was trimmed to its UDP length before it was delivered. */
	__u64 msg_len = skb->len - udp - UDP_HEADER;
	__u64 n = msg_len < DNS_MAX ? msg_len : DNS_MAX;
	asm volatile("%0 &= %1" : "+r"(n) : "i"(2 * DNS_MAX - 1));
	if (n < 12)             /* not even a DNS header */
		return 1;
	__u32 zero = 0;
	struct dns_scratch *s = bpf_map_lookup_elem(&dns_scratch, &zero);
	if (!s)
		return 1;
	if (bpf_skb_load_bytes(skb, udp + UDP_HEADER, s->ev.data, n) != 0)
		return 1;
	s->ev.ts_ns = bpf_ktime_get_ns();
	s->ev.netns = sock_netns(skb->sk);
	s->ev.pid = 0;          /* delivered: no process has read it yet */
	s->ev.msg_len = msg_len > 0xffff ? 0xffff : msg_len;
	s->ev.len = n;
	s->ev.ip = ip;
	__u32 cpu = bpf_get_smp_processor_id();
	if (bpf_perf_event_output(skb, &dns_events, cpu, &s->ev, DNS_EVENT_HEADER + n) != 0)
		tally_on(cpu, LOST_DNS);
	return 1;
}
