//! The tracers under test, as child processes: tcpconnect and bpftrace
//! running the equivalent tracepoint program.

use crate::Config;

/// The question name of the DNS load's queries (`dns`); the lines of `-d`
/// that show it prove the tracer saw the answers, and a tracer live at its
/// header keeps them (`Tracer::wait_header`).
pub const DNS_NAME: &str = "tcb-dns.example";
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// bpftrace's equivalent of tcpconnect's default output: the same
/// tracepoint, the same CLOSE -> SYN_SENT filter on TCP, the same columns.
/// (bpftrace's `%-12s` does not truncate COMM to 12 bytes; the bench's
/// COMM fits in 12 anyway.)
pub const BPFTRACE_SCRIPT: &str = r#"
tracepoint:sock:inet_sock_set_state
/args->oldstate == 7 && args->newstate == 2 && args->protocol == 6/
{
  if (args->family == 2) {
    printf("%-6d %-12s 4  %-16s %-16s %-4d\n", pid, comm,
           ntop(args->saddr), ntop(args->daddr), args->dport);
  } else {
    printf("%-6d %-12s 6  %-16s %-16s %-4d\n", pid, comm,
           ntop(args->saddr_v6), ntop(args->daddr_v6), args->dport);
  }
}
"#;

/// A port no bench connect goes to: `tcpconnect -P` with it filters every
/// event out in the kernel, so only the cost of the attached program stays.
const UNUSED_PORT: &str = "1";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// tcpconnect as a user runs it.
    Tcpconnect,
    /// tcpconnect -P 1: attached, every event dropped in the kernel.
    TcpconnectFiltered,
    /// tcpconnect with TCPCONNECT_RAW_TRACEPOINT=off: the perf tracepoint
    /// event, as on kernels without BTF or before 4.17.
    TcpconnectPerfTracepoint,
    /// tcpconnect with TCPCONNECT_BTF_TRACEPOINT=off: the raw tracepoint
    /// program (the socket and task read through helpers), as 4.17 to 5.10
    /// run it, instead of the BTF tracepoint program.
    TcpconnectRawTracepoint,
    /// tcpconnect with TCPCONNECT_TRANSPORT=perf: events through the
    /// per-CPU perf event arrays, as on kernels before 5.8, instead of the
    /// BPF ring buffer.
    TcpconnectPerfArrays,
    /// tcpconnect --result: every connect waits in the inflight map for its
    /// outcome (one more map update and delete, and the state change that
    /// ends the handshake looked up).
    TcpconnectResult,
    /// tcpconnect --ppid --container: each connect's parent and cgroup read
    /// in the kernel (a bigger event), its cgroup named by user space.
    TcpconnectIdentity,
    /// tcpconnect -d: DNS answers captured the default way (see
    /// `TCPCONNECT_DNS`).
    TcpconnectDns,
    /// tcpconnect -d with TCPCONNECT_DNS=syscalls: DNS answers taken as
    /// processes read them, at the syscall tracepoints of reads.
    TcpconnectDnsSyscalls,
    /// tcpconnect -d with TCPCONNECT_DNS=packet: DNS answers captured by a
    /// packet socket, which sees only its own network namespace.
    TcpconnectDnsPacket,
    /// bpftrace running `BPFTRACE_SCRIPT`.
    Bpftrace,
    /// `bench attach tp`: an empty program on the perf tracepoint event.
    EmptyTracepoint,
    /// `bench attach raw`: an empty program on the raw tracepoint.
    EmptyRawTracepoint,
    /// `bench attach ring`: on the raw tracepoint, each connect's 48 bytes
    /// through a ring buffer to a reader that discards them (the floor of
    /// any tool that delivers every connect).
    DeliveryFloor,
    /// `bench attach ring-per-cpu`: the same through a ring per CPU, each
    /// record stamped with the time.
    DeliveryFloorPerCpu,
    /// `bench attach array-per-cpu`: the same through a region per CPU of
    /// an mmapable array, written in place without a lock, read on a timer.
    DeliveryFloorArray,
    /// `bench attach none`: started and stopped like the others, attaches
    /// nothing (the control arm of the overhead measurement).
    Placebo,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Tcpconnect => "tcpconnect",
            Tool::TcpconnectFiltered => "tcpconnect -P 1",
            Tool::TcpconnectPerfTracepoint => "tcpconnect on the perf tracepoint event",
            Tool::TcpconnectRawTracepoint => "tcpconnect on the raw tracepoint",
            Tool::TcpconnectPerfArrays => "tcpconnect on the perf event arrays",
            Tool::TcpconnectResult => "tcpconnect --result",
            Tool::TcpconnectIdentity => "tcpconnect --ppid --container",
            Tool::TcpconnectDns => "tcpconnect -d",
            Tool::TcpconnectDnsSyscalls => "tcpconnect -d (TCPCONNECT_DNS=syscalls)",
            Tool::TcpconnectDnsPacket => "tcpconnect -d (TCPCONNECT_DNS=packet)",
            Tool::Bpftrace => "bpftrace",
            Tool::EmptyTracepoint => "empty program, tracepoint",
            Tool::EmptyRawTracepoint => "empty program, raw tracepoint",
            Tool::DeliveryFloor => "delivery alone, raw tracepoint",
            Tool::DeliveryFloorPerCpu => "delivery alone through per-CPU rings, raw tracepoint",
            Tool::DeliveryFloorArray => "delivery alone through a lock-free array, raw tracepoint",
            Tool::Placebo => "placebo",
        }
    }

    /// Live only once its header is printed: -d opens its DNS capture
    /// apart from the program `Tracer::wait_attached` looks for.
    pub fn live_at_header(self) -> bool {
        matches!(self, Tool::TcpconnectDns | Tool::TcpconnectDnsSyscalls | Tool::TcpconnectDnsPacket)
    }
}

