//! --result and --failed against the real kernel: connects with known
//! outcomes (tests/support/handshakes.rs) in a network namespace of their
//! own, where `tcp_syn_retries=1` makes a dropped SYN time out in 3 s, and
//! the tracer in the host namespace. Every line is checked byte for byte;
//! only LAT(ms) (and -t's time) is read from the output, and checked
//! against the range the connect's own timing allows.
//!
//! tools/test runs this suite on both tracepoint methods (raw tracepoint,
//! and perf tracepoint event with TCPCONNECT_RAW_TRACEPOINT=off); the VM
//! suite runs the same scenario on the kprobe path.

mod support;

use std::time::Duration;
use support::handshake_lines::{check_result_run, expectations, latency, reported, result_line, BASE_PORT};
use support::{have_root, Connector, Tool};

/// The namespace the connects are made in.
const NETNS_SETUP: &str = "ip link set lo up && sysctl -q net.ipv4.tcp_syn_retries=1";

fn handshakes_connector() -> Connector {
    Connector::spawn_in_new_netns(NETNS_SETUP, &["--handshakes".into(), BASE_PORT.to_string()])
}

#[test]
fn each_outcome_is_printed_once_with_its_result_port_and_latency() {
    if !have_root("each_outcome_is_printed_once_with_its_result_port_and_latency") {
        return;
    }
    let connector = handshakes_connector();
    let pid = connector.pid();
    let mut tool = Tool::start(&["--result", "-L", "-p", &pid.to_string()]);
    let said = connector.go();
    let mut out = vec![tool.header.clone()];
    out.extend(tool.lines_of_pid(5, pid, 0));
    let (status, rest, stderr) = tool.stop(libc::SIGINT);
    assert!(status.success(), "{status} {stderr}");
    assert_eq!((rest, stderr), (vec![], String::new()), "nothing after the outcomes, nothing on stderr");
    check_result_run(pid, &(out.join("\n") + "\n"), &said, false);
}

#[test]
fn failed_prints_only_the_failures_and_json_carries_the_same() {
    if !have_root("failed_prints_only_the_failures_and_json_carries_the_same") {
        return;
    }
    let connector = handshakes_connector();
    let pid = connector.pid();
    let mut tool = Tool::start_headerless(&["--failed", "-j", "-t", "-p", &pid.to_string()]);
    let said = reported(&connector.go());
    let lines = tool.lines_matching(3, |l| l.contains(&format!("\"pid\":{pid},")));
    let (status, rest, _) = tool.stop(libc::SIGINT);
    assert!(status.success());
    assert_eq!(rest, Vec::<String>::new(), "no OK line, nothing pending");
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let failures = expectations().into_iter().zip(said).filter(|((_, result, _), _)| *result != "OK");
    let mut last_ts_us = 0;
    for (line, ((dport, result, range), (_, lport))) in lines.iter().zip(failures) {
        // {"ts_us":N,...,"latency_ms":X}: N and X read back, the rest exact.
        let ts_us: i64 = line
            .strip_prefix("{\"ts_us\":")
            .and_then(|r| r.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no ts_us first: {line}"));
        assert!(ts_us > last_ts_us, "-t counts from the start, in connect order: {line}");
        last_ts_us = ts_us;
        let (head, lat) = line.strip_suffix('}').unwrap().rsplit_once(",\"latency_ms\":").unwrap();
        let lat = latency(lat, range);
        assert_eq!(
            format!("{head},\"latency_ms\":{lat}}}"),
            format!(
                "{{\"ts_us\":{ts_us},\"uid\":0,\"pid\":{pid},\"comm\":\"connector\",\"ip\":4,\
                 \"saddr\":\"127.0.0.1\",\"lport\":{lport},\"daddr\":\"127.0.0.1\",\"dport\":{dport},\
                 \"result\":\"{result}\",\"latency_ms\":{lat}}}"
            )
        );
    }
}

#[test]
fn a_connect_still_in_syn_sent_at_exit_is_printed_as_pending() {
    if !have_root("a_connect_still_in_syn_sent_at_exit_is_printed_as_pending") {
        return;
    }
    let mut connector =
        Connector::spawn_in_new_netns(NETNS_SETUP, &["--pending".into(), BASE_PORT.to_string()]);
    let pid = connector.pid();
    let mut tool = Tool::start(&["--result", "-L", "-p", &pid.to_string()]);
    let said = reported(&connector.go_reading(2));
    let filled = tool.lines_of_pid(1, pid, 0);
    let (_, lport) = &said[0];
    let lat = latency(&filled[0], 0.0..1000.0);
    assert_eq!(filled, [result_line(pid, *lport, BASE_PORT, "OK", &lat)]);
    std::thread::sleep(Duration::from_millis(500));
    let (status, rest, stderr) = tool.stop(libc::SIGINT);
    connector.release();
    assert!(status.success(), "{status} {stderr}");
    assert_eq!(said[1].0, "PENDING");
    assert_eq!(rest.len(), 1, "the pending connect, printed at exit: {rest:#?}");
    let lat = latency(&rest[0], 500.0..5000.0);
    assert_eq!(rest[0], result_line(pid, said[1].1, BASE_PORT, "PENDING", &lat));
}

/// Without BTF, sk_err is found by calibration: the offset must be BTF's,
/// and the lines the same.
#[test]
fn without_btf_sk_err_is_calibrated_to_btfs_offset() {
    if !have_root("without_btf_sk_err_is_calibrated_to_btfs_offset") {
        return;
    }
    let offset_said = |stderr: &str, source: &str| -> u32 {
        let line = stderr
            .lines()
            .find(|l| l.starts_with("tcpconnect: struct sock: sk_err at "))
            .unwrap_or_else(|| panic!("no sk_err line: {stderr}"));
        let rest = line.strip_prefix("tcpconnect: struct sock: sk_err at ").unwrap();
        assert!(rest.ends_with(&format!(" ({source})")), "{line}");
        rest.split(' ').next().unwrap().parse().unwrap()
    };
    let with_btf = Tool::start(&["--result", "-v", "-p", "1"]);
    let (_, _, btf_stderr) = with_btf.stop(libc::SIGINT);
    let btf_offset = offset_said(&btf_stderr, "from BTF");

    let connector = handshakes_connector();
    let pid = connector.pid();
    let mut tool = Tool::start_with(&["--result", "-L", "-v", "-p", &pid.to_string()], |c| {
        c.env("TCPCONNECT_BTF", "off");
    });
    let said = connector.go();
    let mut out = vec![tool.header.clone()];
    out.extend(tool.lines_of_pid(5, pid, 0));
    let (status, _, stderr) = tool.stop(libc::SIGINT);
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "tcpconnect: cannot use BTF for sk_err (disabled by TCPCONNECT_BTF=off); calibrating\n"
        ),
        "{stderr}"
    );
    assert_eq!(offset_said(&stderr, "by calibration"), btf_offset, "{stderr}");
    check_result_run(pid, &(out.join("\n") + "\n"), &said, false);
}

