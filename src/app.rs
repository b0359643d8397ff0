//! One run of the tool: start tracing, print the header once the program is
//! attached, then turn ring batches into lines until a signal arrives.

use crate::cli::Options;
use crate::container::{EventNames, FromProc};
use crate::dns::DnsWatcher;
use crate::error::Error;
use crate::escape::message_line;
use crate::event::{HandshakeEnd, Outcome};
use crate::host::kernel::{has_cap_bpf, perf_event_paranoid, PERF_PARANOID_SYS_ADMIN_ONLY};
use crate::perf::RingStats;
use crate::plan::{Overrides, Plan};
use crate::present::batch::BatchPrinter;
use crate::present::count_table::{write_count_table, COUNT_BANNER};
use crate::present::stdout_sink::{line_count, whole_lines, StdoutSink, Stop};
use crate::sys::epoll::Epoll;
use crate::sys::packet::clock_monotonic_ns;
use crate::sys::process::{ensure_standard_fds, geteuid, limit_capabilities};
use crate::sys::signals::SignalFd;
use crate::tracer::{Log, Tallies, Tracer};
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

/// The epoll tokens of the signal fd and the DNS capture; rings use 0..n.
const SIGNAL_TOKEN: u64 = u64::MAX;
const DNS_TOKEN: u64 = u64::MAX - 1;

/// At exit, how long the reader of standard output has to take what is left
/// before it is counted lost instead (a second signal ends it at once).
pub const EXIT_WRITE_LIMIT: Duration = Duration::from_secs(1);

/// The longest a sample waits in its ring before it is printed. Rings wake
/// us only every `WAKEUP_EVENTS` samples (or half full), so the loop also
/// drains them on this timer: a lone connect shows within 0.1 s, and an
/// idle trace costs ten cheap wakeups a second.
pub const FLUSH_INTERVAL_MS: i32 = 100;

/// The same with --container: the cgroup of a client that connects and
/// exits at once, and its runtime's files (`docker run --rm`), are gone
/// tens of milliseconds later, and a line named before then names its
/// container; and with --ppid read from /proc (no BTF), where the process
/// itself must still be there. A hundred cheap wakeups a second of ours;
/// the traced processes pay nothing more.
pub const CONTAINER_FLUSH_INTERVAL_MS: i32 = 10;

/// How a run ended without error.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// SIGINT, SIGTERM or SIGHUP.
    Signal(i32),
    /// Whoever reads our output went away (EPIPE): nothing left to do.
    OutputClosed,
}

/// A line on stderr. Unlike eprintln!, never panics when stderr is a closed
/// pipe (`tcpconnect 2>&1 | head -1`): a diagnostic nobody reads is dropped.
/// Control bytes that came from outside are escaped (`escape::message_line`).
pub fn warn(message: std::fmt::Arguments<'_>) {
    let text = message.to_string();
    let _ = writeln!(io::stderr(), "{}", message_line(&text));
}

/// Damaged ring contents are never expected; say so rather than hide it.
fn report_damage(corrupt_rings: u64, malformed_samples: u64) {
    if corrupt_rings > 0 {
        warn(format_args!("tcpconnect: skipped {corrupt_rings} corrupt perf ring batch(es)"));
    }
    if malformed_samples > 0 {
        warn(format_args!("tcpconnect: skipped {malformed_samples} malformed sample(s)"));
    }
}

/// bcc's wording, so scripts that watch stderr for it keep working.
fn report_lost(lost: u64) {
    if lost > 0 {
        warn(format_args!("Possibly lost {lost} samples"));
    }
}

/// -d: DNS messages a full DNS ring refused (the kernel's LOST records).
fn report_lost_dns(lost: u64) {
    if lost > 0 {
        warn(format_args!("Possibly lost {lost} DNS messages (-d: their connects may show No DNS Query)"));
    }
}

