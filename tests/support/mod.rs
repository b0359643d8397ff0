//! Shared harness for the integration tests: runs the real binary against the
//! real kernel, and the connector helper to make connects with a known PID.
#![allow(dead_code)]

pub mod containers;
pub mod handshake_lines;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub fn tcpconnect_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tcpconnect"))
}

/// The connector example, next to the binaries in target/<profile>/examples.
/// `cargo test` builds it but `cargo test --test trace` does not, so ask
/// cargo once per test binary (a no-op when it is up to date).
pub fn connector_bin() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let profile_dir = tcpconnect_bin().parent().unwrap().to_path_buf();
            let path = profile_dir.join("examples").join("connector");
            let mut cargo = Command::new(env!("CARGO"));
            cargo.args(["build", "--quiet", "--example", "connector"]);
            if profile_dir.file_name().is_some_and(|n| n == "release") {
                cargo.arg("--release");
            }
            let status = cargo.status().expect("run cargo to build the connector example");
            assert!(status.success(), "building the connector example failed");
            assert!(path.is_file(), "{} missing after cargo build", path.display());
            path
        })
        .clone()
}

/// True when the test can run: it needs root for BPF. In CI a missing
/// privilege is a failure, elsewhere the test says why it skips.
pub fn have_root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test}: needs root (BPF), and CI must run as root");
    }
    eprintln!("skipping {test}: needs root to load BPF programs");
    false
}

/// The first words of -v's account at exit (tests/exit_accounting.rs
/// checks it; the other tests compare -v's setup lines and drop it).
pub const ACCOUNT_PREFIX: &str = "tcpconnect: account: ";

/// `stderr` without -v's account line.
pub fn without_account(stderr: &str) -> String {
    stderr.lines().filter(|line| !line.starts_with(ACCOUNT_PREFIX)).map(|line| format!("{line}\n")).collect()
}

pub fn send_signal(pid: u32, signal: i32) {
    // SAFETY: kill with a pid we spawned and a valid signal number.
    let ret = unsafe { libc::kill(pid as libc::pid_t, signal) };
    assert_eq!(ret, 0, "kill({pid}, {signal})");
}

/// A running tcpconnect, its stdout split into lines as they arrive.
pub struct Tool {
    child: Child,
    /// Raw stdout lines without their '\n' (COMM bytes may not be UTF-8).
    lines: Receiver<Vec<u8>>,
    stderr: Option<JoinHandle<String>>,
    pub header: String,
}

const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// When a started tool counts as live.
enum Live {
    /// Its first stdout line (the header, or -c's banner).
    Header,
    /// A stderr line starting with this (from -v).
    Stderr(String),
}

/// Set to `off` for a whole test run (tools/test runs the tracing suites
/// both ways), the tool attaches the perf tracepoint event instead of the
/// raw tracepoint, so both attach methods of this kernel are tested.
pub const RAW_TRACEPOINT_SWITCH: &str = "TCPCONNECT_RAW_TRACEPOINT";

/// Set to `off` for a test run, the tool attaches the raw tracepoint
/// program instead of the BTF tracepoint program (5.11+), as 4.17 to 5.10
/// do.
pub const BTF_TRACEPOINT_SWITCH: &str = "TCPCONNECT_BTF_TRACEPOINT";

/// What -v prints on stderr as the state tracepoint attaches as a BTF
/// tracepoint (5.11+ with BTF)...
pub const BTF_TRACEPOINT_ATTACHED: &str =
    "tcpconnect: attach: BTF tracepoint sock:inet_sock_set_state (socket and task layout from BTF)\n";

/// ... or as a raw tracepoint, after saying why not as a BTF one...
pub fn raw_tracepoint_attached(why_not_btf: &str) -> String {
    format!("tcpconnect: BTF tracepoint unavailable ({why_not_btf}); using the raw tracepoint\n{RAW_TRACEPOINT_ATTACHED}")
}

/// (the line of the raw tracepoint itself)
pub const RAW_TRACEPOINT_ATTACHED: &str =
    "tcpconnect: attach: raw tracepoint sock:inet_sock_set_state (socket layout from BTF)\n";

/// ... or as a perf tracepoint event, after saying why not as a raw one.
pub fn perf_tracepoint_attached(why_not_raw: &str) -> String {
    format!(
        "tcpconnect: raw tracepoint unavailable ({why_not_raw}); using the perf tracepoint event\n\
         tcpconnect: attach: tracepoint sock:inet_sock_set_state\n"
    )
}

