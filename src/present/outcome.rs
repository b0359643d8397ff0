//! The --result columns: `RESULT` (what a connect's handshake came to) and
//! `LAT(ms)` (how long it took), shared by the text lines and JSON.
//!
//! RESULT is `OK` (established), the name of the errno the kernel left in
//! sk_err (`ECONNREFUSED`, `ETIMEDOUT`, ...; an errno without a name here
//! prints as `E` and its number), `CLOSED` (its owner closed it, shut it
//! down or exited before the handshake finished) or `PENDING` (still in
//! SYN_SENT when tracing stopped). LAT(ms) is milliseconds from the connect
//! to that outcome (to the stop for `PENDING`), `%.3f` as tcpconnlat
//! prints it.

use super::primitives::pad;
use crate::event::{ConnectEvent, HandshakeEnd, Outcome};

/// `"%-12s" % result`: the longest errno names a connect ends with
/// (ECONNREFUSED, EHOSTUNREACH) fill it.
pub const RESULT_WIDTH: usize = 12;
/// `"%-7s" % "LAT(ms)"`, and the width its values are padded to.
pub const LATENCY_WIDTH: usize = 7;

/// The errnos a connect can end with, by name. libc's constants, so the
/// numbers are the running architecture's.
const ERRNO_NAMES: [(i32, &str); 30] = [
    (libc::ECONNREFUSED, "ECONNREFUSED"),
    (libc::ETIMEDOUT, "ETIMEDOUT"),
    (libc::EHOSTUNREACH, "EHOSTUNREACH"),
    (libc::ENETUNREACH, "ENETUNREACH"),
    (libc::ECONNRESET, "ECONNRESET"),
    (libc::ECONNABORTED, "ECONNABORTED"),
    (libc::EHOSTDOWN, "EHOSTDOWN"),
    (libc::ENETDOWN, "ENETDOWN"),
    (libc::ENETRESET, "ENETRESET"),
    (libc::ENONET, "ENONET"),
    (libc::EPROTO, "EPROTO"),
    (libc::EACCES, "EACCES"),
    (libc::EPERM, "EPERM"),
    (libc::EADDRNOTAVAIL, "EADDRNOTAVAIL"),
    (libc::EADDRINUSE, "EADDRINUSE"),
    (libc::ENOBUFS, "ENOBUFS"),
    (libc::ENOMEM, "ENOMEM"),
    (libc::EPIPE, "EPIPE"),
    (libc::EMSGSIZE, "EMSGSIZE"),
    (libc::EOPNOTSUPP, "EOPNOTSUPP"),
    (libc::EPROTONOSUPPORT, "EPROTONOSUPPORT"),
    (libc::EAFNOSUPPORT, "EAFNOSUPPORT"),
    (libc::EINVAL, "EINVAL"),
    (libc::EIO, "EIO"),
    (libc::EKEYREJECTED, "EKEYREJECTED"),
    (libc::EKEYEXPIRED, "EKEYEXPIRED"),
    (libc::EREMOTEIO, "EREMOTEIO"),
    (libc::ENOPROTOOPT, "ENOPROTOOPT"),
    (libc::ENOSR, "ENOSR"),
    (libc::ENOLINK, "ENOLINK"),
];

/// Appends the RESULT text, unpadded.
pub fn write_result(out: &mut Vec<u8>, end: HandshakeEnd) {
    match end {
        HandshakeEnd::Established => out.extend_from_slice(b"OK"),
        HandshakeEnd::Closed => out.extend_from_slice(b"CLOSED"),
        HandshakeEnd::Pending => out.extend_from_slice(b"PENDING"),
        HandshakeEnd::Failed(errno) => match ERRNO_NAMES.iter().find(|(n, _)| *n == errno) {
            Some((_, name)) => out.extend_from_slice(name.as_bytes()),
            None => {
                out.push(b'E');
                super::primitives::write_u64(out, errno.unsigned_abs().into());
            }
        },
    }
}

/// Nanoseconds from the connect to its outcome (0 if the clock says the
/// outcome came first, which one CPU's clock never does).
pub fn latency_ns(event: &ConnectEvent, outcome: &Outcome) -> u64 {
    outcome.done_ns.saturating_sub(event.ts_ns)
}

/// Appends `"%.3f" % (ns / 1e6)`: milliseconds, rounded as Python rounds.
pub fn write_latency_ms(out: &mut Vec<u8>, ns: u64) {
    // write_seconds_3 prints its argument / 1e6 with 3 decimals: exactly
    // ns / 1e6 ms. Values past i64 are beyond 292 years.
    super::decimal::write_seconds_3(out, ns.min(i64::MAX as u64) as i64);
}

/// Appends the two text columns, each padded: `%-12s %-7.3f`.
pub fn write_columns(out: &mut Vec<u8>, event: &ConnectEvent, outcome: &Outcome) {
    let start = out.len();
    write_result(out, outcome.end);
    pad(out, start, RESULT_WIDTH);
    out.push(b' ');
    let start = out.len();
    write_latency_ms(out, latency_ns(event, outcome));
    pad(out, start, LATENCY_WIDTH);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn each_end_has_its_name() {
        let name = |end| text(|o| write_result(o, end));
        assert_eq!(name(HandshakeEnd::Established), "OK");
        assert_eq!(name(HandshakeEnd::Closed), "CLOSED");
        assert_eq!(name(HandshakeEnd::Pending), "PENDING");
        assert_eq!(name(HandshakeEnd::Failed(libc::ECONNREFUSED)), "ECONNREFUSED");
        assert_eq!(name(HandshakeEnd::Failed(libc::ETIMEDOUT)), "ETIMEDOUT");
        assert_eq!(name(HandshakeEnd::Failed(libc::EHOSTUNREACH)), "EHOSTUNREACH");
        assert_eq!(name(HandshakeEnd::Failed(4095)), "E4095");
        // Every name fits the column but EADDRNOTAVAIL and the protocol
        // ones, which overflow it like any wider value.
        for (_, name) in ERRNO_NAMES {
            assert!(name.starts_with('E'));
        }
        let mut numbers: Vec<i32> = ERRNO_NAMES.iter().map(|(n, _)| *n).collect();
        numbers.sort();
        numbers.dedup();
        assert_eq!(numbers.len(), ERRNO_NAMES.len(), "an errno named twice");
    }

    #[test]
    fn latency_is_milliseconds_with_three_decimals() {
        let ms = |ns| text(|o| write_latency_ms(o, ns));
        assert_eq!(ms(0), "0.000");
        assert_eq!(ms(123_456), "0.123");
        assert_eq!(ms(3_001_499_999), "3001.500");
        assert_eq!(ms(2_500), "0.003"); // as Python: 2500 / 1e6 lies just above the tie
        let mut event = crate::event::ConnectEvent::decode(&[0u8; crate::event::EVENT_SIZE]).unwrap();
        event.ts_ns = 1_000_000;
        let outcome = Outcome { end: HandshakeEnd::Failed(libc::ETIMEDOUT), done_ns: 3_012_345_678 };
        assert_eq!(text(|o| write_columns(o, &event, &outcome)), "ETIMEDOUT    3011.346");
        let ok = Outcome { end: HandshakeEnd::Established, done_ns: 1_052_000 };
        assert_eq!(text(|o| write_columns(o, &event, &ok)), "OK           0.052  ");
    }
}
