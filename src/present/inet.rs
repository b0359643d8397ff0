//! Address text exactly as glibc's `inet_ntop` writes it.
//!
//! bcc's tcpconnect formats addresses with Python's `inet_ntop`, which calls
//! the C library's. Rust's `Ipv6Addr` Display follows RFC 5952 and so differs
//! from glibc on a few inputs: RFC 5952 prints only `::ffff:a.b.c.d` as a
//! dotted quad, while glibc also prints the deprecated IPv4-compatible form
//! `::a.b.c.d` (e.g. Rust `::102:304`, glibc `::1.2.3.4`). The code below
//! mirrors glibc's `inet_ntop6` (resolv/inet_ntop.c) step by step instead.
//!
//! Both writers only push into `out`: no allocation, no `format!`.

/// Appends the decimal text of `n` (no padding).
#[inline]
fn push_u8_dec(out: &mut Vec<u8>, n: u8) {
    if n >= 100 {
        out.push(b'0' + n / 100);
        out.push(b'0' + n / 10 % 10);
    } else if n >= 10 {
        out.push(b'0' + n / 10);
    }
    out.push(b'0' + n % 10);
}

/// Appends `w` as lowercase hex without leading zeros (`%x`).
#[inline]
fn push_u16_hex(out: &mut Vec<u8>, w: u16) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Number of significant nibbles, at least one so that 0 prints "0".
    let nibbles = (16 - w.leading_zeros()).div_ceil(4).max(1);
    for i in (0..nibbles).rev() {
        out.push(HEX[usize::from((w >> (4 * i)) & 0xf)]);
    }
}

/// Appends the dotted quad of `addr` (network order).
pub fn write_ipv4(out: &mut Vec<u8>, addr: [u8; 4]) {
    push_u8_dec(out, addr[0]);
    out.push(b'.');
    push_u8_dec(out, addr[1]);
    out.push(b'.');
    push_u8_dec(out, addr[2]);
    out.push(b'.');
    push_u8_dec(out, addr[3]);
}

