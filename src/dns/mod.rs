//! `-d/--dns`: which name was looked up for the address a process connects to.
//!
//! bcc puts a kprobe on `udp_recvmsg` and copies every received datagram to
//! userspace. We take the answers where processes read them too, without
//! kprobes: programs on the recvfrom/recvmsg/read syscall tracepoints
//! (`tracer::dns_programs`) send each DNS message a process reads from UDP
//! port 53, with the reader's network namespace, in every namespace. Where
//! the kernel cannot (no BTF, or TCPCONNECT_DNS=packet) a packet socket (`sys::packet`) sees every DNS response of its own network
//! namespace, on any interface including lo, with a classic BPF filter
//! (`capture`) that wakes us only for UDP from port 53. Either way the
//! messages are parsed in safe Rust (`parse`) and each A/AAAA answer is
//! remembered (`cache`) with the question name, the network namespace and
//! the CLOCK_MONOTONIC time it was read, so a connect event's
//! `bpf_ktime_get_ns` timestamp can be compared with it.
//!
//! Differences from bcc's capture where the packet socket is used, by design
//! of a packet tap:
//! - the tap sees a response before the receiving socket does, whoever
//!   reads it (bcc: when a process reads it), and also responses that no
//!   socket reads (a late duplicate, a closed port);
//! - it sees the network namespace the socket was opened in, where bcc's
//!   kprobe sees every namespace's reads;
//! - a response larger than 512 bytes is parsed whole (bcc copies 512; the
//!   kernel program copies 4096).
//!
//! The caller must read the answers (`read_all`, `queue_message`) right
//! before formatting connect events: an answer is written (to the capture
//! socket, or to the DNS ring) before the resolver's process can have used
//! it, so reading then guarantees every answer a connect could have used
//! is in the cache.

pub mod cache;
pub mod packet_filter;
pub mod parse;

use crate::sys::packet::{clock_monotonic_ns, PacketSocket, Received};
use crate::sys::SysError;
use cache::DnsCache;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, BorrowedFd};

/// bcc's DELAY_DNS (100 ms): an answer at most this old is not worth
/// showing its age.
pub const DELAY_NS: u64 = 100_000_000;
/// Receive buffer asked for: a burst of answers between two reads fits.
const RCVBUF: usize = 1 << 20;
/// Room for the largest IP packet (the filter keeps packets whole).
const SCRATCH_LEN: usize = 65536;

/// What `read_all` has seen so far, for diagnostics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DnsCounters {
    /// Packets that passed the kernel filter.
    pub packets: u64,
    /// Of those, responses bcc would use (QR, one question, answers or AA).
    pub responses: u64,
    /// A and AAAA answers recorded in the cache.
    pub answers: u64,
    /// Packets skipped: cut short, not received by this host, not a whole
    /// UDP datagram from port 53, or not a response bcc would use.
    pub skipped: u64,
}

/// The capture socket (where the kernel cannot read the answers) and the
/// answers seen.
pub struct DnsWatcher {
    socket: Option<PacketSocket>,
    cache: DnsCache,
    /// One packet at a time is copied here, parsed, and forgotten.
    scratch: Vec<u8>,
    counters: DnsCounters,
    /// The kernel's messages of this batch, not yet in the cache: (read at,
    /// network namespace, response); newest first once sorted.
    queued: Vec<(u64, u32, parse::Response)>,
    queued_sorted: bool,
}

impl DnsWatcher {
    /// Opens the capture socket (needs CAP_NET_RAW; root has it).
    pub fn open() -> Result<DnsWatcher, SysError> {
        let mut watcher = DnsWatcher::for_kernel_messages();
        watcher.open_socket()?;
        Ok(watcher)
    }

    /// A watcher fed only with the kernel's messages (`queue_message`):
    /// no socket, until `open_socket`.
    pub fn for_kernel_messages() -> DnsWatcher {
        DnsWatcher {
            socket: None,
            cache: DnsCache::new(),
            scratch: Vec::new(),
            counters: DnsCounters::default(),
            queued: Vec::new(),
            queued_sorted: false,
        }
    }

