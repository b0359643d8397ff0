//! One batch of ring samples → ordered, formatted lines. Rings are per CPU,
//! so a batch holds events from several CPUs interleaved in no useful order;
//! sorting by the kernel timestamp restores the order of the connects.

use super::text::{write_header, Columns, LineFormatter};
use crate::event::{ConnectEvent, TaskIdentity};

pub struct BatchPrinter {
    columns: Columns,
    formatter: LineFormatter,
    events: Vec<ConnectEvent>,
    /// (timestamp, index in `events`): what is sorted, so the sort moves 16
    /// bytes per event instead of the event, and needs no scratch buffer
    /// (a stable sort of the events allocated one per batch).
    order: Vec<(u64, u32)>,
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
            order: Vec::new(),
            text: Vec::with_capacity(64 * 1024),
            malformed: 0,
        }
    }

    /// Counts -t from `ts_ns` (CLOCK_MONOTONIC) instead of the first line:
    /// --result prints in the order of outcomes, so the first line printed
    /// need not be the first connect made.
    pub fn count_time_from(&mut self, ts_ns: u64) {
        self.formatter = LineFormatter::with_first_ts_us(self.columns, ts_ns / 1000);
    }

    /// The header line.
    pub fn header(&mut self) -> &[u8] {
        self.text.clear();
        write_header(&mut self.text, self.columns);
        &self.text
    }

    /// Adds one sample payload to the current batch.
    /// With --result a sample is an outcome, put in the order of outcomes.
    pub fn push_sample(&mut self, payload: &[u8]) {
        let decoded = match self.columns.result {
            true => ConnectEvent::decode_outcome(payload),
            false => ConnectEvent::decode(payload),
        };
        match decoded {
            Some(event) => self.push_event(event),
            None => self.malformed += 1,
        }
    }

    /// Adds one decoded event (--result: the connects still pending at exit).
    pub fn push_event(&mut self, event: ConnectEvent) {
        self.order.push((event.order_ns(), self.events.len() as u32));
        self.events.push(event);
    }

    /// Ends the batch: its lines in timestamp order (empty when it had none).
    /// With -d the QUERY column is left empty; see `finish_with`.
    pub fn finish(&mut self) -> &[u8] {
        self.finish_with(|_| None::<&[u8]>)
    }

    /// Like `finish`, asking `query` for each event's -d text in print
    /// order. It is called only with -d (`Columns::query`); returning a
    /// borrowed `&str`/`&[u8]` (say from a cache the closure borrows) costs
    /// no allocation, an owned `String` works too.
    pub fn finish_with<F, Q>(&mut self, mut query: F) -> &[u8]
    where
        F: FnMut(&ConnectEvent) -> Option<Q>,
        Q: AsRef<[u8]>,
    {
        // The index breaks ties, so equal timestamps keep ring order (as a
        // stable sort would); a batch from one ring is already in order,
        // which the unstable sort detects in one pass. The BPF ring buffer's
        // events carry no time where no option reads it (all 0): ring
        // order, the order they were made in, stands.
        self.order.sort_unstable();
        self.text.clear();
        let with_query = self.columns.query;
        for &(_, index) in &self.order {
            let event = &self.events[index as usize];
            let text = if with_query { query(event) } else { None };
            self.formatter.write_event_with_query(&mut self.text, event, text.as_ref().map(AsRef::as_ref));
        }
        self.events.clear();
        self.order.clear();
        &self.text
    }

    /// Lets `fill` change each event of the batch (--ppid and --container
    /// without BTF add who made it), before its lines are made.
    pub fn for_each_event(&mut self, fill: impl FnMut(&mut ConnectEvent)) {
        self.events.iter_mut().for_each(fill);
    }

    /// Lets `name` fill in each event of the batch that carries who made
    /// it (--ppid, --container), before its lines are made.
    pub fn for_each_identity(&mut self, mut name: impl FnMut(&mut TaskIdentity)) {
        for identity in self.events.iter_mut().filter_map(|e| e.identity.as_deref_mut()) {
            name(identity);
        }
    }

    /// The columns this printer writes.
    pub fn columns(&self) -> Columns {
        self.columns
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
            netns: 0,
            outcome: None,
            identity: None,
        }
    }

    #[test]
    fn batch_lines_follow_kernel_time_not_ring_order() {
        let mut printer = BatchPrinter::new(Columns { timestamp: true, ..Columns::default() });
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
        let mut printer = BatchPrinter::new(Columns { print_uid: true, ..Columns::default() });
        assert_eq!(
            printer.header(),
            b"UID   PID    COMM         IP SADDR            DADDR            DPORT\n"
        );
    }

    #[test]
    fn queries_are_asked_in_print_order_and_only_with_dns() {
        let dns = Columns { query: true, ..Columns::default() };
        let mut printer = BatchPrinter::new(dns);
        for e in [event(3_000, 3, 4), event(1_000, 1, 6), event(2_000, 2, 4)] {
            printer.push_sample(&e.encode());
        }
        let mut asked = Vec::new();
        let names = ["one.example", "two.example", "three.example"];
        let text = printer
            .finish_with(|e| {
                asked.push(e.pid);
                // Borrowed text: no allocation per event.
                names.get(e.pid as usize - 1).copied().filter(|_| e.pid != 2)
            })
            .to_vec();
        assert_eq!(asked, [1, 2, 3]);
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "1      curl         6  ::1              ::1              80   one.example\n\
             2      curl         4  127.0.0.1        127.0.0.1        80   \n\
             3      curl         4  127.0.0.1        127.0.0.1        80   three.example\n"
        );
        // finish() leaves the column empty; owned Strings work as well.
        printer.push_sample(&event(4_000, 4, 4).encode());
        assert_eq!(printer.finish(), b"4      curl         4  127.0.0.1        127.0.0.1        80   \n");
        printer.push_sample(&event(5_000, 5, 4).encode());
        assert_eq!(
            printer.finish_with(|e| Some(format!("pid{}", e.pid))),
            b"5      curl         4  127.0.0.1        127.0.0.1        80   pid5\n"
        );

        let mut printer = BatchPrinter::new(Columns::default());
        printer.push_sample(&event(1_000, 1, 4).encode());
        let text = printer.finish_with(|_| -> Option<&str> { panic!("asked without -d") }).to_vec();
        assert_eq!(text, b"1      curl         4  127.0.0.1        127.0.0.1        80  \n");
    }

    #[test]
    fn json_batches() {
        let columns = Columns { timestamp: true, query: true, json: true, ..Columns::default() };
        let mut printer = BatchPrinter::new(columns);
        assert!(printer.header().is_empty());
        for e in [event(2_000_000, 2, 6), event(1_000_000, 1, 4)] {
            printer.push_sample(&e.encode());
        }
        let text = printer.finish_with(|e| (e.ip == 4).then_some("localhost")).to_vec();
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "{\"ts_us\":0,\"uid\":0,\"pid\":1,\"comm\":\"curl\",\"ip\":4,\"saddr\":\"127.0.0.1\",\
             \"daddr\":\"127.0.0.1\",\"dport\":80,\"query\":\"localhost\"}\n\
             {\"ts_us\":1000,\"uid\":0,\"pid\":2,\"comm\":\"curl\",\"ip\":6,\"saddr\":\"::1\",\
             \"daddr\":\"::1\",\"dport\":80,\"query\":null}\n"
        );
        assert_eq!(printer.columns(), columns);
    }
}
