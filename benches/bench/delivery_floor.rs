//! `bench attach ring` / `bench attach ring-per-cpu`: the least any tool
//! that hands every connect to user space can do, to measure tcpconnect's
//! default mode against (issue 29). On the raw tracepoint (the empty
//! program's hook), a program that keeps only CLOSE -> SYN_SENT, writes a
//! 48-byte record (tcpconnect's IPv4 size: the pid and zeros) to a BPF ring
//! buffer, and wakes the reader the way tcpconnect's programs do (once as the
//! data waiting crosses a multiple of the mark, else no wakeup); a reader
//! that drains it with tcpconnect's own ring reader on the same 100 ms timer
//! and discards every record: no decode, no format, no write.
//!
//! `ring` shares one ring of tcpconnect's size among the CPUs, as
//! tcpconnect does. `ring-per-cpu` gives each possible CPU its own ring (an
//! array of ring buffers, split from the same total) and stamps each record
//! with the time, which a reader of several rings needs to put connects back
//! in order: what the CPUs' fight over one ring's lock and positions costs.
//!
//! Its distance from the empty program is the price of delivery itself (a
//! helper pair, the ring's lock, the reader's wakeups and cache misses), which
//! no program that reports each connect avoids; tcpconnect's distance from it
//! is what its own reads, filters, formatting and writes cost.

use std::os::fd::{AsFd, AsRawFd};
use tcpconnect::attach::raw_tracepoint::attach_raw_tracepoint;
use tcpconnect::host::cpus::{read_cpu_list, POSSIBLE};
use tcpconnect::loader::insn::{BPF_PSEUDO_MAP_FD, LD_IMM64};
use tcpconnect::ringbuf::RingBuffer;
use tcpconnect::sys::bpf::{bpf_prog_load, Map, MapParams, ProgLoad};
use tcpconnect::sys::epoll::Epoll;
use tcpconnect::uapi::{BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_RINGBUF, BPF_PROG_TYPE_RAW_TRACEPOINT};

/// tcpconnect's defaults (tracer/transport.rs): a 256 KiB ring, the reader
/// woken every 80 KiB of records (half of a smaller ring), drained every
/// 100 ms anyway.
const RING_BYTES: u32 = 256 * 1024;
const WAKEUP_BYTES: u32 = 81920;
const FLUSH_INTERVAL_MS: i32 = 100;
/// The record: tcpconnect's IPv4 event.
pub(crate) const RECORD_BYTES: i32 = 48;
/// What it takes in the ring: an 8-byte header, rounded up to 8.
const RECORD_SPAN: i32 = (RECORD_BYTES + 8 + 7) & !7;

pub(crate) const TCP_CLOSE: i32 = 7;
pub(crate) const TCP_SYN_SENT: i32 = 2;
pub(crate) const BPF_FUNC_MAP_LOOKUP_ELEM: i32 = 1;
pub(crate) const BPF_FUNC_KTIME_GET_NS: i32 = 5;
pub(crate) const BPF_FUNC_GET_SMP_PROCESSOR_ID: i32 = 8;
pub(crate) const BPF_FUNC_GET_CURRENT_PID_TGID: i32 = 14;
const BPF_FUNC_RINGBUF_OUTPUT: i32 = 130;
const BPF_FUNC_RINGBUF_QUERY: i32 = 134;
const BPF_RB_NO_WAKEUP: i32 = 1;
const BPF_RB_FORCE_WAKEUP: i32 = 2;

/// One BPF instruction: opcode, registers, offset, immediate.
pub(crate) const fn insn(op: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    op as u64 | ((dst | src << 4) as u64) << 8 | (off as u16 as u64) << 16 | (imm as u32 as u64) << 32
}

// The opcodes used (uapi/linux/bpf.h, bpf_common.h).
pub(crate) const LDX_DW: u8 = 0x79; // dst = *(u64 *)(src + off)
pub(crate) const STX_DW: u8 = 0x7b; // *(u64 *)(dst + off) = src
pub(crate) const STX_W: u8 = 0x63; // *(u32 *)(dst + off) = src
pub(crate) const MOV_K: u8 = 0xb7;
pub(crate) const MOV_X: u8 = 0xbf;
pub(crate) const ADD_K: u8 = 0x07;
const DIV_K: u8 = 0x37;
pub(crate) const JNE_K: u8 = 0x55;
pub(crate) const JEQ_K: u8 = 0x15;
const JEQ_X: u8 = 0x1d;
pub(crate) const CALL: u8 = 0x85;
pub(crate) const EXIT: u8 = 0x95;

