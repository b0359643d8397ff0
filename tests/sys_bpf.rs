//! The hand-written bpf(2) wrappers against the real kernel: map element
//! operations round-trip, iteration visits every key, per-CPU maps take only
//! the calls that size a value for every possible CPU, and a program the
//! verifier rejects comes back with the verifier's log. Needs root.

mod support;

use std::ffi::CString;
use std::os::fd::AsFd;
use support::have_root;
use tcpconnect::host::cpus::{read_cpu_list, POSSIBLE};
use tcpconnect::sys::bpf::*;
use tcpconnect::uapi::{
    BPF_ANY, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_PERCPU_ARRAY,
    BPF_MAP_TYPE_RINGBUF, BPF_PROG_TYPE_TRACEPOINT,
};

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

/// An array of ring buffers (the bench's per-CPU rings): its values are
/// maps of its inner map's shape; a slot holds one once it is set, and a
/// map of another type is refused.
#[test]
fn array_of_maps_holds_maps_shaped_as_its_inner_one() {
    if !have_root("array_of_maps_holds_maps_shaped_as_its_inner_one") {
        return;
    }
    let ring = |name| {
        let params = MapParams {
            map_type: BPF_MAP_TYPE_RINGBUF.id,
            key_size: 0,
            value_size: 0,
            max_entries: 4096,
            map_flags: 0,
        };
        Map::create(&params, name).expect("create ring buffer")
    };
    let (first, second) = (ring("tc_test_ring0"), ring("tc_test_ring1"));
    let params = MapParams {
        map_type: BPF_MAP_TYPE_ARRAY_OF_MAPS.id,
        key_size: 4,
        value_size: 4,
        max_entries: 2,
        map_flags: 0,
    };
    let rings =
        Map::create_map_of_maps(&params, &first, "tc_test_rings").expect("create array of ring buffers");
    let fd = |map: &Map| (std::os::fd::AsRawFd::as_raw_fd(map) as u32).to_ne_bytes();
    let mut id = [0u8; 4];
    assert!(!rings.lookup(&1u32.to_ne_bytes(), &mut id).unwrap(), "an unset slot holds no map");
    rings.update(&1u32.to_ne_bytes(), &fd(&second), BPF_ANY).expect("a ring buffer of the inner map's shape");
    assert!(rings.lookup(&1u32.to_ne_bytes(), &mut id).unwrap(), "the set slot holds its map");
    assert_ne!(u32::from_ne_bytes(id), 0, "a map's id");
    let hash = Map::create(
        &MapParams {
            map_type: BPF_MAP_TYPE_HASH.id,
            key_size: 4,
            value_size: 8,
            max_entries: 1,
            map_flags: 0,
        },
        "tc_test_hash1",
    )
    .unwrap();
    assert!(
        rings.update(&0u32.to_ne_bytes(), &fd(&hash), BPF_ANY).is_err(),
        "a hash map is not a ring buffer"
    );
}

#[test]
fn mmapable_array_is_one_memory_with_the_element_calls() {
    if !have_root("mmapable_array_is_one_memory_with_the_element_calls") {
        return;
    }
    use tcpconnect::sys::mapped_array::{MappedArray, BPF_F_MMAPABLE};
    // Values of 20 bytes: each takes 24 in the mapping (rounded up to 8).
    let params = MapParams {
        map_type: BPF_MAP_TYPE_ARRAY.id,
        key_size: 4,
        value_size: 20,
        max_entries: 3,
        map_flags: BPF_F_MMAPABLE,
    };
    let array = Map::create(&params, "tc_test_mmap").expect("create an mmapable array (5.5)");
    let mapped = MappedArray::new(&array, 3).expect("mmap it");
    assert_eq!(mapped.len() % 4096, 0, "whole pages");
    let value: [u8; 20] = std::array::from_fn(|i| i as u8 + 1);
    array.update(&2u32.to_ne_bytes(), &value, BPF_ANY).unwrap();
    let mut seen = [0u8; 20];
    mapped.copy_out(48, &mut seen);
    assert_eq!(seen, value, "an update shows at the element's place in the mapping");
    mapped.store_u64_release(24, 0x0102_0304_0506_0708);
    assert_eq!(mapped.load_u64_acquire(24), 0x0102_0304_0506_0708);
    let mut looked_up = [0u8; 20];
    assert!(array.lookup(&1u32.to_ne_bytes(), &mut looked_up).unwrap());
    assert_eq!(looked_up[..8], 0x0102_0304_0506_0708u64.to_ne_bytes(), "a store shows in a lookup");
    assert_eq!(looked_up[8..], [0; 12]);

    // Read-only (the tracer's tallies): it sees updates, and a store is
    // refused with a panic before it could fault.
    let read_only = MappedArray::read_only(&array, 3).expect("mmap it read-only");
    assert_eq!(read_only.load_u64_acquire(24), 0x0102_0304_0506_0708);
    array.update(&0u32.to_ne_bytes(), &[9u8; 20], BPF_ANY).unwrap();
    assert_eq!(read_only.load_u64_acquire(0), u64::from_ne_bytes([9; 8]));
    let store = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_only.store_u64_release(0, 1)));
    assert!(store.is_err(), "a store into a read-only mapping panics");
    assert_eq!(read_only.load_u64_acquire(0), u64::from_ne_bytes([9; 8]), "and writes nothing");

    let plain = Map::create(&MapParams { map_flags: 0, ..params }, "tc_test_nommap").unwrap();
    assert!(MappedArray::new(&plain, 3).is_err(), "an array without BPF_F_MMAPABLE is not mapped");
    let hash = Map::create(
        &MapParams {
            map_type: BPF_MAP_TYPE_HASH.id,
            key_size: 4,
            value_size: 8,
            max_entries: 1,
            map_flags: 0,
        },
        "tc_test_hash2",
    )
    .unwrap();
    assert!(MappedArray::new(&hash, 1).is_err(), "a hash is no array");
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

