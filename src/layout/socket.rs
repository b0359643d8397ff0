//! Where struct sock_common keeps the IPv6 addresses (skc_v6_daddr, then
//! skc_v6_rcv_saddr). Unlike the IPv4 fields at its start, their offset moves
//! with the kernel config (CONFIG_NET_NS, lockdep, randstruct...), so the
//! kprobe programs get it as a constant: from the kernel's BTF when it has
//! one, else by calibration (a loopback connect of our own whose socket the
//! BPF side dumps, searched here for the addresses we know).

use crate::btf::{Btf, BtfError};
use std::net::Ipv6Addr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockOffsets {
    pub v6_daddr: u32,
    pub v6_rcv_saddr: u32,
}

/// From the kernel's BTF. Both members must be 16-byte in6_addr.
pub fn from_btf(btf: &Btf) -> Result<SockOffsets, BtfError> {
    let daddr = btf.member_offset("sock_common", &["skc_v6_daddr"])?;
    let saddr = btf.member_offset("sock_common", &["skc_v6_rcv_saddr"])?;
    if daddr.size != 16 || saddr.size != 16 {
        return Err(BtfError::Unexpected(format!(
            "sock_common IPv6 addresses are {} and {} bytes, not 16",
            daddr.size, saddr.size
        )));
    }
    Ok(SockOffsets { v6_daddr: daddr.offset, v6_rcv_saddr: saddr.offset })
}

/// The raw tracepoint program reads the socket itself: the head of
/// sock_common at the offsets compiled into it (`struct sock_head` of the BPF
/// side), and the IPv6 addresses and the protocol at these offsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketLayout {
    pub v6: SockOffsets,
    /// struct sock.sk_protocol, a u16 since 5.6 (a bitfield before).
    pub sk_protocol: u32,
    /// struct inet_sock.inet_sport: the local port (network order), which
    /// outlives skc_num when a refused connect releases its port.
    pub inet_sport: u32,
}

/// The members of sock_common the BPF side reads at fixed offsets (its
/// `struct sock_head`): name, offset, size.
const HEAD: [(&str, u32, u32); 5] = [
    ("skc_daddr", 0, 4),
    ("skc_rcv_saddr", 4, 4),
    ("skc_dport", SKC_DPORT as u32, 2),
    ("skc_num", 14, 2),
    ("skc_family", SKC_FAMILY as u32, 2),
];

/// From the kernel's BTF: fails unless the head of sock_common is where the
/// program expects it and sk_protocol is a whole u16.
pub fn socket_layout_from_btf(btf: &Btf) -> Result<SocketLayout, BtfError> {
    for (member, offset, size) in HEAD {
        let found = btf.member_offset("sock_common", &[member])?;
        if (found.offset, found.size) != (offset, size) {
            return Err(BtfError::Unexpected(format!(
                "sock_common.{member} is {} bytes at offset {}, not {size} at {offset}",
                found.size, found.offset
            )));
        }
    }
    let u16_member = |type_name: &str, member: &str| btf.member_of_size(type_name, &[member], 2);
    Ok(SocketLayout {
        v6: from_btf(btf)?,
        sk_protocol: u16_member("sock", "sk_protocol")?,
        inet_sport: u16_member("inet_sock", "inet_sport")?,
    })
}

/// struct sock_common fields at fixed offsets (see the BPF side's `struct
/// sock_head`): checked against BTF in HEAD, and used to check that a dump
/// is the socket we connected.
const SKC_DPORT: usize = 12;
const SKC_FAMILY: usize = 16;
/// The addresses follow the fixed head (skc_family is at 16) at 4-byte
/// alignment (struct in6_addr).
const FIRST_CANDIDATE: usize = 20;

/// Finds the addresses in `dump` (the first bytes of the socket of a connect
/// from `saddr` to `daddr`:`dport`): daddr immediately followed by saddr.
/// Fails unless exactly one offset fits, and the dump's port and family
/// prove it is that socket.
pub fn from_dump(dump: &[u8], saddr: Ipv6Addr, daddr: Ipv6Addr, dport: u16) -> Result<SockOffsets, String> {
    let dport_at = dump.get(SKC_DPORT..SKC_DPORT + 2);
    if dport_at != Some(&dport.to_be_bytes()[..]) {
        return Err(format!("the socket dump does not hold destination port {dport} at offset {SKC_DPORT}"));
    }
    let family_at = dump.get(SKC_FAMILY..SKC_FAMILY + 2);
    if family_at != Some(&(libc::AF_INET6 as u16).to_ne_bytes()[..]) {
        return Err(format!("the socket dump does not hold AF_INET6 at offset {SKC_FAMILY}"));
    }
    let mut pair = daddr.octets().to_vec();
    pair.extend_from_slice(&saddr.octets());
    let found: Vec<usize> = (FIRST_CANDIDATE..dump.len().saturating_sub(31))
        .step_by(4)
        .filter(|&offset| dump[offset..offset + 32] == pair[..])
        .collect();
    match found[..] {
        [offset] => Ok(SockOffsets { v6_daddr: offset as u32, v6_rcv_saddr: offset as u32 + 16 }),
        [] => Err(format!(
            "the addresses {daddr} and {saddr} are not in the first {} bytes of the socket",
            dump.len()
        )),
        _ => Err(format!(
            "the addresses {daddr} and {saddr} appear at several offsets: {}",
            offsets_list(&found)
        )),
    }
}

