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

/*
 * This file is the one compilation unit of the object. It is cut into the
 * parts below, each included once, in this order, which is the order of
 * every definition in the object (tools/build-bpf --check rebuilds it and
 * compares it byte for byte with the committed one). They are not headers
 * of their own: each part opens with why it exists, what it holds and what
 * it relies on from the parts before it.
 *
 *   1. glue.bpf.h             types, SEC(), UAPI numbers, helpers by number,
 *                             struct bpf_map_def, and the macros the loader
 *                             patches: CONST(), TP_LOAD and co., REG
 *      tcpconnect.h           the ABI shared with user space: the events,
 *                             the tracepoint field and pt_regs markers
 *   2. maps.bpf.h             all 17 maps: the "maps" section, in its order
 *   3. connect_path.bpf.h     what every attach form shares: filters,
 *                             building an event, -c counting, sending it
 *                             (ring buffer or perf arrays), counting losses
 *   4. connect_hold.bpf.h     -L and --result: an event held until its local
 *                             port or its handshake's outcome is known
 *   5. state_programs.bpf.h   sock:inet_sock_set_state as a perf tracepoint,
 *                             raw tracepoint and BTF tracepoint (tp_btf);
 *                             -L's connect(2) syscall programs
 *   6. kprobe_programs.bpf.h  kprobes on tcp_v4_connect/tcp_v6_connect and
 *                             tcp_set_state, for kernels before 4.16
 *   7. dns.bpf.h              -d: DNS answers as the kernel delivers
 *                             them, or as processes read them
 *   8. calibration.bpf.h      socket dumps that find offsets without BTF
 *
 * and last, here, the license.
 */

#include "glue.bpf.h"
#include "tcpconnect.h"
#include "maps.bpf.h"
#include "connect_path.bpf.h"
#include "connect_hold.bpf.h"
#include "state_programs.bpf.h"
#include "kprobe_programs.bpf.h"
#include "dns.bpf.h"
#include "calibration.bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";
