//! Where struct sock keeps sk_err, the errno a failed handshake leaves
//! (--result). It lies deep in struct sock, past members that come and go
//! with the kernel version and config, so the programs get it as a constant:
//! from the kernel's BTF when it has one, else by calibration. Calibration
//! dumps the socket of two connects of our own as each leaves SYN_SENT for
//! CLOSE: one refused (the kernel has set sk_err to ECONNREFUSED) and one we
//! close ourselves (sk_err still 0). sk_err is the int that holds
//! ECONNREFUSED in the first dump and 0 in the second; the search demands
//! exactly one such offset.

use crate::btf::{Btf, BtfError};

/// From the kernel's BTF: `struct sock.sk_err`, an int.
pub fn from_btf(btf: &Btf) -> Result<u32, BtfError> {
    let member = btf.member_offset("sock", &["sk_err"])?;
    if member.size != 4 {
        return Err(BtfError::Unexpected(format!(
            "struct sock's sk_err is {} bytes, not an int",
            member.size
        )));
    }
    Ok(member.offset)
}

/// From the two dumps (same length, starting at the socket): the one
/// 4-aligned offset holding ECONNREFUSED in `refused` and 0 in `closed`.
pub fn from_dumps(refused: &[u8], closed: &[u8]) -> Result<u32, String> {
    let int_at = |dump: &[u8], offset: usize| -> i32 {
        i32::from_ne_bytes(dump[offset..offset + 4].try_into().unwrap_or_default())
    };
    let len = refused.len().min(closed.len());
    let candidates: Vec<usize> = (0..len.saturating_sub(3))
        .step_by(4)
        .filter(|&o| int_at(refused, o) == libc::ECONNREFUSED && int_at(closed, o) == 0)
        .collect();
    match candidates[..] {
        [offset] => Ok(offset as u32),
        [] => {
            Err(format!("no int of the first {len} bytes of struct sock held ECONNREFUSED only when refused"))
        }
        _ => Err(format!(
            "{} offsets of struct sock held ECONNREFUSED only when refused: {}",
            candidates.len(),
            super::socket::offsets_list(&candidates)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dump_with(fields: &[(usize, i32)]) -> Vec<u8> {
        let mut dump: Vec<u8> = (0..1024u32).map(|i| (i * 7 % 251) as u8 | 0x80).collect();
        for &(offset, value) in fields {
            dump[offset..offset + 4].copy_from_slice(&value.to_ne_bytes());
        }
        dump
    }

    #[test]
    fn the_one_int_that_tells_the_dumps_apart_is_sk_err() {
        // sk_err at 284 (6.18), and a decoy that is ECONNREFUSED in both.
        let refused = dump_with(&[(284, libc::ECONNREFUSED), (400, libc::ECONNREFUSED), (512, 0)]);
        let closed = dump_with(&[(284, 0), (400, libc::ECONNREFUSED), (512, 0)]);
        assert_eq!(from_dumps(&refused, &closed), Ok(284));
    }

    #[test]
    fn none_or_several_candidates_are_refused_by_name() {
        let plain = dump_with(&[]);
        assert!(from_dumps(&plain, &plain).unwrap_err().starts_with("no int of the first 1024 bytes"));
        let refused = dump_with(&[(284, libc::ECONNREFUSED), (600, libc::ECONNREFUSED)]);
        let closed = dump_with(&[(284, 0), (600, 0)]);
        assert_eq!(
            from_dumps(&refused, &closed).unwrap_err(),
            "2 offsets of struct sock held ECONNREFUSED only when refused: 284, 600"
        );
        // Unaligned values never count: an int field is 4-aligned.
        let refused = dump_with(&[(286, libc::ECONNREFUSED)]);
        let closed = dump_with(&[(286, 0)]);
        assert!(from_dumps(&refused, &closed).is_err());
    }
}
