//! The kernel's BTF for this run, from where the plan's overrides say
//! (/sys/kernel/btf/vmlinux, none, or a file), read at most once:
//! --mntnsmap, -d and either attach path may each need it.

use crate::btf::Btf;
use crate::escape::escaped;
use std::path::PathBuf;

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

/// The kernel's type information, or why there is none to use.
fn load(source: &BtfSource) -> Result<Btf, String> {
    match source {
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

/// The BTF of a run, loaded on first use.
pub(crate) struct LazyBtf {
    source: BtfSource,
    btf: std::cell::OnceCell<Result<Btf, String>>,
}

impl LazyBtf {
    pub(crate) fn new(source: &BtfSource) -> LazyBtf {
        LazyBtf { source: source.clone(), btf: std::cell::OnceCell::new() }
    }

    /// The BTF, or why there is none to use (the same answer every call).
    pub(crate) fn get(&self) -> Result<&Btf, String> {
        self.btf.get_or_init(|| load(&self.source)).as_ref().map_err(Clone::clone)
    }
}
