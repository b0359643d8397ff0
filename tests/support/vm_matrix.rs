//! The kernel matrix of the VM tests of real kernels (tests/vm_old_kernels.rs,
//! tests/vm_debian_kernels.rs): one VM per kernel, one script that runs
//! every option on every attach method the kernel offers, each against the
//! same real connects (IPv4, IPv6 and v4-mapped, refused on port 1 and
//! accepted on port 8080), and the checks of the exact bytes bcc prints and
//! of what -v says about the path. A test file describes its kernels as
//! `Kernel`s (which `Method`s, which `Opt`s, what -v says) and calls `check`.
//!
//! On each kernel: a SIGKILLed legacy run leaves its probes, the next run
//! sweeps them; every run leaves kprobe_events empty; --cgroupmap with a
//! pinned map; the guest's tracefs format files equal our fixtures
//! (tests/fixtures/tracefs/<kernel>) and any other copy the kernel has.
//!
//! Include it after `support` and `vm`:
//!   mod support;
//!   #[path = "support/vm.rs"]
//!   mod vm;
//!   #[path = "support/vm_matrix.rs"]
//!   mod matrix;
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::handshake_lines::{check_result_run, BASE_PORT};
use crate::support::{
    bcc_line, connector_output, count_table, json_line, json_lport, lport_line, lport_of, nfs_connect_output,
    HEADER, LPORT_HEADER,
};
use crate::vm::{
    build_static_binaries, killed_pid, legacy_probe_listing, nfs_run, section, swept_line, trace_run,
    transport_line, TraceRun, Vm, VmAssets, VmOutput, LEGACY_ATTACH, PMU_ATTACH, TRACE_HELPERS,
};

// ------------------------------------------------------------ the connects

/// Every run's connects: refused (port 1: bcc reports attempts) and
/// accepted (the guest's nc on 8080), IPv4, IPv6 and v4-mapped; `--lport`
/// makes the connector print the local port of the accepted ones.
pub const TARGETS: &str =
    "--lport 4:127.0.0.1:1 6:::1:1 m:127.0.0.1:1 4:127.0.0.1:8080 6:::1:8080 m:127.0.0.1:8080";

/// A line bcc prints for a connect: (ip, saddr, daddr, dport).
pub type Connect = (u8, &'static str, &'static str, u16);

/// The lines bcc prints for them; a v4-mapped connect is shown as IPv4.
pub const LINES: [Connect; 6] = [
    (4, "127.0.0.1", "127.0.0.1", 1),
    (6, "::1", "::1", 1),
    (4, "127.0.0.1", "127.0.0.1", 1),
    (4, "127.0.0.1", "127.0.0.1", 8080),
    (6, "::1", "::1", 8080),
    (4, "127.0.0.1", "127.0.0.1", 8080),
];
/// What the connector prints for them: refused, refused, refused, then
/// `ok LPORT` three times.
pub const REFUSED: usize = 3;

/// -d: the connector asks a DNS server of its own for `example.test`
/// (answer 127.0.0.2) right before connecting.
pub const DNS_TARGETS: &str =
    "--dns-exchange example.test=127.0.0.2 4:127.0.0.2:1 4:127.0.0.1:1 4:127.0.0.3:1 6:::1:1";
/// The lines and QUERY column bcc prints for them.
pub const DNS_LINES: [(Connect, &str); 4] = [
    ((4, "127.0.0.1", "127.0.0.2", 1), "example.test"),
    ((4, "127.0.0.1", "127.0.0.1", 1), "localhost"),
    ((4, "127.0.0.1", "127.0.0.3", 1), "No DNS Query"),
    ((6, "::1", "::1", 1), "localhost"),
];
/// Then a second connector, in a network namespace of its own (busybox
/// unshare), asks its own server there for alpha.test (answer 127.0.0.9)
/// and connects to it: named where the kernel reads the answers (every
/// namespace), `No DNS Query` with the packet socket (the VM's only).
pub const DNS_NETNS_CONNECTOR: &str = "unshare -n sh -c 'ip link set lo up && exec connector \
     --dns-exchange alpha.test=127.0.0.9 4:127.0.0.9:1'";
pub const DNS_NETNS_LINE: Connect = (4, "127.0.0.1", "127.0.0.9", 1);

/// The uid -U and -u see on the second connector.
pub const USER: u32 = 1000;

// --------------------------------------------------- options and methods

/// One option (or none) of a run, with what it needs from the script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opt {
    Plain,
    /// -t
    Time,
    /// -U, with a root and a uid-1000 connector.
    UidColumn,
    /// -u 1000, with a root and a uid-1000 connector.
    UidFilter,
    /// -p of a connector parked before the tracer starts; a second one
    /// must not show.
    Pid,
    /// -P 8080: port 1 must not show.
    Port,
    V4,
    V6,
    /// -L
    Lport,
    /// -c: the table at SIGINT.
    Count,
    /// -d after a real DNS exchange.
    Dns,
    /// -j
    Json,
    /// --result -L, on the `connector --handshakes` scenario (OK, refused,
    /// timed out, closed: handshake_lines.rs).
    Result,
    /// --failed -L, on the same scenario: the three that failed.
    Failed,
}

