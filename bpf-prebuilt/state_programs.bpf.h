/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * tcpconnect.bpf.c, part 5 of 8. Why: sock:inet_sock_set_state is the
 * default way in, and it attaches in one of three forms, the newest the
 * kernel has: the BTF tracepoint (tp_btf, 5.11+; any refusal falls back to
 * the raw tracepoint), the raw tracepoint (4.17+, with BTF), else the perf
 * tracepoint event (4.16+). What: the perf tracepoint program
 * (tcpconnect_state), which reads the trace record at FIELD_MARK offsets;
 * -L's two programs on connect(2) (syscalls:sys_enter_connect and
 * sys_exit_connect), which tell the state programs that a connect runs
 * inside the syscall and, when it returns, send the held event with its
 * port (--result: write the port into the event waiting for its outcome);
 * then the raw and BTF tracepoint programs (tcpconnect_state_raw,
 * tcpconnect_state_btf), one body (state_change) that reads the socket
 * itself. Relies on parts 1 to 4.
 */

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
	tally(TALLY_SEEN);

	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 uid = current_uid();
	if (!keep_task(pid_tgid >> 32, uid)) {
		tally(TALLY_FILTERED);
		return 0;
	}
	__u16 dport = TP_LOAD(ctx, __u16, FIELD_DPORT, 0);
	if (!keep_port(dport)) {
		tally(TALLY_FILTERED);
		return 0;
	}

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
	if (!keep_family(evp->ip)) {
		tally(TALLY_FILTERED);
		return 0;
	}

	evp->dport = dport;
	fill_task(evp, pid_tgid, uid, 0, 0);
	hold_or_submit(ctx, &p, pid_tgid, TP_LOAD(ctx, __u64, FIELD_SKADDR, 0), 0, 0);
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
	tally(TALLY_SEEN);

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
	if (!keep_task(pid_tgid >> 32, uid)) {
		tally(TALLY_FILTERED);
		return 0;
	}
	struct pending_connect p = {};
	if (!read_socket(&p.ev, sk, 0, direct))
		return 0;
	fill_task(&p.ev, pid_tgid, uid, task, direct);
	hold_or_submit(ctx, &p, pid_tgid, (__u64)sk, task, direct);
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
