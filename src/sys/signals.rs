//! Termination signals delivered through a signalfd.
//!
//! SIGINT, SIGTERM and SIGHUP are blocked and read from a signalfd that sits
//! in the same epoll set as the rings, so a signal simply ends the main loop
//! and every kernel object is released by its Drop, in order. A blocked signal
//! is queued even when its disposition is SIG_IGN (the kernel never ignores a
//! blocked signal), which matters because a shell starts background jobs with
//! SIGINT ignored and scripts stop us with `kill -INT`.
//!
//! The one place they are unblocked is `wait_writable`, the wait for room in
//! a pipe whose reader may have stopped reading: there a signal runs our
//! handler, which records it, and ends the wait.

use super::{owned_fd, SysError, SysResult};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Instant;

/// The signals that end tracing.
pub const TERMINATING: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

pub struct SignalFd {
    fd: OwnedFd,
    /// The mask `wait_writable` waits with: the thread's mask from before
    /// `new`, with the terminating signals open.
    wait_mask: libc::sigset_t,
}

fn signal_set(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initializes it fully and
    // sigaddset only sets bits of valid signal numbers.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &sig in signals {
            libc::sigaddset(&mut set, sig);
        }
        set
    }
}

/// Whether `signal` is ignored (SIG_IGN), as a process started by `nohup`
/// inherits SIGHUP.
fn is_ignored(signal: libc::c_int) -> SysResult<bool> {
    // SAFETY: a null new action only queries; the old one is written into
    // a zeroed sigaction of the right size.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(signal, std::ptr::null(), &mut old) != 0 {
            return Err(SysError::last("sigaction"));
        }
        Ok(old.sa_sigaction == libc::SIG_IGN)
    }
}

/// The terminating signal the handler last ran for (0: none since taken).
/// The handler runs only inside `wait_writable`, the one place the signals
/// are unblocked; everywhere else they queue for the signalfd.
static DELIVERED: AtomicI32 = AtomicI32::new(0);

extern "C" fn record_signal(signal: libc::c_int) {
    // An atomic store is async-signal-safe.
    DELIVERED.store(signal, Ordering::SeqCst);
}

/// How a wait for room to write ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Room {
    /// The fd takes a write now (or reports its error on one).
    Ready,
    /// A terminating signal came first.
    Signal(i32),
    /// The deadline passed first.
    TimedOut,
}

impl SignalFd {
    /// Blocks the terminating signals for this thread and opens a signalfd
    /// for them. Also installs a handler that records them (used only while
    /// `wait_writable` unblocks them), replacing an inherited SIG_IGN, so
    /// they are never discarded on any kernel: a shell starts a background
    /// job with SIGINT ignored, and scripts stop it with `kill -INT`. But
    /// SIGHUP inherited as ignored stays ignored: that is what `nohup
    /// tcpconnect &` asks for, to outlive the terminal.
    pub fn new() -> SysResult<SignalFd> {
        let mut ours = TERMINATING.to_vec();
        if is_ignored(libc::SIGHUP)? {
            ours.retain(|&sig| sig != libc::SIGHUP);
        }
        let set = signal_set(&ours);
        for &sig in &ours {
            // SAFETY: a zeroed sigaction (no SA_RESTART: a wait it interrupts
            // returns EINTR) with a valid extern "C" handler and an empty
            // mask; the handler only stores to an atomic, which is
            // async-signal-safe.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = record_signal as extern "C" fn(libc::c_int) as usize;
                libc::sigemptyset(&mut action.sa_mask);
                if libc::sigaction(sig, &action, std::ptr::null_mut()) != 0 {
                    return Err(SysError::last("sigaction"));
                }
            }
        }
        // SAFETY: sigset_t is plain data, fully written by pthread_sigmask.
        let mut wait_mask: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: set is a valid sigset; the old mask goes into wait_mask.
        let ret = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut wait_mask) };
        if ret != 0 {
            return Err(SysError { call: "pthread_sigmask", error: std::io::Error::from_raw_os_error(ret) });
        }
        for &sig in &ours {
            // SAFETY: clears the bit of a valid signal number in a valid set.
            unsafe { libc::sigdelset(&mut wait_mask, sig) };
        }
        // SAFETY: -1 asks for a new signalfd; set is valid for the call.
        let ret = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
        Ok(SignalFd { fd: owned_fd("signalfd", ret as libc::c_long)?, wait_mask })
    }

    /// Reads one pending signal, if any: its number.
    pub fn read(&self) -> SysResult<Option<i32>> {
        // SAFETY: signalfd_siginfo is plain data, filled by read().
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        // SAFETY: info is a writable buffer of exactly `size` bytes.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), &mut info as *mut _ as *mut libc::c_void, size) };
        if n < 0 {
            let err = SysError::last("read(signalfd)");
            if err.errno() == libc::EAGAIN {
                return Ok(None);
            }
            return Err(err);
        }
        Ok((n as usize == size).then_some(info.ssi_signo as i32))
    }
}

impl SignalFd {
    /// Waits until `fd` takes a write without blocking, with the terminating
    /// signals unblocked for the wait only: ppoll swaps the signal mask
    /// atomically, so a signal already queued, or one arriving during the
    /// wait, ends it (and is then no longer queued for the signalfd). With a
    /// `deadline`, the wait ends there too.
    pub fn wait_writable(&self, fd: BorrowedFd<'_>, deadline: Option<Instant>) -> SysResult<Room> {
        loop {
            let mut poll = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLOUT, revents: 0 };
            let left = deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()));
            let timeout = left.map(|left| libc::timespec {
                // The field's own type (time_t, whose musl alias is deprecated):
                // the deadlines here are a second away at most.
                tv_sec: left.as_secs().min(i32::MAX as u64) as _,
                tv_nsec: left.subsec_nanos() as libc::c_long,
            });
            let timeout_ptr = timeout.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
            // SAFETY: one valid pollfd, a timeout that is null or points to a
            // timespec living across the call, and a valid mask that lives
            // across the call.
            let ret = unsafe { libc::ppoll(&mut poll, 1, timeout_ptr, &self.wait_mask) };
            if ret == 0 {
                return Ok(Room::TimedOut);
            }
            if ret > 0 {
                return Ok(Room::Ready);
            }
            let err = SysError::last("ppoll");
            if err.errno() != libc::EINTR {
                return Err(err);
            }
            match DELIVERED.swap(0, Ordering::SeqCst) {
                0 => continue, // another signal (SIGWINCH, SIGCHLD...)
                signal => return Ok(Room::Signal(signal)),
            }
        }
    }
}

impl AsFd for SignalFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
