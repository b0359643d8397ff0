//! Output lines, byte for byte as bcc's (2019) tcpconnect prints them.
//!
//! bcc builds each line with Python `%` formatting:
//!
//! ```text
//! header: ["%-9s" % "TIME(s)"] ["%-6s" % "UID"]
//!         "%-6s %-12s %-2s %-16s %-16s %-4s" % ("PID", "COMM", "IP", "SADDR", "DADDR", "DPORT")
//! event:  ["%-9.3f" % ((ts_us - first_ts_us) / 1000000.0)] ["%-6d" % uid]
//!         "%-6d %-12.12s %-2d %-16s %-16s %-4d" % (pid, comm, ip, saddr, daddr, dport)
//! ```
//!
//! -L inserts `LPORT` after `SADDR` (`"%-6s" % "LPORT"`, `"%-6d" % lport`),
//! --result (ours) appends `" %-12s %-7s" % ("RESULT", "LAT(ms)")` after
//! DPORT and `" %-12s %-7.3f" % (result, latency_ms)` to each line (before
//! QUERY); `super::outcome` says what they hold.
//! -d appends `" QUERY"` to the header and `" %s" % query` to each line.
//! The base columns keep the 2019 widths in every combination (later bcc
//! widened PID to 7 and DPORT to 6; scripts written against the seed parse
//! these).
//!
//! Widths are minimums: a longer value overflows its column, and the -t and
//! -U prefixes have no separator of their own, so a 9-character time or a
//! 6-digit uid runs straight into the next column, as in bcc.
//!
//! -j replaces all of this with one JSON object per line (`super::json`).
//!
//! Everything here is on the per-event hot path: no allocation besides
//! growing `out`, integers and padding written by hand.

use super::decimal::write_seconds_3;
use super::json;
use super::primitives::{pad, write_addr_padded, write_u64_padded};
use crate::escape::{write_escaped, write_escaped_field};
use crate::event::{ConnectEvent, COMM_LEN};

/// What each line holds. `Default` is bcc's plain output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Columns {
    /// -t: `TIME(s)`, seconds since the first printed event
    /// (JSON: `ts_us`, microseconds).
    pub timestamp: bool,
    /// -U: `UID` (JSON always carries `uid`).
    pub print_uid: bool,
    /// -L: `LPORT` after `SADDR` (JSON carries `lport` whenever it is known).
    pub lport: bool,
    /// --result: `RESULT` and `LAT(ms)` after `DPORT`; TIME(s) (-t) then
    /// counts from when tracing started, not from the first printed line.
    pub result: bool,
    /// -d: a trailing `QUERY` column whose text the caller supplies per event.
    pub query: bool,
    /// -j: one JSON object per event instead of columns, and no header.
    pub json: bool,
    /// --ppid: `PPID` and `PCOMM` after `PID` (JSON: `ppid`, `pcomm`).
    pub ppid: bool,
    /// --container: `CONTAINER` after `COMM` (JSON: `cgroup`,
    /// `container_id`, `container_name`, `pod`, `pod_namespace` where known).
    pub container: bool,
}

/// Appends the header line (with its '\n'); nothing for JSON, whose lines
/// name their own fields.
pub fn write_header(out: &mut Vec<u8>, columns: Columns) {
    if columns.json {
        return;
    }
    // Each column's heading and whether this run has it, in line order.
    // "%-4s" % "DPORT" overflows its width, so no padding follows it.
    let headings: [(bool, &[u8]); 11] = [
        (columns.timestamp, b"TIME(s)  "),
        (columns.print_uid, b"UID   "),
        (true, b"PID    "),
        (columns.ppid, b"PPID   PCOMM        "),
        (true, b"COMM         "),
        (columns.container, b"CONTAINER        "),
        (true, b"IP SADDR            "),
        (columns.lport, b"LPORT  "),
        (true, b"DADDR            DPORT"),
        (columns.result, b" RESULT       LAT(ms)"),
        (columns.query, b" QUERY"),
    ];
    for (shown, heading) in headings {
        if shown {
            out.extend_from_slice(heading);
        }
    }
    out.push(b'\n');
}

/// Formats events; remembers the first event's timestamp for -t.
#[derive(Clone, Debug)]
pub struct LineFormatter {
    columns: Columns,
    /// `ts_us` of the first event printed, the origin of the -t column.
    first_ts_us: Option<u64>,
}

impl LineFormatter {
    /// A formatter whose -t origin is the first event it formats.
    pub fn new(columns: Columns) -> Self {
        LineFormatter { columns, first_ts_us: None }
    }

    /// A formatter whose -t origin is fixed at `first_ts_us` (microseconds,
    /// same clock as `ts_ns / 1000`), e.g. to resume numbering.
    pub fn with_first_ts_us(columns: Columns, first_ts_us: u64) -> Self {
        LineFormatter { columns, first_ts_us: Some(first_ts_us) }
    }

    /// The -t origin, once known.
    pub fn first_ts_us(&self) -> Option<u64> {
        self.first_ts_us
    }

    /// The columns this formatter writes.
    pub fn columns(&self) -> Columns {
        self.columns
    }

    /// Appends one event line (with its '\n'), with no query text: with -d
    /// the QUERY column is empty (JSON: `"query":null`).
    pub fn write_event(&mut self, out: &mut Vec<u8>, event: &ConnectEvent) {
        self.write_event_with_query(out, event, None);
    }

