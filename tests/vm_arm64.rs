//! The aarch64 build on a real arm64 kernel: tcpconnect and the connector
//! are built for aarch64-unknown-linux-musl (static, EM_AARCH64), and
//! Debian's arm64 cloud kernel (6.1: kprobe PMU, legacy kprobe_events, BTF,
//! IPv6) boots under qemu-system-aarch64 (TCG) with them. One script runs
//! every attach mode against the same connects (IPv4, IPv6, v4-mapped, all
//! refused); the host checks the exact bytes:
//!   1. the tracepoint path prints bcc's lines, as a BTF tracepoint, as a
//!      raw tracepoint and as a perf tracepoint event;
//!   2. the kprobe path, through the kprobe PMU and through legacy tracefs
//!      kprobe_events, prints the same lines but for the PID: the arm64
//!      pt_regs offsets (src/arch.rs) give the right `sk` and return value;
//!   3. without BTF, calibration finds the IPv6 offsets BTF gives;
//!   4. every run exits 0 on SIGINT and leaves kprobe_events empty;
//!   5. a connect the kernel makes itself (an NFS mount's, the NFS client
//!      loaded from the kernel's modules) is printed on every path with the
//!      kernel thread that made it (a worker of the xprtiod workqueue).
//!
//! Needs root and the arm64 assets (tools/setup-arm64); in CI a missing one
//! is a failure.

mod support;
#[path = "support/vm_arm64.rs"]
mod vm_arm64;

use support::{
    bcc_line, connector_output, nfs_connect_output, perf_tracepoint_attached, raw_tracepoint_attached,
    BTF_TRACEPOINT_ATTACHED, HEADER,
};
use vm_arm64::{
    assets_or_skip, build_static_binaries, kprobe_attach_from_btf, legacy_probe_events, nfs_run, offsets,
    section, trace_run, without_pid, TraceRun, Vm, VmOutput, LEGACY_ATTACH, PMU_ATTACH, TRACE_HELPERS,
};

/// `trace_run`, checking that the connector's three connects were refused
/// (port 1 is closed): what every run of this test makes.
fn refused_run(out: &VmOutput, name: &str) -> TraceRun {
    let run = trace_run(out, name);
    assert_eq!(run.conn, "ConnectionRefused\n".repeat(3), "{name}: the connector's outcomes");
    run
}

