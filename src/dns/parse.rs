//! The DNS message parser: from a response to its question name and its A and
//! AAAA answer addresses, which is all bcc's `-d` keeps (it parses with
//! dnslib and stores `str(qname)` minus the trailing dot for every A/AAAA
//! answer).
//!
//! Input is whatever arrived from port 53, so nothing in it is trusted:
//! counts are only loop bounds (never allocation sizes), every read is
//! bounds-checked, and compressed names are bounded in jumps and length.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const HEADER_LEN: usize = 12;
const FLAG_QR: u16 = 0x8000;
const FLAG_AA: u16 = 0x0400;
const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;
/// A name on the wire is at most 255 bytes, labels, length bytes and the
/// root byte included (RFC 1035 §3.1).
const MAX_NAME_WIRE_LEN: usize = 255;
/// Compression pointers followed for one name. Pointers must go backwards
/// and the name length is bounded, so loops end anyway; this caps the work.
const MAX_POINTER_JUMPS: usize = 128;

/// What a response says that `-d` uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The question name without the trailing dot, in dnslib's text form:
    /// bytes 33..=126 as they are, others as `\DDD`. Unlike dnslib, a `.` or
    /// `\` inside a label is escaped (`\.`, `\\`), so the text is unambiguous;
    /// and bytes that are not UTF-8 are escaped where dnslib refuses the
    /// whole message. The root name is the empty string, as in bcc.
    pub question: String,
    /// The addresses of the A and AAAA answers (class IN), in message order.
    pub answers: Vec<IpAddr>,
}

/// Parses a DNS response the way bcc filters them: QR set, exactly one
/// question, and at least one answer or the AA flag. None for anything
/// else and for any malformed or truncated header, question or answer
/// section. The authority and additional sections are not read (nothing
/// in them is used), so a message cut short there still counts.
pub fn parse_response(msg: &[u8]) -> Option<Response> {
    if msg.len() < HEADER_LEN {
        return None;
    }
    let flags = be16(msg, 2)?;
    let qdcount = be16(msg, 4)?;
    let ancount = be16(msg, 6)?;
    if flags & FLAG_QR == 0 || qdcount != 1 || (ancount == 0 && flags & FLAG_AA == 0) {
        return None;
    }
    let mut question = String::new();
    let mut first = true;
    let mut pos = walk_name(msg, HEADER_LEN, |label| {
        if !std::mem::take(&mut first) {
            question.push('.');
        }
        escape_label(label, &mut question);
    })?;
    pos = skip(msg, pos, 4)?; // QTYPE, QCLASS
    let mut answers = Vec::new();
    for _ in 0..ancount {
        pos = walk_name(msg, pos, |_| {})?;
        let rtype = be16(msg, pos)?;
        let class = be16(msg, pos + 2)?;
        let rdlength = usize::from(be16(msg, pos + 8)?);
        let rdata = msg.get(pos + 10..pos + 10 + rdlength)?;
        pos += 10 + rdlength;
        if class != CLASS_IN {
            continue;
        }
        if let (TYPE_A, Ok(octets)) = (rtype, <[u8; 4]>::try_from(rdata)) {
            answers.push(IpAddr::V4(Ipv4Addr::from(octets)));
        } else if let (TYPE_AAAA, Ok(octets)) = (rtype, <[u8; 16]>::try_from(rdata)) {
            answers.push(IpAddr::V6(Ipv6Addr::from(octets)));
        }
    }
    Some(Response { question, answers })
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    let pair = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([pair[0], pair[1]]))
}

/// `pos + n` if that much of `msg` is left.
fn skip(msg: &[u8], pos: usize, n: usize) -> Option<usize> {
    let end = pos.checked_add(n)?;
    (end <= msg.len()).then_some(end)
}

