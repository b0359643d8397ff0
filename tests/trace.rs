//! End to end on the real kernel: the real binary attaches its BPF program,
//! a connector process with a known PID makes real connects, and the lines
//! must be exactly bcc's. Needs root (see support::have_root).

mod support;

use std::process::Command;
use std::time::Duration;
use support::*;

fn targets(list: &[(&str, &str, u16)]) -> Vec<String> {
    list.iter().map(|(kind, ip, port)| format!("{kind}:{ip}:{port}")).collect()
}

#[test]
fn ipv4_ipv6_and_v4_mapped_connects_print_bcc_lines() {
    if !have_root("ipv4_ipv6_and_v4_mapped_connects_print_bcc_lines") {
        return;
    }
    let ports = Ports::new();
    let mut tool = Tool::start(&[]);
    assert_eq!(tool.header, HEADER);

    let connector = Connector::spawn(&targets(&[
        ("4", "127.0.0.1", ports.v4_port),
        ("4", "127.0.0.1", ports.closed_port),
        ("6", "::1", ports.v6_port),
        ("m", "127.0.0.1", ports.v4_port),
    ]));
    let pid = connector.pid();
    let outcomes = connector.go();
    assert_eq!(outcomes, ["ok", "ConnectionRefused", "ok", "ok"]);

    let lines = tool.lines_of_pid(4, pid, 0);
    assert_eq!(
        lines,
        [
            bcc_line(pid, "connector", 4, "127.0.0.1", "127.0.0.1", ports.v4_port),
            bcc_line(pid, "connector", 4, "127.0.0.1", "127.0.0.1", ports.closed_port),
            bcc_line(pid, "connector", 6, "::1", "::1", ports.v6_port),
            // An AF_INET6 socket to ::ffff:127.0.0.1 is IPv4, as bcc prints it.
            bcc_line(pid, "connector", 4, "127.0.0.1", "127.0.0.1", ports.v4_port),
        ]
    );
    let (status, _, stderr) = tool.stop(libc::SIGINT);
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(stderr, "");
}

#[test]
fn timestamp_column_starts_at_zero_and_is_monotonic() {
    if !have_root("timestamp_column_starts_at_zero_and_is_monotonic") {
        return;
    }
    let ports = Ports::new();
    let connector = Connector::spawn(&targets(&[("4", "127.0.0.1", ports.v4_port); 5]));
    let pid = connector.pid();
    // -p keeps other tests' connects from becoming the "first printed event".
    let mut tool = Tool::start(&["-t", "-p", &pid.to_string()]);
    assert_eq!(tool.header, format!("TIME(s)  {HEADER}"));
    connector.go();
    let lines = tool.lines_of_pid(5, pid, 1);
    assert_eq!(lines.len(), 5, "{lines:?}");
    let mut previous = -1.0f64;
    for (i, line) in lines.iter().enumerate() {
        let (time, rest) = line.split_at(9);
        if i == 0 {
            assert_eq!(time, "0.000    ");
        }
        assert_eq!(time.len(), 9);
        let value: f64 = time.trim_end().parse().unwrap();
        assert!(value >= previous, "{lines:?}");
        previous = value;
        assert_eq!(rest, bcc_line(pid, "connector", 4, "127.0.0.1", "127.0.0.1", ports.v4_port));
    }
    tool.stop(libc::SIGINT);
}

