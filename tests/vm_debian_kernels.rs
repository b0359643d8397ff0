//! Debian's other x86_64 cloud kernels under qemu, one VM per kernel,
//! through the kernel matrix of tests/support/vm_matrix.rs (the one
//! tests/vm_old_kernels.rs runs): bullseye's 5.10, trixie's 6.12 and sid's
//! newest, as tools/setup-kernels fetched them into its cache (the release
//! is read from there, so the test follows the archive). Each has BTF, a
//! u16 `sock.sk_protocol`, kprobes and kprobe_events, so every option runs
//! on every attach method:
//!   - auto: the BTF tracepoint (6.12, sid), the socket and task layout
//!     from BTF, or on 5.10 (no bpf_get_current_task_btf) the raw
//!     tracepoint, the socket layout from BTF;
//!   - the raw tracepoint on each (TCPCONNECT_BTF_TRACEPOINT=off);
//!   - the perf tracepoint event (TCPCONNECT_RAW_TRACEPOINT=off);
//!   - the kprobe PMU and legacy kprobe_events, the IPv6 offsets from BTF;
//!   - both again by calibration (TCPCONNECT_BTF=off).
//!
//! On each: a SIGKILLed legacy run leaves its probes, the next run sweeps
//! them; every run leaves kprobe_events empty; the guest's tracefs format
//! files equal tests/fixtures/tracefs/linux-<release>.
//!
//! On 5.10, which charges BPF memory to RLIMIT_MEMLOCK (before 5.11): the
//! guest's 64 KiB default is raised to unlimited while the tool runs (its
//! /proc/PID/limits), by root even under a hard limit of 64 KiB; a user
//! with CAP_BPF and CAP_PERFMON but a hard limit it cannot raise gets one
//! line.
//!
//! Skips with one line when a kernel is not in the cache (a machine that
//! did not run tools/setup-kernels); in CI that is a failure. Needs root
//! and the VM tools, as tests/vm_kprobe.rs does.

#[path = "support/vm_matrix.rs"]
mod matrix;
mod support;
#[path = "support/vm.rs"]
mod vm;

use std::path::PathBuf;

use matrix::{
    check, kprobe_methods_with_btf, offsets_line, Kernel, Method, Via, AUTO, EVERY_OPTION,
    KPROBE_PERF_ARRAYS, LINES, PERF_ARRAYS, PMU, SOME_OPTIONS,
};
use support::{connector_output, perf_tracepoint_attached, raw_tracepoint_attached, BTF_TRACEPOINT_ATTACHED};
use vm::{cached_kernel_assets_or_skip, section, trace_run, VmAssets, VmOutput, PMU_ATTACH};

/// tools/setup-kernels' cache.
fn cache() -> PathBuf {
    std::env::var_os("TCPCONNECT_KERNELS_CACHE")
        .map_or_else(|| PathBuf::from("/var/cache/tcpconnect-kernels"), PathBuf::from)
}

/// The kernel of `suite` in the cache, or None (with one line) when the test
/// must skip.
fn assets(test: &str, suite: &str) -> Option<VmAssets> {
    let root = cache().join(suite);
    cached_kernel_assets_or_skip(test, &root, "tools/setup-kernels fetches it")
}

const PERF_TRACEPOINT: &str = "env TCPCONNECT_RAW_TRACEPOINT=off tcpconnect";
const RAW_TRACEPOINT: &str = "env TCPCONNECT_BTF_TRACEPOINT=off tcpconnect";

/// What -v says of the state tracepoint on 5.10, which refuses the BTF
/// tracepoint program for its one helper newer than 5.10.
fn raw_on_5_10() -> String {
    raw_tracepoint_attached(
        "tp_btf/inet_sock_set_state needs the BPF helper bpf_get_current_task_btf, which this kernel does not \
         have (upstream Linux added it in 5.11)",
    )
}

/// Every attach method of a Debian kernel with BTF (5.10 and later), where
/// the state tracepoint attaches as `tracepoint` says.
fn every_method(tracepoint: String) -> Vec<Method> {
    let mut methods = vec![
        Method {
            name: "auto",
            command: AUTO,
            via: Via::Tracepoint,
            attach: tracepoint.clone(),
            options: EVERY_OPTION,
        },
        Method {
            name: "raw",
            command: RAW_TRACEPOINT,
            via: Via::Tracepoint,
            attach: raw_tracepoint_attached("disabled by TCPCONNECT_BTF_TRACEPOINT=off"),
            options: SOME_OPTIONS,
        },
        Method {
            name: "perf",
            command: PERF_TRACEPOINT,
            via: Via::Tracepoint,
            attach: perf_tracepoint_attached("disabled by TCPCONNECT_RAW_TRACEPOINT=off"),
            options: EVERY_OPTION,
        },
    ];
    methods.extend(kprobe_methods_with_btf([EVERY_OPTION, EVERY_OPTION, EVERY_OPTION, SOME_OPTIONS]));
    // Both transports: these kernels have the BPF ring buffer, and the perf
    // event arrays are what 4.x up to 5.7 run.
    methods.push(Method {
        name: "perf_arrays",
        command: PERF_ARRAYS,
        via: Via::Tracepoint,
        attach: tracepoint,
        options: EVERY_OPTION,
    });
    methods.push(Method {
        name: "kprobe_perf_arrays",
        command: KPROBE_PERF_ARRAYS,
        via: PMU,
        attach: format!("{}{PMU_ATTACH}", offsets_line("from BTF")),
        options: SOME_OPTIONS,
    });
    methods
}