/// Appends `addr` exactly as glibc's inet_ntop(AF_INET6) writes it.
///
/// The rules, in glibc's order:
/// - the longest run of zero words is replaced by `::`; on a tie the FIRST
///   run wins (only a strictly longer run replaces the best so far);
/// - a run of a single zero word is not compressed (prints as `0`);
/// - words are lowercase hex without leading zeros;
/// - if the compressed run starts at word 0 and is either 6 words long, or
///   5 words long followed by `ffff`, the last 32 bits print as a dotted
///   quad. A run of 7 or 8 words does not qualify, so `::0.0.0.1` prints as
///   `::1` and the all-zero address as `::`.
pub fn write_ipv6(out: &mut Vec<u8>, addr: [u8; 16]) {
    let mut words = [0u16; 8];
    for (i, w) in words.iter_mut().enumerate() {
        *w = u16::from_be_bytes([addr[2 * i], addr[2 * i + 1]]);
    }

    // Longest run of zero words, first one on ties; `None` if there is no
    // run of at least two words.
    let mut best: Option<(usize, usize)> = None; // (base, len)
    let mut cur: Option<(usize, usize)> = None;
    for (i, &w) in words.iter().enumerate() {
        if w == 0 {
            cur = Some(match cur {
                Some((base, len)) => (base, len + 1),
                None => (i, 1),
            });
        } else if let Some(run) = cur.take() {
            if best.is_none_or(|(_, len)| run.1 > len) {
                best = Some(run);
            }
        }
    }
    if let Some(run) = cur {
        if best.is_none_or(|(_, len)| run.1 > len) {
            best = Some(run);
        }
    }
    let best = best.filter(|&(_, len)| len >= 2);

    for (i, &w) in words.iter().enumerate() {
        if let Some((base, len)) = best {
            if i >= base && i < base + len {
                // Inside the run: one ':' at its start, the second comes
                // from the next word's separator or the trailing check.
                if i == base {
                    out.push(b':');
                }
                continue;
            }
        }
        if i != 0 {
            out.push(b':');
        }
        if i == 6 {
            if let Some((0, len)) = best {
                if len == 6 || (len == 5 && words[5] == 0xffff) {
                    write_ipv4(out, [addr[12], addr[13], addr[14], addr[15]]);
                    return;
                }
            }
        }
        push_u16_hex(out, w);
    }
    // A run reaching the last word ends with the second ':'.
    if let Some((base, len)) = best {
        if base + len == 8 {
            out.push(b':');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v6(words: [u16; 8]) -> [u8; 16] {
        let mut a = [0u8; 16];
        for (i, w) in words.iter().enumerate() {
            a[2 * i..2 * i + 2].copy_from_slice(&w.to_be_bytes());
        }
        a
    }

    fn ours6(addr: [u8; 16]) -> String {
        let mut out = Vec::new();
        write_ipv6(&mut out, addr);
        String::from_utf8(out).unwrap()
    }

    fn ours4(addr: [u8; 4]) -> String {
        let mut out = Vec::new();
        write_ipv4(&mut out, addr);
        String::from_utf8(out).unwrap()
    }

    #[cfg(target_env = "gnu")]
    fn libc_ntop(family: libc::c_int, src: &[u8]) -> String {
        crate::sys::glibc_inet_ntop::glibc_inet_ntop(family, src)
    }

    /// (words, glibc's text), written out by hand.
    const V6_CASES: &[([u16; 8], &str)] = &[
        ([0; 8], "::"),
        ([0, 0, 0, 0, 0, 0, 0, 1], "::1"),
        ([1, 0, 0, 0, 0, 0, 0, 0], "1::"),
        ([0, 0, 0, 0, 0, 0, 0x0102, 0x0304], "::1.2.3.4"),
        ([0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304], "::ffff:1.2.3.4"),
        ([0, 0, 0, 0, 0, 0xffff, 0, 0], "::ffff:0.0.0.0"),
        ([0, 0, 0, 0, 0, 0xffff, 0xc0a8, 0x0101], "::ffff:192.168.1.1"),
        // Run of 7: not the IPv4 form.
        ([0, 0, 0, 0, 0, 0, 0, 0x0102], "::102"),
        // Run of 5 not followed by ffff: plain hex.
        ([0, 0, 0, 0, 0, 0xfffe, 0x0102, 0x0304], "::fffe:102:304"),
        // Run of 6 not at word 0: plain hex.
        ([1, 0, 0, 0, 0, 0, 0, 0x0304], "1::304"),
        // Run of 4 at word 0 followed by ffff: plain hex.
        ([0, 0, 0, 0, 0xffff, 0, 0x0102, 0x0304], "::ffff:0:102:304"),
        // A single zero word is not compressed.
        ([1, 0, 2, 3, 4, 5, 6, 7], "1:0:2:3:4:5:6:7"),
        ([0, 1, 2, 3, 4, 5, 6, 7], "0:1:2:3:4:5:6:7"),
        ([1, 2, 3, 4, 5, 6, 7, 0], "1:2:3:4:5:6:7:0"),
        // Equal runs: the first is compressed.
        ([1, 0, 0, 2, 3, 0, 0, 4], "1::2:3:0:0:4"),
        ([0, 0, 1, 2, 3, 4, 0, 0], "::1:2:3:4:0:0"),
        // A longer later run beats an earlier one.
        ([1, 0, 0, 2, 0, 0, 0, 3], "1:0:0:2::3"),
        ([0, 0, 1, 0, 0, 0, 2, 3], "0:0:1::2:3"),
        // Trailing run.
        ([1, 2, 0, 0, 0, 0, 0, 0], "1:2::"),
        ([0xfe80, 0, 0, 0, 0x2000, 0x0bff, 0xfe82, 0x03ac], "fe80::2000:bff:fe82:3ac"),
        ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], "2001:db8::1"),
        (
            [0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff],
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ),
        ([0x000a, 0x00b0, 0x0c00, 0xd000, 0, 0, 0, 0xabcd], "a:b0:c00:d000::abcd"),
    ];

    #[test]
    fn ipv6_edge_cases_literal() {
        for &(words, want) in V6_CASES {
            assert_eq!(ours6(v6(words)), want, "{words:x?}");
        }
    }

    #[test]
    fn ipv6_differs_from_rust_display_where_glibc_does() {
        // Documents why std's Display is not used.
        let a = v6([0, 0, 0, 0, 0, 0, 0x0102, 0x0304]);
        assert_eq!(std::net::Ipv6Addr::from(a).to_string(), "::102:304");
        assert_eq!(ours6(a), "::1.2.3.4");
    }

    #[test]
    fn ipv4_literal() {
        assert_eq!(ours4([0, 0, 0, 0]), "0.0.0.0");
        assert_eq!(ours4([127, 0, 0, 1]), "127.0.0.1");
        assert_eq!(ours4([10, 201, 219, 236]), "10.201.219.236");
        assert_eq!(ours4([255, 255, 255, 255]), "255.255.255.255");
        assert_eq!(ours4([9, 10, 99, 100]), "9.10.99.100");
    }

    /// xorshift64: deterministic, good enough to spread test inputs. Used by
    /// the comparisons with glibc's inet_ntop, which only glibc builds have.
    #[cfg(target_env = "gnu")]
    struct XorShift(u64);
    #[cfg(target_env = "gnu")]
    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
    }

    #[cfg(target_env = "gnu")]
    #[test]
    fn ipv6_matches_libc() {
        for &(words, _) in V6_CASES {
            let a = v6(words);
            assert_eq!(ours6(a), libc_ntop(libc::AF_INET6, &a), "{words:x?}");
        }
        // Exhaustive over which words are zero, with a few non-zero fillers,
        // including the ffff word that triggers the mapped form.
        for mask in 0u32..256 {
            for filler in [1u16, 0xffff, 0x0bff, 0xabcd] {
                let mut w = [filler; 8];
                for (i, x) in w.iter_mut().enumerate() {
                    if mask & (1 << i) != 0 {
                        *x = 0;
                    }
                }
                let a = v6(w);
                assert_eq!(ours6(a), libc_ntop(libc::AF_INET6, &a), "{w:x?}");
            }
        }
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut out = Vec::new();
        for _ in 0..200_000 {
            let mut w = [0u16; 8];
            for x in &mut w {
                let r = rng.next();
                // About half the words zero; the rest of mixed widths so that
                // every hex length, and the ffff marker, shows up.
                *x = match r % 8 {
                    0..=3 => 0,
                    4 => 0xffff,
                    5 => (r >> 8) as u16 & 0xf,
                    6 => (r >> 8) as u16 & 0xff,
                    _ => (r >> 8) as u16,
                };
            }
            let a = v6(w);
            out.clear();
            write_ipv6(&mut out, a);
            assert_eq!(std::str::from_utf8(&out).unwrap(), libc_ntop(libc::AF_INET6, &a), "{w:x?}");
        }
    }

    #[cfg(target_env = "gnu")]
    #[test]
    fn ipv4_matches_libc() {
        // Every value in every position, then random addresses.
        for n in 0..=255u8 {
            for pos in 0..4 {
                let mut a = [1u8, 22, 133, 4];
                a[pos] = n;
                assert_eq!(ours4(a), libc_ntop(libc::AF_INET, &a));
            }
        }
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        for _ in 0..200_000 {
            let a = (rng.next() as u32).to_be_bytes();
            assert_eq!(ours4(a), libc_ntop(libc::AF_INET, &a));
        }
    }
}