#[test]
fn uid_column_and_uid_filter() {
    if !have_root("uid_column_and_uid_filter") {
        return;
    }
    const UID: u32 = 4242;
    let ports = Ports::new();
    let as_user = Connector::spawn_with(&targets(&[("4", "127.0.0.1", ports.v4_port)]), |c| {
        use std::os::unix::process::CommandExt;
        c.uid(UID);
    });
    let as_root = Connector::spawn(&targets(&[("6", "::1", ports.v6_port)]));
    let (user_pid, root_pid) = (as_user.pid(), as_root.pid());

    let mut all = Tool::start(&["-U"]);
    let mut only_user = Tool::start(&["-U", "-u", &UID.to_string()]);
    // JSON carries the uid without -U (the programs read it only when a
    // line shows it).
    let mut json = Tool::start_headerless(&["-j", "-p", &user_pid.to_string()]);
    assert_eq!(all.header, format!("UID   {HEADER}"));
    assert_eq!(only_user.header, all.header);
    as_root.go();
    as_user.go();

    let user_line =
        format!("{UID:<6}{}", bcc_line(user_pid, "connector", 4, "127.0.0.1", "127.0.0.1", ports.v4_port));
    let root_line = format!("{:<6}{}", 0, bcc_line(root_pid, "connector", 6, "::1", "::1", ports.v6_port));
    let seen = all.lines_matching(2, |l| l == user_line || l == root_line);
    assert_eq!(seen, [root_line.clone(), user_line.clone()]);
    let seen = only_user.lines_matching(1, |l| l == user_line);
    assert_eq!(seen, [user_line]);
    let (_, rest, _) = only_user.stop(libc::SIGINT);
    assert!(!rest.contains(&root_line), "-u {UID} printed uid 0's connect: {rest:?}");
    let json_line = json.lines_matching(1, |_| true).remove(0);
    let user_fields = format!(r#"{{"uid":{UID},"pid":{user_pid},"comm":"connector","#);
    assert!(json_line.starts_with(&user_fields), "-j: {json_line:?}, not {user_fields}...");
    json.stop(libc::SIGINT);
    all.stop(libc::SIGINT);
}

#[test]
fn pid_filter_keeps_only_that_process() {
    if !have_root("pid_filter_keeps_only_that_process") {
        return;
    }
    let ports = Ports::new();
    let wanted = Connector::spawn(&targets(&[("4", "127.0.0.1", ports.v4_port)]));
    let other = Connector::spawn(&targets(&[("4", "127.0.0.1", ports.v4_port)]));
    let (wanted_pid, other_pid) = (wanted.pid(), other.pid());
    let mut tool = Tool::start(&["-p", &wanted_pid.to_string()]);
    other.go();
    wanted.go();
    let lines = tool.lines_matching(1, |_| true);
    assert_eq!(lines, [bcc_line(wanted_pid, "connector", 4, "127.0.0.1", "127.0.0.1", ports.v4_port)]);
    std::thread::sleep(Duration::from_millis(200));
    let (status, rest, _) = tool.stop(libc::SIGTERM);
    assert!(status.success());
    assert!(rest.is_empty(), "-p {wanted_pid} printed more (other pid {other_pid}): {rest:?}");
}

#[test]
fn port_filter_keeps_only_listed_ports() {
    if !have_root("port_filter_keeps_only_listed_ports") {
        return;
    }
    let ports = Ports::new();
    let connector = Connector::spawn(&targets(&[
        ("4", "127.0.0.1", ports.closed_port),
        ("4", "127.0.0.1", ports.v4_port),
        ("6", "::1", ports.v6_port),
        ("m", "127.0.0.1", ports.v4_port),
    ]));
    let pid = connector.pid();
    let list = format!("{},{}", ports.v4_port, ports.v6_port);
    let mut tool = Tool::start(&["-P", &list]);
    connector.go();
    let lines = tool.lines_of_pid(3, pid, 0);
    assert_eq!(
        lines,
        [
            bcc_line(pid, "connector", 4, "127.0.0.1", "127.0.0.1", ports.v4_port),
            bcc_line(pid, "connector", 6, "::1", "::1", ports.v6_port),
            bcc_line(pid, "connector", 4, "127.0.0.1", "127.0.0.1", ports.v4_port),
        ]
    );
    let (_, rest, _) = tool.stop(libc::SIGINT);
    let closed = ports.closed_port.to_string();
    assert!(!rest.iter().any(|l| l.ends_with(&closed)), "{rest:?}");
}

#[test]
fn signals_exit_cleanly_and_unload_everything() {
    if !have_root("signals_exit_cleanly_and_unload_everything") {
        return;
    }
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        let tool = Tool::start(&[]);
        let (progs, maps) = tool.bpf_object_ids();
        assert_eq!(progs.len(), 1, "one program loaded: {progs:?}");
        assert!(maps.len() >= 2, "{maps:?}");
        let (status, _, stderr) = tool.stop(signal);
        assert_eq!(status.code(), Some(0), "signal {signal}: {stderr}");
        assert_eq!(stderr, "");
        assert_gone("prog", &progs);
        assert_gone("map", &maps);
    }
}

