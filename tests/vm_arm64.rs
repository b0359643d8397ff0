//! The aarch64 build on a real arm64 kernel: tcpconnect and the connector
//! are built for aarch64-unknown-linux-musl (static, EM_AARCH64), and
//! Debian's arm64 cloud kernel (6.1: kprobe PMU, legacy kprobe_events, BTF,
//! IPv6) boots under qemu-system-aarch64 (TCG) with them. One script runs
//! every attach mode against the same connects (IPv4, IPv6, v4-mapped, all
//! refused); the host checks the exact bytes:
//!   1. the tracepoint path prints bcc's lines, as a raw tracepoint and as a
//!      perf tracepoint event;
//!   2. the kprobe path, through the kprobe PMU and through legacy tracefs
//!      kprobe_events, prints the same lines but for the PID: the arm64
//!      pt_regs offsets (src/arch.rs) give the right `sk` and return value;
//!   3. without BTF, calibration finds the IPv6 offsets BTF gives;
//!   4. every run exits 0 on SIGINT and leaves kprobe_events empty.
//!
//! Needs root and the arm64 assets (tools/setup-arm64); in CI a missing one
//! is a failure.

mod support;
#[path = "support/vm_arm64.rs"]
mod vm_arm64;

use support::{bcc_line, perf_tracepoint_attached, HEADER, RAW_TRACEPOINT_ATTACHED};
use vm_arm64::{assets_or_skip, build_static_binaries, Vm, VmOutput};

/// Shell helpers for the VM script (as tests/vm_kprobe.rs's). `trace NAME
/// CMD...` starts the tracer, waits for its header, makes the connects of
/// $TARGETS from the connector (whose PID it reports), runs $DURING if set,
/// stops the tracer with SIGINT and reports its stdout, stderr, exit status
/// and kprobe_events afterwards.
const HELPERS: &str = r#"
EVENTS=/sys/kernel/tracing/kprobe_events
wait_header() {
  i=0
  while [ ! -s /tmp/out ] && [ $i -lt 600 ]; do
    sleep 0.1; i=$((i+1))
  done
}
connect() {
  rm -f /tmp/go; mkfifo /tmp/go
  connector $TARGETS < /tmp/go > /tmp/conn 2>&1 &
  C=$!
  echo go > /tmp/go
  wait $C
}
trace() {
  name=$1; shift
  rm -f /tmp/out /tmp/err
  "$@" > /tmp/out 2> /tmp/err &
  T=$!
  wait_header
  connect
  sleep 0.5
  if [ -n "$DURING" ]; then section $name.during sh -c "$DURING"; fi
  kill -INT $T
  wait $T
  rc=$?
  begin $name.pids; echo "$T $C"; end $name.pids
  section $name.out cat /tmp/out
  section $name.err cat /tmp/err
  section $name.conn cat /tmp/conn
  begin $name.rc; echo $rc; end $name.rc
  section $name.events_after cat $EVENTS
}
"#;

/// One traced run as the host sees it.
struct Run {
    tracer_pid: u32,
    connector_pid: u32,
    out: String,
    err: String,
}

fn section(out: &VmOutput, name: &str) -> String {
    out.section(name).unwrap_or_else(|| panic!("no section {name} in the VM output:\n{}", out.console))
}

/// Reads the sections `trace NAME` printed and checks what every run must
/// show: the connects refused, exit 0 on SIGINT and no probe left behind.
fn run(out: &VmOutput, name: &str) -> Run {
    let pids = section(out, &format!("{name}.pids"));
    let mut pids = pids.split_whitespace().map(|p| p.parse::<u32>().expect("pid"));
    let (tracer_pid, connector_pid) = (pids.next().unwrap(), pids.next().unwrap());
    let run = Run {
        tracer_pid,
        connector_pid,
        out: section(out, &format!("{name}.out")),
        err: section(out, &format!("{name}.err")),
    };
    assert_eq!(
        section(out, &format!("{name}.conn")),
        "ConnectionRefused\n".repeat(3),
        "{name}: the connector's outcomes"
    );
    assert_eq!(section(out, &format!("{name}.rc")), "0\n", "{name}: exit status; stderr:\n{}", run.err);
    assert_eq!(
        section(out, &format!("{name}.events_after")),
        "",
        "{name}: kprobe_events not clean after SIGINT"
    );
    run
}

/// The header and lines bcc prints for `lines` = (ip, saddr, daddr, dport).
fn expected(pid: u32, lines: &[(u8, &str, &str, u16)]) -> String {
    let mut text = format!("{HEADER}\n");
    for (ip, saddr, daddr, dport) in lines {
        text.push_str(&bcc_line(pid, "connector", *ip, saddr, daddr, *dport));
        text.push('\n');
    }
    text
}

