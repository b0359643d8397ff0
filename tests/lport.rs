//! -L for connects made outside connect(2), on the tracepoint path: a TCP
//! Fast Open sendto and io_uring's IORING_OP_CONNECT (inline, and in an
//! io-wq worker), from a compiled C helper (tests/support/c/lport_paths.c,
//! liburing from Debian's liburing-dev). Their local port is chosen after
//! the state change that reports them, so the line waits until the socket
//! leaves SYN_SENT; the LPORT printed must be the one getsockname() gave.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use support::{have_root, Tool, LPORT_HEADER};

const PORT: u16 = 6000;

/// The helper, compiled once per test run into target/; None (with a line
/// saying why) where no C compiler or liburing exists, which CI forbids.
fn helper() -> Option<PathBuf> {
    static BUILT: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/c/lport_paths.c");
            let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lport_paths");
            let built = Command::new("cc")
                .args(["-O2", "-Wall", "-Werror", "-o"])
                .arg(&out)
                .arg(&source)
                .arg("-luring")
                .status();
            match built {
                Ok(status) if status.success() => Some(out),
                other => {
                    let why = format!("cannot build {} with cc and liburing ({other:?})", source.display());
                    assert!(std::env::var_os("CI").is_none(), "{why}: tools/test installs liburing-dev");
                    eprintln!("skipping: {why}; apt-get install liburing-dev");
                    None
                }
            }
        })
        .clone()
}

/// Runs `helper MODE PORT` in a network namespace of its own (TCP Fast Open
/// on for clients and servers) under a tracer started with `args` and its
/// PID; returns the helper's PID, the port it reported and the tracer's line.
fn traced(mode: &str, args: &[&str]) -> Option<(u32, u16, String)> {
    let helper = helper()?;
    let mut child = Command::new("unshare")
        .args([
            "--net",
            "sh",
            "-c",
            "ip link set lo up && sysctl -q net.ipv4.tcp_fastopen=3 && exec \"$0\" \"$@\"",
        ])
        .arg(&helper)
        .args([mode, &PORT.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the helper");
    let pid = child.id();
    let mut all = args.to_vec();
    let pid_text = pid.to_string();
    all.extend(["-p", &pid_text]);
    let mut tool = if args.contains(&"-j") { Tool::start_headerless(&all) } else { Tool::start(&all) };
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut said = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut said).unwrap();
    assert!(child.wait().unwrap().success(), "helper {mode} failed");
    let (said_mode, port) = said.trim_end().split_once(' ').unwrap_or_else(|| panic!("helper said {said:?}"));
    assert_eq!(said_mode, mode);
    let lines = tool.lines_matching(1, |l| l.contains(&pid_text));
    let (status, rest, stderr) = tool.stop(libc::SIGINT);
    assert!(status.success(), "{stderr}");
    // Only -v's lines (-j) on stderr.
    let unexpected: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("tcpconnect: ")).collect();
    assert_eq!((rest, unexpected), (vec![], vec![]), "{stderr}");
    assert_eq!(lines.len(), 1, "one line for the {mode} connect");
    Some((pid, port.parse().unwrap(), lines[0].clone()))
}

/// The COMM of each mode: an io-wq worker is a thread of the process named
/// iou-wrk-TID (bcc's kretprobe shows the same).
fn comm(mode: &str, line: &str) -> String {
    match mode {
        "uring-wq" => {
            let comm = line.split_whitespace().nth(1).unwrap_or_default().to_string();
            assert!(comm.starts_with("iou-wrk-"), "{line}");
            comm
        }
        _ => "lport_paths".to_string(),
    }
}

#[test]
fn lport_is_the_real_port_for_connects_made_outside_connect() {
    if !have_root("lport_is_the_real_port_for_connects_made_outside_connect") {
        return;
    }
    for mode in ["tfo", "uring", "uring-wq"] {
        let Some((pid, port, line)) = traced(mode, &["-L"]) else { return };
        let comm = comm(mode, &line);
        assert_eq!(
            line,
            format!("{pid:<6} {comm:<12.12} 4  {:<16} {port:<6} {:<16} {PORT:<4}", "127.0.0.1", "127.0.0.1"),
            "{mode}"
        );
        assert_ne!(port, 0);
    }
    let header = Tool::start(&["-L", "-p", "1"]).header.clone();
    assert_eq!(header, LPORT_HEADER);
}

#[test]
fn json_carries_the_real_lport_for_them_and_result_agrees() {
    if !have_root("json_carries_the_real_lport_for_them_and_result_agrees") {
        return;
    }
    for mode in ["tfo", "uring", "uring-wq"] {
        let Some((pid, port, line)) = traced(mode, &["-L", "-j"]) else { return };
        let json_comm = if mode == "uring-wq" {
            line.split("\"comm\":\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or_default().to_string()
        } else {
            "lport_paths".to_string()
        };
        assert_eq!(
            line,
            format!(
                "{{\"uid\":0,\"pid\":{pid},\"comm\":\"{json_comm}\",\"ip\":4,\"saddr\":\"127.0.0.1\",\"lport\":{port},\
                 \"daddr\":\"127.0.0.1\",\"dport\":{PORT}}}"
            ),
            "{mode}"
        );
        let Some((pid, port, line)) = traced(mode, &["-L", "--result"]) else { return };
        let comm = comm(mode, &line);
        let lat = support::handshake_lines::latency(&line, 0.0..1000.0);
        let expected = format!(
            "{pid:<6} {comm:<12.12} 4  {:<16} {port:<6} {:<16} {PORT:<4} {:<12} {lat:<7}",
            "127.0.0.1", "127.0.0.1", "OK"
        );
        assert_eq!(line, expected, "{mode} --result");
    }
}