    /// Opens the capture socket if it is not open (needs CAP_NET_RAW).
    pub fn open_socket(&mut self) -> Result<(), SysError> {
        if self.socket.is_none() {
            self.socket = Some(PacketSocket::open(&packet_filter::RESPONSE_FILTER, RCVBUF)?);
            self.scratch = vec![0; SCRATCH_LEN];
        }
        Ok(())
    }

    /// For epoll registration: the capture socket, while there is one.
    pub fn as_fd(&self) -> Option<BorrowedFd<'_>> {
        self.socket.as_ref().map(|socket| socket.as_fd())
    }

    /// Takes one `struct dns_event` of the kernel's DNS program: a message a
    /// process read in network namespace `netns`, at its `ts_ns`. It enters
    /// the cache in time order with the connects: `answers_until` a
    /// connect's time, then `all_answers`. Never panics; a malformed event
    /// or message is skipped.
    pub fn queue_message(&mut self, event: &[u8]) {
        let parsed = parse_event(event);
        self.count(parsed.as_ref().map(|(.., response)| response.answers.len()));
        if let Some(message) = parsed {
            self.queued.push(message);
            self.queued_sorted = false;
        }
    }

    /// Records the queued messages read before `ts_ns` (CLOCK_MONOTONIC):
    /// the answers a connect made then could have used, and no later one,
    /// so a second answer for the same address does not rename a connect
    /// made before it. Messages come from several CPUs' rings: sorted first.
    pub fn answers_until(&mut self, ts_ns: u64) {
        if !self.queued_sorted {
            // Reversed, so the oldest pops off the end.
            self.queued.sort_unstable_by_key(|&(at, ..)| std::cmp::Reverse(at));
            self.queued_sorted = true;
        }
        while self.queued.last().is_some_and(|(at, ..)| *at <= ts_ns) {
            if let Some((at, netns, response)) = self.queued.pop() {
                insert_response(&mut self.cache, netns, &response, at);
            }
        }
    }

    /// Records every queued message: after a batch's lines, so the next
    /// batch starts with all of them in the cache.
    pub fn all_answers(&mut self) {
        self.answers_until(u64::MAX);
    }

    /// Reads every queued packet (until EAGAIN), records answers in the cache
    /// with the CLOCK_MONOTONIC time in ns at which they were read. Never
    /// panics; malformed packets are skipped.
    pub fn read_all(&mut self) -> Result<(), SysError> {
        loop {
            let received = match &self.socket {
                Some(socket) => socket.recv(&mut self.scratch)?,
                None => None,
            };
            let Some(received) = received else {
                return Ok(());
            };
            let recorded = self.record(received, clock_monotonic_ns());
            self.count(recorded);
        }
    }

    /// One more packet or message seen, and the answers it gave (None: skipped).
    fn count(&mut self, recorded: Option<usize>) {
        self.counters.packets += 1;
        match recorded {
            Some(answers) => {
                self.counters.responses += 1;
                self.counters.answers += answers as u64;
            }
            None => self.counters.skipped += 1,
        }
    }

    fn record(&mut self, received: Received, now_ns: u64) -> Option<usize> {
        // On lo every packet passes the tap twice, as PACKET_OUTGOING and as
        // PACKET_HOST; the filter keeps only the second, and so does this,
        // so each answer is recorded once. A packet longer than the scratch
        // buffer was cut and cannot be trusted.
        if !packet_filter::is_received(received.pkttype) {
            return None;
        }
        let packet = self.scratch.get(..received.len)?;
        record_packet(&mut self.cache, packet, now_ns)
    }

    /// bcc's QUERY text for a connect to `daddr` made in network namespace
    /// `netns` (0 with the packet socket) at CLOCK_MONOTONIC `connect_ns`
    /// (the BPF event timestamp, bpf_ktime_get_ns, is CLOCK_MONOTONIC).
    pub fn query_for(&self, netns: u32, daddr: IpAddr, connect_ns: u64) -> String {
        query_text(&self.cache, netns, daddr, connect_ns)
    }

    pub fn counters(&self) -> DnsCounters {
        self.counters
    }
}

