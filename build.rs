//! Embeds the prebuilt BPF object. Building never needs clang: the object is
//! committed in bpf-prebuilt/ and rebuilt only by tools/build-bpf.
use std::path::PathBuf;

fn main() {
    let manifest =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let object = manifest.join("bpf-prebuilt").join("tcpconnect.bpf.o");
    println!("cargo:rerun-if-changed={}", object.display());
    if !object.is_file() {
        eprintln!(
            "error: the BPF object {} is missing.\n\
             It is committed to the repository; restore it with `git checkout bpf-prebuilt/`\n\
             or rebuild it from bpf-prebuilt/tcpconnect.bpf.c with `tools/build-bpf` (needs clang 14).",
            object.display()
        );
        std::process::exit(1);
    }
    println!("cargo:rustc-env=TCPCONNECT_BPF_OBJECT={}", object.display());
}
