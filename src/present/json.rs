//! JSON output (-j, ours: bcc has none).
//!
//! Schema (the man page copies this section):
//!
//! ```text
//! One JSON object per line, UTF-8, no spaces, no header line. Keys appear
//! exactly in the order below; a key marked "only ..." is absent otherwise.
//!
//! Event, one per traced connect:
//!   ts_us  integer       only with -t: microseconds from the first printed
//!                        event (0 for it; negative for an event another CPU
//!                        saw earlier but reported later)
//!   uid    integer       always, with or without -U
//!   pid    integer       process id (tgid)
//!   ppid   integer       only with --ppid: the parent's process id, as the
//!                        kernel had it at the connect (0 if unreadable)
//!   pcomm  string        only with --ppid: the parent's task name
//!   comm   string        task name, all of its (up to 16) bytes
//!   cgroup string        only with --container, where found: the cgroup's
//!                        path in the hierarchy -v names ("/docker/<id>")
//!   container_id string  only with --container, where known: the
//!                        container's id (64 hex for Docker, Podman, CRI-O
//!                        and Kubernetes; the chosen id for ctr, runc, crun)
//!   container_name string only with --container, where the runtime keeps
//!                        one: the container's name
//!   pod    string        only with --container, for a Kubernetes pod's
//!                        container: the pod's name
//!   pod_namespace string only with --container, with pod: its namespace
//!   ip     integer       4 or 6
//!   saddr  string        source address, the same text as the SADDR column
//!   lport  integer       only when known (nonzero): local port
//!   daddr  string        destination address, as the DADDR column
//!   dport  integer       destination port
//!   result string        only with --result or --failed: "OK", the errno
//!                        name ("ECONNREFUSED", ...), "CLOSED" or "PENDING",
//!                        as the RESULT column
//!   latency_ms number    only with --result or --failed: milliseconds from
//!                        the connect to its outcome, 3 decimals (LAT(ms))
//!   query  string|null   only with -d: the QUERY text, null when none
//!
//!   {"uid":0,"pid":1479,"comm":"telnet","ip":4,"saddr":"127.0.0.1","daddr":"127.0.0.1","dport":23}
//!
//! With -t and --result, ts_us counts from when tracing started.
//!
//! Count row, with -c: after Ctrl-C, one per (saddr, daddr, dport), IPv4
//! rows first, then IPv6, each by connects descending (no blank line or
//! header, unlike the text table):
//!   ip, saddr, daddr, dport as above; connects  integer
//!
//!   {"ip":4,"saddr":"10.0.0.1","daddr":"10.0.0.2","dport":80,"connects":3}
//!
//! Strings (comm, query) are lossless over arbitrary bytes:
//!   - bytes that form valid UTF-8 pass through, except '"' -> \", '\' -> \\
//!     and these characters -> \uxxxx, their code point in lowercase hex:
//!     the C0 controls U+0000-U+001F, DEL U+007F, the C1 controls
//!     U+0080-U+009F, U+2028 and U+2029 (line and paragraph separators)
//!     and the bidirectional controls U+061C, U+200E, U+200F,
//!     U+202A-U+202E and U+2066-U+2069;
//!   - each byte B that is not part of a valid UTF-8 sequence (always
//!     0x80-0xff) becomes \udcXX, the code point U+DC00+B, as Python's
//!     "surrogateescape" error handler decodes it.
//!   In Python, json.loads(line)["comm"].encode("utf-8", "surrogateescape")
//!   gives back the exact bytes. Such lone surrogates are valid JSON syntax
//!   (RFC 8259 section 8.2) but some tools replace them with U+FFFD (jq) or
//!   reject them; names that are valid UTF-8 never produce one.
//! ```
//!
//! Written by hand into the caller's buffer like the text lines: no
//! allocation per event, and the exact bytes stay under our control.

use super::primitives::{write_addr, write_u64};
use crate::escape::{is_c1, is_layout_control};
use crate::event::ConnectEvent;

/// The `query` field of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Query<'a> {
    /// No -d: the key is absent.
    Off,
    /// -d: `"query":"…"`, or `"query":null` for `None`.
    Text(Option<&'a [u8]>),
}

