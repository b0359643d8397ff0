//! Finding the IPv6 addresses in struct sock without BTF: attach a probe
//! that dumps the socket of a connect of our own, connect from [::1] to a
//! listener of ours on [::1], and look for the addresses we know in the dump
//! (`sock_offsets::from_dump`). Runs before the real programs attach, so the
//! only samples in the rings are the dump's.

use super::constants::Constants;
use super::kprobe_common::{register_fields, return_kind};
use super::{Filters, Session, PROG_TYPE_KPROBE};
use crate::abi;
use crate::attach::kprobe::{attach_kprobe, KprobeApi};
use crate::host::kernel::running_version_code;
use crate::sock_offsets::{self, SockOffsets};
use crate::tracefs::kprobe_events::ProbeKind;
use std::net::{Ipv6Addr, TcpListener, TcpStream};
use std::os::fd::AsFd;

/// The offsets, or why they could not be found.
pub(crate) fn calibrate_v6_offsets(
    session: &mut Session,
    api: KprobeApi,
    v6_symbol: &str,
) -> Result<SockOffsets, String> {
    let listener = TcpListener::bind((Ipv6Addr::LOCALHOST, 0))
        .map_err(|e| format!("cannot listen on [::1] for a calibration connect: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();

    // The entry program keeps only our own process.
    let pid = std::process::id();
    let constants = Constants::for_filters(&Filters { pid: Some(pid), ..Filters::default() });
    let fields = register_fields();
    let kern_version = running_version_code();
    let load = |section| {
        session.load(section, PROG_TYPE_KPROBE, &constants, &fields, kern_version).map_err(|e| e.to_string())
    };
    let entry = load(abi::PROG_CONNECT_ENTRY)?;
    let dump = load(abi::PROG_CALIBRATE)?;

    {
        let cpu = session.attach_cpu();
        let attach = |kind, prog: &std::os::fd::OwnedFd| {
            attach_kprobe(api, session.tracefs, kind, v6_symbol, pid, prog.as_fd(), cpu)
                .map_err(|e| e.to_string())
        };
        let _ret = attach(return_kind(), &dump)?;
        let _entry = attach(ProbeKind::Entry, &entry)?;
        // The probes fire inside connect(), in this thread, before it returns.
        TcpStream::connect((Ipv6Addr::LOCALHOST, port))
            .map_err(|e| format!("calibration connect to [::1]:{port} failed: {e}"))?;
        // Detached here, before the programs close.
    }

    let mut dumps = Vec::new();
    session.rings.drain(|payload| {
        if payload.len() >= abi::SOCK_DUMP_LEN {
            dumps.push(payload[..abi::SOCK_DUMP_LEN].to_vec());
        }
    });
    match &dumps[..] {
        [dump] => sock_offsets::from_dump(dump, Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST, port),
        [] => Err(format!("no socket dump arrived from the probe on {v6_symbol}")),
        _ => Err(format!("{} socket dumps arrived for one connect", dumps.len())),
    }
}
