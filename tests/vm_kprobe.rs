//! The kprobe path, in a VM: this host's kernel has no kprobes, so Debian's
//! cloud kernel (6.1: kprobe PMU, legacy kprobe_events, BTF, IPv6) boots
//! under qemu with the static binary, and a script runs every attach mode
//! against the same connects. The host then checks the exact bytes:
//!   1. `--attach kprobe` and `--attach tracepoint` (as a BTF tracepoint, as
//!      a raw tracepoint, and without BTF as a perf tracepoint event) print
//!      bcc's lines for IPv4,
//!      IPv6, v4-mapped and wildcard-destination connects, identical but
//!      for the PID;
//!   2. legacy tracefs kprobes (TCPCONNECT_KPROBE_API=legacy) leave nothing
//!      in kprobe_events after SIGINT, and a run after a SIGKILLed one sweeps
//!      the dead run's probes;
//!   3. the IPv6 offsets in struct sock from BTF equal those found by
//!      calibration (TCPCONNECT_BTF=off), and both give correct lines;
//!   4. on a kernel with IPv6 disabled, the kprobe path traces IPv4 only.

mod support;
#[path = "support/vm.rs"]
mod vm;

use support::handshake_lines::{
    check_result_run, expectations, latency, reported, result_line, BASE_PORT, RESULT_HEADER,
};
use support::{
    bcc_line, connector_output, count_table, json_line, json_lport, lport_line, lport_of, nfs_connect_output,
    perf_tracepoint_attached, raw_tracepoint_attached, BTF_TRACEPOINT_ATTACHED, HEADER, LPORT_HEADER,
};
use vm::{
    assets_or_skip, build_static_binaries, killed_pid, kprobe_attach_from_btf, legacy_probe_events, nfs_run,
    offsets, section, swept_line, trace_run, transport_line, without_pid, TraceRun, Vm, VmOutput,
    LEGACY_ATTACH, PMU_ATTACH, TRACE_HELPERS,
};

/// Boots the VM with both static binaries and runs `script`; returns what
/// it printed, after checking it ran to the end.
fn boot(test: &str, kernel_args: &str, script: &str) -> Option<VmOutput> {
    boot_with_cpus(test, kernel_args, script, 1)
}

fn boot_with_cpus(test: &str, kernel_args: &str, script: &str, cpus: u32) -> Option<VmOutput> {
    let assets = assets_or_skip(test)?;
    let bins = build_static_binaries();
    let out = Vm::new(&assets)
        .file("/usr/bin/tcpconnect", &bins.tcpconnect, 0o755)
        .file("/usr/bin/connector", &bins.connector, 0o755)
        .cpus(cpus)
        .kernel_args(kernel_args)
        .script(script)
        .run()
        .unwrap_or_else(|e| panic!("{test}: {e}"));
    eprintln!("{test}: VM wall time {:.1?}", out.elapsed);
    assert_eq!(out.status, 0, "{test}: script failed:\n{}", out.console);
    Some(out)
}

#[test]
fn kprobe_and_tracepoint_paths_print_the_same_lines_in_a_vm() {
    let script = format!(
        r#"{TRACE_HELPERS}
# Port 1 is closed: each connect is refused after its SYN, which both paths
# report (bcc reports attempts). 0.0.0.0 and :: are connects to the local
# host, shown with the address the kernel used.
TARGETS="4:127.0.0.1:1 6:::1:1 m:127.0.0.1:1 4:0.0.0.0:1 6:[::]:1"
trace tracepoint tcpconnect --attach tracepoint -v
trace raw_tracepoint env TCPCONNECT_BTF_TRACEPOINT=off tcpconnect --attach tracepoint -v
trace perf_tracepoint env TCPCONNECT_BTF=off tcpconnect --attach tracepoint -v
trace auto tcpconnect -v
trace kprobe tcpconnect --attach kprobe -v
DURING="cat $EVENTS" trace legacy env TCPCONNECT_KPROBE_API=legacy tcpconnect --attach kprobe -v
trace nobtf env TCPCONNECT_BTF=off tcpconnect --attach kprobe -v
trace nobtf_legacy env TCPCONNECT_BTF=off TCPCONNECT_KPROBE_API=legacy tcpconnect --attach kprobe -v

# SIGKILL leaves legacy probes behind; the next run sweeps them.
kill_run env TCPCONNECT_KPROBE_API=legacy tcpconnect --attach kprobe
trace sweep env TCPCONNECT_KPROBE_API=legacy tcpconnect --attach kprobe -v
"#
    );
    let Some(out) = boot("kprobe_and_tracepoint_paths_print_the_same_lines_in_a_vm", "", &script) else {
        return;
    };

    let lines = [
        (4, "127.0.0.1", "127.0.0.1", 1),
        (6, "::1", "::1", 1),
        (4, "127.0.0.1", "127.0.0.1", 1),
        (4, "127.0.0.1", "127.0.0.1", 1),
        (6, "::1", "::1", 1),
    ];
    let tracepoint = trace_run(&out, "tracepoint");
    eprintln!("tracepoint:\n{}{}", tracepoint.out, tracepoint.err);
    assert_eq!(tracepoint.out, connector_output(tracepoint.connector_pid, &lines));
    assert_eq!(tracepoint.err, BTF_TRACEPOINT_ATTACHED);
    // The raw tracepoint program (as 4.17 to 5.10 run it), same lines.
    let raw = trace_run(&out, "raw_tracepoint");
    assert_eq!(raw.out, connector_output(raw.connector_pid, &lines));
    assert_eq!(raw.err, raw_tracepoint_attached("disabled by TCPCONNECT_BTF_TRACEPOINT=off"));
    // Without BTF: the perf tracepoint event, same lines.
    let perf = trace_run(&out, "perf_tracepoint");
    assert_eq!(perf.out, connector_output(perf.connector_pid, &lines));
    assert_eq!(perf.err, perf_tracepoint_attached("disabled by TCPCONNECT_BTF=off"));
    let auto = trace_run(&out, "auto");
    assert_eq!(auto.out, connector_output(auto.connector_pid, &lines));
    assert_eq!(auto.err, tracepoint.err, "auto picks the tracepoint on 6.1");

    let kprobe = trace_run(&out, "kprobe");
    eprintln!("kprobe:\n{}{}", kprobe.out, kprobe.err);
    assert_eq!(kprobe.out, connector_output(kprobe.connector_pid, &lines));
    assert_eq!(without_pid(&kprobe.out), without_pid(&tracepoint.out));
    let btf = offsets(&kprobe.err, "from BTF");
    assert_eq!(kprobe.err, kprobe_attach_from_btf(btf));

    let legacy = trace_run(&out, "legacy");
    eprintln!("legacy:\n{}{}", legacy.out, legacy.err);
    assert_eq!(legacy.out, connector_output(legacy.connector_pid, &lines));
    assert!(legacy.err.ends_with(LEGACY_ATTACH), "{}", legacy.err);
    assert_eq!(section(&out, "legacy.during"), legacy_probe_events(legacy.tracer_pid));

    for name in ["nobtf", "nobtf_legacy"] {
        let nobtf = trace_run(&out, name);
        eprintln!("{name}:\n{}{}", nobtf.out, nobtf.err);
        assert_eq!(nobtf.out, connector_output(nobtf.connector_pid, &lines), "{name}");
        assert_eq!(offsets(&nobtf.err, "by calibration"), btf, "{name}: calibration disagrees with BTF");
    }

    let killed = killed_pid(&out);
    assert_eq!(
        section(&out, "killed.events"),
        legacy_probe_events(killed),
        "SIGKILL leaves the 4 legacy probes"
    );
    let sweep = trace_run(&out, "sweep");
    assert_eq!(sweep.out, connector_output(sweep.connector_pid, &lines));
    assert!(sweep.err.starts_with(&swept_line(killed)), "{}", sweep.err);
}