/// Walks the (possibly compressed) name at `start`, handing each label to
/// `label`, and returns where the name ends in the message: after its root
/// byte, or after the first pointer. None if it runs off the message, uses
/// a label type other than plain or pointer (0x40 extended, 0x80 reserved),
/// points forward (as dnslib, RFC 1035 pointers go to a prior occurrence),
/// jumps too often or grows past 255 bytes.
fn walk_name(msg: &[u8], start: usize, mut label: impl FnMut(&[u8])) -> Option<usize> {
    let mut pos = start;
    let mut end = None;
    let mut jumps = 0;
    let mut wire_len = 0;
    loop {
        let len = *msg.get(pos)?;
        match len & 0xc0 {
            0x00 if len == 0 => {
                wire_len += 1;
                if wire_len > MAX_NAME_WIRE_LEN {
                    return None;
                }
                return Some(end.unwrap_or(pos + 1));
            }
            0x00 => {
                let len = usize::from(len);
                wire_len += 1 + len;
                if wire_len > MAX_NAME_WIRE_LEN {
                    return None;
                }
                label(msg.get(pos + 1..pos + 1 + len)?);
                pos += 1 + len;
            }
            0xc0 => {
                let target = usize::from(be16(msg, pos)? & 0x3fff);
                jumps += 1;
                if target >= pos || jumps > MAX_POINTER_JUMPS {
                    return None;
                }
                end.get_or_insert(pos + 2);
                pos = target;
            }
            _ => return None,
        }
    }
}

