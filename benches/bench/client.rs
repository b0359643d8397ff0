//! The load: a tight loopback connect loop, one per process.
//!
//! Each client process owns its listener on 127.0.0.1 and, per connect,
//! does socket + connect + accept + close of both ends. Accepting in the
//! same process keeps the loop deterministic: the accept queue can never
//! overflow (an overflow drops the SYN and costs a 1 s retransmit). The
//! connecting end closes with SO_LINGER 0, i.e. with an RST, so no
//! TIME_WAIT sockets pile up and the ephemeral ports never run out however
//! many connects a run makes. (The `-d` section's UDP exchange, `bench udp`,
//! is in `dns` and speaks the same protocol through `serve`.)
//!
//! Protocol with the driver: the client prints `ready`, waits for one byte
//! on stdin (so several clients start together), runs, then prints
//! `done CONNECTS ELAPSED_NS CPU_NS FAILED` (CPU_NS: the process's CPU time over
//! the loop, user and system, which includes the BPF programs and the
//! loopback softirqs that run in its context).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// The task name of every connect the bench makes (12 bytes or fewer, so
/// tcpconnect's COMM column shows it whole).
pub const COMM: &str = "tcb-client";

/// How much a client does.
#[derive(Clone, Copy, Debug)]
pub enum Work {
    /// Exactly this many connects.
    Count(u64),
    /// As many connects as fit in this time.
    Duration(Duration),
}

/// What one client did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Done {
    /// Connects made (for the UDP load: exchanges).
    pub connects: u64,
    pub elapsed: Duration,
    pub cpu: Duration,
    /// connect(2) calls that failed (not in `connects`).
    pub failed: u64,
}

/// CPU time of this process so far.
fn process_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec into `ts`, which is valid.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Sets the calling thread's task name (what tracers print as COMM).
pub fn set_comm(name: &str) {
    let mut bytes = name.as_bytes().to_vec();
    bytes.push(0);
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes;
    // `bytes` is NUL-terminated and outlives the call.
    unsafe { libc::prctl(libc::PR_SET_NAME, bytes.as_ptr() as libc::c_ulong, 0, 0, 0) };
}

/// Pins the calling thread to `cpu`.
pub fn pin_to_cpu(cpu: usize) {
    // SAFETY: cpu_set_t is plain data, CPU_ZERO/CPU_SET write inside it, and
    // sched_setaffinity reads exactly size_of::<cpu_set_t>() bytes of it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// SO_LINGER {on, 0}: close() sends an RST and leaves no TIME_WAIT.
fn linger_zero(stream: &TcpStream) {
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: the fd is open for the stream's lifetime; the option value is a
    // valid `struct linger` of the size passed, which the kernel copies.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// One loop iteration: connect, accept, close both. False if it failed.
pub fn connect_once(listener: &TcpListener, addr: SocketAddr) -> bool {
    let Ok(stream) = TcpStream::connect(addr) else {
        return false;
    };
    linger_zero(&stream);
    let accepted = listener.accept();
    drop(stream);
    drop(accepted);
    true
}

fn tally(ok: bool, connects: &mut u64, failed: &mut u64) {
    if ok {
        *connects += 1;
    } else {
        *failed += 1;
    }
}

/// `count N` or `seconds S`, the end of a load process's arguments.
pub fn parse_work(args: &[String]) -> Option<Work> {
    match args {
        [kind, n] if kind == "count" => n.parse().ok().map(Work::Count),
        [kind, s] if kind == "seconds" => s.parse().ok().map(|s| Work::Duration(Duration::from_secs_f64(s))),
        _ => None,
    }
}

/// The protocol of a load process with the driver: prints `ready`, waits
/// for the go, calls `step` (one connect, or one exchange: false if it
/// failed) until `work` is done, and prints what it did.
pub fn serve(work: Work, mut step: impl FnMut() -> bool) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").and_then(|()| out.flush()).expect("stdout");
    let mut go = [0u8; 1];
    let _ = std::io::stdin().read(&mut go);

    let cpu_start = process_cpu_time();
    let start = Instant::now();
    let (mut connects, mut failed) = (0u64, 0u64);
    match work {
        Work::Count(n) => {
            for _ in 0..n {
                tally(step(), &mut connects, &mut failed);
            }
        }
        Work::Duration(limit) => {
            let deadline = start + limit;
            // Look at the clock every 32 steps: cheap next to a connect.
            'outer: loop {
                for _ in 0..32 {
                    tally(step(), &mut connects, &mut failed);
                }
                if Instant::now() >= deadline {
                    break 'outer;
                }
            }
        }
    }
    let elapsed = start.elapsed();
    let cpu = process_cpu_time().saturating_sub(cpu_start);
    writeln!(out, "done {connects} {} {} {failed}", elapsed.as_nanos(), cpu.as_nanos())
        .and_then(|()| out.flush())
        .expect("stdout");
}

