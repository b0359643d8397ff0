//! Where batches go: standard output, written in whole lines, in a way that
//! a terminating signal always ends the run and never cuts a line.
//!
//! A pipe whose reader stopped reading (a stalled consumer, a paused
//! pager) fills up, and a plain blocking write then waits forever, with
//! our signals blocked for the signalfd: `kill -INT` would never end us,
//! where bcc's Python gets EINTR and exits. So on a pipe (or a socket)
//! every write waits for room first, with the signals open
//! (`SignalFd::wait_writable`), and writes whole lines of at most PIPE_BUF
//! bytes, which a pipe with room takes whole, at once (POSIX: writes of up
//! to PIPE_BUF bytes are atomic). A signal that comes while the pipe is
//! full is taken between two lines, and what was not written is handed
//! back: the caller prints it at exit while the reader takes it, and counts
//! what it cannot. A socket may take part of a line: the rest of that line
//! is written before a signal is heeded. Files, terminals and /dev/null
//! never stall like that and keep the single write per batch.

use crate::error::Error;
use crate::sys::signals::{Room, SignalFd};
use crate::sys::stdout::{is_pipe_or_socket, stdout_fd, write};
use std::io::{self, Write};
use std::time::Instant;

/// What the kernel guarantees a pipe with room takes in one write.
const PIPE_BUF: usize = 4096;

/// How writing a batch ended: `written` bytes went out, always whole lines
/// (but for a line a socket took part of when the reader went away or a
/// second signal came).
#[derive(Debug, PartialEq, Eq)]
pub struct Emitted {
    pub written: usize,
    /// Why it stopped before the end; None: all was written.
    pub stop: Option<Stop>,
}

/// Why a batch was not written to its end.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop {
    /// The reader went away (EPIPE).
    Closed,
    /// A terminating signal arrived while the output was full.
    Signal(i32),
    /// The deadline passed while the output was full.
    Deadline,
}

impl Emitted {
    fn all(bytes: &[u8]) -> Emitted {
        Emitted { written: bytes.len(), stop: None }
    }
}

pub struct StdoutSink {
    /// A pipe or socket: writes wait for room first.
    pipe: bool,
}

/// Where the next write of `bytes[at..]` ends: after the last whole line
/// that fits in PIPE_BUF bytes, or (a line longer than that) PIPE_BUF bytes on.
fn chunk_end(bytes: &[u8], at: usize) -> usize {
    let limit = bytes.len().min(at + PIPE_BUF);
    if limit == bytes.len() {
        return limit;
    }
    match bytes[at..limit].iter().rposition(|&b| b == b'\n') {
        Some(newline) => at + newline + 1,
        None => limit,
    }
}

impl StdoutSink {
    pub fn new() -> StdoutSink {
        StdoutSink { pipe: is_pipe_or_socket(stdout_fd()) }
    }

    /// Writes `bytes` (whole lines) and flushes them, waiting for room at
    /// most until `deadline` (None: as long as it takes).
    pub fn emit(
        &mut self,
        bytes: &[u8],
        signals: &SignalFd,
        deadline: Option<Instant>,
    ) -> Result<Emitted, Error> {
        if !self.pipe {
            let mut out = io::stdout().lock();
            return match out.write_all(bytes).and_then(|()| out.flush()) {
                Ok(()) => Ok(Emitted::all(bytes)),
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                    Ok(Emitted { written: 0, stop: Some(Stop::Closed) })
                }
                Err(e) => Err(Error::Output(e)),
            };
        }
        let fd = stdout_fd();
        let mut at = 0;
        // A signal that came in the middle of a line: heeded at its end.
        let mut heeded_later = None;
        while at < bytes.len() {
            let at_line_start = at == 0 || bytes[at - 1] == b'\n';
            let stop = |stop| Ok(Emitted { written: at, stop: Some(stop) });
            if let (Some(signal), true) = (heeded_later, at_line_start) {
                return stop(Stop::Signal(signal));
            }
            match signals.wait_writable(fd, deadline) {
                Ok(Room::Ready) => {}
                Ok(Room::Signal(signal)) if at_line_start || heeded_later.is_some() => {
                    return stop(Stop::Signal(signal))
                }
                Ok(Room::Signal(signal)) => {
                    heeded_later = Some(signal);
                    continue;
                }
                Ok(Room::TimedOut) => return stop(Stop::Deadline),
                Err(e) => return Err(Error::Output(e.error)),
            }
            match write(fd, &bytes[at..chunk_end(bytes, at)]) {
                Ok(n) => at += n,
                Err(e) if e.errno() == libc::EPIPE => return stop(Stop::Closed),
                // Someone made the pipe non-blocking, or a signal we do not
                // handle interrupted the write: wait again.
                Err(e) if matches!(e.errno(), libc::EAGAIN | libc::EINTR) => {}
                Err(e) => return Err(Error::Output(e.error)),
            }
        }
        Ok(Emitted { written: at, stop: heeded_later.map(Stop::Signal) })
    }
}

impl Default for StdoutSink {
    fn default() -> Self {
        StdoutSink::new()
    }
}

/// The whole lines in `bytes`: the lines written, where a socket took part
/// of the last.
pub fn whole_lines(bytes: &[u8]) -> u64 {
    // Summed in bytes, 255 at most a block, which the compiler turns into
    // 16 compares a step: `filter().count()` widened every byte to 64 bits
    // and was a fifth of the tracer's CPU at the maximum connect rate.
    bytes.chunks(255).map(|block| block.iter().fold(0u8, |n, &b| n + u8::from(b == b'\n')) as u64).sum()
}

/// The lines in `bytes`, a partial last line counted as one: the lines not
/// written (a line begun counts as not printed, once).
pub fn line_count(bytes: &[u8]) -> u64 {
    whole_lines(bytes) + u64::from(bytes.last().is_some_and(|&b| b != b'\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_lines_counts_every_newline_in_blocks_of_any_length() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for len in [0, 1, 254, 255, 256, 509, 510, 511, 4096, 65_537] {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    if x % 3 == 0 {
                        b'\n'
                    } else {
                        x as u8
                    }
                })
                .collect();
            let naive = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
            assert_eq!(whole_lines(&bytes), naive, "{len} bytes");
            assert_eq!(whole_lines(&vec![b'\n'; len]), len as u64);
        }
    }

    #[test]
    fn chunks_end_at_a_line_end_and_hold_at_most_pipe_buf() {
        let line = [b'x'; 99].iter().chain(b"\n").copied().collect::<Vec<u8>>();
        let batch: Vec<u8> = line.iter().cycle().take(100 * 100).copied().collect();
        // 40 lines of 100 bytes fit in 4096; the 41st does not.
        assert_eq!(chunk_end(&batch, 0), 4000);
        assert_eq!(chunk_end(&batch, 4000), 8000);
        assert_eq!(chunk_end(&batch, 8000), 10000);
        // A line longer than PIPE_BUF goes in pieces.
        let long = vec![b'y'; 5000];
        assert_eq!(chunk_end(&long, 0), 4096);
        assert_eq!(chunk_end(&long, 4096), 5000);
    }

    #[test]
    fn lines_are_counted_whole_or_cut() {
        assert_eq!(line_count(b""), 0);
        assert_eq!(line_count(b"a\nb\n"), 2);
        assert_eq!(line_count(b"a\nb"), 2);
    }
}
