//! The real old kernels of ../shared/kernels (4.9, 4.14, 4.19 and 5.4, and
//! the enterprise kernels of RHEL 7.9 and 8.1, built from source: see their
//! READMEs) under qemu, one VM per kernel, with the
//! static binaries, through the kernel matrix of tests/support/vm_matrix.rs:
//! one script runs every option on every attach method the kernel offers,
//! each against the same real connects (IPv4, IPv6 and v4-mapped, refused
//! on port 1 and accepted on port 8080), and the host checks the exact
//! bytes bcc prints and what -v says about the path:
//!   - 5.4 (BTF, but `sock.sk_protocol` a bitfield): auto and `--attach
//!     tracepoint` use the perf tracepoint event (the raw tracepoint is
//!     refused); the kprobe PMU and legacy kprobe_events with the IPv6
//!     offsets from BTF, and both again by calibration (TCPCONNECT_BTF=off);
//!   - 4.19 (no BTF): the perf tracepoint event; kprobe PMU and legacy
//!     kprobes by calibration;
//!   - 4.14 and 4.9 (no tracepoint, no kprobe PMU; 4.9 no LRU hash maps):
//!     auto and `--attach kprobe` through legacy kprobe_events by
//!     calibration; `--attach tracepoint` fails naming the tracepoint;
//!   - RHEL 7.9's 3.10 (eBPF tracing backported at about the 4.16-4.18
//!     level, tracefs inside debugfs, no tracepoint, no BTF): auto and
//!     `--attach kprobe` through the kprobe PMU, legacy kprobe_events, by
//!     calibration, every option; --cgroupmap and --mntnsmap one line each;
//!   - RHEL 8.1's 4.18 (5.x BPF, no BTF): as 4.19, with the interpreter
//!     (bpf_jit_enable 0, as it boots) and again with the JIT.
//!
//! Every guest runs with RLIMIT_MEMLOCK at 64 KiB, as RHEL ships. Neither RHEL
//! kernel has the NFS client (it does not build outside Red Hat's config),
//! nor any other in-kernel TCP client (9P, CIFS, iSCSI, NBD): no kernel-made
//! connect is traced there.
//!
//! On each: a SIGKILLed legacy run leaves its probes, the next run sweeps
//! them; every run leaves kprobe_events empty; the guest's tracefs format
//! files equal our fixtures (tests/fixtures/tracefs/<kernel>) and the
//! copies in the kernel's `formats/` folder.
//!
//! Skips with one line where ../shared/kernels/<kernel>/bzImage is absent
//! (a clone without ../shared), in CI too; otherwise needs root and the VM
//! tools, as tests/vm_kprobe.rs does.

#[path = "support/vm_matrix.rs"]
mod matrix;
mod support;
#[path = "support/vm.rs"]
mod vm;

use std::path::{Path, PathBuf};

use matrix::{
    calibrated, check, kprobe_methods_with_btf, Kernel, Method, Via, AUTO, EVERY_OPTION, KPROBE, LEGACY,
    NO_BTF, PMU, SOME_OPTIONS, TRACEFS, TRACEPOINT,
};
use support::perf_tracepoint_attached;
use vm::{kernel_assets_or_skip, section, VmOutput, LEGACY_ATTACH, PMU_ATTACH};

fn linux_5_4() -> Kernel {
    let bitfield = perf_tracepoint_attached(
        "/sys/kernel/btf/vmlinux: sock.sk_protocol is a bitfield; only whole-byte members can be read",
    );
    let mut methods = vec![
        Method {
            name: "auto",
            command: AUTO,
            via: Via::Tracepoint,
            attach: bitfield.clone(),
            options: EVERY_OPTION,
        },
        Method {
            name: "tracepoint",
            command: TRACEPOINT,
            via: Via::Tracepoint,
            attach: bitfield,
            options: EVERY_OPTION,
        },
    ];
    methods.extend(kprobe_methods_with_btf([EVERY_OPTION, SOME_OPTIONS, SOME_OPTIONS, SOME_OPTIONS]));
    Kernel {
        ring_buffer: false,
        // -d's cgroup_skb program: this build has no CONFIG_CGROUP_BPF (and
        // 5.4 neither cgroup links, 5.7, nor bpf_probe_read_kernel for
        // cgroup_skb programs).
        dns_delivery_refused: Some(
            "this kernel has no cgroup_skb programs (CONFIG_CGROUP_BPF): bpf(BPF_PROG_LOAD) refused the type \
             before the verifier ran",
        ),
        ..Kernel::new("linux-5.4.286-x86_64", "5.4.286", methods)
    }
}

