//! What `-d` costs each received UDP datagram (issue 18), and the load that
//! measures it: `bench udp PORT (count N | seconds S)`, one process that
//! owns a server socket on 127.0.0.1:PORT and a client socket connected to
//! it, and per step sends a DNS query (44 bytes: one question, an EDNS OPT
//! record), receives it on the server, answers it (60 bytes: the question,
//! one A record, the OPT record) and receives the answer, both with
//! recvfrom(2) and the sender's address, as glibc's and musl's resolvers
//! read. Each step receives two datagrams: the query, from an ephemeral
//! port, and the answer, from PORT. With PORT 53 the answer is one `-d`
//! copies to user space, parses and records, the query is not; with PORT
//! 5353 neither is: what every other UDP receive pays while `-d` runs.
//!
//! `-d` in the kernel (the default where BTF is) hands answers to user
//! space through a ring read every 100 ms, never woken for: a flood of
//! answers overflows it, and what it drops costs user space nothing. So
//! the port-53 exchange runs in bursts the ring holds whole (checked
//! before the rounds), and the tracer's CPU time is counted until it has
//! read them; the port-5353 one runs for 0.05 s.
//!
//! `-d` at the syscall tracepoints (TCPCONNECT_DNS=syscalls, the fallback)
//! reads answers where processes read them, and while one is enabled every
//! syscall of every process takes the kernel's traced path: `bench syscall
//! (count N | seconds S)`, one getppid(2) a step, measures what that costs
//! a syscall no program looks at, and `bench read`, one 64-byte read(2) of
//! /dev/zero a step, what it costs a read that is not from a socket. The
//! default hook, a cgroup_skb program on delivered packets, must leave
//! both as they are untraced.
//!
//! The section runs the load and the tracers in a private network
//! namespace of their own (only its lo, up; nothing else's traffic, and
//! port 53 free whatever the host runs). The capture by packet socket
//! sees only the namespace it was opened in, so the tracer must be in the
//! traffic's namespace for it; the capture in the kernel sees every
//! namespace, and is measured in the same place to compare like with like.

use crate::client::{self, Load, Work};
use crate::stats::median;
use crate::system::{
    fmt_ns, fmt_overhead, interleaved, paired, sized_loop, start_attached, Loop, LoopRun, Pair,
};
use crate::table::{Table, Verdict};
use crate::tracer::{Sink, Tool, DNS_NAME};
use crate::Config;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

/// The address the answers give for `DNS_NAME`: local in any namespace.
const ANSWER_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// The address the last answer of a `count N` load gives instead: a
/// connect to it shows `DNS_NAME` only if that answer reached the tracer.
const LAST_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
/// Exchanges from port 53 per run: a burst the tracer's DNS ring holds.
const BURST: u64 = 1000;
/// Bursts per traced session (pooled: a burst is short, so noisy).
const BURSTS: usize = 3;
/// How long the tracer's CPU time is still counted after a burst: longer
/// than the 100 ms between two reads of its DNS ring.
const SETTLE: Duration = Duration::from_millis(150);
/// Where DNS answers come from, and a port next to it that `-d` ignores
/// (mDNS's: as much a DNS message, but not from port 53).
const DNS_PORT: u16 = 53;
const OTHER_PORT: u16 = 5353;

/// `DNS_NAME` on the wire.
fn wire_name() -> Vec<u8> {
    let mut name = Vec::new();
    for label in DNS_NAME.split('.') {
        name.push(label.len() as u8);
        name.extend_from_slice(label.as_bytes());
    }
    name.push(0);
    name
}

/// The EDNS OPT record a resolver adds: root name, type 41, 1232-byte UDP
/// payload, no options.
const OPT_RECORD: [u8; 11] = [0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0];

