//! Decode + format throughput (item 5 of the suite), in process, on one
//! core: synthetic perf
//! records go through the tool's own path (ring record parsing, sample
//! decoding, the per-batch sort by timestamp, line formatting) in batches of
//! 64, against the same path with the lines written by std's fmt machinery
//! (`write!` with `{:<6}` and friends, std's address Display), interleaved.

use crate::stats::median;
use crate::table::{Table, Verdict};
use crate::Config;
use std::hint::black_box;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};
use tcpconnect::event::{ConnectEvent, EVENT_SIZE};
use tcpconnect::perf::ring::{read_records, Record};
use tcpconnect::present::batch::BatchPrinter;
use tcpconnect::present::text::Columns;
use tcpconnect::uapi::PERF_RECORD_SAMPLE;

/// Events per batch (one drain of the rings).
const BATCH: usize = 64;
/// Bytes of one sample record: header 8 + size 4 + the 72-byte event,
/// padded to 8 (the raw size then counts the 4 padding bytes).
const RECORD: usize = 88;

/// A varied but deterministic event stream: 3 in 4 IPv4, addresses,
/// ports, PIDs and task names of every length; timestamps from two CPUs
/// interleaved, so each batch needs its sort.
fn events(n: usize) -> Vec<ConnectEvent> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let comms: [&[u8]; 6] = [b"curl", b"telnet", b"ssh", b"python3", b"systemd-resolve", b"0123456789abcdef"];
    (0..n)
        .map(|i| {
            let r = next();
            let ip = if r % 4 == 0 { 6 } else { 4 };
            let mut saddr = [0u8; 16];
            let mut daddr = [0u8; 16];
            if ip == 4 {
                saddr[..4].copy_from_slice(&[10, (r >> 8) as u8, (r >> 16) as u8, (r >> 24) as u8]);
                daddr[..4].copy_from_slice(&[(r >> 32) as u8, (r >> 40) as u8, 7, (r >> 48) as u8]);
            } else {
                saddr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, (r >> 8) as u16, r as u16).octets();
                daddr =
                    Ipv6Addr::new(0xfe80, 0, 0, 0, (r >> 16) as u16, 0xff, 0xfe00, (r >> 32) as u16).octets();
            }
            let mut comm = [0u8; 16];
            let name = comms[(r >> 56) as usize % comms.len()];
            comm[..name.len()].copy_from_slice(name);
            // Two CPUs' streams, drained one after the other.
            let ts_ns = 1_000_000_000_000 + (i as u64 / 2) * 15_000 + (i as u64 % 2) * 7_000;
            ConnectEvent {
                ts_ns,
                pid: (r % 4_000_000) as u32,
                uid: (r >> 20) as u32 % 70_000,
                dport: (r >> 36) as u16,
                lport: 0,
                ip,
                saddr,
                daddr,
                comm,
                netns: 0,
                outcome: None,
                identity: None,
            }
        })
        .collect()
}

/// The events as perf sample records, back to back, as a ring holds them.
fn ring(events: &[ConnectEvent]) -> Vec<u8> {
    let mut ring = Vec::with_capacity(events.len() * RECORD);
    for e in events {
        ring.extend_from_slice(&PERF_RECORD_SAMPLE.to_ne_bytes());
        ring.extend_from_slice(&0u16.to_ne_bytes());
        ring.extend_from_slice(&(RECORD as u16).to_ne_bytes());
        ring.extend_from_slice(&((RECORD - 12) as u32).to_ne_bytes());
        // Every event in the 72-byte layout (an IPv6 event without -d, no
        // netns). The kernel sends an IPv4 one in 48 bytes, decoded by
        // ConnectEvent::decode_ipv4, which these fixed-size records do not
        // exercise.
        ring.extend_from_slice(&e.encode()[..EVENT_SIZE]);
        ring.extend_from_slice(&[0; 4]);
    }
    ring.resize(ring.len().next_power_of_two(), 0);
    ring
}

/// The reference: the same batches, lines written with std's fmt.
struct FmtPrinter {
    columns: Columns,
    first_ts_us: Option<u64>,
    events: Vec<ConnectEvent>,
    text: Vec<u8>,
}

impl FmtPrinter {
    fn push_sample(&mut self, payload: &[u8]) {
        if let Some(e) = ConnectEvent::decode(payload) {
            self.events.push(e);
        }
    }

    fn finish(&mut self) -> &[u8] {
        self.events.sort_by_key(|e| e.ts_ns);
        self.text.clear();
        for e in &self.events {
            let out = &mut self.text;
            if self.columns.timestamp {
                let ts_us = e.ts_ns / 1000;
                let first = *self.first_ts_us.get_or_insert(ts_us);
                let _ = write!(out, "{:<9.3}", (ts_us as i64 - first as i64) as f64 / 1e6);
            }
            if self.columns.print_uid {
                let _ = write!(out, "{:<6}", e.uid);
            }
            let comm = String::from_utf8_lossy(e.comm_bytes());
            let ip = |a: &[u8; 16]| -> IpAddr {
                if e.ip == 6 {
                    Ipv6Addr::from(*a).into()
                } else {
                    Ipv4Addr::new(a[0], a[1], a[2], a[3]).into()
                }
            };
            let _ = writeln!(
                out,
                "{:<6} {:<12.12} {:<2} {:<16} {:<16} {:<4}",
                e.pid,
                comm,
                e.ip,
                ip(&e.saddr),
                ip(&e.daddr),
                e.dport
            );
        }
        self.events.clear();
        &self.text
    }
}

