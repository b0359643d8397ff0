//! Bytes from outside the tool (process names, paths, kernel symbol names,
//! file contents) made safe to print: no control byte reaches a terminal,
//! one event stays one line and keeps its order on screen. A leaf module:
//! it imports nothing of ours.
//!
//! The escape is the one `-d` already uses for DNS names, as dig writes
//! them: a byte below 0x20 or 0x7f (DEL) becomes `\DDD`, its value in three
//! decimal digits, and a backslash becomes `\\`. So do the C1 controls:
//! a byte of 0x80..=0x9f that is not part of a valid UTF-8 character (a
//! terminal in 8-bit mode, the Linux console without UTF-8 or xterm's
//! eightBitControl, takes it as a control, 0x9b being CSI), and the UTF-8
//! characters U+0080..=U+009F (`c2 80`..`c2 9f`), which terminals such as
//! xterm also obey in UTF-8 mode; each of their bytes is escaped. Every other byte is kept
//! as it is: printable ASCII, UTF-8 text (a name in any script), and the
//! other bytes of invalid UTF-8, which no terminal takes as a control.
//! Reversible: read left to right, `\\` is a backslash and `\` followed
//! by three digits is that byte.
//!
//! The characters that move text instead of drawing it are escaped too,
//! each of their bytes (`is_layout_control`): U+2028 LINE SEPARATOR and U+2029
//! PARAGRAPH SEPARATOR, a line break to some viewers and editors (one
//! event shown as two lines, the second forged), and Unicode's
//! Bidi_Control characters, U+061C, U+200E, U+200F, U+202A..=U+202E and
//! U+2066..=U+2069, with which a name reorders what follows it on a
//! bidi-aware terminal (after U+202E RIGHT-TO-LEFT OVERRIDE the addresses
//! and ports read backwards). These and not all of non-ASCII: every other
//! character draws where it stands and cannot move the other columns, and
//! a name in any script must stay readable. They are written `\DDD` byte
//! by byte (U+202E is `\226\128\174`), not `\u202e`: the one form of
//! every escaped byte here, the one QUERY already shows for the same bytes
//! in a DNS name, read back by the same rule. Widths keep the existing
//! rule: COMM is cut to 12 bytes (bcc's `%-12.12s` on bytes), then
//! escaped, then padded to 12 bytes, so an escaped name, printable ASCII
//! and one column a byte, overflows its column like any wide value (raw,
//! U+202E took 3 bytes of the column and no space on screen). A character
//! the cut splits is no longer one and moves nothing: its bytes are those
//! of invalid UTF-8 (U+2028 cut to `e2 80` prints the 0xe2 raw, then `\128`).

use std::borrow::Cow;

/// Whether `byte` is written escaped.
fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == 0x7f || byte == b'\\'
}

/// The escape of one byte that needs it: `\\` or `\DDD`.
fn escape_byte(byte: u8) -> [u8; 4] {
    match byte {
        b'\\' => *b"\\\\\0\0",
        _ => [b'\\', b'0' + byte / 100, b'0' + byte / 10 % 10, b'0' + byte % 10],
    }
}

fn escape_len(byte: u8) -> usize {
    if byte == b'\\' {
        2
    } else {
        4
    }
}

/// Appends `bytes` to `out`, escaped. Names without a control byte or a
/// backslash are appended unchanged, in one copy.
pub fn write_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    // Each stretch of valid UTF-8 (C0 controls, DEL and backslash escaped,
    // and every byte of a C1 or layout control character), then the
    // invalid bytes after it (C1 bytes escaped too).
    for chunk in bytes.utf8_chunks() {
        write_escaped_utf8(out, chunk.valid());
        write_escaped_where(out, chunk.invalid(), |b| needs_escape(b) || (0x80..=0x9f).contains(&b));
    }
}