fn fail(what: &str, error: impl std::fmt::Display) -> ! {
    eprintln!("bench attach ring: {what}: {error}");
    std::process::exit(1);
}

/// Where the program writes.
enum Rings {
    /// One ring, shared: its fd.
    Shared(i32),
    /// An array of rings indexed by CPU: its fd.
    PerCpu(i32),
}

/// The program. Registers: r6 the ring, r7 the record's time (per-CPU).
fn program(rings: &Rings, wakeup_bytes: i32) -> Vec<u64> {
    let load_map = |fd| [insn(LD_IMM64, 1, BPF_PSEUDO_MAP_FD, 0, fd), 0];
    let mut p = vec![
        // The arguments are (sk, oldstate, newstate), a u64 each.
        insn(LDX_DW, 2, 1, 8, 0),
        insn(JNE_K, 2, 0, 0, TCP_CLOSE), // offset patched below: to the exit
        insn(LDX_DW, 2, 1, 16, 0),
        insn(JNE_K, 2, 0, 0, TCP_SYN_SENT),
    ];
    let mut to_exit = vec![1, 3];
    match *rings {
        Rings::Shared(fd) => {
            p.extend(load_map(fd));
            p.push(insn(MOV_X, 6, 1, 0, 0));
            p.push(insn(MOV_K, 7, 0, 0, 0));
        }
        Rings::PerCpu(fd) => {
            p.push(insn(CALL, 0, 0, 0, BPF_FUNC_KTIME_GET_NS));
            p.push(insn(MOV_X, 7, 0, 0, 0));
            p.push(insn(CALL, 0, 0, 0, BPF_FUNC_GET_SMP_PROCESSOR_ID));
            p.push(insn(STX_W, 10, 0, -52, 0));
            p.extend(load_map(fd));
            p.push(insn(MOV_X, 2, 10, 0, 0));
            p.push(insn(ADD_K, 2, 0, 0, -52));
            p.push(insn(CALL, 0, 0, 0, BPF_FUNC_MAP_LOOKUP_ELEM));
            to_exit.push(p.len());
            p.push(insn(JEQ_K, 0, 0, 0, 0));
            p.push(insn(MOV_X, 6, 0, 0, 0));
        }
    }
    p.extend([
        insn(CALL, 0, 0, 0, BPF_FUNC_GET_CURRENT_PID_TGID),
        insn(STX_DW, 10, 0, -48, 0),
        insn(STX_DW, 10, 7, -40, 0),
        insn(MOV_K, 1, 0, 0, 0),
    ]);
    for off in [-32, -24, -16, -8] {
        p.push(insn(STX_DW, 10, 1, off, 0));
    }
    // flags = the waiting bytes cross a multiple of the mark ? FORCE : NO.
    p.extend([
        insn(MOV_X, 1, 6, 0, 0),
        insn(MOV_K, 2, 0, 0, 0),
        insn(CALL, 0, 0, 0, BPF_FUNC_RINGBUF_QUERY),
        insn(MOV_X, 8, 0, 0, 0),
        insn(DIV_K, 8, 0, 0, wakeup_bytes),
        insn(ADD_K, 0, 0, 0, RECORD_SPAN),
        insn(DIV_K, 0, 0, 0, wakeup_bytes),
        insn(MOV_K, 4, 0, 0, BPF_RB_NO_WAKEUP),
        insn(JEQ_X, 0, 8, 1, 0),
        insn(MOV_K, 4, 0, 0, BPF_RB_FORCE_WAKEUP),
        insn(MOV_X, 1, 6, 0, 0),
        insn(MOV_X, 2, 10, 0, 0),
        insn(ADD_K, 2, 0, 0, -RECORD_BYTES),
        insn(MOV_K, 3, 0, 0, RECORD_BYTES),
        insn(CALL, 0, 0, 0, BPF_FUNC_RINGBUF_OUTPUT),
    ]);
    let exit = p.len();
    p.extend([insn(MOV_K, 0, 0, 0, 0), insn(EXIT, 0, 0, 0, 0)]);
    for at in to_exit {
        let off = (exit - at - 1) as u64;
        p[at] |= off << 16;
    }
    p
}

