//! The BPF object loader: ELF bytes → maps, programs and relocations
//! (`loader::parse_object`), then every program linked (`loader::link_program`)
//! once with everything it could ask for and once with nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;
use tcpconnect::abi;
use tcpconnect::uapi;
use tcpconnect::loader::{link_program, parse_object, FieldLayout, LinkInputs};

const CONSTANTS: [&str; 15] = [
    abi::CONST_FILTER_PID,
    abi::CONST_TARGET_PID,
    abi::CONST_FILTER_UID,
    abi::CONST_TARGET_UID,
    abi::CONST_FILTER_PORTS,
    abi::CONST_ONLY_IP,
    abi::CONST_COUNT_MODE,
    abi::CONST_LPORT_DEFER,
    abi::CONST_FILTER_CGROUP,
    abi::CONST_FILTER_MNTNS,
    abi::CONST_TASK_NSPROXY,
    abi::CONST_NSPROXY_MNT_NS,
    abi::CONST_MNT_NS_INUM,
    abi::CONST_SKC_V6_DADDR,
    abi::CONST_SKC_V6_RCV_SADDR,
];

/// Every marker id (6 bits) gets a layout: absent, a byte array, a u64,
/// or one whose offset is too large, so each branch of the marker rewrite runs.
fn field_layouts() -> HashMap<u8, Option<FieldLayout>> {
    (0u8..64)
        .map(|id| {
            let layout = match id % 4 {
                0 => None,
                1 => Some(FieldLayout { offset: 8 * u16::from(id), size: 16, signed: false }),
                2 => Some(FieldLayout { offset: 8 * u16::from(id), size: 8, signed: false }),
                _ => Some(FieldLayout { offset: 0x3ff8, size: 16, signed: false }),
            };
            (id, layout)
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    // `object` reads ELF headers in place and refuses misaligned input, as
    // the embedded object is aligned (loader::EMBEDDED_OBJECT).
    let mut words = vec![0u64; data.len().div_ceil(8)];
    for (word, chunk) in words.iter_mut().zip(data.chunks(8)) {
        let mut bytes = [0u8; 8];
        bytes[..chunk.len()].copy_from_slice(chunk);
        *word = u64::from_ne_bytes(bytes);
    }
    // SAFETY: `words` owns at least data.len() initialized bytes, u8 has
    // alignment 1, and the slice does not outlive `words`.
    let aligned = unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), data.len()) };
    debug_assert_eq!(aligned, data);

    let Ok(object) = parse_object(aligned) else { return };

    let map_fds: Vec<i32> = (0..object.maps.len()).map(|i| 100 + i as i32).collect();
    let constants: HashMap<&'static str, u64> =
        CONSTANTS.iter().enumerate().map(|(i, &name)| (name, 0x1_0000_0001 * i as u64)).collect();
    let fields = field_layouts();
    let full = LinkInputs {
        map_fds: &map_fds,
        constants: &constants,
        fields: &fields,
        stub_helpers: &[uapi::BPF_FUNC_GET_CURRENT_CGROUP_ID.id, uapi::BPF_FUNC_GET_CURRENT_TASK.id],
    };
    let (no_constants, no_fields) = (HashMap::new(), HashMap::new());
    let empty = LinkInputs { map_fds: &[], constants: &no_constants, fields: &no_fields, stub_helpers: &[] };

    for program in &object.programs {
        if let Ok(insns) = link_program(program, &full) {
            assert_eq!(insns.len(), program.insns.len(), "linking keeps the instruction count");
        }
        let _ = link_program(program, &empty);
    }
});
