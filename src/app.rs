//! One run of the tool: start tracing, print the header once the program is
//! attached, then turn ring batches into lines until a signal arrives.

use crate::cli::Options;
use crate::error::Error;
use crate::event::ConnectEvent;
use crate::output::{write_header, Columns, LineFormatter};
use crate::sys::epoll::Epoll;
use crate::sys::process::ensure_standard_fds;
use crate::sys::signals::SignalFd;
use crate::tracer::{Filters, Tracer};
use std::io::{self, Write};
use std::os::fd::AsFd;

/// The epoll token of the signal fd; rings use 0..n.
const SIGNAL_TOKEN: u64 = u64::MAX;

/// How a run ended without error.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// SIGINT, SIGTERM or SIGHUP.
    Signal(i32),
    /// Whoever reads our output went away (EPIPE): nothing left to do.
    OutputClosed,
}

fn filters(options: &Options) -> Filters {
    Filters { pid: options.pid, uid: options.uid, ports: options.ports.clone() }
}

/// Writes one batch to stdout and flushes it. Lines go out in one write.
fn emit(out: &mut impl Write, bytes: &[u8]) -> Result<bool, Error> {
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(Error::Output(e)),
    }
}

/// bcc's wording, so scripts that watch stderr for it keep working.
fn report_lost(lost: u64) {
    if lost > 0 {
        eprintln!("Possibly lost {lost} samples");
    }
}

pub fn run(options: &Options) -> Result<Ended, Error> {
    ensure_standard_fds();
    // Signals first: one arriving during setup is queued and ends the run as
    // soon as the loop starts, after a clean teardown.
    let signals = SignalFd::new().map_err(Error::kernel("set up signal handling"))?;
    let epoll = Epoll::new().map_err(Error::kernel("create an epoll instance"))?;
    epoll.add(signals.as_fd(), SIGNAL_TOKEN).map_err(Error::kernel("watch the signal fd"))?;

    let mut tracer = Tracer::start(&filters(options), &epoll)?;

    let stdout = io::stdout();
    let mut out = stdout.lock();
    let columns = Columns { timestamp: options.timestamp, print_uid: options.print_uid };
    let mut formatter = LineFormatter::new(columns);
    let mut text = Vec::with_capacity(64 * 1024);
    // The header says tracing is live: the program is attached by now.
    write_header(&mut text, columns);
    if !emit(&mut out, &text)? {
        return Ok(Ended::OutputClosed);
    }

    let mut batch: Vec<ConnectEvent> = Vec::new();
    let mut ready = Vec::new();
    loop {
        ready.clear();
        epoll.wait(&mut ready, -1).map_err(Error::kernel("wait for events"))?;
        let signal = if ready.contains(&SIGNAL_TOKEN) {
            signals.read().map_err(Error::kernel("read the signal fd"))?
        } else {
            None
        };

        // Drain every ring, not only the ready ones, and merge by kernel
        // timestamp so lines come out in the order the connects happened.
        batch.clear();
        let stats = tracer.drain(|payload| batch.extend(ConnectEvent::decode(payload)));
        batch.sort_by_key(|event| event.ts_ns);
        text.clear();
        for event in &batch {
            formatter.write_event(&mut text, event);
        }
        if !text.is_empty() && !emit(&mut out, &text)? {
            return Ok(Ended::OutputClosed);
        }
        report_lost(stats.lost);

        if let Some(signal) = signal {
            return Ok(Ended::Signal(signal));
        }
    }
}