/// "56, 72": offsets for a message.
pub(crate) fn offsets_list(offsets: &[usize]) -> String {
    offsets.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dump_with(offset: usize, daddr: Ipv6Addr, saddr: Ipv6Addr, port: u16) -> Vec<u8> {
        let mut dump: Vec<u8> = (0..256u32).map(|i| (i * 7 + 3) as u8).collect();
        dump[SKC_DPORT..SKC_DPORT + 2].copy_from_slice(&port.to_be_bytes());
        dump[SKC_FAMILY..SKC_FAMILY + 2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
        dump[offset..offset + 16].copy_from_slice(&daddr.octets());
        dump[offset + 16..offset + 32].copy_from_slice(&saddr.octets());
        dump
    }

    #[test]
    fn finds_the_pair_at_any_aligned_offset() {
        for offset in (20..224).step_by(4) {
            let dump = dump_with(offset, Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST, 4242);
            let found = from_dump(&dump, Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST, 4242).unwrap();
            assert_eq!(found, SockOffsets { v6_daddr: offset as u32, v6_rcv_saddr: offset as u32 + 16 });
        }
    }

    #[test]
    fn rejects_a_foreign_or_ambiguous_dump() {
        let lo = Ipv6Addr::LOCALHOST;
        let dump = dump_with(56, lo, lo, 4242);
        assert!(from_dump(&dump, lo, lo, 4243).unwrap_err().contains("port 4243"));
        let other: Ipv6Addr = "fd00::1".parse().unwrap();
        assert!(from_dump(&dump, other, lo, 4242).unwrap_err().contains("not in the first 256 bytes"));
        let mut twice = dump.clone();
        twice[120..136].copy_from_slice(&lo.octets());
        twice[136..152].copy_from_slice(&lo.octets());
        assert!(from_dump(&twice, lo, lo, 4242).unwrap_err().contains("several offsets"));
        let mut v4 = dump;
        v4[SKC_FAMILY] = libc::AF_INET as u8;
        assert!(from_dump(&v4, lo, lo, 4242).unwrap_err().contains("AF_INET6"));
        assert!(from_dump(&[0u8; 8], lo, lo, 4242).is_err());
    }

    /// BTF with sock_common laid out as on Linux 6.x (flattened: no
    /// anonymous unions) and a struct sock whose sk_protocol is `protocol`
    /// (bit offset, bits).
    fn sock_btf(dport_bits: u32, protocol: (u32, u32)) -> Btf {
        use crate::btf::tests::Builder;
        let mut b = Builder::new();
        let u16_t = b.int("u16", 2, 16);
        let u32_t = b.int("u32", 4, 32);
        let u8_t = b.int("u8", 1, 8);
        let in6 = b.structure("in6_addr", 16, &[("a", u8_t, 0)]);
        let common = b.structure(
            "sock_common",
            136,
            &[
                ("skc_daddr", u32_t, 0),
                ("skc_rcv_saddr", u32_t, 32),
                ("skc_hash", u32_t, 64),
                ("skc_dport", u16_t, dport_bits),
                ("skc_num", u16_t, 112),
                ("skc_family", u16_t, 128),
                ("skc_v6_daddr", in6, 56 * 8),
                ("skc_v6_rcv_saddr", in6, 72 * 8),
            ],
        );
        let narrow = b.int("unsigned int", 4, protocol.1);
        let protocol_type = if protocol.1 == 16 { u16_t } else { narrow };
        let sock = b.structure(
            "sock",
            768,
            &[("__sk_common", common, 0), ("sk_protocol", protocol_type, protocol.0)],
        );
        b.structure("inet_sock", 1024, &[("sk", sock, 0), ("inet_sport", u16_t, 782 * 8)]);
        Btf::parse(&b.build()).unwrap()
    }

    #[test]
    fn the_socket_layout_comes_from_btf_only_when_it_fits_the_program() {
        let layout = socket_layout_from_btf(&sock_btf(96, (516 * 8, 16))).unwrap();
        assert_eq!(
            layout,
            SocketLayout {
                v6: SockOffsets { v6_daddr: 56, v6_rcv_saddr: 72 },
                sk_protocol: 516,
                inet_sport: 782
            }
        );
        // A head that moved: the program's fixed offsets would be wrong.
        let moved = socket_layout_from_btf(&sock_btf(104, (516 * 8, 16))).unwrap_err().to_string();
        assert!(moved.contains("sock_common.skc_dport is 2 bytes at offset 13, not 2 at 12"), "{moved}");
        // Before 5.6 sk_protocol was an 8-bit bitfield.
        let old = socket_layout_from_btf(&sock_btf(96, (512 * 8 + 8, 8))).unwrap_err().to_string();
        assert!(old.contains("sk_protocol"), "{old}");
    }

    #[test]
    fn this_kernel_btf_gives_adjacent_addresses() {
        let btf = match Btf::load_vmlinux() {
            Ok(btf) => btf,
            Err(e) => {
                eprintln!("skipping: {e}");
                return;
            }
        };
        let offsets = from_btf(&btf).unwrap();
        assert_eq!(offsets.v6_rcv_saddr, offsets.v6_daddr + 16);
        assert!(offsets.v6_daddr >= FIRST_CANDIDATE as u32);
        // The raw tracepoint program's fixed head holds on this kernel, and
        // sk_protocol lies past sock_common (which starts struct sock).
        let layout = socket_layout_from_btf(&btf).unwrap();
        assert_eq!(layout.v6, offsets);
        let common = btf.member_offset("sock_common", &[]).unwrap();
        assert!(layout.sk_protocol >= common.size, "{layout:?}");
        let sock = btf.member_offset("sock", &[]).unwrap();
        assert!(layout.inet_sport >= sock.size, "inet_sock starts with struct sock: {layout:?}");
    }
}