/// Which optional keys an event object has (besides ts_us and query).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Parts {
    /// --result: `result` and `latency_ms`, from the event's outcome.
    pub result: bool,
    /// --ppid: `ppid` and `pcomm`.
    pub ppid: bool,
    /// --container: `cgroup`, `container_id`, `container_name`, `pod`,
    /// `pod_namespace`, each where known.
    pub container: bool,
}

/// Appends one event object and its '\n'. `ts_us` is the -t value
/// (relative to the first event), `None` without -t; `parts`: the
/// options' keys (--result's from the event's outcome; --ppid's and
/// --container's from its identity).
pub fn write_event(
    out: &mut Vec<u8>,
    event: &ConnectEvent,
    ts_us: Option<i64>,
    query: Query<'_>,
    parts: Parts,
) {
    let result = parts.result;
    out.push(b'{');
    if let Some(ts_us) = ts_us {
        out.extend_from_slice(b"\"ts_us\":");
        write_i64(out, ts_us);
        out.push(b',');
    }
    out.extend_from_slice(b"\"uid\":");
    write_u64(out, event.uid.into());
    out.extend_from_slice(b",\"pid\":");
    write_u64(out, event.pid.into());
    let identity = event.identity.as_deref();
    if let Some(identity) = identity {
        if parts.ppid {
            out.extend_from_slice(b",\"ppid\":");
            write_u64(out, identity.ppid.into());
            out.extend_from_slice(b",\"pcomm\":");
            write_string(out, identity.pcomm_bytes());
        }
    }
    out.extend_from_slice(b",\"comm\":");
    write_string(out, event.comm_bytes());
    if let Some(container) = identity.and_then(|i| i.container.as_ref()).filter(|_| parts.container) {
        let fields = [
            (&b",\"cgroup\":"[..], &container.cgroup),
            (b",\"container_id\":", &container.container_id),
            (b",\"container_name\":", &container.container_name),
            (b",\"pod\":", &container.pod),
            (b",\"pod_namespace\":", &container.pod_namespace),
        ];
        for (key, value) in fields {
            if let Some(value) = value {
                out.extend_from_slice(key);
                write_string(out, value);
            }
        }
    }
    out.extend_from_slice(b",\"ip\":");
    write_u64(out, event.ip.into());
    let v6 = event.ip == 6;
    out.extend_from_slice(b",\"saddr\":");
    write_addr_string(out, v6, &event.saddr);
    // 0 means the kernel had not bound the socket yet: no port to report,
    // and a 0 would read as a real (if impossible) port.
    if event.lport != 0 {
        out.extend_from_slice(b",\"lport\":");
        write_u64(out, event.lport.into());
    }
    out.extend_from_slice(b",\"daddr\":");
    write_addr_string(out, v6, &event.daddr);
    out.extend_from_slice(b",\"dport\":");
    write_u64(out, event.dport.into());
    if let (true, Some(outcome)) = (result, &event.outcome) {
        out.extend_from_slice(b",\"result\":\"");
        super::outcome::write_result(out, outcome.end);
        out.extend_from_slice(b"\",\"latency_ms\":");
        super::outcome::write_latency_ms(out, super::outcome::latency_ns(event, outcome));
    }
    match query {
        Query::Off => {}
        Query::Text(Some(text)) => {
            out.extend_from_slice(b",\"query\":");
            write_string(out, text);
        }
        Query::Text(None) => out.extend_from_slice(b",\"query\":null"),
    }
    out.extend_from_slice(b"}\n");
}

/// Appends one count-table object and its '\n'. `ip == 6` selects the
/// IPv6 text as for events; `ip` itself is printed as is.
pub fn write_count_row(
    out: &mut Vec<u8>,
    ip: u8,
    saddr: &[u8; 16],
    daddr: &[u8; 16],
    dport: u16,
    count: u64,
) {
    let v6 = ip == 6;
    out.extend_from_slice(b"{\"ip\":");
    write_u64(out, ip.into());
    out.extend_from_slice(b",\"saddr\":");
    write_addr_string(out, v6, saddr);
    out.extend_from_slice(b",\"daddr\":");
    write_addr_string(out, v6, daddr);
    out.extend_from_slice(b",\"dport\":");
    write_u64(out, dport.into());
    out.extend_from_slice(b",\"connects\":");
    write_u64(out, count);
    out.extend_from_slice(b"}\n");
}

