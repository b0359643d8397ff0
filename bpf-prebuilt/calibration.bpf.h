/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * tcpconnect.bpf.c, part 8 of 8. Why: without BTF, user space cannot look
 * up some offsets in struct sock, so it finds them by calibration. What:
 * programs attached only for connects of our own, each sending the first
 * bytes of the socket through `events` for user space to search: one for
 * skc_v6_daddr and skc_v6_rcv_saddr (the kprobe path's IPv6 addresses), and
 * a tracepoint and a kprobe program for sk_err (--result). Relies on part 1
 * (TP_LOAD, REG, helpers), part 2 (events), part 3 (struct sock_head), part
 * 6 (take_socket) and tcpconnect.h (SOCK_DUMP_LEN, SOCK_CHUNKS, struct
 * sock_chunk).
 */

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
