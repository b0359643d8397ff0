//! Choosing the way in, from what the kernel offers: the tracepoint (as a
//! BTF tracepoint or a raw tracepoint where BTF gives the socket layout,
//! else as a perf tracepoint event), or kprobes (through the PMU or legacy kprobe_events,
//! on IPv6 too where the kernel has it, with the IPv6 offsets from BTF or
//! by calibration). Everything the choice reads comes through [`Probe`],
//! the seam the unit tests below fake; nothing here loads or attaches.

use super::log::Log;
use crate::abi;
use crate::attach::kprobe::KprobeApi;
use crate::error::Error;
use crate::escape::escaped;
use crate::layout::socket::{SockOffsets, SocketLayout};
use crate::layout::task::BtfTracepoint;
use crate::plan::{AttachMode, Plan};
use crate::tracefs::kprobe_events::Swept;

/// What the choice asks of the kernel, each answered when first needed
/// (kallsyms is megabytes: it is read only when kprobes are chosen).
pub(crate) trait Probe {
    /// The tracefs id of sock:inet_sock_set_state; None where it is missing.
    fn state_tracepoint(&self) -> Result<Option<u64>, Error>;
    /// The socket layout the raw tracepoint program reads, from BTF.
    fn socket_layout(&self) -> Result<SocketLayout, String>;
    /// The tracepoint's BTF type and the task layout the BTF tracepoint
    /// program reads, from BTF.
    fn btf_tracepoint(&self) -> Result<BtfTracepoint, String>;
    /// The IPv6 address offsets in struct sock, from BTF.
    fn v6_offsets(&self) -> Result<SockOffsets, String>;
    /// The kprobe PMU (when `allow_pmu`), else legacy kprobe_events, else None.
    fn kprobe_api(&self, allow_pmu: bool) -> Option<KprobeApi>;
    /// tcp_v4_connect and tcp_v6_connect as /proc/kallsyms names them.
    fn connect_symbols(&self) -> Result<[Option<String>; 2], Error>;
    /// Whether the kernel's IPv6 stack is up (/proc/net/if_inet6).
    fn ipv6_up(&self) -> bool;
    /// Removes the legacy probes of runs that were killed; their names.
    fn sweep_stale_kprobes(&self) -> Result<Swept, Error>;
}

/// The tracepoint path, decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TracepointPlan {
    /// The tracefs id of sock:inet_sock_set_state.
    pub id: u64,
    /// The layout for the raw tracepoint, or why it is not tried.
    pub raw: Result<SocketLayout, String>,
    /// With that layout, what the BTF tracepoint program is loaded with
    /// (tried before the raw tracepoint), or why it is not tried.
    pub btf: Result<BtfTracepoint, String>,
}

/// The kprobe path, decided before anything is loaded.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct KprobePlan {
    pub api: KprobeApi,
    pub v4_symbol: String,
    /// None: IPv4 only (no IPv6 in the kernel, IPv6 disabled, or -4).
    pub v6: Option<V6Plan>,
}

/// tcp_v6_connect's probes and where its socket offsets come from.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct V6Plan {
    pub symbol: String,
    /// From BTF, or why not (then calibration finds them).
    pub offsets: Result<SockOffsets, String>,
}

/// The first way in, and whether the kprobe path is the fallback.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Choice {
    /// --attach tracepoint, or auto with kprobes as the fallback.
    Tracepoint {
        plan: TracepointPlan,
        kprobes_if_it_fails: bool,
    },
    Kprobe(KprobePlan),
}

fn no_tracepoint() -> Error {
    let (category, name) = abi::STATE_TRACEPOINT;
    Error::NoTracepoint { tracepoint: format!("{category}:{name}"), since: "upstream Linux added it in 4.16" }
}