/// The kernel frees objects after the last reference goes (RCU): poll.
fn assert_gone(kind: &str, ids: &[u32]) {
    for id in ids {
        let mut gone = false;
        for _ in 0..100 {
            let out = Command::new("bpftool")
                .args([kind, "show", "id", &id.to_string()])
                .output()
                .expect("bpftool (tools/test installs it)");
            if !out.status.success() {
                gone = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(gone, "BPF {kind} {id} still loaded after exit");
    }
}

#[test]
fn sigint_works_when_inherited_as_ignored() {
    if !have_root("sigint_works_when_inherited_as_ignored") {
        return;
    }
    // A shell starts background jobs with SIGINT ignored; `kill -INT` must
    // still stop us. Start the tool with SIGINT set to SIG_IGN.
    let tool = Tool::start_with(&[], |c| {
        use std::os::unix::process::CommandExt;
        // SAFETY: pre_exec runs in the forked child; signal() is async-signal-safe.
        unsafe {
            c.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_IGN);
                Ok(())
            });
        }
    });
    let (status, _, stderr) = tool.stop(libc::SIGINT);
    assert_eq!(status.code(), Some(0), "{stderr}");
}

#[test]
fn closed_stdout_exits_and_counts_what_it_could_not_print() {
    if !have_root("closed_stdout_exits_and_counts_what_it_could_not_print") {
        return;
    }
    // Like `tcpconnect | head -1`: the reader goes away after the header.
    let mut child = Command::new(tcpconnect_bin())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut header = [0u8; HEADER.len() + 1];
    std::io::Read::read_exact(&mut stdout, &mut header).unwrap();
    drop(stdout);
    let ports = Ports::new();
    // Connect until the tool notices (each connect is a write to the dead pipe).
    let mut status = None;
    for _ in 0..50 {
        let _ = std::net::TcpStream::connect(("127.0.0.1", ports.v4_port));
        std::thread::sleep(Duration::from_millis(100));
        if let Some(s) = child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
    }
    let Some(status) = status else {
        let _ = child.kill();
        panic!("tcpconnect kept running with its stdout closed");
    };
    let out = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(0));
    // No panic; the connects nobody could read are counted, in one line
    // (printed + reported = made: nothing was printed after the header).
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lost = stderr
        .strip_prefix("Possibly lost ")
        .and_then(|rest| rest.strip_suffix(" samples (not printed at exit: standard output was closed)\n"))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(lost.is_some_and(|n| n >= 1), "{stderr}");
}

#[test]
fn unprivileged_run_says_it_needs_root() {
    if !have_root("unprivileged_run_says_it_needs_root") {
        return;
    }
    let out = Command::new(tcpconnect_bin()).uid(65534).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("tcpconnect: needs root (or CAP_BPF and CAP_PERFMON"), "{stderr}");
    assert!(out.stdout.is_empty());
}

use std::os::unix::process::CommandExt;

#[test]
fn connect_from_a_thread_reports_the_process_id() {
    if !have_root("connect_from_a_thread_reports_the_process_id") {
        return;
    }
    let ports = Ports::new();
    let mut args = vec!["--thread".to_string()];
    args.extend(targets(&[("4", "127.0.0.1", ports.v4_port)]));
    let connector = Connector::spawn(&args);
    let pid = connector.pid();
    let mut tool = Tool::start(&["-p", &pid.to_string()]);
    connector.go();
    let lines = tool.lines_matching(1, |_| true);
    assert_eq!(lines, [bcc_line(pid, "connector", 4, "127.0.0.1", "127.0.0.1", ports.v4_port)]);
    tool.stop(libc::SIGINT);
}

#[test]
fn comm_is_raw_bytes_truncated_to_twelve() {
    if !have_root("comm_is_raw_bytes_truncated_to_twelve") {
        return;
    }
    // 15 bytes, not UTF-8: \xff and a lone \xe9 must come out unchanged.
    let comm: &[u8] = b"c\xffnn\xe9ctor-abcde";
    assert_eq!(comm.len(), 15);
    let hex: String = comm.iter().map(|b| format!("{b:02x}")).collect();
    let ports = Ports::new();
    let mut args = vec!["--comm".to_string(), hex];
    args.extend(targets(&[("6", "::1", ports.v6_port)]));
    let connector = Connector::spawn(&args);
    let pid = connector.pid();
    let mut tool = Tool::start(&["-p", &pid.to_string()]);
    connector.go();
    let lines = tool.raw_lines_matching(1, |_| true);
    let mut expected = format!("{pid:<6} ").into_bytes();
    expected.extend_from_slice(&comm[..12]);
    expected.extend_from_slice(format!(" 6  {:<16} {:<16} {:<4}", "::1", "::1", ports.v6_port).as_bytes());
    assert_eq!(lines, [expected]);
    tool.stop(libc::SIGINT);
}