/// Appends the first `len` bytes of a fixed-size field (a task's comm)
/// escaped as [`write_escaped`] does. A field of printable ASCII, the usual
/// name, is appended whole and cut back: one copy of a fixed size instead
/// of a memcpy call of a variable one (musl's costs ~30 ns to start).
pub fn write_escaped_field<const N: usize>(out: &mut Vec<u8>, field: &[u8; N], len: usize) {
    let len = len.min(N);
    if field[..len].iter().all(|&b| (0x20..0x7f).contains(&b) && b != b'\\') {
        let start = out.len();
        out.extend_from_slice(field);
        out.truncate(start + len);
    } else {
        write_escaped(out, &field[..len]);
    }
}

/// Appends valid UTF-8, escaping C0 controls, DEL, backslashes and each
/// byte of the characters escaped whole (C1 and layout controls).
fn write_escaped_utf8(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    let mut clean_from = 0;
    // All of those characters are non-ASCII: a plain name is one copy.
    if !text.is_ascii() {
        for (at, c) in text.char_indices().filter(|&(_, c)| escaped_whole(c)) {
            write_escaped_where(out, &bytes[clean_from..at], needs_escape);
            clean_from = at + c.len_utf8();
            write_escaped_where(out, &bytes[at..clean_from], |_| true);
        }
    }
    write_escaped_where(out, &bytes[clean_from..], needs_escape);
}

/// Appends `bytes`, each byte for which `escape` holds as `\DDD` or `\\`.
fn write_escaped_where(out: &mut Vec<u8>, mut bytes: &[u8], escape: impl Fn(u8) -> bool) {
    while let Some(at) = bytes.iter().position(|&b| escape(b)) {
        out.extend_from_slice(&bytes[..at]);
        let byte = bytes[at];
        out.extend_from_slice(&escape_byte(byte)[..escape_len(byte)]);
        bytes = &bytes[at + 1..];
    }
    out.extend_from_slice(bytes);
}

/// `text` escaped, for messages that quote something from outside; borrowed
/// when nothing needs escaping.
pub fn escaped(text: &str) -> Cow<'_, str> {
    if !text.bytes().any(needs_escape) && !text.chars().any(escaped_whole) {
        return Cow::Borrowed(text);
    }
    let mut out = Vec::with_capacity(text.len() + 8);
    write_escaped(&mut out, text.as_bytes());
    // Whole characters were replaced, by ASCII: still UTF-8.
    Cow::Owned(String::from_utf8(out).unwrap_or_default())
}

/// U+0080..=U+009F, the C1 controls.
pub fn is_c1(c: char) -> bool {
    ('\u{80}'..='\u{9f}').contains(&c)
}

