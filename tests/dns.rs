//! `-d/--dns` against the real kernel: a DNS server and its clients on
//! loopback, the DnsWatcher capturing the answers with its packet socket and
//! classic BPF filter. Needs root (CAP_NET_RAW for the socket, CAP_SYS_ADMIN
//! for the namespace).
//!
//! Each test runs in a network namespace of its own: port 53 is free there
//! whatever the host runs, and the capture sees only the test's packets, so
//! counts are exact. unshare(CLONE_NEWNET) moves only the calling thread, so
//! the test body runs on a thread made for it; threads it spawns (the
//! servers) and processes it runs (`ip`) start in its namespace, which the
//! tests check rather than assume.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::thread::JoinHandle;
use std::time::Duration;
use tcpconnect::dns::packet_filter::dns_payload;
use tcpconnect::dns::{DnsCounters, DnsWatcher};
use tcpconnect::sys::packet::{clock_monotonic_ns, PacketSocket, SockFilter};

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const TYPE_CNAME: u16 = 5;
const MS: u64 = 1_000_000;
const PACKET_HOST: u8 = 0;
const PACKET_OUTGOING: u8 = 4;
const TIMEOUT: Duration = Duration::from_secs(5);

fn server_v4() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 53))
}

fn server_v6() -> SocketAddr {
    SocketAddr::from((Ipv6Addr::LOCALHOST, 53))
}

fn have_root(test: &str) -> bool {
    if tcpconnect::sys::process::geteuid() == 0 {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test}: needs root (a packet socket and a network namespace), and CI must run as root");
    }
    eprintln!("skipping {test}: needs root for a packet socket (CAP_NET_RAW) and a network namespace");
    false
}

fn this_threads_netns() -> PathBuf {
    std::fs::read_link("/proc/thread-self/ns/net").expect("read /proc/thread-self/ns/net")
}

/// Runs `body` on a new thread moved into a new network namespace with lo up.
fn in_private_netns<T: Send + 'static>(body: impl FnOnce() -> T + Send + 'static) -> T {
    let outer = this_threads_netns();
    let host = outer.clone();
    let thread = std::thread::spawn(move || {
        // SAFETY: unshare only takes flags; CLONE_NEWNET affects just this
        // thread, which ends with the test.
        let ret = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(ret, 0, "unshare(CLONE_NEWNET): {}", io::Error::last_os_error());
        assert_ne!(this_threads_netns(), host, "the thread has a namespace of its own");
        let status =
            Command::new("ip").args(["link", "set", "lo", "up"]).status().expect("run ip (iproute2)");
        assert!(status.success(), "ip link set lo up: {status}");
        body()
    });
    let result = match thread.join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    assert_eq!(this_threads_netns(), outer, "the test's own thread never moved");
    result
}

fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut msg = id.to_be_bytes().to_vec();
    msg.extend([0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]); // RD; one question
    push_name(&mut msg, name);
    msg.extend(qtype.to_be_bytes());
    msg.extend(1u16.to_be_bytes()); // IN
    msg
}

fn push_name(msg: &mut Vec<u8>, name: &str) {
    for label in name.split('.') {
        msg.push(label.len() as u8);
        msg.extend(label.as_bytes());
    }
    msg.push(0);
}

fn push_record(msg: &mut Vec<u8>, owner_offset: usize, rtype: u16, rdata: &[u8]) {
    msg.extend((0xc000 | owner_offset as u16).to_be_bytes());
    msg.extend(rtype.to_be_bytes());
    msg.extend(1u16.to_be_bytes());
    msg.extend(60u32.to_be_bytes());
    msg.extend((rdata.len() as u16).to_be_bytes());
    msg.extend(rdata);
}