pub const EVERY_OPTION: &[Opt] = &[
    Opt::Plain,
    Opt::Time,
    Opt::UidColumn,
    Opt::UidFilter,
    Opt::Pid,
    Opt::Port,
    Opt::V4,
    Opt::V6,
    Opt::Lport,
    Opt::Count,
    Opt::Dns,
    Opt::Json,
    Opt::Result,
    Opt::Failed,
];

impl Opt {
    pub fn name(self) -> &'static str {
        match self {
            Opt::Plain => "plain",
            Opt::Time => "t",
            Opt::UidColumn => "U",
            Opt::UidFilter => "u",
            Opt::Pid => "p",
            Opt::Port => "P",
            Opt::V4 => "4",
            Opt::V6 => "6",
            Opt::Lport => "L",
            Opt::Count => "c",
            Opt::Dns => "d",
            Opt::Json => "j",
            Opt::Result => "result",
            Opt::Failed => "failed",
        }
    }

    /// The option's arguments.
    fn flags(self) -> String {
        match self {
            Opt::Plain => String::new(),
            Opt::Time => " -t".into(),
            Opt::UidColumn => " -U".into(),
            Opt::UidFilter => format!(" -u {USER}"),
            Opt::Pid => " -p $P_a".into(),
            Opt::Port => " -P 8080".into(),
            Opt::V4 => " -4".into(),
            Opt::V6 => " -6".into(),
            Opt::Lport => " -L".into(),
            Opt::Count => " -c".into(),
            Opt::Dns => " -d".into(),
            Opt::Json => " -j".into(),
            Opt::Result => " --result -L".into(),
            Opt::Failed => " --failed -L".into(),
        }
    }

    /// The script line that traces run `run` with `tool` (the method's
    /// command) and this option, always with -v.
    fn script(self, run: &str, tool: &str) -> String {
        // Two parked connectors, released in this order; the first is the
        // run's connector, and both PIDs are reported.
        let two = |first: &str, second: &str, second_targets: &str| {
            (
                format!(
                    "park {first}; TARGETS=\"{second_targets}\" park {second}; CONNECT='release {first} {second}' "
                ),
                format!("; begin {run}.parked; echo $P_{first} $P_{second}; end {run}.parked"),
            )
        };
        let (before, after) = match self {
            Opt::UidColumn | Opt::UidFilter => two("root", "user", &format!("--uid {USER} $TARGETS")),
            Opt::Pid => two("a", "b", "$TARGETS"),
            Opt::Dns => (
                "TARGETS=\"$DNS_TARGETS\" CONNECT=dns_connect ".to_owned(),
                format!("; begin {run}.netns; echo $N; end {run}.netns"),
            ),
            Opt::Result | Opt::Failed => (format!("TARGETS=\"--handshakes {BASE_PORT}\" "), String::new()),
            _ => (String::new(), String::new()),
        };
        format!("{before}trace {run} {tool} -v{}{after}", self.flags())
    }
}

/// Which way a method traces, as far as the output differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// sock:inet_sock_set_state as a perf tracepoint event: the local port
    /// is known only with -L (read when connect(2) returns).
    Tracepoint,
    /// kprobe+kretprobe through this API (as -v names it): the local port
    /// is known at tcp_v*_connect's return.
    Kprobe(&'static str),
}

pub const PMU: Via = Via::Kprobe("kprobe PMU");
pub const TRACEFS: Via = Via::Kprobe("tracefs kprobe_events");

/// An attach method: the command that selects it and what -v says.
pub struct Method {
    /// Prefix of its runs' section names.
    pub name: &'static str,
    /// The tracer's command line without options.
    pub command: &'static str,
    pub via: Via,
    /// What -v prints before tracing starts, exactly.
    pub attach: String,
    /// The options it runs with.
    pub options: &'static [Opt],
}

impl Method {
    /// What -v prints with option `opt`: -L on the tracepoint path attaches
    /// the syscall tracepoints first; -4 on the kprobe path needs neither
    /// tcp_v6_connect nor the IPv6 offsets.
    fn attach_with(&self, opt: Opt) -> String {
        match (self.via, opt) {
            (Via::Tracepoint, Opt::Lport | Opt::Result | Opt::Failed) => format!(
                "tcpconnect: attach: tracepoints syscalls:sys_enter_connect, sys_exit_connect (-L)\n{}",
                self.attach
            ),
            (Via::Kprobe(api), Opt::V4) => {
                format!("tcpconnect: attach: kprobe+kretprobe ({api}) on tcp_v4_connect\n")
            }
            // --result attaches its kprobe on tcp_set_state first.
            (Via::Kprobe(api), Opt::Result | Opt::Failed) => {
                let connect = format!("tcpconnect: attach: kprobe+kretprobe ({api}) on ");
                let at = self.attach.find(&connect).expect("the kprobe attach line");
                let set_state = format!("tcpconnect: attach: kprobe ({api}) on tcp_set_state (--result)\n");
                format!("{}{set_state}{}", &self.attach[..at], &self.attach[at..])
            }
            _ => self.attach.clone(),
        }
    }
}