#[test]
fn kprobe_path_traces_ipv4_only_when_ipv6_is_disabled() {
    let script = format!(
        r#"{TRACE_HELPERS}
TARGETS="4:127.0.0.1:1 6:::1:1 4:127.0.0.2:2"
trace kprobe tcpconnect --attach kprobe -v
trace nobtf env TCPCONNECT_BTF=off TCPCONNECT_KPROBE_API=legacy tcpconnect --attach kprobe -v
"#
    );
    let Some(out) = boot("kprobe_path_traces_ipv4_only_when_ipv6_is_disabled", "ipv6.disable=1", &script)
    else {
        return;
    };
    let lines = [(4, "127.0.0.1", "127.0.0.1", 1), (4, "127.0.0.1", "127.0.0.2", 2)];
    let disabled = "tcpconnect: IPv6 is disabled on this kernel (no /proc/net/if_inet6): tracing IPv4 only\n";
    let kprobe = trace_run(&out, "kprobe");
    eprintln!("kprobe, ipv6.disable=1:\n{}{}", kprobe.out, kprobe.err);
    assert_eq!(kprobe.out, connector_output(kprobe.connector_pid, &lines));
    assert_eq!(
        kprobe.err,
        format!("{disabled}tcpconnect: attach: kprobe+kretprobe (kprobe PMU) on tcp_v4_connect\n")
    );
    let nobtf = trace_run(&out, "nobtf");
    assert_eq!(nobtf.out, connector_output(nobtf.connector_pid, &lines));
    assert_eq!(
        nobtf.err,
        format!("{disabled}tcpconnect: attach: kprobe+kretprobe (tracefs kprobe_events) on tcp_v4_connect\n")
    );
}

#[test]
fn lockdown_is_named_when_it_forbids_kprobes() {
    let script = r#"
mount -t securityfs securityfs /sys/kernel/security
section lockdown cat /sys/kernel/security/lockdown
for mode in kprobe tracepoint auto; do
  tcpconnect --attach $mode > /tmp/out 2> /tmp/err &
  T=$!
  sleep 2
  kill -INT $T 2>/dev/null
  wait $T
  rc=$?
  begin $mode.rc; echo $rc; end $mode.rc
  section $mode.out cat /tmp/out
  section $mode.err cat /tmp/err
done
"#;
    let Some(out) = boot("lockdown_is_named_when_it_forbids_kprobes", "lockdown=confidentiality", script)
    else {
        return;
    };
    assert_eq!(section(&out, "lockdown"), "none integrity [confidentiality]\n");
    for mode in ["kprobe", "tracepoint", "auto"] {
        assert_eq!(section(&out, &format!("{mode}.rc")), "1\n", "{mode}");
        assert_eq!(section(&out, &format!("{mode}.out")), "", "{mode}");
        assert_eq!(
            section(&out, &format!("{mode}.err")),
            "tcpconnect: kernel lockdown is in confidentiality mode (/sys/kernel/security/lockdown): \
             tracefs, kprobes and BPF reads of kernel memory are forbidden\n",
            "{mode}"
        );
    }
}

#[test]
fn auto_falls_back_to_kprobes_when_the_tracepoint_path_cannot_be_prepared() {
    // The perf tracepoint path reads the format file; one without `protocol`
    // (bind-mounted over the real one) makes it fail before anything loads.
    let script = format!(
        r#"{TRACE_HELPERS}
F=/sys/kernel/tracing/events/sock/inet_sock_set_state/format
grep -v ' protocol;' $F > /tmp/format && mount --bind /tmp/format $F
TARGETS="4:127.0.0.1:1 6:::1:1 m:127.0.0.1:1"
trace fallback env TCPCONNECT_RAW_TRACEPOINT=off tcpconnect -v
rm -f /tmp/out /tmp/err
env TCPCONNECT_RAW_TRACEPOINT=off tcpconnect --attach tracepoint > /tmp/out 2> /tmp/err
rc=$?
begin forced; echo $rc; cat /tmp/out /tmp/err; end forced
"#
    );
    let test = "auto_falls_back_to_kprobes_when_the_tracepoint_path_cannot_be_prepared";
    let Some(out) = boot(test, "", &script) else {
        return;
    };
    let missing =
        "tracepoint sock:inet_sock_set_state has no field \"protocol\" on this kernel; cannot trace \
                   through it";
    let fallback = trace_run(&out, "fallback");
    eprintln!("fallback:\n{}{}", fallback.out, fallback.err);
    let v4 = (4, "127.0.0.1", "127.0.0.1", 1);
    assert_eq!(fallback.out, connector_output(fallback.connector_pid, &[v4, (6, "::1", "::1", 1), v4]));
    let btf = offsets(&fallback.err, "from BTF");
    assert_eq!(
        fallback.err,
        format!(
            "tcpconnect: raw tracepoint unavailable (disabled by TCPCONNECT_RAW_TRACEPOINT=off); using the perf \
             tracepoint event\ntcpconnect: tracepoint path failed ({missing}); trying kprobes\n{}",
            kprobe_attach_from_btf(btf)
        )
    );
    assert_eq!(section(&out, "forced"), format!("1\ntcpconnect: {missing}\n"));
}

