//! `connector --handshakes PORT` and `connector --pending PORT`: connects
//! with known outcomes on 127.0.0.1, for the --result tests. Run them in a
//! network namespace of their own with `net.ipv4.tcp_syn_retries=1` (a
//! connect whose SYN is dropped then fails after 1 s + 2 s) and ports PORT,
//! PORT+1 and PORT+2 free.
//!
//! --handshakes, in this order, one line each (`OUTCOME LOCALPORT`):
//!   OK            a listener on PORT completes the handshake
//!   ECONNREFUSED  nothing listens on PORT+1
//!   OK            a listener on PORT+2 with backlog 0: this connect fills
//!                 its accept queue (nobody accepts); then a socket filter
//!                 makes the listener drop later SYNs
//!   ETIMEDOUT     a blocking connect to PORT+2: its SYNs are dropped
//!   CLOSED        a non-blocking connect to PORT+2, closed after 300 ms
//! --pending: the listener on PORT with backlog 0, filled (`OK LOCALPORT`),
//!   then a non-blocking connect to it (`PENDING LOCALPORT`) that stays in
//!   SYN_SENT until a line arrives on stdin.
//! --stuck PORT N: the listener on PORT with backlog 0, filled (`OK
//!   LOCALPORT`), then N threads each inside a blocking connect(2) to it,
//!   in SYN_SENT (`STUCK`), until a line arrives on stdin: the process then
//!   exits with them still inside connect(2).
//!
//! Local ports are read with getsockname before the outcome where the
//! kernel releases them after (a refused or timed-out connect): those two
//! sockets are bound to port 0 first, which chooses the port at bind.

use std::io::{BufRead, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

const LOOPBACK: [u8; 4] = [127, 0, 0, 1];

fn sockaddr(port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(LOOPBACK) },
        sin_zero: [0; 8],
    }
}

fn tcp_socket(flags: libc::c_int) -> OwnedFd {
    // SAFETY: socket takes only integers; a non-negative result is a new fd we own.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | flags, 0) };
    assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
    // SAFETY: fd was just returned by socket and is owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn local_port(fd: &OwnedFd) -> u16 {
    let mut addr = sockaddr(0);
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: addr and len are writable and len holds addr's size.
    let ret =
        unsafe { libc::getsockname(fd.as_raw_fd(), &mut addr as *mut _ as *mut libc::sockaddr, &mut len) };
    assert_eq!(ret, 0, "getsockname: {}", std::io::Error::last_os_error());
    u16::from_be(addr.sin_port)
}

/// connect(2) to 127.0.0.1:port; the errno on failure.
fn connect(fd: &OwnedFd, port: u16) -> Result<(), i32> {
    let addr = sockaddr(port);
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: addr is a valid sockaddr_in of length len.
    let ret = unsafe { libc::connect(fd.as_raw_fd(), &addr as *const _ as *const libc::sockaddr, len) };
    match ret {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0)),
    }
}

/// A socket bound to 127.0.0.1 and a port the kernel chose, and that port.
fn bound_socket() -> (OwnedFd, u16) {
    let fd = tcp_socket(0);
    let addr = sockaddr(0);
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: addr is a valid sockaddr_in of length len.
    let ret = unsafe { libc::bind(fd.as_raw_fd(), &addr as *const _ as *const libc::sockaddr, len) };
    assert_eq!(ret, 0, "bind: {}", std::io::Error::last_os_error());
    let port = local_port(&fd);
    (fd, port)
}

/// A listener on `port` with an accept queue of one, filled by one connect
/// nobody accepts, that then drops every SYN: a full queue alone drops them
/// only from 4.9 ("tcp/dccp: drop SYN packets if accept queue is full");
/// 3.10 (RHEL 7) and 4.4-4.8 answer while at most one young request
/// waits. A socket filter (`ret #0`) drops them on every kernel.
fn full_listener(port: u16) -> (TcpListener, TcpStream) {
    let listener =
        TcpListener::bind((std::net::Ipv4Addr::from(LOOPBACK), port)).expect("bind the full listener");
    // SAFETY: listen on a socket we own; changes only its backlog.
    assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0, "listen(fd, 0)");
    let filler = TcpStream::connect((std::net::Ipv4Addr::from(LOOPBACK), port))
        .expect("the connect that fills the queue");
    report(&format!("OK {}", filler.local_addr().expect("local addr").port()));
    // The server side's child joins the queue with the handshake's last ACK.
    std::thread::sleep(Duration::from_millis(50));
    tcpconnect::sys::tcp::drop_every_packet(&listener).expect("a socket filter that drops every SYN");
    (listener, filler)
}

fn report(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").and_then(|()| out.flush()).expect("stdout");
}

/// A non-blocking connect to `port` left in progress, and its local port.
fn connect_in_progress(port: u16) -> (OwnedFd, u16) {
    let fd = tcp_socket(libc::SOCK_NONBLOCK);
    assert_eq!(connect(&fd, port), Err(libc::EINPROGRESS), "a non-blocking connect to a full listener");
    let local = local_port(&fd);
    (fd, local)
}

pub fn handshakes(port: u16) {
    let listener = TcpListener::bind((std::net::Ipv4Addr::from(LOOPBACK), port)).expect("bind the listener");
    let ok = TcpStream::connect((std::net::Ipv4Addr::from(LOOPBACK), port)).expect("connect to the listener");
    report(&format!("OK {}", ok.local_addr().expect("local addr").port()));

    let (refused, local) = bound_socket();
    assert_eq!(connect(&refused, port + 1), Err(libc::ECONNREFUSED), "nothing listens on {}", port + 1);
    report(&format!("ECONNREFUSED {local}"));

    let (_full, _filler) = full_listener(port + 2);
    let (timed_out, local) = bound_socket();
    assert_eq!(connect(&timed_out, port + 2), Err(libc::ETIMEDOUT), "tcp_syn_retries=1 in this netns?");
    report(&format!("ETIMEDOUT {local}"));

    let (closed, local) = connect_in_progress(port + 2);
    std::thread::sleep(Duration::from_millis(300));
    drop(closed);
    report(&format!("CLOSED {local}"));
    drop(listener);
}

pub fn stuck(port: u16, count: usize) {
    let (_full, _filler) = full_listener(port);
    for _ in 0..count {
        std::thread::spawn(move || {
            let fd = tcp_socket(0);
            let _ = connect(&fd, port);
        });
    }
    report("STUCK");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).expect("stdin");
    std::process::exit(0);
}

pub fn pending(port: u16) {
    let (_full, _filler) = full_listener(port);
    let (_waiting, local) = connect_in_progress(port);
    report(&format!("PENDING {local}"));
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).expect("stdin");
}
