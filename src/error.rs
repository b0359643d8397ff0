//! The errors a run can end with, worded for the sysadmin reading them. Each
//! layer keeps its own error type; this one says what we were doing.

use crate::attach::kprobe::KprobeError;
use crate::escape::escaped;
use crate::host::cpus::CpuListError;
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
    /// The verifier does not know a helper an option (or, `tcpconnect`, the
    /// tool itself) needs: an older kernel.
    MissingHelper {
        option: &'static str,
        helper: &'static str,
        since: &'static str,
    },
    Output(std::io::Error),
    /// `--attach auto` found neither way in.
    NoAttachMethod {
        tracepoint: Box<Error>,
        kprobe: Box<Error>,
    },
    /// RLIMIT_MEMLOCK could not be raised on a kernel that charges BPF
    /// memory to it (before 5.11).
    MemlockLimit {
        error: SysError,
    },
    /// Kernel lockdown forbids tracing.
    Lockdown {
        mode: String,
    },
    /// Neither the kprobe PMU nor tracefs kprobe_events.
    NoKprobes,
    /// -6 where the kernel has no IPv6 (not built in, or disabled at boot).
    NoIpv6,
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
    /// --result: sk_err in struct sock could not be located.
    SkErrOffset {
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
        /// What BTF would have located, e.g. "the error of a failed connect".
        what: &'static str,
        reason: String,
    },
    /// --container: no cgroup hierarchy is mounted at its root here.
    NoCgroupHierarchy,
}

/// The one line every permission failure ends in.
const NEEDS_PRIVILEGE: &str = "needs root (or CAP_BPF and CAP_PERFMON, plus CAP_SYS_ADMIN where the kernel lacks them, as upstream did before 5.8)";

impl Error {
    pub fn kernel(action: impl Into<String>) -> impl FnOnce(SysError) -> Error {
        let action = action.into();
        move |error| Error::Kernel { action, error }
    }

    /// A refused program load; a helper the verifier does not know ("invalid
    /// func unknown#80" since 4.14, "invalid func 80" before, "unknown func"
    /// where the program type may not call it) is named with its option.
    pub fn prog_load(program: &str, error: ProgLoadError) -> Error {
        let unknown_helper = error
            .verifier_log
            .lines()
            .filter_map(|line| {
                line.strip_prefix("invalid func ").or_else(|| line.strip_prefix("unknown func "))
            })
            .filter_map(|rest| rest.rsplit(['#', ' ']).next()?.trim().parse::<i32>().ok())
            .next_back();
        let is_unknown = |helper: &crate::uapi::Helper| Some(helper.id) == unknown_helper;
        let optional = crate::abi::OPTIONAL_HELPERS.iter().find(|(helper, _)| is_unknown(helper));
        let newer = crate::abi::NEWER_HELPERS.iter().find(|(helper, _)| is_unknown(helper));
        let needed = crate::abi::HELPERS.iter().find(|helper| is_unknown(helper));
        match (optional.or(newer), needed) {
            (Some(&(helper, option)), _) => {
                Error::MissingHelper { option, helper: helper.name, since: helper.since }
            }
            (None, Some(helper)) => {
                Error::MissingHelper { option: "tcpconnect", helper: helper.name, since: helper.since }
            }
            (None, None) => Error::ProgLoad { program: program.to_owned(), error },
        }
    }