    /// Appends one event line (with its '\n').
    ///
    /// `query` is the -d text for this event; it is ignored without -d.
    /// Text output copies its bytes verbatim (as bcc prints bytes), so the
    /// caller must not hand in a '\n'; JSON escapes it like `comm`.
    ///
    /// `event.ip == 6` selects the 16-byte IPv6 text, anything else the
    /// IPv4 text of the first 4 bytes; the `IP` column prints `ip` as is.
    pub fn write_event_with_query(&mut self, out: &mut Vec<u8>, event: &ConnectEvent, query: Option<&[u8]>) {
        let delta_us = if self.columns.timestamp { Some(self.delta_us(event)) } else { None };
        if self.columns.json {
            let query = if self.columns.query { json::Query::Text(query) } else { json::Query::Off };
            let c = self.columns;
            let parts = json::Parts { result: c.result, ppid: c.ppid, container: c.container };
            json::write_event(out, event, delta_us, query, parts);
            return;
        }
        if let Some(delta_us) = delta_us {
            let start = out.len();
            write_seconds_3(out, delta_us);
            pad(out, start, 9);
        }
        if self.columns.print_uid {
            write_u64_padded(out, event.uid.into(), 6);
        }
        write_u64_padded(out, event.pid.into(), 6);
        out.push(b' ');
        let identity = event.identity.as_deref();
        if self.columns.ppid {
            // "%-6d %-12.12s", as PID and COMM.
            // Unknown (read from /proc, the process gone): 0 and "?".
            let (ppid, pcomm) = identity.map_or((0, UNKNOWN_COMM), |i| (i.ppid, i.pcomm));
            write_u64_padded(out, ppid.into(), 6);
            out.push(b' ');
            write_comm(out, &pcomm);
        }
        write_comm(out, &event.comm);
        if self.columns.container {
            // "%-16s": a name, an id or a cgroup's name is never cut, as
            // an IPv6 address is not; escaped as COMM is (a container
            // chooses its own name).
            let column = identity.and_then(|i| i.container.as_ref()).map_or(&b"?"[..], |c| &c.column[..]);
            let start = out.len();
            write_escaped(out, column);
            pad(out, start, 16);
            out.push(b' ');
        }

        write_u64_padded(out, event.ip.into(), 2);
        out.push(b' ');

        let v6 = event.ip == 6;
        write_addr_padded(out, v6, &event.saddr);
        out.push(b' ');
        if self.columns.lport {
            write_u64_padded(out, event.lport.into(), 6);
            out.push(b' ');
        }
        write_addr_padded(out, v6, &event.daddr);
        out.push(b' ');

        write_u64_padded(out, event.dport.into(), 4);
        if let (true, Some(outcome)) = (self.columns.result, &event.outcome) {
            out.push(b' ');
            super::outcome::write_columns(out, event, outcome);
        }
        if self.columns.query {
            out.push(b' ');
            out.extend_from_slice(query.unwrap_or_default());
        }
        out.push(b'\n');
    }

    /// Microseconds from the -t origin to `event`, fixing the origin at the
    /// first event asked about.
    fn delta_us(&mut self, event: &ConnectEvent) -> i64 {
        // bcc's BPF side stored ts_us = ktime_ns / 1000 (integer).
        let ts_us = event.ts_ns / 1000;
        let first = *self.first_ts_us.get_or_insert(ts_us);
        // Both are below u64::MAX / 1000 < i64::MAX: no overflow. Events
        // from different CPUs can arrive out of order, hence signed.
        ts_us as i64 - first as i64
    }
}

/// PCOMM where the parent is not known.
const UNKNOWN_COMM: [u8; COMM_LEN] = *b"?\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";