/// Records the A/AAAA answers of one captured L3 packet under its question
/// name; the number of answers, or None when the packet is no DNS response
/// bcc would use.
pub fn record_packet(cache: &mut DnsCache, packet: &[u8], now_ns: u64) -> Option<usize> {
    let response = parse::parse_response(packet_filter::dns_payload(packet)?)?;
    insert_response(cache, 0, &response, now_ns);
    Some(response.answers.len())
}

/// `struct dns_event` of tcpconnect.h: ts_ns u64, netns u32, pid u32,
/// msg_len u16, len u16, ip u8, 3 bytes of padding, then `len` bytes.
const DNS_EVENT_HEADER: usize = 24;

/// The time, network namespace and response of one kernel `struct
/// dns_event`, or None when it holds no DNS response bcc would use. A
/// message the program could not copy whole (longer than the 4096 bytes it
/// keeps) is parsed as copied: it still counts where the cut falls after
/// the answers, and not where it falls inside them.
pub fn parse_event(event: &[u8]) -> Option<(u64, u32, parse::Response)> {
    let header = event.get(..DNS_EVENT_HEADER)?;
    let ts_ns = u64::from_ne_bytes(header[0..8].try_into().ok()?);
    let netns = u32::from_ne_bytes(header[8..12].try_into().ok()?);
    let len = usize::from(u16::from_ne_bytes(header[18..20].try_into().ok()?));
    let message = event.get(DNS_EVENT_HEADER..DNS_EVENT_HEADER + len)?;
    Some((ts_ns, netns, parse::parse_response(message)?))
}

/// Records the A/AAAA answers of one kernel `struct dns_event` under its
/// question name, in the reader's network namespace, at the time it was
/// read; the number of answers, or None (see `parse_event`).
pub fn record_event(cache: &mut DnsCache, event: &[u8]) -> Option<usize> {
    let (ts_ns, netns, response) = parse_event(event)?;
    insert_response(cache, netns, &response, ts_ns);
    Some(response.answers.len())
}

fn insert_response(cache: &mut DnsCache, netns: u32, response: &parse::Response, at_ns: u64) {
    for &addr in &response.answers {
        cache.insert(netns, addr, &response.question, at_ns);
    }
}