/// Waits (10 s at most) until the network namespace of `pid` has an IPv4
/// socket in SYN_SENT (state 02 in /proc/PID/net/tcp).
fn wait_for_syn_sent(pid: u32) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).unwrap_or_default();
        if table.lines().skip(1).any(|l| l.split_whitespace().nth(3) == Some("02")) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{pid}: no connect in SYN_SENT within 10 s");
}

/// The handshake runs in the kernel: a stopped owner changes nothing (its
/// connect still times out, printed while it is stopped), and an owner
/// killed mid-handshake closes the socket (CLOSED).
#[test]
fn a_stopped_owner_changes_nothing_and_a_killed_one_is_closed() {
    if !have_root("a_stopped_owner_changes_nothing_and_a_killed_one_is_closed") {
        return;
    }
    for (signal, result, range) in
        [(libc::SIGSTOP, "ETIMEDOUT", 2500.0..6000.0), (libc::SIGKILL, "CLOSED", 300.0..2500.0)]
    {
        let mut connector = handshakes_connector();
        let pid = connector.pid();
        let mut tool = Tool::start(&["--result", "-p", &pid.to_string()]);
        // OK, ECONNREFUSED, OK: the fourth connect is waiting for its SYN-ACK.
        connector.go_reading(3);
        assert_eq!(tool.lines_of_pid(3, pid, 0).len(), 3);
        // Signalled only once the fourth connect is in SYN_SENT: a loaded
        // host can keep the connector from reaching it for a while (a fixed
        // 500 ms once stopped it before, and no outcome ever came).
        wait_for_syn_sent(pid);
        std::thread::sleep(Duration::from_millis(500));
        support::send_signal(pid, signal);
        let lines = tool.lines_of_pid(1, pid, 0);
        assert_eq!(lines.len(), 1, "{signal}: the fourth connect's outcome");
        let lat = latency(&lines[0], range.clone());
        let expected = format!(
            "{pid:<6} {:<12} 4  {:<16} {:<16} {:<4} {result:<12} {lat:<7}",
            "connector",
            "127.0.0.1",
            "127.0.0.1",
            BASE_PORT + 2
        );
        assert_eq!(lines[0], expected, "signal {signal}");
        if signal == libc::SIGSTOP {
            // Printed while stopped: the kernel timed it out without it.
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
            assert!(state.contains(") T "), "the owner is still stopped: {state}");
            support::send_signal(pid, libc::SIGCONT);
        }
        let (status, _, stderr) = tool.stop(libc::SIGINT);
        assert!(status.success(), "{stderr}");
        drop(connector);
    }
}
