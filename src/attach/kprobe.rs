//! Kprobes and kretprobes, two ways: the kprobe PMU (4.17+: perf_event_open
//! names the function, nothing is written to tracefs and the kernel removes
//! the probe when the fd closes), and legacy tracefs `kprobe_events` entries
//! for older kernels (see `tracefs::kprobe_events`).

use super::PerfLink;
use crate::escape::escaped;
use crate::sys::perf_event::{perf_event_open, PerfEventSpec};
use crate::sys::SysError;
use crate::tracefs::kprobe_events::{LegacyKprobe, ProbeKind};
use crate::tracefs::{Tracefs, TracefsError};
use crate::uapi::PERF_TYPE_TRACEPOINT;
use std::ffi::CString;
use std::fmt;
use std::os::fd::BorrowedFd;

const PMU_DIR: &str = "/sys/bus/event_source/devices/kprobe";

/// How this kernel lets us create kprobes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KprobeApi {
    /// perf_event_open with the kprobe PMU's dynamic type; a kretprobe sets
    /// bit `retprobe_bit` of config.
    Pmu { pmu_type: u32, retprobe_bit: u32 },
    /// Entries written to tracefs kprobe_events.
    Legacy,
}

impl KprobeApi {
    /// The PMU when the kernel has it (and `allow_pmu`), else legacy kprobe
    /// events when tracefs has them, else None: no kprobe support.
    pub fn detect(tracefs: &Tracefs, allow_pmu: bool) -> Option<KprobeApi> {
        if allow_pmu {
            if let Some(api) = read_pmu() {
                return Some(api);
            }
        }
        tracefs.has_kprobe_events().then_some(KprobeApi::Legacy)
    }

    pub fn describe(&self) -> &'static str {
        match self {
            KprobeApi::Pmu { .. } => "kprobe PMU",
            KprobeApi::Legacy => "tracefs kprobe_events",
        }
    }
}

/// type and format/retprobe ("config:0") of the kprobe PMU.
fn read_pmu() -> Option<KprobeApi> {
    let read = |name: &str| std::fs::read_to_string(format!("{PMU_DIR}/{name}")).ok();
    let pmu_type = read("type")?.trim().parse().ok()?;
    let retprobe_bit = parse_config_bit(&read("format/retprobe")?)?;
    Some(KprobeApi::Pmu { pmu_type, retprobe_bit })
}

/// "config:0" → 0.
fn parse_config_bit(format: &str) -> Option<u32> {
    format.trim().strip_prefix("config:")?.parse().ok().filter(|&bit| bit < 64)
}

#[derive(Debug)]
pub enum KprobeError {
    Tracefs(TracefsError),
    Open { symbol: String, error: SysError },
    Attach { symbol: String, error: SysError },
}

impl fmt::Display for KprobeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KprobeError::Tracefs(e) => write!(f, "{e}"),
            KprobeError::Open { symbol, error } => {
                write!(f, "cannot create a kprobe on {}: {error}", escaped(symbol))
            }
            KprobeError::Attach { symbol, error } => {
                write!(f, "cannot attach the BPF program to the kprobe on {}: {error}", escaped(symbol))
            }
        }
    }
}

impl std::error::Error for KprobeError {}

impl KprobeError {
    pub fn sys_error(&self) -> Option<&SysError> {
        match self {
            KprobeError::Open { error, .. } | KprobeError::Attach { error, .. } => Some(error),
            KprobeError::Tracefs(_) => None,
        }
    }
}

/// A program attached to a kprobe. Fields drop in order: the perf event is
/// disabled and closed before the legacy probe entry is removed (the kernel
/// refuses to remove a probe that is in use).
pub struct KprobeLink {
    _link: PerfLink,
    legacy: Option<LegacyKprobe>,
}

impl KprobeLink {
    /// The tracefs entry behind a legacy probe.
    pub fn legacy_probe(&self) -> Option<&LegacyKprobe> {
        self.legacy.as_ref()
    }
}

/// Attaches `prog` to a kprobe or kretprobe on `symbol`. `pid` names legacy
/// probes; one event on one CPU runs the program on every CPU.
pub fn attach_kprobe(
    api: KprobeApi,
    tracefs: &Tracefs,
    kind: ProbeKind,
    symbol: &str,
    pid: u32,
    prog: BorrowedFd<'_>,
    online_cpu: u32,
) -> Result<KprobeLink, KprobeError> {
    let open_error = |error| KprobeError::Open { symbol: symbol.to_owned(), error };
    let (event, legacy) = match api {
        KprobeApi::Pmu { pmu_type, retprobe_bit } => {
            let func = CString::new(symbol).map_err(|_| {
                open_error(SysError {
                    call: "perf_event_open",
                    error: std::io::ErrorKind::InvalidInput.into(),
                })
            })?;
            let retprobe = matches!(kind, ProbeKind::Return { .. });
            let event = perf_event_open(&PerfEventSpec {
                type_: pmu_type,
                config: (retprobe as u64) << retprobe_bit,
                probe_func: Some(&func),
                config2: 0,
                cpu: online_cpu as i32,
                wakeup_events: 1,
                wakeup_watermark: false,
            })
            .map_err(open_error)?;
            (event, None)
        }
        KprobeApi::Legacy => {
            let probe = tracefs.add_kprobe(kind, pid, symbol).map_err(KprobeError::Tracefs)?;
            let event = perf_event_open(&PerfEventSpec {
                type_: PERF_TYPE_TRACEPOINT,
                config: probe.id(),
                probe_func: None,
                config2: 0,
                cpu: online_cpu as i32,
                wakeup_events: 1,
                wakeup_watermark: false,
            })
            .map_err(open_error)?;
            (event, Some(probe))
        }
    };
    let link = PerfLink::new(event, prog)
        .map_err(|error| KprobeError::Attach { symbol: symbol.to_owned(), error })?;
    Ok(KprobeLink { _link: link, legacy })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retprobe_bit_format() {
        assert_eq!(parse_config_bit("config:0\n"), Some(0));
        assert_eq!(parse_config_bit("config:63"), Some(63));
        assert_eq!(parse_config_bit("config:64"), None);
        assert_eq!(parse_config_bit("config1:0"), None);
        assert_eq!(parse_config_bit(""), None);
    }
}
