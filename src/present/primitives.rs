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

/// 10 to 10^19: a u64 of `k` digits is below the `k`th.
const POWERS_OF_TEN: [u64; 19] = {
    let mut powers = [10u64; 19];
    let mut at = 1;
    while at < 19 {
        powers[at] = powers[at - 1] * 10;
        at += 1;
    }
    powers
};

/// Appends the decimal text of `n` (`%d`, no padding).
///
/// Never a copy of the digits alone: its length varies, which makes it a
/// memcpy call, and musl's (`rep movsq`, ~30 ns to start) made those calls
/// most of what a line cost the static binary. A number of up to 8 digits
/// (a PID, a port) is put together in a register and stored as one word;
/// a longer one in a 20-byte buffer appended whole. Either is then cut back
/// to its digits.
#[inline]
pub fn write_u64(out: &mut Vec<u8>, n: u64) {
    // Counted by comparisons, which do not wait on each other as a chain
    // of divisions would.
    let digits = 1 + POWERS_OF_TEN.iter().take_while(|&&power| n >= power).count();
    let start = out.len();
    if digits <= 8 {
        // The last digit first, each shifted up by the next: the first
        // digit ends in the lowest byte, the first one stored.
        let (mut word, mut rest) = (0u64, n);
        for _ in 0..digits {
            word = word << 8 | u64::from(b'0' + (rest % 10) as u8);
            rest /= 10;
        }
        out.extend_from_slice(&word.to_le_bytes());
    } else {
        let (mut buf, mut rest) = ([0u8; 20], n); // u64::MAX has 20 digits
        for at in (0..digits).rev() {
            buf[at] = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        out.extend_from_slice(&buf);
    }
    out.truncate(start + digits);
}

/// `%-{width}d` of a non-negative integer.
#[inline]
pub fn write_u64_padded(out: &mut Vec<u8>, n: u64, width: usize) {
    let start = out.len();
    write_u64(out, n);
    pad(out, start, width);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_u64_writes_what_display_does_at_every_length() {
        let mut numbers = vec![0, u64::MAX];
        for power in 0..20 {
            let p = 10u64.pow(power);
            // 10^19 times 3 or 9 is past u64::MAX: those saturate to it.
            numbers.extend([p - 1, p, p + 1, p.saturating_mul(3), p.saturating_mul(9).saturating_add(p - 1)]);
        }
        let mut x = 0x853c_49e6_748f_ea9bu64;
        numbers.extend((0..10_000).map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x >> (x % 64)
        }));
        for n in numbers {
            let mut out = b"ab".to_vec();
            write_u64(&mut out, n);
            assert_eq!(out, format!("ab{n}").into_bytes());
        }
    }
}
