//! The records the BPF side writes, decoded in this one place: the event
//! (`struct connect_event` in bpf-prebuilt/tcpconnect.h, a perf sample
//! payload), the --result outcome (`struct outcome_event`: the event and
//! how its handshake ended) and the -c count (`struct count_key` and its u64 value, read
//! from the counts map). Decoded field by field from the (unaligned) bytes,
//! never cast in place.

use std::sync::Arc;

/// Size of `struct connect_event` as sent without -d in the kernel: the
/// bytes before `netns` (CONNECT_EVENT_BEFORE_NETNS).
pub const EVENT_SIZE: usize = 72;
/// Size of `struct connect_event4`: an IPv4 connect sent without `netns`
/// (the two 4-byte addresses, then comm, after the first 24 bytes).
pub const IPV4_EVENT_SIZE: usize = 48;
/// Size of the whole `struct connect_event`, `netns` and its padding
/// included: what -d in the kernel sends, and what maps and --result's
/// outcome hold.
pub const EVENT_WITH_NETNS_SIZE: usize = 80;
/// Size of `struct outcome_event` (--result).
pub const OUTCOME_EVENT_SIZE: usize = 96;
/// `TASK_COMM_LEN`.
pub const COMM_LEN: usize = 16;
/// Size of `struct identity_event` (--ppid, --container): the whole event,
/// then cgroup_id (u64), ppid (u32), cgroup_owner (u32), pcomm,
/// cgroup_leaf, cgroup_parent.
pub const IDENTITY_EVENT_SIZE: usize = 304;
/// `CGROUP_LEAF_LEN`: bytes of the cgroup's name the event holds, its NUL
/// included.
pub const CGROUP_LEAF_LEN: usize = 112;
/// `CGROUP_PARENT_LEN`: the same for its parent's name.
pub const CGROUP_PARENT_LEN: usize = 80;
/// `CGROUP_OWNER_UNKNOWN`.
const CGROUP_OWNER_UNKNOWN: u32 = u32::MAX;

/// How a connect's handshake ended (--result).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeEnd {
    /// SYN_SENT -> ESTABLISHED.
    Established,
    /// SYN_SENT -> CLOSE with this errno in sk_err (refused, timed out, ...).
    Failed(i32),
    /// SYN_SENT -> CLOSE with no error: the owner closed it, shut it down
    /// or exited first.
    Closed,
    /// Still in SYN_SENT when tracing stopped.
    Pending,
}

/// The outcome of one connect, and when it happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub end: HandshakeEnd,
    /// CLOCK_MONOTONIC ns when the socket left SYN_SENT (for `Pending`:
    /// when tracing stopped).
    pub done_ns: u64,
}

/// One traced connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectEvent {
    /// bpf_ktime_get_ns() (CLOCK_MONOTONIC) at the connect.
    pub ts_ns: u64,
    /// Process id (tgid).
    pub pid: u32,
    pub uid: u32,
    /// Destination port, host order.
    pub dport: u16,
    /// Local port, host order; 0 when the kernel had not chosen it yet.
    pub lport: u16,
    /// IP version: 4 or 6.
    pub ip: u8,
    /// Source address; for IPv4 the first 4 bytes, network order.
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
    /// Raw task comm, NUL padded.
    pub comm: [u8; COMM_LEN],
    /// -d with the DNS answers read in the kernel: the inode of the
    /// connecting task's network namespace (the DNS cache's key); else 0.
    pub netns: u32,
    /// --result: how the handshake ended; `None` without it.
    pub outcome: Option<Outcome>,
    /// --ppid, --container: who made the connect; `None` without them
    /// (boxed: the plain event stays small).
    pub identity: Option<Box<TaskIdentity>>,
}

/// Who made a connect, as the kernel saw it at the connect.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskIdentity {
    /// --ppid: the parent's process id (tgid) and raw comm, NUL padded.
    pub ppid: u32,
    pub pcomm: [u8; COMM_LEN],
    /// --container: the kernfs id of the task's cgroup in the chosen
    /// hierarchy (0: not read), and its name as the kernel had it.
    pub cgroup_id: u64,
    pub cgroup_leaf: Vec<u8>,
    /// Its parent's name (empty for the root and its children's parent).
    pub cgroup_parent: Vec<u8>,
    /// The uid owning the cgroup's directory at the connect; None if unread.
    pub cgroup_owner: Option<u32>,
    /// Without BTF: the cgroup's path as /proc gave it when the line was
    /// made (the kernel gave no id then).
    pub cgroup_path: Option<Vec<u8>>,
    /// --container: what user space found for the cgroup before printing
    /// (shared by the lines of one cgroup, see `EventNames`).
    pub container: Option<Arc<ContainerFields>>,
}