/// Whether this test run sets `switch` (one of the attach switches) to off.
pub fn switched_off(switch: &str) -> bool {
    std::env::var_os(switch).is_some_and(|v| v == "off")
}

/// What -v prints as the state tracepoint attaches, in this test run's
/// mode, after the transport line.
pub fn attached_lines() -> String {
    let attach = if switched_off(RAW_TRACEPOINT_SWITCH) {
        perf_tracepoint_attached("disabled by TCPCONNECT_RAW_TRACEPOINT=off")
    } else if switched_off(BTF_TRACEPOINT_SWITCH) {
        raw_tracepoint_attached("disabled by TCPCONNECT_BTF_TRACEPOINT=off")
    } else {
        BTF_TRACEPOINT_ATTACHED.to_owned()
    };
    format!("{}{attach}", transport_line())
}

/// Set to `perf` for a whole test run (tools/test runs the tracing suites
/// both ways), events go through the perf event arrays instead of the BPF
/// ring buffer this kernel has.
pub const TRANSPORT_SWITCH: &str = "TCPCONNECT_TRANSPORT";

/// Whether this test run forces the perf event arrays.
pub fn perf_transport() -> bool {
    std::env::var_os(TRANSPORT_SWITCH).is_some_and(|v| v == "perf")
}

/// What -v prints first: the transport of this test run on this host
/// (6.18: the ring buffer at its default size, unless forced off).
pub fn transport_line() -> String {
    if perf_transport() {
        let possible = std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap();
        let cpus: usize = possible
            .trim()
            .split(',')
            .map(|range| match range.split_once('-') {
                Some((a, b)) => b.parse::<usize>().unwrap() - a.parse::<usize>().unwrap() + 1,
                None => 1,
            })
            .sum();
        format!(
            "tcpconnect: events: perf event arrays (256 KiB a CPU, {cpus} CPUs; TCPCONNECT_TRANSPORT=perf)\n"
        )
    } else {
        "tcpconnect: events: BPF ring buffer (256 KiB)\n".to_owned()
    }
}

pub const LINE_TIMEOUT: Duration = Duration::from_secs(10);

impl Tool {
    /// Starts `tcpconnect ARGS` and waits for its header (= tracing is live).
    pub fn start(args: &[&str]) -> Tool {
        Self::start_with(args, |_| {})
    }

    pub fn start_with(args: &[&str], customize: impl FnOnce(&mut Command)) -> Tool {
        Self::start_command(Command::new(tcpconnect_bin()), args, customize)
    }

    /// Starts `command ARGS` (which must exec a tcpconnect binary as its
    /// child's process) and waits for the header.
    pub fn start_command_with(command: Command, args: &[&str]) -> Tool {
        Self::start_command(command, args, |_| {})
    }

    /// Starts `tcpconnect -v ARGS` for output without a header (-j): live
    /// once -v says the state tracepoint is attached. The -v lines end up
    /// in the stderr that `stop` returns.
    pub fn start_headerless(args: &[&str]) -> Tool {
        Self::start_headerless_with(args, |_| {})
    }

    /// `start_headerless`, with `customize` applied to the command (e.g. its
    /// environment) before it is spawned.
    pub fn start_headerless_with(args: &[&str], customize: impl FnOnce(&mut Command)) -> Tool {
        let mut all = vec!["-v"];
        all.extend_from_slice(args);
        let attached = attached_lines().lines().last().unwrap_or_default().to_owned();
        Self::start_live_when(Command::new(tcpconnect_bin()), &all, customize, Live::Stderr(attached))
    }

    /// Starts the tool through `sh -c SETUP` run by `wrapper` (e.g. unshare),
    /// which must end by exec'ing the tool so its PID is the child's.
    pub fn start_wrapped(wrapper: &[&str], setup: &str, args: &[&str]) -> Tool {
        let mut command = Command::new(wrapper[0]);
        command.args(&wrapper[1..]).args(["sh", "-c", &format!("{setup} && exec \"$0\" \"$@\"")]);
        command.arg(tcpconnect_bin());
        Self::start_command(command, args, |_| {})
    }

    fn start_command(command: Command, args: &[&str], customize: impl FnOnce(&mut Command)) -> Tool {
        Self::start_live_when(command, args, customize, Live::Header)
    }

