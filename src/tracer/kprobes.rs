//! The kprobe path, for kernels without the sock:inet_sock_set_state
//! tracepoint (before 4.16) or when asked for (`--attach kprobe`): an entry
//! probe and a return probe on tcp_v4_connect and tcp_v6_connect, as bcc
//! does. Everything that can be checked before touching the kernel is
//! checked first, so each failure has one line naming its cause.

use super::calibrate::calibrate_v6_offsets;
use super::kprobe_common::{register_fields, return_kind};
use super::{Attachment, Log, Plan, Session, PROG_TYPE_KPROBE};
use crate::abi;
use crate::attach::kprobe::{attach_kprobe, KprobeApi};
use crate::error::Error;
use crate::escape::escaped;
use crate::host::kallsyms::find_functions;
use crate::host::kernel::running_version_code;
use crate::sock_offsets::{self, SockOffsets, Source};
use crate::tracefs::kprobe_events::ProbeKind;
use crate::tracefs::Tracefs;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// Exists whenever the kernel's IPv6 stack is up.
const IF_INET6: &str = "/proc/net/if_inet6";

/// What the kprobe path will attach to, decided before anything is loaded.
pub(crate) struct KprobePlan {
    api: KprobeApi,
    v4_symbol: String,
    /// None on a kernel without IPv6 (no tcp_v6_connect): IPv4 only.
    v6_symbol: Option<String>,
}

/// Checks, in the order a sysadmin would: kprobe support, the
/// functions. Sweeps legacy probes left by killed runs.
pub(crate) fn prepare(tracefs: &Tracefs, plan: &Plan, log: Log<'_>) -> Result<KprobePlan, Error> {
    let overrides = &plan.overrides;
    let api = KprobeApi::detect(tracefs, !overrides.legacy_kprobes).ok_or(Error::NoKprobes)?;
    let found = find_functions(&[abi::V4_CONNECT, abi::V6_CONNECT])
        .map_err(|error| Error::Kallsyms { path: crate::host::kallsyms::KALLSYMS, error })?;
    let [v4_symbol, mut v6_symbol]: [Option<String>; 2] = found.try_into().unwrap_or([None, None]);
    let v4_symbol = v4_symbol.ok_or(Error::NotTraceable { function: abi::V4_CONNECT })?;
    if plan.filters.family == Some(4) {
        // -4: IPv4-mapped connects still show, through tcp_v4_connect.
        v6_symbol = None;
    } else if v6_symbol.is_none() {
        log(format_args!(
            "no {} in /proc/kallsyms (a kernel without IPv6): tracing IPv4 only",
            abi::V6_CONNECT
        ));
    } else if !Path::new(IF_INET6).exists() {
        // Built in but disabled (ipv6.disable=1): no IPv6 socket can connect,
        // and calibration would have no [::1] to connect to.
        log(format_args!("IPv6 is disabled on this kernel (no {IF_INET6}): tracing IPv4 only"));
        v6_symbol = None;
    }
    if api == KprobeApi::Legacy {
        let removed = tracefs.sweep_stale_kprobes(|pid| Path::new(&format!("/proc/{pid}")).exists())?;
        if !removed.is_empty() {
            log(format_args!("removed stale kprobe events of killed runs: {}", escaped(&removed.join(" "))));
        }
    }
    Ok(KprobePlan { api, v4_symbol, v6_symbol })
}

/// IPv6 offsets in struct sock: BTF first, calibration second.
fn v6_offsets(
    session: &mut Session,
    plan: &KprobePlan,
    v6_symbol: &str,
    log: Log<'_>,
) -> Result<SockOffsets, Error> {
    let btf_error =
        match session.btf.get().and_then(|btf| sock_offsets::from_btf(btf).map_err(|e| e.to_string())) {
            Ok(offsets) => {
                report_offsets(log, offsets, Source::Btf);
                return Ok(offsets);
            }
            Err(reason) => {
                log(format_args!("cannot use BTF ({reason}); calibrating"));
                reason
            }
        };
    let offsets = calibrate_v6_offsets(session, plan.api, v6_symbol)
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
/// entry never stashes a socket no return probe will take.
pub(crate) fn start(
    session: &mut Session,
    plan: &KprobePlan,
    log: Log<'_>,
) -> Result<(Vec<OwnedFd>, Vec<Attachment>), Error> {
    let offsets = match &plan.v6_symbol {
        Some(symbol) => Some(v6_offsets(session, plan, symbol, log)?),
        None => None,
    };
    let constants = match offsets {
        Some(offsets) => session.constants.with_v6_offsets(offsets),
        None => session.constants,
    };
    let fields = register_fields();
    let kern_version = running_version_code();
    let load = |section| session.load(section, PROG_TYPE_KPROBE, &constants, &fields, kern_version);
    let entry = load(abi::PROG_CONNECT_ENTRY)?;
    let mut targets = vec![(plan.v4_symbol.as_str(), load(abi::PROG_V4_RETURN)?)];
    if let Some(symbol) = &plan.v6_symbol {
        targets.push((symbol.as_str(), load(abi::PROG_V6_RETURN)?));
    }

    let pid = std::process::id();
    let cpu = session.attach_cpu();
    let mut attachments = Vec::new();
    for (symbol, ret) in &targets {
        for (kind, prog) in [(return_kind(), ret), (ProbeKind::Entry, &entry)] {
            let link = attach_kprobe(plan.api, session.tracefs, kind, symbol, pid, prog.as_fd(), cpu)
                .map_err(Error::Kprobe)?;
            attachments.push(Attachment::Kprobe(link));
        }
    }
    let symbols: Vec<&str> = targets.iter().map(|(s, _)| *s).collect();
    log(format_args!("attach: kprobe+kretprobe ({}) on {}", plan.api.describe(), symbols.join(", ")));
    let mut progs = vec![entry];
    progs.extend(targets.into_iter().map(|(_, prog)| prog));
    Ok((progs, attachments))
}