/// Appends `bytes` as a JSON string literal, quotes included, with the
/// lossless scheme of the module doc.
pub fn write_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    // Each stretch of valid UTF-8, then the bytes after it that are not
    // (one to three: a bad sequence, or the end of the input inside one,
    // e.g. a comm the kernel cut mid-character).
    for chunk in bytes.utf8_chunks() {
        write_escaped_utf8(out, chunk.valid());
        for &byte in chunk.invalid() {
            out.extend_from_slice(b"\\udc");
            write_hex2(out, byte);
        }
    }
    out.push(b'"');
}

/// Appends valid UTF-8 with the escapes JSON requires (`"`, `\`, the C0
/// controls as `\u00xx`) and, as `\uxxxx`, DEL, the C1 controls, U+2028,
/// U+2029 and the Bidi_Control characters (`escape::is_layout_control`).
/// JSON allows those raw, but -j lines end up on terminals too (`tail -f`,
/// a log viewer): DEL and C1 are controls there (U+009B is CSI to xterm),
/// a bidi control reorders the rest of the line, and U+2028/U+2029 break
/// it in some viewers and were a syntax error inside a JavaScript string
/// before ES2019, which some consumers still parse JSON as. A `\u` escape
/// is lossless: every JSON parser gives back the same string.
fn write_escaped_utf8(out: &mut Vec<u8>, text: &str) {
    let mut clean_from = 0;
    for (at, c) in text.char_indices() {
        let controls = c < ' ' || c == '\u{7f}' || is_c1(c) || is_layout_control(c);
        if !(controls || c == '"' || c == '\\') {
            continue;
        }
        // Copy the run of bytes that needed nothing in one go.
        out.extend_from_slice(&text.as_bytes()[clean_from..at]);
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            // All of them are in the Basic Multilingual Plane: 4 digits.
            _ => {
                let code = u32::from(c);
                out.extend_from_slice(b"\\u");
                write_hex2(out, (code >> 8) as u8);
                write_hex2(out, code as u8);
            }
        }
        clean_from = at + c.len_utf8();
    }
    out.extend_from_slice(&text.as_bytes()[clean_from..]);
}

/// Two lowercase hex digits.
#[inline]
fn write_hex2(out: &mut Vec<u8>, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(HEX[usize::from(byte >> 4)]);
    out.push(HEX[usize::from(byte & 0xf)]);
}

/// The address text in quotes; it is plain ASCII, nothing to escape.
#[inline]
fn write_addr_string(out: &mut Vec<u8>, v6: bool, addr: &[u8; 16]) {
    out.push(b'"');
    write_addr(out, v6, addr);
    out.push(b'"');
}