/// "%-12.12s " on a raw comm: truncate, then pad; control bytes escaped
/// (a longer escaped name overflows its column, as every value wider than
/// its column does).
fn write_comm(out: &mut Vec<u8>, comm: &[u8; COMM_LEN]) {
    let len = comm.iter().position(|&c| c == 0).unwrap_or(COMM_LEN);
    let start = out.len();
    write_escaped_field(out, comm, len.min(12));
    pad(out, start, 12);
    out.push(b' ');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{ContainerFields, HandshakeEnd, Outcome, TaskIdentity};
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::sync::Arc;

    const HEADER: &str = "PID    COMM         IP SADDR            DADDR            DPORT\n";

    #[allow(clippy::too_many_arguments)]
    fn ev(
        ts_us: u64,
        uid: u32,
        pid: u32,
        comm: &[u8],
        ip: u8,
        saddr: &str,
        daddr: &str,
        dport: u16,
    ) -> ConnectEvent {
        let addr = |s: &str| -> [u8; 16] {
            let mut a = [0u8; 16];
            if ip == 6 {
                a = s.parse::<Ipv6Addr>().unwrap().octets();
            } else {
                a[..4].copy_from_slice(&s.parse::<Ipv4Addr>().unwrap().octets());
            }
            a
        };
        let mut c = [0u8; 16];
        c[..comm.len()].copy_from_slice(comm);
        ConnectEvent {
            // Sub-microsecond noise is dropped by ts_ns / 1000.
            ts_ns: ts_us * 1000 + 999,
            pid,
            uid,
            dport,
            lport: 0,
            ip,
            saddr: addr(saddr),
            daddr: addr(daddr),
            comm: c,
            netns: 0,
            outcome: None,
            identity: None,
        }
    }

    fn line(f: &mut LineFormatter, e: &ConnectEvent) -> Vec<u8> {
        let mut out = Vec::new();
        f.write_event(&mut out, e);
        out
    }

    fn line_str(f: &mut LineFormatter, e: &ConnectEvent) -> String {
        String::from_utf8(line(f, e)).unwrap()
    }

    fn header(columns: Columns) -> String {
        let mut out = Vec::new();
        write_header(&mut out, columns);
        String::from_utf8(out).unwrap()
    }

    const BASE: Columns = Columns {
        timestamp: false,
        print_uid: false,
        lport: false,
        result: false,
        query: false,
        json: false,
        ppid: false,
        container: false,
    };
    const TIME: Columns = Columns { timestamp: true, ..BASE };
    const UID: Columns = Columns { print_uid: true, ..BASE };
    const BOTH: Columns = Columns { timestamp: true, print_uid: true, ..BASE };

    #[test]
    fn headers() {
        assert_eq!(header(BASE), HEADER);
        assert_eq!(header(Columns::default()), HEADER);
        assert_eq!(header(TIME), "TIME(s)  PID    COMM         IP SADDR            DADDR            DPORT\n");
        assert_eq!(header(UID), "UID   PID    COMM         IP SADDR            DADDR            DPORT\n");
        assert_eq!(
            header(BOTH),
            "TIME(s)  UID   PID    COMM         IP SADDR            DADDR            DPORT\n"
        );
    }

    #[test]
    fn seed_base() {
        let mut f = LineFormatter::new(BASE);
        let cases = [
            (
                ev(0, 0, 1479, b"telnet", 4, "127.0.0.1", "127.0.0.1", 23),
                "1479   telnet       4  127.0.0.1        127.0.0.1        23  \n",
            ),
            (
                ev(0, 0, 1469, b"curl", 4, "10.201.219.236", "54.245.105.25", 80),
                "1469   curl         4  10.201.219.236   54.245.105.25    80  \n",
            ),
            (
                ev(0, 0, 1469, b"curl", 4, "10.201.219.236", "54.67.101.145", 80),
                "1469   curl         4  10.201.219.236   54.67.101.145    80  \n",
            ),
            (
                ev(0, 0, 1991, b"telnet", 6, "::1", "::1", 23),
                "1991   telnet       6  ::1              ::1              23  \n",
            ),
            (
                ev(0, 0, 2015, b"ssh", 6, "fe80::2000:bff:fe82:3ac", "fe80::2000:bff:fe82:3ac", 22),
                "2015   ssh          6  fe80::2000:bff:fe82:3ac fe80::2000:bff:fe82:3ac 22  \n",
            ),
        ];
        for (e, want) in &cases {
            assert_eq!(line_str(&mut f, e), *want);
        }
    }

    #[test]
    fn seed_timestamp() {
        let mut f = LineFormatter::with_first_ts_us(TIME, 0);
        let a = ev(31_871_000, 0, 2482, b"local_agent", 4, "10.103.219.236", "10.251.148.38", 7001);
        let b = ev(31_874_000, 0, 2482, b"local_agent", 4, "10.103.219.236", "10.101.3.132", 7001);
        assert_eq!(
            line_str(&mut f, &a),
            "31.871   2482   local_agent  4  10.103.219.236   10.251.148.38    7001\n"
        );
        assert_eq!(
            line_str(&mut f, &b),
            "31.874   2482   local_agent  4  10.103.219.236   10.101.3.132     7001\n"
        );
    }

    #[test]
    fn timestamp_is_relative_to_first_event() {
        let mut f = LineFormatter::new(TIME);
        assert_eq!(f.first_ts_us(), None);
        let mk = |ts_us| ev(ts_us, 0, 1, b"a", 4, "1.2.3.4", "5.6.7.8", 80);
        let base = 987_654_321_000; // ~11 days of uptime
        assert_eq!(
            line_str(&mut f, &mk(base)),
            "0.000    1      a            4  1.2.3.4          5.6.7.8          80  \n"
        );
        assert_eq!(f.first_ts_us(), Some(base));
        let time_of = |f: &mut LineFormatter, ts_us| line_str(f, &mk(ts_us))[..9].to_owned();
        assert_eq!(time_of(&mut f, base + 1), "0.000    ");
        assert_eq!(time_of(&mut f, base + 499), "0.000    ");
        assert_eq!(time_of(&mut f, base + 500), "0.001    "); // 0.0005 is above the tie in binary
        assert_eq!(time_of(&mut f, base + 2_500), "0.003    "); // likewise 0.0025
        assert_eq!(time_of(&mut f, base + 62_500), "0.062    "); // exact tie: to even
        assert_eq!(time_of(&mut f, base + 187_500), "0.188    "); // exact tie: to even
        assert_eq!(time_of(&mut f, base + 1_000_500), "1.000    "); // 1.0005 is below in binary
        assert_eq!(time_of(&mut f, base + 31_871_000), "31.871   ");
        assert_eq!(time_of(&mut f, base + 999_999), "1.000    ");
        assert_eq!(time_of(&mut f, base + 123_456_789), "123.457  ");
        // Nine characters fill the column: nothing separates it from PID.
        assert_eq!(time_of(&mut f, base + 12_345_678_900), "12345.679");
        assert_eq!(
            line_str(&mut f, &mk(base + 12_345_678_900)),
            "12345.6791      a            4  1.2.3.4          5.6.7.8          80  \n"
        );
        // An earlier event (another CPU's buffer) goes negative, as in bcc.
        assert_eq!(time_of(&mut f, base - 1), "-0.000   ");
        assert_eq!(time_of(&mut f, base - 2_500), "-0.003   ");
        assert_eq!(time_of(&mut f, base - 62_500), "-0.062   ");
        // The origin stays the first event's.
        assert_eq!(f.first_ts_us(), Some(base));
    }

    #[test]
    fn seed_uid() {
        let mut f = LineFormatter::new(UID);
        assert_eq!(
            line_str(&mut f, &ev(0, 0, 31333, b"telnet", 4, "127.0.0.1", "127.0.0.1", 23)),
            "0     31333  telnet       4  127.0.0.1        127.0.0.1        23  \n"
        );
        assert_eq!(
            line_str(&mut f, &ev(0, 1000, 31338, b"telnet", 6, "::1", "::1", 23)),
            "1000  31338  telnet       6  ::1              ::1              23  \n"
        );
        // A 6-digit uid fills its column and touches the PID.
        assert_eq!(
            line_str(&mut f, &ev(0, 100000, 7, b"x", 4, "1.1.1.1", "2.2.2.2", 1)),
            "1000007      x            4  1.1.1.1          2.2.2.2          1   \n"
        );
    }

    #[test]
    fn timestamp_and_uid() {
        let mut f = LineFormatter::new(BOTH);
        let e0 = ev(5_000_000, 1000, 31338, b"telnet", 6, "::1", "::1", 23);
        let e1 = ev(6_234_567, 0, 31333, b"telnet", 4, "127.0.0.1", "127.0.0.1", 23);
        assert_eq!(
            line_str(&mut f, &e0),
            "0.000    1000  31338  telnet       6  ::1              ::1              23  \n"
        );
        assert_eq!(
            line_str(&mut f, &e1),
            "1.235    0     31333  telnet       4  127.0.0.1        127.0.0.1        23  \n"
        );
    }

    #[test]
    fn comm_is_truncated_to_12_bytes() {
        let mut f = LineFormatter::new(BASE);
        let e = ev(0, 0, 1, b"abcdefghijklmno", 4, "1.2.3.4", "5.6.7.8", 443);
        assert_eq!(line_str(&mut f, &e), "1      abcdefghijkl 4  1.2.3.4          5.6.7.8          443 \n");
        // All 16 bytes used (no NUL) is truncated the same way.
        let mut e = e;
        e.comm = *b"0123456789abcdef";
        assert_eq!(line_str(&mut f, &e), "1      0123456789ab 4  1.2.3.4          5.6.7.8          443 \n");
        // Empty comm is all padding.
        e.comm = [0; 16];
        assert_eq!(line_str(&mut f, &e), "1                   4  1.2.3.4          5.6.7.8          443 \n");
    }

    #[test]
    fn hostile_comms_stay_on_one_line_with_no_control_byte() {
        let mut f = LineFormatter::new(BASE);
        let tail = " 4  1.2.3.4          5.6.7.8          80  \n";
        for (comm, shown) in [
            (&b"x\n1 fake"[..], r"x\0101 fake "),
            (b"tab\tesc\x1b[31m", r"tab\009esc\027[31m"),
            (b"cr\rend", r"cr\013end   "),
            (b"del\x7f", r"del\127     "),
            (b"back\\slash", r"back\\slash "),
            // Line separator and right-to-left override, byte by byte; the
            // escape is wider than the column and overflows it.
            ("a\u{2028}b".as_bytes(), r"a\226\128\168b"),
            ("\u{202e}olleh".as_bytes(), r"\226\128\174olleh"),
            ("\u{200f}".as_bytes(), r"\226\128\143"),
            // The kernel ends a name at its first NUL.
            (b"nul\0after", "nul         "),
            (b"exactly15bytes!", "exactly15byt"),
        ] {
            let text = line_str(&mut f, &ev(0, 0, 7, comm, 4, "1.2.3.4", "5.6.7.8", 80));
            assert_eq!(text, format!("7      {shown}{tail}"), "{comm:?}");
            assert_eq!(text.matches('\n').count(), 1);
            assert!(!text[..text.len() - 1].bytes().any(|b| b < 0x20 || b == 0x7f), "{text:?}");
            assert!(!text.contains(['\u{2028}', '\u{202e}', '\u{200f}']), "{text:?}");
        }
    }

    #[test]
    fn comm_bytes_are_copied_verbatim_but_for_controls() {
        let mut f = LineFormatter::new(BASE);
        let e = ev(0, 0, 42, b"a\xff\xfeb\xc3", 4, "1.2.3.4", "5.6.7.8", 80);
        let mut want = b"42     a\xff\xfeb\xc3".to_vec();
        want.extend_from_slice(b"        4  1.2.3.4          5.6.7.8          80  \n");
        assert_eq!(line(&mut f, &e), want);
        // A lone C1 byte (0x80) is a control to an 8-bit terminal: escaped.
        let e = ev(0, 0, 42, b"a\xff\xfe\x80b\xc3", 4, "1.2.3.4", "5.6.7.8", 80);
        let mut want = b"42     a\xff\xfe\\128b\xc3".to_vec();
        want.extend_from_slice(b"    4  1.2.3.4          5.6.7.8          80  \n");
        assert_eq!(line(&mut f, &e), want);
        // Truncation is by byte, even inside a multi-byte sequence.
        let e = ev(0, 0, 42, "ééééééé".as_bytes(), 4, "1.2.3.4", "5.6.7.8", 80);
        let mut want = b"42     ".to_vec();
        want.extend_from_slice(&"ééééééé".as_bytes()[..12]);
        want.extend_from_slice(b" 4  1.2.3.4          5.6.7.8          80  \n");
        assert_eq!(line(&mut f, &e), want);
    }

    #[test]
    fn wide_values_overflow_their_columns() {
        let mut f = LineFormatter::new(BASE);
        assert_eq!(
            line_str(&mut f, &ev(0, 0, 4_194_304, b"big", 4, "1.2.3.4", "5.6.7.8", 65535)),
            "4194304 big          4  1.2.3.4          5.6.7.8          65535\n"
        );
        assert_eq!(
            line_str(&mut f, &ev(0, 0, u32::MAX, b"big", 4, "255.255.255.255", "0.0.0.0", 0)),
            "4294967295 big          4  255.255.255.255  0.0.0.0          0   \n"
        );
        assert_eq!(
            line_str(
                &mut f,
                &ev(
                    0,
                    0,
                    123456,
                    b"curl",
                    6,
                    "2001:db8:85a3:1234:5678:8a2e:370:7334",
                    "::ffff:10.1.2.3",
                    443
                )
            ),
            "123456 curl         6  2001:db8:85a3:1234:5678:8a2e:370:7334 ::ffff:10.1.2.3  443 \n"
        );
    }

    #[test]
    fn appends_without_touching_existing_bytes() {
        let mut f = LineFormatter::new(BASE);
        let mut out = b"keep".to_vec();
        write_header(&mut out, BASE);
        f.write_event(&mut out, &ev(0, 0, 1479, b"telnet", 4, "127.0.0.1", "127.0.0.1", 23));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("keep{HEADER}1479   telnet       4  127.0.0.1        127.0.0.1        23  \n")
        );
    }

    // ---- -L and -d, alone and with -t/-U ----

    /// Every combination of -t, -U, -L, -d, --result, --ppid, --container
    /// (text output).
    fn all_text_columns() -> Vec<Columns> {
        let mut all = Vec::new();
        for bits in 0..128u8 {
            all.push(Columns {
                timestamp: bits & 1 != 0,
                print_uid: bits & 2 != 0,
                lport: bits & 4 != 0,
                query: bits & 8 != 0,
                result: bits & 16 != 0,
                json: false,
                ppid: bits & 32 != 0,
                container: bits & 64 != 0,
            });
        }
        all
    }

    /// The header by Python's rules, spelled with std's formatting.
    fn reference_header(c: Columns) -> String {
        let mut s = String::new();
        if c.timestamp {
            s += &format!("{:<9}", "TIME(s)");
        }
        if c.print_uid {
            s += &format!("{:<6}", "UID");
        }
        s += &format!("{:<6} ", "PID");
        if c.ppid {
            s += &format!("{:<6} {:<12} ", "PPID", "PCOMM");
        }
        s += &format!("{:<12} ", "COMM");
        if c.container {
            s += &format!("{:<16} ", "CONTAINER");
        }
        s += &format!("{:<2} {:<16} ", "IP", "SADDR");
        if c.lport {
            s += &format!("{:<6} ", "LPORT");
        }
        s += &format!("{:<16} {:<4}", "DADDR", "DPORT");
        if c.result {
            s += &format!(" {:<12} {:<7}", "RESULT", "LAT(ms)");
        }
        if c.query {
            s += &format!(" {}", "QUERY");
        }
        s + "\n"
    }

    fn addr_text(ip: u8, a: &[u8; 16]) -> String {
        if ip == 6 {
            Ipv6Addr::from(*a).to_string()
        } else {
            Ipv4Addr::new(a[0], a[1], a[2], a[3]).to_string()
        }
    }

    /// One line by Python's rules, spelled with std's formatting (ASCII
    /// comms and addresses on which Rust's Display agrees with glibc).
    fn reference_line(c: Columns, e: &ConnectEvent, first_ts_us: u64, query: Option<&str>) -> String {
        let mut s = String::new();
        if c.timestamp {
            let delta = (e.ts_ns / 1000) as i64 - first_ts_us as i64;
            s += &format!("{:<9.3}", delta as f64 / 1_000_000.0);
        }
        if c.print_uid {
            s += &format!("{:<6}", e.uid);
        }
        let comm = std::str::from_utf8(e.comm_bytes()).unwrap();
        s += &format!("{:<6} ", e.pid);
        let identity = e.identity.as_deref();
        if c.ppid {
            let pcomm = identity.map_or("?", |i| std::str::from_utf8(i.pcomm_bytes()).unwrap());
            s += &format!("{:<6} {:<12.12} ", identity.map_or(0, |i| i.ppid), pcomm);
        }
        s += &format!("{comm:<12.12} ");
        if c.container {
            let column = identity.and_then(|i| i.container.as_ref()).map_or(&b"?"[..], |c| &c.column);
            s += &format!("{:<16} ", std::str::from_utf8(column).unwrap());
        }
        s += &format!("{:<2} {:<16} ", e.ip, addr_text(e.ip, &e.saddr));
        if c.lport {
            s += &format!("{:<6} ", e.lport);
        }
        s += &format!("{:<16} {:<4}", addr_text(e.ip, &e.daddr), e.dport);
        if c.result {
            let outcome = e.outcome.expect("sample events have outcomes");
            let result = match outcome.end {
                HandshakeEnd::Established => "OK".to_string(),
                HandshakeEnd::Failed(111) => "ECONNREFUSED".to_string(),
                HandshakeEnd::Failed(n) => format!("E{n}"),
                HandshakeEnd::Closed => "CLOSED".to_string(),
                HandshakeEnd::Pending => "PENDING".to_string(),
            };
            let ms = (outcome.done_ns - e.ts_ns) as f64 / 1e6;
            s += &format!(" {result:<12} {ms:<7.3}");
        }
        if c.query {
            s += &format!(" {}", query.unwrap_or(""));
        }
        s + "\n"
    }

    /// Events with lport set, and the query each is printed with.
    fn sample_events() -> Vec<(ConnectEvent, Option<&'static str>)> {
        // Each with an outcome, used with --result only.
        let ends = [
            HandshakeEnd::Established,
            HandshakeEnd::Failed(111),
            HandshakeEnd::Closed,
            HandshakeEnd::Pending,
            HandshakeEnd::Failed(4095),
        ];
        let mut next = 0;
        let mut with_lport = |mut e: ConnectEvent, lport: u16| {
            e.lport = lport;
            let end = ends[next % ends.len()];
            e.outcome = Some(Outcome { end, done_ns: e.ts_ns + 1_234_567 * next as u64 });
            next += 1;
            e
        };
        vec![
            (
                with_lport(ev(1_000_000, 0, 1479, b"telnet", 4, "127.0.0.1", "127.0.0.1", 23), 0),
                Some("localhost"),
            ),
            (
                with_lport(
                    ev(1_250_400, 1000, 3706, b"nc", 4, "192.168.122.205", "192.168.122.150", 5000),
                    57266,
                ),
                Some("example.com"),
            ),
            (
                with_lport(ev(2_000_500, 65534, 2015, b"ssh", 6, "fe80::2000:bff:fe82:3ac", "::1", 22), 1),
                None,
            ),
            (
                with_lport(
                    ev(900_000, 100000, 4_194_304, b"local_agent_x", 4, "10.1.2.3", "10.4.5.6", 65535),
                    65535,
                ),
                Some("No DNS Query (12.500ms)"),
            ),
            (
                with_lport(
                    ev(
                        3_123_456,
                        7,
                        123456,
                        b"curl",
                        6,
                        "2001:db8:85a3:1234:5678:8a2e:370:7334",
                        "::ffff:10.1.2.3",
                        443,
                    ),
                    443,
                ),
                Some(""),
            ),
        ]
    }

    /// Who made each sample event: a parent with a long name, containers
    /// named, by id, by a cgroup's name, the root cgroup, and none read.
    fn with_identities(
        events: Vec<(ConnectEvent, Option<&'static str>)>,
    ) -> Vec<(ConnectEvent, Option<&'static str>)> {
        let columns: [&[u8]; 5] = [b"web", b"0123456789ab", b"a-very-long-service-name.service", b"-", b""];
        events
            .into_iter()
            .enumerate()
            .map(|(i, (mut e, q))| {
                let mut pcomm = [0u8; COMM_LEN];
                let name: &[u8] = if i % 2 == 0 { b"bash" } else { b"containerd-shim" };
                pcomm[..name.len()].copy_from_slice(name);
                let column = columns[i % columns.len()];
                let container = (!column.is_empty()).then(|| {
                    Arc::new(ContainerFields { column: column.to_vec(), ..ContainerFields::default() })
                });
                e.identity = (i != 3).then(|| {
                    Box::new(TaskIdentity {
                        ppid: 100 + i as u32,
                        pcomm,
                        container,
                        ..TaskIdentity::default()
                    })
                });
                (e, q)
            })
            .collect()
    }

    #[test]
    fn every_text_combination_matches_the_reference() {
        for c in all_text_columns() {
            assert_eq!(header(c), reference_header(c), "{c:?}");
            let mut f = LineFormatter::new(c);
            let events =
                if c.ppid || c.container { with_identities(sample_events()) } else { sample_events() };
            let first = events[0].0.ts_ns / 1000;
            for (e, q) in &events {
                let mut got = Vec::new();
                f.write_event_with_query(&mut got, e, q.map(str::as_bytes));
                assert_eq!(String::from_utf8(got).unwrap(), reference_line(c, e, first, *q), "{c:?} {e:?}");
            }
        }
    }

    #[test]
    fn lport_and_query_literals() {
        // Literal spot checks of the reference itself, from the layout in
        // bcc's examples with the seed's widths.
        let lport = Columns { lport: true, ..BASE };
        let dns = Columns { query: true, ..BASE };
        let mut e = ev(0, 0, 3706, b"nc", 4, "192.168.122.205", "192.168.122.150", 5000);
        e.lport = 57266;
        assert_eq!(header(lport), "PID    COMM         IP SADDR            LPORT  DADDR            DPORT\n");
        assert_eq!(
            line_str(&mut LineFormatter::new(lport), &e),
            "3706   nc           4  192.168.122.205  57266  192.168.122.150  5000\n"
        );
        assert_eq!(header(dns), "PID    COMM         IP SADDR            DADDR            DPORT QUERY\n");
        let e = ev(0, 0, 679, b"curl", 4, "192.168.1.1", "93.184.216.34", 80);
        let mut out = Vec::new();
        LineFormatter::new(dns).write_event_with_query(&mut out, &e, Some(b"example.com"));
        assert_eq!(out, b"679    curl         4  192.168.1.1      93.184.216.34    80   example.com\n");
        // No text: the separator stays, as `" %s" % ""` leaves it.
        out.clear();
        LineFormatter::new(dns).write_event(&mut out, &e);
        assert_eq!(out, b"679    curl         4  192.168.1.1      93.184.216.34    80   \n");

        let all = Columns {
            timestamp: true,
            print_uid: true,
            lport: true,
            result: false,
            query: true,
            json: false,
            ppid: false,
            container: false,
        };
        assert_eq!(
            header(all),
            "TIME(s)  UID   PID    COMM         IP SADDR            LPORT  DADDR            DPORT QUERY\n"
        );
        let mut e = ev(5, 1000, 31338, b"telnet", 6, "::1", "::1", 23);
        e.lport = 40000;
        out.clear();
        LineFormatter::new(all).write_event_with_query(&mut out, &e, Some(b"localhost"));
        assert_eq!(
            out,
            b"0.000    1000  31338  telnet       6  ::1              40000  ::1              23   localhost\n"
        );
    }

    #[test]
    fn query_is_ignored_without_dns_and_copied_verbatim_with_it() {
        let e = ev(0, 0, 1, b"a", 4, "1.2.3.4", "5.6.7.8", 80);
        let mut out = Vec::new();
        LineFormatter::new(BASE).write_event_with_query(&mut out, &e, Some(b"ignored"));
        assert_eq!(out, b"1      a            4  1.2.3.4          5.6.7.8          80  \n");
        out.clear();
        let dns = Columns { query: true, ..BASE };
        LineFormatter::new(dns).write_event_with_query(&mut out, &e, Some(b"\xff\"x\\"));
        assert_eq!(out, b"1      a            4  1.2.3.4          5.6.7.8          80   \xff\"x\\\n");
    }

    #[test]
    fn json_has_no_header() {
        for c in all_text_columns() {
            assert_eq!(header(Columns { json: true, ..c }), "");
        }
    }

    #[test]
    fn json_lines_for_every_combination() {
        let e0 = ev(1_000_000, 0, 1479, b"telnet", 4, "127.0.0.1", "127.0.0.1", 23);
        let mut e1 = ev(1_250_400, 1000, 3706, b"nc", 6, "fe80::1", "::ffff:10.1.2.3", 5000);
        e1.lport = 57266;
        let e2 = ev(999_999, 7, 9, b"early", 4, "10.0.0.1", "10.0.0.2", 443);
        for c in all_text_columns() {
            let c = Columns { json: true, ..c };
            let mut f = LineFormatter::new(c);
            let mut out = Vec::new();
            f.write_event_with_query(&mut out, &e0, Some(b"localhost"));
            f.write_event_with_query(&mut out, &e1, None);
            f.write_event_with_query(&mut out, &e2, Some(b"example.com"));
            // -U and -L change nothing: uid is always there, lport when known.
            let (t0, t1, t2) = if c.timestamp {
                ("\"ts_us\":0,", "\"ts_us\":250400,", "\"ts_us\":-1,")
            } else {
                ("", "", "")
            };
            let (q0, q1, q2) = if c.query {
                (",\"query\":\"localhost\"", ",\"query\":null", ",\"query\":\"example.com\"")
            } else {
                ("", "", "")
            };
            let want = format!(
                "{{{t0}\"uid\":0,\"pid\":1479,\"comm\":\"telnet\",\"ip\":4,\"saddr\":\"127.0.0.1\",\
                 \"daddr\":\"127.0.0.1\",\"dport\":23{q0}}}\n\
                 {{{t1}\"uid\":1000,\"pid\":3706,\"comm\":\"nc\",\"ip\":6,\"saddr\":\"fe80::1\",\
                 \"lport\":57266,\"daddr\":\"::ffff:10.1.2.3\",\"dport\":5000{q1}}}\n\
                 {{{t2}\"uid\":7,\"pid\":9,\"comm\":\"early\",\"ip\":4,\"saddr\":\"10.0.0.1\",\
                 \"daddr\":\"10.0.0.2\",\"dport\":443{q2}}}\n"
            );
            assert_eq!(String::from_utf8(out).unwrap(), want, "{c:?}");
            assert_eq!(f.first_ts_us(), if c.timestamp { Some(1_000_000) } else { None });
        }
    }

    #[test]
    fn json_brief_example_and_extremes() {
        let json = Columns { json: true, ..BASE };
        let e = ev(0, 0, 1479, b"telnet", 4, "127.0.0.1", "127.0.0.1", 23);
        assert_eq!(
            line_str(&mut LineFormatter::new(json), &e),
            "{\"uid\":0,\"pid\":1479,\"comm\":\"telnet\",\"ip\":4,\"saddr\":\"127.0.0.1\",\
             \"daddr\":\"127.0.0.1\",\"dport\":23}\n"
        );
        // Full 16-byte comm (not cut to 12 as in text), maximal numbers.
        let mut e = ev(0, u32::MAX, u32::MAX, b"0123456789abcdef", 6, "::", "::", 65535);
        e.lport = 65535;
        e.ts_ns = u64::MAX;
        let mut f = LineFormatter::with_first_ts_us(Columns { timestamp: true, ..json }, 0);
        assert_eq!(
            line_str(&mut f, &e),
            "{\"ts_us\":18446744073709551,\"uid\":4294967295,\"pid\":4294967295,\
             \"comm\":\"0123456789abcdef\",\"ip\":6,\"saddr\":\"::\",\"lport\":65535,\"daddr\":\"::\",\
             \"dport\":65535}\n"
        );
    }

    #[test]
    fn json_comm_escapes() {
        let json = Columns { json: true, ..BASE };
        let mut f = LineFormatter::new(json);
        let e = ev(0, 0, 1, b"a\"b\\c\x01\t\n\x1f\x7f/", 4, "1.2.3.4", "5.6.7.8", 80);
        // DEL is escaped (a terminal control); '/' needs no escape in JSON.
        let want = r#"{"uid":0,"pid":1,"comm":"a\"b\\c\u0001\u0009\u000a\u001f\u007f/","ip":4,"#;
        assert!(line_str(&mut f, &e).starts_with(want), "{want}");
        let e = ev(0, 0, 1, "é€😀".as_bytes(), 4, "1.2.3.4", "5.6.7.8", 80);
        assert!(line_str(&mut f, &e).contains("\"comm\":\"é€😀\","));
        let e = ev(0, 0, 1, b"a\xff\xc3", 4, "1.2.3.4", "5.6.7.8", 80);
        assert!(line_str(&mut f, &e).contains(r#""comm":"a\udcff\udcc3","#));
    }

    // ---- the -t column against std's float formatting ----

    /// Reference: std's `{:<9.3}` on the f64, which (like Python's `%.3f`)
    /// rounds the exact binary value, ties to even.
    fn reference(delta_us: i64) -> String {
        format!("{:<9.3}", delta_us as f64 / 1_000_000.0)
    }

    fn fast(delta_us: i64) -> String {
        let mut out = Vec::new();
        write_seconds_3(&mut out, delta_us);
        pad(&mut out, 0, 9);
        String::from_utf8(out).unwrap()
    }

    fn check(d: i64) {
        assert_eq!(fast(d), reference(d), "delta_us = {d}");
        if d != i64::MIN {
            assert_eq!(fast(-d), reference(-d), "delta_us = {}", -d);
        }
    }

    #[test]
    fn std_reference_matches_python_literals() {
        // Values checked with CPython's "%-9.3f" (not with this code).
        assert_eq!(reference(2_500), "0.003    ");
        assert_eq!(reference(62_500), "0.062    ");
        assert_eq!(reference(1_000_500), "1.000    ");
        assert_eq!(reference(500), "0.001    ");
        assert_eq!(reference(187_500), "0.188    ");
        assert_eq!(reference(-1), "-0.000   ");
        assert_eq!(reference(1 << 60), "1152921504606.847");
    }

    #[test]
    fn seconds_small_values_exhaustive() {
        for d in 0..1_000_000 {
            check(d);
        }
    }

    #[test]
    fn seconds_all_ties_in_range() {
        // Every r == 500 value up to ~17 minutes, plus the exact binary ties
        // (1000 q + 500 with (2q + 1) divisible by 125, i.e. odd sixteenths
        // of a second) near zero and near the 2^53 end of the fast path.
        for q in 0..1_000_000i64 {
            check(1000 * q + 500);
        }
        let k_max = (1i64 << 53) / 125_000; // last k with 62_500 (2k + 1) < 2^53
        for k in (0..200_000).chain(k_max - 200_000..k_max + 10) {
            check(62_500 * (2 * k + 1));
        }
    }

    #[test]
    fn seconds_large_and_random() {
        let mut x: u64 = 0x853c_49e6_748f_ea9b;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..300_000 {
            let r = next();
            // Spread over every magnitude up to beyond the fast path.
            let bits = (r % 64) as u32;
            let d = (next() >> (64 - bits.max(1))) as i64;
            check(d);
            // And the tie right next to it.
            check(d / 1000 * 1000 + 500);
        }
        let limit = 1i64 << 53;
        for d in (limit - 5_000..limit + 5_000).chain([i64::MAX, i64::MIN, i64::MAX / 1000]) {
            check(d);
        }
        for q in (limit / 1000 - 2_000)..(limit / 1000 + 2_000) {
            check(q * 1000 + 500);
        }
    }

    #[test]
    fn extreme_timestamps() {
        // The largest possible ts_us against an origin of 0 and the reverse.
        let max_us = u64::MAX / 1000;
        let mut e = ev(0, 0, 1, b"a", 4, "1.2.3.4", "5.6.7.8", 80);
        e.ts_ns = u64::MAX;
        let mut f = LineFormatter::with_first_ts_us(TIME, 0);
        // Checked with CPython: "%-9.3f" % (18446744073709551 / 1000000.0).
        assert_eq!(
            line_str(&mut f, &e),
            "18446744073.7101      a            4  1.2.3.4          5.6.7.8          80  \n"
        );
        let mut f = LineFormatter::with_first_ts_us(TIME, max_us);
        e.ts_ns = 0;
        assert_eq!(
            line_str(&mut f, &e),
            "-18446744073.7101      a            4  1.2.3.4          5.6.7.8          80  \n"
        );
    }
}
