//! The rules a BPF object must keep to load on the 4.x kernels we claim,
//! checked on the object itself (`cargo test` runs them on the embedded
//! one), so a change to tcpconnect.bpf.c that only a new kernel would take
//! fails the build, not an old host:
//!
//! - at most 4096 instructions a program (BPF_MAXINSNS before 5.2);
//! - helpers that 4.4 has, or one the loader replaces with `r0 = 0` when
//!   the option behind it is off (`abi::OPTIONAL_HELPERS`);
//! - no bpf-to-bpf calls (4.16) and no loops (bounded loops: 5.3): the
//!   control-flow graph has no cycle, as the verifier's check_cfg demands
//!   before 5.3 (a jump back to a shared exit block is fine, and clang
//!   emits those);
//! - at most 512 bytes of stack;
//! - maps only in the legacy `maps` section, of types and flags 4.x knows
//!   or of a newer type the loader makes as a 4.x type when the run does not
//!   use it (`abi::OPTIONAL_MAP_TYPES`: the ring buffer); no BTF-defined
//!   `.maps`, no global data (`.rodata`, `.data`, `.bss`: 5.2, and a loader
//!   that supports them).
//!
//! Programs of newer program types are named here with the kernel they
//! need; the tracer loads them only after checking for that kernel's
//! features (see `tracer::choice`).

use super::elf::ObjectSpec;
use super::insn::Insn;
use crate::abi;
use crate::host::kernel::KernelVersion;
use crate::uapi;
use object::{Object, ObjectSection};

/// BPF_MAXINSNS: the most instructions 4.x accepts in one program.
pub const MAX_INSNS: usize = 4096;
/// MAX_BPF_STACK.
pub const MAX_STACK: i64 = 512;

/// Whether a kernel version "a.b" is 4.4 or older.
fn by_4_4(since: &str) -> bool {
    KernelVersion::parse_release(since).is_some_and(|v| v <= KernelVersion::new(4, 4, 0))
}

/// Map types of 4.x: hash, array, prog array, perf event array (4.3),
/// per-CPU hash and array (4.6), stack trace (4.6), cgroup array (4.8),
/// LRU hashes (4.10): every type up to the LRU per-CPU hash.
const MAP_TYPES_OF_4_X: std::ops::RangeInclusive<u32> = 1..=uapi::BPF_MAP_TYPE_LRU_PERCPU_HASH.id;

/// Section names that ask for what 4.x and our loader lack.
const NEWER_SECTIONS: [(&str, &str); 4] = [
    (".maps", "BTF-defined maps need a BTF-aware loader and 4.18+"),
    (".rodata", "global data needs 5.2"),
    (".data", "global data needs 5.2"),
    (".bss", "global data needs 5.2"),
];

/// Program sections that only newer kernels load, and which.
pub const NEWER_PROGRAMS: [(&str, &str); 3] = [
    (abi::PROG_STATE_RAW_TRACEPOINT, "4.17 (raw tracepoints)"),
    (abi::PROG_STATE_BTF_TRACEPOINT, "5.11 (BTF tracepoints, bpf_get_current_task_btf)"),
    (abi::PROG_DNS_SKB, "5.7 (cgroup BPF links; bpf_probe_read_kernel for cgroup_skb)"),
];

/// Why the object would not load on a 4.x kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The program or section at fault.
    pub place: String,
    pub rule: String,
}