/// Decimal text of a signed integer.
#[inline]
fn write_i64(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    write_u64(out, n.unsigned_abs());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(bytes: &[u8]) -> String {
        let mut out = Vec::new();
        write_string(&mut out, bytes);
        // JSON text must be UTF-8 whatever the input was.
        String::from_utf8(out).expect("output is UTF-8")
    }

    /// Decodes one JSON string literal the way a surrogateescape consumer
    /// does: \udc80-\udcff back to the byte, every other character to its
    /// UTF-8. Written against the JSON grammar, not against `write_string`:
    /// it also takes escapes we never write (\n, \/, surrogate pairs).
    fn decode(literal: &str) -> Vec<u8> {
        let inner = literal.strip_prefix('"').and_then(|s| s.strip_suffix('"')).expect("quoted");
        let mut out = Vec::new();
        let mut chars = inner.chars();
        let hex4 = |chars: &mut std::str::Chars<'_>| -> u32 {
            let digits: String = chars.take(4).collect();
            assert_eq!(digits.len(), 4, "short \\u escape");
            assert_eq!(digits, digits.to_lowercase(), "we write lowercase hex");
            u32::from_str_radix(&digits, 16).expect("hex")
        };
        while let Some(c) = chars.next() {
            assert!(c != '"' && !raw_control(c), "unescaped {c:?} in {literal:?}");
            if c != '\\' {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                continue;
            }
            let unit = match chars.next().expect("escape") {
                '"' => u32::from('"'),
                '\\' => u32::from('\\'),
                '/' => u32::from('/'),
                'n' => 0x0a,
                't' => 0x09,
                'r' => 0x0d,
                'b' => 0x08,
                'f' => 0x0c,
                'u' => hex4(&mut chars),
                other => panic!("bad escape \\{other}"),
            };
            let code = match unit {
                0xdc80..=0xdcff => {
                    out.push((unit - 0xdc00) as u8);
                    continue;
                }
                0xd800..=0xdbff => {
                    assert_eq!((chars.next(), chars.next()), (Some('\\'), Some('u')), "pair");
                    let low = hex4(&mut chars);
                    0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00)
                }
                _ => unit,
            };
            let c = char::from_u32(code).expect("scalar value");
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
        out
    }

    /// What must never appear raw inside a string we write, from the
    /// lists rather than from the code: C0, DEL, C1, the separators
    /// U+2028 and U+2029, and Bidi_Control.
    fn raw_control(c: char) -> bool {
        let code = u32::from(c);
        code < 0x20
            || (0x7f..=0x9f).contains(&code)
            || [0x61c, 0x200e, 0x200f].contains(&code)
            || (0x2028..=0x202e).contains(&code)
            || (0x2066..=0x2069).contains(&code)
    }

    fn round_trips(bytes: &[u8]) {
        let literal = string(bytes);
        assert_eq!(decode(&literal), bytes, "{bytes:x?} -> {literal}");
    }

    #[test]
    fn plain_and_escaped() {
        assert_eq!(string(b""), r#""""#);
        assert_eq!(string(b"telnet"), r#""telnet""#);
        assert_eq!(string(b"a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(
            string(b"\x00\x01\x08\t\n\r\x1b\x1f"),
            r#""\u0000\u0001\u0008\u0009\u000a\u000d\u001b\u001f""#
        );
        // Not escaped: space, '/', and whole non-ASCII characters but those
        // of the next tests.
        assert_eq!(string(b" /"), "\" /\"");
        assert_eq!(string("é€😀\u{a0}".as_bytes()), "\"é€😀\u{a0}\"");
    }

    #[test]
    fn del_and_c1_controls_are_escaped_and_their_neighbours_kept() {
        assert_eq!(string("~".as_bytes()), r#""~""#); // U+007E
        assert_eq!(string("\u{7f}".as_bytes()), r#""\u007f""#);
        assert_eq!(string("\u{80}".as_bytes()), r#""\u0080""#);
        assert_eq!(string("a\u{9b}31m".as_bytes()), r#""a\u009b31m""#);
        assert_eq!(string("\u{9f}".as_bytes()), r#""\u009f""#);
        assert_eq!(string("\u{a0}".as_bytes()), "\"\u{a0}\"");
        for c in '\u{80}'..='\u{9f}' {
            assert_eq!(string(c.to_string().as_bytes()), format!("\"\\u{:04x}\"", u32::from(c)));
        }
        // A lone 0x9b is not a character: its lossless form stays \udc9b.
        assert_eq!(string(b"a\x9b\x7f"), r#""a\udc9b\u007f""#);
    }

    #[test]
    fn line_separators_and_bidi_controls_are_escaped_and_their_neighbours_kept() {
        assert_eq!(string("a\u{2028}b\u{2029}".as_bytes()), r#""a\u2028b\u2029""#);
        assert_eq!(string("\u{202e}cod.exe".as_bytes()), r#""\u202ecod.exe""#);
        let layout = ['\u{61c}', '\u{200e}', '\u{200f}', '\u{2028}', '\u{2029}'];
        for c in layout.into_iter().chain('\u{202a}'..='\u{202e}').chain('\u{2066}'..='\u{2069}') {
            assert_eq!(string(c.to_string().as_bytes()), format!("\"\\u{:04x}\"", u32::from(c)));
        }
        for c in
            ['\u{61b}', '\u{61d}', '\u{200d}', '\u{2010}', '\u{2027}', '\u{202f}', '\u{2065}', '\u{206a}']
        {
            assert_eq!(string(c.to_string().as_bytes()), format!("\"{c}\""));
        }
        // U+2028 cut short is no character: its bytes are \udcXX.
        assert_eq!(string(b"ab\xe2\x80"), r#""ab\udce2\udc80""#);
    }

    #[test]
    fn no_character_is_written_raw_that_a_terminal_would_obey() {
        for c in char::MIN..=char::MAX {
            let bytes = c.to_string();
            let literal = string(bytes.as_bytes());
            assert!(literal.chars().all(|w| !raw_control(w)), "{c:?} -> {literal}");
            assert_eq!(decode(&literal), bytes.as_bytes(), "{c:?} -> {literal}");
        }
    }

    #[test]
    fn invalid_bytes_become_low_surrogates() {
        assert_eq!(string(b"\xff"), r#""\udcff""#);
        assert_eq!(string(b"\x80"), r#""\udc80""#);
        assert_eq!(string(b"a\xffb"), r#""a\udcffb""#);
        // A character cut short by the 15-byte comm limit: each byte kept.
        assert_eq!(string(b"ab\xe2\x82"), r#""ab\udce2\udc82""#);
        // Encoded surrogates and overlong forms are not UTF-8 either.
        assert_eq!(string(b"\xed\xa0\x80"), r#""\udced\udca0\udc80""#);
        assert_eq!(string(b"\xc0\xaf"), r#""\udcc0\udcaf""#);
        // A bad lead followed by a good character keeps the character.
        assert_eq!(string("\u{e9}".as_bytes()), "\"\u{e9}\"");
        assert_eq!(string(b"\xe9\xc3\xa9\""), "\"\\udce9\u{e9}\\\"\"");
    }

    #[test]
    fn every_short_byte_string_round_trips() {
        for a in 0..=255u8 {
            round_trips(&[a]);
            for b in 0..=255u8 {
                round_trips(&[a, b]);
            }
        }
    }

    #[test]
    fn random_byte_strings_round_trip() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        // Bytes drawn so that valid multi-byte sequences and near misses are
        // common: leads, continuations, ASCII and the escaped ones.
        const POOL: &[u8] =
            b"\x00\x1f\"\\a/\x7f\x80\x81\x9f\xa6\xa8\xae\xbf\xc2\xc3\xdf\xe0\xe2\xed\xef\xf0\xf4\xf5\xff";
        for _ in 0..100_000 {
            let len = (next() % 17) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if r % 4 == 0 {
                        (r as u8 >> 1) | 0x80
                    } else {
                        POOL[(r >> 8) as usize % POOL.len()]
                    }
                })
                .collect();
            round_trips(&bytes);
            // Valid UTF-8 never gets a surrogate escape.
            if let Ok(text) = std::str::from_utf8(&bytes) {
                assert!(!string(text.as_bytes()).contains("\\udc"), "{text:?}");
            }
        }
    }

    #[test]
    fn count_rows() {
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&[10, 0, 0, 1]);
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&[10, 0, 0, 2]);
        let mut out = Vec::new();
        write_count_row(&mut out, 4, &a, &b, 80, 3);
        assert_eq!(
            out,
            b"{\"ip\":4,\"saddr\":\"10.0.0.1\",\"daddr\":\"10.0.0.2\",\"dport\":80,\"connects\":3}\n"
        );
        out.clear();
        let mut v6 = [0u8; 16];
        v6[15] = 1;
        write_count_row(&mut out, 6, &v6, &v6, 0, u64::MAX);
        assert_eq!(
            out,
            b"{\"ip\":6,\"saddr\":\"::1\",\"daddr\":\"::1\",\"dport\":0,\"connects\":18446744073709551615}\n"
        );
    }

    #[test]
    fn negative_ts_us() {
        let mut out = Vec::new();
        for n in [0, 1, -1, 250_400, i64::MIN, i64::MAX] {
            out.clear();
            write_i64(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }
}