/// Where the tracer's stdout goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sink {
    /// /dev/null.
    Null,
    /// A pipe the caller reads (`Tracer::stdout`).
    Pipe,
    /// A pipe nobody reads: a reader that has fallen behind (a paused
    /// pager, a script blocked on its own output). Closed before the tracer
    /// is stopped, so it ends at once (EPIPE) instead of after its exit's
    /// write limit.
    Stalled,
}

/// tracefs is mounted somewhere bpftrace looks.
fn tracefs_mounted() -> bool {
    fs::read_to_string("/proc/self/mountinfo")
        .map(|m| {
            m.lines().any(|l| {
                l.contains(" - tracefs ")
                    && (l.contains(" /sys/kernel/tracing ") || l.contains(" /sys/kernel/debug/tracing "))
            })
        })
        .unwrap_or(false)
}

fn bpftrace(script: &str) -> Command {
    if tracefs_mounted() {
        let mut c = Command::new("bpftrace");
        c.args(["-e", script]);
        return c;
    }
    // bpftrace needs tracefs mounted; tcpconnect mounts it in a private
    // mount namespace of its own when it is not. Do the same for bpftrace,
    // so the host's mounts never change. unshare and sh exec in turn: the
    // child's PID is bpftrace's.
    let mut c = Command::new("unshare");
    c.args([
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        "mount -t tracefs nodev /sys/kernel/tracing && exec \"$@\"",
        "sh",
        "bpftrace",
        "-e",
        script,
    ]);
    c
}

fn command(tool: Tool, config: &Config) -> Command {
    let mut c = match tool {
        Tool::Tcpconnect
        | Tool::TcpconnectFiltered
        | Tool::TcpconnectPerfTracepoint
        | Tool::TcpconnectRawTracepoint
        | Tool::TcpconnectPerfArrays
        | Tool::TcpconnectResult
        | Tool::TcpconnectIdentity
        | Tool::TcpconnectDns
        | Tool::TcpconnectDnsSyscalls
        | Tool::TcpconnectDnsPacket => Command::new(&config.tool),
        Tool::Bpftrace => return bpftrace(BPFTRACE_SCRIPT),
        Tool::EmptyTracepoint
        | Tool::EmptyRawTracepoint
        | Tool::DeliveryFloor
        | Tool::DeliveryFloorPerCpu
        | Tool::DeliveryFloorArray
        | Tool::Placebo => Command::new(&config.exe),
    };
    match tool {
        Tool::TcpconnectFiltered => c.args(["-P", UNUSED_PORT]),
        Tool::TcpconnectPerfTracepoint => c.env("TCPCONNECT_RAW_TRACEPOINT", "off"),
        Tool::TcpconnectRawTracepoint => c.env("TCPCONNECT_BTF_TRACEPOINT", "off"),
        Tool::TcpconnectPerfArrays => c.env("TCPCONNECT_TRANSPORT", "perf"),
        Tool::TcpconnectResult => c.arg("--result"),
        Tool::TcpconnectIdentity => c.args(["--ppid", "--container"]),
        Tool::TcpconnectDns => c.arg("-d"),
        Tool::TcpconnectDnsSyscalls => c.arg("-d").env("TCPCONNECT_DNS", "syscalls"),
        Tool::TcpconnectDnsPacket => c.arg("-d").env("TCPCONNECT_DNS", "packet"),
        Tool::EmptyTracepoint => c.args(["attach", "tp"]),
        Tool::EmptyRawTracepoint => c.args(["attach", "raw"]),
        Tool::DeliveryFloor => c.args(["attach", "ring"]),
        Tool::DeliveryFloorPerCpu => c.args(["attach", "ring-per-cpu"]),
        Tool::DeliveryFloorArray => c.args(["attach", "array-per-cpu"]),
        Tool::Placebo => c.args(["attach", "none"]),
        _ => &mut c,
    };
    c
}

