//! The kernel BTF reader (`btf::Btf::parse` and `member_offset`), with the
//! lookups the tracer makes plus those of the synthetic seed
//! (fuzz/corpus/btf/synthetic, the fixture of src/btf.rs's tests).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpconnect::btf::Btf;

const LOOKUPS: &[(&str, &[&str])] = &[
    // What the tracer asks the running kernel.
    ("sock_common", &["skc_v6_daddr"]),
    ("sock_common", &["skc_v6_rcv_saddr"]),
    ("task_struct", &["nsproxy"]),
    ("nsproxy", &["mnt_ns"]),
    ("mnt_namespace", &["ns", "inum"]),
    // The synthetic seed's types: anonymous members, typedefs, arrays,
    // bitfields, a union and a struct of one name, reference cycles.
    ("outer", &[]),
    ("outer", &["addr"]),
    ("outer", &["hi"]),
    ("outer", &["pair", "hi"]),
    ("outer", &["ns", "inum"]),
    ("outer", &["flags"]),
    ("outer", &["next", "x"]),
    ("outer", &["tail"]),
    ("outer", &["", "x"]),
    ("oldbits", &["narrow"]),
    ("oldbits", &["odd"]),
    ("dup", &["s"]),
    ("cyclic", &["x"]),
    ("cyclic", &["missing"]),
    ("int", &[]),
];

fuzz_target!(|data: &[u8]| {
    let Ok(btf) = Btf::parse(data) else { return };
    for (type_name, path) in LOOKUPS {
        // Whatever the file says, a member found lies inside its struct: a
        // program reads through the offset from a pointer to the struct.
        if let Ok(member) = btf.member_offset(type_name, path) {
            let whole = btf.member_offset(type_name, &[]).expect("the struct of a member found").size;
            assert!(
                u64::from(member.offset) + u64::from(member.size) <= u64::from(whole),
                "{type_name}.{path:?}: {member:?} past {whole} bytes"
            );
        }
    }
});