/// A query for `DNS_NAME`, type A: RD set, one question, one additional record.
fn query() -> Vec<u8> {
    let mut msg = vec![0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
    msg.extend(wire_name());
    msg.extend([0, 1, 0, 1]);
    msg.extend(OPT_RECORD);
    msg
}

/// The answer to `query`: QR, RD and RA set, the question, one A record
/// (`ANSWER_ADDR`, a pointer to the question's name, TTL 60) and OPT.
fn answer() -> Vec<u8> {
    let mut msg = vec![0, 0, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 1];
    msg.extend(wire_name());
    msg.extend([0, 1, 0, 1]);
    msg.extend([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
    msg.extend(ANSWER_ADDR.octets());
    msg.extend(OPT_RECORD);
    msg
}

/// The two ends of the exchange and its messages.
struct Exchange {
    server: UdpSocket,
    client: UdpSocket,
    query: Vec<u8>,
    answer: Vec<u8>,
    buf: Vec<u8>,
    id: u16,
    /// Steps made, and the step whose answer gives `LAST_ADDR`.
    steps: u64,
    last: Option<u64>,
}

impl Exchange {
    fn open(port: u16, last: Option<u64>) -> std::io::Result<Exchange> {
        let server = UdpSocket::bind((Ipv4Addr::LOCALHOST, port))?;
        let client = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        client.connect((Ipv4Addr::LOCALHOST, port))?;
        // A datagram lost on lo (it should never be) fails one step, not the run.
        for socket in [&server, &client] {
            socket.set_read_timeout(Some(Duration::from_secs(1)))?;
        }
        Ok(Exchange {
            server,
            client,
            query: query(),
            answer: answer(),
            buf: vec![0; 512],
            id: 0,
            steps: 0,
            last,
        })
    }

    /// One query and its answer, each with the next ID. False if it failed.
    fn once(&mut self) -> bool {
        self.id = self.id.wrapping_add(1);
        self.steps += 1;
        if Some(self.steps) == self.last {
            // The A record's address, before the OPT record.
            let at = self.answer.len() - OPT_RECORD.len() - 4;
            self.answer[at..at + 4].copy_from_slice(&LAST_ADDR.octets());
        }
        self.query[..2].copy_from_slice(&self.id.to_be_bytes());
        if self.client.send(&self.query).is_err() {
            return false;
        }
        let Ok((len, from)) = self.server.recv_from(&mut self.buf) else {
            return false;
        };
        if len != self.query.len() {
            return false;
        }
        self.answer[..2].copy_from_slice(&self.buf[..2]);
        if self.server.send_to(&self.answer, from).is_err() {
            return false;
        }
        // With the sender's address, as glibc's and musl's resolvers read
        // (`recvfrom`): what tells the kernel capture an answer from port 53.
        matches!(self.client.recv_from(&mut self.buf), Ok((len, _)) if len == self.answer.len())
    }
}

/// `bench udp PORT (count N | seconds S)`.
pub fn main(args: &[String]) {
    let usage = || -> ! { panic!("usage: bench udp PORT (count N | seconds S)") };
    let port: u16 = args.first().and_then(|p| p.parse().ok()).unwrap_or_else(|| usage());
    let work = client::parse_work(&args[1..]).unwrap_or_else(|| usage());
    client::set_comm("tcb-udp");
    let last = match work {
        Work::Count(n) => Some(n),
        Work::Duration(_) => None,
    };
    let mut exchange =
        Exchange::open(port, last).unwrap_or_else(|e| panic!("bench udp: sockets on 127.0.0.1:{port}: {e}"));
    client::serve(work, || exchange.once());
}

/// `bench syscall (count N | seconds S)`.
pub fn syscall_main(args: &[String]) {
    let work =
        client::parse_work(args).unwrap_or_else(|| panic!("usage: bench syscall (count N | seconds S)"));
    client::set_comm("tcb-syscall");
    client::serve(work, || {
        // SAFETY: getppid takes no arguments and cannot fail.
        unsafe { libc::syscall(libc::SYS_getppid) };
        true
    });
}

/// `bench read (count N | seconds S)`: one 64-byte read(2) of /dev/zero a
/// step, the read every program on sys_enter_read/sys_exit_read looks at.
pub fn read_main(args: &[String]) {
    let work = client::parse_work(args).unwrap_or_else(|| panic!("usage: bench read (count N | seconds S)"));
    client::set_comm("tcb-read");
    let zero = std::fs::File::open("/dev/zero").expect("open /dev/zero");
    let fd = std::os::fd::AsRawFd::as_raw_fd(&zero);
    let mut buf = [0u8; 64];
    client::serve(work, || {
        // SAFETY: `buf` is writable for its 64 bytes, and `fd` stays open
        // (`zero` lives as long as this closure's caller).
        unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) == 64 }
    });
}

/// Moves the calling thread (and the processes it starts from now on) into
/// a new network namespace, and brings its lo up.
fn enter_private_netns() -> Result<(), String> {
    // SAFETY: unshare takes only flags; CLONE_NEWNET changes the calling
    // thread's namespace alone, which a multithreaded process may do.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(format!("unshare(CLONE_NEWNET): {}", std::io::Error::last_os_error()));
    }
    // SAFETY: socket takes no pointers; the fd is closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(format!("socket: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: ifreq is plain data; "lo" and its NUL fit in ifr_name; both
    // ioctls read and write one ifreq, which lives across the calls; fd is
    // ours and closed once.
    let result = unsafe {
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (dst, src) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        let ok = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut ifr) == 0 && {
            ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            libc::ioctl(fd, libc::SIOCSIFFLAGS, &ifr) == 0
        };
        let error = std::io::Error::last_os_error();
        libc::close(fd);
        if ok {
            Ok(())
        } else {
            Err(format!("bring lo up: {error}"))
        }
    };
    result
}

