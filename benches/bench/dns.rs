//! What `-d` costs each received UDP datagram (issue 18), and the load that
//! measures it: `bench udp PORT (count N | seconds S)`, one process that
//! owns a server socket on 127.0.0.1:PORT and a client socket connected to
//! it, and per step sends a DNS query (44 bytes: one question, an EDNS OPT
//! record), receives it on the server, answers it (60 bytes: the question,
//! one A record, the OPT record) and receives the answer. Each step
//! receives two datagrams: the query, from an ephemeral port, and the
//! answer, from PORT. With PORT 53 the answer is one `-d` parses and
//! records, the query is not; with PORT 5353 neither is: what every other
//! UDP receive pays while `-d` runs.
//!
//! The section runs the load and the tracers in a private network
//! namespace of their own (only its lo, up; nothing else's traffic, and
//! port 53 free whatever the host runs). The capture by packet socket
//! sees only the namespace it was opened in, so the tracer must be in the
//! traffic's namespace for it; the capture in the kernel sees every
//! namespace, and is measured in the same place to compare like with like.

use crate::client::{self, Load, Work};
use crate::stats::median;
use crate::system::{fmt_ns, fmt_overhead, interleaved, paired, sized_loop, start_attached, LoopRun, Pair};
use crate::table::{Table, Verdict};
use crate::tracer::{Sink, Tool};
use crate::Config;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

/// The question name of the load's queries; the lines of `-d` that show it
/// prove the tracer saw the answers.
pub const NAME: &str = "tcb-dns.example";
/// The address the answers give for `NAME`: local in any namespace.
const ANSWER_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// Where DNS answers come from, and a port next to it that `-d` ignores
/// (mDNS's: as much a DNS message, but not from port 53).
const DNS_PORT: u16 = 53;
const OTHER_PORT: u16 = 5353;

/// `NAME` on the wire.
fn wire_name() -> Vec<u8> {
    let mut name = Vec::new();
    for label in NAME.split('.') {
        name.push(label.len() as u8);
        name.extend_from_slice(label.as_bytes());
    }
    name.push(0);
    name
}

/// The EDNS OPT record a resolver adds: root name, type 41, 1232-byte UDP
/// payload, no options.
const OPT_RECORD: [u8; 11] = [0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0];