fn linux_4_19() -> Kernel {
    Kernel { has_btf: false, ..like_4_19("linux-4.19.108-x86_64", "4.19.108") }
}

/// 4.19's methods (the perf tracepoint event; kprobe PMU and legacy
/// kprobes by calibration), every option, for a kernel without BTF.
fn like_4_19(folder: &str, release: &str) -> Kernel {
    let no_btf = perf_tracepoint_attached(NO_BTF);
    Kernel {
        retprobe_listed: "r",
        ring_buffer: false,
        has_btf: false,
        ..Kernel::new(
            folder,
            release,
            vec![
                Method {
                    name: "auto",
                    command: AUTO,
                    via: Via::Tracepoint,
                    attach: no_btf.clone(),
                    options: EVERY_OPTION,
                },
                Method {
                    name: "tracepoint",
                    command: TRACEPOINT,
                    via: Via::Tracepoint,
                    attach: no_btf,
                    options: EVERY_OPTION,
                },
                Method {
                    name: "kprobe",
                    command: KPROBE,
                    via: PMU,
                    attach: calibrated(NO_BTF, PMU_ATTACH),
                    options: EVERY_OPTION,
                },
                Method {
                    name: "legacy",
                    command: LEGACY,
                    via: TRACEFS,
                    attach: calibrated(NO_BTF, LEGACY_ATTACH),
                    options: SOME_OPTIONS,
                },
            ],
        )
    }
}

/// 4.9 and 4.14: legacy kprobe_events only, whichever way it is asked for.
fn legacy_only(folder: &str, release: &str) -> Kernel {
    let method = |name, command| Method {
        name,
        command,
        via: TRACEFS,
        attach: calibrated(NO_BTF, LEGACY_ATTACH),
        options: EVERY_OPTION,
    };
    Kernel {
        has_state_tracepoint: false,
        has_cgroup_id_helper: false,
        legacy: "auto",
        retprobe_listed: "r",
        ring_buffer: false,
        has_btf: false,
        ..Kernel::new(folder, release, vec![method("auto", AUTO), method("kprobe", KPROBE)])
    }
}

/// What the RHEL kernels run after the matrix: --mntnsmap with a pinned map
/// (it needs BTF, which neither has: one line), checked by `check_rhel`.
const RHEL_EXTRA: &str = "tcpconnect --mntnsmap /sys/fs/bpf/cgroups > /tmp/out 2> /tmp/err\nrc=$?\n\
                          begin mntnsmap; echo $rc; cat /tmp/out /tmp/err; end mntnsmap\n";

/// RHEL 7.9 / CentOS 7.9: 3.10 with eBPF tracing backported. No state
/// tracepoint, no raw tracepoint, no BTF, no ring buffer, tracefs inside
/// debugfs, no bpf_get_current_cgroup_id: the kprobe PMU (auto and
/// `--attach kprobe`) and legacy kprobe_events, offsets by calibration.
fn rhel_7_9() -> Kernel {
    let method = |name, command, via, attach: &str, options| Method {
        name,
        command,
        via,
        attach: calibrated(NO_BTF, attach),
        options,
    };
    Kernel {
        has_state_tracepoint: false,
        has_cgroup_id_helper: false,
        retprobe_listed: "r",
        ring_buffer: false,
        has_btf: false,
        has_nfs: false,
        extra_script: RHEL_EXTRA.to_owned(),
        ..Kernel::new(
            "linux-3.10.0-1160.el7-x86_64",
            "3.10.0-1160.el7.x86_64",
            vec![
                method("auto", AUTO, PMU, PMU_ATTACH, SOME_OPTIONS),
                method("kprobe", KPROBE, PMU, PMU_ATTACH, EVERY_OPTION),
                method("legacy", LEGACY, TRACEFS, LEGACY_ATTACH, EVERY_OPTION),
            ],
        )
    }
}

