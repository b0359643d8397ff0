//! Nothing is lost unreported, at exit too: with its output a full pipe
//! (`tcpconnect -j | some-script` whose script is slow or asleep), a
//! SIGINT or SIGTERM never cuts a line, what the rings still hold is
//! printed while the reader takes it, and what it cannot print within a
//! second (or after a second signal) is counted on stderr; printed plus
//! reported is every connect made. And -L prints at exit the connects still
//! inside a blocking connect(2) instead of dropping them.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;
use support::{attached_lines, bcc_line, have_root, json_line, lport_line, send_signal, tcpconnect_bin};
use support::{Connector, Ports, HEADER};

/// Refused connects in the flood: more than a pipe (64 KiB) and the ring
/// (256 KiB) hold together.
const FLOOD: u64 = 4000;

/// The tool with stdout a pipe nobody reads yet, and its stderr lines as
/// they come; live once -v says the state program is attached.
struct Stalled {
    child: Child,
    stderr: Receiver<String>,
}

impl Stalled {
    fn start(args: &[&str]) -> Stalled {
        let mut child = Command::new(tcpconnect_bin())
            .arg("-v")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let attached = attached_lines().lines().last().unwrap_or_default().to_owned();
        loop {
            let line = lines.recv_timeout(Duration::from_secs(10)).expect("tcpconnect -v said it attached");
            if line.starts_with(&attached) {
                break;
            }
        }
        Stalled { child, stderr: lines }
    }

    /// Sends `signals` (`gap` apart), waits `read_after`, then reads stdout
    /// to its end: stdout, and the stderr lines that came after attaching.
    fn stop(mut self, signals: &[i32], gap: Duration, read_after: Duration) -> (String, Vec<String>) {
        for (i, &signal) in signals.iter().enumerate() {
            if i > 0 {
                std::thread::sleep(gap);
            }
            send_signal(self.child.id(), signal);
        }
        std::thread::sleep(read_after);
        let mut out = Vec::new();
        self.child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
        let status = self.child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "exit status");
        let stderr: Vec<String> = self.stderr.iter().collect();
        (String::from_utf8(out).expect("whole UTF-8 lines"), stderr)
    }
}

/// The N of every "Possibly lost N samples" line, summed.
fn reported_lost(stderr: &[String]) -> u64 {
    stderr
        .iter()
        .filter_map(|line| line.strip_prefix("Possibly lost "))
        .filter_map(|rest| rest.split_once(" samples"))
        .map(|(n, _)| n.parse::<u64>().expect("a count"))
        .sum()
}

/// A flood of refused connects with the output stalled, then `signals`;
/// the pipe is read `read_after` the first. Every line printed is whole
/// and exact, and printed + reported = made.
fn flood_then_signal(json: bool, signals: &[i32], read_after: Duration) -> Vec<String> {
    let ports = Ports::new();
    let target = format!("4:127.0.0.1:{}", ports.closed_port);
    let connector = Connector::spawn(&["--repeat".into(), FLOOD.to_string(), target]);
    let pid = connector.pid();
    let pid_arg = pid.to_string();
    let mut args = vec!["-p", &pid_arg];
    if json {
        args.push("-j");
    }
    let tool = Stalled::start(&args);
    let outcomes = connector.go();
    assert!(outcomes.iter().any(|o| o.contains(&FLOOD.to_string())), "{outcomes:?}");
    // The pipe fills and the ring behind it.
    std::thread::sleep(Duration::from_millis(300));
    let (out, stderr) = tool.stop(signals, Duration::from_millis(200), read_after);

    let expected = if json {
        json_line(0, pid, (4, "127.0.0.1", "127.0.0.1", ports.closed_port), None)
    } else {
        bcc_line(pid, "connector", 4, "127.0.0.1", "127.0.0.1", ports.closed_port)
    };
    let mut lines = out.lines();
    if !json {
        assert_eq!(lines.next(), Some(HEADER), "the header first");
    }
    let mut printed = 0u64;
    for line in lines {
        assert_eq!(line, expected, "every line whole");
        printed += 1;
    }
    assert!(out.ends_with('\n'), "the last line is whole");
    let lost = reported_lost(&stderr);
    assert_eq!(printed + lost, FLOOD, "printed {printed} + reported lost {lost} = made; stderr: {stderr:?}");
    // -v's account says the same, in one line: the filter (-p) kept exactly
    // the connector's connects, the programs sent each, and each was
    // printed or counted lost.
    let account = stderr.iter().find(|l| l.starts_with(support::ACCOUNT_PREFIX)).expect("-v's account");
    let number_before = |words: &str| -> u64 {
        let at = account.find(words).unwrap_or_else(|| panic!("{words:?} in {account}"));
        account[..at].rsplit([' ', ',']).find(|w| !w.is_empty()).unwrap().parse().unwrap()
    };
    assert!(account.contains(&format!("the programs sent {FLOOD};")), "{account}");
    assert_eq!(number_before(" printed,"), printed, "{account}");
    let lost_in_kernel = number_before(" lost to a full ring or map");
    let not_printed = number_before(" not printed at exit");
    assert_eq!(lost_in_kernel + not_printed, lost, "{account}");
    stderr
}