/// bcc's QUERY column: the name last answered for `daddr`, with ` (N.NNNms)`
/// when that answer came more than 100 ms before the connect; without one,
/// `localhost` for 127.0.0.1 and ::1 and `No DNS Query` for the rest.
///
/// bcc's age is a `datetime` difference (whole microseconds) printed with
/// `%.3f` in ms, which shows exactly those microseconds; integer arithmetic
/// on the age truncated to microseconds prints the same digits.
pub fn query_text(cache: &DnsCache, netns: u32, daddr: IpAddr, connect_ns: u64) -> String {
    match cache.lookup(netns, daddr, connect_ns) {
        Some((name, age_ns)) if age_ns / 1000 > DELAY_NS / 1000 => {
            let age_us = age_ns / 1000;
            format!("{name} ({}.{:03}ms)", age_us / 1000, age_us % 1000)
        }
        Some((name, _)) => name.to_string(),
        None if daddr == IpAddr::V4(Ipv4Addr::LOCALHOST) || daddr == IpAddr::V6(Ipv6Addr::LOCALHOST) => {
            "localhost".to_string()
        }
        None => "No DNS Query".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::packet_filter::tests::{ipv4_udp, ipv6_udp};
    use super::parse::tests::{a_response, Message, QR};
    use super::*;

    const MS: u64 = 1_000_000;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    #[test]
    fn no_answer_texts() {
        let cache = DnsCache::new();
        assert_eq!(query_text(&cache, 0, v4(127, 0, 0, 1), 0), "localhost");
        assert_eq!(query_text(&cache, 0, IpAddr::V6(Ipv6Addr::LOCALHOST), 0), "localhost");
        assert_eq!(query_text(&cache, 0, v4(127, 0, 0, 2), 0), "No DNS Query");
        assert_eq!(query_text(&cache, 0, v4(93, 184, 216, 34), 0), "No DNS Query");
        let mapped = IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped());
        assert_eq!(query_text(&cache, 0, mapped, 0), "No DNS Query", "bcc compares the text with ::1");
    }

    #[test]
    fn an_answer_for_localhost_wins() {
        let mut cache = DnsCache::new();
        cache.insert(0, v4(127, 0, 0, 1), "dev.example", 0);
        assert_eq!(query_text(&cache, 0, v4(127, 0, 0, 1), 0), "dev.example");
    }

    #[test]
    fn age_shown_only_past_100_ms() {
        let mut cache = DnsCache::new();
        let at = 5_000 * MS;
        cache.insert(0, v4(10, 1, 2, 3), "example.test", at);
        let text = |age_ns: u64| query_text(&cache, 0, v4(10, 1, 2, 3), at + age_ns);
        assert_eq!(text(0), "example.test");
        assert_eq!(text(100 * MS), "example.test");
        assert_eq!(text(100 * MS + 999), "example.test", "under a microsecond more");
        assert_eq!(text(100 * MS + 1_000), "example.test (100.001ms)");
        assert_eq!(text(250 * MS), "example.test (250.000ms)");
        assert_eq!(text(1_234_567_890), "example.test (1234.567ms)");
        assert_eq!(text(86_399_999_999_999), "example.test (86399999.999ms)");
        assert_eq!(text(cache::TTL_NS), "No DNS Query");
    }

    /// bcc computes `float(seconds) * 1000 + float(microseconds) / 1000`
    /// and prints it with `%.3f`; Rust's `{:.3}` rounds an f64 the same way.
    #[test]
    fn age_digits_match_bccs_float_formatting() {
        let mut cache = DnsCache::new();
        cache.insert(0, v4(10, 0, 0, 1), "n", 0);
        let mut age_us = 100_001u64;
        while age_us < 86_400_000_000 {
            let (seconds, micros) = (age_us / 1_000_000, age_us % 1_000_000);
            let bcc = format!("n ({:.3}ms)", seconds as f64 * 1000.0 + micros as f64 / 1000.0);
            assert_eq!(query_text(&cache, 0, v4(10, 0, 0, 1), age_us * 1000 + 999), bcc);
            age_us = age_us * 3 / 2 + 7;
        }
    }

    #[test]
    fn record_packet_stores_every_answer_under_the_question() {
        let mut cache = DnsCache::new();
        let v6: Ipv6Addr = "fd00::1:2".parse().unwrap();
        let msg = Message::new(QR, 1, 2).question("both.example", 1).a([10, 1, 2, 3]).aaaa(v6).build();
        assert_eq!(record_packet(&mut cache, &ipv6_udp(53, &msg), 7), Some(2));
        assert_eq!(query_text(&cache, 0, v4(10, 1, 2, 3), 7), "both.example");
        assert_eq!(query_text(&cache, 0, IpAddr::V6(v6), 7), "both.example");
    }

    #[test]
    fn record_packet_skips_what_is_not_a_response() {
        let mut cache = DnsCache::new();
        let answer = a_response("example.test", [10, 1, 2, 3]);
        assert_eq!(record_packet(&mut cache, &ipv4_udp(5353, &[], &answer), 0), None, "wrong port");
        assert_eq!(record_packet(&mut cache, &ipv4_udp(53, &[], b"garbage"), 0), None);
        assert_eq!(record_packet(&mut cache, &[], 0), None);
        assert!(cache.is_empty());
        assert_eq!(record_packet(&mut cache, &ipv4_udp(53, &[], &answer), 0), Some(1));
    }

    #[test]
    fn latest_answer_wins() {
        let mut cache = DnsCache::new();
        let first = a_response("first.example", [10, 1, 2, 3]);
        let second = a_response("second.example", [10, 1, 2, 3]);
        record_packet(&mut cache, &ipv4_udp(53, &[], &first), 0);
        record_packet(&mut cache, &ipv4_udp(53, &[], &second), 300 * MS);
        assert_eq!(query_text(&cache, 0, v4(10, 1, 2, 3), 350 * MS), "second.example");
    }

    /// A `struct dns_event` as the kernel program writes it.
    fn dns_event(ts_ns: u64, netns: u32, msg: &[u8], len: usize) -> Vec<u8> {
        let mut event = ts_ns.to_ne_bytes().to_vec();
        event.extend(netns.to_ne_bytes());
        event.extend(4242u32.to_ne_bytes());
        event.extend((msg.len() as u16).to_ne_bytes());
        event.extend((len as u16).to_ne_bytes());
        event.extend([4, 0, 0, 0]);
        event.extend(&msg[..len]);
        event
    }

    #[test]
    fn kernel_events_are_recorded_in_their_namespace_at_their_time() {
        let mut cache = DnsCache::new();
        let alpha = a_response("alpha.test", [127, 0, 0, 9]);
        let beta = a_response("beta.test", [127, 0, 0, 9]);
        assert_eq!(record_event(&mut cache, &dns_event(10 * MS, 7, &alpha, alpha.len())), Some(1));
        assert_eq!(record_event(&mut cache, &dns_event(20 * MS, 8, &beta, beta.len())), Some(1));
        assert_eq!(query_text(&cache, 7, v4(127, 0, 0, 9), 30 * MS), "alpha.test");
        assert_eq!(query_text(&cache, 8, v4(127, 0, 0, 9), 30 * MS), "beta.test");
        assert_eq!(query_text(&cache, 0, v4(127, 0, 0, 9), 30 * MS), "No DNS Query");
        // Read 250 ms before the connect: its age shows, from the event's time.
        assert_eq!(query_text(&cache, 7, v4(127, 0, 0, 9), 260 * MS), "alpha.test (250.000ms)");
    }

    #[test]
    fn kernel_events_cut_or_malformed_are_skipped() {
        let mut cache = DnsCache::new();
        let alpha = a_response("alpha.test", [10, 0, 0, 1]);
        // Cut inside the answer: not a response bcc would use.
        assert_eq!(record_event(&mut cache, &dns_event(0, 7, &alpha, alpha.len() - 2)), None);
        // A header that claims more bytes than follow.
        let mut claims_more = dns_event(0, 7, &alpha, alpha.len());
        claims_more.truncate(claims_more.len() - 1);
        assert_eq!(record_event(&mut cache, &claims_more), None);
        assert_eq!(record_event(&mut cache, &[0u8; 23]), None);
        assert!(cache.is_empty());
    }

    #[test]
    fn queued_answers_enter_in_time_order_so_a_later_one_does_not_rename_an_earlier_connect() {
        let mut watcher = DnsWatcher::for_kernel_messages();
        let first = a_response("first.test", [127, 0, 0, 9]);
        let second = a_response("second.test", [127, 0, 0, 9]);
        // From two CPUs' rings: the later answer drained first.
        watcher.queue_message(&dns_event(30 * MS, 7, &second, second.len()));
        watcher.queue_message(&dns_event(10 * MS, 7, &first, first.len()));
        let addr = v4(127, 0, 0, 9);
        watcher.answers_until(20 * MS);
        assert_eq!(watcher.query_for(7, addr, 20 * MS), "first.test", "a connect between the two");
        watcher.answers_until(40 * MS);
        assert_eq!(watcher.query_for(7, addr, 40 * MS), "second.test", "a connect after both");
        watcher.all_answers();
        assert_eq!(watcher.counters().answers, 2);
        // The next batch sorts its own.
        let third = a_response("third.test", [127, 0, 0, 9]);
        watcher.queue_message(&dns_event(50 * MS, 7, &third, third.len()));
        watcher.all_answers();
        assert_eq!(watcher.query_for(7, addr, 60 * MS), "third.test");
    }
}