/// A character that moves the text after it instead of drawing a glyph:
/// U+2028 and U+2029, the line and paragraph separators, and Unicode's
/// Bidi_Control characters (U+061C ARABIC LETTER MARK, U+200E and U+200F,
/// the left-to-right and right-to-left marks, U+202A..=U+202E, the
/// embeddings, overrides and their end, and U+2066..=U+2069, the isolates
/// and their end).
pub fn is_layout_control(c: char) -> bool {
    matches!(c, '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A character all of whose bytes are escaped.
fn escaped_whole(c: char) -> bool {
    is_c1(c) || is_layout_control(c)
}

/// A whole message for stderr, as the last guard: control bytes other than
/// the line breaks the message is made of, and the characters escaped
/// whole, are escaped (a backslash is left alone here, since the quoted
/// parts are already escaped with `escaped`).
pub fn message_line(text: &str) -> Cow<'_, str> {
    let stray = |c: char| (c < ' ' && c != '\n') || c == '\u{7f}' || escaped_whole(c);
    if !text.chars().any(stray) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if stray(c) {
            let mut utf8 = [0u8; 4];
            for &b in c.encode_utf8(&mut utf8).as_bytes() {
                out.push_str(std::str::from_utf8(&escape_byte(b)[..escape_len(b)]).unwrap_or_default());
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escape(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_escaped(&mut out, bytes);
        out
    }

    #[test]
    fn a_field_is_escaped_as_its_bytes_are_whether_clean_or_not() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..4000 {
            // Half the fields printable ASCII (the fast path), half anything.
            let field: [u8; 16] = std::array::from_fn(|_| {
                let b = next() as u8;
                if round % 2 == 0 {
                    0x20 + b % 0x5f
                } else {
                    b
                }
            });
            for len in 0..=17 {
                let (mut whole, mut cut) = (b"x".to_vec(), b"x".to_vec());
                write_escaped_field(&mut whole, &field, len);
                write_escaped(&mut cut, &field[..len.min(16)]);
                assert_eq!(whole, cut, "{field:?} cut to {len}");
            }
        }
    }

    #[test]
    fn control_bytes_del_and_backslash_are_escaped_as_dig_does() {
        assert_eq!(escape(b"x\n1 fake"), b"x\\0101 fake");
        assert_eq!(escape(b"tab\tesc\x1b[31m"), b"tab\\009esc\\027[31m");
        assert_eq!(escape(b"\r\x7f\\\x00\x1f"), b"\\013\\127\\\\\\000\\031");
    }

    #[test]
    fn printable_and_high_bytes_are_kept() {
        let all_printable: Vec<u8> = (0x20..0x7f).filter(|&b| b != b'\\').collect();
        assert_eq!(escape(&all_printable), all_printable);
        // UTF-8 (ă is c4 83: a C1 value inside a valid character) and the
        // invalid high bytes that are no C1 control stay raw.
        assert_eq!(escape("café ă 中".as_bytes()), "café ă 中".as_bytes());
        assert_eq!(escape(b"\xff\xe9x\xc3"), b"\xff\xe9x\xc3");
    }

    #[test]
    fn lone_c1_bytes_are_escaped() {
        // CSI (0x9b) and a stray continuation byte: controls to an 8-bit terminal.
        assert_eq!(escape(b"a\x9b31m\xff\x80b"), b"a\\15531m\xff\\128b");
        // U+009B, CSI as a UTF-8 character.
        assert_eq!(escape("x\u{9b}1m".as_bytes()), b"x\\194\\1551m");
        // A character cut short by the 12-byte truncation keeps its lead byte raw.
        assert_eq!(escape(b"ab\xe4\xb8"), b"ab\xe4\xb8");
        assert_eq!(escape(b"ab\xe4\x80"), b"ab\xe4\\128");
        assert!(matches!(escaped("/sys/fs/bpf/map"), Cow::Borrowed(_)));
    }

    #[test]
    fn del_and_c1_characters_are_escaped_and_their_neighbours_kept() {
        assert_eq!(escape("~".as_bytes()), b"~"); // U+007E
        assert_eq!(escape("\u{7f}".as_bytes()), b"\\127");
        assert_eq!(escape("\u{80}".as_bytes()), b"\\194\\128");
        assert_eq!(escape("\u{9f}".as_bytes()), b"\\194\\159");
        assert_eq!(escape("\u{a0}".as_bytes()), "\u{a0}".as_bytes());
    }

    /// Each byte of `c` as `\DDD`.
    fn every_byte_escaped(c: char) -> Vec<u8> {
        c.to_string().bytes().flat_map(|b| format!("\\{b:03}").into_bytes()).collect()
    }

    #[test]
    fn line_separators_and_bidi_controls_are_escaped_byte_by_byte() {
        assert_eq!(escape("a\u{202e}b".as_bytes()), b"a\\226\\128\\174b");
        assert_eq!(escape("\u{2028}".as_bytes()), b"\\226\\128\\168");
        let layout = ['\u{61c}', '\u{200e}', '\u{200f}', '\u{2028}', '\u{2029}'];
        for c in layout.into_iter().chain('\u{202a}'..='\u{202e}').chain('\u{2066}'..='\u{2069}') {
            assert_eq!(escape(c.to_string().as_bytes()), every_byte_escaped(c), "{c:?}");
        }
        // Their neighbours draw in place: kept.
        for c in
            ['\u{61b}', '\u{61d}', '\u{200d}', '\u{2010}', '\u{2027}', '\u{202f}', '\u{2065}', '\u{206a}']
        {
            assert_eq!(escape(c.to_string().as_bytes()), c.to_string().as_bytes(), "{c:?}");
        }
        // Cut by the 12-byte COMM, U+2028 is invalid UTF-8: its lead byte
        // stays, its continuation 0x80 is a C1 byte.
        assert_eq!(escape(b"abcdefghij\xe2\x80"), b"abcdefghij\xe2\\128");
        assert_eq!(escaped("x\u{2066}y"), "x\\226\\129\\166y");
        assert_eq!(message_line("p\u{202e}q\n"), "p\\226\\128\\174q\n");
    }

    #[test]
    fn exactly_the_controls_and_the_backslash_are_escaped_among_all_characters() {
        // Written from the lists, not from the code: C0, DEL, backslash,
        // C1, the two separators and Bidi_Control.
        let listed = |c: char| {
            c < ' '
                || c == '\u{7f}'
                || c == '\\'
                || ('\u{80}'..='\u{9f}').contains(&c)
                || [0x61c, 0x200e, 0x200f, 0x2028, 0x2029, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e]
                    .contains(&u32::from(c))
                || (0x2066..=0x2069).contains(&u32::from(c))
        };
        for c in char::MIN..=char::MAX {
            let raw = c.to_string();
            let got = escape(raw.as_bytes());
            if !listed(c) {
                assert_eq!(got, raw.as_bytes(), "{c:?}");
            } else if c < '\u{80}' {
                assert_ne!(got, raw.as_bytes(), "{c:?}");
            } else {
                assert_eq!(got, every_byte_escaped(c), "{c:?}");
            }
        }
    }

    /// The escape read back, as a user's script would.
    fn unescape(text: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < text.len() {
            if text[i] == b'\\' && text.get(i + 1) == Some(&b'\\') {
                out.push(b'\\');
                i += 2;
            } else if text[i] == b'\\' {
                let digits = std::str::from_utf8(&text[i + 1..i + 4]).unwrap();
                out.push(digits.parse().unwrap());
                i += 4;
            } else {
                out.push(text[i]);
                i += 1;
            }
        }
        out
    }

    #[test]
    fn the_escape_is_reversible_for_every_byte() {
        let every: Vec<u8> = (0..=255).collect();
        let text = escape(&every);
        assert!(!text.iter().any(|&b| b < 0x20 || b == 0x7f));
        assert_eq!(unescape(&text), every);
        let layout = "\u{61c}\u{200e}\u{200f}\u{2028}\u{2029}\u{202a}\u{202e}\u{2066}\u{2069}\u{9b}ok";
        let text = escape(layout.as_bytes());
        assert!(text.is_ascii());
        assert_eq!(unescape(&text), layout.as_bytes());
        // A literal backslash-digits text is not mistaken for an escape.
        assert_eq!(unescape(&escape(b"a\\010")), b"a\\010");
    }

    #[test]
    fn messages_keep_their_line_breaks_and_lose_stray_controls() {
        assert_eq!(message_line("a\nb"), "a\nb");
        assert_eq!(message_line("bad\rname\x1b]0;x\x07 C:\\"), "bad\\013name\\027]0;x\\007 C:\\");
        assert_eq!(escaped("p\nq\\"), "p\\010q\\\\");
        assert_eq!(escaped("/tmp/\u{9b}31m"), "/tmp/\\194\\15531m");
        assert_eq!(message_line("a\u{9b}b\n"), "a\\194\\155b\n");
    }
}