/// Hits of our legacy kprobes the kernel skipped (kprobe_profile's
/// nmissed): a probe that fires while a kprobe handler already runs on
/// that CPU is not run (an interrupt's tcp_set_state during another
/// handler, with --result); kernels since late 2021 also count returns a
/// kretprobe had no free instance for (4096 are asked for, see
/// tracer/kprobe_common.rs). A skipped hit may be a connect's
/// or one of its state changes, or another socket's.
fn report_missed(missed: u64) {
    if missed > 0 {
        warn(format_args!(
            "Possibly missed {missed} kprobe hits: the kernel skipped them (a kprobe fired while another ran \
             on the same CPU, or kretprobe instances ran out); connects or their results may be missing"
        ));
    }
}

/// -c: connects of new flows the full counts map refused.
fn report_lost_flows(lost: u64) {
    if lost > 0 {
        warn(format_args!("Possibly lost {lost} connects (-c: its table of flows is full)"));
    }
}

/// After attaching, keep only what the rest of the run needs: bpf(2) for
/// the loss and -c counters (CAP_BPF), perf_event_open(2) and its mmap for
/// the ring of a CPU that comes online later (CAP_PERFMON; CAP_SYS_ADMIN
/// stands for both before 5.8, and is needed for the ring where Debian's
/// perf_event_paranoid=3 is set), and for a non-root user the file access
/// that removing legacy probes at exit takes. Everything else
/// (CAP_NET_RAW, CAP_SYS_RESOURCE, ...) goes.
fn drop_capabilities() -> Result<(), Error> {
    const CAP_DAC_OVERRIDE: u32 = 1;
    const CAP_SYS_ADMIN: u32 = 21;
    const CAP_PERFMON: u32 = 38;
    const CAP_BPF: u32 = 39;
    let mut keep = 1u64 << CAP_BPF | 1u64 << CAP_PERFMON;
    let before_cap_bpf = !has_cap_bpf();
    // Debian's perf_event_paranoid=3 wants CAP_SYS_ADMIN for perf_event_open.
    let paranoid = perf_event_paranoid().is_some_and(|level| level >= PERF_PARANOID_SYS_ADMIN_ONLY);
    if before_cap_bpf || paranoid {
        keep |= 1 << CAP_SYS_ADMIN;
    }
    if geteuid() != 0 {
        keep |= 1 << CAP_DAC_OVERRIDE;
    }
    limit_capabilities(keep).map_err(Error::kernel("drop capabilities after attaching"))?;
    Ok(())
}

/// One run, in its stages: set up (signals, epoll, the plan, -d's capture),
/// start tracing, announce that it is live, pump batches to stdout until a
/// signal, then finish (losses, the -c table, missed hits).
pub fn run(options: &Options) -> Result<Ended, Error> {
    ensure_standard_fds();
    let plan = Plan::from_options(options, Overrides::from_env());
    let mut run = Run::set_up(&plan)?;
    let verbose = plan.verbose;
    let log = |message: std::fmt::Arguments<'_>| {
        if verbose {
            warn(format_args!("tcpconnect: {message}"));
        }
    };
    if !plan.overrides.ignored.is_empty() {
        log(format_args!(
            "{} ignored: tcpconnect runs with privilege its caller does not have (set-user-ID or file capabilities)",
            plan.overrides.ignored.join(", ")
        ));
    }
    // Before the programs attach: every connect they see comes after it.
    let started_ns = clock_monotonic_ns();
    let (dns, epoll) = (&mut run.dns, &run.epoll);
    let mut packet_dns = || open_packet_dns(dns, epoll);
    let mut tracer = Tracer::start(&plan, &run.epoll, &log, &mut packet_dns)?;
    drop_capabilities()?;
    let reading = tracer.identity_reading();
    run.names = reading.hierarchy.as_ref().map(|h| EventNames::new(h.mount_point().clone()));
    if reading.parent_from_proc || reading.cgroup_from_proc {
        let cgroup = reading.hierarchy.clone().filter(|_| reading.cgroup_from_proc);
        run.from_proc = Some(FromProc::new(reading.parent_from_proc, cgroup));
    }
    let mut printer = BatchPrinter::new(plan.columns);
    if let Some(ended) = run.announce(&plan, &mut printer)? {
        return Ok(ended);
    }
    if plan.result {
        // Lines come in the order of outcomes: -t counts from the start.
        printer.count_time_from(started_ns);
    }
    let pumped = run.pump(&mut tracer, &mut printer, &log)?;
    run.finish(&plan, &mut tracer, &mut printer, pumped)
}