#[test]
fn a_cpu_brought_online_after_start_gets_its_ring() {
    // cpu1 is offline when tracing starts, comes online, goes offline and
    // comes back, then goes and comes back while the tracer is stopped
    // (SIGSTOP), so its look at the online CPUs never sees cpu1 gone: the
    // old ring is dead all the same (the kernel took its event off the CPU
    // for good), and only the event's enabled time, which stopped, tells. A
    // connect pinned to cpu1 after each return must print, on the raw
    // tracepoint and on kprobes (both with the per-CPU perf event arrays),
    // and nothing may be lost. The same connects print through the one BPF
    // ring buffer, which has no CPU to follow.
    let script = r#"
CPU1=/sys/devices/system/cpu/cpu1/online
wait_line() { i=0; while [ "$(grep -c "$1" /tmp/err)" -lt "$2" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; }
pinned_connect() {
  rm -f /tmp/go; mkfifo /tmp/go
  taskset -c 1 connector 4:127.0.0.1:1 < /tmp/go >> /tmp/conn 2>&1 &
  C=$!; echo $C >> /tmp/pids; echo go > /tmp/go; wait $C
}
# Per-CPU rings are the perf event arrays' (TCPCONNECT_TRANSPORT=perf);
# the one BPF ring buffer ("ring") has no CPU to follow.
came_online() { if [ $way = ring ]; then sleep 0.3; else wait_line 'CPU 1 came online' $1; fi; }
for way in tracepoint kprobe ring; do
  rm -f /tmp/out /tmp/err /tmp/conn /tmp/pids
  echo 0 > $CPU1
  case $way in
    ring) set -- tcpconnect --attach tracepoint -v ;;
    *) set -- env TCPCONNECT_TRANSPORT=perf tcpconnect --attach $way -v ;;
  esac
  "$@" > /tmp/out 2> /tmp/err &
  T=$!
  i=0; while [ ! -s /tmp/out ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
  echo 1 > $CPU1
  came_online 1
  pinned_connect
  echo 0 > $CPU1; sleep 0.3; echo 1 > $CPU1
  came_online 2
  pinned_connect
  kill -STOP $T; echo 0 > $CPU1; echo 1 > $CPU1; kill -CONT $T
  came_online 3
  pinned_connect
  sleep 0.5
  kill -INT $T; wait $T
  begin $way.rc; echo $?; end $way.rc
  section $way.out cat /tmp/out
  section $way.err cat /tmp/err
  section $way.pids cat /tmp/pids
  section $way.conn cat /tmp/conn
done
"#;
    let test = "a_cpu_brought_online_after_start_gets_its_ring";
    let Some(out) = boot_with_cpus(test, "", script, 2) else {
        return;
    };
    let online = "tcpconnect: CPU 1 came online: its perf ring is open\n";
    for way in ["tracepoint", "kprobe", "ring"] {
        let err = support::without_account(&section(&out, &format!("{way}.err")));
        eprintln!("{way}:\n{}{err}", section(&out, &format!("{way}.out")));
        assert_eq!(section(&out, &format!("{way}.rc")), "0\n", "{way}: {err}");
        assert_eq!(section(&out, &format!("{way}.conn")), "ConnectionRefused\n".repeat(3), "{way}");
        let pids: Vec<u32> =
            section(&out, &format!("{way}.pids")).lines().map(|l| l.parse().unwrap()).collect();
        let line = |pid| format!("{}\n", bcc_line(pid, "connector", 4, "127.0.0.1", "127.0.0.1", 1));
        assert_eq!(
            section(&out, &format!("{way}.out")),
            format!("{HEADER}\n{}{}{}", line(pids[0]), line(pids[1]), line(pids[2])),
            "{way}: the three connects on cpu1 print"
        );
        let rings_opened = if way == "ring" { 0 } else { 3 };
        assert_eq!(
            err.matches(online).count(),
            rings_opened,
            "{way}: a perf ring when cpu1 came online, and each time it came back: {err}"
        );
        let transport = if way == "ring" { "BPF ring buffer" } else { "perf event arrays" };
        assert!(err.starts_with(&format!("tcpconnect: events: {transport} (")), "{way}: {err}");
        assert!(!err.contains("Possibly lost"), "{way}: {err}");
    }
}