/// Names a process can give itself, and the COMM column they must print as:
/// control bytes, DEL and backslashes escaped (`\DDD`, `\\`), one line per
/// event whatever the name.
const HOSTILE_NAMES: [(&[u8], &str); 10] = [
    (b"x\n1 fake", r"x\0101 fake "),
    (b"tab\tesc\x1b[31m", r"tab\009esc\027[31m"),
    (b"cr\rend", r"cr\013end   "),
    (b"del\x7f", r"del\127     "),
    (b"back\\slash", r"back\\slash "),
    // prctl(PR_SET_NAME) ends the name at its first NUL.
    (b"nul\0after", "nul         "),
    (b"exactly15bytes!", "exactly15byt"),
    (b"\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n", r"\010\010\010\010\010\010\010\010\010\010\010\010"),
    // C1 CSI, as a lone byte and as the UTF-8 character U+009B.
    (b"csi\x9b31m", r"csi\15531m  "),
    (b"u\xc2\x9b31m", r"u\194\15531m"),
];

#[test]
fn hostile_process_names_print_one_escaped_line_each() {
    if !have_root("hostile_process_names_print_one_escaped_line_each") {
        return;
    }
    let ports = Ports::new();
    let mut plain = Tool::start(&[]);
    let mut with_uid = Tool::start(&["-U"]);
    let mut expected = Vec::new();
    for (name, shown) in HOSTILE_NAMES {
        let hex: String = name.iter().map(|b| format!("{b:02x}")).collect();
        let mut args = vec!["--comm".to_string(), hex];
        args.extend(targets(&[("4", "127.0.0.1", ports.v4_port)]));
        let connector = Connector::spawn(&args);
        let pid = connector.pid();
        assert_eq!(connector.go(), ["ok"]);
        expected.push(format!(
            "{pid:<6} {shown} 4  {:<16} {:<16} {:<4}",
            "127.0.0.1", "127.0.0.1", ports.v4_port
        ));
    }
    // Every line that ends in our port, forged or not, is one of ours.
    let ours = |lines: Vec<String>| -> Vec<String> {
        let port = ports.v4_port.to_string();
        lines.into_iter().filter(|l| l.split_whitespace().last() == Some(port.as_str())).collect()
    };
    let lines = ours(plain.lines_until_quiet(Duration::from_millis(500)));
    for line in &lines {
        eprintln!("{line}");
        assert!(!line.bytes().any(|b| b < 0x20 || b == 0x7f), "{line:?}");
    }
    assert_eq!(lines, expected);
    let with_uid_lines = ours(with_uid.lines_until_quiet(Duration::from_millis(500)));
    let with_uid_expected: Vec<String> = expected.iter().map(|l| format!("0     {l}")).collect();
    assert_eq!(with_uid_lines, with_uid_expected);
    for tool in [plain, with_uid] {
        let (status, _, _) = tool.stop(libc::SIGINT);
        assert!(status.success());
    }
}

#[test]
fn lines_follow_connect_order_across_cpus_and_families() {
    if !have_root("lines_follow_connect_order_across_cpus_and_families") {
        return;
    }
    // One listener per connect, so each line names its connect by port.
    let listeners: Vec<std::net::TcpListener> = (0..24)
        .map(|i| std::net::TcpListener::bind(if i % 2 == 0 { "127.0.0.1:0" } else { "[::1]:0" }).unwrap())
        .collect();
    let plan: Vec<(u8, &str, u16)> = listeners
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if i % 2 == 0 {
                (4, "127.0.0.1", l.local_addr().unwrap().port())
            } else {
                (6, "::1", l.local_addr().unwrap().port())
            }
        })
        .collect();
    let mut args = vec!["--hop-cpus".to_string()];
    args.extend(plan.iter().map(|(ip, addr, port)| format!("{ip}:{addr}:{port}")));
    let connector = Connector::spawn(&args);
    let pid = connector.pid();
    let mut tool = Tool::start(&["-p", &pid.to_string()]);
    assert!(connector.go().iter().all(|o| o == "ok"));
    let lines = tool.lines_matching(plan.len(), |_| true);
    let expected: Vec<String> =
        plan.iter().map(|(ip, addr, port)| bcc_line(pid, "connector", *ip, addr, addr, *port)).collect();
    assert_eq!(lines, expected);
    tool.stop(libc::SIGINT);
}

