//! The names and numbers shared with bpf-prebuilt/tcpconnect.bpf.c and
//! tcpconnect.h (the event layout itself is in `event`). Change both together;
//! the tests below check this side against the embedded object.

/// Program sections.
pub const PROG_STATE_TRACEPOINT: &str = "tracepoint/sock/inet_sock_set_state";

/// Maps.
pub const MAP_EVENTS: &str = "events";
pub const MAP_PORTS: &str = "ports";

/// Load-time constants (undefined symbols in the object).
pub const CONST_FILTER_PID: &str = "filter_pid";
pub const CONST_TARGET_PID: &str = "target_pid";
pub const CONST_FILTER_UID: &str = "filter_uid";
pub const CONST_TARGET_UID: &str = "target_uid";
pub const CONST_FILTER_PORTS: &str = "filter_ports";

/// The tracepoint the state program attaches to.
pub const STATE_TRACEPOINT: (&str, &str) = ("sock", "inet_sock_set_state");

/// Whether the program can run on a kernel whose tracepoint lacks a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    Required,
    /// Read as 0 where absent.
    Optional,
}

/// FIELD_* marker ids of tcpconnect.h and the tracefs field names they stand for.
pub const STATE_FIELDS: [(u8, &str, Presence); 9] = [
    (1, "oldstate", Presence::Required),
    (2, "newstate", Presence::Required),
    (3, "dport", Presence::Required),
    // Added to the tracepoint after 4.16; the program then decides the family
    // from the v4-mapped destination address.
    (4, "family", Presence::Optional),
    (5, "protocol", Presence::Required),
    (6, "saddr", Presence::Required),
    (7, "daddr", Presence::Required),
    (8, "saddr_v6", Presence::Required),
    (9, "daddr_v6", Presence::Required),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader::{parse_object, RelocTarget, EMBEDDED_OBJECT};

    #[test]
    fn embedded_object_matches_these_names() {
        let obj = parse_object(EMBEDDED_OBJECT).expect("embedded object parses");
        assert_eq!(obj.license.to_str().unwrap(), "Dual MIT/GPL");
        let events = &obj.maps[obj.map_index(MAP_EVENTS).expect("events map")];
        assert_eq!((events.map_type, events.key_size, events.value_size), (4, 4, 4));
        let ports = &obj.maps[obj.map_index(MAP_PORTS).expect("ports map")];
        assert_eq!((ports.map_type, ports.key_size, ports.value_size), (1, 2, 1));

        let prog = obj.program(PROG_STATE_TRACEPOINT).expect("state program");
        assert_eq!(prog.name, "tcpconnect_state");
        let mut constants: Vec<&str> = prog
            .relocations
            .iter()
            .filter_map(|r| match &r.target {
                RelocTarget::Constant(name) => Some(name.as_str()),
                RelocTarget::Map(_) => None,
            })
            .collect();
        constants.sort();
        constants.dedup();
        let mut expected =
            vec![CONST_FILTER_PID, CONST_TARGET_PID, CONST_FILTER_UID, CONST_TARGET_UID, CONST_FILTER_PORTS];
        expected.sort();
        assert_eq!(constants, expected);
        let maps: Vec<usize> = prog
            .relocations
            .iter()
            .filter_map(|r| if let RelocTarget::Map(i) = r.target { Some(i) } else { None })
            .collect();
        assert!(maps.contains(&obj.map_index(MAP_EVENTS).unwrap()));
        assert!(maps.contains(&obj.map_index(MAP_PORTS).unwrap()));
    }
}