/// The way in for this plan on this kernel.
pub(crate) fn choose(plan: &Plan, probe: &dyn Probe, log: Log<'_>) -> Result<Choice, Error> {
    // -6 on a kernel without IPv6 would trace nothing, silently.
    if plan.filters.family == Some(6) && !probe.ipv6_up() {
        return Err(Error::NoIpv6);
    }
    let tracepoint = probe.state_tracepoint()?;
    match (plan.attach, tracepoint) {
        (AttachMode::Tracepoint, None) => Err(no_tracepoint()),
        (AttachMode::Tracepoint | AttachMode::Auto, Some(id)) => Ok(Choice::Tracepoint {
            plan: choose_tracepoint(plan, probe, id),
            kprobes_if_it_fails: plan.attach == AttachMode::Auto,
        }),
        (AttachMode::Kprobe, _) => choose_kprobes(plan, probe, log).map(Choice::Kprobe),
        (AttachMode::Auto, None) => choose_kprobes(plan, probe, log).map(Choice::Kprobe).map_err(|kprobe| {
            Error::NoAttachMethod { tracepoint: Box::new(no_tracepoint()), kprobe: Box::new(kprobe) }
        }),
    }
}

/// The BTF tracepoint, else the raw tracepoint, where BTF gives the socket
/// layout (and the switches do not turn them off), else the perf
/// tracepoint event.
pub(crate) fn choose_tracepoint(plan: &Plan, probe: &dyn Probe, id: u64) -> TracepointPlan {
    let raw = if plan.overrides.no_raw_tracepoint {
        Err("disabled by TCPCONNECT_RAW_TRACEPOINT=off".to_owned())
    } else {
        probe.socket_layout()
    };
    let btf = match &raw {
        Err(why) => Err(why.clone()),
        Ok(_) if plan.overrides.no_btf_tracepoint => {
            Err("disabled by TCPCONNECT_BTF_TRACEPOINT=off".to_owned())
        }
        Ok(_) => probe.btf_tracepoint(),
    };
    TracepointPlan { id, raw, btf }
}

/// Checks, in the order a sysadmin would: kprobe support, the functions,
/// IPv6. Sweeps legacy probes left by killed runs.
pub(crate) fn choose_kprobes(plan: &Plan, probe: &dyn Probe, log: Log<'_>) -> Result<KprobePlan, Error> {
    let api = probe.kprobe_api(!plan.overrides.legacy_kprobes).ok_or(Error::NoKprobes)?;
    let [v4_symbol, v6_symbol] = probe.connect_symbols()?;
    let v4_symbol = v4_symbol.ok_or(Error::NotTraceable { function: abi::V4_CONNECT })?;
    let v6_symbol = match v6_symbol {
        // -4: IPv4-mapped connects still show, through tcp_v4_connect.
        _ if plan.filters.family == Some(4) => None,
        None => {
            log(format_args!(
                "no {} in /proc/kallsyms (a kernel without IPv6): tracing IPv4 only",
                abi::V6_CONNECT
            ));
            None
        }
        // Built in but disabled (ipv6.disable=1): no IPv6 socket can connect,
        // and calibration would have no [::1] to connect to.
        Some(_) if !probe.ipv6_up() => {
            log(format_args!("IPv6 is disabled on this kernel (no {IF_INET6}): tracing IPv4 only"));
            None
        }
        Some(symbol) => Some(symbol),
    };
    // Best effort: what it cannot sweep never stops a run.
    if api == KprobeApi::Legacy {
        match probe.sweep_stale_kprobes() {
            Ok(Swept { removed, kept }) => {
                if !removed.is_empty() {
                    log(format_args!(
                        "removed stale kprobe events of killed runs: {}",
                        escaped(&removed.join(" "))
                    ));
                }
                for (name, error) in kept {
                    log(format_args!(
                        "kept kprobe event {} (in use by a run this one cannot see?): {error}",
                        escaped(&name)
                    ));
                }
            }
            Err(error) => log(format_args!("cannot look for stale kprobe events: {}", error.first_line())),
        }
    }
    let v6 = v6_symbol.map(|symbol| V6Plan { symbol, offsets: probe.v6_offsets() });
    Ok(KprobePlan { api, v4_symbol, v6 })
}