/// The test zone's answer to `query`: the question copied, then the records,
/// owners compressed against the question as servers do.
fn answer(query: &[u8]) -> Vec<u8> {
    let mut labels = Vec::new();
    let mut pos = 12;
    while query[pos] != 0 {
        let len = usize::from(query[pos]);
        labels.push(String::from_utf8_lossy(&query[pos + 1..pos + 1 + len]).into_owned());
        pos += 1 + len;
    }
    let question_end = pos + 5;
    let qtype = u16::from_be_bytes([query[pos + 1], query[pos + 2]]);
    let mut msg = query[..question_end].to_vec();
    msg[2] = 0x85; // QR, AA, RD
    msg[3] = 0x80; // RA, NOERROR
    let answers: u16 = match (labels.join(".").as_str(), qtype) {
        ("example.test", TYPE_A) => {
            push_record(&mut msg, 12, TYPE_A, &[10, 1, 2, 3]);
            1
        }
        ("v6.example.test", TYPE_AAAA) => {
            push_record(&mut msg, 12, TYPE_AAAA, &"fd00::1:2".parse::<Ipv6Addr>().unwrap().octets());
            1
        }
        ("www.example.test", TYPE_A) => {
            // www.example.test CNAME edge.example.test (its suffix a pointer
            // to "example.test" at 16); edge.example.test A 10.1.2.4.
            let target = msg.len() + 12;
            push_record(&mut msg, 12, TYPE_CNAME, &[4, b'e', b'd', b'g', b'e', 0xc0, 16]);
            push_record(&mut msg, target, TYPE_A, &[10, 1, 2, 4]);
            2
        }
        _ => {
            msg[3] = 0x83; // NXDOMAIN
            0
        }
    };
    msg[6..8].copy_from_slice(&answers.to_be_bytes());
    msg
}

/// Answers `count` queries on `socket` from a thread, which checks it was
/// born in its creator's network namespace.
fn serve(socket: UdpSocket, count: usize) -> JoinHandle<()> {
    let netns = this_threads_netns();
    std::thread::spawn(move || {
        assert_eq!(this_threads_netns(), netns, "a spawned thread shares its creator's namespace");
        socket.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut buf = [0; 512];
        for _ in 0..count {
            let (len, client) = socket.recv_from(&mut buf).expect("a query within the timeout");
            socket.send_to(&answer(&buf[..len]), client).unwrap();
        }
    })
}

fn client_for(server: SocketAddr) -> UdpSocket {
    let local: SocketAddr = if server.is_ipv4() { "127.0.0.1:0" } else { "[::1]:0" }.parse().unwrap();
    let socket = UdpSocket::bind(local).unwrap();
    socket.set_read_timeout(Some(TIMEOUT)).unwrap();
    socket.connect(server).unwrap();
    socket
}

/// Asks `server`, waits for the answer and returns its ANCOUNT.
fn ask(server: SocketAddr, id: u16, name: &str, qtype: u16) -> u16 {
    let socket = client_for(server);
    socket.send(&query(id, name, qtype)).unwrap();
    let mut buf = [0; 512];
    let len = socket.recv(&mut buf).expect("an answer within the timeout");
    assert!(len >= 12 && buf[..2] == id.to_be_bytes(), "answer to query {id}");
    assert_eq!(buf[3] & 0x0f, 0, "NOERROR for {name}");
    u16::from_be_bytes([buf[6], buf[7]])
}

/// A socket that keeps every packet: what the tap shows without our filter.
fn open_unfiltered_tap() -> PacketSocket {
    let accept_all = [SockFilter { code: 0x06, jt: 0, jf: 0, k: 0x40000 }]; // ret #0x40000
    PacketSocket::open(&accept_all, 1 << 20).expect("open an unfiltered packet socket")
}

/// (PACKET_OUTGOING, PACKET_HOST) counts of the DNS responses queued on `tap`.
fn dns_responses_by_direction(tap: &PacketSocket) -> (usize, usize) {
    let mut buf = vec![0; 65536];
    let (mut outgoing, mut host) = (0, 0);
    while let Some(received) = tap.recv(&mut buf).expect("recv on the tap") {
        if dns_payload(&buf[..received.len.min(buf.len())]).is_none() {
            continue;
        }
        match received.pkttype {
            PACKET_OUTGOING => outgoing += 1,
            PACKET_HOST => host += 1,
            other => panic!("unexpected packet type {other} on lo"),
        }
    }
    (outgoing, host)
}