#[test]
fn arm64_build_prints_the_same_lines_on_kprobe_and_tracepoint_paths() {
    let test = "arm64_build_prints_the_same_lines_on_kprobe_and_tracepoint_paths";
    let Some(assets) = assets_or_skip(test) else {
        return;
    };
    let bins = build_static_binaries(&assets);
    let script = format!(
        r#"{TRACE_HELPERS}
section machine uname -m
section release uname -r
begin no_newline; printf 'a\nb'; end no_newline
# Port 1 is closed: each connect is refused after its SYN, which both paths
# report (bcc reports attempts).
TARGETS="4:127.0.0.1:1 6:::1:1 m:127.0.0.1:1"
trace tracepoint tcpconnect --attach tracepoint -v
trace raw_tracepoint env TCPCONNECT_BTF_TRACEPOINT=off tcpconnect --attach tracepoint -v
trace perf_tracepoint env TCPCONNECT_RAW_TRACEPOINT=off tcpconnect --attach tracepoint -v
trace kprobe tcpconnect --attach kprobe -v
DURING="cat $EVENTS" trace legacy env TCPCONNECT_KPROBE_API=legacy tcpconnect --attach kprobe -v
trace nobtf env TCPCONNECT_BTF=off tcpconnect --attach kprobe -v
# A connect the kernel makes itself: an NFS mount's, from a workqueue thread.
CONNECT=nfs_mount trace nfs_tracepoint tcpconnect --attach tracepoint -v
CONNECT=nfs_mount trace nfs_raw_tracepoint env TCPCONNECT_BTF_TRACEPOINT=off tcpconnect --attach tracepoint -v
CONNECT=nfs_mount trace nfs_perf_tracepoint env TCPCONNECT_RAW_TRACEPOINT=off tcpconnect --attach tracepoint -v
CONNECT=nfs_mount trace nfs_kprobe tcpconnect --attach kprobe -v
CONNECT=nfs_mount trace nfs_legacy env TCPCONNECT_KPROBE_API=legacy tcpconnect --attach kprobe -v
# -d: an answer the connector reads (recv on its own socket), from user memory.
TARGETS="--dns-exchange arm.test=127.0.0.2 4:127.0.0.2:1" trace dns tcpconnect -d -v
TARGETS="--dns-exchange arm.test=127.0.0.2 4:127.0.0.2:1" trace dns_reads env TCPCONNECT_DNS=syscalls tcpconnect -d -v
"#
    );
    let out = Vm::new(&assets)
        .file("/usr/bin/tcpconnect", &bins.tcpconnect, 0o755)
        .file("/usr/bin/connector", &bins.connector, 0o755)
        .script(&script)
        .run()
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    eprintln!("{test}: VM wall time (qemu start to exit, TCG arm64): {:.1?}", out.elapsed);
    assert_eq!(out.status, 0, "{test}: script failed:\n{}", out.console);

    assert_eq!(section(&out, "machine"), "aarch64\n");
    assert_eq!(section(&out, "release"), format!("{}\n", assets.release));
    // Sections are exact bytes: no \r from the tty, no missing final newline.
    assert_eq!(section(&out, "no_newline"), "a\nb");

    let lines = [(4, "127.0.0.1", "127.0.0.1", 1), (6, "::1", "::1", 1), (4, "127.0.0.1", "127.0.0.1", 1)];

    let tracepoint = refused_run(&out, "tracepoint");
    eprintln!("tracepoint:\n{}{}", tracepoint.out, tracepoint.err);
    assert_eq!(tracepoint.out, connector_output(tracepoint.connector_pid, &lines));
    assert_eq!(tracepoint.err, BTF_TRACEPOINT_ATTACHED);
    let raw = refused_run(&out, "raw_tracepoint");
    assert_eq!(raw.out, connector_output(raw.connector_pid, &lines));
    assert_eq!(raw.err, raw_tracepoint_attached("disabled by TCPCONNECT_BTF_TRACEPOINT=off"));
    let perf = refused_run(&out, "perf_tracepoint");
    assert_eq!(perf.out, connector_output(perf.connector_pid, &lines));
    assert_eq!(perf.err, perf_tracepoint_attached("disabled by TCPCONNECT_RAW_TRACEPOINT=off"));

    let kprobe = refused_run(&out, "kprobe");
    eprintln!("kprobe (PMU):\n{}{}", kprobe.out, kprobe.err);
    assert_eq!(kprobe.out, connector_output(kprobe.connector_pid, &lines));
    assert_eq!(without_pid(&kprobe.out), without_pid(&tracepoint.out));
    let btf = offsets(&kprobe.err, "from BTF");
    assert_eq!(kprobe.err, kprobe_attach_from_btf(btf));

    let legacy = refused_run(&out, "legacy");
    eprintln!("kprobe (legacy kprobe_events):\n{}{}", legacy.out, legacy.err);
    assert_eq!(legacy.out, connector_output(legacy.connector_pid, &lines));
    assert_eq!(without_pid(&legacy.out), without_pid(&tracepoint.out));
    assert!(legacy.err.ends_with(LEGACY_ATTACH), "{}", legacy.err);
    assert_eq!(section(&out, "legacy.during"), legacy_probe_events(legacy.tracer_pid));

    let nobtf = refused_run(&out, "nobtf");
    eprintln!("kprobe without BTF:\n{}{}", nobtf.out, nobtf.err);
    assert_eq!(nobtf.out, connector_output(nobtf.connector_pid, &lines));
    assert_eq!(offsets(&nobtf.err, "by calibration"), btf, "calibration disagrees with BTF");
    assert!(nobtf.err.ends_with(PMU_ATTACH), "{}", nobtf.err);

    // -d on arm64, on both kernel hooks: the cgroup_skb program on delivered
    // packets (the receiving socket's network namespace); the syscall
    // tracepoints' fields, the caller's buffer read from user memory, the
    // reader's network namespace.
    for (name, dns_lines) in [
        (
            "dns",
            "tcpconnect: dns: answers as the kernel delivers them to sockets, in every network namespace \
             (cgroup_skb ingress on the cgroup v2 root /sys/fs/cgroup)\n",
        ),
        (
            "dns_reads",
            "tcpconnect: dns: no program on delivered datagrams: TCPCONNECT_DNS=syscalls\n\
             tcpconnect: dns: answers as processes read them, in every network namespace (tracepoints \
             syscalls:sys_{enter,exit}_{recvfrom,recvmsg,read})\n",
        ),
    ] {
        let dns = trace_run(&out, name);
        assert_eq!(dns.conn, "ConnectionRefused\n", "{name}: the connector's outcome");
        let connect = bcc_line(dns.connector_pid, "connector", 4, "127.0.0.1", "127.0.0.2", 1);
        assert_eq!(dns.out, format!("{HEADER} QUERY\n{connect} arm.test\n"), "{name}: stdout");
        assert_eq!(dns.err, format!("{dns_lines}{BTF_TRACEPOINT_ATTACHED}"), "{name}: -v");
    }

    // The NFS mount's connect (`nfs_mount`) runs in xs_tcp_setup_socket,
    // the RPC transport's connect work: every path prints it once, with the
    // PID and COMM of the kernel thread that ran it, as on x86_64.
    for (name, err) in [
        ("nfs_tracepoint", &tracepoint.err),
        ("nfs_raw_tracepoint", &raw.err),
        ("nfs_perf_tracepoint", &perf.err),
        ("nfs_kprobe", &kprobe.err),
        ("nfs_legacy", &legacy.err),
    ] {
        let (run, workers) = nfs_run(&out, name);
        assert_eq!(run.out, nfs_connect_output(&workers), "{name}: stdout");
        assert_eq!(&run.err, err, "{name}: -v");
    }
}