/// A recognisable 12-byte value for `cpu` (12: the kernel pads each to 16).
fn cpu_value(cpu: u32, round: u8) -> [u8; 12] {
    std::array::from_fn(|i| (cpu as u8).wrapping_mul(31) ^ (i as u8 + 1) ^ round.wrapping_mul(0x40))
}

#[test]
fn per_cpu_array_holds_a_value_per_possible_cpu() {
    if !have_root("per_cpu_array_holds_a_value_per_possible_cpu") {
        return;
    }
    let params = MapParams {
        map_type: BPF_MAP_TYPE_PERCPU_ARRAY.id,
        key_size: 4,
        value_size: 12,
        max_entries: 2,
        map_flags: 0,
    };
    let map = Map::create(&params, "tc_test_percpu").expect("create per-CPU array");
    assert!(map.is_per_cpu());
    assert_eq!(map.map_type(), BPF_MAP_TYPE_PERCPU_ARRAY.id);

    // The single-value calls would have the kernel copy 16 bytes per
    // possible CPU through a 12-byte buffer: refused before the kernel sees them.
    let mut one = [0xEEu8; 12];
    let err = map.lookup(&1u32.to_ne_bytes(), &mut one).unwrap_err();
    assert_eq!(err.errno(), 0, "refused in user space: {err}");
    assert_eq!(
        err.refusal::<PerCpuMismatch>(),
        Some(&PerCpuMismatch::PerCpuMap { map_type: BPF_MAP_TYPE_PERCPU_ARRAY.id })
    );
    assert_eq!(one, [0xEE; 12], "nothing was written");
    let err = map.update(&1u32.to_ne_bytes(), &one, BPF_ANY).unwrap_err();
    assert_eq!(
        err.refusal::<PerCpuMismatch>(),
        Some(&PerCpuMismatch::PerCpuMap { map_type: BPF_MAP_TYPE_PERCPU_ARRAY.id })
    );

    // One value per possible CPU, as the kernel counts them.
    let possible = read_cpu_list(POSSIBLE).expect("possible CPUs");
    let mut values = map.percpu_values().unwrap();
    assert_eq!(values.len(), possible.len());
    assert!(map.lookup_percpu(&1u32.to_ne_bytes(), &mut values).unwrap(), "array keys always exist");
    assert_eq!(values.iter().map(|(cpu, _)| cpu).collect::<Vec<_>>(), possible);
    assert!(values.iter().all(|(_, v)| v == [0; 12]), "a new array is zeroed: {values:?}");

    // Written per CPU, read back per CPU; the other key is untouched.
    for round in 0..2 {
        let mut written = map.percpu_values().unwrap();
        for &cpu in &possible {
            written.get_mut(cpu).unwrap().copy_from_slice(&cpu_value(cpu, round));
        }
        map.update_percpu(&1u32.to_ne_bytes(), &written, BPF_ANY).unwrap();
        let mut read = map.percpu_values().unwrap();
        assert!(map.lookup_percpu(&1u32.to_ne_bytes(), &mut read).unwrap());
        assert_eq!(read, written);
        for &cpu in &possible {
            assert_eq!(read.get(cpu), Some(&cpu_value(cpu, round)[..]), "cpu {cpu}");
        }
        assert!(map.lookup_percpu(&0u32.to_ne_bytes(), &mut read).unwrap());
        assert!(read.iter().all(|(_, v)| v == [0; 12]));
    }
    assert!(values.get(u32::MAX).is_none(), "not a possible CPU");
    // Out of range: the array has no such key.
    assert!(map.update_percpu(&2u32.to_ne_bytes(), &values, BPF_ANY).is_err());
    assert!(!map.lookup_percpu(&2u32.to_ne_bytes(), &mut values).unwrap());

    // Opened from its fd, the map knows it is per-CPU.
    let reopened = Map::from_fd(map.as_fd().try_clone_to_owned().unwrap()).unwrap();
    assert!(reopened.is_per_cpu());
    assert_eq!(
        reopened.lookup(&1u32.to_ne_bytes(), &mut one).unwrap_err().refusal::<PerCpuMismatch>(),
        Some(&PerCpuMismatch::PerCpuMap { map_type: BPF_MAP_TYPE_PERCPU_ARRAY.id })
    );
    let mut read = reopened.percpu_values().unwrap();
    assert!(reopened.lookup_percpu(&1u32.to_ne_bytes(), &mut read).unwrap());
    assert_eq!(read.get(possible[0]), Some(&cpu_value(possible[0], 1)[..]));

    // Values of a map of other sizes are refused, not trusted.
    let bigger = MapParams { value_size: 40, ..params };
    let bigger = Map::create(&bigger, "tc_test_percpu2").expect("create per-CPU array");
    let err = bigger.lookup_percpu(&0u32.to_ne_bytes(), &mut values).unwrap_err();
    assert_eq!(err.errno(), 0, "refused in user space: {err}");
    assert!(bigger.update_percpu(&0u32.to_ne_bytes(), &values, BPF_ANY).is_err());
}