/// Whether `tool` saw a burst of the load's answers whole, as DNS answers:
/// one burst from port 53 under it, then a connect to the address its last
/// answer gave, whose line must show `DNS_NAME` as its QUERY.
fn sees_answers(config: &Config, tool: Tool) -> bool {
    let Some(tracer) = start_attached(config, tool, Sink::Null) else {
        return false;
    };
    client::Clients::spawn_load(&config.exe, Load::Udp(DNS_PORT), 1, Work::Count(BURST)).run();
    std::thread::sleep(SETTLE);
    if let Ok(listener) = TcpListener::bind(SocketAddr::from((LAST_ADDR, 0))) {
        if let Ok(addr) = listener.local_addr() {
            let _ = TcpStream::connect(addr);
        }
    }
    // The event rings are read every 100 ms.
    std::thread::sleep(SETTLE);
    let stopped = tracer.stop();
    if stopped.matched.is_empty() {
        eprintln!(
            "bench: {} showed no connect with QUERY {DNS_NAME} after a burst of {BURST} answers; stderr: {}",
            tool.name(),
            stopped.stderr.trim()
        );
    }
    !stopped.matched.is_empty()
}

/// Per datagram (half an exchange) or per syscall, over the pairs of one
/// arm and loop: the median differences and ratios of wall and CPU time with
/// the 95 % CI of each ratio, and the tracer's part of the CPU time.
struct PerStep {
    wall_ns: f64,
    wall_ratio: f64,
    wall_ci: (f64, f64),
    cpu_ns: f64,
    cpu_ratio: f64,
    cpu_ci: (f64, f64),
    tracer_ns: f64,
    runs: usize,
}

/// Per datagram: an exchange receives two.
fn per_datagram(pairs: &[Pair]) -> PerStep {
    per_step(pairs, 2.0)
}

/// Per one of the `parts` of a step.
fn per_step(pairs: &[Pair], parts: f64) -> PerStep {
    let (wall_ns, wall_ratio, wall_ci) = paired(pairs, |r| r.wall_ns);
    let (cpu_ns, cpu_ratio, cpu_ci) = paired(pairs, |r| r.cpu_ns);
    let tracer_ns = median(&pairs.iter().map(|(on, _)| on.tracer_ns).collect::<Vec<_>>());
    PerStep {
        wall_ns: wall_ns / parts,
        wall_ratio,
        wall_ci,
        cpu_ns: cpu_ns / parts,
        cpu_ratio,
        cpu_ci,
        tracer_ns: tracer_ns / parts,
        runs: pairs.len(),
    }
}

/// ` [-1.2, +3.4]`: a ratio's CI as percentages, if there is one.
fn fmt_ci((lo, hi): (f64, f64)) -> String {
    if lo.is_finite() {
        format!(" [{:+.1}, {:+.1}]", (lo - 1.0) * 100.0, (hi - 1.0) * 100.0)
    } else {
        String::new()
    }
}

impl PerStep {
    fn text(&self, base_wall: f64) -> String {
        format!(
            "wall {} of {}; CPU {}{} (tracer {:.0} ns)",
            fmt_overhead(self.wall_ns, self.wall_ratio),
            fmt_ns(base_wall),
            fmt_overhead(self.cpu_ns, self.cpu_ratio),
            fmt_ci(self.cpu_ci),
            self.tracer_ns
        )
    }