#[test]
fn a_connect_the_kernel_makes_is_printed_with_its_worker_thread_on_every_path() {
    // An NFS mount whose in-kernel RPC client connects to a closed mountd
    // port (`nfs_mount`): the connect runs in xs_tcp_setup_socket, the
    // transport's connect work, so a thread of the xprtiod workqueue makes it
    // (a kworker, or its rescuer: `nfs_workers`), not the mount task. Every
    // path prints it once with that thread's PID and COMM: the raw
    // tracepoint and the perf tracepoint event fire in tcp_set_state(SYN_SENT)
    // inside tcp_v4_connect, the kretprobes at tcp_v4_connect's return, all in
    // the worker. With -L, the port is printed at once: the RPC client bound
    // the socket to a reserved port (xs_bind, sunrpc's min_resvport to
    // max_resvport) before connecting, and no connect(2) is there to wait for.
    let script = format!(
        r#"{TRACE_HELPERS}
CONNECT=nfs_mount trace raw tcpconnect -v
CONNECT=nfs_mount trace perf env TCPCONNECT_RAW_TRACEPOINT=off tcpconnect -v
CONNECT=nfs_mount trace kprobe tcpconnect --attach kprobe -v
CONNECT=nfs_mount trace legacy env TCPCONNECT_KPROBE_API=legacy tcpconnect --attach kprobe -v
CONNECT=nfs_mount trace raw_L tcpconnect -L
CONNECT=nfs_mount trace kprobe_L tcpconnect --attach kprobe -L
section resvport cat /proc/sys/sunrpc/min_resvport /proc/sys/sunrpc/max_resvport
"#
    );
    let test = "a_connect_the_kernel_makes_is_printed_with_its_worker_thread_on_every_path";
    let Some(out) = boot(test, "", &script) else {
        return;
    };
    let from_btf = "tcpconnect: struct sock_common: skc_v6_daddr at 56, skc_v6_rcv_saddr at 72 (from BTF)\n";
    let runs = [
        ("raw", BTF_TRACEPOINT_ATTACHED.to_owned()),
        ("perf", perf_tracepoint_attached("disabled by TCPCONNECT_RAW_TRACEPOINT=off")),
        ("kprobe", format!("{from_btf}{PMU_ATTACH}")),
        ("legacy", format!("{from_btf}{LEGACY_ATTACH}")),
    ];
    for (name, attach) in runs {
        let (run, workers) = nfs_run(&out, name);
        assert_eq!(run.out, nfs_connect_output(&workers), "{name}: stdout");
        assert_eq!(run.err, attach, "{name}: -v");
    }
    let resvport = section(&out, "resvport");
    let (min, max) = resvport.split_once('\n').unwrap_or_else(|| panic!("{resvport}"));
    let (min, max): (u16, u16) = (min.parse().unwrap(), max.trim_end().parse().unwrap());
    for name in ["raw_L", "kprobe_L"] {
        let (run, workers) = nfs_run(&out, name);
        // A line for each connect, by its worker, each from its own
        // reserved port.
        assert_eq!(run.out.lines().count(), workers.len() + 1, "{name}: a line a connect:\n{}", run.out);
        let mut want = format!("{LPORT_HEADER}\n");
        for ((pid, comm), line) in workers.iter().zip(run.out.lines().skip(1)) {
            let lport = lport_of(line);
            assert!((min..=max).contains(&lport), "{name}: LPORT {lport} not in {min}..={max}:\n{}", run.out);
            want +=
                &format!("{pid:<6} {comm:<12.12} 4  127.0.0.1        {lport:<6} 127.0.0.1        20048\n");
        }
        assert_eq!(run.out, want, "{name}: stdout");
        assert_eq!(run.err, "", "{name}");
    }
}

#[test]
fn lport_runs_started_under_load_print_every_connect() {
    // -L on the tracepoint paths attaches the syscall tracepoints, says so
    // with -v, and only then loads and attaches the state program: a
    // tracer starved of CPU (pinned with four busier loops) takes long
    // between the two. Each run must still print every connect made once
    // its header is out, refused (released when the socket leaves
    // SYN_SENT) and accepted (at sys_exit_connect), with the local port.
    // (The harness once took the first -v line for "live", and the
    // connects made before the state program was attached went untraced:
    // a header and no line, seen on 6.12 under load.)
    let script = format!(
        r#"{TRACE_HELPERS}
nc -ll -p 8080 -e /bin/true </dev/null >/dev/null 2>&1 &
i=0; while ! netstat -ltn | grep -q ':8080 ' && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
TARGETS="--lport 4:127.0.0.1:1 6:::1:1 4:127.0.0.1:8080 6:::1:8080"
LOAD=; for _i in 1 2 3 4; do taskset -c 0 sh -c 'while :; do :; done' & LOAD="$LOAD $!"; done
renice -n -10 -p $LOAD >/dev/null
trace raw taskset -c 0 tcpconnect -L -v
trace perf taskset -c 0 env TCPCONNECT_RAW_TRACEPOINT=off tcpconnect -L -v
kill $LOAD
"#
    );
    let test = "lport_runs_started_under_load_print_every_connect";
    let Some(out) = boot_with_cpus(test, "", &script, 2) else {
        return;
    };
    let syscalls = "tcpconnect: attach: tracepoints syscalls:sys_enter_connect, sys_exit_connect (-L)\n";
    let runs = [
        ("raw", format!("{syscalls}{BTF_TRACEPOINT_ATTACHED}")),
        (
            "perf",
            format!("{syscalls}{}", perf_tracepoint_attached("disabled by TCPCONNECT_RAW_TRACEPOINT=off")),
        ),
    ];
    let connects = [
        (4, "127.0.0.1", "127.0.0.1", 1),
        (6, "::1", "::1", 1),
        (4, "127.0.0.1", "127.0.0.1", 8080),
        (6, "::1", "::1", 8080),
    ];
    for (name, attach) in runs {
        let run = trace_run(&out, name);
        eprintln!("{name}:\n{}{}", run.out, run.err);
        assert_eq!(run.err, attach, "{name}: -v");
        let conn: Vec<&str> = run.conn.lines().collect();
        assert_eq!(conn.len(), 4, "{name}: {}", run.conn);
        assert_eq!(conn[..2], ["ConnectionRefused", "ConnectionRefused"], "{name}");
        // The accepted connects' ports from the connector; the refused
        // ones' are gone when connect(2) fails: those printed, nonzero.
        let printed: Vec<u16> = run.out.lines().skip(1).map(lport_of).collect();
        assert_eq!(printed.len(), 4, "{name}: every connect prints:\n{}", run.out);
        let mut expected = format!("{LPORT_HEADER}\n");
        for (i, (ip, saddr, daddr, dport)) in connects.into_iter().enumerate() {
            let lport = match conn[i].strip_prefix("ok ") {
                Some(port) => port.parse().unwrap(),
                None => printed[i],
            };
            assert_ne!(lport, 0, "{name}: connect {i}:\n{}", run.out);
            expected.push_str(&lport_line(run.connector_pid, ip, saddr, lport, daddr, dport));
            expected.push('\n');
        }
        assert_eq!(run.out, expected, "{name}: stdout");
    }
}