/// Which line writer a pass uses.
enum Printer {
    Ours(BatchPrinter),
    Fmt(FmtPrinter),
}

impl Printer {
    fn new(ours: bool, columns: Columns) -> Printer {
        if ours {
            Printer::Ours(BatchPrinter::new(columns))
        } else {
            Printer::Fmt(FmtPrinter { columns, first_ts_us: None, events: Vec::new(), text: Vec::new() })
        }
    }
}

/// One pass over the whole ring, `BATCH` records at a time: lines made.
fn pass(ring: &[u8], records: usize, printer: &mut Printer, scratch: &mut Vec<u8>) -> (u64, u64) {
    let (mut lines, mut bytes) = (0u64, 0u64);
    let mut tail = 0u64;
    while (tail as usize) < records * RECORD {
        let head = tail + (BATCH.min(records - tail as usize / RECORD) * RECORD) as u64;
        let text = match printer {
            Printer::Ours(p) => {
                let _ = read_records(ring, tail, head, scratch, |r| {
                    if let Record::Sample(s) = r {
                        p.push_sample(s)
                    }
                });
                p.finish()
            }
            Printer::Fmt(p) => {
                let _ = read_records(ring, tail, head, scratch, |r| {
                    if let Record::Sample(s) = r {
                        p.push_sample(s)
                    }
                });
                p.finish()
            }
        };
        lines += (head - tail) / RECORD as u64;
        bytes += black_box(text).len() as u64;
        tail = head;
    }
    (lines, bytes)
}

/// Checks that a pass makes one line per record (outside the timing).
fn check_lines(ring: &[u8], records: usize, ours: bool, columns: Columns) {
    let mut printer = Printer::new(ours, columns);
    let mut scratch = Vec::new();
    let mut tail = 0u64;
    let mut newlines = 0;
    while (tail as usize) < records * RECORD {
        let head = tail + (BATCH.min(records - tail as usize / RECORD) * RECORD) as u64;
        let mut text = Vec::new();
        let _ = match &mut printer {
            Printer::Ours(p) => read_records(ring, tail, head, &mut scratch, |r| {
                if let Record::Sample(s) = r {
                    p.push_sample(s)
                }
            })
            .map(|_| text.extend_from_slice(p.finish())),
            Printer::Fmt(p) => read_records(ring, tail, head, &mut scratch, |r| {
                if let Record::Sample(s) = r {
                    p.push_sample(s)
                }
            })
            .map(|_| text.extend_from_slice(p.finish())),
        };
        newlines += text.iter().filter(|&&b| b == b'\n').count();
        tail = head;
    }
    assert_eq!(newlines, records, "one line per record");
}

/// Lines per second of one sample: passes for about `budget`.
fn sample(ring: &[u8], records: usize, ours: bool, columns: Columns, budget: Duration) -> (f64, f64) {
    let mut printer = Printer::new(ours, columns);
    let mut scratch = Vec::new();
    let start = Instant::now();
    let (mut lines, mut bytes) = (0u64, 0u64);
    while start.elapsed() < budget {
        let (l, b) = pass(ring, records, &mut printer, &mut scratch);
        lines += l;
        bytes += b;
    }
    let secs = start.elapsed().as_secs_f64();
    (lines as f64 / secs, bytes as f64 / lines.max(1) as f64)
}

/// Item 5: lines per second for the default and the -t -U formats.
pub fn throughput(config: &Config, table: &mut Table) {
    let samples = if config.quick { 3 } else { 9 };
    let budget = Duration::from_millis(if config.quick { 100 } else { 200 });
    eprintln!(
        "bench: decode+format: {samples} samples of {budget:?} each, ours and std fmt alternating, one core"
    );
    let evs = events(2048);
    let ring = ring(&evs);
    let formats = [
        ("default", Columns::default()),
        ("-t -U", Columns { timestamp: true, print_uid: true, ..Columns::default() }),
    ];
    let results = std::thread::spawn(move || {
        crate::client::pin_to_cpu(0);
        formats.map(|(name, columns)| {
            let (mut ours, mut theirs, mut width) = (Vec::new(), Vec::new(), 0.0);
            check_lines(&ring, evs.len(), true, columns);
            check_lines(&ring, evs.len(), false, columns);
            // Warm up both, then alternate.
            sample(&ring, evs.len(), true, columns, budget / 4);
            sample(&ring, evs.len(), false, columns, budget / 4);
            for i in 0..samples {
                for is_ours in [i % 2 == 0, i % 2 != 0] {
                    let (rate, w) = sample(&ring, evs.len(), is_ours, columns, budget);
                    if is_ours {
                        ours.push(rate);
                        width = w;
                    } else {
                        theirs.push(rate);
                    }
                }
            }
            (name, median(&ours), median(&theirs), width)
        })
    })
    .join()
    .expect("format bench");
    for (name, ours, theirs, width) in results {
        table.row(
            &format!("decode+format, {name} ({width:.0} B/line), 1 core"),
            format!("{:.2} M lines/s", ours / 1e6),
            format!("std fmt {:.2} M lines/s", theirs / 1e6),
            format!("{:.2}", ours / theirs),
            "≥ 2 M lines/s",
            if ours >= 2e6 { Verdict::Met } else { Verdict::Missed },
        );
    }
}
