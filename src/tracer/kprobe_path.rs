//! The kprobe path, for kernels without the sock:inet_sock_set_state
//! tracepoint (before 4.16) or when asked for (`--attach kprobe`): an entry
//! probe and a return probe on tcp_v4_connect and tcp_v6_connect, as bcc
//! does. Everything that can be checked before touching the kernel is
//! checked first, so each failure has one line naming its cause.

use super::attachment::Attachment;
use super::calibrate::{calibrate_v6_offsets, ensure_sk_err, SkErrProbe};
use super::choice::{KprobePlan, V6Plan};
use super::kprobe_common::{register_fields, return_kind};
use super::log::Log;
use super::session::Session;
use crate::abi;
use crate::attach::kprobe::{attach_kprobe, KprobeApi};
use crate::error::Error;
use crate::host::kernel::running_version_code;
use crate::layout::socket::SockOffsets;
use crate::layout::Source;
use crate::tracefs::kprobe_events::ProbeKind;
use crate::uapi::BPF_PROG_TYPE_KPROBE;
use std::os::fd::{AsFd, OwnedFd};

/// IPv6 offsets in struct sock: BTF first, calibration second.
fn v6_offsets(
    session: &mut Session,
    api: KprobeApi,
    v6: &V6Plan,
    log: Log<'_>,
) -> Result<SockOffsets, Error> {
    let btf_error = match &v6.offsets {
        Ok(offsets) => {
            report_offsets(log, *offsets, Source::Btf);
            return Ok(*offsets);
        }
        Err(reason) => {
            log(format_args!("cannot use BTF ({reason}); calibrating"));
            reason.clone()
        }
    };
    let offsets = calibrate_v6_offsets(session, api, &v6.symbol)
        .map_err(|reason| Error::SockOffsets { btf: btf_error, calibration: reason })?;
    report_offsets(log, offsets, Source::Calibration);
    Ok(offsets)
}

fn report_offsets(log: Log<'_>, offsets: SockOffsets, source: Source) {
    log(format_args!(
        "struct sock_common: skc_v6_daddr at {}, skc_v6_rcv_saddr at {} ({source})",
        offsets.v6_daddr, offsets.v6_rcv_saddr
    ));
}

/// Loads the kprobe programs and attaches them: return probes first, so an
/// entry never stashes a socket no return probe will take. --result: the
/// probe on tcp_set_state goes first of all, so no connect waits for an
/// outcome nothing will report.
pub(crate) fn start(
    session: &mut Session,
    plan: &KprobePlan,
    log: Log<'_>,
) -> Result<(Vec<OwnedFd>, Vec<Attachment>), Error> {
    let offsets = match &plan.v6 {
        Some(v6) => Some(v6_offsets(session, plan.api, v6, log)?),
        None => None,
    };
    ensure_sk_err(session, &SkErrProbe::Kprobe { api: plan.api }, log)?;
    let constants = match offsets {
        Some(offsets) => session.constants.with_v6_offsets(offsets),
        None => session.constants,
    };
    let fields = register_fields();
    let kern_version = running_version_code();
    let load = |section| session.load(section, BPF_PROG_TYPE_KPROBE, &constants, &fields, kern_version);
    let entry = load(abi::PROG_CONNECT_ENTRY)?;
    let mut targets = vec![(plan.v4_symbol.as_str(), load(abi::PROG_V4_RETURN)?)];
    if let Some(v6) = &plan.v6 {
        targets.push((v6.symbol.as_str(), load(abi::PROG_V6_RETURN)?));
    }

    let set_state = match constants.result {
        true => Some(load(abi::PROG_SET_STATE)?),
        false => None,
    };

    let pid = std::process::id();
    let cpu = session.attach_cpu();
    let mut attachments = Vec::new();
    if let Some(prog) = &set_state {
        let link = attach_kprobe(
            plan.api,
            session.tracefs,
            ProbeKind::Entry,
            abi::SET_STATE,
            pid,
            prog.as_fd(),
            cpu,
        )
        .map_err(Error::Kprobe)?;
        attachments.push(Attachment::Kprobe(link));
        log(format_args!("attach: kprobe ({}) on {} (--result)", plan.api.describe(), abi::SET_STATE));
    }
    let ret_kind = return_kind(session.tracefs);
    for (symbol, ret) in &targets {
        for (kind, prog) in [(ret_kind, ret), (ProbeKind::Entry, &entry)] {
            let link = attach_kprobe(plan.api, session.tracefs, kind, symbol, pid, prog.as_fd(), cpu)
                .map_err(Error::Kprobe)?;
            attachments.push(Attachment::Kprobe(link));
        }
    }
    let symbols: Vec<&str> = targets.iter().map(|(s, _)| *s).collect();
    log(format_args!("attach: kprobe+kretprobe ({}) on {}", plan.api.describe(), symbols.join(", ")));
    let mut progs = vec![entry];
    progs.extend(targets.into_iter().map(|(_, prog)| prog));
    progs.extend(set_state);
    Ok((progs, attachments))
}
