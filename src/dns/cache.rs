//! Address → the name that was asked for it, with when the answer arrived:
//! bcc's `TTLCache(maxsize=10240, ttl=86400)` of `-d`, per network
//! namespace: the same address answered with different names in two
//! containers is two entries. The namespace is the inode of the task's
//! network namespace on both sides (the one that read the answer, the one
//! that connects); 0 when the answers come from the packet socket, which
//! sees only its own.
//!
//! Differences from cachetools, none visible in the output in practice:
//! when full, the entry inserted longest ago goes (TTLCache evicts the least
//! recently *used*, and bcc's lookups count as uses); time is a caller-given
//! CLOCK_MONOTONIC value in ns, so a clock step cannot expire anything.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

/// bcc's DNS_CACHE_SIZE.
pub const CAPACITY: usize = 10240;
/// bcc's DEFAULT_TTL: 24 hours, in ns.
pub const TTL_NS: u64 = 86_400 * 1_000_000_000;

struct Entry {
    name: Box<str>,
    at_ns: u64,
    /// Insertion sequence number: this entry's key in `DnsCache::order`.
    seq: u64,
}

/// An answer address in the network namespace (inode) it was read in.
type Key = (u32, IpAddr);

/// A bounded map from answer address to (question name, arrival time).
pub struct DnsCache {
    capacity: usize,
    ttl_ns: u64,
    entries: HashMap<Key, Entry>,
    /// Insertion order, oldest first, for eviction and expiry; exactly one
    /// item per entry (re-inserting an address moves it to the back).
    order: BTreeMap<u64, Key>,
    next_seq: u64,
}

impl Default for DnsCache {
    fn default() -> Self {
        DnsCache::new()
    }
}

impl DnsCache {
    /// bcc's limits: 10240 entries, 24 hours.
    pub fn new() -> DnsCache {
        DnsCache::with_limits(CAPACITY, TTL_NS)
    }

    /// Other limits, for tests; a capacity of 0 is taken as 1.
    pub fn with_limits(capacity: usize, ttl_ns: u64) -> DnsCache {
        DnsCache {
            capacity: capacity.max(1),
            ttl_ns,
            entries: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
        }
    }