/// -d where the kernel cannot read the answers: the packet capture, opened
/// (once) and watched before any connect program attaches, so no answer a
/// traced connect used is missed.
fn open_packet_dns(dns: &mut Option<DnsWatcher>, epoll: &Epoll) -> Result<(), Error> {
    let Some(watcher) = dns.as_mut() else {
        return Ok(());
    };
    if watcher.as_fd().is_some() {
        return Ok(());
    }
    watcher.open_socket().map_err(|error| Error::Dns { error })?;
    if let Some(fd) = watcher.as_fd() {
        epoll.add(fd, DNS_TOKEN).map_err(Error::kernel("watch the DNS capture socket"))?;
    }
    Ok(())
}

/// Lines not printed at exit, and why.
type Unprinted = (u64, &'static str);

/// What the exit counted of the run's output, for -v's account.
struct AtExit {
    /// Lines of events printed in all.
    printed: u64,
    /// Connects still waiting for their handshake (or connect(2)) at exit,
    /// printed from the kernel's maps: the programs never sent them.
    waiting: u64,
    /// Lines not printed at exit (reported lost).
    not_printed: u64,
    /// -c: the rows of its table.
    rows: u64,
}

/// -v's account at exit, one line: where every connect the hooks saw went
/// (bcc #2396: "drops are silent"). The programs tally what they see,
/// filter out and send only with -v.
fn account(plan: &Plan, tallies: &Tallies, at_exit: &AtExit) -> String {
    let Tallies { seen, filtered, sent, events_lost, count_flows_lost, dns_messages_lost } = *tallies;
    let mut line = format!("account: the hooks saw {seen} connects, the filters dropped {filtered}");
    if plan.count {
        let counted = sent.saturating_sub(count_flows_lost);
        line += &format!(
            "; counted {counted} in {} rows, {count_flows_lost} refused by the full table",
            at_exit.rows
        );
    } else {
        line += &format!("; the programs sent {sent}");
        if at_exit.waiting > 0 {
            line += &format!(" and {} were still waiting at exit", at_exit.waiting);
        }
        line += &format!(
            "; {} printed, {events_lost} lost to a full ring or map, {} not printed at exit",
            at_exit.printed, at_exit.not_printed
        );
    }
    if plan.dns {
        line += &format!("; -d: {dns_messages_lost} DNS messages lost to a full ring");
    }
    line
}

/// What the main loop waits on and writes to.
struct Run {
    signals: SignalFd,
    epoll: Epoll,
    /// -d: the DNS capture.
    dns: Option<DnsWatcher>,
    out: StdoutSink,
    /// The signal that ends the run, once one arrived.
    ending: Option<i32>,
    /// The lost events reported so far.
    lost_reported: Tallies,
    /// -d: DNS messages the DNS rings' LOST records reported since the last
    /// report (only a fallback: the programs count them exactly).
    dns_ring_lost: u64,
    /// Whoever read our output went away: nothing more can be printed.
    closed: bool,
    /// The header (or -c's banner), where a signal came before it was
    /// written: printed at exit, before the lines.
    unwritten_header: Vec<u8>,
    /// Lines a signal or the reader's going away left unwritten: printed
    /// at exit while the reader takes them, else counted lost.
    unwritten: Vec<u8>,
    /// Lines of events written so far (-v's account).
    printed: u64,
    /// --container: names each event's cgroup before its line is made.
    names: Option<EventNames>,
    /// --ppid, --container without BTF: who made each connect, from /proc.
    from_proc: Option<FromProc>,
}

/// How the pump stopped.
#[derive(Clone, Copy)]
enum Pumped {
    Signal(i32),
    OutputClosed,
}

/// What kind of bytes a write carries: lines of events are counted when
/// they cannot be written; the header is not an event.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Header,
    Events,
}

