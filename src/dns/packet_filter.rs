//! From captured packets to DNS messages: the classic BPF filter the capture
//! socket runs in the kernel, and the IP + UDP header walk in userspace.
//!
//! Both keep the same packets: IPv4 or IPv6 UDP with source port 53, not
//! fragmented, received by this host (not sent by it, not someone else's).
//! The kernel filter only saves wake-ups; `dns_payload` checks everything
//! again because it must not trust a packet it did not see filtered.

use crate::sys::packet::SockFilter;

/// The DNS server port: answers come from it.
pub const DNS_PORT: u16 = 53;

const IPPROTO_UDP: u8 = 17;
const ETH_P_IP: u32 = 0x0800;
const ETH_P_IPV6: u32 = 0x86dd;
/// PACKET_HOST, PACKET_BROADCAST and PACKET_MULTICAST are at most this;
/// PACKET_OTHERHOST, PACKET_OUTGOING, PACKET_LOOPBACK and up are above.
const PACKET_MULTICAST: u32 = 2;
/// The IPv4 MF flag and the fragment offset.
const IPV4_FRAGMENT_MASK: u16 = 0x3fff;
const IPV4_MIN_HEADER: usize = 20;
const IPV6_HEADER: usize = 40;
const UDP_HEADER: usize = 8;
/// Bytes of each accepted packet the kernel keeps: more than any IP packet
/// without jumbograms, so nothing is cut.
const SNAP_LEN: u32 = 0x40000;

// Opcode parts, as in linux/bpf_common.h and linux/filter.h.
const BPF_LD: u16 = 0x00;
const BPF_LDX: u16 = 0x01;
const BPF_JMP: u16 = 0x05;
const BPF_RET: u16 = 0x06;
const BPF_W: u16 = 0x00;
const BPF_H: u16 = 0x08;
const BPF_B: u16 = 0x10;
const BPF_IMM: u16 = 0x00;
const BPF_ABS: u16 = 0x20;
const BPF_IND: u16 = 0x40;
const BPF_MSH: u16 = 0xa0;
const BPF_JA: u16 = 0x00;
const BPF_JEQ: u16 = 0x10;
const BPF_JGT: u16 = 0x20;
const BPF_JSET: u16 = 0x40;
const BPF_K: u16 = 0x00;
/// Loads at SKF_AD_OFF (-0x1000) + n read skb metadata instead of packet bytes.
const SKF_AD_OFF: u32 = 0xffff_f000;
/// skb->protocol, in host order: the ethertype even with SOCK_DGRAM.
const SKF_AD_PROTOCOL: u32 = 0;
/// skb->pkt_type: the sll_pkttype recvfrom would report.
const SKF_AD_PKTTYPE: u32 = 4;

const fn stmt(code: u16, k: u32) -> SockFilter {
    SockFilter { code, jt: 0, jf: 0, k }
}

/// A conditional jump at index `at` to absolute indexes `jt` / `jf`. Classic
/// BPF jumps are forward offsets from the next instruction; computing them
/// here from absolute labels makes a wrong one a compile error (underflow in
/// the static's initializer) rather than a silently different program.
const fn jump(at: usize, code: u16, k: u32, jt: usize, jf: usize) -> SockFilter {
    SockFilter { code, jt: (jt - at - 1) as u8, jf: (jf - at - 1) as u8, k }
}

const fn jump_always(at: usize, to: usize) -> SockFilter {
    stmt(BPF_JMP | BPF_JA, (to - at - 1) as u32)
}

// Labels of the program below.
const IPV6: usize = 10;
const PORT: usize = 14;
const ACCEPT: usize = 16;
const DROP: usize = 17;