    fn start_live_when(
        mut command: Command,
        args: &[&str],
        customize: impl FnOnce(&mut Command),
        live: Live,
    ) -> Tool {
        command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        // The tool keeps a SIGHUP it inherits as ignored (nohup): a harness
        // run under nohup must not decide the signal tests. `customize`
        // comes after, and may ignore a signal on purpose.
        // SAFETY: signal(2) is async-signal-safe, as pre_exec requires.
        unsafe {
            command.pre_exec(|| {
                libc::signal(libc::SIGHUP, libc::SIG_DFL);
                Ok(())
            });
        }
        customize(&mut command);
        let mut child = command.spawn().expect("spawn tcpconnect");
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line).map(|n| n > 0).unwrap_or(false) {
                if line.last() == Some(&b'\n') {
                    line.pop();
                }
                if tx.send(std::mem::take(&mut line)).is_err() {
                    break;
                }
            }
        });
        let (err_tx, err_lines) = channel::<String>();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            for line in BufReader::new(&mut stderr).lines().map_while(Result::ok) {
                let _ = err_tx.send(line.clone());
                text.push_str(&line);
                text.push('\n');
            }
            text
        });
        let mut tool = Tool { child, lines, stderr: Some(stderr), header: String::new() };
        let became_live = match live {
            Live::Header => tool.lines.recv_timeout(HEADER_TIMEOUT).map(|header| {
                tool.header = String::from_utf8_lossy(&header).into_owned();
            }),
            Live::Stderr(prefix) => {
                let deadline = Instant::now() + HEADER_TIMEOUT;
                loop {
                    match err_lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                        Ok(line) if line.starts_with(&prefix) => break Ok(()),
                        Ok(_) => {}
                        Err(e) => break Err(e),
                    }
                }
            }
        };
        match became_live {
            Ok(()) => {}
            Err(_) => {
                let _ = tool.child.kill();
                let status = tool.child.wait().unwrap();
                let err = tool.stderr.take().unwrap().join().unwrap();
                panic!("tcpconnect {args:?} printed no header ({status}); stderr: {err}");
            }
        }
        tool
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Collects raw lines until `want` of them satisfy `keep` (or the timeout).
    pub fn raw_lines_matching(&mut self, want: usize, keep: impl Fn(&[u8]) -> bool) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + LINE_TIMEOUT;
        let mut kept = Vec::new();
        while kept.len() < want {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if keep(&line) => kept.push(line),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        kept
    }

    /// Collects every line until none arrives for `quiet` (at most LINE_TIMEOUT).
    pub fn lines_until_quiet(&mut self, quiet: Duration) -> Vec<String> {
        let deadline = Instant::now() + LINE_TIMEOUT;
        let mut lines = Vec::new();
        while Instant::now() < deadline {
            match self.lines.recv_timeout(quiet) {
                Ok(line) => lines.push(String::from_utf8_lossy(&line).into_owned()),
                Err(_) => break,
            }
        }
        lines
    }

    /// Collects lines until `want` of them satisfy `keep` (or the timeout).
    pub fn lines_matching(&mut self, want: usize, keep: impl Fn(&str) -> bool) -> Vec<String> {
        self.raw_lines_matching(want, |l| keep(&String::from_utf8_lossy(l)))
            .into_iter()
            .map(|l| String::from_utf8_lossy(&l).into_owned())
            .collect()
    }

    /// The lines of process `pid`: their second column.
    pub fn lines_of_pid(&mut self, want: usize, pid: u32, pid_column: usize) -> Vec<String> {
        self.lines_matching(want, |l| l.split_whitespace().nth(pid_column) == Some(pid.to_string().as_str()))
    }

    /// Sends `signal`, waits for the exit; returns the status, the lines
    /// printed after those already read, and stderr.
    pub fn stop(mut self, signal: i32) -> (ExitStatus, Vec<String>, String) {
        send_signal(self.pid(), signal);
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("tcpconnect did not exit within 10 s of signal {signal}");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let rest: Vec<String> = self.lines.iter().map(|l| String::from_utf8_lossy(&l).into_owned()).collect();
        let stderr = without_account(&self.stderr.take().unwrap().join().unwrap());
        (status, rest, stderr)
    }

    /// Mount points of the tracefs mounts the tool's mount namespace has.
    pub fn tracefs_mounts(&self) -> Vec<String> {
        tracefs_mounts(&format!("/proc/{}/mountinfo", self.pid()))
    }

    /// BPF program and map ids the process holds (from /proc/PID/fdinfo).
    pub fn bpf_object_ids(&self) -> (Vec<u32>, Vec<u32>) {
        let mut progs = Vec::new();
        let mut maps = Vec::new();
        let dir = format!("/proc/{}/fdinfo", self.pid());
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let Ok(text) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            for line in text.lines() {
                if let Some(id) = line.strip_prefix("prog_id:") {
                    progs.push(id.trim().parse().unwrap());
                }
                if let Some(id) = line.strip_prefix("map_id:") {
                    maps.push(id.trim().parse().unwrap());
                }
            }
        }
        // A raw tracepoint link's fd names its program too.
        progs.sort_unstable();
        progs.dedup();
        maps.sort_unstable();
        maps.dedup();
        (progs, maps)
    }
}

