//! -d for processes in other network namespaces (issue 18), against the
//! real kernel: the tracer runs in the host's network namespace and each
//! client in a private one (`unshare --net`), resolving a name through a
//! DNS server of its own on its own loopback (the connector's
//! `--dns-exchange`) and then connecting to the answer. Nothing listens
//! there: a refused connect is traced like any other, and the host's
//! network is never touched.
//!
//! The tracer sees every process of the host: only the lines of our
//! connectors' PIDs are kept, and each test checks it got exactly those,
//! none more before or after the tracer is stopped (by its PID).

mod support;

use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{attached_lines, bcc_line, have_root, json_line, transport_line, Connector, Tool, HEADER};

/// A way the kernel takes the answers of every namespace: the
/// TCPCONNECT_DNS value that chooses it, and -v's lines for it.
struct Hook {
    switch: Option<&'static str>,
    lines: &'static str,
}

/// The default where it loads (here it does): the cgroup_skb program on
/// the cgroup v2 root, as each answer is delivered to its socket.
const DELIVERY: Hook = Hook {
    switch: None,
    lines: "tcpconnect: dns: answers as the kernel delivers them to sockets, in every network namespace \
            (cgroup_skb ingress on the cgroup v2 root /sys/fs/cgroup/unified)",
};
/// The syscall tracepoints, as each answer is read, forced.
const READS: Hook = Hook {
    switch: Some("syscalls"),
    lines: "tcpconnect: dns: no program on delivered datagrams: TCPCONNECT_DNS=syscalls\n\
            tcpconnect: dns: answers as processes read them, in every network namespace \
            (tracepoints syscalls:sys_{enter,exit}_{recvfrom,recvmsg,read})",
};
/// Every test of a kernel hook runs on both.
const HOOKS: [Hook; 2] = [DELIVERY, READS];
/// -v's line for the packet socket, forced.
const PACKET_SOCKET: &str =
    "tcpconnect: dns: a packet socket, this network namespace only (TCPCONNECT_DNS=packet)";
/// Forces the packet socket; cleared in the other tests, so that a value
/// in the caller's environment cannot choose their path.
const DNS_SWITCH: &str = "TCPCONNECT_DNS";

/// In a network namespace the loopback is down until set up.
const LO_UP: &str = "ip link set lo up";

/// The address every namespace's server answers: all of 127/8 is local on
/// any lo and nothing listens on port 1, so the connect is refused at once.
const ANSWER_V4: &str = "127.0.0.9";
/// The AAAA answer, put on the namespace's lo (nodad: usable at once).
const ANSWER_V6: &str = "fd00::9";
const LO_V6: &str = "ip -6 addr add fd00::9/128 dev lo nodad";

/// `tcpconnect -v -d`, its DNS path chosen by TCPCONNECT_DNS=`dns_switch`
/// or, without one, by the tool.
fn start_tracer(dns_switch: Option<&str>) -> Tool {
    let tool = Tool::start_with(&["-v", "-d"], |command| {
        match dns_switch {
            Some(value) => command.env(DNS_SWITCH, value),
            None => command.env_remove(DNS_SWITCH),
        };
    });
    assert_eq!(tool.header, format!("{HEADER} QUERY"));
    tool
}

/// `tcpconnect -v -d -j` on `hook`, live once -v says the state tracepoint
/// is attached (-j has no header).
fn start_json_tracer(hook: &Hook) -> Tool {
    Tool::start_headerless_with(&["-d", "-j"], |command| {
        match hook.switch {
            Some(value) => command.env(DNS_SWITCH, value),
            None => command.env_remove(DNS_SWITCH),
        };
    })
}

/// The line bcc prints for `pid`'s connect (ip, saddr, daddr, port) with
/// -d's `query`, as text or as -j's object.
fn dns_line(json: bool, pid: u32, connect: (u8, &str, &str, u16), query: &str) -> String {
    if json {
        // The state tracepoint does not know the local port at SYN_SENT:
        // no "lport". "query" is the last field.
        let line = json_line(0, pid, connect, None);
        format!("{},\"query\":\"{query}\"}}", line.strip_suffix('}').unwrap())
    } else {
        let (ip, saddr, daddr, dport) = connect;
        format!("{} {query}", bcc_line(pid, "connector", ip, saddr, daddr, dport))
    }
}