/// Splits bcc's "NAME (N.NNNms)" into the name and the age in microseconds,
/// checking the number has exactly three decimals.
fn split_age(text: &str) -> (&str, u64) {
    let (name, age) = text.split_once(" (").unwrap_or_else(|| panic!("{text:?} has no age"));
    let age = age.strip_suffix("ms)").unwrap_or_else(|| panic!("{text:?} does not end in ms)"));
    let (ms, frac) = age.split_once('.').unwrap_or_else(|| panic!("{text:?}: no decimals"));
    assert!(frac.len() == 3 && frac.bytes().all(|b| b.is_ascii_digit()), "{text:?}: three decimals");
    (name, ms.parse::<u64>().unwrap() * 1000 + frac.parse::<u64>().unwrap())
}

#[test]
fn watcher_records_real_answers_once() {
    if !have_root("watcher_records_real_answers_once") {
        return;
    }
    in_private_netns(|| {
        let mut watcher = DnsWatcher::open().expect("open the DNS watcher");
        let tap = open_unfiltered_tap();
        let servers = [
            serve(UdpSocket::bind(server_v4()).expect("bind 127.0.0.1:53"), 3),
            serve(UdpSocket::bind(server_v6()).expect("bind [::1]:53"), 3),
        ];
        let mut id = 0;
        for server in [server_v4(), server_v6()] {
            for (name, qtype, ancount) in [
                ("example.test", TYPE_A, 1),
                ("v6.example.test", TYPE_AAAA, 1),
                ("www.example.test", TYPE_A, 2),
            ] {
                id += 1;
                assert_eq!(ask(server, id, name, qtype), ancount, "{name} via {server}");
            }
        }
        for server in servers {
            server.join().unwrap();
        }

        // Each answer went through the loopback tap twice, as sent and as
        // received: the watcher must take one.
        let before = clock_monotonic_ns();
        watcher.read_all().expect("read the capture socket");
        let after = clock_monotonic_ns();
        assert_eq!(dns_responses_by_direction(&tap), (6, 6), "lo shows each answer once per direction");
        assert_eq!(
            watcher.counters(),
            DnsCounters { packets: 6, responses: 6, answers: 6, skipped: 0 },
            "each answer recorded once (the CNAME is no address)"
        );

        // Recorded between `before` and `after`: at `before` the age is 0.
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        assert_eq!(watcher.query_for(0, ip("10.1.2.3"), before), "example.test");
        assert_eq!(watcher.query_for(0, ip("fd00::1:2"), before), "v6.example.test");
        assert_eq!(
            watcher.query_for(0, ip("10.1.2.4"), before),
            "www.example.test",
            "the question, not the CNAME"
        );
        assert_eq!(watcher.query_for(0, ip("10.1.2.5"), before), "No DNS Query");
        assert_eq!(watcher.query_for(0, ip("127.0.0.1"), before), "localhost");
        assert_eq!(watcher.query_for(0, ip("::1"), before), "localhost");
        assert_eq!(
            watcher.query_for(0, ip("10.1.2.3"), before + 100 * MS),
            "example.test",
            "100 ms is no delay"
        );

        // 250 ms after the read the age is 250 ms plus at most the read's own
        // duration, shown to the microsecond.
        for (addr, name) in [("10.1.2.3", "example.test"), ("fd00::1:2", "v6.example.test")] {
            let text = watcher.query_for(0, ip(addr), after + 250 * MS);
            let (shown_name, age_us) = split_age(&text);
            assert_eq!(shown_name, name);
            let most = 250_000 + (after - before) / 1000 + 1;
            assert!((250_000..=most).contains(&age_us), "{text:?}: age not in 250.000..={most}us");
            assert!(text.ends_with("ms)") && text.contains(" (25"), "{text:?}");
        }

        // Nothing more is queued: a second read finds the socket empty.
        watcher.read_all().unwrap();
        assert_eq!(watcher.counters().packets, 6);
    });
}

