//! Test helper: makes TCP connects on command, so a test knows their PID,
//! COMM and order. Built by `cargo test` as an example.
//!
//!   connector [--thread] [--comm HEX] [--hop-cpus] [--repeat N] [--uid N]
//!             [--dns-exchange NAME=IP [--dns-v6] [--dns-pad N] [--dns-read]] TARGET...
//!   connector --pin-hash PATH
//!   connector --exec-as UID CAP,CAP CMD ARGS...
//!   connector --handshakes PORT | --pending PORT | --stuck PORT N   (see handshakes.rs)
//!   TARGET = 4:IP:PORT | 6:IP:PORT | m:IPV4:PORT
//!
//! `m` connects an AF_INET6 socket to the v4-mapped ::ffff:IPV4. It waits for
//! one line on stdin before connecting (so the tracer can be started with its
//! PID), then connects to each target in order and prints `ok` or the error
//! kind per target.
//!   --thread    connect from a second thread (the PID must still be the process's)
//!   --comm HEX  set the task name to these raw bytes (prctl PR_SET_NAME)
//!   --hop-cpus  move to the next CPU before each connect (sched_setaffinity)
//!   --repeat N  go through the targets N times; print only a count per outcome
//!   --blocking  a blocking connect(2) (default: non-blocking connect + poll,
//!               as std's connect_timeout does)
//!   --lport     print `ok PORT` with the local port of each accepted connect
//!   --uid N     drop to uid and gid N (no supplementary groups) at start
//!   --dns-exchange NAME=IP
//!               once going, before the connects: serve one DNS answer
//!               (NAME is IP: type A for an IPv4 IP, AAAA for an IPv6 one)
//!               on 127.0.0.1:53 and query it from a socket of our own
//!               (bound to 127.0.0.1:0), so a tracer with -d sees a real
//!               exchange; the query asks for the answer's type
//!   --dns-v6    the exchange goes over IPv6: server on [::1]:53, client
//!               bound to [::1]:0 (whatever the answer's type)
//!   --dns-pad N the answer carries N more A records (10.77.x.y, distinct,
//!               none of them IP) before the real one: N = 250 makes a
//!               datagram of about 4 KB, which a loopback MTU of 1280
//!               fragments (the kernel reassembles it before any socket
//!               reads it); one datagram holds at most about 4000 of them
//!   --dns-read  the client connects its socket to the server and reads the
//!               answer with read(2), as Go's resolver does (default:
//!               recv(), which libc makes the recvfrom(2) syscall, the one
//!               glibc's and musl's resolvers use)
//!   --pin-hash PATH
//!               create a BPF hash map (u64 keys and values) pinned at PATH,
//!               as bpftool would for --cgroupmap/--mntnsmap, and exit
//!   --exec-as UID CAP,CAP CMD ARGS...
//!               drop to uid and gid UID (no supplementary groups) keeping
//!               only the capabilities numbered CAP (e.g. 38,39: CAP_PERFMON
//!               and CAP_BPF) as ambient ones, and exec CMD: a user granted
//!               those capabilities, as `setpriv --reuid` (which busybox's
//!               lacks) would run it

#[path = "handshakes.rs"]
mod handshakes;

use std::io::BufRead;
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

fn parse(target: &str) -> SocketAddr {
    let (kind, rest) = target.split_once(':').expect("KIND:IP:PORT");
    let (ip, port) = rest.rsplit_once(':').expect("IP:PORT");
    let port: u16 = port.parse().expect("port");
    let ip: IpAddr = ip.trim_matches(|c| c == '[' || c == ']').parse().expect("ip");
    match (kind, ip) {
        ("m", IpAddr::V4(v4)) => SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), port),
        ("4", IpAddr::V4(_)) | ("6", IpAddr::V6(_)) => SocketAddr::new(ip, port),
        _ => panic!("bad target {target}"),
    }
}

fn set_comm(hex: &str) {
    let mut name: Vec<u8> =
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex")).collect();
    name.push(0);
    // SAFETY: PR_SET_NAME reads a NUL-terminated string (the kernel copies at
    // most 16 bytes); `name` is NUL-terminated and outlives the call.
    let ret = unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr() as libc::c_ulong, 0, 0, 0) };
    assert_eq!(ret, 0, "prctl(PR_SET_NAME)");
}

