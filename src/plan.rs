//! What a run will do, decided once from the command line and the
//! environment: what the kernel keeps (the filters), how it hooks in (the
//! attach method), the modes, the columns, and the switches for testing.
//! Built in one place, [`Plan::from_options`]; the kernel side (`tracer`)
//! and the presentation read it, and neither is imported here but for the
//! columns the presentation defines.

pub use crate::cli::AttachMode;
use crate::cli::Options;
pub use crate::layout::btf_source::BtfSource;
use crate::present::text::Columns;
use crate::sys::process::secure_execution;
use std::path::PathBuf;

/// What the kernel keeps, decided from the command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    /// Only this process (tgid).
    pub pid: Option<u32>,
    pub uid: Option<u32>,
    /// Only these destination ports; empty means all.
    pub ports: Vec<u16>,
    /// Only IPv4 (4) or IPv6 (6).
    pub family: Option<u8>,
    /// Only tasks whose cgroup id / mount namespace is a key of the hash map
    /// pinned here.
    pub cgroup_map: Option<PathBuf>,
    pub mntns_map: Option<PathBuf>,
}

/// Switches for testing paths this kernel would not otherwise take, read
/// from the environment (documented in the man page, ENVIRONMENT).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    /// TCPCONNECT_KPROBE_API=legacy: tracefs kprobe_events even where the
    /// kprobe PMU exists.
    pub legacy_kprobes: bool,
    pub btf: BtfSource,
    /// TCPCONNECT_RAW_TRACEPOINT=off: the perf tracepoint event even where
    /// the raw tracepoint would do.
    pub no_raw_tracepoint: bool,
    /// TCPCONNECT_BTF_TRACEPOINT=off: the raw tracepoint program even where
    /// the BTF tracepoint program would load.
    pub no_btf_tracepoint: bool,
    /// TCPCONNECT_TRANSPORT=perf: events through the perf event arrays even
    /// where the kernel has the BPF ring buffer.
    pub perf_transport: bool,
    /// TCPCONNECT_DNS=packet: -d captures answers with a packet socket (this
    /// network namespace only) even where the kernel can read them.
    pub packet_dns: bool,
    /// TCPCONNECT_DNS=syscalls: -d takes answers as processes read them
    /// (syscall tracepoints) even where it could as they are delivered.
    pub syscall_dns: bool,
    /// The switches that were set but ignored: the process runs with
    /// privilege its caller does not have (AT_SECURE: setuid or file
    /// capabilities), and its caller must not steer what it does with it.
    pub ignored: Vec<&'static str>,
}

/// Every environment variable a run reads (the man page's ENVIRONMENT).
pub const SWITCHES: [&str; 6] = [
    "TCPCONNECT_BTF",
    "TCPCONNECT_BTF_TRACEPOINT",
    "TCPCONNECT_DNS",
    "TCPCONNECT_KPROBE_API",
    "TCPCONNECT_RAW_TRACEPOINT",
    "TCPCONNECT_TRANSPORT",
];

impl Overrides {
    /// The switches of this process's environment; none where it runs with
    /// privilege its caller does not have (`secure_execution`).
    pub fn from_env() -> Overrides {
        Overrides::from_vars(secure_execution(), |name| std::env::var_os(name))
    }

    /// The switches `var` gives; with `secure`, none, and the ones that
    /// were set are listed in `ignored`.
    pub fn from_vars(secure: bool, var: impl Fn(&str) -> Option<std::ffi::OsString>) -> Overrides {
        if secure {
            let ignored = SWITCHES.into_iter().filter(|name| var(name).is_some()).collect();
            return Overrides { ignored, ..Overrides::default() };
        }
        let var = |name: &str| var(name).unwrap_or_default();
        let btf = match var("TCPCONNECT_BTF") {
            v if v.is_empty() => BtfSource::Vmlinux,
            v if v == "off" => BtfSource::Off,
            path => BtfSource::File(PathBuf::from(path)),
        };
        Overrides {
            legacy_kprobes: var("TCPCONNECT_KPROBE_API") == "legacy",
            btf,
            no_raw_tracepoint: var("TCPCONNECT_RAW_TRACEPOINT") == "off",
            no_btf_tracepoint: var("TCPCONNECT_BTF_TRACEPOINT") == "off",
            perf_transport: var("TCPCONNECT_TRANSPORT") == "perf",
            packet_dns: var("TCPCONNECT_DNS") == "packet",
            syscall_dns: var("TCPCONNECT_DNS") == "syscalls",
            ignored: Vec::new(),
        }
    }
}

/// Everything a run will do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub filters: Filters,
    /// -c: count in the kernel instead of sending events.
    pub count: bool,
    /// -L: events must carry the local port.
    pub lport: bool,
    /// -L on the tracepoint path: each event waits for connect(2) to return
    /// (the local port is chosen then), and with --result goes out when its
    /// socket leaves SYN_SENT, with the port. Not with -c, whose key has no
    /// port; the kprobe path never waits: its return probe reads the port.
    pub lport_defer: bool,
    /// -d: name each destination by the DNS answer it came from.
    pub dns: bool,
    /// --result (or --failed): each connect is sent when its handshake ends.
    pub result: bool,
    /// --failed: only the outcomes that are not OK.
    pub failed: bool,
    pub attach: AttachMode,
    pub overrides: Overrides,
    /// What each printed line holds.
    pub columns: Columns,
    /// -v: say on stderr how tracing was set up.
    pub verbose: bool,
    /// --ring-size: the BPF ring buffer's size in KiB (None: the default).
    pub ring_kib: Option<u32>,
}

impl Plan {
    /// The plan for these options, with the test switches `overrides`
    /// (`Overrides::from_env()` in a real run).
    pub fn from_options(options: &Options, overrides: Overrides) -> Plan {
        Plan {
            filters: Filters {
                pid: options.pid,
                uid: options.uid,
                ports: options.ports.clone(),
                family: options.family,
                cgroup_map: options.cgroupmap.clone(),
                mntns_map: options.mntnsmap.clone(),
            },
            count: options.count,
            lport: options.lport,
            lport_defer: options.lport && !options.count,
            dns: options.dns,
            result: options.result || options.failed,
            failed: options.failed,
            attach: options.attach,
            overrides,
            columns: Columns {
                timestamp: options.timestamp,
                print_uid: options.print_uid,
                lport: options.lport,
                result: options.result || options.failed,
                query: options.dns,
                json: options.json,
                ppid: options.ppid,
                container: options.container,
            },
            verbose: options.verbose,
            ring_kib: options.ring_size_kib,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| OsString::from(v))
    }

    #[test]
    fn the_switches_steer_a_plain_run() {
        let vars =
            [("TCPCONNECT_BTF", "/tmp/x"), ("TCPCONNECT_DNS", "packet"), ("TCPCONNECT_TRANSPORT", "perf")];
        let overrides = Overrides::from_vars(false, env(&vars));
        assert_eq!(overrides.btf, BtfSource::File(PathBuf::from("/tmp/x")));
        assert!(overrides.packet_dns && overrides.perf_transport && overrides.ignored.is_empty());
    }

    #[test]
    fn a_run_with_privilege_its_caller_lacks_takes_none_and_names_them() {
        let vars = [("TCPCONNECT_BTF", "/tmp/x"), ("TCPCONNECT_KPROBE_API", "legacy"), ("HOME", "/")];
        let overrides = Overrides::from_vars(true, env(&vars));
        assert_eq!(
            overrides,
            Overrides { ignored: vec!["TCPCONNECT_BTF", "TCPCONNECT_KPROBE_API"], ..Overrides::default() }
        );
    }
}