impl Drop for Tool {
    fn drop(&mut self) {
        // A failed assertion must not leave a tracer running: end ours, by PID.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A connector process, parked until `go`.
pub struct Connector {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Connector {
    pub fn spawn(targets: &[String]) -> Connector {
        Self::spawn_with(targets, |_| {})
    }

    pub fn spawn_with(targets: &[String], customize: impl FnOnce(&mut Command)) -> Connector {
        Self::spawn_command(Command::new(connector_bin()), targets, customize)
    }

    /// Runs the connector in a network namespace of its own, after `setup`
    /// (shell commands, e.g. `ip addr add`) has run inside it.
    pub fn spawn_in_new_netns(setup: &str, targets: &[String]) -> Connector {
        let mut command = Command::new("unshare");
        command.args(["--net", "sh", "-c", &format!("{setup} && exec \"$0\" \"$@\"")]).arg(connector_bin());
        Self::spawn_command(command, targets, |_| {})
    }

    /// Runs the connector in the network namespace of process `pid`.
    pub fn spawn_in_netns_of(pid: u32, targets: &[String]) -> Connector {
        let mut command = Command::new("nsenter");
        command.arg(format!("--net=/proc/{pid}/ns/net")).arg(connector_bin());
        Self::spawn_command(command, targets, |_| {})
    }

    /// Runs the connector in a mount namespace of its own.
    pub fn spawn_in_new_mntns(targets: &[String]) -> Connector {
        let mut command = Command::new("unshare");
        command.args(["--mount", "--propagation", "private"]).arg(connector_bin());
        Self::spawn_command(command, targets, |_| {})
    }

    fn spawn_command(
        mut command: Command,
        targets: &[String],
        customize: impl FnOnce(&mut Command),
    ) -> Connector {
        command.args(targets).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        customize(&mut command);
        let mut child = command.spawn().expect("spawn connector");
        let stdin = child.stdin.take();
        Connector { child, stdin }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Lets it go and reads `n` lines of its stdout, leaving it running
    /// (`--pending` waits for `release`).
    pub fn go_reading(&mut self, n: usize) -> Vec<String> {
        self.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
        let stdout = self.child.stdout.as_mut().expect("connector stdout");
        let mut reader = BufReader::new(stdout);
        (0..n)
            .map(|_| {
                let mut line = String::new();
                reader.read_line(&mut line).expect("connector stdout");
                line.trim_end().to_string()
            })
            .collect()
    }

    /// Sends the line a parked `--pending` connector waits for; waits for its exit.
    pub fn release(mut self) {
        self.stdin.take().unwrap().write_all(b"done\n").unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "connector failed: {status}");
    }

    /// Makes the connects and returns the outcome of each ("ok", "ConnectionRefused").
    pub fn go(mut self) -> Vec<String> {
        self.stdin.take().unwrap().write_all(b"go\n").unwrap();
        let out = std::mem::replace(&mut self.child, Command::new("true").spawn().unwrap())
            .wait_with_output()
            .unwrap();
        assert!(out.status.success(), "connector failed: {}", out.status);
        String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect()
    }
}

impl Drop for Connector {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Listeners that accept connects (the backlog completes the handshake), and
/// a port with nothing listening.
pub struct Ports {
    pub v4: TcpListener,
    pub v6: TcpListener,
    pub v4_port: u16,
    pub v6_port: u16,
    pub closed_port: u16,
}

impl Ports {
    pub fn new() -> Ports {
        let v4 = TcpListener::bind("127.0.0.1:0").unwrap();
        let v6 = TcpListener::bind("[::1]:0").unwrap();
        let v4_port = v4.local_addr().unwrap().port();
        let v6_port = v6.local_addr().unwrap().port();
        // A port nothing listens on, and neither listener's number: the v4
        // and v6 port spaces are apart, so a freed v4 port can be the v6
        // listener's (seen once in CI: -P's test then kept the refused
        // connect too).
        let closed_port = loop {
            let probe = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = probe.local_addr().unwrap().port();
            if port != v4_port && port != v6_port {
                break port;
            }
        };
        Ports { v4, v6, v4_port, v6_port, closed_port }
    }
}

/// bcc's line, written independently of the code under test:
/// "%-6d %-12.12s %-2d %-16s %-16s %-4d".
/// The header and the lines bcc prints for the connects `lines` = (ip,
/// saddr, daddr, dport) of the connector with PID `pid`.
pub fn connector_output(pid: u32, lines: &[(u8, &str, &str, u16)]) -> String {
    let mut text = format!("{HEADER}\n");
    for (ip, saddr, daddr, dport) in lines {
        text.push_str(&bcc_line(pid, "connector", *ip, saddr, daddr, *dport));
        text.push('\n');
    }
    text
}

/// The header and the line bcc prints for the connect the kernel makes for
/// the VM tests' NFS mount (`nfs_mount` in tests/support/vm_common.rs: to
/// mountd on 127.0.0.1:20048), made by kernel thread `pid` named `comm`.
/// The header and a line for each of the NFS mount's connects, made by
/// `workers` (PID, COMM) in that order (`nfs_workers`).
pub fn nfs_connect_output(workers: &[(u32, String)]) -> String {
    let lines: String = workers
        .iter()
        .map(|(pid, comm)| format!("{}\n", bcc_line(*pid, comm, 4, "127.0.0.1", "127.0.0.1", 20048)))
        .collect();
    format!("{HEADER}\n{lines}")
}

pub fn bcc_line(pid: u32, comm: &str, ip: u8, saddr: &str, daddr: &str, dport: u16) -> String {
    format!("{pid:<6} {comm:<12.12} {ip:<2} {saddr:<16} {daddr:<16} {dport:<4}")
}

pub const HEADER: &str = "PID    COMM         IP SADDR            DADDR            DPORT";

/// The header with -L.
pub const LPORT_HEADER: &str = "PID    COMM         IP SADDR            LPORT  DADDR            DPORT";

/// bcc's -L line of the connector: "%-6d %-12.12s %-2d %-16s %-6d %-16s %-4d"
/// (our DPORT keeps the seed's width).
pub fn lport_line(pid: u32, ip: u8, saddr: &str, lport: u16, daddr: &str, dport: u16) -> String {
    format!("{pid:<6} {:<12.12} {ip:<2} {saddr:<16} {lport:<6} {daddr:<16} {dport:<4}", "connector")
}

/// The LPORT column of an -L line (bytes 40..46), which must be a number.
pub fn lport_of(line: &str) -> u16 {
    line.get(40..46)
        .and_then(|column| column.trim_end().parse().ok())
        .unwrap_or_else(|| panic!("LPORT of {line:?}"))
}

/// The -j line of the connector `pid` running as `uid` for one connect
/// (ip, saddr, daddr, dport), with `"lport"` where it is known.
pub fn json_line(
    uid: u32,
    pid: u32,
    (ip, saddr, daddr, dport): (u8, &str, &str, u16),
    lport: Option<u16>,
) -> String {
    let lport = lport.map(|port| format!(r#""lport":{port},"#)).unwrap_or_default();
    format!(
        r#"{{"uid":{uid},"pid":{pid},"comm":"connector","ip":{ip},"saddr":"{saddr}",{lport}"daddr":"{daddr}","dport":{dport}}}"#
    )
}

/// The `"lport"` of a -j line, if it has one (which must be a number).
pub fn json_lport(line: &str) -> Option<u16> {
    let (_, rest) = line.split_once(r#","lport":"#)?;
    let digits = rest.split(',').next().unwrap_or_default();
    Some(digits.parse().unwrap_or_else(|_| panic!("lport of {line:?}")))
}

/// What -c prints on stdout from start to SIGINT, for `rows` = (saddr,
/// daddr, dport, connects) in print order: bcc's banner, then after a blank
/// line `"%-25s %-25s %-20s %-10s"` rows under their header.
pub fn count_table(rows: &[(&str, &str, u16, u64)]) -> String {
    let mut text = format!(
        "Tracing connect ... Hit Ctrl-C to end\n\n{:<25} {:<25} {:<20} {:<10}\n",
        "LADDR", "RADDR", "RPORT", "CONNECTS"
    );
    for (saddr, daddr, dport, connects) in rows {
        text.push_str(&format!("{saddr:<25} {daddr:<25} {dport:<20} {connects:<10}\n"));
    }
    text
}

/// Mount points of tracefs in a mountinfo file.
pub fn tracefs_mounts(mountinfo_path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(mountinfo_path).unwrap();
    text.lines()
        .filter(|l| l.contains(" - tracefs "))
        .map(|l| l.split(' ').nth(4).unwrap().to_string())
        .collect()
}
