/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * tcpconnect.bpf.c, part 1 of 8 (included there first; not a header of its
 * own). Why: the program is built without kernel or libbpf headers (see the
 * top of tcpconnect.bpf.c), so what those would give the compiler is written
 * out here. What: the __u* types tcpconnect.h is written in, SEC(), the UAPI
 * numbers the program uses (map types and flags, address families, TCP
 * states), the BPF helpers declared by number, the legacy map definition
 * struct, and the macros that leave a value or an offset for the loader to
 * patch: CONST(name) (a load-time constant), TP_LOAD/TP_BYTE/COPY4/COPY16
 * (tracepoint context loads at FIELD_MARK offsets) and REG (pt_regs loads at
 * REG_* offsets). No program, map or function is defined here. Relies on
 * nothing earlier; the markers its macros expand to (FIELD_MARK, REG_*) are
 * in tcpconnect.h, which tcpconnect.bpf.c includes right after this part.
 */

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef int __s32;

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
#define RINGBUF_HDR_SZ 8                /* BPF_RINGBUF_HDR_SZ: a record's header */
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
static long (*bpf_probe_read_str)(void *dst, __u32 size, const void *src) = (void *)45; /* 4.11 */
/* The BPF ring buffer (CONST(use_ringbuf)): 5.8. */
static long (*bpf_ringbuf_output)(void *ringbuf, void *data, __u64 size, __u64 flags) = (void *)130;
static __u64 (*bpf_ringbuf_query)(void *ringbuf, __u64 flags) = (void *)134;
/* Only in the BTF tracepoint program (5.11), which older kernels never load. */
static void *(*bpf_get_current_task_btf)(void) = (void *)158;
/*
 * Only in -d's cgroup_skb program, which is loaded where the kernel takes it
 * and attached only through a BPF link (5.7): bpf_skb_load_bytes (4.5) and
 * bpf_probe_read_kernel (5.5, and given to cgroup_skb programs later: the
 * load is the probe).
 */
static long (*bpf_skb_load_bytes)(const void *skb, __u32 offset, void *to, __u32 len) = (void *)26;
static long (*bpf_probe_read_kernel)(void *dst, __u32 size, const void *src) = (void *)113;

/* The legacy map definition read by our loader (and by every loader since 4.x). */
struct bpf_map_def {
	__u32 type;
	__u32 key_size;
	__u32 value_size;
	__u32 max_entries;
	__u32 map_flags;
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

/* A pt_regs load at a marked offset (REG_* in tcpconnect.h). */
#define REG(ctx, reg) (*(volatile __u64 *)((char *)(ctx) + FIELD_MARK(reg, 0)))