    /// The message's first line, for a -v line: the rest (a verifier log)
    /// would make it a page.
    pub fn first_line(&self) -> String {
        self.to_string().lines().next().unwrap_or_default().to_owned()
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
                    "tracepoint {tracepoint} has no field \"{}\" on this kernel; cannot trace through it", escaped(field)
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
            Error::MissingHelper { option, helper, since } => write!(
                f,
                "{option} needs the BPF helper {helper}, which this kernel does not have (upstream Linux added it in {since})"
            ),
            Error::Output(e) => write!(f, "cannot write output: {e}"),
            Error::NoAttachMethod { tracepoint, kprobe } => {
                write!(f, "no way to trace connects on this kernel: {tracepoint}, and kprobes are unusable: {kprobe}")
            }
            Error::MemlockLimit { error } => write!(
                f,
                "cannot raise RLIMIT_MEMLOCK, which this kernel charges BPF maps to, as upstream did before 5.11 ({error}): \
                 raising its hard limit needs root or CAP_SYS_RESOURCE, or raise it before starting \
                 (ulimit -H -l unlimited)"
            ),
            Error::Lockdown { mode } => write!(
                f,
                "kernel lockdown is in {mode} mode (/sys/kernel/security/lockdown): tracefs, kprobes and BPF reads of kernel memory are forbidden"
            ),
            Error::NoIpv6 => write!(
                f,
                "-6 traces only IPv6 connects, and this kernel has no IPv6 (no /proc/net/if_inet6: built without CONFIG_IPV6, or booted with ipv6.disable=1)"
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
            Error::SkErrOffset { btf, calibration } => write!(
                f,
                "--result cannot find the error of a failed connect (sk_err) in struct sock: no usable BTF \
                 ({btf}) and calibration failed ({calibration})"
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
            Error::NeedsBtf { option, what, reason } => {
                write!(f, "{option} needs the kernel's BTF type information to find {what}: {reason}")
            }
            Error::NoCgroupHierarchy => write!(
                f,
                "--container needs a cgroup hierarchy mounted at its root (cgroup v1 or v2; /proc/self/mountinfo shows none)"
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

    fn refused(log: &str) -> Error {
        let error = ProgLoadError {
            error: SysError {
                call: "bpf(BPF_PROG_LOAD)",
                error: std::io::Error::from_raw_os_error(libc::EINVAL),
            },
            verifier_log: log.into(),
        };
        Error::prog_load("kprobe/tcp_connect_entry", error)
    }

    #[test]
    fn a_helper_the_kernel_lacks_is_named_with_its_option() {
        // 4.14's wording, 4.9's, and an unknown func for this program type.
        let cgroup =
            "--cgroupmap needs the BPF helper bpf_get_current_cgroup_id, which this kernel does not have \
                      (upstream Linux added it in 4.18)";
        for log in
            ["0: (85) call unknown#80\ninvalid func unknown#80\n", "0: (85) call 80\ninvalid func 80\n"]
        {
            assert_eq!(refused(log).to_string(), cgroup, "{log}");
        }
        assert_eq!(
            refused("12: (85) call bpf_get_current_task#35\nunknown func bpf_get_current_task#35\n").to_string(),
            "--mntnsmap needs the BPF helper bpf_get_current_task, which this kernel does not have (upstream Linux added it \
             in 4.8)"
        );
        // One the tool always needs: the kernel is older than any we run on.
        assert_eq!(
            refused("invalid func 25\n").to_string(),
            "tcpconnect needs the BPF helper bpf_perf_event_output, which this kernel does not have (upstream Linux added it \
             in 4.4)"
        );
        // Anything else keeps the verifier's own words.
        let other = refused("invalid func unknown#99\n").to_string();
        assert!(other.starts_with("the kernel rejected BPF program kprobe/tcp_connect_entry: "), "{other}");
        assert!(other.ends_with("invalid func unknown#99"), "{other}");
    }

    #[test]
    fn no_attach_method_names_both_causes() {
        let e = Error::NoAttachMethod {
            tracepoint: Box::new(Error::NoTracepoint {
                tracepoint: "sock:inet_sock_set_state".into(),
                since: "upstream Linux added it in 4.16",
            }),
            kprobe: Box::new(Error::NotTraceable { function: "tcp_v4_connect" }),
        };
        assert_eq!(
            e.to_string(),
            "no way to trace connects on this kernel: this kernel has no tracepoint sock:inet_sock_set_state \
             (upstream Linux added it in 4.16), and kprobes are unusable: cannot put a kprobe on tcp_v4_connect: it is \
             not in /proc/kallsyms, under its name or a compiler-suffixed one"
        );
    }
}