/// `bench client (count N | seconds S)`.
pub fn main(args: &[String]) {
    let work = parse_work(args).unwrap_or_else(|| panic!("usage: bench client (count N | seconds S)"));
    set_comm(COMM);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback listener");
    let addr = listener.local_addr().expect("listener address");
    serve(work, || connect_once(&listener, addr));
}

/// What a load process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Load {
    /// `bench client`: the connect loop.
    Connect,
    /// `bench udp PORT`: the DNS-shaped UDP exchange with a server on
    /// 127.0.0.1:PORT (see `dns`).
    Udp(u16),
    /// `bench syscall`: one getppid(2) a step (see `dns`).
    Syscall,
    /// `bench read`: one 64-byte read(2) of /dev/zero a step (see `dns`).
    Read,
}

/// Client processes, started and waiting for the go.
pub struct Clients {
    children: Vec<(Child, ChildStdin, BufReader<ChildStdout>)>,
}

impl Clients {
    /// Starts `count` connect clients of `exe` doing `work` each, and waits
    /// until all are ready.
    pub fn spawn(exe: &Path, count: usize, work: Work) -> Clients {
        Clients::spawn_load(exe, Load::Connect, count, work)
    }

    /// Starts `count` load processes of `exe` running `load`, doing `work`
    /// each, and waits until all are ready.
    pub fn spawn_load(exe: &Path, load: Load, count: usize, work: Work) -> Clients {
        let (kind, amount) = match work {
            Work::Count(n) => ("count", n.to_string()),
            Work::Duration(d) => ("seconds", d.as_secs_f64().to_string()),
        };
        let load_args = match load {
            Load::Connect => vec!["client".to_owned()],
            Load::Udp(port) => vec!["udp".to_owned(), port.to_string()],
            Load::Syscall => vec!["syscall".to_owned()],
            Load::Read => vec!["read".to_owned()],
        };
        let mut children = Vec::new();
        for _ in 0..count {
            let mut child = Command::new(exe)
                .args(&load_args)
                .args([kind, &amount])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("start a bench client");
            let stdin = child.stdin.take().expect("piped stdin");
            let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
            let mut line = String::new();
            stdout.read_line(&mut line).expect("client ready");
            assert_eq!(line.trim(), "ready", "bench client did not start");
            children.push((child, stdin, stdout));
        }
        Clients { children }
    }

    /// Lets them all go and waits for them: what each did.
    pub fn run(self) -> Vec<Done> {
        let mut running = Vec::new();
        for (child, mut stdin, stdout) in self.children {
            stdin.write_all(b"g").expect("start a client");
            running.push((child, stdout));
        }
        running
            .into_iter()
            .map(|(mut child, mut stdout)| {
                let mut line = String::new();
                stdout.read_line(&mut line).expect("client result");
                child.wait().expect("client exit");
                let mut fields = line.split_whitespace().skip(1).map(|f| f.parse::<u64>().unwrap_or(0));
                let connects = fields.next().unwrap_or(0);
                let elapsed = Duration::from_nanos(fields.next().unwrap_or(0));
                let cpu = Duration::from_nanos(fields.next().unwrap_or(0));
                let failed = fields.next().unwrap_or(0);
                Done { connects, elapsed, cpu, failed }
            })
            .collect()
    }
}

/// Runs `count` clients doing `work` each; what each did.
pub fn run_clients(exe: &Path, count: usize, work: Work) -> Vec<Done> {
    Clients::spawn(exe, count, work).run()
}

/// One connect from each CPU in turn, named like the clients. A
/// PERF_RECORD_LOST is only written when the kernel next manages to write
/// into that CPU's ring, so after a load this makes every ring report what
/// it dropped. Returns the connects made.
pub fn connect_on_each_cpu(cpus: usize) -> u64 {
    std::thread::spawn(move || {
        set_comm(COMM);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback listener");
        let addr = listener.local_addr().expect("listener address");
        let mut made = 0;
        for cpu in 0..cpus {
            pin_to_cpu(cpu);
            made += u64::from(connect_once(&listener, addr));
        }
        made
    })
    .join()
    .expect("flush thread")
}