/// The sum of bcc's "Possibly lost N samples" lines; any other stderr line
/// fails the test.
fn reported_losses(stderr: &str) -> usize {
    stderr
        .lines()
        .map(|line| {
            line.strip_prefix("Possibly lost ")
                .and_then(|l| l.strip_suffix(" samples"))
                .unwrap_or_else(|| panic!("unexpected stderr line {line:?}"))
                .parse::<usize>()
                .unwrap()
        })
        .sum()
}

/// Starts `tcpconnect -P PORT`, stops it (SIGSTOP) while a connector makes
/// `connects` refused connects to PORT, resumes it and reads what it prints
/// until it is quiet. Returns the tool, the flood's line prefix (its PID
/// column) and how many of the flood's lines were printed.
fn flood_a_stopped_tracer(port: &str, connects: usize) -> (Tool, String, usize) {
    // 64 KiB: a BPF ring buffer that a flood of 8000 overflows too (the
    // perf event arrays keep their 256 KiB a CPU).
    let mut tool = Tool::start(&["-P", port, "--ring-size", "64"]);
    send_signal(tool.pid(), libc::SIGSTOP);
    let flood =
        Connector::spawn(&["--repeat".to_string(), connects.to_string(), format!("4:127.0.0.1:{port}")]);
    let flood_tag = format!("{:<6} ", flood.pid());
    assert_eq!(flood.go(), [format!("ConnectionRefused {connects}")]);
    send_signal(tool.pid(), libc::SIGCONT);
    let printed = tool
        .lines_until_quiet(Duration::from_millis(500))
        .iter()
        .filter(|l| l.starts_with(&flood_tag))
        .count();
    (tool, flood_tag, printed)
}

#[test]
fn losses_of_a_flood_that_ends_with_full_rings_are_still_counted() {
    if !have_root("losses_of_a_flood_that_ends_with_full_rings_are_still_counted") {
        return;
    }
    // Unlike below, nothing connects after the flood, so no PERF_RECORD_LOST
    // ever reaches the rings: the total must come from the BPF side's count.
    const CONNECTS: usize = 8000;
    let ports = Ports::new();
    let port = ports.closed_port.to_string();
    let (tool, flood_tag, mut printed) = flood_a_stopped_tracer(&port, CONNECTS);
    let (status, rest, stderr) = tool.stop(libc::SIGINT);
    assert!(status.success());
    printed += rest.iter().filter(|l| l.starts_with(&flood_tag)).count();
    let lost = reported_losses(&stderr);
    eprintln!("flood ending full: {CONNECTS} connects, {printed} printed, {lost} reported lost");
    assert!(lost > 0, "a stopped tracer must lose samples");
    assert_eq!(printed + lost, CONNECTS);
}

#[test]
fn lost_samples_are_reported_and_add_up() {
    if !have_root("lost_samples_are_reported_and_add_up") {
        return;
    }
    // More refused connects than a stopped tracer's 256 KiB perf ring can
    // hold (~3000 records per CPU), or its 64 KiB BPF ring buffer (~800),
    // all to a port no other test uses.
    const CONNECTS: usize = 8000;
    let ports = Ports::new();
    let port = ports.closed_port.to_string();
    let (mut tool, flood_tag, printed) = flood_a_stopped_tracer(&port, CONNECTS);

    // The kernel writes PERF_RECORD_LOST only when it next manages to write a
    // sample: after reading what was there, connect once more on every CPU.
    let trigger = Connector::spawn(&[
        "--hop-cpus".to_string(),
        "--repeat".to_string(),
        "4".to_string(),
        format!("4:127.0.0.1:{port}"),
    ]);
    let trigger_pid = trigger.pid();
    trigger.go();
    assert_eq!(tool.lines_of_pid(4, trigger_pid, 0).len(), 4);
    let (status, rest, stderr) = tool.stop(libc::SIGINT);
    assert!(status.success());
    assert!(rest.iter().all(|l| !l.starts_with(&flood_tag)), "late flood lines: {}", rest.len());

    let lost = reported_losses(&stderr);
    eprintln!("flood: {CONNECTS} connects, {printed} printed, {lost} reported lost");
    assert!(lost > 0, "a stopped tracer must lose samples ({printed} printed)");
    assert_eq!(
        printed + lost,
        CONNECTS,
        "printed {printed} + lost {lost} must be the {CONNECTS} connects made"
    );
}