/// RHEL 8.1: 4.18 with 5.x BPF, no BTF, no ring buffer; the methods of
/// 4.19, with bpf_jit_enable set to `jit` before the matrix.
fn rhel_8_1(jit: u8) -> Kernel {
    Kernel {
        has_nfs: false,
        setup: format!("echo {jit} > /proc/sys/net/core/bpf_jit_enable\nsection jit cat /proc/sys/net/core/bpf_jit_enable\n"),
        extra_script: RHEL_EXTRA.to_owned(),
        ..like_4_19("linux-4.18.0-147.el8-x86_64", "4.18.0-147.5.1.el8_1.x86_64")
    }
}

/// The RHEL kernels' own checks, after the matrix's: 64 KiB of
/// RLIMIT_MEMLOCK, and --mntnsmap's one line.
fn check_rhel(test: &str, out: &VmOutput) {
    assert_eq!(section(out, "memlock"), "64\n", "{test}: RLIMIT_MEMLOCK as RHEL ships it");
    assert_eq!(
        section(out, "mntnsmap"),
        "1\ntcpconnect: --mntnsmap needs the kernel's BTF type information to find the mount namespace of a \
         task: /sys/kernel/btf/vmlinux: not found (kernel built without CONFIG_DEBUG_INFO_BTF)\n",
        "{test}"
    );
}

/// ../shared/kernels/<folder>, beside the clone.
fn shared_dir(folder: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/kernels").join(folder)
}

/// Runs the matrix on `kernel`, whose bzImage and formats are in
/// ../shared/kernels/<its fixtures' folder>; skips with one line where the
/// bzImage is absent (a clone without ../shared), in CI too.
fn check_shared(test: &str, kernel: Kernel) -> Option<VmOutput> {
    let dir = shared_dir(&kernel.fixtures);
    let bzimage = dir.join("bzImage");
    if !bzimage.is_file() {
        eprintln!(
            "skipping {test}: no {} (the kernels come with ../shared beside the clone)",
            bzimage.display()
        );
        return None;
    }
    let assets = kernel_assets_or_skip(test, &bzimage, &kernel.release)?;
    let kernel = Kernel { formats_copy: Some(dir.join("formats")), ..kernel };
    Some(check(test, &kernel, &assets))
}

#[test]
fn linux_5_4_every_option_on_every_attach_method() {
    check_shared("linux_5_4_every_option_on_every_attach_method", linux_5_4());
}

#[test]
fn linux_4_19_every_option_on_every_attach_method() {
    check_shared("linux_4_19_every_option_on_every_attach_method", linux_4_19());
}

#[test]
fn linux_4_14_every_option_on_legacy_kprobes() {
    check_shared("linux_4_14_every_option_on_legacy_kprobes", legacy_only("linux-4.14.67-x86_64", "4.14.67"));
}

#[test]
fn linux_4_9_every_option_on_legacy_kprobes() {
    check_shared("linux_4_9_every_option_on_legacy_kprobes", legacy_only("linux-4.9.229-x86_64", "4.9.229"));
}

#[test]
fn rhel_7_9_every_option_on_every_kprobe_method() {
    let test = "rhel_7_9_every_option_on_every_kprobe_method";
    if let Some(out) = check_shared(test, rhel_7_9()) {
        check_rhel(test, &out);
    }
}

/// RHEL 8.1 with bpf_jit_enable at `jit`, and the RHEL checks.
fn check_rhel_8_1(test: &str, jit: u8) {
    if let Some(out) = check_shared(test, rhel_8_1(jit)) {
        assert_eq!(section(&out, "jit"), format!("{jit}\n"), "{test}: bpf_jit_enable");
        check_rhel(test, &out);
    }
}

#[test]
fn rhel_8_1_every_option_on_every_attach_method_interpreted() {
    check_rhel_8_1("rhel_8_1_every_option_on_every_attach_method_interpreted", 0);
}

#[test]
fn rhel_8_1_every_option_on_every_attach_method_jited() {
    check_rhel_8_1("rhel_8_1_every_option_on_every_attach_method_jited", 1);
}