/// Whether `line` is one of `pids`'s (text: the first column; -j: "pid").
fn of_pids(line: &str, pids: &[u32], json: bool) -> bool {
    pids.iter().any(|pid| {
        if json {
            line.contains(&format!(",\"pid\":{pid},"))
        } else {
            line.split_whitespace().next() == Some(pid.to_string().as_str())
        }
    })
}

/// What a stopped tracer printed for our connectors.
struct Run {
    /// The lines of our PIDs, in order.
    lines: Vec<String>,
    /// What it printed on stderr (-v's lines).
    stderr: String,
}

/// Takes the lines of `pids` until there are `want`, then waits for a
/// quiet stdout (a late line, printed twice or for a connect not counted,
/// must be caught too), stops the tracer with SIGINT sent to its PID, and
/// checks it exited well and printed no other line of `pids`.
fn stop(mut tool: Tool, pids: &[u32], json: bool, want: usize) -> Run {
    let lines = tool.lines_matching(want, |l| of_pids(l, pids, json));
    let late = tool.lines_until_quiet(Duration::from_millis(300));
    let (status, rest, stderr) = tool.stop(libc::SIGINT);
    assert!(status.success(), "tcpconnect exited with {status}; stderr: {stderr}");
    let extra: Vec<&String> = late.iter().chain(&rest).filter(|l| of_pids(l, pids, json)).collect();
    assert!(extra.is_empty(), "more lines of connectors {pids:?} than {lines:?}: {extra:?}");
    Run { lines, stderr }
}

/// What -v prints with -d: the transport, the DNS capture's `dns_line`
/// (set up before the state tracepoint attaches, so that no answer a
/// traced connect used can be missed), then that attach, in this test
/// run's mode.
fn verbose(dns_line: &str) -> String {
    let transport = transport_line();
    let attached = attached_lines();
    let attach = attached.strip_prefix(&transport).expect("the transport line first");
    format!("{transport}{dns_line}\n{attach}")
}

/// Checks -v named `hook`, the capture that sees every namespace.
fn assert_hook(run: &Run, hook: &Hook) {
    assert_eq!(run.stderr, verbose(hook.lines), "-v");
}

/// A network namespace kept by a `sleep` of ours, after `setup` ran in it,
/// so that several connectors can be run in it one after the other and
/// its counters read after they are gone. Ended, by its PID, on drop.
struct Netns {
    holder: Child,
}

impl Netns {
    fn new(setup: &str) -> Netns {
        let holder = Command::new("unshare")
            .args(["--net", "sh", "-c", &format!("{setup} && exec sleep 600")])
            .stdin(Stdio::null())
            .spawn()
            .expect("run unshare (util-linux)");
        // unshare and sh exec in turn: once the PID is `sleep`, the setup is
        // done (a failed one ends sh instead).
        let mut netns = Netns { holder };
        let deadline = Instant::now() + Duration::from_secs(10);
        let comm = format!("/proc/{}/comm", netns.pid());
        while std::fs::read_to_string(&comm).unwrap_or_default() != "sleep\n" {
            if let Some(status) = netns.holder.try_wait().unwrap() {
                panic!("the namespace setup `{setup}` failed: {status}");
            }
            assert!(Instant::now() < deadline, "the namespace setup `{setup}` did not finish");
            std::thread::sleep(Duration::from_millis(10));
        }
        let ns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
        assert_ne!(ns(&netns.pid().to_string()), ns("self"), "a network namespace of its own");
        netns
    }

    fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// A connector in this namespace, parked until `go`.
    fn connector(&self, args: &[&str]) -> Connector {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        Connector::spawn_in_netns_of(self.pid(), &args)
    }

