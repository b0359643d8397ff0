//! Legacy kprobes: the text protocol of tracefs `kprobe_events`, for kernels
//! without the kprobe PMU (before 4.17). Probes we create are named after our
//! PID so that concurrent runs never collide and a killed run's leftovers can
//! be recognised and swept; each is a guard that removes its entry on Drop.

use super::{Tracefs, TracefsError};
use std::io::{self, Write};
use std::path::PathBuf;

/// The tracefs event group of every probe we create.
pub const GROUP: &str = "tcpconnect";

/// Longest event name tracefs accepts (MAX_EVENT_NAME_LEN is 64 with the NUL).
const MAX_EVENT_NAME: usize = 63;

/// Entry probe or return probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeKind {
    Entry,
    /// With the number of return instances to preallocate (`r<N>:`, 4.12+);
    /// None leaves the kernel's default.
    Return {
        maxactive: Option<u32>,
    },
}

/// `p<pid>_<symbol>` or `r<pid>_<symbol>`: the unique part first (a long
/// symbol is cut at the end, never the PID), only [A-Za-z0-9_].
pub fn event_name(kind: ProbeKind, pid: u32, symbol: &str) -> String {
    let prefix = match kind {
        ProbeKind::Entry => 'p',
        ProbeKind::Return { .. } => 'r',
    };
    let mut name = format!("{prefix}{pid}_");
    name.extend(symbol.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }));
    name.truncate(MAX_EVENT_NAME);
    name
}

/// The line that creates the probe.
fn definition(kind: ProbeKind, name: &str, symbol: &str) -> String {
    match kind {
        ProbeKind::Entry => format!("p:{GROUP}/{name} {symbol}"),
        ProbeKind::Return { maxactive: Some(n) } => format!("r{n}:{GROUP}/{name} {symbol}"),
        ProbeKind::Return { maxactive: None } => format!("r:{GROUP}/{name} {symbol}"),
    }
}

/// Our probes listed in `kprobe_events` text, with the PID in their name:
/// lines like `r128:tcpconnect/r4242_tcp_v4_connect tcp_v4_connect`.
pub fn our_probes(kprobe_events: &str) -> Vec<(String, u32)> {
    kprobe_events
        .lines()
        .filter_map(|line| {
            let (_, rest) = line.split_once(':')?;
            let (group, rest) = rest.split_once('/')?;
            if group != GROUP {
                return None;
            }
            let name = rest.split_ascii_whitespace().next()?;
            let digits = name.get(1..)?.split('_').next()?;
            let pid = digits.parse().ok()?;
            Some((name.to_owned(), pid))
        })
        .collect()
}

/// nmissed of probe `name` in `kprobe_profile` text
/// ("  r4242_tcp_v4_connect     12     0"; some kernels print group/name).
pub fn nmissed(kprobe_profile: &str, name: &str) -> Option<u64> {
    kprobe_profile.lines().find_map(|line| {
        let mut fields = line.split_ascii_whitespace();
        let event = fields.next()?;
        let event = event.strip_prefix(&format!("{GROUP}/")).unwrap_or(event);
        if event != name {
            return None;
        }
        fields.nth(1)?.parse().ok()
    })
}

/// A probe of ours in `kprobe_events`; removed when dropped. Close the perf
/// event on it first: the kernel refuses (EBUSY) to remove a probe in use.
#[derive(Debug)]
pub struct LegacyKprobe {
    events_file: PathBuf,
    name: String,
    id: u64,
}

impl LegacyKprobe {
    /// The perf event id to open it with (PERF_TYPE_TRACEPOINT).
    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// What a sweep of stale probes did.
#[derive(Debug, Default)]
pub struct Swept {
    /// The probes removed.
    pub removed: Vec<String>,
    /// The probes the kernel would not remove, and why.
    pub kept: Vec<(String, io::Error)>,
}

impl Drop for LegacyKprobe {
    fn drop(&mut self) {
        // Nothing to do on failure; the next run sweeps what stays.
        let _ = append_line(&self.events_file, &format!("-:{GROUP}/{}", self.name));
    }
}

/// One write(2) per line: tracefs parses each write as a command.
fn append_line(path: &PathBuf, line: &str) -> io::Result<()> {
    let mut file = std::fs::OpenOptions::new().append(true).open(path)?;
    file.write_all(format!("{line}\n").as_bytes())
}

impl Tracefs {
    fn kprobe_events_file(&self) -> PathBuf {
        self.root.join("kprobe_events")
    }

    /// True when this kernel has legacy kprobe events (CONFIG_KPROBE_EVENTS).
    pub fn has_kprobe_events(&self) -> bool {
        self.kprobe_events_file().is_file()
    }

