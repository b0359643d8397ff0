//! The DNS path of `-d`: a captured IP packet → its UDP payload from port 53
//! (`dns::packet_filter::dns_payload`) → the response (`dns::parse::parse_response`)
//! → the cache (`dns::record_packet`). The bytes are also parsed directly as
//! a DNS message, so the fuzzer need not build IP and UDP headers to reach
//! the message parser, and as a kernel `struct dns_event`
//! (`dns::record_event`: its header, then a message).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpconnect::dns::cache::DnsCache;
use tcpconnect::dns::packet_filter::dns_payload;
use tcpconnect::dns::parse::parse_response;
use tcpconnect::dns::{record_event, record_packet};

/// The limits a response must respect, whatever its counts claim.
fn check(msg: &[u8]) {
    let Some(response) = parse_response(msg) else { return };
    // A name is at most 255 bytes on the wire; a byte prints as at most `\DDD`.
    assert!(response.question.len() <= 4 * 255, "question of {} chars", response.question.len());
    // An A answer takes at least 1 (root name) + 10 + 4 bytes of the message.
    assert!(response.answers.len() <= msg.len() / 15, "{} answers", response.answers.len());
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if let Some(payload) = dns_payload(data) {
        check(payload);
    }
    let mut cache = DnsCache::new();
    let _ = record_packet(&mut cache, data, 1);
    let _ = record_event(&mut cache, data);
});