/// A running tracer. Stopped (SIGINT, then harder) when dropped.
pub struct Tracer {
    pub tool: Tool,
    sink: Sink,
    child: Option<Child>,
    /// Its stdout with `Sink::Pipe`.
    pub stdout: Option<ChildStdout>,
    stderr: Option<JoinHandle<String>>,
    /// After `wait_header`: reads stdout to its end, keeping the lines
    /// that hold the needle.
    drain: Option<JoinHandle<Vec<String>>>,
}

/// How a tracer ended.
pub struct Stopped {
    pub status: Option<ExitStatus>,
    pub stderr: String,
    /// After `wait_header`: the lines of stdout that held its needle.
    pub matched: Vec<String>,
}

impl Stopped {
    /// The samples it said it lost on stderr: tcpconnect's (bcc's) `Possibly
    /// lost N samples`, bpftrace's `Lost N events`.
    pub fn lost(&self) -> u64 {
        self.stderr
            .lines()
            .filter_map(|line| {
                let line = line.trim();
                let n = line
                    .strip_prefix("Possibly lost ")
                    .and_then(|r| r.strip_suffix(" samples"))
                    .or_else(|| line.strip_prefix("Lost ").and_then(|r| r.strip_suffix(" events")))?;
                n.trim().parse::<u64>().ok()
            })
            .sum()
    }

    /// Ended on its own terms (exit status 0 after SIGINT).
    pub fn clean(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }
}

