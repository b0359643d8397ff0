/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * tcpconnect.bpf.c, part 4 of 8. Why: an event cannot always go out when
 * the connect is seen: -L needs the local port, which the kernel chooses
 * after the state change that reports the connect, and --result needs the
 * handshake's outcome. What: how an event is held and let go, as
 * always_inline functions: take_held, leave_syn_sent, await_handshake,
 * handshake_done, hold_or_submit. The state programs (part 5) call them on
 * CLOSE -> SYN_SENT and when a socket leaves SYN_SENT, -L's sys_exit_connect
 * program (part 5) takes its held event with take_held, and the kprobe
 * programs (part 6) use --result's half (await_handshake, handshake_done).
 * Relies on part 2 (pending, held_sockets, syn_sent_ports, inflight,
 * in_connect), part 3 (submit, send, count_lost) and tcpconnect.h (struct
 * outcome_event).
 */

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
	tally(TALLY_SENT);
	send(ctx, &out, sizeof(out));
}

/*
 * The end of both state programs' CLOSE -> SYN_SENT. --result: the event
 * waits for its outcome. -L: the local port is chosen just after this state
 * change. Inside connect(2), hold the event (with its socket `sk`) until the
 * syscall returns; a connect made any other way (TCP Fast Open, io_uring,
 * the kernel's own) waits until its socket leaves SYN_SENT, and goes out
 * then with the port. `task` and `direct` as fill_task has them.
 */
static always_inline void hold_or_submit(void *ctx, struct pending_connect *p, __u64 pid_tgid, __u64 sk,
					  char *task, int direct)
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
	submit_from(ctx, &p->ev, task, direct);
}