#[test]
fn options_work_on_the_kprobe_path() {
    let script = format!(
        r#"{TRACE_HELPERS}
TARGETS="4:127.0.0.1:1 6:::1:1 m:127.0.0.1:1"
trace k4 tcpconnect --attach kprobe -4
trace k6 tcpconnect --attach kprobe -6
trace kL tcpconnect --attach kprobe -L
trace tL tcpconnect --attach tracepoint -L
trace kc tcpconnect --attach kprobe -c
trace kj tcpconnect --attach kprobe -j -v
"#
    );
    let Some(out) = boot("options_work_on_the_kprobe_path", "", &script) else {
        return;
    };
    let v4 = (4, "127.0.0.1", "127.0.0.1", 1);
    let v6 = (6, "::1", "::1", 1);
    let k4 = trace_run(&out, "k4");
    assert_eq!(k4.out, connector_output(k4.connector_pid, &[v4, v4]), "-4 keeps IPv4 and v4-mapped");
    let k6 = trace_run(&out, "k6");
    assert_eq!(k6.out, connector_output(k6.connector_pid, &[v6]));

    for name in ["kL", "tL"] {
        let r = trace_run(&out, name);
        eprintln!("{name}:\n{}", r.out);
        // The refused connects' ports are gone when they fail: each line
        // must carry a nonzero one, the rest is bcc's -L line.
        let lines: Vec<&str> = r.out.lines().skip(1).collect();
        let ports: Vec<u16> = lines.iter().map(|l| lport_of(l)).collect();
        assert!(ports.len() == 3 && ports.iter().all(|&port| port != 0), "{name}: {}", r.out);
        let mut expected = format!("{LPORT_HEADER}\n");
        for ((ip, saddr, daddr, dport), port) in [v4, v6, v4].into_iter().zip(ports) {
            expected.push_str(&lport_line(r.connector_pid, ip, saddr, port, daddr, dport));
            expected.push('\n');
        }
        assert_eq!(r.out, expected, "{name}");
    }

    let kc = trace_run(&out, "kc");
    assert_eq!(kc.out, count_table(&[("127.0.0.1", "127.0.0.1", 1, 2), ("::1", "::1", 1, 1)]));

    // The kprobe path knows every connect's local port.
    let kj = trace_run(&out, "kj");
    let ports: Vec<Option<u16>> = kj.out.lines().map(json_lport).collect();
    assert!(ports.len() == 3 && ports.iter().all(|port| port.is_some_and(|p| p != 0)), "{}", kj.out);
    let mut expected = String::new();
    for (line, port) in [v4, v6, v4].into_iter().zip(ports) {
        expected.push_str(&json_line(0, kj.connector_pid, line, port));
        expected.push('\n');
    }
    assert_eq!(kj.out, expected);
}

/// --result and --failed on every attach method of the guest: the same
/// connects with known outcomes as the host suite (tests/outcomes.rs), with
/// the same exact lines. The kprobe path learns outcomes from a kprobe on
/// tcp_set_state.
#[test]
fn connect_outcomes_on_every_attach_method_in_a_vm() {
    let script = format!(
        r#"{TRACE_HELPERS}
echo 1 > /proc/sys/net/ipv4/tcp_syn_retries
TARGETS="--handshakes {BASE_PORT}"
trace pmu tcpconnect --attach kprobe --result -L -v
trace legacy env TCPCONNECT_KPROBE_API=legacy tcpconnect --attach kprobe --result -L
trace tracepoint tcpconnect --attach tracepoint --result -L
trace raw_tracepoint env TCPCONNECT_BTF_TRACEPOINT=off tcpconnect --attach tracepoint --result -L
trace perf_tracepoint env TCPCONNECT_RAW_TRACEPOINT=off tcpconnect --attach tracepoint --result -L
trace failed tcpconnect --attach kprobe --failed -L
trace pmu_perf env TCPCONNECT_TRANSPORT=perf tcpconnect --attach kprobe --result -L -v
trace tracepoint_perf env TCPCONNECT_TRANSPORT=perf tcpconnect --attach tracepoint --result -L -v
"#
    );
    let Some(out) = boot("connect_outcomes_on_every_attach_method_in_a_vm", "", &script) else {
        return;
    };
    // Both transports: the BPF ring buffer (6.1 has it), and the perf event
    // arrays when asked for.
    let ring = trace_run(&out, "pmu");
    assert_eq!(ring.transport, transport_line(true, 1));
    for name in ["pmu_perf", "tracepoint_perf"] {
        let r = trace_run(&out, name);
        assert_eq!(
            r.transport,
            "tcpconnect: events: perf event arrays (256 KiB a CPU, 1 CPUs; TCPCONNECT_TRANSPORT=perf)\n",
            "{name}"
        );
    }
    for name in
        ["pmu", "legacy", "tracepoint", "raw_tracepoint", "perf_tracepoint", "pmu_perf", "tracepoint_perf"]
    {
        let r = trace_run(&out, name);
        eprintln!("{name}:\n{}", r.out);
        let said: Vec<String> = r.conn.lines().map(str::to_string).collect();
        check_result_run(r.connector_pid, &r.out, &said, false);
        if name.starts_with("pmu") {
            assert!(
                r.err.contains("tcpconnect: attach: kprobe (kprobe PMU) on tcp_set_state (--result)\n"),
                "{}",
                r.err
            );
        } else if name == "tracepoint_perf" {
            assert!(
                r.err.contains("tcpconnect: attach: BTF tracepoint sock:inet_sock_set_state"),
                "{}",
                r.err
            );
        } else {
            assert_eq!(r.err, "", "{name}");
        }
    }
    let failed = trace_run(&out, "failed");
    let said = reported(&failed.conn.lines().map(str::to_string).collect::<Vec<_>>());
    let mut expected = vec![RESULT_HEADER.to_string()];
    let lines: Vec<&str> = failed.out.lines().skip(1).collect();
    let failures = expectations().into_iter().zip(said).filter(|((_, result, _), _)| *result != "OK");
    for (line, ((dport, result, range), (_, lport))) in lines.iter().zip(failures) {
        expected.push(result_line(failed.connector_pid, lport, dport, result, &latency(line, range)));
    }
    assert_eq!(failed.out, expected.join("\n") + "\n", "--failed drops the OK lines");
}