    /// Creates a probe on `symbol` named after `pid`, and reads its id.
    pub fn add_kprobe(&self, kind: ProbeKind, pid: u32, symbol: &str) -> Result<LegacyKprobe, TracefsError> {
        let events_file = self.kprobe_events_file();
        let name = event_name(kind, pid, symbol);
        let write_error = |error| TracefsError::Write {
            path: events_file.clone(),
            line: definition(kind, &name, symbol),
            error,
        };
        // Before 4.x returned EEXIST, a duplicate name was silently accepted
        // or replaced: a leftover of an earlier process with our PID must go
        // first. Removing one that does not exist fails; that is fine.
        if self.event_dir(GROUP, &name).join("id").exists() {
            let _ = append_line(&events_file, &format!("-:{GROUP}/{name}"));
        }
        append_line(&events_file, &definition(kind, &name, symbol)).map_err(write_error)?;
        // From here the guard owns the entry, so an error below removes it.
        let mut probe = LegacyKprobe { events_file: events_file.clone(), name, id: 0 };
        probe.id = self.tracepoint_id(GROUP, &probe.name)?;
        Ok(probe)
    }

    /// Removes our probes whose process is gone (a run killed by SIGKILL
    /// cannot clean up); returns their names.
    ///
    /// Best effort: a probe the kernel will not remove stays, and is named
    /// in `Swept::kept` with why. It is in use (EBUSY) when its run lives
    /// in another PID namespace, where its PID means another process or
    /// none; the kernel's refusal is then the right answer.
    pub fn sweep_stale_kprobes(&self, alive: impl Fn(u32) -> bool) -> Result<Swept, TracefsError> {
        let events_file = self.kprobe_events_file();
        let text = std::fs::read_to_string(&events_file)
            .map_err(|error| TracefsError::Read { path: events_file.clone(), error })?;
        let mut swept = Swept::default();
        for (name, pid) in our_probes(&text) {
            if alive(pid) {
                continue;
            }
            match append_line(&events_file, &format!("-:{GROUP}/{name}")) {
                Ok(()) => swept.removed.push(name),
                Err(error) => swept.kept.push((name, error)),
            }
        }
        Ok(swept)
    }

    /// Hits of a probe of ours the kernel skipped, from `kprobe_profile`: it
    /// fired while a kprobe handler ran on that CPU (or, on kernels since
    /// late 2021, a kretprobe had no free instance).
    pub fn kprobe_nmissed(&self, probe: &LegacyKprobe) -> Option<u64> {
        let text = std::fs::read_to_string(self.root.join("kprobe_profile")).ok()?;
        nmissed(&text, &probe.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_first_and_clean() {
        assert_eq!(event_name(ProbeKind::Entry, 42, "tcp_v4_connect"), "p42_tcp_v4_connect");
        let ret = ProbeKind::Return { maxactive: Some(128) };
        assert_eq!(event_name(ret, 7, "tcp_v6_connect.isra.0"), "r7_tcp_v6_connect_isra_0");
        let long = event_name(ProbeKind::Entry, 4_000_000, &"x".repeat(100));
        assert_eq!(long.len(), 63);
        assert!(long.starts_with("p4000000_x"));
        assert_eq!(definition(ret, "r7_f", "f"), "r128:tcpconnect/r7_f f");
        assert_eq!(definition(ProbeKind::Return { maxactive: None }, "r7_f", "f"), "r:tcpconnect/r7_f f");
        assert_eq!(definition(ProbeKind::Entry, "p7_f", "f.isra.0"), "p:tcpconnect/p7_f f.isra.0");
    }

    #[test]
    fn our_probes_are_found_and_others_left_alone() {
        let text = "p:tcpconnect/p42_tcp_v4_connect tcp_v4_connect\n\
                    r128:tcpconnect/r42_tcp_v4_connect tcp_v4_connect\n\
                    p:kprobes/p_tcp_v4_connect_bcc_42 tcp_v4_connect\n\
                    p:tcpconnect/weird tcp_v4_connect\n\
                    garbage\n";
        assert_eq!(
            our_probes(text),
            vec![("p42_tcp_v4_connect".to_owned(), 42), ("r42_tcp_v4_connect".to_owned(), 42)]
        );
    }

    #[test]
    fn nmissed_is_read_with_or_without_the_group() {
        let text = "  r42_tcp_v4_connect                              17               3\n\
                    tcpconnect/r42_tcp_v6_connect 5 0\n";
        assert_eq!(nmissed(text, "r42_tcp_v4_connect"), Some(3));
        assert_eq!(nmissed(text, "r42_tcp_v6_connect"), Some(0));
        assert_eq!(nmissed(text, "r43_tcp_v6_connect"), None);
    }
}
