//! The hand-written bpf(2) wrappers against the real kernel: map element
//! operations round-trip, iteration visits every key, and a program the
//! verifier rejects comes back with the verifier's log. Needs root.

mod support;

use std::ffi::CString;
use std::os::fd::AsFd;
use support::have_root;
use tcpconnect::sys::bpf::*;
use tcpconnect::uapi::{BPF_ANY, BPF_MAP_TYPE_HASH, BPF_PROG_TYPE_TRACEPOINT};

#[test]
fn hash_map_update_lookup_iterate_delete() {
    if !have_root("hash_map_update_lookup_iterate_delete") {
        return;
    }
    let params = MapParams {
        map_type: BPF_MAP_TYPE_HASH.id,
        key_size: 4,
        value_size: 8,
        max_entries: 16,
        map_flags: 0,
    };
    let map = Map::create(&params, "tc_test_hash").expect("create hash map");
    for key in [3u32, 1, 2] {
        map.update(&key.to_ne_bytes(), &(u64::from(key) * 100).to_ne_bytes(), BPF_ANY).unwrap();
    }
    let mut value = [0u8; 8];
    assert!(map.lookup(&2u32.to_ne_bytes(), &mut value).unwrap());
    assert_eq!(u64::from_ne_bytes(value), 200);
    assert!(!map.lookup(&9u32.to_ne_bytes(), &mut value).unwrap(), "absent key");

    let mut keys = Vec::new();
    let mut next = [0u8; 4];
    let mut current: Option<[u8; 4]> = None;
    while map.next_key(current.as_ref().map(|k| &k[..]), &mut next).unwrap() {
        keys.push(u32::from_ne_bytes(next));
        current = Some(next);
        assert!(keys.len() <= 3, "iteration must end");
    }
    keys.sort();
    assert_eq!(keys, [1, 2, 3]);

    assert!(map.delete(&1u32.to_ne_bytes()).unwrap());
    assert!(!map.delete(&1u32.to_ne_bytes()).unwrap(), "second delete finds nothing");
    assert!(!map.lookup(&1u32.to_ne_bytes(), &mut value).unwrap());
}

#[test]
fn wrong_sized_buffers_are_refused_before_the_kernel_sees_them() {
    if !have_root("wrong_sized_buffers_are_refused_before_the_kernel_sees_them") {
        return;
    }
    let params = MapParams {
        map_type: BPF_MAP_TYPE_HASH.id,
        key_size: 4,
        value_size: 8,
        max_entries: 4,
        map_flags: 0,
    };
    let map = Map::create(&params, "tc_test_sizes").expect("create hash map");
    map.update(&1u32.to_ne_bytes(), &7u64.to_ne_bytes(), BPF_ANY).unwrap();
    let mut short = [0u8; 4];
    let err = map.lookup(&1u32.to_ne_bytes(), &mut short).unwrap_err();
    assert_eq!(err.errno(), 0, "refused in user space, not by the kernel: {err}");
    assert_eq!(
        err.to_string(),
        "bpf(BPF_MAP_LOOKUP_ELEM): a 4-byte value buffer for a map with 8-byte values"
    );
    assert_eq!(short, [0; 4], "nothing was written");
    let err = map.update(&1u16.to_ne_bytes(), &7u64.to_ne_bytes(), BPF_ANY).unwrap_err();
    assert_eq!(err.to_string(), "bpf(BPF_MAP_UPDATE_ELEM): a 2-byte key buffer for a map with 4-byte keys");
    assert!(map.update(&1u32.to_ne_bytes(), &[0u8; 9], BPF_ANY).is_err());
    assert!(map.delete(&[0u8; 8]).is_err());
    assert!(map.next_key(None, &mut [0u8; 3]).is_err());
    // The same map opened from its fd knows the same sizes.
    let dup = map.as_fd().try_clone_to_owned().unwrap();
    let reopened = Map::from_fd(dup).unwrap();
    assert_eq!((reopened.key_size(), reopened.value_size()), (4, 8));
    let mut value = [0u8; 8];
    assert!(reopened.lookup(&1u32.to_ne_bytes(), &mut value).unwrap());
    assert_eq!(u64::from_ne_bytes(value), 7);
}

#[test]
fn rejected_program_returns_the_verifier_log() {
    if !have_root("rejected_program_returns_the_verifier_log") {
        return;
    }
    // r0 = r2 (never initialized); exit. The verifier must refuse it and say why.
    let insns = [
        u64::from_le_bytes([0xbf, 0x20, 0, 0, 0, 0, 0, 0]), // mov r0, r2
        u64::from_le_bytes([0x95, 0, 0, 0, 0, 0, 0, 0]),    // exit
    ];
    let license = CString::new("GPL").unwrap();
    let err = bpf_prog_load(&ProgLoad {
        prog_type: BPF_PROG_TYPE_TRACEPOINT,
        insns: &insns,
        license: &license,
        kern_version: 0,
        btf_attach: None,
        name: "tc_test_bad",
    })
    .expect_err("the verifier must reject reading an uninitialized register");
    assert_eq!(err.error.errno(), libc::EACCES, "{}", err.error);
    assert!(err.verifier_log.contains("R2 !read_ok"), "log: {}", err.verifier_log);
}

#[test]
fn accepted_program_loads() {
    if !have_root("accepted_program_loads") {
        return;
    }
    // r0 = 0; exit.
    let insns =
        [u64::from_le_bytes([0xb7, 0, 0, 0, 0, 0, 0, 0]), u64::from_le_bytes([0x95, 0, 0, 0, 0, 0, 0, 0])];
    let license = CString::new("GPL").unwrap();
    let prog = bpf_prog_load(&ProgLoad {
        prog_type: BPF_PROG_TYPE_TRACEPOINT,
        insns: &insns,
        license: &license,
        kern_version: 0,
        btf_attach: None,
        name: "tc_test_ok",
    });
    assert!(prog.is_ok(), "{:?}", prog.err().map(|e| e.error.to_string()));
}