/// The capture socket's filter. The socket is SOCK_DGRAM, so offset 0 is the
/// IP header on every interface, whatever its link layer.
///
/// ```text
///  0  ld  [pkttype]                 ; SKF_AD_OFF + SKF_AD_PKTTYPE
///  1  jgt #2 (MULTICAST), DROP      ; not HOST/BROADCAST/MULTICAST: our own
///                                   ;   sent copy (OUTGOING; on lo every packet
///                                   ;   is seen twice), someone else's (OTHERHOST)
///  2  ld  [protocol]                ; SKF_AD_OFF + SKF_AD_PROTOCOL, the ethertype
///  3  jeq #0x0800, 4, IPV6
///  4  ldb [9]                       ; IPv4 protocol
///  5  jeq #17 (UDP), 6, DROP
///  6  ldh [6]                       ; flags + fragment offset
///  7  jset #0x3fff, DROP, 8         ; MF or an offset: not a whole datagram
///  8  ldx 4*([0]&0xf)               ; X = IPv4 header length
///  9  ja  PORT
/// 10 IPV6: jeq #0x86dd, 11, DROP
/// 11  ldb [6]                       ; next header: UDP right after the fixed
/// 12  jeq #17 (UDP), 13, DROP       ;   header, extension headers not followed
/// 13  ldx #40                       ; X = IPv6 header length
/// 14 PORT: ldh [x+0]                ; UDP source port (out of bounds: drop)
/// 15  jeq #53, ACCEPT, DROP
/// 16 ACCEPT: ret #0x40000           ; the whole packet
/// 17 DROP: ret #0
/// ```
pub static RESPONSE_FILTER: [SockFilter; 18] = [
    stmt(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_PKTTYPE),
    jump(1, BPF_JMP | BPF_JGT | BPF_K, PACKET_MULTICAST, DROP, 2),
    stmt(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_PROTOCOL),
    jump(3, BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 4, IPV6),
    stmt(BPF_LD | BPF_B | BPF_ABS, 9),
    jump(5, BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP as u32, 6, DROP),
    stmt(BPF_LD | BPF_H | BPF_ABS, 6),
    jump(7, BPF_JMP | BPF_JSET | BPF_K, IPV4_FRAGMENT_MASK as u32, DROP, 8),
    stmt(BPF_LDX | BPF_B | BPF_MSH, 0),
    jump_always(9, PORT),
    jump(IPV6, BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6, 11, DROP),
    stmt(BPF_LD | BPF_B | BPF_ABS, 6),
    jump(12, BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP as u32, 13, DROP),
    stmt(BPF_LDX | BPF_W | BPF_IMM, IPV6_HEADER as u32),
    stmt(BPF_LD | BPF_H | BPF_IND, 0),
    jump(15, BPF_JMP | BPF_JEQ | BPF_K, DNS_PORT as u32, ACCEPT, DROP),
    stmt(BPF_RET | BPF_K, SNAP_LEN),
    stmt(BPF_RET | BPF_K, 0),
];

/// True for a packet this host received (`sll_pkttype` HOST, BROADCAST or
/// MULTICAST). The filter already drops the rest; this is the same rule for
/// whatever reached the socket without it.
pub fn is_received(pkttype: u8) -> bool {
    u32::from(pkttype) <= PACKET_MULTICAST
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    let pair = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([pair[0], pair[1]]))
}

/// The UDP payload of an IPv4 or IPv6 packet from port 53, within the
/// lengths its IP and UDP headers give (link-layer padding after them is
/// not part of it). None for anything else: another protocol or port,
/// fragments (no single packet holds the message), IPv6 extension headers,
/// and lengths that do not fit.
pub fn dns_payload(packet: &[u8]) -> Option<&[u8]> {
    let (protocol, segment) = match packet.first()? >> 4 {
        4 => ipv4_payload(packet)?,
        6 => ipv6_payload(packet)?,
        _ => return None,
    };
    if protocol != IPPROTO_UDP {
        return None;
    }
    if be16(segment, 0)? != DNS_PORT {
        return None;
    }
    let udp_len = usize::from(be16(segment, 4)?);
    if udp_len < UDP_HEADER {
        return None;
    }
    segment.get(UDP_HEADER..udp_len)
}

fn ipv4_payload(packet: &[u8]) -> Option<(u8, &[u8])> {
    let header_len = usize::from(packet.first()? & 0x0f) * 4;
    let total_len = usize::from(be16(packet, 2)?);
    if header_len < IPV4_MIN_HEADER || total_len < header_len {
        return None;
    }
    if be16(packet, 6)? & IPV4_FRAGMENT_MASK != 0 {
        return None;
    }
    Some((*packet.get(9)?, packet.get(header_len..total_len)?))
}

