//! Test helper: makes TCP connects on command, so a test knows their PID,
//! COMM and order. Built by `cargo test` as an example.
//!
//!   connector [--thread] [--comm HEX] [--hop-cpus] [--repeat N] TARGET...
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

use std::io::BufRead;
use std::net::{IpAddr, SocketAddr, TcpStream};
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

fn main() {
    let mut args = std::env::args().skip(1).peekable();
    let (mut thread, mut mode, mut repeat) = (false, Mode::default(), None);
    while let Some(flag) = args.next_if(|a| a.starts_with("--")) {
        match flag.as_str() {
            "--thread" => thread = true,
            "--hop-cpus" => mode.hop_cpus = true,
            "--blocking" => mode.blocking = true,
            "--lport" => mode.lport = true,
            "--comm" => set_comm(&args.next().expect("--comm HEX")),
            "--repeat" => repeat = Some(args.next().expect("--repeat N").parse::<usize>().expect("N")),
            other => panic!("unknown flag {other}"),
        }
    }
    let mut targets: Vec<SocketAddr> = args.map(|t| parse(&t)).collect();
    if let Some(n) = repeat {
        targets = targets.repeat(n);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).expect("stdin");
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