impl Tracer {
    /// Starts `tool` with its stdout to `sink`; stderr is collected.
    pub fn spawn(tool: Tool, config: &Config, sink: Sink) -> Tracer {
        let mut cmd = command(tool, config);
        cmd.stdin(Stdio::null()).stderr(Stdio::piped()).stdout(match sink {
            Sink::Null => Stdio::null(),
            Sink::Pipe | Sink::Stalled => Stdio::piped(),
        });
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("start {}: {e}", tool.name()));
        let stdout = child.stdout.take();
        let mut err = child.stderr.take().expect("piped stderr");
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            text
        });
        Tracer { tool, sink, child: Some(child), stdout, stderr: Some(stderr), drain: None }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Reads the first line of stdout (`Sink::Pipe`): tcpconnect's header,
    /// printed once the program is attached, or bpftrace's `Attaching 1
    /// probe...`, printed as it attaches. Returns it with the time it came.
    pub fn first_line(&mut self) -> (String, Instant) {
        let stdout = self.stdout.as_mut().expect("first_line needs Sink::Pipe");
        // Byte by byte: nothing past the line is consumed, no buffer to keep.
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while let Ok(1) = stdout.read(&mut byte) {
            if byte[0] == b'\n' {
                break;
            }
            line.push(byte[0]);
        }
        (String::from_utf8_lossy(&line).into_owned(), Instant::now())
    }

    /// Reads the first line of stdout (`Sink::Pipe`) and says whether it is
    /// tcpconnect's header, printed once it is live; from then on stdout is
    /// read to its end by a thread, which keeps the lines holding `needle`
    /// (`Stopped::matched`).
    pub fn wait_header(&mut self, needle: &'static str) -> bool {
        let (line, _) = self.first_line();
        let Some(stdout) = self.stdout.take() else { return false };
        self.drain = Some(std::thread::spawn(move || {
            BufReader::new(stdout).lines().map_while(Result::ok).filter(|l| l.contains(needle)).collect()
        }));
        line.starts_with("PID")
    }

    /// Waits until a BPF program of this process is attached to a perf
    /// event (tracepoint), whatever its stdout is: asks the kernel, for
    /// each perf event fd of the process, which program runs on it
    /// (BPF_TASK_FD_QUERY, what `bpftool perf` shows).
    pub fn wait_attached(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if child.try_wait().ok().flatten().is_some() {
                    return false;
                }
            }
            if has_attached_program(self.pid()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// CPU time of all its threads so far (schedstat: nanoseconds).
    pub fn cpu_ns(&self) -> u64 {
        let Ok(tasks) = fs::read_dir(format!("/proc/{}/task", self.pid())) else {
            return 0;
        };
        tasks
            .flatten()
            .filter_map(|t| fs::read_to_string(t.path().join("schedstat")).ok())
            .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .sum()
    }

    /// VmHWM (peak resident set) in KiB.
    pub fn vm_hwm_kib(&self) -> Option<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// SIGINT (how both are meant to be stopped), then SIGTERM and SIGKILL
    /// if it does not end within a few seconds.
    pub fn stop(mut self) -> Stopped {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Stopped {
        let Some(mut child) = self.child.take() else {
            return Stopped { status: None, stderr: String::new(), matched: Vec::new() };
        };
        if self.sink == Sink::Stalled {
            self.stdout = None;
        }
        let mut status = None;
        for (signal, patience) in [(libc::SIGINT, 5_000), (libc::SIGTERM, 2_000), (libc::SIGKILL, 5_000)] {
            let deadline = Instant::now() + Duration::from_millis(patience);
            let mut sent = 0u32;
            while Instant::now() < deadline {
                if let Ok(Some(s)) = child.try_wait() {
                    status = Some(s);
                    break;
                }
                // Again every 0.25 s: bpftrace ignores a SIGINT that comes
                // before its handler is in place, some time after it attached.
                if sent % 125 == 0 {
                    // SAFETY: kill(2) with the PID of our own, not yet reaped,
                    // child: the PID cannot have been reused.
                    unsafe { libc::kill(child.id() as libc::pid_t, signal) };
                }
                sent += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            if status.is_some() {
                if signal != libc::SIGINT {
                    eprintln!("bench: {} needed signal {signal} to stop", self.tool.name());
                }
                break;
            }
        }
        // Close our end of its stdout first: a blocked writer must not keep
        // the stderr reader waiting.
        self.stdout = None;
        let stderr = self.stderr.take().and_then(|h| h.join().ok()).unwrap_or_default();
        let matched = self.drain.take().and_then(|h| h.join().ok()).unwrap_or_default();
        Stopped { status, stderr, matched }
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

/// A line reader over a tracer's stdout pipe that counts event lines, and
/// those holding `needle`, optionally slowly (a `sleep` after each read of at most `chunk`
/// bytes) until told to hurry.
pub struct Consumer {
    handle: JoinHandle<(u64, u64)>,
    hurry: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Consumer {
    pub fn start(stdout: ChildStdout, needle: &'static [u8], chunk: usize, pause: Duration) -> Consumer {
        use std::sync::atomic::{AtomicBool, Ordering};
        let hurry = std::sync::Arc::new(AtomicBool::new(false));
        let flag = hurry.clone();
        let handle = std::thread::spawn(move || {
            let mut reader = BufReader::with_capacity(chunk, stdout);
            let (mut events, mut matching) = (0u64, 0u64);
            let mut line = Vec::new();
            let mut since_pause = 0usize;
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => since_pause += n,
                }
                // An event line starts with a number (PID, or TIME(s) with
                // -t); headers, banners and blank lines do not.
                let first = line.split(|b| b.is_ascii_whitespace()).find(|w| !w.is_empty());
                if first.is_some_and(|w| w.iter().all(u8::is_ascii_digit)) {
                    events += 1;
                    if line.windows(needle.len()).any(|w| w == needle) {
                        matching += 1;
                    }
                }
                if since_pause >= chunk && !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(pause);
                    since_pause = 0;
                }
            }
            (events, matching)
        });
        Consumer { handle, hurry }
    }

    /// Reads as fast as it can from now on.
    pub fn hurry(&self) {
        self.hurry.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// (event lines, event lines holding the needle), once the pipe is
    /// closed.
    pub fn finish(self) -> (u64, u64) {
        self.hurry();
        self.handle.join().unwrap_or_default()
    }
}

/// `union bpf_attr` for BPF_TASK_FD_QUERY.
#[repr(C)]
#[derive(Default)]
struct TaskFdQuery {
    pid: u32,
    fd: u32,
    flags: u32,
    buf_len: u32,
    buf: u64,
    prog_id: u32,
    fd_type: u32,
    probe_offset: u64,
    probe_addr: u64,
}
const BPF_TASK_FD_QUERY: libc::c_long = 20;

/// Whether a perf event (tracepoint) or a BPF link (raw tracepoint) of
/// `pid` has a BPF program attached.
pub fn has_attached_program(pid: u32) -> bool {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    dir.flatten().any(|entry| {
        let attachable = fs::read_link(entry.path()).is_ok_and(|t| {
            let t = t.to_string_lossy();
            t == "anon_inode:[perf_event]" || t == "anon_inode:bpf_link"
        });
        let fd = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok());
        match (attachable, fd) {
            (true, Some(fd)) => {
                let mut attr = TaskFdQuery { pid, fd, ..Default::default() };
                // SAFETY: attr is a valid, initialized BPF_TASK_FD_QUERY attr of
                // the size passed; buf is null with buf_len 0, so the kernel
                // writes only into attr's own output fields.
                let ret = unsafe {
                    libc::syscall(
                        libc::SYS_bpf,
                        BPF_TASK_FD_QUERY,
                        &mut attr as *mut TaskFdQuery,
                        std::mem::size_of::<TaskFdQuery>() as libc::c_uint,
                    )
                };
                ret == 0
            }
            _ => false,
        }
    })
}