fn pin_to_cpu(cpu: usize) {
    // SAFETY: cpu_set_t is plain data, CPU_ZERO/CPU_SET write inside it, and
    // sched_setaffinity reads exactly size_of::<cpu_set_t>() bytes of it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn drop_to_uid(id: u32) {
    // SAFETY: setgroups reads 0 entries of a null list; setgid and setuid
    // take plain integers. Groups and gid go first, while we are root.
    unsafe {
        assert_eq!(libc::setgroups(0, std::ptr::null()), 0, "setgroups");
        assert_eq!(libc::setgid(id), 0, "setgid({id})");
        assert_eq!(libc::setuid(id), 0, "setuid({id})");
    }
}

/// `--dns-exchange`, `--dns-v6` and `--dns-pad`.
struct DnsExchange {
    name: String,
    ip: IpAddr,
    v6: bool,
    pad: u16,
    read: bool,
}

/// One query for `name` (type A or AAAA as `ip` is, class IN, no EDNS) from
/// a socket of our own to a server socket on loopback port 53, answered with
/// `pad` filler A records and then `ip`.
fn dns_exchange(dns: &DnsExchange) {
    let (server_addr, client_addr) =
        if dns.v6 { ("[::1]:53", "[::1]:0") } else { ("127.0.0.1:53", "127.0.0.1:0") };
    let server = UdpSocket::bind(server_addr).unwrap_or_else(|e| panic!("bind {server_addr}: {e}"));
    let client = UdpSocket::bind(client_addr).expect("bind the DNS client");
    client.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let (qtype, rdata): (u8, Vec<u8>) = match dns.ip {
        IpAddr::V4(v4) => (1, v4.octets().to_vec()),
        IpAddr::V6(v6) => (28, v6.octets().to_vec()),
    };
    let mut question = Vec::new();
    for label in dns.name.split('.') {
        question.push(label.len() as u8);
        question.extend_from_slice(label.as_bytes());
    }
    question.extend_from_slice(&[0, 0, qtype, 0, 1]); // root, QTYPE, QCLASS IN
    let mut query = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    query.extend_from_slice(&question);
    client.send_to(&query, server_addr).expect("send the query");
    // Room for any UDP datagram: a padded answer is several KB.
    let mut buf = vec![0u8; 65536];
    let (len, peer) = server.recv_from(&mut buf).expect("receive the query");
    // Header: same id, a response with RD RA, one question, the answers.
    let ancount = dns.pad + 1;
    let mut reply = buf[..2].to_vec();
    reply.extend_from_slice(&[0x81, 0x80, 0, 1]);
    reply.extend_from_slice(&ancount.to_be_bytes());
    reply.extend_from_slice(&[0, 0, 0, 0]);
    reply.extend_from_slice(&buf[12..len]);
    // Each answer: a pointer to the name, TYPE IN, TTL 60, RDLENGTH, RDATA.
    // The filler comes first, so a reader that stops early misses the real
    // one; 10.77.x.y with x.y = 1..=N never equals the tests' addresses.
    for i in 1..=dns.pad {
        reply.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 77]);
        reply.extend_from_slice(&i.to_be_bytes());
    }
    reply.extend_from_slice(&[0xc0, 0x0c, 0, qtype, 0, 1, 0, 0, 0, 60, 0, rdata.len() as u8]);
    reply.extend_from_slice(&rdata);
    server.send_to(&reply, peer).expect("send the answer");
    let len = if dns.read {
        use std::os::fd::AsRawFd;
        client.connect(server_addr).expect("connect the DNS client");
        // SAFETY: read(2) writes at most buf.len() bytes into buf, which
        // lives through the call; the fd is the client's, open.
        let n = unsafe { libc::read(client.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        usize::try_from(n).unwrap_or_else(|_| panic!("read the answer: {}", std::io::Error::last_os_error()))
    } else {
        client.recv(&mut buf).expect("receive the answer")
    };
    assert_eq!(buf[..len], reply[..], "the answer came back changed");
}

#[derive(Clone, Copy, Default)]
struct Mode {
    hop_cpus: bool,
    blocking: bool,
    lport: bool,
}

fn connect_all(targets: &[SocketAddr], mode: Mode) -> Vec<String> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut outcomes = Vec::new();
    for (i, addr) in targets.iter().enumerate() {
        if mode.hop_cpus {
            pin_to_cpu(i % cpus);
        }
        let result = if mode.blocking {
            TcpStream::connect(addr)
        } else {
            TcpStream::connect_timeout(addr, Duration::from_secs(5))
        };
        outcomes.push(match result {
            Ok(stream) if mode.lport => format!("ok {}", stream.local_addr().expect("local addr").port()),
            Ok(_) => "ok".to_string(),
            Err(e) => format!("{:?}", e.kind()),
        });
    }
    outcomes
}

