//! Where batches go: standard output, one write and flush per batch, in a
//! way that a terminating signal always ends the run.
//!
//! A pipe whose reader stopped reading (a stalled consumer, a paused
//! pager) fills up, and a plain blocking write then waits forever, with
//! our signals blocked for the signalfd: `kill -INT` would never end us,
//! where bcc's Python gets EINTR and exits. So on a pipe (or a socket)
//! every write waits for room first, with the signals open
//! (`SignalFd::wait_writable`), and writes at most PIPE_BUF bytes, which a
//! pipe with room takes without blocking (a socket reports room only with
//! far more free). Files, terminals and /dev/null never stall like that and
//! keep the single write per batch.

use crate::error::Error;
use crate::sys::signals::{Room, SignalFd};
use crate::sys::stdout::{is_pipe_or_socket, stdout_fd, write};
use std::io::{self, Write};

/// What the kernel guarantees a pipe with room takes in one write.
const PIPE_BUF: usize = 4096;

/// How writing one batch ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Emitted {
    Written,
    /// The reader went away (EPIPE).
    Closed,
    /// A terminating signal arrived while the pipe was full; the rest of the
    /// batch was not written.
    Interrupted(i32),
}

pub struct StdoutSink {
    /// A pipe or socket: writes wait for room first.
    pipe: bool,
}

impl StdoutSink {
    pub fn new() -> StdoutSink {
        StdoutSink { pipe: is_pipe_or_socket(stdout_fd()) }
    }

    /// Writes `bytes` (whole lines) and flushes them.
    pub fn emit(&mut self, bytes: &[u8], signals: &SignalFd) -> Result<Emitted, Error> {
        if !self.pipe {
            let mut out = io::stdout().lock();
            return match out.write_all(bytes).and_then(|()| out.flush()) {
                Ok(()) => Ok(Emitted::Written),
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(Emitted::Closed),
                Err(e) => Err(Error::Output(e)),
            };
        }
        let fd = stdout_fd();
        let mut rest = bytes;
        while !rest.is_empty() {
            match signals.wait_writable(fd) {
                Ok(Room::Ready) => {}
                Ok(Room::Signal(signal)) => return Ok(Emitted::Interrupted(signal)),
                Err(e) => return Err(Error::Output(e.error)),
            }
            let chunk = &rest[..rest.len().min(PIPE_BUF)];
            match write(fd, chunk) {
                Ok(n) => rest = &rest[n..],
                Err(e) if e.errno() == libc::EPIPE => return Ok(Emitted::Closed),
                // Someone made the pipe non-blocking, or a signal we do not
                // handle interrupted the write: wait again.
                Err(e) if matches!(e.errno(), libc::EAGAIN | libc::EINTR) => {}
                Err(e) => return Err(Error::Output(e.error)),
            }
        }
        Ok(Emitted::Written)
    }
}

impl Default for StdoutSink {
    fn default() -> Self {
        StdoutSink::new()
    }
}