fn ipv6_payload(packet: &[u8]) -> Option<(u8, &[u8])> {
    let payload_len = usize::from(be16(packet, 4)?);
    Some((*packet.get(6)?, packet.get(IPV6_HEADER..IPV6_HEADER + payload_len)?))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An IPv4 UDP packet; `options` go after the 20-byte header.
    pub(crate) fn ipv4_udp(sport: u16, options: &[u8], payload: &[u8]) -> Vec<u8> {
        assert_eq!(options.len() % 4, 0);
        let header_len = 20 + options.len();
        let total = header_len + 8 + payload.len();
        let mut p = vec![0x40 | (header_len / 4) as u8, 0];
        p.extend((total as u16).to_be_bytes());
        p.extend([0x12, 0x34, 0x40, 0x00, 64, IPPROTO_UDP, 0, 0]); // id, DF, ttl, proto, csum
        p.extend([127, 0, 0, 1, 127, 0, 0, 1]);
        p.extend(options);
        p.extend(udp(sport, payload));
        p
    }

    pub(crate) fn ipv6_udp(sport: u16, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend(((8 + payload.len()) as u16).to_be_bytes());
        p.extend([IPPROTO_UDP, 64]);
        p.extend(std::net::Ipv6Addr::LOCALHOST.octets());
        p.extend(std::net::Ipv6Addr::LOCALHOST.octets());
        p.extend(udp(sport, payload));
        p
    }

    fn udp(sport: u16, payload: &[u8]) -> Vec<u8> {
        let mut u = sport.to_be_bytes().to_vec();
        u.extend(40000u16.to_be_bytes());
        u.extend(((8 + payload.len()) as u16).to_be_bytes());
        u.extend([0, 0]);
        u.extend(payload);
        u
    }

    #[test]
    fn ipv4_payload_with_and_without_options() {
        let plain = ipv4_udp(53, &[], b"answer");
        assert_eq!(dns_payload(&plain), Some(&b"answer"[..]));
        let with_options = ipv4_udp(53, &[1, 1, 1, 0, 0x94, 4, 0, 0], b"answer"); // NOPs + router alert
        assert_eq!(dns_payload(&with_options), Some(&b"answer"[..]));
    }

    #[test]
    fn ipv6_payload() {
        assert_eq!(dns_payload(&ipv6_udp(53, b"answer")), Some(&b"answer"[..]));
    }

    #[test]
    fn trailing_link_padding_is_not_payload() {
        for mut packet in [ipv4_udp(53, &[], b"ab"), ipv6_udp(53, b"ab")] {
            packet.extend([0; 18]);
            assert_eq!(dns_payload(&packet), Some(&b"ab"[..]));
        }
    }

    #[test]
    fn udp_length_bounds_the_payload() {
        let mut packet = ipv4_udp(53, &[], b"abcdef");
        packet[20 + 5] = 8 + 2; // UDP length: 2 bytes of payload, the IP length says 6
        assert_eq!(dns_payload(&packet), Some(&b"ab"[..]));
        packet[20 + 5] = 8 + 7; // longer than the IP packet
        assert_eq!(dns_payload(&packet), None);
        packet[20 + 5] = 7; // shorter than its own header
        assert_eq!(dns_payload(&packet), None);
    }

    #[test]
    fn other_ports_and_protocols_are_not_dns() {
        assert_eq!(dns_payload(&ipv4_udp(5353, &[], b"x")), None);
        assert_eq!(dns_payload(&ipv6_udp(54, b"x")), None);
        let mut tcp = ipv4_udp(53, &[], b"x");
        tcp[9] = 6;
        assert_eq!(dns_payload(&tcp), None);
        let mut hop_by_hop = ipv6_udp(53, b"x");
        hop_by_hop[6] = 0;
        assert_eq!(dns_payload(&hop_by_hop), None);
        let mut arp_like = ipv4_udp(53, &[], b"x");
        arp_like[0] = 0x00;
        assert_eq!(dns_payload(&arp_like), None);
    }

    #[test]
    fn fragments_are_skipped() {
        let whole = ipv4_udp(53, &[], b"x");
        for (flags_and_offset, what) in [(0x2000u16, "first (MF)"), (0x00b9, "last"), (0x20b9, "middle")] {
            let mut fragment = whole.clone();
            fragment[6..8].copy_from_slice(&flags_and_offset.to_be_bytes());
            assert_eq!(dns_payload(&fragment), None, "{what} fragment");
        }
    }

    #[test]
    fn short_and_inconsistent_packets() {
        for packet in [ipv4_udp(53, &[], b"answer"), ipv6_udp(53, b"answer")] {
            let header_end = packet.len() - 6;
            for len in 0..header_end {
                assert_eq!(dns_payload(&packet[..len]), None, "cut at {len}");
            }
        }
        let mut bad_ihl = ipv4_udp(53, &[], b"x");
        bad_ihl[0] = 0x44;
        assert_eq!(dns_payload(&bad_ihl), None);
        let mut ihl_past_total = ipv4_udp(53, &[], b"x");
        ihl_past_total[0] = 0x4f;
        assert_eq!(dns_payload(&ihl_past_total), None);
        let mut total_too_long = ipv4_udp(53, &[], b"x");
        total_too_long[3] += 1;
        assert_eq!(dns_payload(&total_too_long), None);
        let mut v6_too_long = ipv6_udp(53, b"x");
        v6_too_long[5] += 1;
        assert_eq!(dns_payload(&v6_too_long), None);
    }

    /// Runs a classic BPF program the way the kernel does, for the handful of
    /// instructions RESPONSE_FILTER uses: a load past the end drops.
    fn run_filter(program: &[SockFilter], packet: &[u8], protocol: u32, pkttype: u32) -> u32 {
        let load = |at: u32, size: usize| -> Option<u32> {
            match at.checked_sub(SKF_AD_OFF) {
                Some(SKF_AD_PROTOCOL) => return Some(protocol),
                Some(SKF_AD_PKTTYPE) => return Some(pkttype),
                Some(other) => panic!("unexpected ancillary load {other}"),
                None => {}
            }
            let bytes = packet.get(at as usize..at as usize + size)?;
            Some(bytes.iter().fold(0, |v, &b| (v << 8) | u32::from(b)))
        };
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        loop {
            let insn = program[pc];
            pc += 1;
            let size = match insn.code & 0x18 {
                BPF_W => 4,
                BPF_H => 2,
                _ => 1,
            };
            match insn.code {
                c if c == BPF_LD | (c & 0x18) | BPF_ABS => match load(insn.k, size) {
                    Some(v) => a = v,
                    None => return 0,
                },
                c if c == BPF_LD | (c & 0x18) | BPF_IND => match load(x + insn.k, size) {
                    Some(v) => a = v,
                    None => return 0,
                },
                c if c == BPF_LDX | BPF_B | BPF_MSH => match load(insn.k, 1) {
                    Some(v) => x = 4 * (v & 0xf),
                    None => return 0,
                },
                c if c == BPF_LDX | BPF_W | BPF_IMM => x = insn.k,
                c if c == BPF_JMP | BPF_JA => pc += insn.k as usize,
                c if c & 0x07 == BPF_JMP => {
                    let taken = match c & 0xf0 {
                        BPF_JEQ => a == insn.k,
                        BPF_JGT => a > insn.k,
                        BPF_JSET => a & insn.k != 0,
                        _ => panic!("unexpected jump {c:#x}"),
                    };
                    pc += usize::from(if taken { insn.jt } else { insn.jf });
                }
                c if c == BPF_RET | BPF_K => return insn.k,
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    const HOST: u32 = 0;
    const OUTGOING: u32 = 4;

    #[test]
    fn filter_jumps_stay_inside_and_it_ends_in_returns() {
        let len = RESPONSE_FILTER.len();
        for (at, insn) in RESPONSE_FILTER.iter().enumerate() {
            if insn.code & 0x07 == BPF_JMP {
                let reach = if insn.code == BPF_JMP | BPF_JA {
                    insn.k as usize
                } else {
                    usize::from(insn.jt.max(insn.jf))
                };
                assert!(at + 1 + reach < len, "jump at {at} leaves the program");
            }
        }
        assert_eq!(RESPONSE_FILTER[ACCEPT].code, BPF_RET | BPF_K);
        assert_eq!(RESPONSE_FILTER[DROP].code, BPF_RET | BPF_K);
    }

    #[test]
    fn filter_keeps_received_dns_responses_whole() {
        let with_options = ipv4_udp(53, &[1, 1, 1, 1], b"answer");
        for packet in [ipv4_udp(53, &[], b"answer"), with_options] {
            assert_eq!(run_filter(&RESPONSE_FILTER, &packet, ETH_P_IP, HOST), SNAP_LEN);
            assert!(SNAP_LEN as usize > packet.len());
        }
        assert_eq!(run_filter(&RESPONSE_FILTER, &ipv6_udp(53, b"answer"), ETH_P_IPV6, HOST), SNAP_LEN);
        for broadcast_or_multicast in [1, 2] {
            let packet = ipv4_udp(53, &[], b"x");
            assert_eq!(run_filter(&RESPONSE_FILTER, &packet, ETH_P_IP, broadcast_or_multicast), SNAP_LEN);
        }
    }

    #[test]
    fn filter_drops_what_dns_payload_refuses() {
        let dropped = |packet: &[u8], protocol: u32, pkttype: u32| {
            assert_eq!(run_filter(&RESPONSE_FILTER, packet, protocol, pkttype), 0, "{packet:?}");
        };
        // Our own sent copy, on lo the twin of the PACKET_HOST one; and other
        // hosts' traffic (promiscuous mode), PACKET_OTHERHOST.
        dropped(&ipv4_udp(53, &[], b"x"), ETH_P_IP, OUTGOING);
        dropped(&ipv6_udp(53, b"x"), ETH_P_IPV6, OUTGOING);
        dropped(&ipv4_udp(53, &[], b"x"), ETH_P_IP, 3);
        dropped(&ipv4_udp(54, &[], b"x"), ETH_P_IP, HOST);
        dropped(&ipv6_udp(5353, b"x"), ETH_P_IPV6, HOST);
        dropped(&ipv4_udp(53, &[], b"x"), 0x0806, HOST); // ARP's ethertype
        let mut tcp = ipv4_udp(53, &[], b"x");
        tcp[9] = 6;
        dropped(&tcp, ETH_P_IP, HOST);
        let mut v6_ext = ipv6_udp(53, b"x");
        v6_ext[6] = 44; // a fragment header first
        dropped(&v6_ext, ETH_P_IPV6, HOST);
        for flags_and_offset in [0x2000u16, 0x00b9, 0x1fff] {
            let mut fragment = ipv4_udp(53, &[], b"x");
            fragment[6..8].copy_from_slice(&flags_and_offset.to_be_bytes());
            dropped(&fragment, ETH_P_IP, HOST);
        }
        // A header length pointing past the end: the port load fails.
        let mut long_ihl = ipv4_udp(53, &[], b"x");
        long_ihl[0] = 0x4f;
        dropped(&long_ihl, ETH_P_IP, HOST);
        // Cut before the end of the source port; later cuts pass the filter,
        // which reads nothing further, and dns_payload refuses them.
        for len in 0..22 {
            dropped(&ipv4_udp(53, &[], b"")[..len], ETH_P_IP, HOST);
        }
    }

    #[test]
    fn filter_ignores_the_dont_fragment_flag() {
        let mut packet = ipv4_udp(53, &[], b"x");
        packet[6] = 0x40; // DF, as the builder already sets; and without it:
        assert_eq!(run_filter(&RESPONSE_FILTER, &packet, ETH_P_IP, HOST), SNAP_LEN);
        packet[6] = 0;
        assert_eq!(run_filter(&RESPONSE_FILTER, &packet, ETH_P_IP, HOST), SNAP_LEN);
    }

    #[test]
    fn received_packet_types() {
        assert!(is_received(0) && is_received(1) && is_received(2));
        assert!(!is_received(3) && !is_received(4) && !is_received(5));
    }
}