/// `--pin-hash PATH`: a hash map of u64 keys and values pinned at `path`.
fn pin_hash(path: &str) {
    use std::os::fd::AsRawFd;
    use tcpconnect::sys::bpf::{Map, MapParams};
    // Before 5.11 the map counts against RLIMIT_MEMLOCK (64 KiB in the guests).
    tcpconnect::sys::process::raise_memlock_limit().expect("raise RLIMIT_MEMLOCK");
    let params = MapParams { map_type: 1, key_size: 8, value_size: 8, max_entries: 16, map_flags: 0 };
    let map = Map::create(&params, "pinned_filter").expect("BPF_MAP_CREATE");
    let path = std::ffi::CString::new(path).expect("no NUL in PATH");
    // BPF_OBJ_PIN's part of union bpf_attr: pathname, bpf_fd, file_flags.
    #[repr(C)]
    struct ObjPinAttr {
        pathname: u64,
        bpf_fd: u32,
        file_flags: u32,
    }
    let attr = ObjPinAttr { pathname: path.as_ptr() as u64, bpf_fd: map.as_raw_fd() as u32, file_flags: 0 };
    const BPF_OBJ_PIN: libc::c_long = 6;
    // SAFETY: attr is a valid BPF_OBJ_PIN attribute of the size passed; the
    // path it points to is NUL-terminated and outlives the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_OBJ_PIN,
            &attr as *const ObjPinAttr,
            std::mem::size_of::<ObjPinAttr>(),
        )
    };
    assert_eq!(ret, 0, "BPF_OBJ_PIN: {}", std::io::Error::last_os_error());
    println!("pinned");
}

/// `--exec-as UID CAPS CMD ARGS...`: CMD as uid and gid `id` with only the
/// capabilities `caps` (effective, permitted, inheritable and ambient, so
/// they survive exec for a non-root user).
fn exec_as(id: u32, caps: &str, command: &[String]) -> ! {
    use std::os::unix::process::CommandExt;
    let caps: Vec<u32> = caps.split(',').map(|c| c.parse().expect("CAP number")).collect();
    // struct __user_cap_header_struct {version, pid} of
    // _LINUX_CAPABILITY_VERSION_3 and its two __user_cap_data_struct
    // {effective, permitted, inheritable} (capabilities 0-31 and 32-63).
    let header: [u32; 2] = [0x2008_0522, 0];
    let mut data = [0u32; 6];
    for &cap in &caps {
        let word = 3 * (cap / 32) as usize;
        data[word..word + 3].iter_mut().for_each(|set| *set |= 1 << (cap % 32));
    }
    // SAFETY: prctl, setgroups (0 entries of a null list), setresgid and
    // setresuid take plain integers; capset reads the header and the two
    // data structs of version 3, which live through the call. Groups and
    // gid go first, while we are root; PR_SET_KEEPCAPS keeps the permitted
    // set across setresuid so that capset can keep `caps` of it.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0), 0, "PR_SET_KEEPCAPS");
        assert_eq!(libc::setgroups(0, std::ptr::null()), 0, "setgroups");
        assert_eq!(libc::setresgid(id, id, id), 0, "setresgid({id})");
        assert_eq!(libc::setresuid(id, id, id), 0, "setresuid({id})");
        let ret = libc::syscall(libc::SYS_capset, header.as_ptr(), data.as_ptr());
        assert_eq!(ret, 0, "capset: {}", std::io::Error::last_os_error());
        for &cap in &caps {
            let ret =
                libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_RAISE, cap as libc::c_ulong, 0, 0);
            assert_eq!(ret, 0, "PR_CAP_AMBIENT_RAISE {cap}: {}", std::io::Error::last_os_error());
        }
    }
    let error = std::process::Command::new(&command[0]).args(&command[1..]).exec();
    panic!("exec {}: {error}", command[0]);
}

