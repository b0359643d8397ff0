//! `bench attach ring`: the least any tool that hands every connect to user
//! space can do, to measure tcpconnect's default mode against (issue 29).
//! On the raw tracepoint (the empty program's hook), a program that keeps
//! only CLOSE -> SYN_SENT, writes a 48-byte record (tcpconnect's IPv4 size:
//! the pid and zeros) to a BPF ring buffer of tcpconnect's size, and wakes
//! the reader the way tcpconnect's programs do (once as the data waiting
//! crosses a multiple of the same mark, else no wakeup); a reader that
//! drains it with tcpconnect's own ring reader on the same 100 ms timer and
//! discards every record: no decode, no format, no write.
//!
//! Its distance from the empty program is the price of delivery itself (a
//! helper pair, the ring's lock, the reader's wakeups and cache misses), which
//! no program that reports each connect avoids; tcpconnect's distance from it
//! is what its own reads, filters, formatting and writes cost.

use crate::attach::fail;
use std::os::fd::{AsFd, AsRawFd};
use tcpconnect::attach::raw_tracepoint::attach_raw_tracepoint;
use tcpconnect::ringbuf::RingBuffer;
use tcpconnect::sys::bpf::{bpf_prog_load, Map, MapParams, ProgLoad};
use tcpconnect::sys::epoll::Epoll;
use tcpconnect::uapi::{BPF_MAP_TYPE_RINGBUF, BPF_PROG_TYPE_RAW_TRACEPOINT};

/// tcpconnect's defaults (tracer/transport.rs): a 256 KiB ring, the reader
/// woken every 80 KiB of records, drained every 100 ms anyway.
const RING_BYTES: u32 = 256 * 1024;
const WAKEUP_BYTES: i32 = 81920;
const FLUSH_INTERVAL_MS: i32 = 100;
/// The record: tcpconnect's IPv4 event.
const RECORD_BYTES: i32 = 48;
/// What it takes in the ring: an 8-byte header, rounded up to 8.
const RECORD_SPAN: i32 = (RECORD_BYTES + 8 + 7) & !7;

const TCP_CLOSE: i32 = 7;
const TCP_SYN_SENT: i32 = 2;
const BPF_FUNC_GET_CURRENT_PID_TGID: i32 = 14;
const BPF_FUNC_RINGBUF_OUTPUT: i32 = 130;
const BPF_FUNC_RINGBUF_QUERY: i32 = 134;
const BPF_PSEUDO_MAP_FD: u8 = 1;
const BPF_RB_NO_WAKEUP: i32 = 1;
const BPF_RB_FORCE_WAKEUP: i32 = 2;

/// One BPF instruction: opcode, registers, offset, immediate.
const fn insn(op: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    op as u64 | ((dst | src << 4) as u64) << 8 | (off as u16 as u64) << 16 | (imm as u32 as u64) << 32
}

// The opcodes used (uapi/linux/bpf.h, bpf_common.h).
const LDX_DW: u8 = 0x79; // dst = *(u64 *)(src + off)
const STX_DW: u8 = 0x7b; // *(u64 *)(dst + off) = src
const MOV_K: u8 = 0xb7;
const MOV_X: u8 = 0xbf;
const ADD_K: u8 = 0x07;
const DIV_K: u8 = 0x37;
const JNE_K: u8 = 0x55;
const JEQ_X: u8 = 0x1d;
const CALL: u8 = 0x85;
const EXIT: u8 = 0x95;
const LD_IMM64: u8 = 0x18;

/// The program, with the ring's fd in its two map loads.
fn program(ring_fd: i32) -> Vec<u64> {
    let load_ring = [insn(LD_IMM64, 1, BPF_PSEUDO_MAP_FD, 0, ring_fd), 0];
    let mut p = vec![
        // The arguments are (sk, oldstate, newstate), a u64 each.
        insn(LDX_DW, 2, 1, 8, 0),
        insn(JNE_K, 2, 0, 0, TCP_CLOSE), // offset patched below: to the exit
        insn(LDX_DW, 2, 1, 16, 0),
        insn(JNE_K, 2, 0, 0, TCP_SYN_SENT),
        insn(CALL, 0, 0, 0, BPF_FUNC_GET_CURRENT_PID_TGID),
        insn(STX_DW, 10, 0, -48, 0),
        insn(MOV_K, 1, 0, 0, 0),
    ];
    for off in [-40, -32, -24, -16, -8] {
        p.push(insn(STX_DW, 10, 1, off, 0));
    }
    // flags = the waiting bytes cross a multiple of the mark ? FORCE : NO.
    p.extend(load_ring);
    p.extend([
        insn(MOV_K, 2, 0, 0, 0),
        insn(CALL, 0, 0, 0, BPF_FUNC_RINGBUF_QUERY),
        insn(MOV_X, 6, 0, 0, 0),
        insn(DIV_K, 6, 0, 0, WAKEUP_BYTES),
        insn(ADD_K, 0, 0, 0, RECORD_SPAN),
        insn(DIV_K, 0, 0, 0, WAKEUP_BYTES),
        insn(MOV_K, 4, 0, 0, BPF_RB_NO_WAKEUP),
        insn(JEQ_X, 0, 6, 1, 0),
        insn(MOV_K, 4, 0, 0, BPF_RB_FORCE_WAKEUP),
    ]);
    p.extend(load_ring);
    p.extend([
        insn(MOV_X, 2, 10, 0, 0),
        insn(ADD_K, 2, 0, 0, -RECORD_BYTES),
        insn(MOV_K, 3, 0, 0, RECORD_BYTES),
        insn(CALL, 0, 0, 0, BPF_FUNC_RINGBUF_OUTPUT),
    ]);
    let exit = p.len();
    p.extend([insn(MOV_K, 0, 0, 0, 0), insn(EXIT, 0, 0, 0, 0)]);
    for at in [1, 3] {
        let off = (exit - at - 1) as u64;
        p[at] |= off << 16;
    }
    p
}

/// `bench attach ring`: attaches and reads until a signal ends the process.
pub fn run() -> ! {
    let params = MapParams {
        map_type: BPF_MAP_TYPE_RINGBUF.id,
        key_size: 0,
        value_size: 0,
        max_entries: RING_BYTES,
        map_flags: 0,
    };
    let ring = Map::create(&params, "bench_ring").unwrap_or_else(|e| fail("BPF_MAP_CREATE", e));
    let prog = bpf_prog_load(&ProgLoad {
        prog_type: BPF_PROG_TYPE_RAW_TRACEPOINT,
        insns: &program(ring.as_raw_fd()),
        license: c"GPL",
        kern_version: 0,
        btf_attach: None,
        name: "bench_ring",
    })
    .unwrap_or_else(|e| fail("BPF_PROG_LOAD", e.error));
    let _link = attach_raw_tracepoint(tcpconnect::abi::STATE_RAW_TRACEPOINT, prog.as_fd())
        .unwrap_or_else(|e| fail("BPF_RAW_TRACEPOINT_OPEN", e));
    let epoll = Epoll::new().unwrap_or_else(|e| fail("epoll_create1", e));
    let mut buffer =
        RingBuffer::open(&ring, RING_BYTES as usize, &epoll, 0).unwrap_or_else(|e| fail("mmap", e));
    let (mut ready, mut bytes) = (Vec::new(), 0u64);
    loop {
        ready.clear();
        epoll.wait(&mut ready, FLUSH_INTERVAL_MS).unwrap_or_else(|e| fail("epoll_wait", e));
        buffer.drain(|sample| bytes = bytes.wrapping_add(sample.len() as u64));
        std::hint::black_box(bytes);
    }
}
