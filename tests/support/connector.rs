//! Test helper: makes TCP connects on command, so a test knows their PID,
//! COMM ("connector") and order. Built by `cargo test` as an example.
//!
//!   connector TARGET...    TARGET = 4:IP:PORT | 6:IP:PORT | m:IPV4:PORT
//!
//! `m` connects an AF_INET6 socket to the v4-mapped ::ffff:IPV4. It waits for
//! one line on stdin before connecting (so the tracer can be started with its
//! PID), then connects to each target in order and prints `ok` or the error
//! kind per target.

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

fn main() {
    let targets: Vec<SocketAddr> = std::env::args().skip(1).map(|t| parse(&t)).collect();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).expect("stdin");
    for addr in targets {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(_) => println!("ok"),
            Err(e) => println!("{:?}", e.kind()),
        }
    }
}
