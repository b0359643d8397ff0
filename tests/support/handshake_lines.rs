//! What the --result lines of the `connector --handshakes` scenario
//! (handshakes.rs) must be: shared by the host suite (tests/outcomes.rs) and
//! the VM suites, so every attach path is held to the same bytes.

pub const BASE_PORT: u16 = 5000;

pub const RESULT_HEADER: &str =
    "PID    COMM         IP SADDR            LPORT  DADDR            DPORT RESULT       LAT(ms)";

/// One --result -L line, spelled independently of the code under test:
/// "%-6d %-12.12s %-2d %-16s %-6d %-16s %-4d %-12s %-7s".
pub fn result_line(pid: u32, lport: u16, dport: u16, result: &str, lat: &str) -> String {
    format!(
        "{pid:<6} {:<12.12} {:<2} {:<16} {lport:<6} {:<16} {dport:<4} {result:<12} {lat:<7}",
        "connector", 4, "127.0.0.1", "127.0.0.1"
    )
}

/// The LAT(ms) of a line (its last column), checked to be `%.3f` and within
/// `range` milliseconds.
pub fn latency(line: &str, range: std::ops::Range<f64>) -> String {
    let text = line.split_whitespace().last().unwrap_or_default().to_string();
    let (whole, frac) = text.split_once('.').unwrap_or_else(|| panic!("LAT(ms) {text:?} in {line:?}"));
    assert!(whole.bytes().all(|b| b.is_ascii_digit()) && frac.len() == 3, "LAT(ms) {text:?} is not %.3f");
    let ms: f64 = text.parse().unwrap();
    assert!(range.contains(&ms), "LAT(ms) {ms} outside {range:?}: {line:?}");
    text
}

/// (outcome, local port) of each connect the connector reports.
pub fn reported(lines: &[String]) -> Vec<(String, u16)> {
    lines
        .iter()
        .map(|l| {
            let (outcome, port) = l.split_once(' ').unwrap_or_else(|| panic!("connector said {l:?}"));
            (outcome.to_string(), port.parse().unwrap())
        })
        .collect()
}

/// The destination port and the LAT(ms) range of each outcome of the
/// --handshakes scenario, in its order.
pub fn expectations() -> [(u16, &'static str, std::ops::Range<f64>); 5] {
    [
        (BASE_PORT, "OK", 0.0..1000.0),
        (BASE_PORT + 1, "ECONNREFUSED", 0.0..1000.0),
        (BASE_PORT + 2, "OK", 0.0..1000.0),
        // SYN at 0, again at 1 s, given up at 3 s.
        (BASE_PORT + 2, "ETIMEDOUT", 2500.0..6000.0),
        // Closed by its owner after 300 ms.
        (BASE_PORT + 2, "CLOSED", 300.0..1300.0),
    ]
}

/// Checks a whole `--result -L` run of the scenario (`--failed -L` with
/// `failed_only`): the header, then one exact line per connect
/// (`connector_said`: its stdout), in outcome order; with `failed_only`,
/// only the three whose outcome is not OK.
pub fn check_result_run(pid: u32, out: &str, connector_said: &[String], failed_only: bool) {
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some(RESULT_HEADER), "{out}");
    let lines: Vec<&str> = lines.collect();
    let expected: Vec<_> = expectations()
        .into_iter()
        .zip(reported(connector_said))
        .filter(|((_, result, _), _)| !failed_only || *result != "OK")
        .collect();
    assert_eq!(lines.len(), expected.len(), "one line per connect:\n{out}");
    for (line, ((dport, result, range), (said, lport))) in lines.iter().zip(expected) {
        assert_eq!(said, result, "the connector saw the outcome the scenario makes");
        let lat = latency(line, range);
        assert_eq!(*line, result_line(pid, lport, dport, result, &lat), "{out}");
    }
}
