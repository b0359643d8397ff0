//! `bench attach array-per-cpu`: delivery without the ring buffer's lock,
//! helper calls or wakeups, the cheapest hand-over of a record a BPF program
//! can make (issue 29). Each possible CPU owns a region of one mmapable
//! array (BPF_F_MMAPABLE, 5.5): a head the program advances, a tail the
//! reader publishes, a lost count, then RECORD_SLOTS records of 48 bytes.
//! The program on the empty program's hook keeps only CLOSE -> SYN_SENT,
//! stamps the record with the time (a reader of several regions needs it
//! to put connects back in order), writes it in place with plain stores and
//! advances the head; a full region counts a loss. The reader wakes on a
//! 10 ms timer (nothing wakes it), copies out what each region holds and
//! discards it.
//!
//! Plain stores in program order are seen in that order only on x86 (TSO):
//! the record before the head. This arm measures a floor on this host; it
//! is not a transport for other architectures as it stands.

use crate::delivery_floor::{
    insn, ADD_K, BPF_FUNC_GET_CURRENT_PID_TGID, BPF_FUNC_GET_SMP_PROCESSOR_ID, BPF_FUNC_KTIME_GET_NS,
    BPF_FUNC_MAP_LOOKUP_ELEM, CALL, EXIT, JEQ_K, JNE_K, LDX_DW, MOV_K, MOV_X, RECORD_BYTES, STX_DW, STX_W,
    TCP_CLOSE, TCP_SYN_SENT,
};
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;
use tcpconnect::attach::raw_tracepoint::attach_raw_tracepoint;
use tcpconnect::host::cpus::{read_cpu_list, POSSIBLE};
use tcpconnect::loader::insn::{BPF_PSEUDO_MAP_FD, LD_IMM64};
use tcpconnect::sys::bpf::{bpf_prog_load, Map, MapParams, ProgLoad};
use tcpconnect::sys::mapped_array::{MappedArray, BPF_F_MMAPABLE};
use tcpconnect::uapi::{BPF_MAP_TYPE_ARRAY, BPF_PROG_TYPE_RAW_TRACEPOINT};

/// Records a CPU's region holds: 10 ms of one CPU's connects at this
/// host's fastest loop (~110,000 a second) fit three times over.
const RECORD_SLOTS: i32 = 4096;
/// Where each part of a region starts: the head, the tail and the lost
/// count each on a cache line of their own, the records after them.
const HEAD: i16 = 0;
const TAIL: i16 = 64;
const LOST: i16 = 128;
const RECORDS: i16 = 256;
const REGION_BYTES: u32 = RECORDS as u32 + (RECORD_SLOTS * RECORD_BYTES) as u32;
const POLL_INTERVAL: Duration = Duration::from_millis(10);

// The opcodes this program adds to delivery_floor's.
const SUB_X: u8 = 0x1f;
const ADD_X: u8 = 0x0f;
const AND_K: u8 = 0x57;
const MUL_K: u8 = 0x27;
const JGE_K: u8 = 0x35; // unsigned
const JA: u8 = 0x05;

fn fail(what: &str, error: impl std::fmt::Display) -> ! {
    eprintln!("bench attach array-per-cpu: {what}: {error}");
    std::process::exit(1);
}

