//! Finding what the programs read in struct sock without BTF.
//!
//! The IPv6 addresses: attach a probe
//! that dumps the socket of a connect of our own, connect from [::1] to a
//! listener of ours on [::1], and look for the addresses we know in the dump
//! (`socket::from_dump`). Runs before the real programs attach, so the
//! only samples in the rings are the dump's.
//!
//! sk_err (--result): dump the socket of a refused connect of our own and of
//! one we close in SYN_SENT as each leaves SYN_SENT, and take the int that
//! tells them apart (`sk_err::from_dumps`). `ensure_sk_err` decides
//! whether it is needed: only where BTF did not give sk_err.

use super::constants::Constants;
use super::kprobe_common::{register_fields, return_kind};
use super::log::Log;
use super::session::Session;
use crate::abi;
use crate::attach::kprobe::{attach_kprobe, KprobeApi};
use crate::attach::tracepoint::attach_tracepoint;
use crate::error::Error;
use crate::host::kernel::running_version_code;
use crate::layout::sk_err;
use crate::layout::socket::{self, SockOffsets};
use crate::loader::FieldLayout;
use crate::plan::Filters;
use crate::sys::tcp::drop_every_packet;
use crate::tracefs::kprobe_events::ProbeKind;
use crate::uapi::{BPF_PROG_TYPE_KPROBE, BPF_PROG_TYPE_TRACEPOINT};
use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, Ipv6Addr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::time::Duration;

/// --result: sk_err from BTF, or else by calibration through `probe` (the
/// path's own hook), before the path loads its programs; the -v line says
/// which.
pub(super) fn ensure_sk_err(
    session: &mut Session,
    probe: &SkErrProbe<'_>,
    log: Log<'_>,
) -> Result<(), Error> {
    if !session.constants.result {
        return Ok(());
    }
    let Some(btf) = session.sk_err_unknown.take() else {
        log(format_args!("struct sock: sk_err at {} (from BTF)", session.constants.socket.sk_err));
        return Ok(());
    };
    log(format_args!("cannot use BTF for sk_err ({btf}); calibrating"));
    let offset =
        calibrate_sk_err(session, probe).map_err(|calibration| Error::SkErrOffset { btf, calibration })?;
    log(format_args!("struct sock: sk_err at {offset} (by calibration)"));
    session.constants.socket.sk_err = offset;
    Ok(())
}

