//! What a run asks of the kernel side, decided from the command line: the
//! filters, the attach method, the modes, and the load-time constants they
//! become.

use crate::abi;
use crate::btf::Btf;
use crate::escape::escaped;
use std::collections::HashMap;
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

/// How to hook into the kernel (`--attach`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AttachMode {
    /// The tracepoint where the kernel has it (4.16+), kprobes otherwise.
    #[default]
    Auto,
    Kprobe,
    Tracepoint,
}

/// Where type information comes from (TCPCONNECT_BTF).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum BtfSource {
    /// /sys/kernel/btf/vmlinux.
    #[default]
    Vmlinux,
    /// TCPCONNECT_BTF=off: as on a kernel without BTF.
    Off,
    /// TCPCONNECT_BTF=/path: this file instead (e.g. a damaged copy).
    File(PathBuf),
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
}

impl Overrides {
    pub fn from_env() -> Overrides {
        let var = |name: &str| std::env::var_os(name).unwrap_or_default();
        let btf = match var("TCPCONNECT_BTF") {
            v if v.is_empty() => BtfSource::Vmlinux,
            v if v == "off" => BtfSource::Off,
            path => BtfSource::File(PathBuf::from(path)),
        };
        Overrides {
            legacy_kprobes: var("TCPCONNECT_KPROBE_API") == "legacy",
            btf,
            no_raw_tracepoint: var("TCPCONNECT_RAW_TRACEPOINT") == "off",
        }
    }

    /// The kernel's type information, or why there is none to use.
    pub fn load_btf(&self) -> Result<Btf, String> {
        match &self.btf {
            BtfSource::Vmlinux => Btf::load_vmlinux().map_err(|e| e.to_string()),
            BtfSource::Off => Err("disabled by TCPCONNECT_BTF=off".into()),
            BtfSource::File(path) => {
                let shown = escaped(&path.display().to_string()).into_owned();
                std::fs::read(path)
                    .map_err(|e| format!("{shown}: {e}"))
                    .and_then(|bytes| Btf::parse(&bytes).map_err(|e| format!("{e} (read from {shown})")))
            }
        }
    }
}

/// The kernel's BTF, read at most once per run: --mntnsmap and either
/// attach path may each need it.
pub(crate) struct LazyBtf {
    overrides: Overrides,
    btf: std::cell::OnceCell<Result<Btf, String>>,
}

impl LazyBtf {
    pub(crate) fn new(overrides: &Overrides) -> LazyBtf {
        LazyBtf { overrides: overrides.clone(), btf: std::cell::OnceCell::new() }
    }

    /// The BTF, or why there is none to use (the same answer every call).
    pub(crate) fn get(&self) -> Result<&Btf, String> {
        self.btf.get_or_init(|| self.overrides.load_btf()).as_ref().map_err(Clone::clone)
    }
}

/// Everything a run asks of the kernel side.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub filters: Filters,
    /// -c: count in the kernel instead of sending events.
    pub count: bool,
    /// -L: events must carry the local port.
    pub lport: bool,
    pub attach: AttachMode,
    pub overrides: Overrides,
}

/// Where -v messages go.
pub type Log<'a> = &'a dyn Fn(std::fmt::Arguments<'_>);

/// The values of the program's load-time constants for these filters.
pub fn filter_constants(filters: &Filters) -> HashMap<&'static str, u64> {
    HashMap::from([
        (abi::CONST_FILTER_PID, filters.pid.is_some() as u64),
        (abi::CONST_TARGET_PID, filters.pid.unwrap_or(0) as u64),
        (abi::CONST_FILTER_UID, filters.uid.is_some() as u64),
        (abi::CONST_TARGET_UID, filters.uid.unwrap_or(0) as u64),
        (abi::CONST_FILTER_PORTS, !filters.ports.is_empty() as u64),
        (abi::CONST_ONLY_IP, filters.family.unwrap_or(0) as u64),
        (abi::CONST_FILTER_CGROUP, filters.cgroup_map.is_some() as u64),
        (abi::CONST_FILTER_MNTNS, filters.mntns_map.is_some() as u64),
        // Set by the run when it needs them.
        (abi::CONST_COUNT_MODE, 0),
        (abi::CONST_LPORT_DEFER, 0),
        (abi::CONST_TASK_NSPROXY, 0),
        (abi::CONST_NSPROXY_MNT_NS, 0),
        (abi::CONST_MNT_NS_INUM, 0),
    ])
}
