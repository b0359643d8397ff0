//! The tracepoint `format` file parser (`tracefs::format::parse_fields`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpconnect::tracefs::format::{find, parse_fields};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let fields = parse_fields(&text);
    // Every field comes from one line that starts with `field:`.
    assert!(fields.len() <= text.lines().count());
    for field in &fields {
        assert!(
            !field.name.is_empty() && field.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "bad field name {:?}",
            field.name
        );
    }
    for name in ["skaddr", "family", "saddr_v6", "daddr", "common_pid", ""] {
        let _ = find(&fields, name);
    }
});
