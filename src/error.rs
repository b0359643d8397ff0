//! The errors a run can end with, worded for the sysadmin reading them. Each
//! layer keeps its own error type; this one says what we were doing.

use crate::attach::kprobe::KprobeError;
use crate::cpus::CpuListError;
use crate::loader::elf::ElfError;
use crate::loader::LinkError;
use crate::pinned_map::PinnedMapError;
use crate::sys::bpf::ProgLoadError;
use crate::sys::SysError;
use crate::tracefs::TracefsError;
use std::fmt;

#[derive(Debug)]
pub enum Error {
    Object(ElfError),
    Link {
        program: String,
        error: LinkError,
    },
    CpuList(CpuListError),
    Tracefs(TracefsError),
    /// The tracepoint does not exist; `since` says which kernels have it.
    NoTracepoint {
        tracepoint: String,
        since: &'static str,
    },
    /// A field the program needs is not in the tracepoint's format.
    MissingField {
        tracepoint: String,
        field: &'static str,
    },
    /// A kernel call failed while doing `action` ("create map events").
    Kernel {
        action: String,
        error: SysError,
    },
    ProgLoad {
        program: String,
        error: ProgLoadError,
    },
    Output(std::io::Error),
    /// `--attach auto` found neither way in.
    NoAttachMethod {
        tracepoint: Box<Error>,
        kprobe: Box<Error>,
    },
    /// Kernel lockdown forbids tracing.
    Lockdown {
        mode: String,
    },
    /// Neither the kprobe PMU nor tracefs kprobe_events.
    NoKprobes,
    Kallsyms {
        path: &'static str,
        error: std::io::Error,
    },
    /// The function is not in kallsyms (not built in, or renamed).
    NotTraceable {
        function: &'static str,
    },
    /// The IPv6 addresses in struct sock could not be located.
    SockOffsets {
        btf: String,
        calibration: String,
    },
    Kprobe(KprobeError),
    PinnedMap(PinnedMapError),
    /// -d: the DNS capture socket failed.
    Dns {
        error: SysError,
    },
    /// An option that needs kernel struct offsets only BTF can give.
    NeedsBtf {
        option: &'static str,
        reason: String,
    },
}

/// The one line every permission failure ends in.
const NEEDS_PRIVILEGE: &str = "needs root (or CAP_BPF and CAP_PERFMON, plus CAP_SYS_ADMIN before Linux 5.8)";

impl Error {
    pub fn kernel(action: impl Into<String>) -> impl FnOnce(SysError) -> Error {
        let action = action.into();
        move |error| Error::Kernel { action, error }
    }