    fn wall(&self) -> String {
        format!("wall {}{}", fmt_overhead(self.wall_ns, self.wall_ratio), fmt_ci(self.wall_ci))
    }

    fn ratio(&self) -> String {
        format!("{:.3} (95 % CI {:.3}–{:.3})", self.wall_ratio, self.wall_ci.0, self.wall_ci.1)
    }
}

/// One DNS answer alone: the port-53 exchange receives an answer and an
/// other datagram, the port-5353 exchange two others, so per session (the
/// same tracer for both) the answer costs the port-53 difference less half
/// the port-5353 one. `dns[i]` and `other[i]` come from the same session.
/// The medians of that, (wall, CPU) in ns.
fn answer_alone(dns: &[Pair], other: &[Pair]) -> (f64, f64) {
    let alone = |metric: fn(&LoopRun) -> f64| {
        let diffs: Vec<f64> = dns
            .iter()
            .zip(other)
            .map(|((on53, off53), (on, off))| {
                (metric(on53) - metric(off53)) - (metric(on) - metric(off)) / 2.0
            })
            .collect();
        median(&diffs)
    };
    (alone(|r| r.wall_ns), alone(|r| r.cpu_ns))
}

/// The cost of `-d` per received UDP datagram (issue 18), by
/// `system::interleaved`: tcpconnect -d and tcpconnect -d on the packet
/// socket (150 rounds each), and for 40 rounds tcpconnect without -d (which
/// must cost a UDP receive nothing), each between untraced runs of the
/// port-53 and the port-5353 exchange and the getppid loop, in a private
/// network namespace.
pub fn datagram_cost(config: &Config, table: &mut Table) {
    std::thread::scope(|scope| {
        scope
            .spawn(|| match enter_private_netns() {
                Ok(()) => in_private_netns(config, table),
                Err(e) => eprintln!("bench: -d section skipped: {e}"),
            })
            .join()
            .expect("the -d section's thread")
    });
}