impl Run {
    /// Signals first: one arriving during setup is queued and ends the run
    /// as soon as the loop starts, after a clean teardown. -d: the watcher;
    /// its packet socket, where the kernel cannot read the answers, opens
    /// as the tracer starts (`open_packet_dns`).
    fn set_up(plan: &Plan) -> Result<Run, Error> {
        let signals = SignalFd::new().map_err(Error::kernel("set up signal handling"))?;
        let epoll = Epoll::new().map_err(Error::kernel("create an epoll instance"))?;
        epoll.add(signals.as_fd(), SIGNAL_TOKEN).map_err(Error::kernel("watch the signal fd"))?;
        let dns = plan.dns.then(DnsWatcher::for_kernel_messages);
        Ok(Run {
            signals,
            epoll,
            dns,
            out: StdoutSink::new(),
            ending: None,
            lost_reported: Tallies::default(),
            dns_ring_lost: 0,
            closed: false,
            unwritten_header: Vec::new(),
            unwritten: Vec::new(),
            printed: 0,
            names: None,
            from_proc: None,
        })
    }

    /// Reports what was lost since the last report. The BPF side counts
    /// every event a full ring refused (and -d's messages, and -c's flows),
    /// so the totals are exact even when the kernel's PERF_RECORD_LOST lags;
    /// the rings' LOST records (`ring_events_lost`, and the DNS rings' since
    /// the last report) are the fallback.
    fn report_new_losses(&mut self, tracer: &Tracer, ring_events_lost: u64) {
        let dns_ring_lost = std::mem::take(&mut self.dns_ring_lost);
        match tracer.losses() {
            Ok(total) => {
                let reported = &self.lost_reported;
                report_lost(total.events_lost.saturating_sub(reported.events_lost));
                report_lost_dns(total.dns_messages_lost.saturating_sub(reported.dns_messages_lost));
                report_lost_flows(total.count_flows_lost.saturating_sub(reported.count_flows_lost));
                self.lost_reported = total;
            }
            Err(_) => {
                report_lost(ring_events_lost);
                report_lost_dns(dns_ring_lost);
            }
        }
    }

    /// Writes `bytes` (whole lines) while tracing runs. What a signal (the
    /// run's end) or the reader's going away leaves unwritten is kept for
    /// the exit, which prints it or counts it.
    fn emit(&mut self, bytes: &[u8], kind: Kind) -> Result<(), Error> {
        if self.closed || self.ending.is_some() {
            self.keep_unwritten(bytes, kind);
            return Ok(());
        }
        let emitted = self.out.emit(bytes, &self.signals, None)?;
        if kind == Kind::Events {
            self.printed += whole_lines(&bytes[..emitted.written]);
        }
        match emitted.stop {
            None => return Ok(()),
            Some(Stop::Closed) => self.closed = true,
            Some(Stop::Signal(signal)) => self.ending = Some(signal),
            // No deadline while tracing.
            Some(Stop::Deadline) => {}
        }
        self.keep_unwritten(&bytes[emitted.written..], kind);
        Ok(())
    }

    fn keep_unwritten(&mut self, bytes: &[u8], kind: Kind) {
        match kind {
            Kind::Header => self.unwritten_header.extend_from_slice(bytes),
            Kind::Events => self.unwritten.extend_from_slice(bytes),
        }
    }

    /// The header (or -c's banner) says tracing is live: the programs are
    /// attached by now. JSON output has neither: every line is an object.
    fn announce(&mut self, plan: &Plan, printer: &mut BatchPrinter) -> Result<Option<Ended>, Error> {
        let live: &[u8] = match (plan.count, plan.columns.json) {
            (_, true) => b"",
            (true, false) => COUNT_BANNER.as_bytes(),
            (false, false) => printer.header(),
        };
        self.emit(live, Kind::Header)?;
        // Nobody reads: nothing was traced yet, nothing to count.
        Ok(self.closed.then_some(Ended::OutputClosed))
    }

