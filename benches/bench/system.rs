//! The whole-system measurements: start-up, memory, the cost a tracer adds
//! to a connect, events lost at the highest connect rate, binary size.
//! Each is taken side by side with bpftrace running the equivalent program
//! (or with the untraced loop), in the same run.

use crate::client::{self, run_clients, Load, Work};
use crate::stats::{iqr, median, median_ci95};
use crate::table::{Table, Verdict};
use crate::tracer::{Consumer, Sink, Stopped, Tool, Tracer, DNS_NAME};
use crate::Config;
use std::time::{Duration, Instant};

/// How long a tracer may take to attach before the bench gives up on it
/// (bpftrace compiles its program first).
const ATTACH_TIMEOUT: Duration = Duration::from_secs(30);

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

pub fn verdict(met: bool) -> Verdict {
    if met {
        Verdict::Met
    } else {
        Verdict::Missed
    }
}

/// `12.3 ms`, `850 ns`, `4.20 µs`.
pub fn fmt_ns(ns: f64) -> String {
    let a = ns.abs();
    if a >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if a >= 1e6 {
        format!("{:.1} ms", ns / 1e6)
    } else if a >= 1e4 {
        format!("{:.1} µs", ns / 1e3)
    } else if a >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

/// 1234567 -> `1,234,567`.
pub fn fmt_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn fmt_kib(kib: u64) -> String {
    if kib >= 10 * 1024 {
        format!("{:.0} MiB", kib as f64 / 1024.0)
    } else {
        format!("{:.2} MiB", kib as f64 / 1024.0)
    }
}

pub fn fmt_bytes(bytes: u64) -> String {
    if bytes >= 10 << 20 {
        format!("{:.0} MB", bytes as f64 / 1e6)
    } else {
        format!("{:.3} MB", bytes as f64 / 1e6)
    }
}

pub fn progress(text: &str) {
    eprintln!("bench: {text}");
}

/// Starts `tool` with stdout to `sink` and waits until its program is
/// attached. None (and a message) if it never attaches. A tool that is
/// live only at its header (`Tool::live_at_header`) gets a pipe instead,
/// read to its end once the header came (`Tracer::wait_header`, which keeps
/// the lines naming `DNS_NAME`).
pub fn start_attached(config: &Config, tool: Tool, sink: Sink) -> Option<Tracer> {
    if tool.live_at_header() {
        let mut tracer = Tracer::spawn(tool, config, Sink::Pipe);
        if tracer.wait_header(DNS_NAME) {
            return Some(tracer);
        }
        let stopped = tracer.stop();
        eprintln!("bench: {} printed no header: {}", tool.name(), stopped.stderr.trim());
        return None;
    }
    let mut tracer = Tracer::spawn(tool, config, sink);
    if tool == Tool::Placebo {
        // Nothing to wait for: about as long as an attach takes.
        std::thread::sleep(Duration::from_millis(10));
        return Some(tracer);
    }
    if tracer.wait_attached(ATTACH_TIMEOUT) {
        return Some(tracer);
    }
    let stopped = tracer.stop();
    eprintln!("bench: {} did not attach: {}", tool.name(), stopped.stderr.trim());
    None
}

// ---------------------------------------------------------------- 1. exec → live

/// Milliseconds from spawning `tool` to its live marker on stdout, or None.
/// One start and stop of `tool`: ms from exec to its header (bpftrace: its
/// "Attaching" line), and from SIGINT to its exit.
fn one_exec(config: &Config, tool: Tool) -> Option<(f64, f64)> {
    let start = Instant::now();
    let mut tracer = Tracer::spawn(tool, config, Sink::Pipe);
    let (line, at) = tracer.first_line();
    let ms = at.duration_since(start).as_secs_f64() * 1e3;
    let ok = match tool {
        Tool::Bpftrace => line.starts_with("Attaching"),
        _ => line.starts_with("PID"),
    };
    if tool == Tool::Bpftrace {
        // bpftrace prints its marker before it attaches and ignores a SIGINT
        // that comes before its handler is in place: let it settle first.
        tracer.wait_attached(ATTACH_TIMEOUT);
        std::thread::sleep(Duration::from_millis(100));
    }
    let stopping = Instant::now();
    let stopped = tracer.stop();
    let exit_ms = stopping.elapsed().as_secs_f64() * 1e3;
    if !ok || !stopped.clean() {
        eprintln!("bench: {} start-up: first line {line:?}; {}", tool.name(), stopped.stderr.trim());
        return None;
    }
    Some((ms, exit_ms))
}

/// Item 1: exec to tracing live, and SIGINT to exit, interleaved with
/// bpftrace and -d on each of its kernel hooks, median of 20 each.
pub fn exec_to_live(config: &Config, table: &mut Table) {
    let runs = if config.quick { 3 } else { 20 };
    let tools = [Tool::Tcpconnect, Tool::Bpftrace, Tool::TcpconnectDns, Tool::TcpconnectDnsSyscalls];
    progress(&format!(
        "exec -> live and SIGINT -> exit: {runs} runs of each of {} tools, interleaved",
        tools.len()
    ));
    let mut times: Vec<Vec<(f64, f64)>> = vec![Vec::new(); tools.len()];
    for i in 0..runs {
        // Rotate which goes first, so none always follows another.
        for k in 0..tools.len() {
            let which = (i + k) % tools.len();
            if let Some(t) = one_exec(config, tools[which]) {
                times[which].push(t);
            }
        }
    }
    let live: Vec<Vec<f64>> = times.iter().map(|t| t.iter().map(|&(l, _)| l).collect()).collect();
    let exit: Vec<Vec<f64>> = times.iter().map(|t| t.iter().map(|&(_, e)| e).collect()).collect();
    let b = median(&live[1]);
    for (k, label) in [(0, ""), (2, " -d"), (3, " -d at the syscall tracepoints")] {
        let (m, (lo, hi)) = (median(&live[k]), iqr(&live[k]));
        let (e, (elo, ehi)) = (median(&exit[k]), iqr(&exit[k]));
        table.row(
            &format!("exec → live (header printed){label}, median of {}", live[k].len()),
            format!("{m:.2} ms (IQR {lo:.2}–{hi:.2})"),
            format!("bpftrace {b:.0} ms (n={})", live[1].len()),
            format!("{:.4}", m / b),
            "≤ 10 ms",
            match k {
                3 => Verdict::Info,
                _ => verdict(live[k].len() == runs && m <= 10.0),
            },
        );
        table.row(
            &format!("SIGINT → exit{label}, median of {}", exit[k].len()),
            format!("{e:.1} ms (IQR {elo:.1}–{ehi:.1})"),
            format!("bpftrace {:.0} ms", median(&exit[1])),
            String::new(),
            if k == 2 { "≤ 100 ms" } else { "" },
            match k {
                2 => verdict(exit[k].len() == runs && e <= 100.0),
                _ => Verdict::Info,
            },
        );
    }
}

// ------------------------------------------------------- 3. connect overhead

/// One run of a loop: wall time and CPU time per step (a connect, or an
/// exchange of the UDP load).
#[derive(Clone, Copy, Debug)]
pub struct LoopRun {
    /// The slowest client's time over all steps made: the inverse of the
    /// throughput (for one client, the latency of one step).
    pub wall_ns: f64,
    /// CPU time of the clients (their BPF programs and loopback softirqs
    /// included) plus the tracer's, over all steps made.
    pub cpu_ns: f64,
    /// The tracer's part of `cpu_ns`.
    pub tracer_ns: f64,
}

impl LoopRun {
    /// The mean of two runs (the untraced runs on either side of a traced one).
    fn mean(a: &LoopRun, b: &LoopRun) -> LoopRun {
        LoopRun {
            wall_ns: (a.wall_ns + b.wall_ns) / 2.0,
            cpu_ns: (a.cpu_ns + b.cpu_ns) / 2.0,
            tracer_ns: (a.tracer_ns + b.tracer_ns) / 2.0,
        }
    }
}

/// A measured loop: `procs` load processes running `load`, `n` steps each.
#[derive(Clone, Copy, Debug)]
pub struct Loop {
    pub load: Load,
    pub procs: usize,
    pub n: u64,
    /// Traced, how long after the loop the tracer's CPU time is still
    /// counted: for work it does later, on a timer (zero: none).
    pub settle: Duration,
}

/// How long after a traced connect loop the tracer's CPU time is still
/// counted: longer than the 100 ms a reader (tcpconnect's, the delivery
/// arms') waits on its timer for records too few to wake it. Without it, a
/// run of fewer records than one wakeup's worth (1462 IPv4 events: a
/// 0.05 s run on a host where a connect takes 30 µs) was read after the
/// run ended, its reading counted nowhere or in the next loop's run.
pub const READER_SETTLE: Duration = Duration::from_millis(150);

/// One client's connects whose events go once round the default ring
/// buffer (5000: it holds 4681 IPv4 events of 56 bytes in 256 KiB), run
/// under each tracer before the connect-overhead and stalled-reader loops
/// are measured. A tracer touches its ring's pages and grows its buffers
/// the first time round, once in its life: on a host where a page fault
/// costs microseconds, the first measured loop's tracer CPU was 557 ns a
/// connect against 171 to 334 (median ~250) in the nine loops after it
/// (1353 connects a run). The rows are about tracing that runs, not its
/// start (exec → live measures that).
pub const RING_LAP: Loop = Loop { load: Load::Connect, procs: 1, n: 5000, settle: READER_SETTLE };

/// One run of `lp`, under `tracer` if any.
pub fn loop_run(config: &Config, lp: &Loop, tracer: Option<&Tracer>) -> LoopRun {
    let clients = client::Clients::spawn_load(&config.exe, lp.load, lp.procs, Work::Count(lp.n));
    let before = tracer.map_or(0, Tracer::cpu_ns);
    let done = clients.run();
    if tracer.is_some() {
        std::thread::sleep(lp.settle);
    }
    let tracer_cpu = tracer.map_or(0, Tracer::cpu_ns).saturating_sub(before) as f64;
    let steps = done.iter().map(|d| d.connects).sum::<u64>().max(1) as f64;
    let wall = done.iter().map(|d| d.elapsed).max().unwrap_or_default();
    let cpu: Duration = done.iter().map(|d| d.cpu).sum();
    LoopRun {
        wall_ns: wall.as_nanos() as f64 / steps,
        cpu_ns: (cpu.as_nanos() as f64 + tracer_cpu) / steps,
        tracer_ns: tracer_cpu / steps,
    }
}

/// The `n` for which one run of `load` with `procs` processes takes about
/// `secs` untraced.
pub fn sized_loop(config: &Config, load: Load, procs: usize, secs: f64, warm_up: u64) -> Loop {
    let warm = loop_run(config, &Loop { load, procs, n: warm_up, settle: Duration::ZERO }, None);
    let n = ((secs * 1e9 / warm.wall_ns) as u64).clamp(1_000, 200_000);
    Loop { load, procs, n, settle: Duration::ZERO }
}

/// A traced run and its baseline: the mean of the untraced runs just
/// before and just after it.
pub type Pair = (LoopRun, LoopRun);

/// Over the pairs of one arm and loop: (median difference in ns, median
/// ratio, 95 % CI of the ratio).
pub fn paired(pairs: &[Pair], metric: fn(&LoopRun) -> f64) -> (f64, f64, (f64, f64)) {
    let diffs: Vec<f64> = pairs.iter().map(|(on, off)| metric(on) - metric(off)).collect();
    let ratios: Vec<f64> = pairs.iter().map(|(on, off)| metric(on) / metric(off)).collect();
    (median(&diffs), median(&ratios), median_ci95(&ratios))
}

pub fn fmt_overhead(diff_ns: f64, ratio: f64) -> String {
    format!("{diff_ns:+.0} ns ({:+.1} %)", (ratio - 1.0) * 100.0)
}

/// What `interleaved` measured.
pub struct Interleaved {
    /// Per loop: every untraced run, in order.
    pub off: Vec<Vec<LoopRun>>,
    /// Per arm, per loop: each traced run with its baseline.
    pub pairs: Vec<Vec<Vec<Pair>>>,
    /// Per arm: the samples its tracer said it lost.
    pub lost: Vec<u64>,
}

/// The method of every overhead row. Each round runs the arms (a tracer and
/// the number of rounds it takes part in) in rotating order, with an
/// untraced run of every loop before the first and after each; under each
/// tracer every loop runs once. Every traced run is compared with the
/// untraced runs on either side of it, so a machine whose load drifts
/// still gives fair pairs.
///
/// The machine drifts by up to 20 % over seconds, so a traced run and its
/// untraced neighbours still differ by about 6 % (standard deviation of
/// their ratio, the same for runs of 0.05 s and 0.5 s). Short runs and many
/// rounds are what narrows the median: 150 rounds give a 95 % interval
/// about ±1 % wide.
///
/// `warm_up`, if given, runs under each tracer before its measured loops,
/// unmeasured: see `RING_LAP`.
pub fn interleaved(
    config: &Config,
    arms: &[(Tool, Sink, usize)],
    loops: &[Loop],
    warm_up: Option<&Loop>,
) -> Interleaved {
    let rounds = arms.iter().map(|a| a.2).max().unwrap_or(0);
    let untraced = |runs: &mut Vec<Vec<LoopRun>>| {
        for (li, lp) in loops.iter().enumerate() {
            runs[li].push(loop_run(config, lp, None));
        }
    };
    let mut off = vec![Vec::<LoopRun>::new(); loops.len()];
    let mut pairs = vec![vec![Vec::<Pair>::new(); loops.len()]; arms.len()];
    let mut lost = vec![0u64; arms.len()];
    for round in 0..rounds {
        untraced(&mut off);
        let active: Vec<usize> = (0..arms.len()).filter(|&a| round < arms[a].2).collect();
        for k in 0..active.len() {
            let ai = active[(round + k) % active.len()];
            let Some(tracer) = start_attached(config, arms[ai].0, arms[ai].1) else {
                continue;
            };
            if let Some(warm_up) = warm_up {
                loop_run(config, warm_up, Some(&tracer));
            }
            let on: Vec<LoopRun> = loops.iter().map(|lp| loop_run(config, lp, Some(&tracer))).collect();
            lost[ai] += tracer.stop().lost();
            untraced(&mut off);
            for li in 0..loops.len() {
                let after = off[li].len() - 1;
                let base = LoopRun::mean(&off[li][after - 1], &off[li][after]);
                pairs[ai][li].push((on[li], base));
            }
        }
        if (round + 1) % 25 == 0 || round + 1 == rounds {
            progress(&format!("  round {} of {rounds} done", round + 1));
        }
    }
    Interleaved { off, pairs, lost }
}

/// The traced connect loops of the overhead rows: 1 and `cpus()` client
/// processes (their counts, the connects a client makes, the loops), a run
/// sized to about 0.05 s untraced.
pub fn connect_loops(config: &Config) -> (Vec<usize>, u64, Vec<Loop>) {
    let procs: Vec<usize> = if cpus() > 1 { vec![1, cpus()] } else { vec![1] };
    let n = sized_loop(config, Load::Connect, 1, 0.05, 3000).n;
    let loops =
        procs.iter().map(|&p| Loop { load: Load::Connect, procs: p, n, settle: READER_SETTLE }).collect();
    (procs, n, loops)
}

/// The slowdown of the connect loop while tracing (item 3), with 1 and
/// `cpus()` client processes, by `interleaved`: tcpconnect, the empty
/// program on the raw tracepoint (the floor of any program there) and a
/// placebo (a process started and stopped like a tracer, attaching
/// nothing: what the method itself reads as overhead) get 150 rounds;
/// bpftrace and the other floors 20.
pub fn connect_overhead(config: &Config, table: &mut Table) {
    let (long, short) = if config.quick { (2, 2) } else { (150, 20) };
    let (procs, n, loops) = connect_loops(config);
    // (arm, rounds); the index of each is used below.
    let arms = [
        (Tool::Tcpconnect, long),
        (Tool::Bpftrace, short),
        (Tool::TcpconnectFiltered, short),
        (Tool::EmptyTracepoint, short),
        (Tool::EmptyRawTracepoint, long),
        (Tool::Placebo, long),
        (Tool::TcpconnectPerfTracepoint, long),
        (Tool::TcpconnectResult, short),
        (Tool::TcpconnectPerfArrays, long),
        (Tool::TcpconnectRawTracepoint, long),
        (Tool::TcpconnectIdentity, short),
        (Tool::DeliveryFloor, long),
        (Tool::DeliveryFloorPerCpu, long),
        (Tool::DeliveryFloorArray, long),
    ]
    .map(|(tool, rounds)| (tool, Sink::Null, rounds));
    progress(&format!(
        "connect overhead: {long} rounds of tcpconnect (BPF ring buffer and perf event arrays; BTF tracepoint, \
         raw tracepoint and perf tracepoint event), the \
         empty program on the raw tracepoint, delivery alone (one ring, a ring per CPU, a lock-free array) and a placebo, the first {short} also with bpftrace, \
         tcpconnect -P 1, tcpconnect --result, tcpconnect --ppid --container and the empty program on the \
         tracepoint (rotating order), each between \
         untraced runs; {n} connects per client per run, {procs:?} client processes"
    ));
    let Interleaved { off, pairs, lost } = interleaved(config, &arms, &loops, Some(&RING_LAP));
    let wall: fn(&LoopRun) -> f64 = |r| r.wall_ns;
    let cpu: fn(&LoopRun) -> f64 = |r| r.cpu_ns;
    for (pi, &p) in procs.iter().enumerate() {
        let clients = if p > 1 { format!("{p} clients") } else { "1 client".to_owned() };
        let base_wall = median(&off[pi].iter().map(wall).collect::<Vec<_>>());
        let base_cpu = median(&off[pi].iter().map(cpu).collect::<Vec<_>>());
        let ours = &pairs[0][pi];
        let tracer_ns = median(&ours.iter().map(|(on, _)| on.tracer_ns).collect::<Vec<_>>());
        for (metric, what, base, is_cpu) in [
            (wall, "slowdown, wall time", base_wall, false),
            (cpu, "cost, CPU time of clients + tracer", base_cpu, true),
        ] {
            let (d, r, (lo, hi)) = paired(ours, metric);
            let (bd, br, _) = paired(&pairs[1][pi], metric);
            let tracer_part = if is_cpu { format!("; tracer {tracer_ns:.0} ns") } else { String::new() };
            table.row(
                &format!("connect {what}, {clients}, {} runs", ours.len()),
                format!("{} of {}{tracer_part}", fmt_overhead(d, r), fmt_ns(base)),
                format!("bpftrace {}", fmt_overhead(bd, br)),
                format!("{r:.3} (95 % CI {lo:.3}–{hi:.3})"),
                "≤ 3 %",
                verdict(r <= 1.03),
            );
        }
        // What attaching costs before any event is sent (our program
        // filtering every event out; an empty program on the tracepoint and
        // on the raw tracepoint), and what the method reads where nothing is
        // attached at all (the placebo), as wall time.
        let floor = |arm: usize| {
            let (d, r, (lo, hi)) = paired(&pairs[arm][pi], wall);
            let ci = if lo.is_finite() {
                format!(" [{:+.1}, {:+.1}]", (lo - 1.0) * 100.0, (hi - 1.0) * 100.0)
            } else {
                String::new()
            };
            format!("{}{ci}", fmt_overhead(d, r))
        };
        table.row(
            &format!("  floors (wall), {clients}"),
            format!("-P 1: {}", floor(2)),
            format!("empty prog: tracepoint {}; raw tracepoint {}; placebo {}", floor(3), floor(4), floor(5)),
            String::new(),
            "",
            Verdict::Info,
        );
        // The default mode against the floor of any program on its hook,
        // in the same rounds (issue 29: within 1 point, wall and CPU): per
        // round, tcpconnect's overhead less the empty program's, each over
        // its own untraced neighbours; the median and its 95 % interval.
        let over_arm = |arm: usize, floor: usize, metric: fn(&LoopRun) -> f64| {
            let (ours, empty) = (&pairs[arm][pi], &pairs[floor][pi]);
            let points: Vec<f64> = ours
                .iter()
                .zip(empty)
                .map(|((on, off), (e_on, e_off))| {
                    (metric(on) / metric(off) - metric(e_on) / metric(e_off)) * 100.0
                })
                .collect();
            let (lo, hi) = median_ci95(&points);
            (median(&points), lo, hi)
        };
        let over = |metric| over_arm(0, 4, metric);
        let ((wall_over, wall_lo, wall_hi), (cpu_over, cpu_lo, cpu_hi)) = (over(wall), over(cpu));
        let percent = |arm: usize, metric| (paired(&pairs[arm][pi], metric).1 - 1.0) * 100.0;
        table.row(
            &format!("  tcpconnect over the floor, {clients}"),
            format!(
                "wall {wall_over:+.1} points [{wall_lo:+.1}, {wall_hi:+.1}], CPU {cpu_over:+.1} points \
                 [{cpu_lo:+.1}, {cpu_hi:+.1}]"
            ),
            format!(
                "tcpconnect {:+.1} % / {:+.1} %, the empty program on the raw tracepoint {:+.1} % / {:+.1} % \
                 (wall / CPU, same rounds)",
                percent(0, wall),
                percent(0, cpu),
                percent(4, wall),
                percent(4, cpu)
            ),
            format!("{wall_over:+.1} / {cpu_over:+.1} pt"),
            "≤ 1 pt",
            verdict(wall_over <= 1.0 && cpu_over <= 1.0),
        );
        // The same split at delivery alone (`bench attach ring`): what
        // handing each connect to a reader costs by itself, and what
        // tcpconnect's reads, filters and output cost on top.
        let points = |arm: usize, floor: usize| {
            let ((w, wlo, whi), (c, clo, chi)) = (over_arm(arm, floor, wall), over_arm(arm, floor, cpu));
            format!("wall {w:+.1} points [{wlo:+.1}, {whi:+.1}], CPU {c:+.1} points [{clo:+.1}, {chi:+.1}]")
        };
        table.row(
            &format!("  delivery alone over the empty program, {clients}"),
            points(11, 4),
            format!(
                "48 bytes a connect through a ring buffer to a reader that discards them: {:+.1} % / {:+.1} %",
                percent(11, wall),
                percent(11, cpu)
            ),
            String::new(),
            "",
            Verdict::Info,
        );
        table.row(
            &format!("  delivery alone, a ring per CPU, over the empty program, {clients}"),
            points(12, 4),
            format!(
                "the same, each CPU its own ring (a share of the same total) and each record stamped with the \
                 time: {:+.1} % / {:+.1} %",
                percent(12, wall),
                percent(12, cpu)
            ),
            String::new(),
            "",
            Verdict::Info,
        );
        table.row(
            &format!("  delivery alone, a lock-free array, over the empty program, {clients}"),
            points(13, 4),
            format!(
                "the same written in place into each CPU's region of an mmapable array (plain stores, no \
                 lock, no ring helper), read on a 10 ms timer: {:+.1} % / {:+.1} %",
                percent(13, wall),
                percent(13, cpu)
            ),
            String::new(),
            "",
            Verdict::Info,
        );
        table.row(
            &format!("  tcpconnect over delivery alone, {clients}"),
            points(0, 11),
            "its reads, filters, decoding, formatting and writes".to_owned(),
            String::new(),
            "",
            Verdict::Info,
        );
        table.row(
            &format!("  tcpconnect on the raw tracepoint (wall), {clients}"),
            floor(9),
            "as 4.17 to 5.10 (TCPCONNECT_BTF_TRACEPOINT=off): socket and task read through helpers"
                .to_owned(),
            String::new(),
            "",
            Verdict::Info,
        );
        table.row(
            &format!("  tcpconnect on the perf tracepoint event (wall), {clients}"),
            floor(6),
            "as without BTF or before 4.17 (TCPCONNECT_RAW_TRACEPOINT=off)".to_owned(),
            String::new(),
            "",
            Verdict::Info,
        );
        let (pd, pr, (plo, phi)) = paired(&pairs[8][pi], wall);
        let (cd, cr, _) = paired(&pairs[8][pi], cpu);
        table.row(
            &format!("  tcpconnect on the perf event arrays, {clients}, {} runs", pairs[8][pi].len()),
            format!(
                "wall {} (95 % CI {plo:.3}–{phi:.3}); CPU {}",
                fmt_overhead(pd, pr),
                fmt_overhead(cd, cr)
            ),
            "as before 5.8 (TCPCONNECT_TRANSPORT=perf); the default is the BPF ring buffer".to_owned(),
            String::new(),
            "",
            Verdict::Info,
        );
        table.row(
            &format!("  tcpconnect --result (wall), {clients}"),
            floor(7),
            format!("next to the default mode: {}", floor(0)),
            String::new(),
            "",
            Verdict::Info,
        );
        // Issue 30: who made each connect, next to the default mode.
        let (_, iw, _) = paired(&pairs[10][pi], wall);
        let (_, ic, _) = paired(&pairs[10][pi], cpu);
        let (_, dw, _) = paired(&pairs[0][pi], wall);
        let (_, dc, _) = paired(&pairs[0][pi], cpu);
        table.row(
            &format!("  tcpconnect --ppid --container, {clients}, {} runs", pairs[10][pi].len()),
            format!("wall {:+.1} %, CPU {:+.1} % ({})", (iw - 1.0) * 100.0, (ic - 1.0) * 100.0, floor(10)),
            format!(
                "next to the default mode: wall {:+.1} %, CPU {:+.1} %; the parent and cgroup read in the kernel",
                (dw - 1.0) * 100.0,
                (dc - 1.0) * 100.0
            ),
            String::new(),
            "",
            Verdict::Info,
        );
    }
    if lost.iter().any(|&l| l > 0) {
        table.note(format!(
            "note: during the overhead runs tcpconnect reported {} (on the perf event arrays {}) and bpftrace {} lost samples",
            lost[0], lost[8], lost[1]
        ));
    }
}

/// What a reader that has fallen behind costs the traced processes (issue
/// 29): the connect loop under tcpconnect writing to /dev/null and to a
/// pipe nobody reads (its ring fills, then its events are lost), on the
/// BPF ring buffer and on the perf event arrays, by `interleaved`. Each
/// stalled arm is compared with the fast arm of its transport: their
/// overheads over the same untraced runs, and the ratio of their traced
/// runs' CPU per connect.
pub fn stalled_reader(config: &Config, table: &mut Table) {
    let rounds = if config.quick { 2 } else { 60 };
    // About 0.2 s untraced, ~20000 connects here: a stalled run must
    // overflow its ring, not only fill it. The default ring buffer holds
    // 4681 IPv4 events, the pipe ~1000 lines; at 0.05 s a run never lost one
    // on the ring buffer, and measured a full ring's cost not at all.
    let n = sized_loop(config, Load::Connect, 1, 0.2, 3000).n;
    let loops = [Loop { load: Load::Connect, procs: 1, n, settle: READER_SETTLE }];
    let arms = [
        (Tool::Tcpconnect, Sink::Null, rounds),
        (Tool::Tcpconnect, Sink::Stalled, rounds),
        (Tool::TcpconnectPerfArrays, Sink::Null, rounds),
        (Tool::TcpconnectPerfArrays, Sink::Stalled, rounds),
    ];
    progress(&format!(
        "stalled reader: {rounds} rounds of tcpconnect writing to /dev/null and to a pipe nobody reads, on \
         the BPF ring buffer and the perf event arrays (rotating order), each between untraced runs; {n} \
         connects per run, 1 client"
    ));
    let Interleaved { off, pairs, lost } = interleaved(config, &arms, &loops, Some(&RING_LAP));
    let wall: fn(&LoopRun) -> f64 = |r| r.wall_ns;
    let cpu: fn(&LoopRun) -> f64 = |r| r.cpu_ns;
    let base = median(&off[0].iter().map(wall).collect::<Vec<_>>());
    for (fast, stalled, transport) in [(0, 1, "BPF ring buffer"), (2, 3, "perf event arrays")] {
        for (metric, what) in [(wall, "wall"), (cpu, "CPU")] {
            let (fd, fr, _) = paired(&pairs[fast][0], metric);
            let (sd, sr, (lo, hi)) = paired(&pairs[stalled][0], metric);
            // Stalled against fast, traced run against traced run (the
            // same loop, the untraced baselines drift alike).
            let n = pairs[fast][0].len().min(pairs[stalled][0].len());
            let ratios: Vec<f64> =
                (0..n).map(|i| metric(&pairs[stalled][0][i].0) / metric(&pairs[fast][0][i].0)).collect();
            let r = median(&ratios);
            table.row(
                &format!("stalled reader, {transport}, {what}, {n} runs"),
                format!("stalled {} (95 % CI {lo:.3}–{hi:.3}) of {}", fmt_overhead(sd, sr), fmt_ns(base)),
                format!("stdout /dev/null {}; stalled/fast {r:.3}", fmt_overhead(fd, fr)),
                format!("{r:.3}"),
                "≤ 1.10",
                verdict(r <= 1.10),
            );
        }
    }
    // A fast reader loses nothing: the wakeups that spare a stalled one
    // must still come for it (a mark the programs never see crossed left
    // the reader to its 100 ms timer, and the ring overflowed). A stalled
    // one must lose: else its rows did not measure a full ring.
    table.row(
        "  events lost with stdout /dev/null",
        format!("ring buffer {}, perf event arrays {}", lost[0], lost[2]),
        format!("stalled (lost, as they must be): {} and {}", lost[1], lost[3]),
        String::new(),
        "0, and stalled > 0",
        verdict(lost[0] == 0 && lost[2] == 0 && lost[1] > 0 && lost[3] > 0),
    );
}

// --------------------------------------------- 4. events lost (and 2. peak RSS)

/// The outcome of one traced load at full speed.
struct Flood {
    connects: u64,
    rate: f64,
    lost: u64,
    /// Event lines with the clients' COMM the consumer read (pipe only).
    delivered: Option<u64>,
    /// Event lines of other processes' connects (pipe only).
    others: Option<u64>,
    hwm_kib: Option<u64>,
    clean: bool,
}

/// Runs `procs` clients flat out for `secs` under `tool` writing to
/// `sink` (for a pipe, a consumer reading 4 KiB every 10 ms while the load
/// runs, ~400 KB/s, then as fast as it can). Then one connect per CPU
/// makes every ring report its PERF_RECORD_LOST, and the tracer is stopped.
fn flood(config: &Config, tool: Tool, sink: Sink, procs: usize, secs: f64) -> Option<Flood> {
    let mut tracer = start_attached(config, tool, sink)?;
    let consumer = tracer
        .stdout
        .take()
        .map(|out| Consumer::start(out, client::COMM.as_bytes(), 4096, Duration::from_millis(10)));
    let clients = client::Clients::spawn(&config.exe, procs, Work::Duration(Duration::from_secs_f64(secs)));
    let done = clients.run();
    // Peak RSS while the events flowed (the peak cannot go down later).
    let hwm_kib = tracer.vm_hwm_kib();
    if let Some(c) = &consumer {
        c.hurry();
    }
    // Let the tracer catch up (its batching timer included), then make every
    // ring write again so that what it dropped is reported.
    std::thread::sleep(Duration::from_millis(500));
    let flush = client::connect_on_each_cpu(cpus());
    std::thread::sleep(Duration::from_millis(400));
    let stopped: Stopped = tracer.stop();
    let (events, delivered) = consumer.map(Consumer::finish).unzip();
    let wall = done.iter().map(|d| d.elapsed).max().unwrap_or_default().as_secs_f64();
    let connects = done.iter().map(|d| d.connects).sum::<u64>();
    let failed: u64 = done.iter().map(|d| d.failed).sum();
    if failed > 0 {
        eprintln!("bench: {failed} connects failed under {}", tool.name());
    }
    Some(Flood {
        connects: connects + flush,
        rate: connects as f64 / wall.max(1e-9),
        lost: stopped.lost(),
        delivered,
        others: events.zip(delivered).map(|(e, d)| e - d),
        hwm_kib,
        clean: stopped.clean(),
    })
}

/// Item 4: events lost at the highest connect rate, to /dev/null and to a slow
/// pipe; 2. peak RSS while those events flow.
pub fn lost_and_rss(config: &Config, table: &mut Table) {
    let secs = if config.quick { 1.0 } else { 3.0 };
    let candidates: Vec<usize> = if config.quick { vec![cpus()] } else { vec![cpus(), 2 * cpus()] };
    progress(&format!("max connect rate: untraced, {candidates:?} client processes, {secs} s each"));
    let untraced_rate = |p: usize| {
        let done = run_clients(&config.exe, p, Work::Duration(Duration::from_secs_f64(secs)));
        let connects: u64 = done.iter().map(|d| d.connects).sum();
        let wall = done.iter().map(|d| d.elapsed).max().unwrap_or_default().as_secs_f64();
        let rate = connects as f64 / wall;
        progress(&format!("  {p} clients: {} connects/s untraced", fmt_count(rate as u64)));
        rate
    };
    let mut best = (0usize, 0f64);
    for &p in &candidates {
        let rate = untraced_rate(p);
        if rate > best.1 {
            best = (p, rate);
        }
    }
    let (procs, untraced_before) = best;
    progress(&format!("events lost: {procs} clients flat out for {secs} s under each tracer"));
    let run = |tool, sink| {
        let f = flood(config, tool, sink, procs, secs);
        if let Some(f) = &f {
            progress(&format!(
                "  {} {:?}: {} connects at {}/s, lost {}, delivered {:?}, VmHWM {:?} KiB{}",
                tool.name(),
                sink,
                f.connects,
                fmt_count(f.rate as u64),
                f.lost,
                f.delivered,
                f.hwm_kib,
                if f.clean { "" } else { ", did not exit cleanly" }
            ));
        }
        f
    };
    let ours_null = run(Tool::Tcpconnect, Sink::Null);
    let theirs_null = run(Tool::Bpftrace, Sink::Null);
    let (ours_pipe, theirs_pipe) = if config.wants("lost") {
        (run(Tool::Tcpconnect, Sink::Pipe), run(Tool::Bpftrace, Sink::Pipe))
    } else {
        (None, None)
    };
    // The untraced rate again, after: the reference is the mean of both.
    let untraced =
        if config.wants("lost") { (untraced_before + untraced_rate(procs)) / 2.0 } else { untraced_before };

    if config.wants("rss") {
        let ours = ours_null.as_ref().and_then(|f| f.hwm_kib);
        let theirs = theirs_null.as_ref().and_then(|f| f.hwm_kib);
        if let Some(o) = ours {
            table.row(
                "peak RSS (VmHWM), events flowing at max rate",
                fmt_kib(o),
                theirs.map_or("bpftrace n/a".into(), |t| format!("bpftrace {}", fmt_kib(t))),
                theirs.map_or("n/a".into(), |t| format!("{:.4}", o as f64 / t as f64)),
                "≤ 3 MiB",
                verdict(o <= 3 * 1024),
            );
        }
    }
    if !config.wants("lost") {
        return;
    }
    let rate_of = |f: &Option<Flood>| f.as_ref().map_or(0.0, |f| f.rate);
    table.row(
        &format!("max connect rate, {procs} client processes, {secs} s"),
        format!("{}/s traced", fmt_count(rate_of(&ours_null) as u64)),
        format!(
            "untraced {}/s (before and after); bpftrace {}/s",
            fmt_count(untraced as u64),
            fmt_count(rate_of(&theirs_null) as u64)
        ),
        format!("{:.3}", rate_of(&ours_null) / untraced),
        "",
        Verdict::Info,
    );
    let lost_text = |f: &Option<Flood>| match f {
        Some(f) => {
            let mut t = format!("lost {} of {}", fmt_count(f.lost), fmt_count(f.connects));
            if let Some(d) = f.delivered {
                t.push_str(&format!(", {} printed", fmt_count(d)));
            }
            t
        }
        None => "n/a".into(),
    };
    let frac = |f: &Option<Flood>| f.as_ref().map_or(f64::NAN, |f| f.lost as f64 / f.connects.max(1) as f64);
    if let Some(o) = &ours_null {
        table.row(
            "events lost at max rate, output to /dev/null",
            lost_text(&ours_null),
            format!("bpftrace {}", lost_text(&theirs_null)),
            format!("{:.4} lost", frac(&ours_null)),
            "0 lost",
            verdict(o.lost == 0 && o.clean),
        );
    }
    if ours_pipe.is_some() {
        table.row(
            "events lost, pipe to a reader of 4 KiB/10 ms",
            lost_text(&ours_pipe),
            format!("bpftrace {}", lost_text(&theirs_pipe)),
            format!("{:.4} lost", frac(&ours_pipe)),
            "reported",
            Verdict::Info,
        );
        if let Some(Flood { delivered: Some(d), others: Some(others), lost, connects, .. }) = &ours_pipe {
            // The loss count covers every process's connects, the printed
            // lines are told apart by COMM.
            let seen = d + others + lost;
            let rest = if seen == *connects {
                "every connect accounted for".to_owned()
            } else if seen > *connects {
                format!("the other {} events are other processes' connects", fmt_count(seen - connects))
            } else {
                format!("{} of the bench's connects UNACCOUNTED", fmt_count(connects - seen))
            };
            table.note(format!(
                "slow pipe accounting: tcpconnect printed {} lines for the bench's {} connects and {} for \
                 other processes', and reported {} lost (of all processes): {} events, {rest}",
                fmt_count(*d),
                fmt_count(*connects),
                fmt_count(*others),
                fmt_count(*lost),
                fmt_count(seen),
            ));
        }
    }
}

// ----------------------------------------------------------- 6. binary size

/// (size, stripped, static) of an ELF file.
fn elf_facts(path: &std::path::Path) -> Option<(u64, bool, bool)> {
    use object::Object;
    let data = std::fs::read(path).ok()?;
    let file = object::File::parse(&*data).ok()?;
    let stripped = file.section_by_name(".symtab").is_none();
    let is_static = file.section_by_name(".interp").is_none();
    Some((data.len() as u64, stripped, is_static))
}

/// Shared libraries of `binary`, per ldd.
fn shared_libs_size(binary: &str) -> u64 {
    let Ok(out) = std::process::Command::new("ldd").arg(binary).output() else {
        return 0;
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split("=>").nth(1)?.split_whitespace().next().map(str::to_owned))
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

/// Item 6: size of the static, stripped binary, against bpftrace's.
pub fn binary_size(config: &Config, table: &mut Table) {
    let Some((size, stripped, is_static)) = elf_facts(&config.tool) else {
        eprintln!("bench: cannot read {}", config.tool.display());
        return;
    };
    let bpftrace = std::fs::metadata("/usr/bin/bpftrace").map(|m| m.len()).unwrap_or(0);
    let libs = shared_libs_size("/usr/bin/bpftrace");
    let kind = match (is_static, stripped) {
        (true, true) => "static, stripped",
        (true, false) => "static, NOT stripped",
        (false, true) => "dynamic, stripped",
        (false, false) => "dynamic, NOT stripped",
    };
    table.row(
        &format!("binary size ({kind})"),
        fmt_bytes(size),
        format!("bpftrace {} + {} of shared libraries", fmt_bytes(bpftrace), fmt_bytes(libs)),
        format!("{:.4}", size as f64 / (bpftrace + libs).max(1) as f64),
        "≤ 1.5 MB",
        verdict(size <= 1_500_000 && is_static && stripped),
    );
}

// ------------------------------------------------------------- clean-up check

/// The number of BPF programs loaded on the machine (bpftool), if known.
pub fn loaded_programs() -> Option<usize> {
    let out = std::process::Command::new("bpftool").args(["prog", "list"]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Some(
        text.lines()
            .filter(|l| l.split(':').next().is_some_and(|id| id.trim().parse::<u64>().is_ok()))
            .count(),
    )
}

/// Says if the run left BPF programs behind. The kernel frees a program
/// whose raw tracepoint link closed after an RCU grace period, so a count
/// that is still high is read again for up to 2 s before it counts as a leak.
pub fn check_clean(before: Option<usize>) {
    let Some(b) = before else { return };
    let mut after = loaded_programs();
    for _ in 0..20 {
        if after.is_none_or(|a| a <= b) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        after = loaded_programs();
    }
    match after {
        Some(a) if a > b => {
            eprintln!("bench: WARNING: {} more BPF programs loaded than before the run", a - b)
        }
        Some(a) => eprintln!("bench: no BPF program left behind ({a} loaded, as before)"),
        None => {}
    }
}
