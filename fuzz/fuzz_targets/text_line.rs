//! The text output of one event: the first byte picks the columns (-t, -U,
//! -L, -d, --result), the rest is the event record as the BPF side writes
//! it (48 bytes for IPv4, 72 for IPv6; 88, with its outcome, for --result).
//! Whatever a traced process put in its name, the line for one event has
//! exactly one `\n`, at its end, and no other byte below 0x20 nor 0x7f.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpconnect::event::{ConnectEvent, IPV4_EVENT_SIZE, OUTCOME_EVENT_SIZE};
use tcpconnect::present::text::{Columns, LineFormatter};

fuzz_target!(|data: &[u8]| {
    let Some((&choice, record)) = data.split_first() else { return };
    let result = choice & 32 != 0;
    let decoded = if result { ConnectEvent::decode_outcome(record) } else { ConnectEvent::decode(record) };
    let Some(event) = decoded else { return };
    assert!(record.len() >= if result { OUTCOME_EVENT_SIZE } else { IPV4_EVENT_SIZE });
    let columns = Columns {
        timestamp: choice & 1 != 0,
        print_uid: choice & 2 != 0,
        lport: choice & 4 != 0,
        query: choice & 8 != 0,
        result,
        json: false,
    };
    let query: Option<&[u8]> = if choice & 16 != 0 { Some(b"example.com") } else { None };
    let mut formatter = LineFormatter::new(columns);
    let mut out = Vec::new();
    formatter.write_event_with_query(&mut out, &event, query);
    assert_eq!(out.last(), Some(&b'\n'), "{out:?}");
    let body = &out[..out.len() - 1];
    assert!(!body.iter().any(|&b| b < 0x20 || b == 0x7f), "{out:?}");
});