impl Method {
    /// Whether the method traces the NFS mount's connect (`check_nfs`):
    /// every method but those with TCPCONNECT_BTF=off, which attach as their
    /// twins with BTF do and differ only in where the IPv6 offsets come
    /// from, which an IPv4 connect does not read.
    fn traces_nfs(&self) -> bool {
        !self.command.contains("TCPCONNECT_BTF=off")
    }
}

/// What every method runs with, at least.
pub const SOME_OPTIONS: &[Opt] = &[Opt::Plain, Opt::Lport, Opt::V4, Opt::V6, Opt::Json, Opt::Result];

pub const AUTO: &str = "tcpconnect";
pub const TRACEPOINT: &str = "tcpconnect --attach tracepoint";
pub const KPROBE: &str = "tcpconnect --attach kprobe";
pub const LEGACY: &str = "env TCPCONNECT_KPROBE_API=legacy tcpconnect --attach kprobe";
pub const NOBTF: &str = "env TCPCONNECT_BTF=off tcpconnect --attach kprobe";
/// The perf event arrays where the kernel has the BPF ring buffer, on the
/// raw tracepoint and on the kprobe PMU.
pub const PERF_ARRAYS: &str = "env TCPCONNECT_TRANSPORT=perf tcpconnect";
pub const KPROBE_PERF_ARRAYS: &str = "env TCPCONNECT_TRANSPORT=perf tcpconnect --attach kprobe";
pub const NOBTF_LEGACY: &str =
    "env TCPCONNECT_BTF=off TCPCONNECT_KPROBE_API=legacy tcpconnect --attach kprobe";

/// What -v says when the IPv6 offsets come from `source` (BTF or
/// calibration): the same on every kernel here.
pub fn offsets_line(source: &str) -> String {
    format!("tcpconnect: struct sock_common: skc_v6_daddr at 56, skc_v6_rcv_saddr at 72 ({source})\n")
}

/// -v on the kprobe path of a kernel without usable BTF: `why` is the
/// reason; then the offsets by calibration, then `attach`.
pub fn calibrated(why: &str, attach: &str) -> String {
    format!("tcpconnect: cannot use BTF ({why}); calibrating\n{}{attach}", offsets_line("by calibration"))
}

