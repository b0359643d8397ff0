//! packet(7): an AF_PACKET capture socket with a classic BPF filter, for
//! `-d/--dns`, and the CLOCK_MONOTONIC clock the captured answers are stamped
//! with (the clock of `bpf_ktime_get_ns`, so ages compare with BPF events).
//!
//! The filter program itself is built in `dns::packet_filter`; this module only
//! hands it to the kernel.

use super::{owned_fd, SysError, SysResult};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// One classic BPF instruction, `struct sock_filter` of linux/filter.h.
pub type SockFilter = libc::sock_filter;

/// BPF_MAXINSNS: the kernel refuses longer classic programs.
const BPF_MAXINSNS: usize = 4096;

/// A packet socket receiving the L3 packet (no link header) of every
/// interface, both directions, as far as its filter lets through.
pub struct PacketSocket {
    fd: OwnedFd,
}

/// What `recvfrom` said about one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// The packet's full length; more than the buffer when it was cut short.
    pub len: usize,
    /// `sll_pkttype`: PACKET_HOST, PACKET_OUTGOING, ...
    pub pkttype: u8,
    /// `sll_ifindex`: the interface it was seen on.
    pub ifindex: i32,
    /// `sll_protocol` in host order (ETH_P_IP, ETH_P_IPV6, ...).
    pub protocol: u16,
}

impl PacketSocket {
    /// socket(AF_PACKET, SOCK_DGRAM, 0) + SO_ATTACH_FILTER + SO_RCVBUF +
    /// bind(ETH_P_ALL, any interface). Nonblocking and close-on-exec.
    ///
    /// The socket is created with protocol 0, which receives nothing, and
    /// only bound to ETH_P_ALL once the filter is attached: opened with
    /// ETH_P_ALL directly, it would queue unfiltered packets in between.
    /// `rcvbuf` is a wish: getting less is no error.
    pub fn open(filter: &[SockFilter], rcvbuf: usize) -> SysResult<PacketSocket> {
        // SAFETY: socket takes only integer arguments.
        let ret = unsafe {
            libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0)
        };
        let socket = PacketSocket { fd: owned_fd("socket(AF_PACKET)", ret as libc::c_long)? };
        socket.attach_filter(filter)?;
        let rcvbuf = libc::c_int::try_from(rcvbuf).unwrap_or(libc::c_int::MAX);
        // SO_RCVBUF is capped at net.core.rmem_max (about 208 KiB by default);
        // SO_RCVBUFFORCE is not, but needs CAP_NET_ADMIN. Failure of both is
        // ignored: the default buffer works, it only drops answers sooner
        // under a burst.
        if socket.setsockopt_int("setsockopt(SO_RCVBUFFORCE)", libc::SO_RCVBUFFORCE, rcvbuf).is_err() {
            let _ = socket.setsockopt_int("setsockopt(SO_RCVBUF)", libc::SO_RCVBUF, rcvbuf);
        }
        socket.bind_all_protocols()?;
        Ok(socket)
    }

    fn attach_filter(&self, filter: &[SockFilter]) -> SysResult<()> {
        const CALL: &str = "setsockopt(SO_ATTACH_FILTER)";
        if filter.is_empty() || filter.len() > BPF_MAXINSNS {
            return Err(SysError { call: CALL, error: io::Error::from_raw_os_error(libc::EINVAL) });
        }
        let prog = libc::sock_fprog {
            // At most BPF_MAXINSNS (checked above), so it fits a u16.
            len: filter.len() as libc::c_ushort,
            // The kernel only reads through this pointer (it copies the
            // program in), so handing out a *mut of shared data is sound.
            filter: filter.as_ptr().cast_mut(),
        };
        // SAFETY: prog is a valid sock_fprog whose filter points to len
        // instructions that outlive the call; the kernel copies both.
        let ret = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ATTACH_FILTER,
                (&prog as *const libc::sock_fprog).cast(),
                std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
            )
        };
        if ret != 0 {
            return Err(SysError::last(CALL));
        }
        Ok(())
    }

    fn setsockopt_int(&self, call: &'static str, option: libc::c_int, value: libc::c_int) -> SysResult<()> {
        // SAFETY: value is a live c_int and optlen is its size.
        let ret = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                option,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if ret != 0 {
            return Err(SysError::last(call));
        }
        Ok(())
    }

    /// Binds to every protocol on every interface (ifindex 0), which is
    /// when the kernel starts queueing packets for us.
    fn bind_all_protocols(&self) -> SysResult<()> {
        let addr = libc::sockaddr_ll {
            sll_family: libc::AF_PACKET as libc::c_ushort,
            sll_protocol: (libc::ETH_P_ALL as u16).to_be(),
            sll_ifindex: 0,
            sll_hatype: 0,
            sll_pkttype: 0,
            sll_halen: 0,
            sll_addr: [0; 8],
        };
        // SAFETY: addr is a valid sockaddr_ll and the length is its size.
        let ret = unsafe {
            libc::bind(
                self.fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if ret != 0 {
            return Err(SysError::last("bind(AF_PACKET)"));
        }
        Ok(())
    }

    /// Receives one packet into `buf`; None when none is queued (EAGAIN).
    /// With MSG_TRUNC the returned length is the packet's, so a packet
    /// longer than `buf` shows as `len > buf.len()` instead of passing for
    /// a whole one. Retries on EINTR.
    pub fn recv(&self, buf: &mut [u8]) -> SysResult<Option<Received>> {
        loop {
            let mut addr = libc::sockaddr_ll {
                sll_family: 0,
                sll_protocol: 0,
                sll_ifindex: 0,
                sll_hatype: 0,
                sll_pkttype: 0,
                sll_halen: 0,
                sll_addr: [0; 8],
            };
            let mut addr_len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            // SAFETY: buf is writable for buf.len() bytes; addr is a writable
            // sockaddr_ll and addr_len holds its size, which the kernel never
            // exceeds (it truncates the address instead).
            let n = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_TRUNC,
                    (&mut addr as *mut libc::sockaddr_ll).cast(),
                    &mut addr_len,
                )
            };
            if n < 0 {
                let err = SysError::last("recvfrom(AF_PACKET)");
                match err.errno() {
                    libc::EINTR => continue,
                    libc::EAGAIN => return Ok(None),
                    _ => return Err(err),
                }
            }
            return Ok(Some(Received {
                len: n as usize,
                pkttype: addr.sll_pkttype,
                ifindex: addr.sll_ifindex,
                protocol: u16::from_be(addr.sll_protocol),
            }));
        }
    }
}

impl AsFd for PacketSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// clock_gettime(CLOCK_MONOTONIC) in ns: the clock `bpf_ktime_get_ns` reads.
/// (std's Instant is this clock too, but does not give its raw value.)
pub fn clock_monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a writable timespec; CLOCK_MONOTONIC always exists.
    let ret = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if ret != 0 {
        // Cannot happen (valid clock, valid pointer); 0 reads as "boot",
        // which only makes ages look larger.
        return 0;
    }
    (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64)
}
