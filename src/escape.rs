//! Bytes from outside the tool (process names, paths, kernel symbol names,
//! file contents) made safe to print: no control byte reaches a terminal and
//! one event stays one line. A leaf module: it imports nothing of ours.
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
    let mut rest = bytes;
    loop {
        // The valid UTF-8 first (C0 controls, DEL and backslash escaped),
        // then the invalid bytes after it (C1 bytes escaped too).
        let (valid, invalid) = match std::str::from_utf8(rest) {
            Ok(_) => (rest, &[][..]),
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                let bad = e.error_len().unwrap_or(after.len());
                (valid, &after[..bad])
            }
        };
        write_escaped_utf8(out, valid);
        write_escaped_where(out, invalid, |b| needs_escape(b) || (0x80..=0x9f).contains(&b));
        rest = &rest[valid.len() + invalid.len()..];
        if rest.is_empty() {
            return;
        }
    }
}

/// Appends valid UTF-8, escaping C0 controls, DEL, backslashes and the C1
/// control characters (both bytes of `c2 80`..`c2 9f`).
fn write_escaped_utf8(out: &mut Vec<u8>, mut bytes: &[u8]) {
    let c1_at = |b: &[u8]| b.windows(2).position(|w| w[0] == 0xc2 && (0x80..=0x9f).contains(&w[1]));
    while let Some(at) = c1_at(bytes) {
        write_escaped_where(out, &bytes[..at], needs_escape);
        write_escaped_where(out, &bytes[at..at + 2], |_| true);
        bytes = &bytes[at + 2..];
    }
    write_escaped_where(out, bytes, needs_escape);
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
    if !text.bytes().any(needs_escape) && !text.chars().any(is_c1) {
        return Cow::Borrowed(text);
    }
    let mut out = Vec::with_capacity(text.len() + 8);
    write_escaped(&mut out, text.as_bytes());
    // Whole characters were replaced, by ASCII: still UTF-8.
    Cow::Owned(String::from_utf8(out).unwrap_or_default())
}

/// U+0080..=U+009F, the C1 controls.
fn is_c1(c: char) -> bool {
    ('\u{80}'..='\u{9f}').contains(&c)
}

/// A whole message for stderr, as the last guard: control bytes other than
/// the line breaks the message is made of are escaped (a backslash is left
/// alone here, since the quoted parts are already escaped with `escaped`).
pub fn message_line(text: &str) -> Cow<'_, str> {
    let stray = |c: char| (c < ' ' && c != '\n') || c == '\u{7f}' || is_c1(c);
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