/// --container's fields of a line, found from the cgroup by user space.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerFields {
    /// The CONTAINER column.
    pub column: Vec<u8>,
    /// The cgroup's path below its hierarchy's root, where still found.
    pub cgroup: Option<Vec<u8>>,
    pub container_id: Option<Vec<u8>>,
    pub container_name: Option<Vec<u8>>,
    pub pod: Option<Vec<u8>>,
    pub pod_namespace: Option<Vec<u8>>,
}

impl TaskIdentity {
    /// The parent's comm up to its first NUL.
    pub fn pcomm_bytes(&self) -> &[u8] {
        let len = self.pcomm.iter().position(|&c| c == 0).unwrap_or(COMM_LEN);
        &self.pcomm[..len]
    }

    /// Decodes the identity part of `struct identity_event`, the bytes
    /// after the event (`tail`, at least IDENTITY_EVENT_SIZE -
    /// EVENT_WITH_NETNS_SIZE long).
    fn decode(tail: &[u8]) -> Option<TaskIdentity> {
        let tail = tail.get(..IDENTITY_EVENT_SIZE - EVENT_WITH_NETNS_SIZE)?;
        let name = |field: &[u8]| field[..field.iter().position(|&c| c == 0).unwrap_or(field.len())].to_vec();
        let owner = u32::from_ne_bytes(tail[12..16].try_into().unwrap_or_default());
        Some(TaskIdentity {
            cgroup_id: u64::from_ne_bytes(tail[0..8].try_into().unwrap_or_default()),
            ppid: u32::from_ne_bytes(tail[8..12].try_into().unwrap_or_default()),
            cgroup_owner: (owner != CGROUP_OWNER_UNKNOWN).then_some(owner),
            pcomm: tail[16..32].try_into().unwrap_or_default(),
            cgroup_leaf: name(&tail[32..32 + CGROUP_LEAF_LEN]),
            cgroup_parent: name(&tail[32 + CGROUP_LEAF_LEN..]),
            cgroup_path: None,
            container: None,
        })
    }

    /// Encodes the identity part as the programs send it (tests, benches).
    pub fn encode(&self) -> [u8; IDENTITY_EVENT_SIZE - EVENT_WITH_NETNS_SIZE] {
        let mut b = [0u8; IDENTITY_EVENT_SIZE - EVENT_WITH_NETNS_SIZE];
        b[0..8].copy_from_slice(&self.cgroup_id.to_ne_bytes());
        b[8..12].copy_from_slice(&self.ppid.to_ne_bytes());
        b[12..16].copy_from_slice(&self.cgroup_owner.unwrap_or(CGROUP_OWNER_UNKNOWN).to_ne_bytes());
        b[16..32].copy_from_slice(&self.pcomm);
        let leaf = &self.cgroup_leaf[..self.cgroup_leaf.len().min(CGROUP_LEAF_LEN - 1)];
        b[32..32 + leaf.len()].copy_from_slice(leaf);
        let parent = &self.cgroup_parent[..self.cgroup_parent.len().min(CGROUP_PARENT_LEN - 1)];
        let at = 32 + CGROUP_LEAF_LEN;
        b[at..at + parent.len()].copy_from_slice(parent);
        b
    }
}

impl ConnectEvent {
    /// Decodes a sample payload: the 72 bytes before `netns`, and `netns`
    /// where the payload holds the whole struct (perf pads a 72-byte sample
    /// to 76, never 80); shorter, the 48 bytes of an IPv4 connect (perf
    /// pads them to 52). Shorter still, or a short one that is not IPv4, is
    /// malformed. A payload of IDENTITY_EVENT_SIZE or more is an identity
    /// event (--ppid, --container: no other is that long).
    pub fn decode(bytes: &[u8]) -> Option<ConnectEvent> {
        if bytes.len() < EVENT_SIZE {
            return ConnectEvent::decode_ipv4(bytes);
        }
        if bytes.len() >= IDENTITY_EVENT_SIZE {
            let identity = TaskIdentity::decode(&bytes[EVENT_WITH_NETNS_SIZE..])?;
            let mut event = ConnectEvent::decode(&bytes[..EVENT_WITH_NETNS_SIZE])?;
            event.identity = Some(Box::new(identity));
            return Some(event);
        }
        let b = bytes.get(..EVENT_SIZE)?;
        let netns = match bytes.get(EVENT_SIZE..EVENT_WITH_NETNS_SIZE) {
            Some(netns) => u32::from_ne_bytes(netns[..4].try_into().unwrap_or_default()),
            None => 0,
        };
        let arr16 = |o: usize| -> [u8; 16] { b[o..o + 16].try_into().unwrap_or_default() };
        Some(ConnectEvent::with_head(b, arr16(24), arr16(40), arr16(56), netns))
    }

