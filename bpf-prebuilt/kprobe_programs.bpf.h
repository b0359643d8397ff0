/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * tcpconnect.bpf.c, part 6 of 8. Why: kernels before 4.16 have no
 * sock:inet_sock_set_state, and --attach kprobe (or a tracepoint path that
 * cannot be used) asks for another way in, as bcc does it. What: the entry
 * of tcp_v4_connect and tcp_v6_connect, which stashes the socket in
 * `connecting` (take_socket takes it back out); their returns, which report
 * the connect; and tcp_set_state, which gives --result its outcome. The
 * pt_regs of the running architecture are read through REG (part 1). Relies
 * on parts 1 to 4; calibration (part 8) reuses take_socket.
 */

/* ---- kprobe path ---------------------------------------------------- */

/*
 * Entry of tcp_v4_connect and tcp_v6_connect (one program on both): stash
 * the socket for the return probe of the same thread. A v4-mapped connect
 * runs tcp_v4_connect inside tcp_v6_connect: the inner entry overwrites the
 * stash and the inner return consumes it, so the outer return finds nothing
 * and the connect is reported once, as IPv4, like bcc. -v's tallies count
 * it once too: the inner entry finds the outer one's stash, which with -v
 * is made (as 0, which no return reports) for a task the filters drop.
 */
SEC("kprobe/tcp_connect_entry")
int tcpconnect_entry(void *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	int inner = CONST(count_stats) && bpf_map_lookup_elem(&connecting, &pid_tgid);
	if (!inner)
		tally(TALLY_SEEN);
	__u64 sk = 0;
	__u32 uid = current_uid();
	if (!keep_task(pid_tgid >> 32, uid)) {
		if (!inner)
			tally(TALLY_FILTERED);
		if (CONST(count_stats))
			bpf_map_update_elem(&connecting, &pid_tgid, &sk, BPF_ANY);
		return 0;
	}
	sk = REG(ctx, REG_ARG1);
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