/// Every rule the object breaks; empty when it loads on 4.4 and later.
pub fn lint_for_old_kernels(object_bytes: &[u8], object: &ObjectSpec) -> Vec<Violation> {
    let mut found = Vec::new();
    if let Ok(file) = object::File::parse(object_bytes) {
        for section in file.sections() {
            let name = section.name().unwrap_or_default();
            for (newer, why) in NEWER_SECTIONS {
                if name == newer || name.starts_with(&format!("{newer}.")) {
                    found.push(Violation { place: name.to_owned(), rule: why.to_owned() });
                }
            }
        }
    }
    for map in &object.maps {
        let optional = abi::OPTIONAL_MAP_TYPES.iter().any(|(t, _)| t.id == map.map_type);
        if !MAP_TYPES_OF_4_X.contains(&map.map_type) && !optional {
            found.push(Violation {
                place: map.name.clone(),
                rule: format!("map type {} is newer than 4.x", map.map_type),
            });
        }
        if map.map_flags != 0 {
            found
                .push(Violation { place: map.name.clone(), rule: format!("map flags {:#x}", map.map_flags) });
        }
    }
    for program in &object.programs {
        let violation = |rule: String| Violation { place: program.section.clone(), rule };
        // A newer program may call the helpers of the kernel it needs.
        let newer: Vec<i32> =
            abi::NEWER_HELPERS.iter().filter(|h| h.1 == program.section).map(|h| h.0.id).collect();
        found.extend(lint_program(&program.insns, &newer).into_iter().map(violation));
    }
    found
}

/// The rules a program's instructions break; helpers `newer` are allowed
/// too (a program only newer kernels load).
pub fn lint_program(insns: &[Insn], newer: &[i32]) -> Vec<String> {
    let mut found = Vec::new();
    if insns.len() > MAX_INSNS {
        found.push(format!("{} instructions, more than {MAX_INSNS}", insns.len()));
    }
    let mut skip_next = false;
    for (at, insn) in insns.iter().enumerate() {
        if std::mem::take(&mut skip_next) {
            continue; // the second half of a 64-bit immediate
        }
        let class = insn.code() & 0x07;
        match insn.code() {
            // BPF_LD | BPF_IMM | BPF_DW takes two slots.
            0x18 => skip_next = true,
            // BPF_JMP | BPF_CALL.
            0x85 if insn.src_reg() == 1 => found.push(format!("instruction {at}: a bpf-to-bpf call (4.16)")),
            0x85 => {
                let id = insn.imm();
                let optional = abi::OPTIONAL_HELPERS.iter().any(|(helper, _)| helper.id == id);
                let of_4_4 = abi::HELPERS.iter().any(|helper| helper.id == id && by_4_4(helper.since));
                if !of_4_4 && !optional && !newer.contains(&id) {
                    found.push(format!("instruction {at}: helper {id} is not in 4.4 and no option stubs it"));
                }
            }
            // BPF_JMP | BPF_EXIT.
            0x95 => {}
            _ if class == 0x06 => found.push(format!("instruction {at}: a 32-bit jump (5.1)")),
            _ => {}
        }
        // Stack use: loads and stores through the frame pointer r10.
        let frame_access = match class {
            0x01 => insn.src_reg() == 10,        // LDX
            0x02 | 0x03 => insn.dst_reg() == 10, // ST, STX
            _ => false,
        };
        if frame_access && -i64::from(insn.off()) > MAX_STACK {
            found.push(format!("instruction {at}: stack offset {} beyond {MAX_STACK} bytes", insn.off()));
        }
    }
    if let Some((from, to)) = first_loop(insns) {
        found.push(format!("instruction {from}: jumps back to {to}, a loop (5.3)"));
    }
    found
}

/// Where control can go after instruction `at`.
fn successors(insns: &[Insn], at: usize) -> Vec<usize> {
    let insn = insns[at];
    let class = insn.code() & 0x07;
    let next = at + if insn.code() == 0x18 { 2 } else { 1 };
    match insn.code() {
        0x95 => Vec::new(),                                           // exit
        0x05 => vec![(next as i64 + i64::from(insn.off())) as usize], // ja
        0x85 => vec![next],                                           // call
        _ if class == 0x05 || class == 0x06 => vec![next, (next as i64 + i64::from(insn.off())) as usize],
        _ => vec![next],
    }
}