    /// The namespace's count of datagrams reassembled from fragments, for
    /// IPv4 (/proc/net/snmp's Ip: ReasmOKs) and IPv6 (snmp6's Ip6ReasmOKs).
    fn reassembled(&self) -> (u64, u64) {
        let snmp = std::fs::read_to_string(format!("/proc/{}/net/snmp", self.pid())).unwrap();
        let mut ip = snmp.lines().filter(|l| l.starts_with("Ip: "));
        let (names, values) = (ip.next().unwrap(), ip.next().unwrap());
        let column = names.split(' ').position(|n| n == "ReasmOKs").expect("Ip: ReasmOKs");
        let v4 = values.split(' ').nth(column).unwrap().parse().unwrap();
        let snmp6 = std::fs::read_to_string(format!("/proc/{}/net/snmp6", self.pid())).unwrap();
        let v6 = snmp6
            .lines()
            .find_map(|l| l.strip_prefix("Ip6ReasmOKs"))
            .expect("Ip6ReasmOKs")
            .trim()
            .parse()
            .unwrap();
        (v4, v6)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// A connector in a private network namespace of its own with lo up.
fn connector_in_new_netns(args: &[&str]) -> Connector {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    Connector::spawn_in_new_netns(LO_UP, &args)
}

/// Splits bcc's "NAME (N.NNNms)" into the name and the age in whole ms,
/// checking the number has exactly three decimals.
fn split_age(text: &str) -> (&str, u64) {
    let (name, age) = text.split_once(" (").unwrap_or_else(|| panic!("{text:?} has no age"));
    let age = age.strip_suffix("ms)").unwrap_or_else(|| panic!("{text:?} does not end in ms)"));
    let (ms, frac) = age.split_once('.').unwrap_or_else(|| panic!("{text:?}: no decimals"));
    assert!(frac.len() == 3 && frac.bytes().all(|b| b.is_ascii_digit()), "{text:?}: three decimals");
    (name, ms.parse().unwrap_or_else(|_| panic!("{text:?}: whole ms")))
}

#[test]
fn dns_names_answers_read_in_another_network_namespace() {
    if !have_root("dns_names_answers_read_in_another_network_namespace") {
        return;
    }
    for (hook, json) in HOOKS.iter().flat_map(|hook| [(hook, false), (hook, true)]) {
        let tool = if json { start_json_tracer(hook) } else { start_tracer(hook.switch) };
        // The second address was never answered: the name belongs to the
        // answered address, not to whatever the process connects to next.
        let connector = connector_in_new_netns(&[
            "--dns-exchange",
            &format!("alpha.test={ANSWER_V4}"),
            &format!("4:{ANSWER_V4}:1"),
            "4:127.0.0.3:1",
        ]);
        let pid = connector.pid();
        assert_eq!(connector.go(), ["ConnectionRefused"; 2]);
        let run = stop(tool, &[pid], json, 2);
        assert_eq!(
            run.lines,
            [
                dns_line(json, pid, (4, "127.0.0.1", ANSWER_V4, 1), "alpha.test"),
                dns_line(json, pid, (4, "127.0.0.1", "127.0.0.3", 1), "No DNS Query"),
            ],
            "json {json}, {:?}",
            hook.switch
        );
        assert_hook(&run, hook);
    }
}

#[test]
fn dns_cache_is_per_network_namespace() {
    if !have_root("dns_cache_is_per_network_namespace") {
        return;
    }
    for hook in &HOOKS {
        let tool = start_tracer(hook.switch);
        let (alpha, beta) = (Netns::new(LO_UP), Netns::new(LO_UP));
        // Both servers answer the same address, each with its own name, alpha
        // first; then each namespace connects to it, alpha first. One cache
        // for all namespaces would name beta.test for both (the latest answer
        // wins), and for the host too, which asked nothing.
        let exchange = |netns: &Netns, name: &str| {
            let connector = netns.connector(&["--dns-exchange", &format!("{name}={ANSWER_V4}")]);
            let pid = connector.pid();
            assert_eq!(connector.go(), Vec::<String>::new(), "an exchange, no connect");
            pid
        };
        let exchanges = [exchange(&alpha, "alpha.test"), exchange(&beta, "beta.test")];
        // Over bcc's 100 ms, so each line shows its answer's age: that of a
        // real answer, at least this old.
        std::thread::sleep(Duration::from_millis(200));
        let target = format!("4:{ANSWER_V4}:1");
        let connect = |connector: Connector| {
            let pid = connector.pid();
            assert_eq!(connector.go(), ["ConnectionRefused"]);
            pid
        };
        let alpha_pid = connect(alpha.connector(&[&target]));
        let beta_pid = connect(beta.connector(&[&target]));
        let host_pid = connect(Connector::spawn(std::slice::from_ref(&target)));
        let run = stop(tool, &[exchanges[0], exchanges[1], alpha_pid, beta_pid, host_pid], false, 3);

        let base = |pid| format!("{} ", bcc_line(pid, "connector", 4, "127.0.0.1", ANSWER_V4, 1));
        assert_eq!(run.lines.len(), 3, "{:?}", run.lines);
        for (line, pid, name) in
            [(&run.lines[0], alpha_pid, "alpha.test"), (&run.lines[1], beta_pid, "beta.test")]
        {
            let query =
                line.strip_prefix(&base(pid)).unwrap_or_else(|| panic!("{line:?}: not {pid}'s connect"));
            let (shown, age_ms) = split_age(query);
            assert_eq!(shown, name, "{line:?}");
            assert!(age_ms >= 200, "{line:?}: the answer came at least 200 ms before");
        }
        assert_eq!(run.lines[2], format!("{}No DNS Query", base(host_pid)));
        assert_hook(&run, hook);
    }
}

#[test]
fn dns_names_a_and_aaaa_answers_read_over_ipv6() {
    if !have_root("dns_names_a_and_aaaa_answers_read_over_ipv6") {
        return;
    }
    for hook in &HOOKS {
        let tool = start_tracer(hook.switch);
        let netns = Netns::new(&format!("{LO_UP} && {LO_V6}"));
        let mut pids = Vec::new();
        for (answer, target) in [
            (format!("v4.test={ANSWER_V4}"), format!("4:{ANSWER_V4}:1")),
            (format!("v6.test={ANSWER_V6}"), format!("6:{ANSWER_V6}:1")),
        ] {
            let connector = netns.connector(&["--dns-v6", "--dns-exchange", &answer, &target]);
            pids.push(connector.pid());
            assert_eq!(connector.go(), ["ConnectionRefused"], "{answer}");
        }
        let run = stop(tool, &pids, false, 2);
        assert_eq!(
            run.lines,
            [
                dns_line(false, pids[0], (4, "127.0.0.1", ANSWER_V4, 1), "v4.test"),
                // The kernel picks lo's one global address as the source.
                dns_line(false, pids[1], (6, ANSWER_V6, ANSWER_V6, 1), "v6.test"),
            ]
        );
        assert_hook(&run, hook);
    }
}

#[test]
fn dns_names_answers_larger_than_one_datagram_segment() {
    if !have_root("dns_names_answers_larger_than_one_datagram_segment") {
        return;
    }
    for hook in &HOOKS {
        let tool = start_tracer(hook.switch);
        // 250 filler records before the real one: about 4 KB, IP-fragmented at
        // lo's MTU of 1280 and reassembled before the client reads it, so no
        // single packet holds the whole answer.
        let netns = Netns::new(&format!("{LO_UP} && ip link set lo mtu 1280"));
        assert_eq!(netns.reassembled(), (0, 0));
        // An address and a name for each, so that one answer cannot hide the
        // other: connects are named when their batch is printed, and by then a
        // later answer for the same address in the same namespace may have
        // replaced the one the connect used (the latest answer wins).
        let cases = [
            (&[][..], "big.test", "127.0.0.9", (1, 0)),
            (&["--dns-v6"][..], "big6.test", "127.0.0.10", (1, 1)),
        ];
        let mut pids = Vec::new();
        for (transport, name, ip, reassembled) in cases {
            let mut args = transport.to_vec();
            let (answer, target) = (format!("{name}={ip}"), format!("4:{ip}:1"));
            args.extend(["--dns-pad", "250", "--dns-exchange", &answer, &target]);
            let connector = netns.connector(&args);
            pids.push(connector.pid());
            assert_eq!(connector.go(), ["ConnectionRefused"]);
            assert_eq!(netns.reassembled(), reassembled, "{transport:?}: the answer came in fragments");
        }
        let run = stop(tool, &pids, false, 2);
        let expected: Vec<String> = pids
            .iter()
            .zip(cases)
            .map(|(&pid, (_, name, ip, _))| dns_line(false, pid, (4, "127.0.0.1", ip, 1), name))
            .collect();
        assert_eq!(run.lines, expected);
        assert_hook(&run, hook);
    }
}

#[test]
fn packet_socket_fallback_sees_only_its_own_network_namespace() {
    if !have_root("packet_socket_fallback_sees_only_its_own_network_namespace") {
        return;
    }
    // The old path, forced: its packet socket is in the host's namespace
    // and never sees the private one's answer. This is the limit the
    // default path lifts.
    let tool = start_tracer(Some("packet"));
    let connector = connector_in_new_netns(&[
        "--dns-exchange",
        &format!("alpha.test={ANSWER_V4}"),
        &format!("4:{ANSWER_V4}:1"),
    ]);
    let pid = connector.pid();
    assert_eq!(connector.go(), ["ConnectionRefused"]);
    let run = stop(tool, &[pid], false, 1);
    assert_eq!(run.lines, [dns_line(false, pid, (4, "127.0.0.1", ANSWER_V4, 1), "No DNS Query")]);
    assert_eq!(run.stderr, verbose(PACKET_SOCKET), "-v");
}

#[test]
fn dns_names_answers_read_with_read_2() {
    if !have_root("dns_names_answers_read_with_read_2") {
        return;
    }
    // Go's resolver connects its UDP socket and reads the answer with
    // read(2), not recvfrom(2) or recvmsg(2); bcc's kprobe on udp_recvmsg
    // sees such reads, and so did the packet socket (in its namespace).
    for hook in &HOOKS {
        let tool = start_tracer(hook.switch);
        let connector = connector_in_new_netns(&[
            "--dns-read",
            "--dns-exchange",
            &format!("go.test={ANSWER_V4}"),
            &format!("4:{ANSWER_V4}:1"),
        ]);
        let pid = connector.pid();
        assert_eq!(connector.go(), ["ConnectionRefused"]);
        let run = stop(tool, &[pid], false, 1);
        assert_eq!(run.lines, [dns_line(false, pid, (4, "127.0.0.1", ANSWER_V4, 1), "go.test")]);
        assert_hook(&run, hook);
    }
}

/// Two answers for one address in one namespace, each right before its own
/// connect: each line names the answer its connect could have used, not the
/// later one, even when both connects print in one batch (the kernel's
/// answers enter the cache in time order with the connects). With the
/// batch read at once, the first line would show second.test.
#[test]
fn a_later_answer_for_the_same_address_does_not_rename_an_earlier_connect() {
    if !have_root("a_later_answer_for_the_same_address_does_not_rename_an_earlier_connect") {
        return;
    }
    for hook in &HOOKS {
        let tool = start_tracer(hook.switch);
        let netns = Netns::new(LO_UP);
        let target = format!("4:{ANSWER_V4}:1");
        let resolve_and_connect = |name: &str| {
            let connector = netns.connector(&["--dns-exchange", &format!("{name}={ANSWER_V4}"), &target]);
            let pid = connector.pid();
            assert_eq!(connector.go(), ["ConnectionRefused"]);
            pid
        };
        // Back to back: well inside one 100 ms flush of the rings.
        let first = resolve_and_connect("first.test");
        let second = resolve_and_connect("second.test");
        let run = stop(tool, &[first, second], false, 2);
        let line = |pid, name| format!("{} {name}", bcc_line(pid, "connector", 4, "127.0.0.1", ANSWER_V4, 1));
        assert_eq!(run.lines, [line(first, "first.test"), line(second, "second.test")]);
        assert_hook(&run, hook);
    }
}

/// An unprivileged process forges a DNS answer: it sends a response naming
/// `www.bank.example` at 127.0.0.77 from its own UDP socket (not port 53)
/// to that socket, and reads it each way a resolver could: recv(2) (no
/// sender asked), recvfrom(2) asking the sender, recvmsg(2), and read(2)
/// on the socket connected to itself. Python as nobody, in the host's
/// network namespace, where root then connects to 127.0.0.77.
const FORGER: &str = r#"
import socket
answer = (bytes([0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]) + b"\x03www\x04bank\x07example\x00\x00\x01\x00\x01"
          + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x7f\x00\x00\x4d")
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0))
me = s.getsockname()
s.sendto(answer, me); s.recv(512)
s.sendto(answer, me); s.recvfrom(512)
s.sendto(answer, me); s.recvmsg(512)
s.connect(me); s.send(answer)
import os; os.read(s.fileno(), 512)
print("forged")
"#;

#[test]
fn a_forged_answer_from_an_unprivileged_process_names_nothing() {
    if !have_root("a_forged_answer_from_an_unprivileged_process_names_nothing") {
        return;
    }
    for hook in &HOOKS {
        let tool = start_tracer(hook.switch);
        let forger = Command::new("setpriv")
            .args([
                "--reuid",
                "65534",
                "--regid",
                "65534",
                "--clear-groups",
                "/usr/bin/python3",
                "-c",
                FORGER,
            ])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&forger.stdout),
            "forged\n",
            "{}",
            String::from_utf8_lossy(&forger.stderr)
        );
        // Root's connect to the address the forgery named.
        let connector = Connector::spawn(&["4:127.0.0.77:1".to_string()]);
        let pid = connector.pid();
        assert_eq!(connector.go(), ["ConnectionRefused"]);
        let run = stop(tool, &[pid], false, 1);
        assert_eq!(run.lines, [dns_line(false, pid, (4, "127.0.0.1", "127.0.0.77", 1), "No DNS Query")]);
        assert_hook(&run, hook);
    }
}

