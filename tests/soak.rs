//! Memory over a long run under constant connects: the tracer's resident
//! set must stay flat. Ignored by default (it takes minutes); run with
//!   sudo cargo test --release --test soak -- --ignored --nocapture
//! SOAK_SECS sets the length (default 300).

mod support;

use std::time::{Duration, Instant};
use support::{have_root, Connector, Ports, Tool};

/// VmRSS of `pid` in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .expect("VmRSS")
}

#[test]
#[ignore = "minutes long; run by hand"]
fn memory_stays_flat_over_a_long_run() {
    if !have_root("memory_stays_flat_over_a_long_run") {
        return;
    }
    let secs: u64 = std::env::var("SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(300);
    let ports = Ports::new();
    let target = format!("4:127.0.0.1:{}", ports.closed_port);
    let port = ports.closed_port.to_string();
    let mut tool = Tool::start(&["-P", &port]);
    let started = Instant::now();
    let mut made = 0usize;
    let mut start_rss = None;
    let mut samples = Vec::new();
    while started.elapsed() < Duration::from_secs(secs) {
        let connector = Connector::spawn(&["--repeat".to_string(), "500".to_string(), target.clone()]);
        connector.go();
        made += 500;
        // Lines are consumed as they come, as a reader would.
        let _ = tool.lines_until_quiet(Duration::from_millis(50));
        let rss = rss_kib(tool.pid());
        if start_rss.is_none() && started.elapsed() > Duration::from_secs(5) {
            start_rss = Some(rss);
        }
        samples.push(rss);
        std::thread::sleep(Duration::from_millis(100));
    }
    let end_rss = rss_kib(tool.pid());
    let start_rss = start_rss.unwrap_or(samples[0]);
    let peak = samples.iter().copied().max().unwrap_or(end_rss);
    eprintln!(
        "soak: {secs} s, {made} connects; VmRSS after 5 s {start_rss} KiB, at the end {end_rss} KiB, peak {peak} KiB"
    );
    tool.stop(libc::SIGINT);
    assert!(end_rss <= start_rss + 256, "RSS grew from {start_rss} KiB to {end_rss} KiB");
}