/// The offsets, or why they could not be found.
pub(crate) fn calibrate_v6_offsets(
    session: &mut Session,
    api: KprobeApi,
    v6_symbol: &str,
) -> Result<SockOffsets, String> {
    session.open_calibration_rings()?;
    let listener = TcpListener::bind((Ipv6Addr::LOCALHOST, 0))
        .map_err(|e| format!("cannot listen on [::1] for a calibration connect: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();

    // The entry program keeps only our own process.
    let pid = std::process::id();
    let constants = Constants::for_filters(&Filters { pid: Some(pid), ..Filters::default() });
    let fields = register_fields();
    let kern_version = running_version_code();
    let load = |section| {
        session
            .load(section, BPF_PROG_TYPE_KPROBE, &constants, &fields, kern_version)
            .map_err(|e| e.to_string())
    };
    let entry = load(abi::PROG_CONNECT_ENTRY)?;
    let dump = load(abi::PROG_CALIBRATE)?;

    {
        let cpu = session.attach_cpu();
        let attach = |kind, prog: &std::os::fd::OwnedFd| {
            attach_kprobe(api, session.tracefs, kind, v6_symbol, pid, prog.as_fd(), cpu)
                .map_err(|e| e.to_string())
        };
        let _ret = attach(return_kind(session.tracefs), &dump)?;
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
        [dump] => socket::from_dump(dump, Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST, port),
        [] => Err(format!("no socket dump arrived from the probe on {v6_symbol}")),
        _ => Err(format!("{} socket dumps arrived for one connect", dumps.len())),
    }
}

/// Where the sk_err calibration dump attaches: the path's own hook.
pub(crate) enum SkErrProbe<'a> {
    /// sock:inet_sock_set_state (its tracefs id), with its field layouts.
    Tracepoint { id: u64, fields: &'a HashMap<u8, Option<FieldLayout>> },
    /// A kprobe on tcp_set_state.
    Kprobe { api: KprobeApi },
}

/// --result without BTF: the offset of sk_err in struct sock, from two
/// connects of our own to 127.0.0.1 (`sk_err::from_dumps`), or why
/// it could not be found. Runs before the real programs attach, so the only
/// samples in the rings are the dumps.
pub(crate) fn calibrate_sk_err(session: &mut Session, probe: &SkErrProbe<'_>) -> Result<u32, String> {
    session.open_calibration_rings()?;
    // A port nothing listens on, for the refused connect; then ours.
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("cannot pick a port on 127.0.0.1 for the calibration connects: {e}"))?
        .port();
    let constants = Constants { calib_port: port, ..Constants::default() };
    let (prog, attach_link) = match probe {
        SkErrProbe::Tracepoint { id, fields } => {
            let prog = session
                .load(abi::PROG_CALIBRATE_SK_ERR_TP, BPF_PROG_TYPE_TRACEPOINT, &constants, fields, 0)
                .map_err(|e| e.to_string())?;
            let link =
                attach_tracepoint(*id, prog.as_fd(), session.attach_cpu()).map_err(|e| e.to_string())?;
            (prog, CalibrationLink::Perf(link))
        }
        SkErrProbe::Kprobe { api } => {
            let prog = session
                .load(
                    abi::PROG_CALIBRATE_SK_ERR_KP,
                    BPF_PROG_TYPE_KPROBE,
                    &constants,
                    &register_fields(),
                    running_version_code(),
                )
                .map_err(|e| e.to_string())?;
            let link = attach_kprobe(
                *api,
                session.tracefs,
                ProbeKind::Entry,
                abi::SET_STATE,
                std::process::id(),
                prog.as_fd(),
                session.attach_cpu(),
            )
            .map_err(|e| e.to_string())?;
            (prog, CalibrationLink::Kprobe(link))
        }
    };

    let refused = match TcpStream::connect((Ipv4Addr::LOCALHOST, port)) {
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => take_dump(session, "refused")?,
        other => {
            return Err(format!(
                "the calibration connect to 127.0.0.1:{port} was not refused: {}",
                connect_outcome(&other)
            ))
        }
    };
    // A listener that drops every packet: a connect to it stays in SYN_SENT
    // until the timeout closes it, whatever the kernel's accept-queue rule.
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port} for the calibration connects: {e}"))?;
    drop_every_packet(&listener).map_err(|e| e.to_string())?;
    let closed =
        match TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, port).into(), Duration::from_millis(100)) {
            Err(e) if e.kind() == ErrorKind::TimedOut => take_dump(session, "closed in SYN_SENT")?,
            other => {
                return Err(format!(
                    "the calibration connect to a listener that drops every SYN did not wait: {}",
                    connect_outcome(&other)
                ))
            }
        };
    drop((attach_link, prog));
    sk_err::from_dumps(&refused, &closed)
}

/// What a calibration connect did, in words: "it connected" or its error.
fn connect_outcome(result: &std::io::Result<TcpStream>) -> String {
    match result {
        Ok(_) => "it connected".to_owned(),
        Err(e) => format!("it failed: {e}"),
    }
}

/// Detaches before the program closes (declared in that order).
enum CalibrationLink {
    Perf(#[allow(dead_code)] crate::attach::PerfLink),
    Kprobe(#[allow(dead_code)] crate::attach::kprobe::KprobeLink),
}

/// The chunks of one socket dump, put together, from the rings.
fn take_dump(session: &mut Session, which: &str) -> Result<Vec<u8>, String> {
    let chunk_len = 8 + abi::SOCK_DUMP_LEN;
    let mut dump = vec![0u8; abi::SOCK_CHUNKS * abi::SOCK_DUMP_LEN];
    let mut seen = 0usize;
    let mut bad = 0usize;
    session.rings.drain(|payload| {
        let Some(chunk) = payload.get(..chunk_len) else {
            bad += 1;
            return;
        };
        let index = u64::from_ne_bytes(chunk[..8].try_into().unwrap_or_default()) as usize;
        if index >= abi::SOCK_CHUNKS || seen & (1 << index) != 0 {
            bad += 1;
            return;
        }
        seen |= 1 << index;
        dump[index * abi::SOCK_DUMP_LEN..][..abi::SOCK_DUMP_LEN].copy_from_slice(&chunk[8..]);
    });
    match (seen == (1 << abi::SOCK_CHUNKS) - 1, bad) {
        (true, 0) => Ok(dump),
        _ => Err(format!(
            "the socket dump of the {which} calibration connect came incomplete ({} of {} chunks, {bad} unexpected samples)",
            seen.count_ones(),
            abi::SOCK_CHUNKS
        )),
    }
}