/// The ids of the programs attached to the cgroup v2 root's ingress, as
/// `bpftool cgroup show` lists them.
fn ingress_programs_on_the_root() -> Vec<u32> {
    let out = Command::new("bpftool").args(["cgroup", "show", "/sys/fs/cgroup/unified"]).output().unwrap();
    assert!(out.status.success(), "bpftool cgroup show: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|line| line.contains("cgroup_inet_ingress"))
        .filter_map(|line| line.split_whitespace().next()?.parse().ok())
        .collect()
}

/// The delivery hook is a BPF link: a tracer killed by SIGKILL, which runs
/// no teardown of its own, leaves no program on the cgroup root (a
/// BPF_PROG_ATTACH would stay there until someone detached it).
#[test]
fn a_killed_tracer_leaves_nothing_on_the_cgroup_root() {
    if !have_root("a_killed_tracer_leaves_nothing_on_the_cgroup_root") {
        return;
    }
    let tool = start_tracer(DELIVERY.switch);
    let (progs, _) = tool.bpf_object_ids();
    let ours: Vec<u32> = ingress_programs_on_the_root().into_iter().filter(|id| progs.contains(id)).collect();
    assert_eq!(ours.len(), 1, "one program of ours on the root's ingress: {progs:?}");
    let (status, ..) = tool.stop(libc::SIGKILL);
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    // The kernel detaches as the link's last fd closes, at the exit.
    assert!(!ingress_programs_on_the_root().contains(&ours[0]), "program {} still attached", ours[0]);
}
