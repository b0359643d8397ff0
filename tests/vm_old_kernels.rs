//! The real old kernels of ../shared/kernels (4.9, 4.14, 4.19 and 5.4, built
//! from source: see their READMEs) under qemu, one VM per kernel, with the
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
//!     calibration; `--attach tracepoint` fails naming the tracepoint.
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
use vm::{kernel_assets_or_skip, LEGACY_ATTACH, PMU_ATTACH};

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
    Kernel { ring_buffer: false, ..Kernel::new("linux-5.4.286-x86_64", "5.4.286", methods) }
}

fn linux_4_19() -> Kernel {
    let no_btf = perf_tracepoint_attached(NO_BTF);
    Kernel {
        retprobe_listed: "r",
        ring_buffer: false,
        ..Kernel::new(
            "linux-4.19.108-x86_64",
            "4.19.108",
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
        ..Kernel::new(folder, release, vec![method("auto", AUTO), method("kprobe", KPROBE)])
    }
}

/// ../shared/kernels/<folder>, beside the clone.
fn shared_dir(folder: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/kernels").join(folder)
}

/// Runs the matrix on `kernel`, whose bzImage and formats are in
/// ../shared/kernels/<its fixtures' folder>; skips with one line where the
/// bzImage is absent (a clone without ../shared), in CI too.
fn check_shared(test: &str, kernel: Kernel) {
    let dir = shared_dir(&kernel.fixtures);
    let bzimage = dir.join("bzImage");
    if !bzimage.is_file() {
        eprintln!(
            "skipping {test}: no {} (the kernels come with ../shared beside the clone)",
            bzimage.display()
        );
        return;
    }
    let Some(assets) = kernel_assets_or_skip(test, &bzimage, &kernel.release) else {
        return;
    };
    let kernel = Kernel { formats_copy: Some(dir.join("formats")), ..kernel };
    check(test, &kernel, &assets);
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