    /// Decodes `struct connect_event4`: the first 24 bytes as the full
    /// event's, then the addresses (each the first 4 bytes of its field).
    fn decode_ipv4(bytes: &[u8]) -> Option<ConnectEvent> {
        let b = bytes.get(..IPV4_EVENT_SIZE)?;
        if b[20] != 4 {
            return None;
        }
        let addr = |o: usize| -> [u8; 16] {
            let mut addr = [0u8; 16];
            addr[..4].copy_from_slice(&b[o..o + 4]);
            addr
        };
        let comm = b[32..48].try_into().unwrap_or_default();
        Some(ConnectEvent::with_head(b, addr(24), addr(28), comm, 0))
    }

    /// The event whose first 24 bytes, the part both layouts share (time,
    /// pid, uid, ports, ip version), are `b`'s, with these addresses, comm
    /// and netns. `b` holds at least 24 bytes.
    fn with_head(
        b: &[u8],
        saddr: [u8; 16],
        daddr: [u8; 16],
        comm: [u8; COMM_LEN],
        netns: u32,
    ) -> ConnectEvent {
        let u16_at = |o: usize| u16::from_ne_bytes([b[o], b[o + 1]]);
        let u32_at = |o: usize| u32::from_ne_bytes(b[o..o + 4].try_into().unwrap_or_default());
        let u64_at = |o: usize| u64::from_ne_bytes(b[o..o + 8].try_into().unwrap_or_default());
        ConnectEvent {
            ts_ns: u64_at(0),
            pid: u32_at(8),
            uid: u32_at(12),
            dport: u16_at(16),
            lport: u16_at(18),
            ip: b[20],
            saddr,
            daddr,
            comm,
            netns,
            outcome: None,
            identity: None,
        }
    }

    /// Decodes a --result sample: the event, then done_ns (u64), error
    /// (s32) and established (u8). Shorter is malformed.
    pub fn decode_outcome(bytes: &[u8]) -> Option<ConnectEvent> {
        let tail = bytes.get(EVENT_WITH_NETNS_SIZE..OUTCOME_EVENT_SIZE)?;
        let mut event = ConnectEvent::decode(bytes)?;
        let done_ns = u64::from_ne_bytes(tail[..8].try_into().unwrap_or_default());
        let error = i32::from_ne_bytes(tail[8..12].try_into().unwrap_or_default());
        let end = match (tail[12], error) {
            (0, 0) => HandshakeEnd::Closed,
            (0, errno) => HandshakeEnd::Failed(errno),
            _ => HandshakeEnd::Established,
        };
        event.outcome = Some(Outcome { end, done_ns });
        Some(event)
    }

    /// The time lines are ordered by: the outcome's with --result, else the
    /// connect's.
    pub fn order_ns(&self) -> u64 {
        self.outcome.map_or(self.ts_ns, |o| o.done_ns)
    }

    /// The destination address (for -d's DNS lookup).
    pub fn daddr_ip(&self) -> std::net::IpAddr {
        if self.ip == 6 {
            std::net::Ipv6Addr::from(self.daddr).into()
        } else {
            std::net::Ipv4Addr::new(self.daddr[0], self.daddr[1], self.daddr[2], self.daddr[3]).into()
        }
    }

    /// The comm bytes up to the first NUL, exactly as the kernel holds them.
    pub fn comm_bytes(&self) -> &[u8] {
        let len = self.comm.iter().position(|&c| c == 0).unwrap_or(COMM_LEN);
        &self.comm[..len]
    }

    /// Encodes the event as the BPF program lays it out, `netns` included
    /// (tests, benches; a sample without it is the first EVENT_SIZE bytes).
    pub fn encode(&self) -> [u8; EVENT_WITH_NETNS_SIZE] {
        let mut b = [0u8; EVENT_WITH_NETNS_SIZE];
        b[0..8].copy_from_slice(&self.ts_ns.to_ne_bytes());
        b[8..12].copy_from_slice(&self.pid.to_ne_bytes());
        b[12..16].copy_from_slice(&self.uid.to_ne_bytes());
        b[16..18].copy_from_slice(&self.dport.to_ne_bytes());
        b[18..20].copy_from_slice(&self.lport.to_ne_bytes());
        b[20] = self.ip;
        b[24..40].copy_from_slice(&self.saddr);
        b[40..56].copy_from_slice(&self.daddr);
        b[56..72].copy_from_slice(&self.comm);
        b[72..76].copy_from_slice(&self.netns.to_ne_bytes());
        b
    }