#[test]
fn kernel_filter_passes_only_whole_udp_datagrams_from_port_53() {
    if !have_root("kernel_filter_passes_only_whole_udp_datagrams_from_port_53") {
        return;
    }
    in_private_netns(|| {
        let mut watcher = DnsWatcher::open().expect("open the DNS watcher");
        let tap = open_unfiltered_tap();
        let a_answer = answer(&query(7, "example.test", TYPE_A));

        // A DNS answer from another port, both families: filtered out.
        for (from, to) in [("127.0.0.1:5353", "127.0.0.1:40000"), ("[::1]:5353", "[::1]:40000")] {
            let receiver = UdpSocket::bind(to).unwrap();
            UdpSocket::bind(from).unwrap().send_to(&a_answer, to).unwrap();
            receiver.set_read_timeout(Some(TIMEOUT)).unwrap();
            receiver.recv(&mut [0; 512]).unwrap();
        }
        // TCP from port 53 (the SYN-ACK and the data): filtered out.
        let listener = TcpListener::bind(server_v4()).unwrap();
        let mut client = TcpStream::connect(server_v4()).unwrap();
        let (mut accepted, _) = listener.accept().unwrap();
        io::Write::write_all(&mut accepted, &a_answer).unwrap();
        io::Read::read_exact(&mut client, &mut vec![0; a_answer.len()]).unwrap();
        watcher.read_all().unwrap();
        assert_eq!(watcher.counters(), DnsCounters::default(), "nothing passed the filter");

        // UDP from port 53 that is no DNS: passes the filter, skipped after.
        {
            let server = UdpSocket::bind(server_v4()).unwrap();
            let receiver = client_for(server_v4());
            server.send_to(b"not dns", receiver.local_addr().unwrap()).unwrap();
            receiver.recv(&mut [0; 64]).unwrap();
        }
        watcher.read_all().unwrap();
        assert_eq!(watcher.counters(), DnsCounters { packets: 1, responses: 0, answers: 0, skipped: 1 });

        // A response too big for lo's MTU arrives in fragments, which the
        // filter drops (no single packet holds the message): such answers
        // are missed. The unfiltered tap shows the fragments were there.
        assert!(Command::new("ip").args(["link", "set", "lo", "mtu", "1280"]).status().unwrap().success());
        let mut big = a_answer.clone();
        for i in 0..200u8 {
            big.extend([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 9, i, 1]);
        }
        big[6..8].copy_from_slice(&201u16.to_be_bytes());
        dns_responses_by_direction(&tap); // drain
        for (from, to) in [(server_v4(), "127.0.0.1:40001"), (server_v6(), "[::1]:40001")] {
            let receiver = UdpSocket::bind(to).unwrap();
            receiver.set_read_timeout(Some(TIMEOUT)).unwrap();
            let server = UdpSocket::bind(from).unwrap();
            server.send_to(&big, to).unwrap();
            let mut buf = vec![0; 8192];
            assert_eq!(receiver.recv(&mut buf).unwrap(), big.len(), "reassembled by the kernel");
        }
        let mut buf = vec![0; 65536];
        let mut fragments = 0;
        while let Some(received) = tap.recv(&mut buf).unwrap() {
            fragments += usize::from(received.pkttype == PACKET_HOST && received.len > 1000);
        }
        assert!(fragments >= 4, "both answers were fragmented ({fragments} big packets)");
        watcher.read_all().unwrap();
        assert_eq!(watcher.counters().packets, 1, "no fragment passed the filter");
        assert_eq!(watcher.query_for(0, "10.9.0.1".parse().unwrap(), 0), "No DNS Query");
    });
}