    /// Ring batches to lines until a signal arrives or the reader goes away.
    fn pump(
        &mut self,
        tracer: &mut Tracer,
        printer: &mut BatchPrinter,
        log: Log<'_>,
    ) -> Result<Pumped, Error> {
        let mut ready = Vec::new();
        let mut cpus_checked = Instant::now();
        loop {
            if self.closed {
                return Ok(Pumped::OutputClosed);
            }
            if let Some(signal) = self.ending {
                return Ok(Pumped::Signal(signal));
            }
            ready.clear();
            // In a closure: Error::kernel allocates its message, which must
            // happen on an error, not on every wakeup.
            let soon = self.names.is_some() || self.from_proc.is_some();
            let flush_ms = if soon { CONTAINER_FLUSH_INTERVAL_MS } else { FLUSH_INTERVAL_MS };
            self.epoll.wait(&mut ready, flush_ms).map_err(|error| Error::kernel("wait for events")(error))?;
            if ready.contains(&SIGNAL_TOKEN) {
                self.ending = self.signals.read().map_err(Error::kernel("read the signal fd"))?;
            }

            // A CPU that came online needs its ring: looked for as often as
            // the rings are flushed, at a file read each time.
            let mut stats = RingStats::default();
            let mut check_losses = false;
            if cpus_checked.elapsed() >= Duration::from_millis(FLUSH_INTERVAL_MS as u64) {
                cpus_checked = Instant::now();
                stats =
                    tracer.follow_cpu_hotplug(&self.epoll, log, |payload| printer.push_sample(payload))?;
                // The ring buffer has no LOST records, -d's and -c's losses
                // have none: those are read from the programs' counts on the
                // same timer (the perf rings' LOST records prompt the rest).
                check_losses = tracer.losses_need_polling();
            }
            // Drain every ring, not only the ready ones: the batch is merged
            // by timestamp across CPUs (and so across IPv4 and IPv6).
            let drained = tracer.drain(|payload| printer.push_sample(payload));
            let stats =
                RingStats { lost: stats.lost + drained.lost, corrupt: stats.corrupt + drained.corrupt };
            let lines = self.lines(tracer, printer)?;
            if !lines.is_empty() {
                self.emit(lines, Kind::Events)?;
            }
            if stats.lost > 0 || self.dns_ring_lost > 0 || check_losses {
                self.report_new_losses(tracer, stats.lost);
            }
            report_damage(stats.corrupt, printer.take_malformed());
        }
    }

    /// The end of a run, after a signal or the reader's going away: the
    /// programs stop first (no event is made after that), then what the
    /// rings still hold and the connects still waiting for their handshake
    /// become lines, which are printed while the reader takes them (for at
    /// most EXIT_WRITE_LIMIT; a second signal ends it at once) and counted
    /// lost where it does not; then the losses the kernel counted, the -c
    /// table, and the kprobe hits the kernel dropped. Printed plus reported
    /// is every event made.
    fn finish(
        mut self,
        plan: &Plan,
        tracer: &mut Tracer,
        printer: &mut BatchPrinter,
        pumped: Pumped,
    ) -> Result<Ended, Error> {
        let missed = tracer.detach();
        let mut stats = RingStats::default();
        // Until a drain finds nothing: a program that ran as it was
        // detached may still have been writing.
        loop {
            let mut samples = 0u64;
            let drained = tracer.drain(|payload| {
                samples += 1;
                printer.push_sample(payload)
            });
            stats.lost += drained.lost;
            stats.corrupt += drained.corrupt;
            if samples == 0 {
                break;
            }
        }
        let waiting = self.push_waiting(plan, tracer, printer)?;
        let lines = self.lines(tracer, printer)?;
        self.unwritten.extend_from_slice(lines);
        report_damage(stats.corrupt, printer.take_malformed());
        let deadline = Instant::now() + EXIT_WRITE_LIMIT;
        let header = std::mem::take(&mut self.unwritten_header);
        let events = std::mem::take(&mut self.unwritten);
        let (printed, not_printed) = self.write_at_exit(&header, &events, deadline)?;
        self.printed += printed;
        self.report_new_losses(tracer, stats.lost);
        if let Some((lines, why)) = not_printed {
            warn(format_args!("Possibly lost {lines} samples (not printed at exit: {why})"));
        }
        let mut rows = 0;
        if plan.count {
            let counts = tracer.counts()?;
            rows = counts.len() as u64;
            let mut table = Vec::new();
            write_count_table(&mut table, counts, plan.columns.json);
            if let (_, Some((lines, why))) = self.write_at_exit(&[], &table, deadline)? {
                warn(format_args!(
                    "Possibly lost {lines} lines of the count table (not printed at exit: {why})"
                ));
            }
        }
        report_missed(missed);
        if plan.verbose {
            let at_exit =
                AtExit { printed: self.printed, waiting, not_printed: not_printed.map_or(0, |n| n.0), rows };
            let tallies = tracer.tallies().unwrap_or(self.lost_reported);
            warn(format_args!("tcpconnect: {}", account(plan, &tallies, &at_exit)));
        }
        Ok(match pumped {
            _ if self.closed => Ended::OutputClosed,
            Pumped::Signal(signal) => Ended::Signal(signal),
            Pumped::OutputClosed => Ended::OutputClosed,
        })
    }

