//! The -c table printed after Ctrl-C, byte for byte as bcc prints it:
//!
//! ```text
//! print("\n%-25s %-25s %-20s %-10s" % ("LADDR", "RADDR", "RPORT", "CONNECTS"))
//! then for the IPv4 map, then the IPv6 map, sorted by count descending:
//! print("%-25s %-25s %-20s %-10d" % (saddr, daddr, dport, count))
//! ```
//!
//! With -j each row is a JSON object instead (`super::json`), with no blank
//! line and no header.
//!
//! Ties: Python's sort is stable over the BPF hash map's iteration order,
//! which is arbitrary; here rows with equal counts are ordered by address
//! bytes then port, ascending, so the same counts always print the same way.

use std::cmp::Ordering;

use super::json;
use super::primitives::{write_addr_padded_to, write_u64_padded};
use crate::event::CountRow;

/// The banner bcc prints (to stdout) when -c tracing starts, '\n' included.
pub const COUNT_BANNER: &str = "Tracing connect ... Hit Ctrl-C to end\n";

impl CountRow {
    fn is_v6(&self) -> bool {
        self.ip == 6
    }

    /// The address bytes that reach the output: an IPv4 row prints only
    /// the first 4, so only those may decide its place.
    fn shown<'a>(&self, addr: &'a [u8; 16]) -> &'a [u8] {
        if self.is_v6() {
            addr
        } else {
            &addr[..4]
        }
    }

    /// Print order: IPv4 group, IPv6 group; count descending; then the
    /// printed key ascending; then whatever is left, so that the order is
    /// total and never depends on the input order.
    fn print_order(&self, other: &Self) -> Ordering {
        self.is_v6()
            .cmp(&other.is_v6())
            .then_with(|| other.count.cmp(&self.count))
            .then_with(|| self.shown(&self.saddr).cmp(other.shown(&other.saddr)))
            .then_with(|| self.shown(&self.daddr).cmp(other.shown(&other.daddr)))
            .then_with(|| self.dport.cmp(&other.dport))
            .then_with(|| self.ip.cmp(&other.ip))
            .then_with(|| self.saddr.cmp(&other.saddr))
            .then_with(|| self.daddr.cmp(&other.daddr))
    }
}

/// Appends the whole table for `rows` (any order). Text: "\n", the header
/// line, then one line per row (the header alone when there are no rows).
/// JSON: one object line per row, nothing else.
pub fn write_count_table<I>(out: &mut Vec<u8>, rows: I, json: bool)
where
    I: IntoIterator,
    I::Item: Into<CountRow>,
{
    let mut rows: Vec<CountRow> = rows.into_iter().map(Into::into).collect();
    rows.sort_unstable_by(CountRow::print_order);
    if !json {
        // "%-10s" % "CONNECTS" pads to 10, hence the two trailing spaces.
        out.extend_from_slice(
            b"\nLADDR                     RADDR                     RPORT                CONNECTS  \n",
        );
    }
    for row in &rows {
        if json {
            json::write_count_row(out, row.ip, &row.saddr, &row.daddr, row.dport, row.count);
        } else {
            write_text_row(out, row);
        }
    }
}