/// Appends one label in presentation form: printable ASCII but `.` and `\`
/// as is, those two backslash-escaped, every other byte as `\DDD` (decimal,
/// as dnslib and RFC 1035 §5.1 write them).
fn escape_label(label: &[u8], out: &mut String) {
    for &byte in label {
        match byte {
            b'.' | b'\\' => {
                out.push('\\');
                out.push(char::from(byte));
            }
            33..=126 => out.push(char::from(byte)),
            _ => {
                let _ = write!(out, "\\{byte:03}");
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds DNS messages the way servers write them: names compressed
    /// against earlier ones when asked, records appended in order.
    pub(crate) struct Message {
        bytes: Vec<u8>,
    }

    pub(crate) const QR: u16 = FLAG_QR;
    pub(crate) const AA: u16 = FLAG_AA;
    const RD_RA: u16 = 0x0180;
    const TYPE_CNAME: u16 = 5;

    impl Message {
        /// A header with these counts; flags as a resolver's answer (QR, RD, RA).
        pub(crate) fn new(flags: u16, qd: u16, an: u16) -> Message {
            let mut bytes = vec![0xbe, 0xef];
            for word in [flags | RD_RA, qd, an, 0, 0] {
                bytes.extend(word.to_be_bytes());
            }
            Message { bytes }
        }

        /// An uncompressed name.
        pub(crate) fn name(mut self, name: &str) -> Message {
            for label in name.split('.').filter(|l| !l.is_empty()) {
                self.bytes.push(label.len() as u8);
                self.bytes.extend(label.as_bytes());
            }
            self.bytes.push(0);
            self
        }

        /// A compression pointer to `offset`.
        pub(crate) fn pointer(mut self, offset: u16) -> Message {
            self.bytes.extend((0xc000 | offset).to_be_bytes());
            self
        }

        pub(crate) fn raw(mut self, bytes: &[u8]) -> Message {
            self.bytes.extend(bytes);
            self
        }

        pub(crate) fn question(self, name: &str, qtype: u16) -> Message {
            self.name(name).raw(&qtype.to_be_bytes()).raw(&CLASS_IN.to_be_bytes())
        }

        /// Type, class IN, TTL 300 and rdata, after an owner name already written.
        pub(crate) fn record(self, rtype: u16, rdata: &[u8]) -> Message {
            self.raw(&rtype.to_be_bytes())
                .raw(&CLASS_IN.to_be_bytes())
                .raw(&300u32.to_be_bytes())
                .raw(&(rdata.len() as u16).to_be_bytes())
                .raw(rdata)
        }

        /// An A answer whose owner is the question name (pointer to 12).
        pub(crate) fn a(self, addr: [u8; 4]) -> Message {
            self.pointer(12).record(TYPE_A, &addr)
        }

        pub(crate) fn aaaa(self, addr: Ipv6Addr) -> Message {
            self.pointer(12).record(TYPE_AAAA, &addr.octets())
        }

        pub(crate) fn build(self) -> Vec<u8> {
            self.bytes
        }
    }

    /// A name in wire form, uncompressed: rdata of a CNAME.
    fn wire_name(name: &str) -> Vec<u8> {
        Message { bytes: Vec::new() }.name(name).bytes
    }

    /// A resolver's answer for `name` A: one A record, compressed owner.
    pub(crate) fn a_response(name: &str, addr: [u8; 4]) -> Vec<u8> {
        Message::new(QR, 1, 1).question(name, TYPE_A).a(addr).build()
    }

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    #[test]
    fn a_answer() {
        let r = parse_response(&a_response("example.com", [93, 184, 216, 34])).unwrap();
        assert_eq!(r, Response { question: "example.com".into(), answers: vec![v4(93, 184, 216, 34)] });
    }

    #[test]
    fn aaaa_answers_keep_message_order() {
        let one: Ipv6Addr = "2606:2800:220:1::1".parse().unwrap();
        let two: Ipv6Addr = "fd00::1:2".parse().unwrap();
        let msg = Message::new(QR, 1, 2).question("Example.COM", TYPE_AAAA).aaaa(one).aaaa(two).build();
        let r = parse_response(&msg).unwrap();
        assert_eq!(r.question, "Example.COM", "case is kept, as dnslib does");
        assert_eq!(r.answers, vec![IpAddr::V6(one), IpAddr::V6(two)]);
    }

    #[test]
    fn cname_chain_stores_the_question_not_the_target() {
        // www.example.com CNAME edge.example.net; edge.example.net CNAME
        // e1.cdn.example; e1.cdn.example A 192.0.2.7 -- each owner a pointer
        // to the previous target, as resolvers send it.
        let msg = Message::new(QR, 1, 3).question("www.example.com", TYPE_A).pointer(12);
        let first_target = msg.bytes.len() + 10;
        let msg = msg.record(TYPE_CNAME, &wire_name("edge.example.net")).pointer(first_target as u16);
        let second_target = msg.bytes.len() + 10;
        let msg = msg
            .record(TYPE_CNAME, &wire_name("e1.cdn.example"))
            .pointer(second_target as u16)
            .record(TYPE_A, &[192, 0, 2, 7])
            .build();
        let r = parse_response(&msg).unwrap();
        assert_eq!(r.question, "www.example.com");
        assert_eq!(r.answers, vec![v4(192, 0, 2, 7)]);
    }

    #[test]
    fn other_types_classes_and_rdata_lengths_are_not_addresses() {
        let msg = Message::new(QR, 1, 5)
            .question("example.com", TYPE_A)
            .pointer(12)
            .record(16, b"\x05hello") // TXT
            .pointer(12)
            .record(TYPE_A, &[1, 2, 3]) // A with 3 bytes
            .pointer(12)
            .record(TYPE_AAAA, &[1, 2, 3, 4]) // AAAA with 4 bytes
            .pointer(12)
            .raw(&TYPE_A.to_be_bytes())
            .raw(&3u16.to_be_bytes()) // class CH
            .raw(&[0, 0, 0, 0, 0, 4, 9, 9, 9, 9])
            .a([10, 0, 0, 1])
            .build();
        assert_eq!(parse_response(&msg).unwrap().answers, vec![v4(10, 0, 0, 1)]);
    }

    #[test]
    fn only_single_question_responses_with_answers_or_aa() {
        let query = Message::new(0, 1, 1).question("example.com", TYPE_A).a([1, 1, 1, 1]).build();
        assert_eq!(parse_response(&query), None, "qr=0");
        let two_questions = Message::new(QR, 2, 1)
            .question("a.com", TYPE_A)
            .question("b.com", TYPE_A)
            .a([1, 1, 1, 1])
            .build();
        assert_eq!(parse_response(&two_questions), None, "qdcount=2");
        let no_question = Message::new(QR, 0, 1).a([1, 1, 1, 1]).build();
        assert_eq!(parse_response(&no_question), None, "qdcount=0");
        let nodata = Message::new(QR, 1, 0).question("example.com", TYPE_A).build();
        assert_eq!(parse_response(&nodata), None, "ancount=0 without aa");
        let authoritative_nodata = Message::new(QR | AA, 1, 0).question("example.com", TYPE_A).build();
        let r = parse_response(&authoritative_nodata).unwrap();
        assert_eq!((r.question.as_str(), r.answers.len()), ("example.com", 0), "aa passes bcc's filter");
    }

    #[test]
    fn trailing_sections_are_not_needed() {
        let mut msg = Message::new(QR, 1, 1).question("example.com", TYPE_A).a([1, 2, 3, 4]).build();
        msg[11] = 1; // arcount 1, an OPT record cut short
        msg.extend([0, 0, 41, 0x10]);
        assert_eq!(parse_response(&msg).unwrap().answers, vec![v4(1, 2, 3, 4)]);
    }

    #[test]
    fn root_question_is_the_empty_name() {
        let msg = Message::new(QR, 1, 1).question(".", TYPE_A).a([1, 2, 3, 4]).build();
        assert_eq!(parse_response(&msg).unwrap().question, "");
    }

    #[test]
    fn label_bytes_are_escaped() {
        let msg = Message::new(QR, 1, 1)
            .raw(b"\x03a.b\x04c\\ d\x04\xc3\xa9\xff\x01\x00\x00\x01\x00\x01")
            .a([1, 2, 3, 4])
            .build();
        assert_eq!(parse_response(&msg).unwrap().question, r"a\.b.c\\\032d.\195\169\255\001");
    }

    #[test]
    fn compressed_question_and_pointer_chains() {
        // The question name points into itself? Not allowed: it is the first
        // name, so any pointer in it goes forward. A chain of backward
        // pointers in answers is fine.
        let msg = Message::new(QR, 1, 2)
            .question("example.com", TYPE_A)
            .raw(&[3, b'w', b'w', b'w'])
            .pointer(12) // www.example.com, at 29
            .record(TYPE_A, &[1, 1, 1, 1])
            .pointer(29) // -> www -> example.com
            .record(TYPE_A, &[2, 2, 2, 2])
            .build();
        assert_eq!(parse_response(&msg).unwrap().answers, vec![v4(1, 1, 1, 1), v4(2, 2, 2, 2)]);

        let forward = Message::new(QR, 1, 1).pointer(14).raw(&[0, 0, 1, 0, 1]).a([1, 1, 1, 1]).build();
        assert_eq!(parse_response(&forward), None, "forward pointer");
        let to_itself = Message::new(QR, 1, 1).pointer(12).raw(&[0, 1, 0, 1]).a([1, 1, 1, 1]).build();
        assert_eq!(parse_response(&to_itself), None, "pointer to itself");
    }

    #[test]
    fn pointer_loop_ends() {
        // At 29: label "a" then a pointer back to 29: backward, yet a loop.
        let msg = Message::new(QR, 1, 1)
            .question("example.com", TYPE_A)
            .raw(&[1, b'a'])
            .pointer(29)
            .record(TYPE_A, &[1, 1, 1, 1])
            .build();
        assert_eq!(parse_response(&msg), None);
        // Same loop in the question itself, placed after a decoy.
        let mut msg = Message::new(QR, 1, 1).build();
        msg.extend([1, b'a', 0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(parse_response(&msg), None);
    }

    #[test]
    fn name_length_limit() {
        let label63 = "x".repeat(63);
        let max = format!("{label63}.{label63}.{label63}.{}", "y".repeat(61)); // 255 on the wire
        let msg = Message::new(QR, 1, 1).question(&max, TYPE_A).a([1, 1, 1, 1]).build();
        assert_eq!(parse_response(&msg).unwrap().question, max);
        let over = format!("{max}z");
        let msg = Message::new(QR, 1, 1).question(&over, TYPE_A).a([1, 1, 1, 1]).build();
        assert_eq!(parse_response(&msg), None);
    }

    #[test]
    fn reserved_label_types_are_refused() {
        for first in [0x41u8, 0x80] {
            let msg = Message::new(QR, 1, 1).raw(&[first, b'a', 0, 0, 1, 0, 1]).a([1, 1, 1, 1]).build();
            assert_eq!(parse_response(&msg), None, "{first:#x}");
        }
    }

    #[test]
    fn bogus_counts_do_not_allocate_or_read_past_the_end() {
        let mut msg = a_response("example.com", [1, 2, 3, 4]);
        msg[6..8].copy_from_slice(&u16::MAX.to_be_bytes());
        assert_eq!(parse_response(&msg), None, "65535 answers announced, one present");
    }

    /// www.example.com, CNAME edge.example.com, then an A and an AAAA.
    fn cname_then_answers() -> Vec<u8> {
        Message::new(QR, 1, 3)
            .question("www.example.com", TYPE_A)
            .pointer(12)
            .record(TYPE_CNAME, &[4, b'e', b'd', b'g', b'e', 0xc0, 16])
            .a([10, 0, 0, 1])
            .aaaa("fd00::1".parse().unwrap())
            .build()
    }

    #[test]
    fn every_truncation_of_a_valid_message() {
        let full = cname_then_answers();
        let whole = parse_response(&full).unwrap();
        assert_eq!(whole.answers.len(), 2);
        for len in 0..full.len() {
            assert_eq!(parse_response(&full[..len]), None, "cut at {len}");
        }
    }

    /// xorshift64: deterministic, dependency-free noise.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut accepted = 0;
        for i in 0..100_000 {
            let len = (rng.next() % 300) as usize;
            let mut msg: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            // Pure noise rarely gets past the header checks, so two thirds
            // get a response header with 1 to 3 answers, and half of those
            // the root name as their question: the name and record code then
            // runs on noise too.
            if i % 3 != 0 && msg.len() > HEADER_LEN {
                msg[2] |= 0x80;
                msg[4..6].copy_from_slice(&1u16.to_be_bytes());
                msg[6..8].copy_from_slice(&(1 + rng.next() % 3).to_be_bytes()[6..]);
                if i % 3 == 2 {
                    msg[HEADER_LEN] = 0;
                }
            }
            if let Some(r) = parse_response(&msg) {
                accepted += 1;
                assert!(r.question.len() <= 4 * MAX_NAME_WIRE_LEN);
                assert!(r.answers.len() * 15 <= msg.len());
            }
        }
        // Noise almost never forms a whole record (its rdlength alone would
        // have to fit); mutated_valid_messages_never_panic covers acceptance.
        assert!(accepted < 100, "{accepted} noise messages accepted");
    }

    #[test]
    fn mutated_valid_messages_never_panic() {
        let base = cname_then_answers();
        let mut rng = XorShift(42);
        let mut accepted = 0;
        for _ in 0..100_000 {
            let mut msg = base.clone();
            for _ in 0..1 + rng.next() % 4 {
                let at = (rng.next() % msg.len() as u64) as usize;
                msg[at] = rng.next() as u8;
            }
            if parse_response(&msg).is_some() {
                accepted += 1;
            }
        }
        assert!(accepted > 0, "some mutations (TTL, id, address bytes) keep the message valid");
    }
}