fn ring(bytes: u32, name: &str) -> Map {
    let params = MapParams {
        map_type: BPF_MAP_TYPE_RINGBUF.id,
        key_size: 0,
        value_size: 0,
        max_entries: bytes,
        map_flags: 0,
    };
    Map::create(&params, name).unwrap_or_else(|e| fail("BPF_MAP_CREATE", e))
}

/// `bench attach ring` (`per_cpu` false) or `ring-per-cpu`: attaches and
/// reads until a signal ends the process.
pub fn run(per_cpu: bool) -> ! {
    let cpus = if per_cpu { read_cpu_list(POSSIBLE).unwrap_or_else(|e| fail("CPUs", e)) } else { vec![0] };
    // The same total, split in powers of two of at least a page.
    let bytes = (RING_BYTES / cpus.len() as u32).max(4096);
    let bytes = if bytes.is_power_of_two() { bytes } else { bytes.next_power_of_two() / 2 };
    let wakeup_bytes = WAKEUP_BYTES.min(bytes / 2) as i32;
    let rings: Vec<Map> = cpus.iter().map(|cpu| ring(bytes, &format!("bench_ring{cpu}"))).collect();
    // Kept open while the program runs: it holds the rings.
    let outer = per_cpu.then(|| {
        let max_cpu = cpus.iter().max().copied().unwrap_or(0);
        let params = MapParams {
            map_type: BPF_MAP_TYPE_ARRAY_OF_MAPS.id,
            key_size: 4,
            value_size: 4,
            max_entries: max_cpu + 1,
            map_flags: 0,
        };
        let outer = Map::create_map_of_maps(&params, &rings[0], "bench_rings")
            .unwrap_or_else(|e| fail("BPF_MAP_CREATE (array of ring buffers)", e));
        for (cpu, ring) in cpus.iter().zip(&rings) {
            outer
                .update(&cpu.to_ne_bytes(), &(ring.as_raw_fd() as u32).to_ne_bytes(), 0)
                .unwrap_or_else(|e| fail("BPF_MAP_UPDATE_ELEM", e));
        }
        outer
    });
    let target = match &outer {
        Some(outer) => Rings::PerCpu(outer.as_raw_fd()),
        None => Rings::Shared(rings[0].as_raw_fd()),
    };
    let prog = bpf_prog_load(&ProgLoad {
        prog_type: BPF_PROG_TYPE_RAW_TRACEPOINT,
        insns: &program(&target, wakeup_bytes),
        license: c"GPL",
        kern_version: 0,
        btf_attach: None,
        name: "bench_ring",
    })
    .unwrap_or_else(|e| fail("BPF_PROG_LOAD", e.error));
    let _link = attach_raw_tracepoint(tcpconnect::abi::STATE_RAW_TRACEPOINT, prog.as_fd())
        .unwrap_or_else(|e| fail("BPF_RAW_TRACEPOINT_OPEN", e));
    let epoll = Epoll::new().unwrap_or_else(|e| fail("epoll_create1", e));
    let mut buffers: Vec<RingBuffer> = (rings.iter().enumerate())
        .map(|(i, ring)| {
            RingBuffer::open(ring, bytes as usize, &epoll, i as u64).unwrap_or_else(|e| fail("mmap", e))
        })
        .collect();
    let (mut ready, mut bytes) = (Vec::new(), 0u64);
    loop {
        ready.clear();
        epoll.wait(&mut ready, FLUSH_INTERVAL_MS).unwrap_or_else(|e| fail("epoll_wait", e));
        for buffer in &mut buffers {
            buffer.drain(|sample| bytes = bytes.wrapping_add(sample.len() as u64));
        }
        std::hint::black_box(bytes);
    }
}