#[test]
fn addresses_keep_their_byte_order_and_glibc_ipv6_text() {
    if !have_root("addresses_keep_their_byte_order_and_glibc_ipv6_text") {
        return;
    }
    // All of 127/8 is local: an asymmetric IPv4 address shows byte order.
    let v4 = std::net::TcpListener::bind("127.1.2.3:0").unwrap();
    let v4_port = v4.local_addr().unwrap().port();
    let v4_connector = Connector::spawn(&targets(&[("4", "127.1.2.3", v4_port)]));
    // A global IPv6 address on lo, in a network namespace of the connector's
    // own (the host's network is untouched). Nothing listens: refused
    // connects are traced too. glibc compresses the longer zero run.
    let v6_connector = Connector::spawn_in_new_netns(
        "ip link set lo up && ip -6 addr add fd00:0:0:0:1:0:0:5/128 dev lo nodad",
        &targets(&[("6", "fd00::1:0:0:5", 4242)]),
    );
    let (v4_pid, v6_pid) = (v4_connector.pid(), v6_connector.pid());
    let mut tool = Tool::start(&[]);
    assert_eq!(v4_connector.go(), ["ok"]);
    assert_eq!(v6_connector.go(), ["ConnectionRefused"]);
    let lines = tool.lines_matching(2, |l| {
        let pid = l.split_whitespace().next().unwrap_or("");
        pid == v4_pid.to_string() || pid == v6_pid.to_string()
    });
    assert_eq!(
        lines,
        [
            // The kernel picks 127.0.0.1 as the source for all of 127/8.
            bcc_line(v4_pid, "connector", 4, "127.0.0.1", "127.1.2.3", v4_port),
            bcc_line(v6_pid, "connector", 6, "fd00::1:0:0:5", "fd00::1:0:0:5", 4242),
        ]
    );
    tool.stop(libc::SIGINT);
}