const NOT_PRINTED_LATE: &str =
    "(not printed at exit: the reader of standard output took nothing more within 1 s)";
const NOT_PRINTED_TWICE: &str = "(not printed at exit: a second signal ended the run)";

#[test]
fn a_signal_with_a_full_pipe_prints_the_rest_to_a_reader_that_takes_it() {
    if !have_root("a_signal_with_a_full_pipe_prints_the_rest_to_a_reader_that_takes_it") {
        return;
    }
    for (json, signal) in [(false, libc::SIGTERM), (true, libc::SIGINT)] {
        let stderr = flood_then_signal(json, &[signal], Duration::ZERO);
        let unprinted =
            stderr.iter().any(|l| l.starts_with("Possibly lost") && l.contains("not printed at exit"));
        assert!(!unprinted, "json {json}: {stderr:?}");
    }
}

#[test]
fn a_signal_with_a_full_pipe_counts_what_a_sleeping_reader_did_not_take() {
    if !have_root("a_signal_with_a_full_pipe_counts_what_a_sleeping_reader_did_not_take") {
        return;
    }
    for (json, signal) in [(false, libc::SIGINT), (true, libc::SIGTERM)] {
        let stderr = flood_then_signal(json, &[signal], Duration::from_secs(2));
        assert!(stderr.iter().any(|l| l.ends_with(NOT_PRINTED_LATE)), "json {json}: {stderr:?}");
    }
}

#[test]
fn a_second_signal_ends_the_exit_at_once_and_counts_the_rest() {
    if !have_root("a_second_signal_ends_the_exit_at_once_and_counts_the_rest") {
        return;
    }
    let stderr = flood_then_signal(true, &[libc::SIGINT, libc::SIGINT], Duration::from_millis(300));
    assert!(stderr.iter().any(|l| l.ends_with(NOT_PRINTED_TWICE)), "{stderr:?}");
}

/// Waits (10 s at most) until the network namespace of `pid` has `n` IPv4
/// sockets in SYN_SENT (state 02 in /proc/PID/net/tcp).
fn wait_for_syn_sent(pid: u32, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).unwrap_or_default();
        if table.lines().skip(1).filter(|l| l.split_whitespace().nth(3) == Some("02")).count() >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{pid}: not {n} connects in SYN_SENT within 10 s");
}

#[test]
fn lport_prints_at_exit_the_connects_still_inside_connect() {
    if !have_root("lport_prints_at_exit_the_connects_still_inside_connect") {
        return;
    }
    // Three blocking connects to a full listener (its SYNs dropped), in a
    // network namespace of their own: inside connect(2) when tracing stops.
    const PORT: u16 = 5000;
    let mut connector =
        Connector::spawn_in_new_netns("ip link set lo up", &["--stuck".into(), PORT.to_string(), "3".into()]);
    let pid = connector.pid();
    let pid_arg = pid.to_string();
    let mut tool = support::Tool::start(&["-L", "-p", &pid_arg]);
    let said = connector.go_reading(2);
    let filler = said[0].strip_prefix("OK ").expect("the filler's port").parse::<u16>().unwrap();
    assert_eq!(said[1], "STUCK");
    wait_for_syn_sent(pid, 3);
    let first = tool.lines_of_pid(1, pid, 0);
    assert_eq!(first, [lport_line(pid, 4, "127.0.0.1", filler, "127.0.0.1", PORT)]);
    let (status, rest, stderr) = tool.stop(libc::SIGINT);
    assert!(status.success(), "{status}: {stderr}");
    // Their local port is not known to the kernel side yet: LPORT 0.
    let stuck = lport_line(pid, 4, "127.0.0.1", 0, "127.0.0.1", PORT);
    assert_eq!(rest, [stuck.clone(), stuck.clone(), stuck], "{stderr}");
    assert_eq!(stderr, "");
    connector.release();
}