    /// Encodes an IPv4 event as the programs send it without -d in the
    /// kernel, `struct connect_event4` (tests, benches).
    pub fn encode_ipv4(&self) -> [u8; IPV4_EVENT_SIZE] {
        let mut b = [0u8; IPV4_EVENT_SIZE];
        b[..24].copy_from_slice(&self.encode()[..24]);
        b[24..28].copy_from_slice(&self.saddr[..4]);
        b[28..32].copy_from_slice(&self.daddr[..4]);
        b[32..48].copy_from_slice(&self.comm);
        b
    }

    /// Encodes the event as a --result sample (tests, benches); `Pending`
    /// has no encoding (the kernel never sends it) and encodes as `Closed`.
    pub fn encode_outcome(&self) -> [u8; OUTCOME_EVENT_SIZE] {
        let mut b = [0u8; OUTCOME_EVENT_SIZE];
        b[..EVENT_WITH_NETNS_SIZE].copy_from_slice(&self.encode());
        let outcome = self.outcome.unwrap_or(Outcome { end: HandshakeEnd::Closed, done_ns: 0 });
        b[EVENT_WITH_NETNS_SIZE..EVENT_WITH_NETNS_SIZE + 8].copy_from_slice(&outcome.done_ns.to_ne_bytes());
        let (error, established) = match outcome.end {
            HandshakeEnd::Established => (0, 1),
            HandshakeEnd::Failed(errno) => (errno, 0),
            HandshakeEnd::Closed | HandshakeEnd::Pending => (0, 0),
        };
        b[EVENT_WITH_NETNS_SIZE + 8..EVENT_WITH_NETNS_SIZE + 12].copy_from_slice(&error.to_ne_bytes());
        b[EVENT_WITH_NETNS_SIZE + 12] = established;
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_round_trips_encode() {
        let ev = ConnectEvent {
            ts_ns: 0x0102_0304_0506_0708,
            pid: 4242,
            uid: 1000,
            dport: 443,
            lport: 0,
            ip: 6,
            saddr: [1; 16],
            daddr: [2; 16],
            comm: *b"curl\0\0\0\0\0\0\0\0\0\0\0\0",
            netns: 0xf000_0123,
            outcome: None,
            identity: None,
        };
        let mut padded = ev.encode().to_vec();
        padded.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(ConnectEvent::decode(&padded), Some(ev.clone()));
        assert_eq!(ev.comm_bytes(), b"curl");
        // Without -d in the kernel: 72 bytes, padded by perf to 76; no netns.
        let without = ConnectEvent::decode(&padded[..EVENT_SIZE + 4]).unwrap();
        assert_eq!(without, ConnectEvent { netns: 0, ..ev.clone() });
        assert_eq!(ConnectEvent::decode(&padded[..EVENT_SIZE - 1]), None, "an IPv6 event cut short");
    }

    #[test]
    fn an_ipv4_connect_decodes_from_its_48_bytes_as_from_the_whole_event() {
        let mut saddr = [0u8; 16];
        saddr[..4].copy_from_slice(&[127, 0, 0, 1]);
        let mut daddr = [0u8; 16];
        daddr[..4].copy_from_slice(&[10, 1, 2, 3]);
        let ev = ConnectEvent {
            ts_ns: 0x0102_0304_0506_0708,
            pid: 4242,
            uid: 1000,
            dport: 443,
            lport: 40000,
            ip: 4,
            saddr,
            daddr,
            comm: *b"curl\0\0\0\0\0\0\0\0\0\0\0\0",
            netns: 0,
            outcome: None,
            identity: None,
        };
        let compact = ev.encode_ipv4();
        assert_eq!(ConnectEvent::decode(&compact), Some(ev.clone()));
        assert_eq!(ConnectEvent::decode(&ev.encode()[..EVENT_SIZE]), Some(ev.clone()));
        // Padded by perf to 52.
        let padded: Vec<u8> = compact.iter().copied().chain([0; 4]).collect();
        assert_eq!(ConnectEvent::decode(&padded), Some(ev.clone()));
        assert_eq!(ConnectEvent::decode(&compact[..IPV4_EVENT_SIZE - 1]), None);
        // 48 bytes that do not say IPv4 are malformed, not an IPv6 connect cut short.
        let mut six = compact;
        six[20] = 6;
        assert_eq!(ConnectEvent::decode(&six), None);
    }

    #[test]
    fn outcomes_round_trip_and_short_samples_are_malformed() {
        let mut ev = ConnectEvent::decode(&[7u8; EVENT_WITH_NETNS_SIZE]).unwrap();
        for end in [HandshakeEnd::Established, HandshakeEnd::Failed(111), HandshakeEnd::Closed] {
            ev.outcome = Some(Outcome { end, done_ns: 0x1122_3344_5566_7788 });
            let mut padded = ev.encode_outcome().to_vec();
            padded.extend_from_slice(&[0, 0, 0, 0]);
            assert_eq!(ConnectEvent::decode_outcome(&padded), Some(ev.clone()));
            assert_eq!(ev.order_ns(), 0x1122_3344_5566_7788);
        }
        assert_eq!(ConnectEvent::decode_outcome(&ev.encode_outcome()[..OUTCOME_EVENT_SIZE - 1]), None);
        // A plain event is no outcome.
        assert_eq!(ConnectEvent::decode_outcome(&ev.encode()), None);
    }

    #[test]
    fn an_identity_event_round_trips_and_its_names_stop_at_nul() {
        let identity = TaskIdentity {
            ppid: 77,
            pcomm: *b"bash\0\0\0\0\0\0\0\0\0\0\0\0",
            cgroup_id: 0x1234_5678_9abc,
            cgroup_leaf: b"docker-0123.scope".to_vec(),
            cgroup_parent: b"system.slice".to_vec(),
            cgroup_owner: Some(0),
            cgroup_path: None,
            container: None,
        };
        let mut ev = ConnectEvent::decode(&[7u8; EVENT_WITH_NETNS_SIZE]).unwrap();
        ev.identity = Some(Box::new(identity.clone()));
        let mut bytes = ev.encode().to_vec();
        bytes.extend_from_slice(&identity.encode());
        assert_eq!(bytes.len(), IDENTITY_EVENT_SIZE);
        // Padded by perf to 308.
        bytes.extend_from_slice(&[0; 4]);
        let decoded = ConnectEvent::decode(&bytes).unwrap();
        assert_eq!(decoded, ev);
        assert_eq!(decoded.identity.as_ref().unwrap().pcomm_bytes(), b"bash");
        // A leaf that fills its field has no NUL: all but the last byte, which the kernel makes NUL.
        let long = TaskIdentity { cgroup_leaf: vec![b'x'; 200], ..identity };
        let tail = long.encode();
        assert_eq!(TaskIdentity::decode(&tail).unwrap().cgroup_leaf, vec![b'x'; CGROUP_LEAF_LEN - 1]);
        let unread = TaskIdentity { cgroup_owner: None, cgroup_parent: vec![b'p'; 100], ..long };
        let decoded = TaskIdentity::decode(&unread.encode()).unwrap();
        assert_eq!((decoded.cgroup_owner, decoded.cgroup_parent), (None, vec![b'p'; CGROUP_PARENT_LEN - 1]));
        // Cut short: the plain event it starts with, never part of an identity.
        assert_eq!(
            ConnectEvent::decode(&bytes[..IDENTITY_EVENT_SIZE - 1]).map(|e| e.identity.is_some()),
            Some(false)
        );
    }

    #[test]
    fn comm_without_nul_is_all_sixteen_bytes() {
        let mut ev = ConnectEvent::decode(&[0u8; EVENT_SIZE]).unwrap();
        ev.comm = *b"0123456789abcdef";
        assert_eq!(ev.comm_bytes(), b"0123456789abcdef");
    }
}

/// One (source, destination, port) key and its connect count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CountRow {
    /// 6 for IPv6; anything else is an IPv4 row (first 4 address bytes),
    /// as for events.
    pub ip: u8,
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
    /// Destination port, host order.
    pub dport: u16,
    pub count: u64,
}

impl From<(u8, [u8; 16], [u8; 16], u16, u64)> for CountRow {
    fn from((ip, saddr, daddr, dport, count): (u8, [u8; 16], [u8; 16], u16, u64)) -> Self {
        CountRow { ip, saddr, daddr, dport, count }
    }
}

/// Size of `struct count_key`: saddr[16] daddr[16] dport:u16 ip:u8 pad[5].
pub const COUNT_KEY_SIZE: usize = 40;

impl CountRow {
    /// The row of one counts map entry: its key and its u64 value.
    pub fn decode(key: &[u8; COUNT_KEY_SIZE], value: [u8; 8]) -> CountRow {
        let addr = |o: usize| -> [u8; 16] { key[o..o + 16].try_into().unwrap_or_default() };
        CountRow {
            saddr: addr(0),
            daddr: addr(16),
            dport: u16::from_ne_bytes([key[32], key[33]]),
            ip: key[34],
            count: u64::from_ne_bytes(value),
        }
    }
}