/// "skc_v6_daddr at 56, skc_v6_rcv_saddr at 72 (from BTF)" → (56, 72).
fn offsets(err: &str, source: &str) -> (u32, u32) {
    let line = err
        .lines()
        .find(|l| l.starts_with("tcpconnect: struct sock_common: ") && l.ends_with(&format!("({source})")))
        .unwrap_or_else(|| panic!("no offsets line {source} in:\n{err}"));
    let numbers: Vec<u32> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .filter(|&n| n != 6) // the 6 of "skc_v6_..."
        .collect();
    assert_eq!(numbers.len(), 2, "{line}");
    (numbers[0], numbers[1])
}

const PMU_ATTACH: &str =
    "tcpconnect: attach: kprobe+kretprobe (kprobe PMU) on tcp_v4_connect, tcp_v6_connect\n";
const LEGACY_ATTACH: &str =
    "tcpconnect: attach: kprobe+kretprobe (tracefs kprobe_events) on tcp_v4_connect, tcp_v6_connect\n";

#[test]
fn arm64_build_prints_the_same_lines_on_kprobe_and_tracepoint_paths() {
    let test = "arm64_build_prints_the_same_lines_on_kprobe_and_tracepoint_paths";
    let Some(assets) = assets_or_skip(test) else {
        return;
    };
    let bins = build_static_binaries(&assets);
    let script = format!(
        r#"{HELPERS}
section machine uname -m
section release uname -r
begin no_newline; printf 'a\nb'; end no_newline
# Port 1 is closed: each connect is refused after its SYN, which both paths
# report (bcc reports attempts).
TARGETS="4:127.0.0.1:1 6:::1:1 m:127.0.0.1:1"
trace tracepoint tcpconnect --attach tracepoint -v
trace perf_tracepoint env TCPCONNECT_RAW_TRACEPOINT=off tcpconnect --attach tracepoint -v
trace kprobe tcpconnect --attach kprobe -v
DURING="cat $EVENTS" trace legacy env TCPCONNECT_KPROBE_API=legacy tcpconnect --attach kprobe -v
trace nobtf env TCPCONNECT_BTF=off tcpconnect --attach kprobe -v
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
    let without_pid = |text: &str| -> Vec<String> { text.lines().map(|l| l[6..].to_owned()).collect() };

    let tracepoint = run(&out, "tracepoint");
    eprintln!("tracepoint:\n{}{}", tracepoint.out, tracepoint.err);
    assert_eq!(tracepoint.out, expected(tracepoint.connector_pid, &lines));
    assert_eq!(tracepoint.err, RAW_TRACEPOINT_ATTACHED);
    let perf = run(&out, "perf_tracepoint");
    assert_eq!(perf.out, expected(perf.connector_pid, &lines));
    assert_eq!(perf.err, perf_tracepoint_attached("disabled by TCPCONNECT_RAW_TRACEPOINT=off"));

    let kprobe = run(&out, "kprobe");
    eprintln!("kprobe (PMU):\n{}{}", kprobe.out, kprobe.err);
    assert_eq!(kprobe.out, expected(kprobe.connector_pid, &lines));
    assert_eq!(without_pid(&kprobe.out), without_pid(&tracepoint.out));
    let btf = offsets(&kprobe.err, "from BTF");
    assert_eq!(
        kprobe.err,
        format!(
            "tcpconnect: struct sock_common: skc_v6_daddr at {}, skc_v6_rcv_saddr at {} (from BTF)\n{PMU_ATTACH}",
            btf.0, btf.1
        )
    );

    let legacy = run(&out, "legacy");
    eprintln!("kprobe (legacy kprobe_events):\n{}{}", legacy.out, legacy.err);
    assert_eq!(legacy.out, expected(legacy.connector_pid, &lines));
    assert_eq!(without_pid(&legacy.out), without_pid(&tracepoint.out));
    assert!(legacy.err.ends_with(LEGACY_ATTACH), "{}", legacy.err);
    let t = legacy.tracer_pid;
    assert_eq!(
        section(&out, "legacy.during"),
        format!(
            "r4096:tcpconnect/r{t}_tcp_v4_connect tcp_v4_connect\n\
             p:tcpconnect/p{t}_tcp_v4_connect tcp_v4_connect\n\
             r4096:tcpconnect/r{t}_tcp_v6_connect tcp_v6_connect\n\
             p:tcpconnect/p{t}_tcp_v6_connect tcp_v6_connect\n"
        )
    );

    let nobtf = run(&out, "nobtf");
    eprintln!("kprobe without BTF:\n{}{}", nobtf.out, nobtf.err);
    assert_eq!(nobtf.out, expected(nobtf.connector_pid, &lines));
    assert_eq!(offsets(&nobtf.err, "by calibration"), btf, "calibration disagrees with BTF");
    assert!(nobtf.err.ends_with(PMU_ATTACH), "{}", nobtf.err);
}