#[test]
fn hostile_environments_leave_nothing_behind_in_a_vm() {
    let script = format!(
        r#"{TRACE_HELPERS}
TARGETS="4:127.0.0.1:1 6:::1:1"
# SIGTERM and SIGHUP remove legacy probes like SIGINT does.
for sig in TERM HUP; do
  rm -f /tmp/out /tmp/err
  env TCPCONNECT_KPROBE_API=legacy tcpconnect --attach kprobe > /tmp/out 2> /tmp/err &
  T=$!
  wait_header
  kill -$sig $T
  wait $T
  rc=$?
  begin sig.$sig; echo $rc; cat $EVENTS; end sig.$sig
done
# A probe already holds our name (left by an earlier process with our PID).
trace taken sh -c 'echo "p:tcpconnect/p$$_tcp_v4_connect tcp_v4_connect" >> {events}; exec env TCPCONNECT_KPROBE_API=legacy tcpconnect --attach kprobe'
# Damaged BTF: calibration takes over.
head -c 100000 /sys/kernel/btf/vmlinux > /tmp/btf
trace truncbtf env TCPCONNECT_BTF=/tmp/btf tcpconnect --attach kprobe -v
# Read-only tracefs: the PMU needs no writes; legacy probes can't be made.
mount -o remount,ro /sys/kernel/tracing
trace ro_pmu tcpconnect --attach kprobe
rm -f /tmp/out /tmp/err
env TCPCONNECT_KPROBE_API=legacy tcpconnect --attach kprobe > /tmp/out 2> /tmp/err
rc=$?
begin ro_legacy; echo $rc; cat /tmp/out /tmp/err $EVENTS; end ro_legacy
"#,
        events = "/sys/kernel/tracing/kprobe_events"
    );
    let Some(out) = boot("hostile_environments_leave_nothing_behind_in_a_vm", "", &script) else {
        return;
    };
    let v4 = (4, "127.0.0.1", "127.0.0.1", 1);
    let v6 = (6, "::1", "::1", 1);
    for sig in ["TERM", "HUP"] {
        assert_eq!(section(&out, &format!("sig.{sig}")), "0\n", "SIG{sig}: exit 0 and kprobe_events empty");
    }
    let taken = trace_run(&out, "taken");
    assert_eq!(taken.out, connector_output(taken.connector_pid, &[v4, v6]));
    let trunc = trace_run(&out, "truncbtf");
    assert_eq!(trunc.out, connector_output(trunc.connector_pid, &[v4, v6]));
    assert!(
        trunc.err.starts_with("tcpconnect: cannot use BTF (/sys/kernel/btf/vmlinux: truncated"),
        "{}",
        trunc.err
    );
    assert!(trunc.err.contains("(read from /tmp/btf)); calibrating\n"), "{}", trunc.err);
    assert!(trunc.err.contains("(by calibration)\n"), "{}", trunc.err);
    let ro = trace_run(&out, "ro_pmu");
    assert_eq!(ro.out, connector_output(ro.connector_pid, &[v4, v6]));
    let ro_legacy = section(&out, "ro_legacy");
    let mut lines = ro_legacy.lines();
    assert_eq!(lines.next(), Some("1"), "{ro_legacy}");
    let error = lines.next().unwrap_or_default();
    assert!(
        error.starts_with("tcpconnect: cannot write \"r4096:tcpconnect/r")
            && error.ends_with("_tcp_v4_connect tcp_v4_connect\" to /sys/kernel/tracing/kprobe_events: Read-only file system (os error 30)"),
        "{ro_legacy}"
    );
    assert_eq!(lines.next(), None, "one line, and kprobe_events empty: {ro_legacy}");
}

/// -v's line for the DNS capture that sees every network namespace, as
/// the kernel delivers the answers.
const DNS_EVERY_NETNS: &str = "tcpconnect: dns: answers as the kernel delivers them to sockets, in every \
                               network namespace (cgroup_skb ingress on the cgroup v2 root /sys/fs/cgroup)";
/// -v's lines for the same as processes read the answers, forced.
const DNS_READS: &str = "tcpconnect: dns: no program on delivered datagrams: TCPCONNECT_DNS=syscalls\n\
                         tcpconnect: dns: answers as processes read them, in every network namespace \
                         (tracepoints syscalls:sys_{enter,exit}_{recvfrom,recvmsg,read})";

