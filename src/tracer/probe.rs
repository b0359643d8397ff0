//! The real [`Probe`]: what the choice of the way in reads from this
//! kernel, through tracefs, sysfs, /proc and BTF.

use super::choice::{Probe, IF_INET6};
use crate::abi;
use crate::attach::kprobe::KprobeApi;
use crate::error::Error;
use crate::host::kallsyms::{find_functions, KALLSYMS};
use crate::layout::btf_source::LazyBtf;
use crate::layout::socket::{self, SockOffsets, SocketLayout};
use crate::layout::task::{self, BtfTracepoint};
use crate::tracefs::kprobe_events::Swept;
use crate::tracefs::{Tracefs, TracefsError};
use std::path::Path;

pub(super) struct HostProbe<'h> {
    tracefs: &'h Tracefs,
    btf: &'h LazyBtf,
}

impl<'h> HostProbe<'h> {
    pub(super) fn new(tracefs: &'h Tracefs, btf: &'h LazyBtf) -> HostProbe<'h> {
        HostProbe { tracefs, btf }
    }
}

impl Probe for HostProbe<'_> {
    fn state_tracepoint(&self) -> Result<Option<u64>, Error> {
        let (category, name) = abi::STATE_TRACEPOINT;
        match self.tracefs.tracepoint_id(category, name) {
            Ok(id) => Ok(Some(id)),
            Err(TracefsError::NoTracepoint { .. }) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }

    fn socket_layout(&self) -> Result<SocketLayout, String> {
        let btf = self.btf.get()?;
        socket::socket_layout_from_btf(btf).map_err(|e| e.to_string())
    }

    fn btf_tracepoint(&self) -> Result<BtfTracepoint, String> {
        let btf = self.btf.get()?;
        task::from_btf(btf).map_err(|e| e.to_string())
    }

    fn v6_offsets(&self) -> Result<SockOffsets, String> {
        self.btf.get().and_then(|btf| socket::from_btf(btf).map_err(|e| e.to_string()))
    }

    fn kprobe_api(&self, allow_pmu: bool) -> Option<KprobeApi> {
        KprobeApi::detect(self.tracefs, allow_pmu)
    }

    fn connect_symbols(&self) -> Result<[Option<String>; 2], Error> {
        let found = find_functions(&[abi::V4_CONNECT, abi::V6_CONNECT])
            .map_err(|error| Error::Kallsyms { path: KALLSYMS, error })?;
        Ok(found.try_into().unwrap_or([None, None]))
    }

    fn ipv6_up(&self) -> bool {
        Path::new(IF_INET6).exists()
    }

    fn sweep_stale_kprobes(&self) -> Result<Swept, Error> {
        Ok(self.tracefs.sweep_stale_kprobes(|pid| Path::new(&format!("/proc/{pid}")).exists())?)
    }
}
