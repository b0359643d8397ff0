//! Python compatibility: `int()`, `repr()` and printing of argv strings as
//! Python 3 does them.

use std::fmt::Write as _;

/// One unit of an argv string as Python 3 sees it. Python decodes argv as
/// UTF-8 with `surrogateescape`, so each invalid byte becomes U+DC80..U+DCFF.
pub(super) enum Unit {
    Char(char),
    /// A byte that isn't valid UTF-8; to Python it is the character U+DC00 + byte.
    Escaped(u8),
}

pub(super) fn units(mut raw: &[u8]) -> Vec<Unit> {
    let mut out = Vec::with_capacity(raw.len());
    loop {
        let (valid, invalid_len) = match std::str::from_utf8(raw) {
            Ok(all) => (all, 0),
            Err(e) => {
                // Up to `valid_up_to` the bytes are valid UTF-8, so this
                // second `from_utf8` call always succeeds.
                let valid = std::str::from_utf8(&raw[..e.valid_up_to()]).unwrap_or_default();
                (valid, e.error_len().unwrap_or(raw.len() - e.valid_up_to()))
            }
        };
        out.extend(valid.chars().map(Unit::Char));
        raw = &raw[valid.len()..];
        if raw.is_empty() {
            return out;
        }
        out.extend(raw[..invalid_len].iter().map(|&b| Unit::Escaped(b)));
        raw = &raw[invalid_len..];
    }
}

/// How Python prints an argv string on stderr. stderr uses
/// `errors='backslashreplace'`, so an escaped byte prints as `\udcXX`, and
/// everything else prints as it is.
pub(super) fn py_display(raw: &[u8]) -> String {
    units(raw).into_iter().fold(String::with_capacity(raw.len()), |mut out, unit| {
        match unit {
            Unit::Char(c) => out.push(c),
            Unit::Escaped(b) => {
                let _ = write!(out, "\\udc{b:02x}");
            }
        }
        out
    })
}

/// Python's `repr(str)`, which argparse uses in `invalid int value: 'abc'`
/// and similar messages.
pub(super) fn py_repr(raw: &[u8]) -> String {
    // Single quotes, unless the text contains ' and no ".
    let quote = if raw.contains(&b'\'') && !raw.contains(&b'"') { '"' } else { '\'' };
    let mut out = String::with_capacity(raw.len() + 2);
    out.push(quote);
    for unit in units(raw) {
        let c = match unit {
            Unit::Char(c) => c,
            Unit::Escaped(b) => {
                let _ = write!(out, "\\udc{b:02x}");
                continue;
            }
        };
        let _ = match c {
            '\\' => write!(out, "\\\\"),
            '\t' => write!(out, "\\t"),
            '\n' => write!(out, "\\n"),
            '\r' => write!(out, "\\r"),
            c if c == quote => write!(out, "\\{c}"),
            c if py_printable(c) => write!(out, "{c}"),
            c if u32::from(c) < 0x100 => write!(out, "\\x{:02x}", u32::from(c)),
            c if u32::from(c) < 0x1_0000 => write!(out, "\\u{:04x}", u32::from(c)),
            c => write!(out, "\\U{:08x}", u32::from(c)),
        };
    }
    out.push(quote);
    out
}

/// An approximation of Python's `str.isprintable()` for one character.
/// Control characters, separators other than the space (Z*), format
/// characters (Cf), private-use characters and non-characters are not
/// printable. We have no Unicode tables, so unassigned code points (Cn)
/// count as printable here. Python escapes them, and that is the only
/// difference.
pub(super) fn py_printable(c: char) -> bool {
    let n = u32::from(c);
    let format = matches!(
        n,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x8E2 | 0x180E | 0x200B..=0x200F
            | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB
            | 0x110BD | 0x110CD | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001
            | 0xE0020..=0xE007F
    );
    let private_use = matches!(n, 0xE000..=0xF8FF | 0xF_0000..=0xF_FFFD | 0x10_0000..=0x10_FFFD);
    let noncharacter = matches!(n, 0xFDD0..=0xFDEF) || n & 0xFFFE == 0xFFFE;
    !(c.is_control() || (c != ' ' && c.is_whitespace()) || format || private_use || noncharacter)
}

/// Python's `int(s)` for a str: `None` where Python raises `ValueError`.
/// Python accepts surrounding whitespace (Unicode whitespace too), a sign,
/// leading zeros, and single `_` between digits. Huge values stick at the
/// i128 limits, which are outside every range we check, so they still give
/// the out-of-range error, as Python's big ints do. One difference: Python
/// also accepts non-ASCII decimal digits; only ASCII digits are accepted here.
pub(super) fn py_int(raw: &[u8]) -> Option<i128> {
    // Invalid UTF-8 becomes lone surrogates in Python, and int() rejects those.
    let text = std::str::from_utf8(raw).ok()?.trim();
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let mut value: i128 = 0;
    for group in digits.split('_') {
        if group.is_empty() || !group.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        for b in group.bytes() {
            value = value.saturating_mul(10).saturating_add(i128::from(b - b'0'));
        }
    }
    Some(if negative { -value } else { value })
}