/// Exists whenever the kernel's IPv6 stack is up.
pub(crate) const IF_INET6: &str = "/proc/net/if_inet6";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::task::TaskOffsets;
    use crate::plan::{Filters, Overrides};
    use std::cell::RefCell;

    const PMU: KprobeApi = KprobeApi::Pmu { pmu_type: 8, retprobe_bit: 0 };
    const LAYOUT: SocketLayout = SocketLayout {
        v6: SockOffsets { v6_daddr: 56, v6_rcv_saddr: 72 },
        sk_protocol: 514,
        inet_sport: 782,
    };
    const BTF_TRACEPOINT: BtfTracepoint =
        BtfTracepoint { btf_id: 7, task: TaskOffsets { tgid: 1, pid: 2, comm: 3, cred: 4, cred_uid: 5 } };

    /// A kernel with the features a test gives it. What the choice asked
    /// is recorded, to show what it never needed to read.
    struct Kernel {
        tracepoint: bool,
        btf: Result<(), &'static str>,
        pmu: bool,
        kprobe_events: bool,
        v6_symbol: bool,
        ipv6_up: bool,
        stale: Vec<String>,
        asked: RefCell<Vec<&'static str>>,
    }

    /// 6.x: the tracepoint, BTF, both kprobe APIs, IPv6.
    fn modern() -> Kernel {
        Kernel {
            tracepoint: true,
            btf: Ok(()),
            pmu: true,
            kprobe_events: true,
            v6_symbol: true,
            ipv6_up: true,
            stale: Vec::new(),
            asked: RefCell::new(Vec::new()),
        }
    }

    impl Probe for Kernel {
        fn state_tracepoint(&self) -> Result<Option<u64>, Error> {
            self.asked.borrow_mut().push("tracepoint");
            Ok(self.tracepoint.then_some(1344))
        }
        fn socket_layout(&self) -> Result<SocketLayout, String> {
            self.asked.borrow_mut().push("btf");
            self.btf.map(|()| LAYOUT).map_err(str::to_owned)
        }
        fn btf_tracepoint(&self) -> Result<BtfTracepoint, String> {
            self.asked.borrow_mut().push("btf tracepoint");
            self.btf.map(|()| BTF_TRACEPOINT).map_err(str::to_owned)
        }
        fn v6_offsets(&self) -> Result<SockOffsets, String> {
            self.asked.borrow_mut().push("btf");
            self.btf.map(|()| LAYOUT.v6).map_err(str::to_owned)
        }
        fn kprobe_api(&self, allow_pmu: bool) -> Option<KprobeApi> {
            self.asked.borrow_mut().push("kprobe api");
            match (allow_pmu && self.pmu, self.kprobe_events) {
                (true, _) => Some(PMU),
                (false, true) => Some(KprobeApi::Legacy),
                (false, false) => None,
            }
        }
        fn connect_symbols(&self) -> Result<[Option<String>; 2], Error> {
            self.asked.borrow_mut().push("kallsyms");
            Ok([Some("tcp_v4_connect".into()), self.v6_symbol.then(|| "tcp_v6_connect.isra.0".into())])
        }
        fn ipv6_up(&self) -> bool {
            self.ipv6_up
        }
        fn sweep_stale_kprobes(&self) -> Result<Swept, Error> {
            self.asked.borrow_mut().push("sweep");
            Ok(Swept { removed: self.stale.clone(), kept: Vec::new() })
        }
    }

    fn plan(attach: AttachMode) -> Plan {
        Plan { attach, ..Plan::default() }
    }

    /// The choice and what -v said on the way.
    fn choose_on(plan: &Plan, kernel: &Kernel) -> (Result<Choice, String>, String) {
        let said = RefCell::new(String::new());
        let log = |message: std::fmt::Arguments<'_>| said.borrow_mut().push_str(&format!("{message}\n"));
        let choice = choose(plan, kernel, &log).map_err(|e| e.to_string());
        (choice, said.into_inner())
    }

    fn kprobes(api: KprobeApi, v6: Option<Result<SockOffsets, String>>) -> Choice {
        Choice::Kprobe(KprobePlan {
            api,
            v4_symbol: "tcp_v4_connect".into(),
            v6: v6.map(|offsets| V6Plan { symbol: "tcp_v6_connect.isra.0".into(), offsets }),
        })
    }

    #[test]
    fn auto_takes_the_btf_tracepoint_with_btf_and_kprobes_as_its_fallback() {
        let kernel = modern();
        let (choice, said) = choose_on(&plan(AttachMode::Auto), &kernel);
        let tracepoint = TracepointPlan { id: 1344, raw: Ok(LAYOUT), btf: Ok(BTF_TRACEPOINT) };
        assert_eq!(choice, Ok(Choice::Tracepoint { plan: tracepoint, kprobes_if_it_fails: true }));
        assert_eq!(said, "");
        // Kprobes are prepared only if the tracepoint path fails.
        assert_eq!(*kernel.asked.borrow(), ["tracepoint", "btf", "btf tracepoint"]);
        // The switch keeps the raw tracepoint, and its reason.
        let switched = Plan {
            overrides: Overrides { no_btf_tracepoint: true, ..Overrides::default() },
            ..plan(AttachMode::Auto)
        };
        let Ok(Choice::Tracepoint { plan, .. }) = choose_on(&switched, &modern()).0 else { panic!() };
        assert_eq!(plan.raw, Ok(LAYOUT));
        assert_eq!(plan.btf, Err("disabled by TCPCONNECT_BTF_TRACEPOINT=off".into()));
    }

    #[test]
    fn without_usable_btf_the_tracepoint_is_a_perf_event() {
        // 4.19 (no BTF), 5.4 (sk_protocol a bitfield), or the switch.
        let kernel = Kernel { btf: Err("/sys/kernel/btf/vmlinux: not found"), ..modern() };
        let (choice, _) = choose_on(&plan(AttachMode::Tracepoint), &kernel);
        let missing = "/sys/kernel/btf/vmlinux: not found".to_owned();
        let tracepoint = TracepointPlan { id: 1344, raw: Err(missing.clone()), btf: Err(missing) };
        assert_eq!(choice, Ok(Choice::Tracepoint { plan: tracepoint, kprobes_if_it_fails: false }));
        let switched = Plan {
            overrides: Overrides { no_raw_tracepoint: true, ..Overrides::default() },
            ..plan(AttachMode::Auto)
        };
        let kernel = modern();
        let Ok(Choice::Tracepoint { plan, .. }) = choose_on(&switched, &kernel).0 else { panic!() };
        assert_eq!(plan.raw, Err("disabled by TCPCONNECT_RAW_TRACEPOINT=off".into()));
        assert_eq!(*kernel.asked.borrow(), ["tracepoint"], "BTF is not read when the switch is off");
    }

    #[test]
    fn before_4_16_auto_takes_kprobes_through_the_pmu_or_legacy_events() {
        // 4.17+ without the tracepoint (configured out): the PMU, offsets from BTF.
        let kernel = Kernel { tracepoint: false, ..modern() };
        let (choice, said) = choose_on(&plan(AttachMode::Auto), &kernel);
        assert_eq!(choice, Ok(kprobes(PMU, Some(Ok(LAYOUT.v6)))));
        assert_eq!(said, "");
        // 4.9 / 4.14: legacy kprobe_events, no BTF: calibration; stale probes swept.
        let kernel = Kernel {
            tracepoint: false,
            pmu: false,
            btf: Err("no BTF"),
            stale: vec!["r99_tcp_v4_connect".into(), "p99_tcp_v4_connect".into()],
            ..modern()
        };
        let (choice, said) = choose_on(&plan(AttachMode::Auto), &kernel);
        assert_eq!(choice, Ok(kprobes(KprobeApi::Legacy, Some(Err("no BTF".into())))));
        assert_eq!(
            said,
            "removed stale kprobe events of killed runs: r99_tcp_v4_connect p99_tcp_v4_connect\n"
        );
    }

    #[test]
    fn the_legacy_switch_and_a_forced_kprobe_run() {
        let legacy = Plan {
            overrides: Overrides { legacy_kprobes: true, ..Overrides::default() },
            ..plan(AttachMode::Kprobe)
        };
        let kernel = modern();
        assert_eq!(choose_on(&legacy, &kernel).0, Ok(kprobes(KprobeApi::Legacy, Some(Ok(LAYOUT.v6)))));
        assert_eq!(*kernel.asked.borrow(), ["tracepoint", "kprobe api", "kallsyms", "sweep", "btf"]);
        assert_eq!(choose_on(&plan(AttachMode::Kprobe), &modern()).0, Ok(kprobes(PMU, Some(Ok(LAYOUT.v6)))));
    }

    #[test]
    fn ipv6_is_traced_only_where_it_can_connect() {
        let (choice, said) = choose_on(&plan(AttachMode::Kprobe), &Kernel { v6_symbol: false, ..modern() });
        assert_eq!(choice, Ok(kprobes(PMU, None)));
        assert_eq!(said, "no tcp_v6_connect in /proc/kallsyms (a kernel without IPv6): tracing IPv4 only\n");
        let (choice, said) = choose_on(&plan(AttachMode::Kprobe), &Kernel { ipv6_up: false, ..modern() });
        assert_eq!(choice, Ok(kprobes(PMU, None)));
        assert_eq!(said, "IPv6 is disabled on this kernel (no /proc/net/if_inet6): tracing IPv4 only\n");
        // -4: tcp_v6_connect is not probed, quietly.
        let only_v4 =
            Plan { filters: Filters { family: Some(4), ..Filters::default() }, ..plan(AttachMode::Kprobe) };
        let (choice, said) = choose_on(&only_v4, &modern());
        assert_eq!((choice, said.as_str()), (Ok(kprobes(PMU, None)), ""));
        // -6 without IPv6: one line, on either path, before anything loads.
        let only_v6 =
            |attach| Plan { filters: Filters { family: Some(6), ..Filters::default() }, ..plan(attach) };
        for attach in [AttachMode::Auto, AttachMode::Kprobe, AttachMode::Tracepoint] {
            let no_ipv6 = Kernel { ipv6_up: false, ..modern() };
            assert_eq!(choose_on(&only_v6(attach), &no_ipv6).0, Err(Error::NoIpv6.to_string()), "{attach:?}");
            assert!(no_ipv6.asked.borrow().is_empty(), "{attach:?}: {:?}", no_ipv6.asked.borrow());
        }
    }

    #[test]
    fn no_way_in_names_what_is_missing() {
        let bare = Kernel { tracepoint: false, pmu: false, kprobe_events: false, ..modern() };
        let (auto, _) = choose_on(&plan(AttachMode::Auto), &bare);
        let no_tracepoint =
            "this kernel has no tracepoint sock:inet_sock_set_state (upstream Linux added it in 4.16)"
                .to_owned();
        let auto = auto.unwrap_err();
        assert!(auto.starts_with(&format!("no way to trace connects on this kernel: {no_tracepoint}, and kprobes are unusable: this kernel has no kprobe support")), "{auto}");
        assert_eq!(choose_on(&plan(AttachMode::Tracepoint), &bare).0, Err(no_tracepoint));
        let forced = choose_on(&plan(AttachMode::Kprobe), &bare).0.unwrap_err();
        assert!(forced.starts_with("this kernel has no kprobe support"), "{forced}");
    }
}