/// `"%-25s %-25s %-20s %-10d\n"`.
fn write_text_row(out: &mut Vec<u8>, row: &CountRow) {
    let v6 = row.is_v6();
    write_addr_padded_to(out, v6, &row.saddr, 25);
    out.push(b' ');
    write_addr_padded_to(out, v6, &row.daddr, 25);
    out.push(b' ');
    write_u64_padded(out, row.dport.into(), 20);
    out.push(b' ');
    write_u64_padded(out, row.count, 10);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(s: &str) -> [u8; 16] {
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&s.parse::<Ipv4Addr>().unwrap().octets());
        a
    }

    fn v6(s: &str) -> [u8; 16] {
        s.parse::<Ipv6Addr>().unwrap().octets()
    }

    fn table(rows: &[CountRow], json: bool) -> String {
        let mut out = Vec::new();
        write_count_table(&mut out, rows.iter().copied(), json);
        String::from_utf8(out).unwrap()
    }

    /// bcc's lines, spelled with std's formatting.
    fn header() -> String {
        format!("\n{:<25} {:<25} {:<20} {:<10}\n", "LADDR", "RADDR", "RPORT", "CONNECTS")
    }

    fn text_row(saddr: &str, daddr: &str, dport: u16, count: u64) -> String {
        format!("{saddr:<25} {daddr:<25} {dport:<20} {count:<10}\n")
    }

    fn rows() -> Vec<CountRow> {
        vec![
            CountRow { ip: 6, saddr: v6("::1"), daddr: v6("::1"), dport: 23, count: 1 },
            CountRow { ip: 4, saddr: v4("10.0.0.1"), daddr: v4("10.0.0.2"), dport: 80, count: 2 },
            // v4-mapped stays an IPv6 row with IPv6 text.
            CountRow {
                ip: 6,
                saddr: v6("::ffff:10.0.0.1"),
                daddr: v6("::ffff:93.184.216.34"),
                dport: 443,
                count: 7,
            },
            CountRow { ip: 4, saddr: v4("10.0.0.1"), daddr: v4("93.184.216.34"), dport: 443, count: 9 },
            // Ties with the row above it and below: ordered by key bytes.
            CountRow { ip: 4, saddr: v4("10.0.0.1"), daddr: v4("10.0.0.2"), dport: 22, count: 2 },
            CountRow { ip: 4, saddr: v4("9.9.9.9"), daddr: v4("10.0.0.2"), dport: 8080, count: 2 },
            CountRow {
                ip: 6,
                saddr: v6("2001:db8:85a3:1234:5678:8a2e:370:7334"),
                daddr: v6("fe80::2000:bff:fe82:3ac"),
                dport: 65535,
                count: 12_345_678_901,
            },
        ]
    }

    fn expected_text() -> String {
        [
            header(),
            text_row("10.0.0.1", "93.184.216.34", 443, 9),
            // Equal counts: 9.9.9.9 < 10.0.0.1 by bytes; then port 22 < 80.
            text_row("9.9.9.9", "10.0.0.2", 8080, 2),
            text_row("10.0.0.1", "10.0.0.2", 22, 2),
            text_row("10.0.0.1", "10.0.0.2", 80, 2),
            // Wider than 25 (and a count wider than 10): overflow, as in bcc.
            text_row(
                "2001:db8:85a3:1234:5678:8a2e:370:7334",
                "fe80::2000:bff:fe82:3ac",
                65535,
                12_345_678_901,
            ),
            text_row("::ffff:10.0.0.1", "::ffff:93.184.216.34", 443, 7),
            text_row("::1", "::1", 23, 1),
        ]
        .concat()
    }

    #[test]
    fn text_table_exact_bytes() {
        assert_eq!(
            header(),
            "\nLADDR                     RADDR                     RPORT                CONNECTS  \n"
        );
        assert_eq!(table(&rows(), false), expected_text());
    }

    #[test]
    fn order_does_not_depend_on_input_order() {
        let mut rows = rows();
        let want = expected_text();
        rows.reverse();
        assert_eq!(table(&rows, false), want);
        // Every rotation of the input gives the same table.
        for _ in 0..rows.len() {
            rows.rotate_left(1);
            assert_eq!(table(&rows, false), want);
        }
    }

    #[test]
    fn json_rows() {
        let row = |ip: u8, s: &str, d: &str, port: u16, n: u64| {
            format!("{{\"ip\":{ip},\"saddr\":\"{s}\",\"daddr\":\"{d}\",\"dport\":{port},\"connects\":{n}}}\n")
        };
        let want = [
            row(4, "10.0.0.1", "93.184.216.34", 443, 9),
            row(4, "9.9.9.9", "10.0.0.2", 8080, 2),
            row(4, "10.0.0.1", "10.0.0.2", 22, 2),
            row(4, "10.0.0.1", "10.0.0.2", 80, 2),
            row(6, "2001:db8:85a3:1234:5678:8a2e:370:7334", "fe80::2000:bff:fe82:3ac", 65535, 12_345_678_901),
            row(6, "::ffff:10.0.0.1", "::ffff:93.184.216.34", 443, 7),
            row(6, "::1", "::1", 23, 1),
        ]
        .concat();
        assert_eq!(table(&rows(), true), want);
    }

    #[test]
    fn empty_tables() {
        // bcc prints the header even when nothing connected.
        assert_eq!(table(&[], false), header());
        assert_eq!(table(&[], true), "");
    }

    #[test]
    fn ipv4_rows_use_only_their_first_four_bytes() {
        let mut noisy = v4("1.2.3.4");
        noisy[4..].fill(0xee);
        let rows = [
            CountRow { ip: 4, saddr: noisy, daddr: v4("5.6.7.8"), dport: 80, count: 1 },
            CountRow { ip: 4, saddr: v4("1.2.3.5"), daddr: v4("5.6.7.8"), dport: 80, count: 1 },
        ];
        // The noise would sort 1.2.3.4 after 1.2.3.5 if it were compared first.
        assert_eq!(
            table(&rows, false),
            [header(), text_row("1.2.3.4", "5.6.7.8", 80, 1), text_row("1.2.3.5", "5.6.7.8", 80, 1)].concat()
        );
    }

    #[test]
    fn tuples_are_accepted() {
        let mut out = Vec::new();
        write_count_table(&mut out, [(4u8, v4("1.1.1.1"), v4("2.2.2.2"), 53u16, 4u64)], false);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            [header(), text_row("1.1.1.1", "2.2.2.2", 53, 4)].concat()
        );
        assert_eq!(COUNT_BANNER, "Tracing connect ... Hit Ctrl-C to end\n");
    }
}