    /// Whether this failure is for want of a privilege (the messages that
    /// start with NEEDS_PRIVILEGE): another attach method would need the same.
    pub fn needs_privilege(&self) -> bool {
        match self {
            Error::Tracefs(TracefsError::Unavailable { mount_error, .. }) => mount_error.is_permission(),
            Error::Tracefs(TracefsError::Read { error, .. }) => {
                error.kind() == std::io::ErrorKind::PermissionDenied
            }
            Error::Kernel { error, .. } => error.is_permission(),
            Error::ProgLoad { error, .. } => error.error.is_permission() && error.verifier_log.is_empty(),
            Error::Kprobe(e) => e.sys_error().is_some_and(SysError::is_permission),
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Object(e) => write!(f, "{e}"),
            Error::Link { program, error } => {
                write!(f, "cannot prepare BPF program {program}: {error}")
            }
            Error::CpuList(e) => write!(f, "{e}"),
            Error::Tracefs(TracefsError::Unavailable { mount_error, .. }) if mount_error.is_permission() => {
                write!(f, "{NEEDS_PRIVILEGE}: tracefs is not mounted and mounting it needs CAP_SYS_ADMIN ({mount_error})")
            }
            Error::Tracefs(e @ TracefsError::Read { error, .. })
                if error.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                write!(f, "{NEEDS_PRIVILEGE}: {e} (tracefs is root's: another user needs CAP_DAC_READ_SEARCH)")
            }
            Error::Tracefs(e) => write!(f, "{e}"),
            Error::NoTracepoint { tracepoint, since } => {
                write!(f, "this kernel has no tracepoint {tracepoint} ({since})")
            }
            Error::MissingField { tracepoint, field } => {
                write!(
                    f,
                    "tracepoint {tracepoint} has no field {field:?} on this kernel; cannot trace through it"
                )
            }
            Error::Kernel { action, error } if error.is_permission() => {
                write!(f, "{NEEDS_PRIVILEGE}: cannot {action}: {error}")
            }
            Error::Kernel { action, error }
                if error.errno() == libc::ENOSYS && error.call.starts_with("bpf") =>
            {
                write!(f, "this kernel has no BPF support (bpf(2) is not implemented): cannot {action}")
            }
            Error::Kernel { action, error } => write!(f, "cannot {action}: {error}"),
            Error::ProgLoad { program, error }
                if error.error.is_permission() && error.verifier_log.is_empty() =>
            {
                write!(f, "{NEEDS_PRIVILEGE}: cannot load BPF program {program}: {}", error.error)
            }
            Error::ProgLoad { program, error } => {
                write!(f, "the kernel rejected BPF program {program}: {}", error.error)?;
                if !error.verifier_log.trim().is_empty() {
                    // The log's tail names the failing instruction and reason.
                    let lines: Vec<&str> = error.verifier_log.trim_end().lines().collect();
                    let tail = &lines[lines.len().saturating_sub(20)..];
                    write!(f, "\nverifier log (last {} lines):\n{}", tail.len(), tail.join("\n"))?;
                }
                Ok(())
            }
            Error::Output(e) => write!(f, "cannot write output: {e}"),
            Error::NoAttachMethod { tracepoint, kprobe } => {
                write!(f, "no way to trace connects on this kernel: {tracepoint}, and kprobes are unusable: {kprobe}")
            }
            Error::Lockdown { mode } => write!(
                f,
                "kernel lockdown is in {mode} mode (/sys/kernel/security/lockdown): tracefs, kprobes and BPF reads of kernel memory are forbidden"
            ),
            Error::NoKprobes => write!(
                f,
                "this kernel has no kprobe support (no /sys/bus/event_source/devices/kprobe and no tracefs kprobe_events; CONFIG_KPROBES or CONFIG_KPROBE_EVENTS is off)"
            ),
            Error::Kallsyms { path, error } => write!(f, "cannot read {path}: {error}"),
            Error::NotTraceable { function } => write!(
                f,
                "cannot put a kprobe on {function}: it is not in /proc/kallsyms, under its name or a compiler-suffixed one"
            ),
            Error::SockOffsets { btf, calibration } => write!(
                f,
                "cannot find the IPv6 addresses in struct sock: no usable BTF ({btf}) and calibration failed ({calibration})"
            ),
            Error::Kprobe(e) if e.sys_error().is_some_and(SysError::is_permission) => {
                write!(f, "{NEEDS_PRIVILEGE}: {e}")
            }
            Error::Kprobe(e) => write!(f, "{e}"),
            Error::PinnedMap(e) => write!(f, "{e}"),
            Error::Dns { error } if error.is_permission() => {
                write!(f, "-d/--dns needs CAP_NET_RAW to capture DNS answers: {error}")
            }
            Error::Dns { error } => write!(f, "-d/--dns: cannot capture DNS answers: {error}"),
            Error::NeedsBtf { option, reason } => write!(
                f,
                "{option} needs the kernel's BTF type information to find the mount namespace of a task: {reason}"
            ),
        }
    }
}

impl std::error::Error for Error {}

impl From<TracefsError> for Error {
    fn from(e: TracefsError) -> Error {
        Error::Tracefs(e)
    }
}

impl From<CpuListError> for Error {
    fn from(e: CpuListError) -> Error {
        Error::CpuList(e)
    }
}

impl From<ElfError> for Error {
    fn from(e: ElfError) -> Error {
        Error::Object(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel_error(call: &'static str, errno: i32) -> Error {
        Error::kernel("create BPF map events")(SysError {
            call,
            error: std::io::Error::from_raw_os_error(errno),
        })
    }

    #[test]
    fn missing_bpf_is_named_not_blamed_on_memlock() {
        assert_eq!(
            kernel_error("bpf(BPF_MAP_CREATE)", libc::ENOSYS).to_string(),
            "this kernel has no BPF support (bpf(2) is not implemented): cannot create BPF map events"
        );
        assert!(kernel_error("bpf(BPF_MAP_CREATE)", libc::EPERM).to_string().starts_with(NEEDS_PRIVILEGE));
    }

    #[test]
    fn no_attach_method_names_both_causes() {
        let e = Error::NoAttachMethod {
            tracepoint: Box::new(Error::NoTracepoint {
                tracepoint: "sock:inet_sock_set_state".into(),
                since: "it appeared in Linux 4.16",
            }),
            kprobe: Box::new(Error::NotTraceable { function: "tcp_v4_connect" }),
        };
        assert_eq!(
            e.to_string(),
            "no way to trace connects on this kernel: this kernel has no tracepoint sock:inet_sock_set_state \
             (it appeared in Linux 4.16), and kprobes are unusable: cannot put a kprobe on tcp_v4_connect: it is \
             not in /proc/kallsyms, under its name or a compiler-suffixed one"
        );
    }
}