    /// Records that `addr` was answered for `name` at `now_ns` in network
    /// namespace `netns`, replacing what was known about `addr` there (the
    /// latest answer wins, as in bcc).
    pub fn insert(&mut self, netns: u32, addr: IpAddr, name: &str, now_ns: u64) {
        self.expire(now_ns);
        let addr = (netns, addr);
        if let Some(old) = self.entries.remove(&addr) {
            self.order.remove(&old.seq);
        }
        while self.entries.len() >= self.capacity {
            let Some((_, oldest)) = self.order.pop_first() else { break };
            self.entries.remove(&oldest);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.insert(seq, addr);
        self.entries.insert(addr, Entry { name: name.into(), at_ns: now_ns, seq });
    }

    /// The name last answered for `addr` in `netns` and how long before
    /// `now_ns` that was (0 if after), unless it is older than the TTL. An
    /// entry is valid while its age is under the TTL, as in cachetools.
    pub fn lookup(&self, netns: u32, addr: IpAddr, now_ns: u64) -> Option<(&str, u64)> {
        let entry = self.entries.get(&(netns, addr))?;
        let age = now_ns.saturating_sub(entry.at_ns);
        (age < self.ttl_ns).then_some((&*entry.name, age))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Drops expired entries from the front. Insertion times only grow with
    /// the monotonic clock, so the expired ones are all at the front; should
    /// a caller insert out of order, `lookup` still checks each age.
    fn expire(&mut self, now_ns: u64) {
        while let Some((&seq, addr)) = self.order.first_key_value() {
            let expired = match self.entries.get(addr) {
                Some(entry) => now_ns.saturating_sub(entry.at_ns) >= self.ttl_ns,
                None => true,
            };
            if !expired {
                break;
            }
            if let Some(addr) = self.order.remove(&seq) {
                self.entries.remove(&addr);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
    }

    #[test]
    fn lookup_gives_name_and_age() {
        let mut cache = DnsCache::new();
        let v6 = IpAddr::V6("fd00::1".parse::<Ipv6Addr>().unwrap());
        cache.insert(0, v4(1), "a.example", 1_000);
        cache.insert(0, v6, "b.example", 2_000);
        assert_eq!(cache.lookup(0, v4(1), 5_000), Some(("a.example", 4_000)));
        assert_eq!(cache.lookup(0, v6, 2_000), Some(("b.example", 0)));
        assert_eq!(cache.lookup(0, v4(2), 5_000), None);
        assert_eq!(cache.lookup(0, v4(1), 500), Some(("a.example", 0)), "connect before the read: age 0");
    }

    #[test]
    fn ipv4_and_mapped_ipv6_are_different_keys() {
        // bcc keys by address text; "::ffff:10.0.0.1" is not "10.0.0.1".
        let mut cache = DnsCache::new();
        cache.insert(0, v4(1), "a.example", 0);
        assert_eq!(cache.lookup(0, IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped()), 0), None);
    }

    #[test]
    fn entries_expire_after_24_hours() {
        let mut cache = DnsCache::new();
        cache.insert(0, v4(1), "a.example", 1);
        assert_eq!(cache.lookup(0, v4(1), TTL_NS), Some(("a.example", TTL_NS - 1)));
        assert_eq!(cache.lookup(0, v4(1), TTL_NS + 1), None, "age == TTL is expired");
        // Expired entries are dropped on the next insert.
        cache.insert(0, v4(2), "b.example", TTL_NS + 1);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn latest_answer_wins_and_refreshes_time() {
        let mut cache = DnsCache::with_limits(2, TTL_NS);
        cache.insert(0, v4(1), "old.example", 10);
        cache.insert(0, v4(2), "b.example", 20);
        cache.insert(0, v4(1), "new.example", 30);
        assert_eq!(cache.lookup(0, v4(1), 40), Some(("new.example", 10)));
        assert_eq!(cache.len(), 2);
        // Re-inserting moved 10.0.0.1 to the back: 10.0.0.2 is now oldest.
        cache.insert(0, v4(3), "c.example", 50);
        assert_eq!(cache.lookup(0, v4(2), 60), None);
        assert!(cache.lookup(0, v4(1), 60).is_some());
    }

    #[test]
    fn full_cache_evicts_the_oldest() {
        let mut cache = DnsCache::new();
        for i in 0..CAPACITY as u32 + 5 {
            let addr = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            cache.insert(0, addr, &format!("host{i}.example"), u64::from(i));
        }
        assert_eq!(cache.len(), CAPACITY);
        let now = CAPACITY as u64 + 10;
        for gone in 0..5u32 {
            assert_eq!(cache.lookup(0, IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + gone)), now), None);
        }
        let kept = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + 5));
        assert_eq!(cache.lookup(0, kept, now).map(|(name, _)| name), Some("host5.example"));
        assert_eq!(cache.order.len(), cache.entries.len());
    }

    #[test]
    fn namespaces_keep_their_own_names_for_one_address() {
        let mut cache = DnsCache::new();
        cache.insert(0xf000_0001, v4(9), "alpha.test", 10);
        cache.insert(0xf000_0002, v4(9), "beta.test", 20);
        assert_eq!(cache.lookup(0xf000_0001, v4(9), 30), Some(("alpha.test", 20)));
        assert_eq!(cache.lookup(0xf000_0002, v4(9), 30), Some(("beta.test", 10)));
        assert_eq!(cache.lookup(0xf000_0003, v4(9), 30), None, "nothing read in a third one");
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn zero_capacity_still_keeps_the_latest() {
        let mut cache = DnsCache::with_limits(0, TTL_NS);
        cache.insert(0, v4(1), "a.example", 0);
        cache.insert(0, v4(2), "b.example", 0);
        assert_eq!(cache.len(), 1);
        assert!(cache.lookup(0, v4(2), 0).is_some());
    }
}