    /// Writes `header` then `lines` until `deadline`: the lines of `lines`
    /// it wrote, and those it could not write and why (`Unprinted`).
    fn write_at_exit(
        &mut self,
        header: &[u8],
        lines: &[u8],
        deadline: Instant,
    ) -> Result<(u64, Option<Unprinted>), Error> {
        let all = [header, lines].concat();
        let (written, stop) = if self.closed || all.is_empty() {
            (0, (!all.is_empty()).then_some(Stop::Closed))
        } else {
            let emitted = self.out.emit(&all, &self.signals, Some(deadline))?;
            (emitted.written, emitted.stop)
        };
        let lines_written = written.saturating_sub(header.len());
        let printed = whole_lines(&lines[..lines_written]);
        let Some(stop) = stop else {
            return Ok((printed, None));
        };
        let why = match stop {
            Stop::Closed => {
                self.closed = true;
                "standard output was closed"
            }
            Stop::Signal(_) => "a second signal ended the run",
            Stop::Deadline => "the reader of standard output took nothing more within 1 s",
        };
        let not_printed = line_count(&lines[lines_written..]);
        Ok((printed, (not_printed > 0).then_some((not_printed, why))))
    }

    /// Connects whose handshake had not ended when tracing stopped are
    /// printed, never dropped: with --result as `PENDING`, LAT(ms) the time
    /// they had waited; with -L (a connect whose connect(2) had not
    /// returned, or one made outside connect(2)) with the local port
    /// unknown, so LPORT 0 (JSON: no lport).
    fn push_waiting(
        &mut self,
        plan: &Plan,
        tracer: &mut Tracer,
        printer: &mut BatchPrinter,
    ) -> Result<u64, Error> {
        let now_ns = clock_monotonic_ns();
        let waiting = tracer.waiting_connects()?;
        let count = waiting.len() as u64;
        for mut event in waiting {
            if plan.result {
                event.outcome = Some(Outcome { end: HandshakeEnd::Pending, done_ns: now_ns });
            }
            printer.push_event(event);
        }
        Ok(count)
    }

    /// The lines of the batch `printer` holds, with -d's QUERY. DNS answers
    /// are read first, after the events: the answer a connect used was
    /// written before the connect's event (to the DNS ring by the reading
    /// process; to the capture socket before the resolver could read it:
    /// taps see a packet before its socket does), so it is there now. Read
    /// before the rings were drained, an answer could arrive between the two
    /// and its connect be printed without it (seen under load on 4.19).
    fn lines<'p>(&mut self, tracer: &mut Tracer, printer: &'p mut BatchPrinter) -> Result<&'p [u8], Error> {
        if let Some(from_proc) = &self.from_proc {
            printer.for_each_event(|event| from_proc.fill(event));
        }
        if let Some(names) = self.names.as_mut() {
            let now = Instant::now();
            printer.for_each_identity(|identity| names.name(identity, now));
        }
        let Some(dns) = self.dns.as_mut() else {
            return Ok(printer.finish());
        };
        dns.read_all().map_err(|error| Error::Dns { error })?;
        let drained = tracer.drain_dns(|message| dns.queue_message(message));
        self.dns_ring_lost += drained.lost;
        // The kernel's answers enter the cache in time order with the
        // connects (lines come in connect order but with --result).
        let lines = printer.finish_with(|event| {
            dns.answers_until(event.ts_ns);
            Some(dns.query_for(event.netns, event.daddr_ip(), event.ts_ns))
        });
        dns.all_answers();
        Ok(lines)
    }
}
