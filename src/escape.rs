//! Bytes from outside the tool (process names, paths, kernel symbol names,
//! file contents) made safe to print: no control byte reaches a terminal and
//! one event stays one line. A leaf module: it imports nothing of ours.
//!
//! The escape is the one `-d` already uses for DNS names, as dig writes
//! them: a byte below 0x20 or 0x7f (DEL) becomes `\DDD`, its value in three
//! decimal digits, and a backslash becomes `\\`; every other byte is kept
//! as it is (printable ASCII, and bytes of 0x80 and above, which are
//! UTF-8 text in every name a user sets and no terminal control on a UTF-8
//! terminal). Reversible: read left to right, `\\` is a backslash and `\`
//! followed by three digits is that byte.

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
    while let Some(at) = rest.iter().position(|&b| needs_escape(b)) {
        out.extend_from_slice(&rest[..at]);
        let byte = rest[at];
        out.extend_from_slice(&escape_byte(byte)[..escape_len(byte)]);
        rest = &rest[at + 1..];
    }
    out.extend_from_slice(rest);
}

/// `text` escaped, for messages that quote something from outside; borrowed
/// when nothing needs escaping.
pub fn escaped(text: &str) -> Cow<'_, str> {
    if !text.bytes().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = Vec::with_capacity(text.len() + 8);
    write_escaped(&mut out, text.as_bytes());
    // Only ASCII bytes were replaced, by ASCII: still UTF-8.
    Cow::Owned(String::from_utf8(out).unwrap_or_default())
}

/// A whole message for stderr, as the last guard: control bytes other than
/// the line breaks the message is made of are escaped (a backslash is left
/// alone here, since the quoted parts are already escaped with `escaped`).
pub fn message_line(text: &str) -> Cow<'_, str> {
    let stray = |b: u8| (b < 0x20 && b != b'\n') || b == 0x7f;
    if !text.bytes().any(stray) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match u8::try_from(c) {
            Ok(b) if stray(b) => out.push_str(std::str::from_utf8(&escape_byte(b)).unwrap_or_default()),
            _ => out.push(c),
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
        assert_eq!(escape(b"caf\xc3\xa9 \xff\x80"), b"caf\xc3\xa9 \xff\x80");
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
    }
}