/// The first edge of a cycle in the control-flow graph, found by a
/// depth-first walk from the first instruction, as the verifier walks it.
fn first_loop(insns: &[Insn]) -> Option<(usize, usize)> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut mark = vec![Mark::New; insns.len()];
    let mut stack: Vec<(usize, Vec<usize>)> = Vec::new();
    if insns.is_empty() {
        return None;
    }
    mark[0] = Mark::OnPath;
    stack.push((0, successors(insns, 0)));
    while let Some((at, pending)) = stack.last_mut() {
        let at = *at;
        match pending.pop() {
            Some(to) if to >= insns.len() => {}
            Some(to) => match mark[to] {
                Mark::OnPath => return Some((at, to)),
                Mark::Done => {}
                Mark::New => {
                    mark[to] = Mark::OnPath;
                    stack.push((to, successors(insns, to)));
                }
            },
            None => {
                mark[at] = Mark::Done;
                stack.pop();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader::{parse_object, EMBEDDED_OBJECT};

    fn insn(code: u8, regs: u8, off: i16, imm: i32) -> Insn {
        let mut i = Insn([code, regs, 0, 0, 0, 0, 0, 0]);
        i.set_off(off);
        i.set_imm(imm);
        i
    }

    const EXIT: Insn = Insn([0x95, 0, 0, 0, 0, 0, 0, 0]);

    #[test]
    fn the_embedded_object_loads_on_4_x() {
        let object = parse_object(EMBEDDED_OBJECT).unwrap();
        assert_eq!(lint_for_old_kernels(EMBEDDED_OBJECT, &object), []);
        for program in &object.programs {
            eprintln!("{}: {} instructions", program.section, program.insns.len());
        }
        // The helper table the lint and the error messages read is itself 4.4's.
        assert!(abi::HELPERS.iter().all(|h| by_4_4(h.since) || panic!("{} {}", h.name, h.since)));
        assert!(!by_4_4("4.8") && by_4_4("3.19") && by_4_4("4.4"));
        // The newer program types are named, and are not ones the kprobe path
        // (all a 4.x kernel without the tracepoint runs) or the perf tracepoint
        // path loads: -d's cgroup_skb program is tried, and falls back.
        for (section, _) in NEWER_PROGRAMS {
            assert!(object.program(section).is_some(), "{section}");
            assert!(["raw_tracepoint/", "tp_btf/", "cgroup_skb/"].iter().any(|p| section.starts_with(p)));
        }
    }

    #[test]
    fn the_ring_buffer_is_optional_and_named_with_its_transport() {
        let object = parse_object(EMBEDDED_OBJECT).unwrap();
        let ring = &object.maps[object.map_index(abi::MAP_RING).expect("the ring map")];
        assert_eq!(ring.map_type, uapi::BPF_MAP_TYPE_RINGBUF.id);
        let ringbuf = uapi::MapType { id: 27, kind: "ring buffer", since: "5.8" };
        assert!(abi::OPTIONAL_MAP_TYPES.contains(&(ringbuf, abi::RINGBUF_TRANSPORT)));
        for (id, name) in [(130, "bpf_ringbuf_output"), (134, "bpf_ringbuf_query")] {
            let helper = uapi::Helper { id, name, since: "5.8" };
            assert!(abi::OPTIONAL_HELPERS.contains(&(helper, "the BPF ring buffer transport")), "{name}");
        }
        // The programs that send events call them; the calibration dumps don't.
        let calls = |section: &str| -> Vec<i32> {
            let insns = &object.program(section).unwrap().insns;
            insns.iter().filter(|i| i.code() == 0x85 && i.src_reg() == 0).map(|i| i.imm()).collect()
        };
        for section in [abi::PROG_STATE_TRACEPOINT, abi::PROG_STATE_RAW_TRACEPOINT, abi::PROG_V4_RETURN] {
            assert!(calls(section).contains(&130) && calls(section).contains(&134), "{section}");
        }
        assert!(!calls(abi::PROG_CALIBRATE).contains(&130));
        assert!(!calls(abi::PROG_CALIBRATE_SK_ERR_TP).contains(&130));
    }

    #[test]
    fn each_rule_can_fail() {
        assert_eq!(lint_program(&[EXIT], &[]), Vec::<String>::new());
        // Too long.
        let long = vec![insn(0xb7, 0, 0, 0); MAX_INSNS + 1];
        assert_eq!(lint_program(&long, &[]), ["4097 instructions, more than 4096"]);
        // A bpf-to-bpf call, a helper newer than 4.4 (bpf_ringbuf_reserve,
        // 131), the optional ones allowed (bpf_ringbuf_output and _query
        // behind the ring buffer transport).
        let calls = [
            insn(0x85, 0x10, 0, 3),
            insn(0x85, 0, 0, 131),
            insn(0x85, 0, 0, 80),
            insn(0x85, 0, 0, 35),
            insn(0x85, 0, 0, 130),
            insn(0x85, 0, 0, 134),
        ];
        assert_eq!(
            lint_program(&calls, &[]),
            [
                "instruction 0: a bpf-to-bpf call (4.16)",
                "instruction 1: helper 131 is not in 4.4 and no option stubs it"
            ]
        );
        // A 32-bit jump; forward jumps and a jump back to a shared exit (fine).
        let jumps = [insn(0x16, 0x01, 1, 0), insn(0x15, 0x01, 1, 0), EXIT, insn(0x55, 0x01, -2, 0), EXIT];
        assert_eq!(lint_program(&jumps, &[]), ["instruction 0: a 32-bit jump (5.1)"]);
        // A loop: 0 -> 1 -> 2 -> back to 1.
        let a_loop = [insn(0xb7, 0, 0, 0), insn(0x07, 0, 0, 1), insn(0x55, 0, -2, 10), EXIT];
        assert_eq!(lint_program(&a_loop, &[]), ["instruction 2: jumps back to 1, a loop (5.3)"]);
        // Stack beyond 512 bytes, through a store and a load; -512 is fine.
        let stack = [insn(0x7b, 0x1a, -520, 0), insn(0x79, 0xa1, -600, 0), insn(0x7b, 0x1a, -512, 0)];
        assert_eq!(
            lint_program(&stack, &[]),
            [
                "instruction 0: stack offset -520 beyond 512 bytes",
                "instruction 1: stack offset -600 beyond 512 bytes"
            ]
        );
        // A 64-bit immediate's second half is not read as an instruction.
        assert_eq!(
            lint_program(&[insn(0x18, 0x01, 0, 0), insn(0, 0, -1000, 0), EXIT], &[]),
            Vec::<String>::new()
        );
    }

    #[test]
    fn newer_maps_and_sections_are_named() {
        let mut object = parse_object(EMBEDDED_OBJECT).unwrap();
        object.maps[0].map_type = 30; // BPF_MAP_TYPE_BLOOM_FILTER, 5.16
        object.maps[1].map_flags = 1; // BPF_F_NO_PREALLOC
        let found = lint_for_old_kernels(EMBEDDED_OBJECT, &object);
        let rules: Vec<&str> = found.iter().map(|v| v.rule.as_str()).collect();
        assert_eq!(rules, ["map type 30 is newer than 4.x", "map flags 0x1"]);
        // A section of global data, in an object written for the test.
        let mut bytes = EMBEDDED_OBJECT.to_vec();
        let at = bytes.windows(8).position(|w| w == b"license\0").expect("the section name");
        bytes[at..at + 8].copy_from_slice(b".rodata\0");
        let parsed = parse_object(EMBEDDED_OBJECT).unwrap();
        let found = lint_for_old_kernels(&bytes, &parsed);
        assert!(
            found.contains(&Violation { place: ".rodata".into(), rule: "global data needs 5.2".into() }),
            "{found:?}"
        );
    }
}