fn main() {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("--pin-hash") {
        return pin_hash(&args.nth(1).expect("--pin-hash PATH"));
    }
    if args.peek().map(String::as_str) == Some("--stuck") {
        let port = args.nth(1).expect("PORT").parse().expect("PORT");
        let count = args.next().expect("N").parse().expect("N");
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).expect("stdin");
        return handshakes::stuck(port, count);
    }
    if let Some(mode @ ("--handshakes" | "--pending")) = args.peek().map(String::as_str) {
        let run = if mode == "--handshakes" { handshakes::handshakes } else { handshakes::pending };
        let port = args.nth(1).expect("PORT").parse().expect("PORT");
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).expect("stdin");
        return run(port);
    }
    if args.peek().map(String::as_str) == Some("--exec-as") {
        let id = args.nth(1).expect("--exec-as UID").parse().expect("UID");
        let caps = args.next().expect("--exec-as UID CAPS");
        let command: Vec<String> = args.collect();
        assert!(!command.is_empty(), "--exec-as UID CAPS CMD ARGS...");
        exec_as(id, &caps, &command);
    }
    let (mut thread, mut mode, mut repeat, mut dns) = (false, Mode::default(), None, None);
    let (mut dns_v6, mut dns_pad, mut dns_read) = (false, 0u16, false);
    while let Some(flag) = args.next_if(|a| a.starts_with("--")) {
        match flag.as_str() {
            "--thread" => thread = true,
            "--hop-cpus" => mode.hop_cpus = true,
            "--blocking" => mode.blocking = true,
            "--lport" => mode.lport = true,
            "--comm" => set_comm(&args.next().expect("--comm HEX")),
            "--repeat" => repeat = Some(args.next().expect("--repeat N").parse::<usize>().expect("N")),
            "--uid" => drop_to_uid(args.next().expect("--uid N").parse().expect("N")),
            "--dns-exchange" => {
                let arg = args.next().expect("--dns-exchange NAME=IP");
                let (name, ip) = arg.split_once('=').expect("NAME=IP");
                dns = Some((name.to_string(), ip.parse::<IpAddr>().expect("IP")));
            }
            "--dns-v6" => dns_v6 = true,
            "--dns-read" => dns_read = true,
            "--dns-pad" => dns_pad = args.next().expect("--dns-pad N").parse().expect("N"),
            other => panic!("unknown flag {other}"),
        }
    }
    let mut targets: Vec<SocketAddr> = args.map(|t| parse(&t)).collect();
    if let Some(n) = repeat {
        targets = targets.repeat(n);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).expect("stdin");
    let dns_flags = dns_v6 || dns_pad > 0 || dns_read;
    assert!(dns.is_some() || !dns_flags, "--dns-v6, --dns-pad and --dns-read need --dns-exchange");
    if let Some((name, ip)) = dns {
        dns_exchange(&DnsExchange { name, ip, v6: dns_v6, pad: dns_pad, read: dns_read });
    }
    let outcomes = if thread {
        std::thread::spawn(move || connect_all(&targets, mode)).join().expect("connect thread")
    } else {
        connect_all(&targets, mode)
    };
    if repeat.is_some() {
        let mut counts = std::collections::BTreeMap::new();
        for outcome in outcomes {
            *counts.entry(outcome).or_insert(0usize) += 1;
        }
        for (outcome, count) in counts {
            println!("{outcome} {count}");
        }
    } else {
        for outcome in outcomes {
            println!("{outcome}");
        }
    }
}