#[test]
fn per_cpu_calls_refuse_a_map_with_one_value() {
    if !have_root("per_cpu_calls_refuse_a_map_with_one_value") {
        return;
    }
    let params = MapParams {
        map_type: BPF_MAP_TYPE_HASH.id,
        key_size: 4,
        value_size: 8,
        max_entries: 4,
        map_flags: 0,
    };
    let map = Map::create(&params, "tc_test_one").expect("create hash map");
    assert!(!map.is_per_cpu());
    let not_per_cpu = Some(PerCpuMismatch::NotPerCpuMap { map_type: BPF_MAP_TYPE_HASH.id });
    assert_eq!(map.percpu_values().unwrap_err().refusal::<PerCpuMismatch>(), not_per_cpu.as_ref());
    let per_cpu = MapParams { map_type: BPF_MAP_TYPE_PERCPU_ARRAY.id, max_entries: 1, ..params };
    let per_cpu = Map::create(&per_cpu, "tc_test_pc").expect("create per-CPU array");
    let mut values = per_cpu.percpu_values().unwrap();
    let err = map.lookup_percpu(&0u32.to_ne_bytes(), &mut values).unwrap_err();
    assert_eq!(err.refusal::<PerCpuMismatch>(), not_per_cpu.as_ref());
    let err = map.update_percpu(&0u32.to_ne_bytes(), &values, BPF_ANY).unwrap_err();
    assert_eq!(err.refusal::<PerCpuMismatch>(), not_per_cpu.as_ref());
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

/// `field` of program fd `fd`'s fdinfo (run_cnt, run_time_ns), 0 if absent.
fn prog_fdinfo(fd: &std::os::fd::OwnedFd, field: &str) -> u64 {
    use std::os::fd::AsRawFd;
    let text = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).unwrap();
    text.lines().find_map(|l| l.strip_prefix(field)?.trim().parse().ok()).unwrap_or(0)
}

#[test]
fn run_time_stats_count_while_their_fd_is_open() {
    if !have_root("run_time_stats_count_while_their_fd_is_open") {
        return;
    }
    use std::os::fd::AsRawFd;
    // A socket filter (BPF_PROG_TYPE_SOCKET_FILTER, 1) keeping every
    // packet: r0 = -1; exit. It runs once for each datagram the socket gets.
    let insns = [
        u64::from_le_bytes([0xb7, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]),
        u64::from_le_bytes([0x95, 0, 0, 0, 0, 0, 0, 0]),
    ];
    let license = CString::new("GPL").unwrap();
    let prog = bpf_prog_load(&ProgLoad {
        prog_type: 1,
        insns: &insns,
        license: &license,
        kern_version: 0,
        btf_attach: None,
        name: "tc_test_stats",
    })
    .expect("load a socket filter");
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(socket.local_addr().unwrap()).unwrap();
    let prog_fd = prog.as_raw_fd();
    // SAFETY: setsockopt reads an int (the program fd) from a live local
    // of the size passed, on a socket this test owns.
    let attached = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_BPF,
            &prog_fd as *const i32 as *const libc::c_void,
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    assert_eq!(attached, 0, "SO_ATTACH_BPF: {}", std::io::Error::last_os_error());
    let exchange = |n: usize| {
        let mut buf = [0u8; 8];
        for _ in 0..n {
            socket.send(b"ping").unwrap();
            socket.recv(&mut buf).unwrap();
        }
    };
    let stats_on_for_all =
        std::fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled").unwrap().trim() != "0";

    let stats = enable_run_time_stats().expect("BPF_ENABLE_STATS (5.8)");
    let before = prog_fdinfo(&prog, "run_cnt:");
    exchange(3);
    let counted = prog_fdinfo(&prog, "run_cnt:");
    assert!(counted >= before + 3, "3 datagrams, 3 runs counted: {before} then {counted}");
    assert!(prog_fdinfo(&prog, "run_time_ns:") > 0, "and their time");

    drop(stats);
    exchange(3);
    if !stats_on_for_all {
        assert_eq!(prog_fdinfo(&prog, "run_cnt:"), counted, "nothing counted once the fd is closed");
    }
}