/// The matrix on the kernel of `suite` in the cache, with `extra_script`,
/// the state tracepoint attaching as `tracepoint` says; the VM's output for
/// the caller's checks, or None when skipped.
fn check_cached(test: &str, suite: &str, extra_script: &str, tracepoint: String) -> Option<VmOutput> {
    let assets = assets(test, suite)?;
    let release = &assets.release;
    let kernel = Kernel {
        extra_script: extra_script.to_owned(),
        ..Kernel::new(&format!("linux-{release}"), release, every_method(tracepoint))
    };
    Some(check(test, &kernel, &assets))
}

/// 5.10: RLIMIT_MEMLOCK as the guest starts (64 KiB), as the running tool
/// has it (raised), as root has it under a hard limit of 64 KiB (raised
/// anyway: root may), and what a user with CAP_BPF and CAP_PERFMON but a
/// hard limit of 64 KiB is told.
const MEMLOCK_SCRIPT: &str = r#"
section memlock.default sh -c 'ulimit -S -l; ulimit -H -l'
LIMITS='grep "^Max locked memory" /proc/$(pidof tcpconnect)/limits'
DURING="$LIMITS" trace memlock tcpconnect -v
(ulimit -H -l 64; DURING="$LIMITS" trace memlock_hard tcpconnect -v)
USER_CAPS='connector --exec-as 1000 38,39'
section memlock_user.caps sh -c "ulimit -H -l 64; $USER_CAPS grep -E '^(Uid|Cap(Prm|Eff|Amb))' /proc/self/status"
section memlock_user.limits sh -c "ulimit -H -l 64; $USER_CAPS grep '^Max locked memory' /proc/self/limits"
begin memlock_user; (ulimit -H -l 64; $USER_CAPS timeout -s INT 20 tcpconnect -v 2>&1; echo "rc $?"); end memlock_user
"#;

#[test]
fn debian_bullseye_5_10_every_option_on_every_attach_method() {
    let test = "debian_bullseye_5_10_every_option_on_every_attach_method";
    let Some(out) = check_cached(test, "bullseye", MEMLOCK_SCRIPT, raw_on_5_10()) else {
        return;
    };
    assert_eq!(section(&out, "memlock.default"), "64\n64\n", "{test}: the guest's RLIMIT_MEMLOCK in KiB");
    const RAISED: &str = "Max locked memory         unlimited            unlimited            bytes     \n";
    for name in ["memlock", "memlock_hard"] {
        let run = trace_run(&out, name);
        assert_eq!(run.out, connector_output(run.connector_pid, &LINES), "{test}: {name}");
        assert_eq!(run.err, raw_on_5_10(), "{test}: {name}");
        assert_eq!(
            section(&out, &format!("{name}.during")),
            RAISED,
            "{test}: {name}: the running tool's limit"
        );
    }
    assert_eq!(
        section(&out, "memlock_user.caps"),
        "Uid:\t1000\t1000\t1000\t1000\nCapPrm:\t000000c000000000\nCapEff:\t000000c000000000\n\
         CapAmb:\t000000c000000000\n",
        "{test}: the user has CAP_PERFMON and CAP_BPF"
    );
    assert_eq!(
        section(&out, "memlock_user.limits"),
        "Max locked memory         65536                65536                bytes     \n",
        "{test}: the user's hard limit"
    );
    assert_eq!(
        section(&out, "memlock_user"),
        "tcpconnect: cannot raise RLIMIT_MEMLOCK, which this kernel charges BPF maps to, as upstream did before \
         5.11 (setrlimit(RLIMIT_MEMLOCK): Operation not permitted (os error 1)): raising its hard limit needs root or \
         CAP_SYS_RESOURCE, or raise it before starting (ulimit -H -l unlimited)\nrc 1\n",
        "{test}: a hard limit the user cannot raise: one line"
    );
}

#[test]
fn debian_trixie_every_option_on_every_attach_method() {
    let test = "debian_trixie_every_option_on_every_attach_method";
    check_cached(test, "trixie", "", BTF_TRACEPOINT_ATTACHED.to_owned());
}

#[test]
fn debian_sid_every_option_on_every_attach_method() {
    let test = "debian_sid_every_option_on_every_attach_method";
    check_cached(test, "sid", "", BTF_TRACEPOINT_ATTACHED.to_owned());
}