fn in_private_netns(config: &Config, table: &mut Table) {
    let (long, short) = if config.quick { (2, 2) } else { (100, 40) };
    let kernel_hooks = [Tool::TcpconnectDns, Tool::TcpconnectDnsSyscalls, Tool::TcpconnectDnsPacket];
    let arms = [
        (Tool::TcpconnectDns, long),
        (Tool::TcpconnectDnsSyscalls, long),
        (Tool::TcpconnectDnsPacket, long),
        (Tool::Tcpconnect, short),
    ]
    .map(|(tool, rounds)| (tool, Sink::Null, rounds));
    for tool in kernel_hooks {
        if !sees_answers(config, tool) {
            eprintln!("bench: -d section skipped: {} did not see a burst of answers whole", tool.name());
            return;
        }
    }
    // BURSTS bursts from port 53 (the DNS ring holds one: checked above),
    // then 0.05 s untraced from port 5353, of getppid and of read.
    let burst = Loop { load: Load::Udp(DNS_PORT), procs: 1, n: BURST, settle: SETTLE };
    let mut loops = vec![burst; BURSTS];
    loops.push(sized_loop(config, Load::Udp(OTHER_PORT), 1, 0.05, 3000));
    loops.push(sized_loop(config, Load::Syscall, 1, 0.05, 30_000));
    loops.push(sized_loop(config, Load::Read, 1, 0.05, 30_000));
    let (other_loop, syscall_loop, read_loop) = (BURSTS, BURSTS + 1, BURSTS + 2);
    crate::system::progress(&format!(
        "-d per UDP datagram and per syscall, in a private network namespace: {long} rounds of \
         tcpconnect -d on its default hook, at the syscall tracepoints and on the packet socket, the \
         first {short} also with tcpconnect without -d (rotating order), each between untraced runs; \
         per run {BURSTS} bursts of {BURST} exchanges from port {DNS_PORT} (the tracer's CPU counted \
         {} ms past each), {} exchanges from port {OTHER_PORT}, {} getppid and {} 64-byte reads of \
         /dev/zero",
        SETTLE.as_millis(),
        loops[other_loop].n,
        loops[syscall_loop].n,
        loops[read_loop].n,
    ));
    let result = interleaved(config, &arms, &loops, None);
    // Per arm: the bursts' pairs pooled, and the port-5353 pairs (each
    // repeated for the bursts of its session, for `answer_alone`).
    let dns_pairs = |arm: usize| -> Vec<Pair> {
        let per_loop = &result.pairs[arm];
        (0..per_loop[0].len()).flat_map(|i| (0..BURSTS).map(move |b| per_loop[b][i])).collect()
    };
    let other_pairs = |arm: usize| -> &[Pair] { &result.pairs[arm][other_loop] };
    let median_wall = |runs: &[LoopRun]| median(&runs.iter().map(|r| r.wall_ns).collect::<Vec<_>>());
    let dns_base = median_wall(&result.off[..BURSTS].concat()) / 2.0;
    let other_base = median_wall(&result.off[other_loop]) / 2.0;
    let syscall_base = median_wall(&result.off[syscall_loop]);
    let read_base = median_wall(&result.off[read_loop]);
    let calls = |arm: usize, lp: usize| per_step(&result.pairs[arm][lp], 1.0);
    let alone = |arm: usize| {
        let other: Vec<Pair> = other_pairs(arm).iter().flat_map(|p| [*p; BURSTS]).collect();
        answer_alone(&dns_pairs(arm), &other)
    };
    let names = [
        ("-d", "the default hook (here the cgroup_skb program); "),
        ("  -d at the syscall tracepoints", "TCPCONNECT_DNS=syscalls; "),
        ("  -d on the packet socket", "TCPCONNECT_DNS=packet; "),
    ];
    for (arm, (prefix, how)) in names.into_iter().enumerate() {
        let dns = per_datagram(&dns_pairs(arm));
        table.row(
            &format!("{prefix}: per DNS answer datagram, {} runs of {BURSTS} bursts", dns.runs / BURSTS),
            dns.text(dns_base),
            format!(
                "{how}untraced; ½ of an exchange with port {DNS_PORT}, in bursts of {BURST}: the answer \
                 copied out and parsed, the query not"
            ),
            dns.ratio(),
            "",
            Verdict::Info,
        );
        let other = per_datagram(other_pairs(arm));
        table.row(
            &format!("{prefix}: per other UDP datagram, {} runs", other.runs),
            other.text(other_base),
            format!("{how}untraced; ½ of an exchange with port {OTHER_PORT}: neither from port 53"),
            other.ratio(),
            "",
            Verdict::Info,
        );
        if arm < 2 {
            let (w, c) = alone(arm);
            table.row(
                &format!("{prefix}: one DNS answer alone"),
                format!("wall {w:+.0} ns; CPU {c:+.0} ns"),
                format!("{how}per session, port-{DNS_PORT} exchange less ½ port-{OTHER_PORT} exchange"),
                String::new(),
                if arm == 0 { "≤ 1 µs" } else { "" },
                if arm == 0 { crate::system::verdict(w <= 1000.0) } else { Verdict::Info },
            );
        }
        for (lp, base, call, what) in [
            (syscall_loop, syscall_base, "getppid(2)", "a syscall no program looks at"),
            (read_loop, read_base, "read(2)", "64 bytes of /dev/zero, not from a socket"),
        ] {
            let per = calls(arm, lp);
            let what = format!("{call}, {what}");
            table.row(
                &format!("{prefix}: per {call}, {} runs", per.runs),
                per.text(base),
                format!("{how}untraced; {what}, of every process on the host"),
                per.ratio(),
                if arm == 0 { "≤ 2 %" } else { "" },
                if arm == 0 { crate::system::verdict(per.wall_ratio <= 1.02) } else { Verdict::Info },
            );
        }
    }
    let (dns, other) = (per_datagram(&dns_pairs(3)), per_datagram(other_pairs(3)));
    let (getppid, read) = (calls(3, syscall_loop), calls(3, read_loop));
    table.row(
        &format!("  without -d: per UDP datagram and syscall, {} runs", other.runs),
        format!(
            "port {DNS_PORT}: {}; port {OTHER_PORT}: {}; getppid: {}; read: {}",
            dns.wall(),
            other.wall(),
            getppid.wall(),
            read.wall()
        ),
        "tcpconnect as a user runs it: no program on UDP receives or syscalls, nothing changes".to_owned(),
        String::new(),
        "",
        Verdict::Info,
    );
    if result.lost.iter().any(|&l| l > 0) {
        table.note(format!("note: during the -d runs the tracers reported {:?} lost samples", result.lost));
    }
}