/// The script's helpers for the -d namespace runs: `netns_connects` makes
/// the connects described at
/// `dns_in_every_network_namespace_on_every_attach_method_in_a_vm`
/// (sections NAME.cpids: the connectors' PIDs; NAME.reasm: the reassembly
/// counters of the fragmented answers' namespace); `packet_connects` makes
/// only namespace A's first one.
const DNS_NETNS_HELPERS: &str = r#"
# ns VAR SETUP: a network namespace kept by a sleep (its PID in VAR), after
# SETUP ran in it.
ns() {
  rm -f /tmp/ns.ready
  unshare -n sh -c "$2 && : > /tmp/ns.ready && exec sleep 600" </dev/null >/dev/null 2>&1 &
  eval "$1=$!"
  i=0; while [ ! -e /tmp/ns.ready ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
}
# in_ns PID ARGS: a connector in the network namespace of PID (1: the VM's
# own); its PID is appended to /tmp/pids, its outcomes to /tmp/conn.
in_ns() {
  _ns=$1; shift
  rm -f /tmp/go; mkfifo /tmp/go
  nsenter -n -t $_ns connector "$@" < /tmp/go >> /tmp/conn 2>&1 &
  _c=$!
  echo $_c >> /tmp/pids
  echo go > /tmp/go
  wait $_c
}
LO="ip link set lo up"
netns_connects() {
  : > /tmp/conn; : > /tmp/pids
  ns A "$LO"; ns B "$LO"; ns V6 "$LO && ip -6 addr add fd00::9/128 dev lo"; ns BIG "$LO && ip link set lo mtu 1280"
  in_ns $A --dns-exchange alpha.test=127.0.0.9 4:127.0.0.9:1 4:127.0.0.3:1
  in_ns $B --dns-exchange beta.test=127.0.0.9
  sleep 0.2
  in_ns $A 4:127.0.0.9:1
  in_ns $B 4:127.0.0.9:1
  in_ns 1 4:127.0.0.9:1
  in_ns $V6 --dns-v6 --dns-exchange v4.test=127.0.0.9 4:127.0.0.9:1
  in_ns $V6 --dns-v6 --dns-exchange v6.test=fd00::9 6:fd00::9:1
  in_ns $BIG --dns-pad 250 --dns-exchange big.test=127.0.0.9 4:127.0.0.9:1
  in_ns $BIG --dns-v6 --dns-pad 250 --dns-exchange big6.test=127.0.0.10 4:127.0.0.10:1
  C=$(head -n 1 /tmp/pids)
  section $name.cpids cat /tmp/pids
  begin $name.reasm; grep '^Ip: ' /proc/$BIG/net/snmp; grep Ip6ReasmOKs /proc/$BIG/net/snmp6; end $name.reasm
  kill $A $B $V6 $BIG; wait $A $B $V6 $BIG
}
packet_connects() {
  : > /tmp/conn; : > /tmp/pids
  ns A "$LO"
  in_ns $A --dns-exchange alpha.test=127.0.0.9 4:127.0.0.9:1
  C=$(head -n 1 /tmp/pids)
  kill $A; wait $A
}
"#;

/// Checks the -d run `name` of `netns_connects`: every connect refused,
/// both fragmented answers reassembled, and stdout exactly (`json`: -j on
/// the kprobe path, with the local ports it printed, checked nonzero).
fn check_netns_run(out: &VmOutput, name: &str, json: bool) -> TraceRun {
    let run = trace_run(out, name);
    eprintln!("{name}:\n{}{}", run.out, run.err);
    let pids: Vec<u32> = section(out, &format!("{name}.cpids")).lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(pids.len(), 9, "{name}: the connectors");
    assert_eq!(run.conn, "ConnectionRefused\n".repeat(9), "{name}: A's two, then one each but B's exchange");
    let reasm = section(out, &format!("{name}.reasm"));
    let ip: Vec<&str> = reasm.lines().filter(|l| l.starts_with("Ip: ")).collect();
    let column = ip[0].split(' ').position(|n| n == "ReasmOKs").expect("ReasmOKs");
    assert_eq!(ip[1].split(' ').nth(column), Some("1"), "{name}: {reasm}");
    assert!(reasm.lines().any(|l| l.split_whitespace().eq(["Ip6ReasmOKs", "1"])), "{name}: {reasm}");

    // (connector, connect, QUERY); b's ages are what the run printed,
    // checked to be real ones: at least the 200 ms waited.
    let printed: Vec<&str> = run.out.lines().skip(usize::from(!json)).collect();
    let age = |i: usize, name: &str| -> String {
        let line = printed.get(i).copied().unwrap_or_default();
        let at = line.find(&format!("{name} (")).unwrap_or_else(|| panic!("{line:?}: no {name} with age"));
        let text = line[at..].trim_end_matches("\"}");
        let ms = text[name.len() + 2..].strip_suffix("ms)").unwrap_or_else(|| panic!("{line:?}"));
        let (whole, frac) = ms.split_once('.').unwrap_or_else(|| panic!("{line:?}"));
        assert_eq!(frac.len(), 3, "%.3f: {line:?}");
        assert!(whole.parse::<u64>().unwrap() >= 200, "{line:?}: at least 200 ms old");
        text.to_owned()
    };
    let a = (4, "127.0.0.1", "127.0.0.9", 1);
    let expected = [
        (pids[0], a, "alpha.test".to_owned()),
        (pids[0], (4, "127.0.0.1", "127.0.0.3", 1), "No DNS Query".to_owned()),
        (pids[2], a, age(2, "alpha.test")),
        (pids[3], a, age(3, "beta.test")),
        (pids[4], a, "No DNS Query".to_owned()),
        (pids[5], a, "v4.test".to_owned()),
        (pids[6], (6, "fd00::9", "fd00::9", 1), "v6.test".to_owned()),
        (pids[7], a, "big.test".to_owned()),
        (pids[8], (4, "127.0.0.1", "127.0.0.10", 1), "big6.test".to_owned()),
    ];
    let mut text = if json { String::new() } else { format!("{HEADER} QUERY\n") };
    let ports: Vec<Option<u16>> = printed.iter().map(|l| json_lport(l)).collect();
    for (i, (pid, connect, query)) in expected.into_iter().enumerate() {
        let line = if json {
            let port = ports.get(i).copied().flatten().filter(|&p| p != 0);
            assert!(port.is_some(), "{name}: a local port in {:?}", printed.get(i));
            let object = json_line(0, pid, connect, port);
            format!("{},\"query\":\"{query}\"}}", object.strip_suffix('}').unwrap())
        } else {
            let (ip, saddr, daddr, dport) = connect;
            format!("{} {query}", bcc_line(pid, "connector", ip, saddr, daddr, dport))
        };
        text.push_str(&line);
        text.push('\n');
    }
    assert_eq!(run.out, text, "{name}");
    run
}

/// -d for clients in other network namespaces (issue 18; the host suite is
/// tests/dns_netns.rs), on the kprobe path and the tracepoint path of the
/// guest: the tracer runs in the VM's own namespace, each client in a
/// private one (busybox unshare and nsenter) with a DNS server of its own
/// on its own lo. The connects, in order (`netns_connects`):
///   a. namespace A resolves alpha.test (127.0.0.9), connects there and to
///      127.0.0.3, never answered;
///   b. namespace B answers beta.test for the same 127.0.0.9; 200 ms later
///      A, B and the VM's own namespace connect to it: each namespace's
///      name, with its age, and none in the VM's (one cache for all would
///      say beta.test three times);
///   c. over IPv6 transport ([::1]:53): an A answer and an AAAA answer
///      (fd00::9 on that namespace's lo);
///   d. 4 KB answers (250 filler records first) fragmented at lo's MTU of
///      1280, over IPv4 and IPv6, reassembled before the client reads them.
/// TCPCONNECT_DNS=packet forces the old packet socket, and TCPCONNECT_BTF=off
/// leaves no other way: it sees only the VM's own namespace, so `No DNS
/// Query` for A's answered address.
#[test]
fn dns_in_every_network_namespace_on_every_attach_method_in_a_vm() {
    let script = format!(
        r#"{TRACE_HELPERS}
{DNS_NETNS_HELPERS}
CONNECT=netns_connects trace kprobe tcpconnect --attach kprobe -d -v
CONNECT=netns_connects trace legacy env TCPCONNECT_KPROBE_API=legacy tcpconnect --attach kprobe -d -v
CONNECT=netns_connects trace tracepoint tcpconnect --attach tracepoint -d -v
CONNECT=netns_connects trace kprobe_j tcpconnect --attach kprobe -d -j -v
CONNECT=netns_connects trace kprobe_reads env TCPCONNECT_DNS=syscalls tcpconnect --attach kprobe -d -v
CONNECT=netns_connects trace tracepoint_reads env TCPCONNECT_DNS=syscalls tcpconnect --attach tracepoint -d -v
CONNECT=packet_connects trace packet env TCPCONNECT_DNS=packet tcpconnect --attach kprobe -d -v
CONNECT=packet_connects trace nobtf env TCPCONNECT_BTF=off tcpconnect --attach kprobe -d -v
true
"#
    );
    let test = "dns_in_every_network_namespace_on_every_attach_method_in_a_vm";
    let Some(out) = boot(test, "", &script) else {
        return;
    };
    let from_btf = "tcpconnect: struct sock_common: skc_v6_daddr at 56, skc_v6_rcv_saddr at 72 (from BTF)\n";
    let runs = [
        ("kprobe", DNS_EVERY_NETNS, format!("{from_btf}{PMU_ATTACH}")),
        ("legacy", DNS_EVERY_NETNS, format!("{from_btf}{LEGACY_ATTACH}")),
        ("tracepoint", DNS_EVERY_NETNS, BTF_TRACEPOINT_ATTACHED.to_owned()),
        ("kprobe_j", DNS_EVERY_NETNS, format!("{from_btf}{PMU_ATTACH}")),
        ("kprobe_reads", DNS_READS, format!("{from_btf}{PMU_ATTACH}")),
        ("tracepoint_reads", DNS_READS, BTF_TRACEPOINT_ATTACHED.to_owned()),
    ];
    for (name, dns, attach) in runs {
        let run = check_netns_run(&out, name, name.ends_with("_j"));
        // The DNS programs attach before the connect programs are even
        // prepared: no answer a traced connect used can be missed.
        assert_eq!(run.err, format!("{dns}\n{attach}"), "{name}: -v");
    }

    // The packet socket, forced or for want of BTF (the namespace of the
    // reading task is a task_struct walk): it sees the VM's own namespace
    // only, and A's answer was read in another one.
    let packet_socket = "tcpconnect: dns: a packet socket, this network namespace only";
    let runs = [
        ("packet", format!("{packet_socket} (TCPCONNECT_DNS=packet)\n{from_btf}{PMU_ATTACH}")),
        (
            "nobtf",
            format!(
                "{packet_socket} (no BTF for the network namespace of a task: disabled by TCPCONNECT_BTF=off)\n\
                 tcpconnect: cannot use BTF (disabled by TCPCONNECT_BTF=off); calibrating\n\
                 tcpconnect: struct sock_common: skc_v6_daddr at 56, skc_v6_rcv_saddr at 72 (by calibration)\n\
                 {PMU_ATTACH}"
            ),
        ),
    ];
    for (name, verbose) in runs {
        let run = trace_run(&out, name);
        eprintln!("{name}:\n{}{}", run.out, run.err);
        assert_eq!(run.conn, "ConnectionRefused\n", "{name}");
        let line = bcc_line(run.connector_pid, "connector", 4, "127.0.0.1", "127.0.0.9", 1);
        assert_eq!(run.out, format!("{HEADER} QUERY\n{line} No DNS Query\n"), "{name}");
        assert_eq!(run.err, verbose, "{name}: -v");
    }
}

/// -d when auto falls back from the tracepoint path to kprobes (the perf
/// tracepoint path fails on a format file without `protocol`, as in
/// `auto_falls_back_to_kprobes_when_the_tracepoint_path_cannot_be_prepared`):
/// the namespace runs print the same, and -v names the DNS capture once,
/// as it names each other part of the path it ends up on.
#[test]
fn dns_in_every_network_namespace_after_a_fallback_to_kprobes_in_a_vm() {
    let script = format!(
        r#"{TRACE_HELPERS}
{DNS_NETNS_HELPERS}
F=/sys/kernel/tracing/events/sock/inet_sock_set_state/format
grep -v ' protocol;' $F > /tmp/format && mount --bind /tmp/format $F
CONNECT=netns_connects trace fallback env TCPCONNECT_RAW_TRACEPOINT=off tcpconnect -d -v
"#
    );
    let test = "dns_in_every_network_namespace_after_a_fallback_to_kprobes_in_a_vm";
    let Some(out) = boot(test, "", &script) else {
        return;
    };
    let run = check_netns_run(&out, "fallback", false);
    let (dns, rest): (Vec<&str>, Vec<&str>) =
        run.err.lines().partition(|l| l.starts_with("tcpconnect: dns:"));
    let missing =
        "tracepoint sock:inet_sock_set_state has no field \"protocol\" on this kernel; cannot trace \
                   through it";
    let tried = format!("tcpconnect: tracepoint path failed ({missing}); trying kprobes");
    assert_eq!(
        rest,
        [
            "tcpconnect: raw tracepoint unavailable (disabled by TCPCONNECT_RAW_TRACEPOINT=off); using the perf \
             tracepoint event",
            &tried,
            "tcpconnect: struct sock_common: skc_v6_daddr at 56, skc_v6_rcv_saddr at 72 (from BTF)",
            PMU_ATTACH.trim_end(),
        ],
        "-v"
    );
    assert_eq!(dns, [DNS_EVERY_NETNS], "-v names the DNS capture once:\n{}", run.err);
}