/// The kprobe methods of a kernel with BTF: "kprobe" (the kprobe PMU) and
/// "legacy" (kprobe_events) with the IPv6 offsets from BTF, then both by
/// calibration ("nobtf", "nobtf_legacy": TCPCONNECT_BTF=off), with these
/// options in that order.
pub fn kprobe_methods_with_btf(options: [&'static [Opt]; 4]) -> Vec<Method> {
    let from_btf = offsets_line("from BTF");
    let methods = [
        ("kprobe", KPROBE, PMU, format!("{from_btf}{PMU_ATTACH}")),
        ("legacy", LEGACY, TRACEFS, format!("{from_btf}{LEGACY_ATTACH}")),
        ("nobtf", NOBTF, PMU, calibrated(BTF_OFF, PMU_ATTACH)),
        ("nobtf_legacy", NOBTF_LEGACY, TRACEFS, calibrated(BTF_OFF, LEGACY_ATTACH)),
    ];
    methods
        .into_iter()
        .zip(options)
        .map(|((name, command, via, attach), options)| Method { name, command, via, attach, options })
        .collect()
}

pub const NO_BTF: &str = "/sys/kernel/btf/vmlinux: not found (kernel built without CONFIG_DEBUG_INFO_BTF)";
pub const BTF_OFF: &str = "disabled by TCPCONNECT_BTF=off";
pub const NO_TRACEPOINT: &str =
    "tcpconnect: this kernel has no tracepoint sock:inet_sock_set_state (upstream Linux added it in 4.16)\n";

// ------------------------------------------------------------ the kernels

/// A kernel and what it offers.
pub struct Kernel {
    /// Its fixtures' folder in tests/fixtures/tracefs, e.g.
    /// "linux-4.19.108-x86_64".
    pub fixtures: String,
    /// `uname -r` in the guest.
    pub release: String,
    pub methods: Vec<Method>,
    /// Whether sock:inet_sock_set_state exists (4.16+).
    pub has_state_tracepoint: bool,
    /// bpf_get_current_cgroup_id (4.18), which --cgroupmap needs.
    pub has_cgroup_id_helper: bool,
    /// The method that makes legacy kprobes (SIGKILLed, then swept).
    pub legacy: &'static str,
    /// How kprobe_events lists our `r4096:` return probes.
    pub retprobe_listed: &'static str,
    /// Another folder of format files the guest's must equal (../shared's
    /// `formats/`), where the kernel has one.
    pub formats_copy: Option<PathBuf>,
    /// More script, run after the matrix; the caller checks its sections
    /// in the `VmOutput` that `check` returns.
    pub extra_script: String,
    /// BPF_MAP_TYPE_RINGBUF (5.8+): events go through the BPF ring buffer.
    pub ring_buffer: bool,
    /// /sys/kernel/btf/vmlinux: -d reads answers in the kernel.
    pub has_btf: bool,
    /// Why -d's program on delivered packets (cgroup_skb) does not run
    /// here, as -v says it, where it does not: then -d reads the answers at
    /// the syscall tracepoints.
    pub dns_delivery_refused: Option<&'static str>,
    /// The NFS client, for the connect the kernel makes itself
    /// (`check_nfs`); the RHEL kernels here are built without it.
    pub has_nfs: bool,
    /// Script run before the matrix, e.g. a sysctl.
    pub setup: String,
}

pub const FORMATS: [&str; 3] =
    ["sock/inet_sock_set_state", "syscalls/sys_enter_connect", "syscalls/sys_exit_connect"];

impl Kernel {
    /// Whether `method` traces the NFS mount's connect on this kernel.
    fn traces_nfs(&self, method: &Method) -> bool {
        self.has_nfs && method.traces_nfs()
    }

    pub fn method(&self, name: &str) -> &Method {
        self.methods.iter().find(|m| m.name == name).unwrap_or_else(|| panic!("no method {name}"))
    }

    fn script(&self) -> String {
        let mut script = format!(
            r#"{TRACE_HELPERS}
{setup}
section release uname -r
section memlock ulimit -l
for event in {formats}; do
  f=$TRACING/events/$event/format
  begin format.$event; if [ -e $f ]; then cat $f; else echo absent; fi; end format.$event
done
# Accepts on 8080, IPv4 and IPv6 (one dual-stack socket).
nc -ll -p 8080 -e /bin/true </dev/null >/dev/null 2>&1 &
i=0; while ! netstat -ltn | grep -q ':8080 ' && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
TARGETS="{TARGETS}"
DNS_TARGETS="{DNS_TARGETS}"
# -d: the connects of DNS_TARGETS, then the private namespace's connector
# (its PID in N).
dns_connect() {{
  connect
  _c=$C; mv /tmp/conn /tmp/conn.vm
  rm -f /tmp/go; mkfifo /tmp/go
  {DNS_NETNS_CONNECTOR} < /tmp/go > /tmp/conn 2>&1 &
  N=$!
  echo go > /tmp/go
  wait $N
  cat /tmp/conn >> /tmp/conn.vm; mv /tmp/conn.vm /tmp/conn
  C=$_c
}}
# --result's timed-out connect gives up after 1 s + 2 s.
echo 1 > /proc/sys/net/ipv4/tcp_syn_retries
"#,
            formats = FORMATS.join(" "),
            setup = self.setup,
        );
        for method in &self.methods {
            for &opt in method.options {
                script.push_str(&opt.script(&format!("{}.{}", method.name, opt.name()), method.command));
                script.push('\n');
            }
            if self.traces_nfs(method) {
                script.push_str(&format!(
                    "CONNECT=nfs_mount trace {}.nfs {} -v\n",
                    method.name, method.command
                ));
            }
        }
        if !self.has_state_tracepoint {
            script.push_str(&format!("trace no_tracepoint {TRACEPOINT} -v\n"));
        }
        // --cgroupmap needs bpf_get_current_cgroup_id (4.18): a pinned map
        // the tool accepts, then one line on older kernels, an empty trace
        // (no cgroup is in the map) on newer ones.
        script
            .push_str("connector --pin-hash /sys/fs/bpf/cgroups > /tmp/pin 2>&1; section pin cat /tmp/pin\n");
        if self.has_cgroup_id_helper {
            script.push_str("trace cgroupmap tcpconnect --cgroupmap /sys/fs/bpf/cgroups\n");
        } else {
            script.push_str(
                "tcpconnect --cgroupmap /sys/fs/bpf/cgroups > /tmp/out 2> /tmp/err\nrc=$?\n\
                 begin cgroupmap; echo $rc; cat /tmp/out /tmp/err; end cgroupmap\n",
            );
        }
        // SIGKILL leaves legacy probes behind; the next run sweeps them.
        let legacy = self.method(self.legacy).command;
        script.push_str(&format!("kill_run {legacy}\ntrace sweep {legacy} -v\n"));
        script.push_str(&self.extra_script);
        script
    }
}

/// Boots `kernel` once on `assets` with both static binaries and its script,
/// and checks that the script ran to its end.
fn boot(test: &str, kernel: &Kernel, assets: &VmAssets) -> VmOutput {
    let bins = build_static_binaries();
    let runs: usize =
        kernel.methods.iter().map(|m| m.options.len() + usize::from(kernel.traces_nfs(m))).sum();
    // Under TCG a run takes a few seconds; the boot up to a minute.
    // A margin, not a wait: 12 s a run (a --result run alone takes 3.3 s,
    // and TCG on a loaded host is several times slower than on an idle one:
    // bullseye's 109 runs overran 8 s a run once, with builds beside it).
    let timeout = Duration::from_secs(120 + 12 * runs as u64);
    let run = || {
        Vm::new(assets)
            .file("/usr/bin/tcpconnect", &bins.tcpconnect, 0o755)
            .file("/usr/bin/connector", &bins.connector, 0o755)
            .memory_mib(1024)
            .cpus(2)
            .timeout(timeout)
            .script(&kernel.script())
            .run()
    };
    // Seen once in CI, on sid's 7.2 under TCG with 2 vCPUs: the guest
    // panicked in __schedule at an address inside an instruction (a jump's
    // displacement), in rcu_gp_kthread, between two runs, after kprobes
    // and perf events were torn down: code the kernel patches at run time
    // (static keys, kprobe jumps) half-seen by the other vCPU's translated
    // code. A kernel panic gets one more boot, said on stderr; a second one
    // fails the test (a panic our programs caused would recur).
    let out = match run() {
        Err(e) if e.contains("Kernel panic") => {
            eprintln!("{test}: the guest kernel panicked; booting once more. The first boot:\n{e}");
            run()
        }
        other => other,
    }
    .unwrap_or_else(|e| panic!("{test}: {e}"));
    eprintln!("{test}: VM wall time {:.1?} ({runs} traced runs, kernel {})", out.elapsed, kernel.release);
    // What the script printed, kept for a look after a failed check (and
    // for reading a new kernel's format files into tests/fixtures/tracefs).
    let kept = crate::vm::cargo_target_dir().join(format!("{test}.console"));
    match std::fs::write(&kept, &out.console) {
        Ok(()) => eprintln!("{test}: the script's output is in {}", kept.display()),
        Err(e) => eprintln!("{test}: cannot keep the script's output in {}: {e}", kept.display()),
    }
    assert_eq!(out.status, 0, "{test}: script failed:\n{}", out.console);
    out
}

// ------------------------------------------------------------ the checks

/// The connector's outcomes for connectors that each made `TARGETS`: the
/// local port of each connect where it was accepted, per connector.
fn outcomes(run: &TraceRun, connectors: usize, name: &str) -> Vec<Vec<Option<u16>>> {
    let lines: Vec<&str> = run.conn.lines().collect();
    assert_eq!(lines.len(), connectors * LINES.len(), "{name}: the connector's outcomes:\n{}", run.conn);
    let outcome = |(i, line): (usize, &&str)| {
        if i % LINES.len() < REFUSED {
            assert_eq!(**line, *"ConnectionRefused", "{name}: connect {i}:\n{}", run.conn);
            None
        } else {
            let port = line.strip_prefix("ok ").and_then(|p| p.parse::<u16>().ok());
            assert!(port.is_some_and(|p| p != 0), "{name}: connect {i}:\n{}", run.conn);
            port
        }
    };
    let all: Vec<Option<u16>> = lines.iter().enumerate().map(outcome).collect();
    all.chunks(LINES.len()).map(<[_]>::to_vec).collect()
}

/// The local port of each connect: the connector's where it was accepted;
/// where it was refused the port is gone when connect(2) fails, so the one
/// the tracer printed (`printed`, by line), which must be nonzero.
fn lports(known: &[Option<u16>], printed: &[Option<u16>], name: &str) -> Vec<u16> {
    let nonzero = |i: usize| {
        let port = printed.get(i).copied().flatten().unwrap_or_default();
        assert_ne!(port, 0, "{name}: no local port printed for refused connect {i}");
        port
    };
    known.iter().enumerate().map(|(i, known)| known.unwrap_or_else(|| nonzero(i))).collect()
}

/// The parked connectors' PIDs (`.parked`), in release order.
fn parked(out: &VmOutput, name: &str) -> (u32, u32) {
    let text = section(out, &format!("{name}.parked"));
    let pids: Vec<u32> = text.split_whitespace().map(|p| p.parse().expect("pid")).collect();
    assert_eq!(pids.len(), 2, "{name}: {text}");
    (pids[0], pids[1])
}

/// Lines of `text` after `header_lines` lines, as the text before byte
/// `at` (a column bcc prints with no fixed value) and the rest.
fn columns(text: &str, header_lines: usize, at: usize) -> Vec<&str> {
    text.lines().skip(header_lines).map(|l| l.get(..at).unwrap_or(l)).collect()
}

/// -t: TIME(s) is `%-9.3f` of the seconds since the first event: 0.000
/// first, never decreasing, and these connects take well under a second.
fn check_times(times: &[&str], name: &str) {
    let mut last = 0.0;
    for (i, time) in times.iter().enumerate() {
        let seconds: f64 = time.trim_end().parse().unwrap_or_else(|_| panic!("{name}: TIME(s) {time:?}"));
        assert_eq!(*time, format!("{seconds:<9.3}"), "{name}: %-9.3f");
        assert!(seconds >= last && seconds < 1.0, "{name}: TIME(s) {times:?}");
        if i == 0 {
            assert_eq!(*time, "0.000    ", "{name}: the first event is at 0.000");
        }
        last = seconds;
    }
}

/// What the run of `method` with `opt` must print on stdout, given what
/// only the run can know (PIDs, local ports of refused connects, times).
fn expected_stdout(
    out: &VmOutput,
    kernel: &Kernel,
    method: &Method,
    opt: Opt,
    run: &TraceRun,
    name: &str,
) -> String {
    let pid = run.connector_pid;
    let lines_of = |keep: fn(&Connect) -> bool| -> Vec<Connect> { LINES.into_iter().filter(keep).collect() };
    let mut text = String::new();
    let mut push = |line: String| {
        text.push_str(&line);
        text.push('\n');
    };
    match opt {
        Opt::Result | Opt::Failed => unreachable!("{name}: check_run checks --result runs itself"),
        Opt::Plain => return connector_output(pid, &LINES),
        Opt::Port => return connector_output(pid, &lines_of(|l| l.3 == 8080)),
        Opt::V4 => return connector_output(pid, &lines_of(|l| l.0 == 4)),
        Opt::V6 => return connector_output(pid, &lines_of(|l| l.0 == 6)),
        Opt::Time => {
            let times = columns(&run.out, 1, 9);
            check_times(&times, name);
            push(format!("TIME(s)  {HEADER}"));
            for (i, (ip, saddr, daddr, dport)) in LINES.into_iter().enumerate() {
                let time = times.get(i).copied().unwrap_or_default();
                push(format!("{time}{}", bcc_line(pid, "connector", ip, saddr, daddr, dport)));
            }
        }
        Opt::UidColumn | Opt::UidFilter => {
            let (root, user) = parked(out, name);
            assert_eq!(pid, root, "{name}: root's connector goes first");
            if opt == Opt::UidFilter {
                return connector_output(user, &LINES);
            }
            push(format!("UID   {HEADER}"));
            for (pid, uid) in [(root, 0), (user, USER)] {
                for (ip, saddr, daddr, dport) in LINES {
                    push(format!("{uid:<6}{}", bcc_line(pid, "connector", ip, saddr, daddr, dport)));
                }
            }
        }
        Opt::Pid => {
            let (traced, other) = parked(out, name);
            assert_eq!(pid, traced, "{name}");
            assert_ne!(traced, other);
            return connector_output(traced, &LINES);
        }
        Opt::Lport => {
            let printed: Vec<Option<u16>> = run.out.lines().skip(1).map(|l| Some(lport_of(l))).collect();
            let ports = lports(&outcomes(run, 1, name)[0], &printed, name);
            push(LPORT_HEADER.to_owned());
            for ((ip, saddr, daddr, dport), lport) in LINES.into_iter().zip(ports) {
                push(lport_line(pid, ip, saddr, lport, daddr, dport));
            }
        }
        Opt::Json => {
            // The kprobe path knows the local port of every connect; the
            // state tracepoint's SYN_SENT comes before the port is chosen.
            let printed: Vec<Option<u16>> = run.out.lines().map(json_lport).collect();
            let ports: Vec<Option<u16>> = match method.via {
                Via::Kprobe(_) => {
                    lports(&outcomes(run, 1, name)[0], &printed, name).into_iter().map(Some).collect()
                }
                Via::Tracepoint => vec![None; LINES.len()],
            };
            for (line, lport) in LINES.into_iter().zip(ports) {
                push(json_line(0, pid, line, lport));
            }
        }
        Opt::Count => {
            return count_table(&[
                ("127.0.0.1", "127.0.0.1", 1, 2),
                ("127.0.0.1", "127.0.0.1", 8080, 2),
                ("::1", "::1", 1, 1),
                ("::1", "::1", 8080, 1),
            ])
        }
        Opt::Dns => {
            push(format!("{HEADER} QUERY"));
            for ((ip, saddr, daddr, dport), query) in DNS_LINES {
                push(format!("{} {query}", bcc_line(pid, "connector", ip, saddr, daddr, dport)));
            }
            let netns_pid = section(out, &format!("{name}.netns")).trim_end().parse().expect("pid");
            let every_netns = dns_line(kernel, method).contains("in every network namespace");
            let query = if every_netns { "alpha.test" } else { "No DNS Query" };
            let (ip, saddr, daddr, dport) = DNS_NETNS_LINE;
            push(format!("{} {query}", bcc_line(netns_pid, "connector", ip, saddr, daddr, dport)));
        }
    }
    text
}

/// Checks run `method`.`opt`: its stdout, -v's lines, its connects.
fn check_run(out: &VmOutput, kernel: &Kernel, method: &Method, opt: Opt) -> Option<u32> {
    let name = format!("{}.{}", method.name, opt.name());
    let run = trace_run(out, &name);
    if opt == Opt::Plain {
        eprintln!("{name} ({}):\n{}{}{}", method.command, run.out, run.transport, run.err);
    }
    assert_eq!(run.transport, method_transport(kernel, method), "{name}: -v's transport");
    if matches!(opt, Opt::Result | Opt::Failed) {
        eprintln!("{name} ({}):\n{}", method.command, run.out);
        let said: Vec<String> = run.conn.lines().map(str::to_string).collect();
        check_result_run(run.connector_pid, &run.out, &said, opt == Opt::Failed);
        return Some(sk_err_said(&run.err, &method.attach_with(opt), &name));
    }
    match opt {
        Opt::Dns => assert_eq!(run.conn, "ConnectionRefused\n".repeat(DNS_LINES.len() + 1), "{name}"),
        Opt::UidColumn | Opt::UidFilter | Opt::Pid => drop(outcomes(&run, 2, &name)),
        _ => drop(outcomes(&run, 1, &name)),
    }
    assert_eq!(run.out, expected_stdout(out, kernel, method, opt, &run, &name), "{name}: stdout");
    let err = match opt {
        Opt::Dns => {
            let expected = format!("{}\n", dns_line(kernel, method));
            let rest = run.err.strip_prefix(&expected);
            assert!(rest.is_some(), "{name}: -v's -d lines: {:?}, not {expected:?}", run.err);
            rest.unwrap_or_default().to_owned()
        }
        _ => run.err.clone(),
    };
    assert_eq!(err, method.attach_with(opt), "{name}: -v");
    if let Some(account) = expected_account(opt) {
        let said = section(out, &format!("{name}.err"));
        let line = said.lines().find(|l| l.starts_with("tcpconnect: account: ")).unwrap_or_default();
        assert_eq!(line, account, "{name}: -v's account");
    }
    None
}

/// -v's account at exit of a run of `opt`, where it is the same on every
/// method: each connect seen once (a v4-mapped one too, which enters
/// tcp_v4_connect inside tcp_v6_connect on the kprobe path), those of the
/// second connector of -p dropped by the filter.
fn expected_account(opt: Opt) -> Option<String> {
    let (seen, dropped) = match opt {
        Opt::Plain => (LINES.len(), 0),
        Opt::Pid => (2 * LINES.len(), LINES.len()),
        _ => return None,
    };
    let sent = seen - dropped;
    Some(format!(
        "tcpconnect: account: the hooks saw {seen} connects, the filters dropped {dropped}; the programs sent \
         {sent}; {sent} printed, 0 lost to a full ring or map, 0 not printed at exit"
    ))
}

/// What -v's transport line says for `method` on `kernel` (2 CPUs): the
/// kernel's own where the method does not force the perf event arrays.
fn method_transport(kernel: &Kernel, method: &Method) -> String {
    if method.command.contains("TCPCONNECT_TRANSPORT=perf") {
        return "tcpconnect: events: perf event arrays (256 KiB a CPU, 2 CPUs; TCPCONNECT_TRANSPORT=perf)\n"
            .into();
    }
    transport_line(kernel.ring_buffer, 2)
}

/// What -v says of -d's answers: taken in the kernel where it has BTF (the
/// 3.10 and 4.x kernels here have none) and the method does not turn it
/// off, as they are delivered where the kernel takes that program, else as
/// processes read them; else the packet socket, and why. One line or two.
pub fn dns_line(kernel: &Kernel, method: &Method) -> String {
    let prefix = "tcpconnect: dns:";
    if method.command.contains("TCPCONNECT_BTF=off") {
        return format!(
            "{prefix} a packet socket, this network namespace only (no BTF for the network namespace of a \
             task: disabled by TCPCONNECT_BTF=off)"
        );
    }
    if !kernel.has_btf {
        return format!(
            "{prefix} a packet socket, this network namespace only (no BTF for the network namespace of a \
             task: {NO_BTF})"
        );
    }
    match kernel.dns_delivery_refused {
        None => format!(
            "{prefix} answers as the kernel delivers them to sockets, in every network namespace (cgroup_skb \
             ingress on the cgroup v2 root /sys/fs/cgroup)"
        ),
        Some(reason) => format!(
            "{prefix} no program on delivered datagrams: {reason}\n{prefix} answers as processes read them, in \
             every network namespace (tracepoints syscalls:sys_{{enter,exit}}_{{recvfrom,recvmsg,read}})"
        ),
    }
}

/// The offset of sk_err a --result run's -v names (from BTF or by
/// calibration), after checking its other lines are `attach`'s.
fn sk_err_said(err: &str, attach: &str, name: &str) -> u32 {
    let mut offsets = Vec::new();
    let mut rest = String::new();
    for line in err.lines() {
        if let Some(said) = line.strip_prefix("tcpconnect: struct sock: sk_err at ") {
            let (offset, source) = said.split_once(' ').unwrap_or_else(|| panic!("{name}: {line}"));
            assert!(source == "(from BTF)" || source == "(by calibration)", "{name}: {line}");
            offsets.push(offset.parse::<u32>().unwrap_or_else(|_| panic!("{name}: {line}")));
        } else if !line.starts_with("tcpconnect: cannot use BTF for sk_err (") {
            rest.push_str(line);
            rest.push('\n');
        }
    }
    assert_eq!(rest, attach, "{name}: -v");
    assert_eq!(offsets.len(), 1, "{name}: one sk_err line:\n{err}");
    offsets[0]
}

/// Checks run `method`.nfs: the connect the kernel made for an NFS mount
/// (`nfs_mount`), printed once with the PID and COMM of the kernel thread
/// that ran the RPC transport's connect work (xs_tcp_setup_socket; a
/// kworker of xprtiod, or its rescuer: `nfs_workers`), not the mount
/// task's: the kernel connects from that work item on every kernel here,
/// and both the state tracepoint (tcp_set_state in tcp_v4_connect) and the
/// kretprobe of tcp_v4_connect run in it.
fn check_nfs(out: &VmOutput, method: &Method) {
    let name = format!("{}.nfs", method.name);
    let (run, workers) = nfs_run(out, &name);
    assert_ne!(run.transport, "", "{name}: -v names the transport");
    assert_eq!(run.out, nfs_connect_output(&workers), "{name}: stdout");
    assert_eq!(run.err, method.attach_with(Opt::Plain), "{name}: -v");
}

/// Boots `kernel` on `assets`, checks every run of the matrix, and returns
/// the VM's output for the caller's own checks (`Kernel::extra_script`).
pub fn check(test: &str, kernel: &Kernel, assets: &VmAssets) -> VmOutput {
    let out = boot(test, kernel, assets);
    assert_eq!(section(&out, "release"), format!("{}\n", kernel.release));

    // The guest's format files are the fixtures' (ours in the tree, and
    // ../shared's where it has one).
    let fixtures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tracefs").join(&kernel.fixtures);
    for event in FORMATS {
        let guest = section(&out, &format!("format.{event}"));
        let file = format!("{}.format", event.replace('/', "."));
        let exists = guest != "absent\n";
        let expected_exists = kernel.has_state_tracepoint || !event.starts_with("sock/");
        assert_eq!(exists, expected_exists, "{test}: {event}:\n{guest}");
        if !exists {
            continue;
        }
        let ours = fixtures.join(&file);
        let ours = std::fs::read_to_string(&ours).unwrap_or_else(|e| panic!("{}: {e}", ours.display()));
        assert_eq!(
            guest, ours,
            "{test}: {event} differs from tests/fixtures/tracefs/{}/{file}",
            kernel.fixtures
        );
        if let Some(copy) = &kernel.formats_copy {
            if let Ok(theirs) = std::fs::read_to_string(copy.join(&file)) {
                assert_eq!(guest, theirs, "{test}: {event} differs from {}", copy.join(&file).display());
            }
        }
    }

    // sk_err's offset, from BTF or by calibration, on every method.
    let mut sk_err = Vec::new();
    for method in &kernel.methods {
        for &opt in method.options {
            sk_err.extend(check_run(&out, kernel, method, opt).map(|offset| (method.name, offset)));
        }
        if kernel.traces_nfs(method) {
            check_nfs(&out, method);
        }
    }
    eprintln!("{test}: sk_err at {sk_err:?}");
    assert!(!sk_err.is_empty(), "{test}: a --result run");
    assert!(sk_err.iter().all(|(_, o)| *o == sk_err[0].1), "{test}: BTF and calibration agree: {sk_err:?}");

    if !kernel.has_state_tracepoint {
        // Asked for, the missing tracepoint is named, in one line.
        assert_eq!(section(&out, "no_tracepoint.rc"), "1\n", "{test}: --attach tracepoint");
        assert_eq!(section(&out, "no_tracepoint.out"), "", "{test}: --attach tracepoint");
        assert_eq!(
            section(&out, "no_tracepoint.err"),
            format!("{}{NO_TRACEPOINT}", transport_line(kernel.ring_buffer, 2)),
            "{test}: --attach tracepoint, with -v's transport line"
        );
        assert_eq!(section(&out, "no_tracepoint.events_after"), "", "{test}: --attach tracepoint");
    }

    assert_eq!(section(&out, "pin"), "pinned\n", "{test}");
    if kernel.has_cgroup_id_helper {
        let run = trace_run(&out, "cgroupmap");
        assert_eq!(run.out, format!("{HEADER}\n"), "{test}: no cgroup is in the map");
        assert_eq!(run.err, "", "{test}");
    } else {
        assert_eq!(
            section(&out, "cgroupmap"),
            "1\ntcpconnect: --cgroupmap needs the BPF helper bpf_get_current_cgroup_id, which this kernel does \
             not have (upstream Linux added it in 4.18)\n",
            "{test}"
        );
    }

    let killed = killed_pid(&out);
    assert_eq!(
        section(&out, "killed.events"),
        legacy_probe_listing(killed, kernel.retprobe_listed),
        "{test}: SIGKILL leaves the 4 legacy probes"
    );
    let sweep = trace_run(&out, "sweep");
    assert_eq!(sweep.out, connector_output(sweep.connector_pid, &LINES), "{test}: sweep");
    assert_eq!(sweep.err, format!("{}{}", swept_line(killed), kernel.method(kernel.legacy).attach), "{test}");
    out
}

impl Kernel {
    /// A kernel of `release` (fixtures in tests/fixtures/tracefs/`fixtures`)
    /// with `methods`, the state tracepoint, bpf_get_current_cgroup_id,
    /// legacy kprobes made by method "legacy" and listed as `r4096:`, no
    /// other copy of its formats and no extra script.
    pub fn new(fixtures: &str, release: &str, methods: Vec<Method>) -> Kernel {
        Kernel {
            fixtures: fixtures.to_owned(),
            release: release.to_owned(),
            methods,
            has_state_tracepoint: true,
            has_cgroup_id_helper: true,
            legacy: "legacy",
            retprobe_listed: "r4096",
            formats_copy: None,
            extra_script: String::new(),
            ring_buffer: true,
            has_btf: true,
            dns_delivery_refused: None,
            has_nfs: true,
            setup: String::new(),
        }
    }
}