/// The program. Registers: r6 the CPU's region, r7 the time, r8 the head,
/// r9 the tail.
fn program(array_fd: i32) -> Vec<u64> {
    let mut p = vec![
        // The arguments are (sk, oldstate, newstate), a u64 each.
        insn(LDX_DW, 2, 1, 8, 0),
        insn(JNE_K, 2, 0, 0, TCP_CLOSE), // offset patched below: to the exit
        insn(LDX_DW, 2, 1, 16, 0),
        insn(JNE_K, 2, 0, 0, TCP_SYN_SENT),
        insn(CALL, 0, 0, 0, BPF_FUNC_KTIME_GET_NS),
        insn(MOV_X, 7, 0, 0, 0),
        insn(CALL, 0, 0, 0, BPF_FUNC_GET_SMP_PROCESSOR_ID),
        insn(STX_W, 10, 0, -4, 0),
        insn(LD_IMM64, 1, BPF_PSEUDO_MAP_FD, 0, array_fd),
        0,
        insn(MOV_X, 2, 10, 0, 0),
        insn(ADD_K, 2, 0, 0, -4),
        insn(CALL, 0, 0, 0, BPF_FUNC_MAP_LOOKUP_ELEM),
        insn(JEQ_K, 0, 0, 0, 0), // to the exit
        insn(MOV_X, 6, 0, 0, 0),
        insn(LDX_DW, 8, 6, HEAD, 0),
        insn(LDX_DW, 9, 6, TAIL, 0),
        insn(MOV_X, 1, 8, 0, 0),
        insn(SUB_X, 1, 9, 0, 0),
    ];
    let mut to_exit = vec![1, 3, 13];
    let to_lost = p.len();
    p.push(insn(JGE_K, 1, 0, 0, RECORD_SLOTS)); // to the loss
    p.extend([
        insn(CALL, 0, 0, 0, BPF_FUNC_GET_CURRENT_PID_TGID),
        // r2 = the region + (head % slots) * 48: bounded, so the verifier
        // sees every store inside the value.
        insn(MOV_X, 1, 8, 0, 0),
        insn(AND_K, 1, 0, 0, RECORD_SLOTS - 1),
        insn(MUL_K, 1, 0, 0, RECORD_BYTES),
        insn(MOV_X, 2, 6, 0, 0),
        insn(ADD_X, 2, 1, 0, 0),
        insn(STX_DW, 2, 0, RECORDS, 0),
        insn(STX_DW, 2, 7, RECORDS + 8, 0),
        insn(MOV_K, 3, 0, 0, 0),
    ]);
    for off in [16, 24, 32, 40] {
        p.push(insn(STX_DW, 2, 3, RECORDS + off, 0));
    }
    // The head last: the reader takes what is below it.
    p.extend([insn(ADD_K, 8, 0, 0, 1), insn(STX_DW, 6, 8, HEAD, 0)]);
    to_exit.push(p.len());
    p.push(insn(JA, 0, 0, 0, 0));
    let lost = p.len();
    p.extend([insn(LDX_DW, 1, 6, LOST, 0), insn(ADD_K, 1, 0, 0, 1), insn(STX_DW, 6, 1, LOST, 0)]);
    let exit = p.len();
    p.extend([insn(MOV_K, 0, 0, 0, 0), insn(EXIT, 0, 0, 0, 0)]);
    p[to_lost] |= ((lost - to_lost - 1) as u64) << 16;
    for at in to_exit {
        p[at] |= ((exit - at - 1) as u64) << 16;
    }
    p
}

/// Attaches and reads until a signal ends the process.
pub fn run() -> ! {
    let cpus = read_cpu_list(POSSIBLE).unwrap_or_else(|e| fail("CPUs", e));
    let entries = cpus.iter().max().copied().unwrap_or(0) + 1;
    let params = MapParams {
        map_type: BPF_MAP_TYPE_ARRAY.id,
        key_size: 4,
        value_size: REGION_BYTES,
        max_entries: entries,
        map_flags: BPF_F_MMAPABLE,
    };
    let array = Map::create(&params, "bench_regions").unwrap_or_else(|e| fail("BPF_MAP_CREATE", e));
    let regions = MappedArray::new(&array, entries).unwrap_or_else(|e| fail("mmap", e));
    let prog = bpf_prog_load(&ProgLoad {
        prog_type: BPF_PROG_TYPE_RAW_TRACEPOINT,
        insns: &program(array.as_raw_fd()),
        license: c"GPL",
        kern_version: 0,
        btf_attach: None,
        name: "bench_regions",
    })
    .unwrap_or_else(|e| fail("BPF_PROG_LOAD", e.error));
    let _link = attach_raw_tracepoint(tcpconnect::abi::STATE_RAW_TRACEPOINT, prog.as_fd())
        .unwrap_or_else(|e| fail("BPF_RAW_TRACEPOINT_OPEN", e));
    let region = |cpu: u32| cpu as usize * REGION_BYTES as usize;
    let (mut sum, mut record, mut lost_seen) = (0u64, [0u8; RECORD_BYTES as usize], 0u64);
    loop {
        std::thread::sleep(POLL_INTERVAL);
        let mut lost = 0;
        for &cpu in &cpus {
            let base = region(cpu);
            let head = regions.load_u64_acquire(base + HEAD as usize);
            let mut tail = regions.load_u64_acquire(base + TAIL as usize);
            while tail < head {
                let slot = (tail % RECORD_SLOTS as u64) as usize;
                regions.copy_out(base + RECORDS as usize + slot * RECORD_BYTES as usize, &mut record);
                sum = sum.wrapping_add(u64::from_ne_bytes(record[8..16].try_into().expect("8 bytes")));
                tail += 1;
            }
            regions.store_u64_release(base + TAIL as usize, tail);
            lost += regions.load_u64_acquire(base + LOST as usize);
        }
        if lost > lost_seen {
            eprintln!("bench attach array-per-cpu: {lost} records lost");
            lost_seen = lost;
        }
        std::hint::black_box(sum);
    }
}