#[test]
fn an_already_mounted_tracefs_is_found_through_mountinfo() {
    if !have_root("an_already_mounted_tracefs_is_found_through_mountinfo") {
        return;
    }
    // In a mount namespace of its own (the host is untouched), tracefs is
    // mounted somewhere unusual, as in some containers. The tool must find it
    // there and not mount another.
    let dir = std::env::temp_dir().join(format!("tcpconnect-test-tracefs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let before = tracefs_mounts("/proc/self/mountinfo").len();
    let setup = format!("mount -t tracefs nodev {}", dir.display());
    let tool = Tool::start_wrapped(&["unshare", "--mount", "--propagation", "private"], &setup, &[]);
    let mounts = tool.tracefs_mounts();
    let (status, _, stderr) = tool.stop(libc::SIGINT);
    std::fs::remove_dir(&dir).unwrap();
    assert!(status.success(), "{stderr}");
    assert_eq!(mounts.len(), before + 1, "only the setup's mount: {mounts:?}");
    assert!(mounts.contains(&dir.display().to_string()), "{mounts:?}");
}

#[test]
fn an_unmounted_tracefs_is_mounted_privately() {
    if !have_root("an_unmounted_tracefs_is_mounted_privately") {
        return;
    }
    // With no tracefs anywhere (a mount namespace where the setup unmounted
    // every one), the tool mounts its own in a namespace of its own: the
    // namespace it was started in stays without tracefs.
    let setup = "for m in $(grep ' - tracefs ' /proc/self/mountinfo | cut -d' ' -f5); do umount -l \"$m\"; done; true";
    let tool = Tool::start_wrapped(&["unshare", "--mount", "--propagation", "private"], setup, &[]);
    let mounts = tool.tracefs_mounts();
    let (status, _, stderr) = tool.stop(libc::SIGINT);
    assert!(status.success(), "{stderr}");
    assert_eq!(mounts, ["/sys/kernel/tracing"]);
}

#[test]
fn verbose_names_the_attach_method_on_stderr_only() {
    if !have_root("verbose_names_the_attach_method_on_stderr_only") {
        return;
    }
    for args in [&["-v"][..], &["--attach", "tracepoint", "--verbose"], &["--attach=auto", "-v"]] {
        let ports = Ports::new();
        let connector = Connector::spawn(&targets(&[("4", "127.0.0.1", ports.v4_port)]));
        let pid = connector.pid();
        let mut all = args.to_vec();
        let pid_text = pid.to_string();
        all.extend(["-p", &pid_text]);
        let mut tool = Tool::start(&all);
        connector.go();
        let lines = tool.lines_matching(1, |_| true);
        assert_eq!(lines, [bcc_line(pid, "connector", 4, "127.0.0.1", "127.0.0.1", ports.v4_port)]);
        let (status, rest, stderr) = tool.stop(libc::SIGINT);
        assert_eq!(status.code(), Some(0));
        assert!(rest.is_empty(), "{rest:?}");
        assert_eq!(stderr, attached_lines(), "{args:?}");
    }
}

/// The raw tracepoint reads the socket at offsets from BTF; without BTF the
/// state tracepoint attaches as a perf tracepoint event, says why with -v,
/// and prints the same lines.
#[test]
fn without_btf_the_tracepoint_attaches_as_a_perf_event() {
    if !have_root("without_btf_the_tracepoint_attaches_as_a_perf_event") {
        return;
    }
    let ports = Ports::new();
    let connector = Connector::spawn(&targets(&[
        ("4", "127.0.0.1", ports.v4_port),
        ("6", "::1", ports.v6_port),
        ("m", "127.0.0.1", ports.v4_port),
    ]));
    let pid = connector.pid();
    let mut tool = Tool::start_with(&["-v", "-p", &pid.to_string()], |command| {
        command.env("TCPCONNECT_BTF", "off");
    });
    connector.go();
    let lines = tool.lines_matching(3, |_| true);
    assert_eq!(
        lines,
        [
            bcc_line(pid, "connector", 4, "127.0.0.1", "127.0.0.1", ports.v4_port),
            bcc_line(pid, "connector", 6, "::1", "::1", ports.v6_port),
            bcc_line(pid, "connector", 4, "127.0.0.1", "127.0.0.1", ports.v4_port),
        ]
    );
    let (status, rest, stderr) = tool.stop(libc::SIGINT);
    assert!(status.success(), "{stderr}");
    assert!(rest.is_empty(), "{rest:?}");
    // The test run's own switch, when set, is the first reason given.
    let reason = if switched_off(RAW_TRACEPOINT_SWITCH) {
        "disabled by TCPCONNECT_RAW_TRACEPOINT=off"
    } else {
        "disabled by TCPCONNECT_BTF=off"
    };
    assert_eq!(stderr, format!("{}{}", transport_line(), perf_tracepoint_attached(reason)));
}

#[test]
fn forcing_kprobes_on_a_kernel_without_them_names_the_missing_feature() {
    if !have_root("forcing_kprobes_on_a_kernel_without_them_names_the_missing_feature") {
        return;
    }
    let has_kprobes = std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists()
        || std::fs::read_to_string("/proc/kallsyms").unwrap().contains(" register_kprobe\n");
    if has_kprobes {
        eprintln!("skipping: this kernel has kprobes (the VM tests cover that path)");
        return;
    }
    let out = Command::new(tcpconnect_bin()).args(["--attach", "kprobe", "-v"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "{}tcpconnect: this kernel has no kprobe support (no /sys/bus/event_source/devices/kprobe and no \
             tracefs kprobe_events; CONFIG_KPROBES or CONFIG_KPROBE_EVENTS is off)\n",
            transport_line()
        )
    );
}

#[test]
fn cap_bpf_and_cap_perfmon_suffice_and_only_they_are_kept() {
    if !have_root("cap_bpf_and_cap_perfmon_suffice_and_only_they_are_kept") {
        return;
    }
    // Root's uid (tracefs files are root's) but only CAP_BPF and
    // CAP_PERFMON: the bounding set caps what the exec'd tool gets.
    let ports = Ports::new();
    let connector = Connector::spawn(&targets(&[("4", "127.0.0.1", ports.v4_port)]));
    let connector_pid = connector.pid();
    let pid = connector_pid.to_string();
    let setup = "mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true; \
                 exec setpriv --bounding-set=-all,+bpf,+perfmon --inh-caps=-all -- \"$0\" \"$@\"; :";
    let mut tool =
        Tool::start_wrapped(&["unshare", "--mount", "--propagation", "private"], setup, &["-p", &pid]);
    let caps = std::fs::read_to_string(format!("/proc/{}/status", tool.pid())).unwrap();
    let eff = caps.lines().find_map(|l| l.strip_prefix("CapEff:")).unwrap().trim().to_owned();
    // After attaching the tool keeps only CAP_BPF (39, for its loss and -c
    // counters) and CAP_PERFMON (38, for the ring of a CPU that comes
    // online later).
    assert_eq!(u64::from_str_radix(&eff, 16).unwrap(), 1 << 39 | 1 << 38, "CapEff {eff}");
    connector.go();
    let lines = tool.lines_matching(1, |_| true);
    assert_eq!(lines, [bcc_line(connector_pid, "connector", 4, "127.0.0.1", "127.0.0.1", ports.v4_port)]);
    let (status, _, stderr) = tool.stop(libc::SIGINT);
    assert!(status.success(), "{stderr}");
}

/// An MPTCP connect changes the state of two sockets, the MPTCP socket and
/// its first TCP subflow, both CLOSE -> SYN_SENT on the tracepoint (with
/// protocol 262 and 6). bcc, probing tcp_v4_connect, sees the subflow only:
/// so must we, on either attach method.
#[test]
fn an_mptcp_connect_is_reported_once_through_its_tcp_subflow() {
    if !have_root("an_mptcp_connect_is_reported_once_through_its_tcp_subflow") {
        return;
    }
    // Listens and connects with IPPROTO_MPTCP after one line on stdin;
    // prints the port first, or `no-mptcp` on a kernel without it.
    let script = "import socket, sys\n\
        try:\n    l = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)\n\
        except OSError:\n    print('no-mptcp', flush=True); sys.exit(0)\n\
        l.bind(('127.0.0.1', 0)); l.listen()\n\
        print(l.getsockname()[1], flush=True)\n\
        sys.stdin.readline()\n\
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)\n\
        s.connect(l.getsockname()); l.accept()\n\
        print('ok', flush=True)\n";
    let mut python = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 (tools/test installs it)");
    let mut out = std::io::BufReader::new(python.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut out, &mut first).unwrap();
    if first.trim() == "no-mptcp" {
        eprintln!("skipping: this kernel has no MPTCP");
        python.wait().unwrap();
        return;
    }
    let port: u16 = first.trim().parse().expect("port");
    let pid = python.id();
    let mut tool = Tool::start(&["-p", &pid.to_string()]);
    std::io::Write::write_all(python.stdin.as_mut().unwrap(), b"go\n").unwrap();
    let mut done = String::new();
    std::io::BufRead::read_line(&mut out, &mut done).unwrap();
    assert_eq!(done.trim(), "ok");
    let lines = tool.lines_matching(1, |_| true);
    assert_eq!(lines, [bcc_line(pid, "python3", 4, "127.0.0.1", "127.0.0.1", port)]);
    std::thread::sleep(Duration::from_millis(200));
    let (status, rest, stderr) = tool.stop(libc::SIGINT);
    assert!(status.success(), "{stderr}");
    assert!(rest.is_empty(), "the MPTCP socket was reported too: {rest:?}");
    python.wait().unwrap();
}

/// A reader that stops reading leaves tcpconnect blocked on a full pipe.
/// SIGINT must still end it (bcc's Python gets EINTR there and exits): a
/// script stops the tool with `kill -INT` whatever its consumer does.
#[test]
fn sigint_ends_a_run_whose_reader_stopped_reading() {
    if !have_root("sigint_ends_a_run_whose_reader_stopped_reading") {
        return;
    }
    let ports = Ports::new();
    // 3000 lines of 66 bytes: three times what a 64 KiB pipe holds.
    let connector = Connector::spawn(&[
        "--repeat".to_string(),
        "3000".to_string(),
        format!("4:127.0.0.1:{}", ports.closed_port),
    ]);
    let pid = connector.pid();
    let mut tool = Command::new(tcpconnect_bin())
        .args(["-v", "-p", &pid.to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn tcpconnect");
    // Live once -v says the state tracepoint is attached; stdout is never read.
    let mut stderr = std::io::BufReader::new(tool.stderr.take().unwrap());
    let attached = attached_lines().lines().last().unwrap_or_default().to_owned();
    let mut line = String::new();
    while std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0 && !line.starts_with(&attached) {
        line.clear();
    }
    assert!(line.starts_with(&attached), "tcpconnect never attached");
    let _unread = tool.stdout.take().unwrap();
    connector.go();
    std::thread::sleep(Duration::from_millis(500));
    send_signal(tool.id(), libc::SIGINT);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = tool.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = tool.kill();
            let _ = tool.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let status = status.expect("tcpconnect ignored SIGINT while blocked on a full pipe");
    assert_eq!(status.code(), Some(0));
}
