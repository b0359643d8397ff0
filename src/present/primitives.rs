//! What every output format writes with: decimal numbers, addresses and
//! column padding, appended to a byte buffer without allocating. A leaf:
//! text, JSON and the -c table use it; it uses only the address text.

use super::inet::{write_ipv4, write_ipv6};

/// Appends the address text: `ip == 6` (`v6`) the 16 bytes, otherwise the
/// dotted quad of the first 4.
#[inline]
pub fn write_addr(out: &mut Vec<u8>, v6: bool, addr: &[u8; 16]) {
    if v6 {
        write_ipv6(out, *addr);
    } else {
        write_ipv4(out, [addr[0], addr[1], addr[2], addr[3]]);
    }
}

/// `%-{width}s` of the address text.
#[inline]
pub fn write_addr_padded_to(out: &mut Vec<u8>, v6: bool, addr: &[u8; 16], width: usize) {
    let start = out.len();
    write_addr(out, v6, addr);
    pad(out, start, width);
}

/// `%-16s` of the address text.
#[inline]
pub fn write_addr_padded(out: &mut Vec<u8>, v6: bool, addr: &[u8; 16]) {
    write_addr_padded_to(out, v6, addr, 16);
}

/// Pads with spaces so that what was written since `start` is at least
/// `width` bytes (left-justified, like `%-Ns`).
#[inline]
pub fn pad(out: &mut Vec<u8>, start: usize, width: usize) {
    let end = start + width;
    if out.len() < end {
        if end - out.len() <= 16 {
            // A fixed-size copy, then cut back: no memset call for a few bytes.
            out.extend_from_slice(&[b' '; 16]);
            out.truncate(end);
        } else {
            out.resize(end, b' ');
        }
    }
}

/// Appends the decimal text of `n` (`%d`, no padding).
///
/// The digits go into a fixed 20-byte buffer that is appended whole and then
/// cut back: a copy of the digits alone has a variable length, which is a
/// memcpy call, and musl's (`rep movsq`, ~30 ns to start) made these calls
/// most of what a line cost the static binary.
#[inline]
pub fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = 1;
    let mut rest = n;
    while rest >= 10 {
        rest /= 10;
        digits += 1;
    }
    let mut buf = [0u8; 20]; // u64::MAX has 20 digits
    for at in (0..digits).rev() {
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let start = out.len();
    out.extend_from_slice(&buf);
    out.truncate(start + digits);
}

/// `%-{width}d` of a non-negative integer.
#[inline]
pub fn write_u64_padded(out: &mut Vec<u8>, n: u64, width: usize) {
    let start = out.len();
    write_u64(out, n);
    pad(out, start, width);
}
