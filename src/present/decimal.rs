//! Python's `"%.3f" % (n / 1e6)` for an integer count of millionths
//! (microseconds as seconds for TIME(s), nanoseconds as milliseconds for
//! LAT(ms)), written by hand on the per-event hot path.

use super::primitives::write_u64;

/// Appends `"%.3f" % (delta_us / 1000000.0)` (no padding), as Python does
/// it: the f64 quotient is rounded to 3 decimals by its exact binary value,
/// ties to even.
///
/// Fast path, from the integer only. Write |delta_us| = 1000 q + r (q whole
/// milliseconds). The answer is q or q + 1 milliseconds, decided by which
/// side of the midpoint (1000 q + 500) µs the f64 x = fl(|delta_us| / 1e6)
/// lies on:
/// - If r != 500, the exact quotient is at least 1 µs (1e-6) from the
///   midpoint, while |x - exact| <= 2^-53 |exact| < 1e-6 as long as
///   |delta_us| < 2^53 (which also makes `delta_us as f64` exact). So x is
///   on the same side as the exact quotient: r < 500 gives q, r > 500 q + 1.
/// - If r == 500 the exact quotient IS the midpoint, and the side depends
///   on the rounding error of the division, so x is compared with the
///   midpoint exactly in integers (see `tie_rounds_up`).
///
/// Larger values (over 285 years) go through `{:.3}`, which formats the
/// exact binary value with ties to even, as Python's `%.3f` does.
pub fn write_seconds_3(out: &mut Vec<u8>, delta_us: i64) {
    let abs = delta_us.unsigned_abs();
    if abs >= 1 << 53 {
        use std::io::Write;
        // Writing into a Vec cannot fail.
        let _ = write!(out, "{:.3}", delta_us as f64 / 1_000_000.0);
        return;
    }
    let q = abs / 1000;
    let r = abs % 1000;
    let millis = match r {
        0..=499 => q,
        501..=999 => q + 1,
        _ => q + u64::from(tie_rounds_up(abs, q)),
    };
    // Python keeps the sign of a negative value that rounds to zero
    // ("-0.000"); the fast path only sees abs >= 1 here, so any negative
    // delta gets its '-'.
    if delta_us < 0 {
        out.push(b'-');
    }
    write_u64(out, millis / 1000);
    let frac = (millis % 1000) as u16;
    out.extend_from_slice(&[
        b'.',
        b'0' + (frac / 100) as u8,
        b'0' + (frac / 10 % 10) as u8,
        b'0' + (frac % 10) as u8,
    ]);
}

/// For `abs` = 1000 q + 500 µs (500 <= abs < 2^53): whether `%.3f` of
/// x = fl(abs / 1e6) rounds up to q + 1 milliseconds.
///
/// x = m 2^e exactly (m the 53-bit significand); compare x * 1e6 with abs,
/// i.e. m * 10^6 with abs * 2^-e, in u128. Here 5e-4 <= x < 2^33, so
/// 20 <= -e <= 63 and both sides stay below 2^116. Equality happens when
/// the midpoint is a binary fraction (e.g. 0.0625): then ties go to even.
#[cold]
fn tie_rounds_up(abs: u64, q: u64) -> bool {
    let x = abs as f64 / 1_000_000.0;
    let bits = x.to_bits();
    let biased_exp = ((bits >> 52) & 0x7ff) as u32; // x is normal and positive
    let m = (bits & ((1 << 52) - 1)) | (1 << 52);
    let shift = 1075 - biased_exp; // x = m * 2^-shift
    let scaled_x = u128::from(m) * 1_000_000;
    let scaled_mid = u128::from(abs) << shift;
    match scaled_x.cmp(&scaled_mid) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => q % 2 == 1,
    }
}
