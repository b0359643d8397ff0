//! One batch of ring samples → ordered, formatted lines. Rings are per CPU,
//! so a batch holds events from several CPUs interleaved in no useful order;
//! sorting by the kernel timestamp restores the order of the connects.

use crate::event::ConnectEvent;
use crate::output::{write_header, Columns, LineFormatter};

pub struct BatchPrinter {
    columns: Columns,
    formatter: LineFormatter,
    events: Vec<ConnectEvent>,
    text: Vec<u8>,
    /// Samples too short to be an event (never expected; counted, not fatal).
    malformed: u64,
}

impl BatchPrinter {
    pub fn new(columns: Columns) -> Self {
        BatchPrinter {
            columns,
            formatter: LineFormatter::new(columns),
            events: Vec::new(),
            text: Vec::with_capacity(64 * 1024),
            malformed: 0,
        }
    }

    /// The header line.
    pub fn header(&mut self) -> &[u8] {
        self.text.clear();
        write_header(&mut self.text, self.columns);
        &self.text
    }

    /// Adds one sample payload to the current batch.
    pub fn push_sample(&mut self, payload: &[u8]) {
        match ConnectEvent::decode(payload) {
            Some(event) => self.events.push(event),
            None => self.malformed += 1,
        }
    }

    /// Ends the batch: its lines in timestamp order (empty when it had none).
    pub fn finish(&mut self) -> &[u8] {
        // Stable: equal timestamps keep ring order.
        self.events.sort_by_key(|event| event.ts_ns);
        self.text.clear();
        for event in &self.events {
            self.formatter.write_event(&mut self.text, event);
        }
        self.events.clear();
        &self.text
    }

    /// Takes the count of malformed samples seen since the last call.
    pub fn take_malformed(&mut self) -> u64 {
        std::mem::take(&mut self.malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ts_ns: u64, pid: u32, ip: u8) -> ConnectEvent {
        let mut saddr = [0u8; 16];
        let mut daddr = [0u8; 16];
        if ip == 4 {
            saddr[..4].copy_from_slice(&[127, 0, 0, 1]);
            daddr[..4].copy_from_slice(&[127, 0, 0, 1]);
        } else {
            saddr[15] = 1;
            daddr[15] = 1;
        }
        ConnectEvent {
            ts_ns,
            pid,
            uid: 0,
            dport: 80,
            lport: 0,
            ip,
            saddr,
            daddr,
            comm: *b"curl\0\0\0\0\0\0\0\0\0\0\0\0",
        }
    }

    #[test]
    fn batch_lines_follow_kernel_time_not_ring_order() {
        let mut printer = BatchPrinter::new(Columns { timestamp: true, print_uid: false });
        // As drained: CPU 0's ring first, then CPU 1's.
        for e in
            [event(1_000_000, 1, 4), event(3_000_000, 3, 4), event(2_000_000, 2, 6), event(4_000_000, 4, 6)]
        {
            printer.push_sample(&e.encode());
        }
        printer.push_sample(&[0u8; 10]);
        let text = String::from_utf8(printer.finish().to_vec()).unwrap();
        assert_eq!(
            text,
            "0.000    1      curl         4  127.0.0.1        127.0.0.1        80  \n\
             0.001    2      curl         6  ::1              ::1              80  \n\
             0.002    3      curl         4  127.0.0.1        127.0.0.1        80  \n\
             0.003    4      curl         6  ::1              ::1              80  \n"
        );
        assert_eq!(printer.take_malformed(), 1);
        assert_eq!(printer.take_malformed(), 0);
        assert!(printer.finish().is_empty(), "a batch is printed once");
    }

    #[test]
    fn header_matches_columns() {
        let mut printer = BatchPrinter::new(Columns { timestamp: false, print_uid: true });
        assert_eq!(
            printer.header(),
            b"UID   PID    COMM         IP SADDR            DADDR            DPORT\n"
        );
    }
}
