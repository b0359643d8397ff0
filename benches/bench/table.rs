//! The results table, printed at the end (progress goes to stderr meanwhile).

use crate::Config;
use std::fs;

/// Whether a figure meets its target.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Met,
    Missed,
    /// No target: context for another row.
    Info,
}

pub struct Row {
    pub measure: String,
    pub ours: String,
    pub reference: String,
    pub ratio: String,
    pub target: String,
    pub verdict: Verdict,
}

pub struct Table {
    /// Kernel, CPU, cores: taken when the run starts.
    machine: Vec<String>,
    rows: Vec<Row>,
    notes: Vec<String>,
}

impl Table {
    /// Takes the machine's description (and its load before we add to it),
    /// and says it on stderr.
    pub fn new(config: &Config) -> Table {
        let machine = machine_lines();
        eprintln!("bench: measuring {}", config.tool.display());
        for l in &machine {
            eprintln!("bench: {l}");
        }
        Table { machine, rows: Vec::new(), notes: Vec::new() }
    }

    pub fn row(
        &mut self,
        measure: &str,
        ours: String,
        reference: String,
        ratio: String,
        target: &str,
        verdict: Verdict,
    ) {
        eprintln!("bench:   {measure}: {ours} | {reference} | {ratio}");
        self.rows.push(Row {
            measure: measure.to_owned(),
            ours,
            reference,
            ratio,
            target: target.to_owned(),
            verdict,
        });
    }

    /// A line printed under the table.
    pub fn note(&mut self, text: String) {
        self.notes.push(text);
    }

    pub fn print(&self) {
        let header = ["measure", "tcpconnect", "reference", "ratio", "target", ""];
        let cells: Vec<[String; 6]> = self
            .rows
            .iter()
            .map(|r| {
                let verdict = match r.verdict {
                    Verdict::Met => "met",
                    Verdict::Missed => "MISSED",
                    Verdict::Info => "",
                };
                [
                    r.measure.clone(),
                    r.ours.clone(),
                    r.reference.clone(),
                    r.ratio.clone(),
                    r.target.clone(),
                    verdict.to_owned(),
                ]
            })
            .collect();
        let mut widths = header.map(|h| h.chars().count());
        for row in &cells {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut text = String::new();
            for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
                if i > 0 {
                    text.push_str(" | ");
                }
                text.push_str(c);
                if i + 1 < cells.len() {
                    text.extend(std::iter::repeat_n(' ', w - c.chars().count()));
                }
            }
            println!("{}", text.trim_end());
        };
        println!();
        for l in &self.machine {
            println!("{l}");
        }
        println!();
        line(&header.map(str::to_owned));
        let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
        line(&rule);
        for row in &cells {
            line(row);
        }
        if !self.notes.is_empty() {
            println!();
            for n in &self.notes {
                println!("{n}");
            }
        }
    }
}

/// Kernel, CPU, cores, the tools' versions.
fn machine_lines() -> Vec<String> {
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim()))
        .unwrap_or("unknown");
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let bpftrace = std::process::Command::new("bpftrace")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|_| "not installed".into());
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    vec![
        format!("machine: Linux {}, {model}, {cores} cores", kernel.trim()),
        format!("before the run: load average {}; {}; {}", load.join(" "), other_load(), other_tracers()),
        format!("reference: {bpftrace} (same tracepoint, same filter, same columns)"),
    ]
}

/// BPF tracing programs already loaded (another tracer on the same
/// tracepoint costs every run, traced or not), per bpftool.
fn other_tracers() -> String {
    let Ok(out) = std::process::Command::new("bpftool").args(["prog", "list"]).output() else {
        return "bpftool missing: other BPF programs unknown".into();
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let kind = words.nth(1)?;
            let tracing = ["tracepoint", "raw_tracepoint", "kprobe", "tracing", "perf_event"].contains(&kind);
            // `ID: TYPE name NAME tag ...`
            (tracing && words.next() == Some("name")).then(|| words.next()).flatten()
        })
        .collect();
    if names.is_empty() {
        "no other BPF tracing program loaded".into()
    } else {
        format!("other BPF tracing programs loaded: {}", names.join(", "))
    }
}

/// (pid, comm, utime + stime in clock ticks) of every process.
fn cpu_ticks() -> Vec<(u32, String, u64)> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = fs::read_to_string(e.path().join("stat")).ok()?;
            // The comm is in parentheses and may hold spaces: split after it.
            let (head, rest) = stat.rsplit_once(')')?;
            let comm = head.split_once('(')?.1.to_owned();
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // utime and stime are fields 14 and 15 of stat, 12 and 13 after ')'.
            let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
            Some((pid, comm, ticks))
        })
        .collect()
}

/// What else keeps the CPUs busy: the processes using more than a tenth
/// of a core over one second, measured before the run (a noisy machine
/// explains noisy figures).
fn other_load() -> String {
    let before = cpu_ticks();
    std::thread::sleep(std::time::Duration::from_secs(1));
    let after = cpu_ticks();
    // SAFETY: sysconf has no memory preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let mut busy: Vec<(f64, String)> = after
        .iter()
        .filter_map(|(pid, comm, t)| {
            let (_, _, t0) = before.iter().find(|(p, c, _)| p == pid && c == comm)?;
            let share = t.saturating_sub(*t0) as f64 / hz;
            (share > 0.1).then(|| (share, comm.clone()))
        })
        .collect();
    busy.sort_by(|a, b| b.0.total_cmp(&a.0));
    if busy.is_empty() {
        return "no other process used more than 10 % of a core".into();
    }
    let total: f64 = busy.iter().map(|b| b.0).sum();
    let names: Vec<String> = busy.iter().map(|(s, c)| format!("{c} {:.0} %", s * 100.0)).collect();
    format!("other processes busy on {total:.1} cores ({})", names.join(", "))
}