/// A query for `NAME`, type A: RD set, one question, one additional record.
pub fn query() -> Vec<u8> {
    let mut msg = vec![0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
    msg.extend(wire_name());
    msg.extend([0, 1, 0, 1]);
    msg.extend(OPT_RECORD);
    msg
}

/// The answer to `query`: QR, RD and RA set, the question, one A record
/// (`ANSWER_ADDR`, a pointer to the question's name, TTL 60) and OPT.
pub fn answer() -> Vec<u8> {
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
}

impl Exchange {
    fn open(port: u16) -> std::io::Result<Exchange> {
        let server = UdpSocket::bind((Ipv4Addr::LOCALHOST, port))?;
        let client = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        client.connect((Ipv4Addr::LOCALHOST, port))?;
        // A datagram lost on lo (it should never be) fails one step, not the run.
        for socket in [&server, &client] {
            socket.set_read_timeout(Some(Duration::from_secs(1)))?;
        }
        Ok(Exchange { server, client, query: query(), answer: answer(), buf: vec![0; 512], id: 0 })
    }

    /// One query and its answer, each with the next ID. False if it failed.
    fn once(&mut self) -> bool {
        self.id = self.id.wrapping_add(1);
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
        matches!(self.client.recv(&mut self.buf), Ok(len) if len == self.answer.len())
    }
}

/// `bench udp PORT (count N | seconds S)`.
pub fn main(args: &[String]) {
    let usage = || -> ! { panic!("usage: bench udp PORT (count N | seconds S)") };
    let port: u16 = args.first().and_then(|p| p.parse().ok()).unwrap_or_else(|| usage());
    let work = client::parse_work(&args[1..]).unwrap_or_else(|| usage());
    client::set_comm("tcb-udp");
    let mut exchange =
        Exchange::open(port).unwrap_or_else(|e| panic!("bench udp: sockets on 127.0.0.1:{port}: {e}"));
    client::serve(work, || exchange.once());
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

/// Whether `tool` saw the load's answers as DNS answers: a few exchanges
/// from port 53 under it, then a connect to the address they gave, whose
/// line must show `NAME` as its QUERY.
fn sees_answers(config: &Config, tool: Tool) -> bool {
    let Some(tracer) = start_attached(config, tool, Sink::Null) else {
        return false;
    };
    client::Clients::spawn_load(&config.exe, Load::Udp(DNS_PORT), 1, Work::Count(100)).run();
    if let Ok(listener) = TcpListener::bind(SocketAddr::from((ANSWER_ADDR, 0))) {
        if let Ok(addr) = listener.local_addr() {
            let _ = TcpStream::connect(addr);
        }
    }
    // The rings are flushed every 100 ms.
    std::thread::sleep(Duration::from_millis(300));
    let stopped = tracer.stop();
    if stopped.matched.is_empty() {
        eprintln!(
            "bench: {} showed no connect with QUERY {NAME}; stderr: {}",
            tool.name(),
            stopped.stderr.trim()
        );
    }
    !stopped.matched.is_empty()
}

/// Per datagram (half an exchange): the median wall and CPU differences,
/// the median wall ratio and its 95 % CI, the tracer's CPU.
struct PerDatagram {
    wall_ns: f64,
    wall_ratio: f64,
    ci: (f64, f64),
    cpu_ns: f64,
    cpu_ratio: f64,
    tracer_ns: f64,
    runs: usize,
}

fn per_datagram(pairs: &[Pair]) -> PerDatagram {
    let (wd, wr, ci) = paired(pairs, |r| r.wall_ns);
    let (cd, cr, _) = paired(pairs, |r| r.cpu_ns);
    let tracer = median(&pairs.iter().map(|(on, _)| on.tracer_ns).collect::<Vec<_>>());
    PerDatagram {
        wall_ns: wd / 2.0,
        wall_ratio: wr,
        ci,
        cpu_ns: cd / 2.0,
        cpu_ratio: cr,
        tracer_ns: tracer / 2.0,
        runs: pairs.len(),
    }
}

impl PerDatagram {
    fn text(&self, base_wall: f64) -> String {
        format!(
            "wall {} of {}; CPU {} (tracer {:.0} ns)",
            fmt_overhead(self.wall_ns, self.wall_ratio),
            fmt_ns(base_wall),
            fmt_overhead(self.cpu_ns, self.cpu_ratio),
            self.tracer_ns
        )
    }

    fn ratio(&self) -> String {
        format!("{:.3} (95 % CI {:.3}–{:.3})", self.wall_ratio, self.ci.0, self.ci.1)
    }
}

/// One DNS answer alone: the port-53 exchange receives an answer and an
/// other datagram, the port-5353 exchange two others, so per round (the
/// same tracer for both) the answer costs the port-53 difference less half
/// the port-5353 one. The medians of that, (wall, CPU) in ns.
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
/// port-53 and the port-5353 exchange, in a private network namespace.
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
    let (long, short) = if config.quick { (2, 2) } else { (150, 40) };
    let arms = [(Tool::TcpconnectDns, long), (Tool::TcpconnectDnsPacket, long), (Tool::Tcpconnect, short)];
    for tool in [Tool::TcpconnectDns, Tool::TcpconnectDnsPacket] {
        if !sees_answers(config, tool) {
            eprintln!("bench: -d section skipped: {} does not see the load's DNS answers", tool.name());
            return;
        }
    }
    // Size a run to about 0.05 s untraced.
    let loops = [DNS_PORT, OTHER_PORT].map(|port| sized_loop(config, Load::Udp(port), 1, 0.05, 3000));
    crate::system::progress(&format!(
        "-d per UDP datagram, in a private network namespace: {long} rounds of tcpconnect -d and \
         tcpconnect -d on the packet socket, the first {short} also with tcpconnect without -d (rotating \
         order), each between untraced runs; {} exchanges from port {DNS_PORT} and {} from port {OTHER_PORT} per run",
        loops[0].n, loops[1].n
    ));
    let result = interleaved(config, &arms, &loops);
    let base: Vec<f64> = result
        .off
        .iter()
        .map(|runs| median(&runs.iter().map(|r| r.wall_ns).collect::<Vec<_>>()) / 2.0)
        .collect();
    let per = |arm: usize, li: usize| per_datagram(&result.pairs[arm][li]);
    let alone = |arm: usize| answer_alone(&result.pairs[arm][0], &result.pairs[arm][1]);
    for (arm, prefix, how) in [(0, "-d", ""), (1, "  -d on the packet socket", "TCPCONNECT_DNS=packet; ")] {
        let dns = per(arm, 0);
        table.row(
            &format!("{prefix}: per DNS answer datagram, {} runs", dns.runs),
            dns.text(base[0]),
            format!(
                "{how}untraced; ½ of an exchange with port {DNS_PORT}: the answer parsed and forwarded, the \
                 query not"
            ),
            dns.ratio(),
            "",
            Verdict::Info,
        );
        let other = per(arm, 1);
        table.row(
            &format!("{prefix}: per other UDP datagram, {} runs", other.runs),
            other.text(base[1]),
            format!("{how}untraced; ½ of an exchange with port {OTHER_PORT}: neither from port 53"),
            other.ratio(),
            "",
            Verdict::Info,
        );
        if arm == 0 {
            let ((w, c), (pw, pc)) = (alone(0), alone(1));
            table.row(
                "  -d: one DNS answer alone",
                format!("wall {w:+.0} ns; CPU {c:+.0} ns"),
                format!(
                    "per round, port-{DNS_PORT} exchange less ½ port-{OTHER_PORT} exchange; \
                     packet socket: wall {pw:+.0} ns; CPU {pc:+.0} ns"
                ),
                String::new(),
                "",
                Verdict::Info,
            );
        }
    }
    let (dns, other) = (per(2, 0), per(2, 1));
    table.row(
        &format!("  without -d: per UDP datagram, {} runs", dns.runs),
        format!(
            "port {DNS_PORT}: wall {} [{:+.1}, {:+.1}]; port {OTHER_PORT}: wall {} [{:+.1}, {:+.1}]",
            fmt_overhead(dns.wall_ns, dns.wall_ratio),
            (dns.ci.0 - 1.0) * 100.0,
            (dns.ci.1 - 1.0) * 100.0,
            fmt_overhead(other.wall_ns, other.wall_ratio),
            (other.ci.0 - 1.0) * 100.0,
            (other.ci.1 - 1.0) * 100.0,
        ),
        "tcpconnect as a user runs it: no program on UDP receives, nothing changes".to_owned(),
        String::new(),
        "",
        Verdict::Info,
    );
    if result.lost.iter().any(|&l| l > 0) {
        table.note(format!("note: during the -d runs the tracers reported {:?} lost samples", result.lost));
    }
}