#[test]
fn nohup_keeps_sighup_ignored() {
    if !have_root("nohup_keeps_sighup_ignored") {
        return;
    }
    // `nohup tcpconnect &`: SIGHUP arrives ignored, and must stay so.
    let mut command = Command::new("nohup");
    command.arg(tcpconnect_bin());
    let mut tool = support::Tool::start_command_with(command, &[]);
    send_signal(tool.pid(), libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(200));
    let ports = Ports::new();
    let connector = Connector::spawn(&[format!("4:127.0.0.1:{}", ports.v4_port)]);
    let pid = connector.pid();
    assert_eq!(connector.go(), ["ok"]);
    let lines = tool.lines_of_pid(1, pid, 0);
    assert_eq!(
        lines,
        [bcc_line(pid, "connector", 4, "127.0.0.1", "127.0.0.1", ports.v4_port)],
        "still tracing"
    );
    let (status, _, stderr) = tool.stop(libc::SIGINT);
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(stderr, "");
}

#[test]
fn count_mode_reports_the_connects_its_full_table_refused() {
    if !have_root("count_mode_reports_the_connects_its_full_table_refused") {
        return;
    }
    // 11000 flows, one connect each, into a table of 10240 rows.
    const FLOWS: u16 = 11000;
    const ROWS: u64 = 10240;
    let first_port = 40000u16;
    let targets: Vec<String> =
        (first_port..first_port + FLOWS).map(|port| format!("4:127.0.0.1:{port}")).collect();
    let connector = Connector::spawn(&targets);
    let pid = connector.pid().to_string();
    let tool = support::Tool::start(&["-c", "-p", &pid]);
    assert_eq!(connector.go().len(), usize::from(FLOWS));
    let (status, rest, stderr) = tool.stop(libc::SIGINT);
    assert!(status.success(), "{status}: {stderr}");
    let counted: u64 = rest
        .iter()
        .filter(|line| line.starts_with("127.0.0.1 "))
        .map(|line| line.split_whitespace().nth(3).expect("CONNECTS").parse::<u64>().unwrap())
        .sum();
    assert_eq!(counted, ROWS, "every row of the full table");
    // Reported as they happen, on the 100 ms flush timer: one line, or one
    // for each tick the refusals spanned (a slow host), every line whole
    // and the same words; together they are every refused connect.
    let lost = u64::from(FLOWS) - ROWS;
    let reported: Vec<u64> = stderr
        .lines()
        .map(|line| {
            let n = line
                .strip_prefix("Possibly lost ")
                .and_then(|rest| rest.strip_suffix(" connects (-c: its table of flows is full)"));
            n.and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("not a loss report: {line:?} in {stderr:?}"))
        })
        .collect();
    assert!(stderr.ends_with('\n') && !reported.is_empty(), "{stderr:?}");
    assert_eq!(reported.iter().sum::<u64>(), lost, "every refused connect, once: {stderr:?}");
}

/// `n` DNS exchanges as fast as they go, in a network namespace of their
/// own: a server on 127.0.0.1:53 answers each query of a client, which
/// reads the answer (recvfrom(2), as glibc's and musl's resolvers do).
const DNS_FLOOD: &str = r#"
import socket, sys
n = int(sys.argv[1])
srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); srv.bind(("127.0.0.1", 53))
cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); cli.bind(("127.0.0.1", 0))
query = bytes([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]) + b"\x05flood\x04test\x00\x00\x01\x00\x01"
answer = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x7f\x00\x00\x02"
for _ in range(n):
    cli.sendto(query, ("127.0.0.1", 53))
    q, peer = srv.recvfrom(512)
    srv.sendto(q[:2] + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00" + q[12:] + answer, peer)
    cli.recvfrom(512)
"#;

#[test]
fn dns_messages_a_full_ring_refused_are_reported_at_exit() {
    if !have_root("dns_messages_a_full_ring_refused_are_reported_at_exit") {
        return;
    }
    // The output stalls (a pipe nobody reads, filled by connect lines), so
    // the DNS rings are not read while a flood of answers fills them.
    let ports = Ports::new();
    let target = format!("4:127.0.0.1:{}", ports.closed_port);
    let connector = Connector::spawn(&["--repeat".into(), "2000".into(), target]);
    let pid = connector.pid().to_string();
    let tool = Stalled::start(&["-d", "-p", &pid]);
    connector.go();
    std::thread::sleep(Duration::from_millis(300));
    let flood = Command::new("unshare")
        .args(["--net", "sh", "-c", "ip link set lo up && exec python3 -c \"$0\" 5000", DNS_FLOOD])
        .status()
        .unwrap();
    assert!(flood.success(), "the DNS flood");
    let (_, stderr) = tool.stop(&[libc::SIGINT], Duration::ZERO, Duration::ZERO);
    let lost: u64 = stderr
        .iter()
        .filter_map(|line| line.strip_prefix("Possibly lost "))
        .filter_map(|rest| rest.strip_suffix(" DNS messages (-d: their connects may show No DNS Query)"))
        .map(|n| n.parse::<u64>().unwrap())
        .sum();
    assert!(lost > 0 && lost < 5000, "the messages a full DNS ring refused, said once: {stderr:?}");
}
