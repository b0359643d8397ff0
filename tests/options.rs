//! The options bcc's tcpconnect gained after 2019, against the real kernel
//! (tracepoint path; the VM tests cover the kprobe path): -4/-6, -L, -c,
//! -d, --cgroupmap, --mntnsmap, and our -j. Expected lines are built with
//! independent format! calls.

mod support;

use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::time::Duration;
use support::{
    bcc_line, have_root, lport_line, lport_of, tcpconnect_bin, Connector, Ports, Tool, LPORT_HEADER,
};

fn targets(list: &[(&str, &str, u16)]) -> Vec<String> {
    list.iter().map(|(kind, ip, port)| format!("{kind}:{ip}:{port}")).collect()
}

/// A private mount namespace with a bpf filesystem on /sys/fs/bpf holding
/// a hash map `name` created by bpftool with `key_size`-byte keys, filled
/// with `keys` (u64, native order). Gone when the namespace goes.
fn pinned_map_setup(map_type: &str, key_size: usize, keys: &[u64]) -> String {
    let mut setup = format!(
        "mount -t bpf bpf /sys/fs/bpf && bpftool map create /sys/fs/bpf/filter type {map_type} key {key_size} \
         value 8 entries 16 name filter"
    );
    for key in keys {
        let hex: Vec<String> = key.to_ne_bytes().iter().map(|b| format!("{b:02x}")).collect();
        setup.push_str(&format!(
            " && bpftool map update pinned /sys/fs/bpf/filter key hex {} value hex 01 00 00 00 00 00 00 00",
            hex.join(" ")
        ));
    }
    setup
}

const PRIVATE_MOUNTS: [&str; 4] = ["unshare", "--mount", "--propagation", "private"];

#[test]
fn family_filters_keep_one_ip_version() {
    if !have_root("family_filters_keep_one_ip_version") {
        return;
    }
    let ports = Ports::new();
    for (flag, want) in [("-4", &[4u8, 4][..]), ("--ipv6", &[6][..])] {
        let list = targets(&[
            ("4", "127.0.0.1", ports.v4_port),
            ("6", "::1", ports.v6_port),
            ("m", "127.0.0.1", ports.v4_port),
        ]);
        let connector = Connector::spawn(&list);
        let pid = connector.pid();
        let mut tool = Tool::start(&[flag, "-p", &pid.to_string()]);
        connector.go();
        let lines = tool.lines_until_quiet(Duration::from_millis(500));
        let expected: Vec<String> = want
            .iter()
            .map(|&ip| match ip {
                4 => bcc_line(pid, "connector", 4, "127.0.0.1", "127.0.0.1", ports.v4_port),
                _ => bcc_line(pid, "connector", 6, "::1", "::1", ports.v6_port),
            })
            .collect();
        assert_eq!(lines, expected, "{flag}");
        tool.stop(libc::SIGINT);
    }
}

#[test]
fn cgroupmap_keeps_only_tasks_of_listed_cgroups() {
    if !have_root("cgroupmap_keeps_only_tasks_of_listed_cgroups") {
        return;
    }
    let root = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .into_iter()
        .find(|d| std::path::Path::new(d).join("cgroup.procs").exists())
        .expect("a cgroup v2 hierarchy");
    let cgroup = format!("{root}/tcpconnect-test-{}", std::process::id());
    std::fs::create_dir(&cgroup).unwrap();
    // On cgroup v2 the cgroup id is the directory's inode number.
    let id = std::fs::metadata(&cgroup).unwrap().ino();

    let ports = Ports::new();
    let list = targets(&[("4", "127.0.0.1", ports.v4_port)]);
    let inside = Connector::spawn(&list);
    let outside = Connector::spawn(&list);
    let inside_pid = inside.pid();
    std::fs::write(format!("{cgroup}/cgroup.procs"), inside_pid.to_string()).unwrap();
    let mut tool = Tool::start_wrapped(
        &PRIVATE_MOUNTS,
        &pinned_map_setup("hash", 8, &[id]),
        &["--cgroupmap", "/sys/fs/bpf/filter"],
    );
    outside.go();
    inside.go();
    let lines = tool.lines_until_quiet(Duration::from_millis(500));
    let (status, _, stderr) = tool.stop(libc::SIGINT);
    std::fs::remove_dir(&cgroup).unwrap();
    assert!(status.success(), "{stderr}");
    assert_eq!(lines, [bcc_line(inside_pid, "connector", 4, "127.0.0.1", "127.0.0.1", ports.v4_port)]);
}

#[test]
fn mntnsmap_keeps_only_tasks_of_listed_mount_namespaces() {
    if !have_root("mntnsmap_keeps_only_tasks_of_listed_mount_namespaces") {
        return;
    }
    let ports = Ports::new();
    let list = targets(&[("4", "127.0.0.1", ports.v4_port)]);
    let inside = Connector::spawn_in_new_mntns(&list);
    let outside = Connector::spawn(&list);
    let inside_pid = inside.pid();
    // unshare execs the connector in the new namespace: wait for that.
    let ns = |pid: u32| std::fs::metadata(format!("/proc/{pid}/ns/mnt")).unwrap().ino();
    let ours = ns(std::process::id());
    let mut waited = 0;
    while ns(inside_pid) == ours && waited < 200 {
        std::thread::sleep(Duration::from_millis(10));
        waited += 1;
    }
    let inum = ns(inside_pid);
    assert_ne!(inum, ours, "the connector did not get a mount namespace of its own");
    let mut tool = Tool::start_wrapped(
        &PRIVATE_MOUNTS,
        &pinned_map_setup("hash", 8, &[inum]),
        &["--mntnsmap", "/sys/fs/bpf/filter"],
    );
    outside.go();
    inside.go();
    let lines = tool.lines_until_quiet(Duration::from_millis(500));
    let (status, _, stderr) = tool.stop(libc::SIGINT);
    assert!(status.success(), "{stderr}");
    assert_eq!(lines, [bcc_line(inside_pid, "connector", 4, "127.0.0.1", "127.0.0.1", ports.v4_port)]);
}

#[test]
fn bad_pinned_maps_are_refused_with_one_line() {
    if !have_root("bad_pinned_maps_are_refused_with_one_line") {
        return;
    }
    let run = |setup: &str, args: &[&str]| {
        let out = Command::new("unshare")
            .args(PRIVATE_MOUNTS[1..].iter())
            .args(["sh", "-c", &format!("{setup} && exec \"$0\" \"$@\"")])
            .arg(tcpconnect_bin())
            .args(args)
            .output()
            .unwrap();
        assert!(out.stdout.is_empty(), "{args:?}");
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let cases = [
        (
            pinned_map_setup("hash", 4, &[]),
            "--cgroupmap",
            "/sys/fs/bpf/filter",
            "has 4-byte keys; it needs 8-byte (u64) keys",
        ),
        (
            pinned_map_setup("array", 4, &[]),
            "--mntnsmap",
            "/sys/fs/bpf/filter",
            "is a BPF map of type 2, not a hash map (type 1)",
        ),
        (
            "true".to_string(),
            "--cgroupmap",
            "/etc/hostname",
            "is not a pinned BPF object (not in a bpf filesystem)",
        ),
        ("true".to_string(), "--cgroupmap", "/nonexistent/map", "no such file"),
    ];
    // A good map, but --mntnsmap needs task_struct offsets only BTF gives.
    let out = Command::new("unshare")
        .args(PRIVATE_MOUNTS[1..].iter())
        .args(["sh", "-c", &format!("{} && exec \"$0\" \"$@\"", pinned_map_setup("hash", 8, &[]))])
        .arg(tcpconnect_bin())
        .args(["--mntnsmap", "/sys/fs/bpf/filter"])
        .env("TCPCONNECT_BTF", "off")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "tcpconnect: --mntnsmap needs the kernel's BTF type information to find the mount namespace of a task: \
         disabled by TCPCONNECT_BTF=off\n"
    );
    for (setup, option, path, reason) in cases {
        let (code, stderr) = run(&setup, &[option, path]);
        assert_eq!(code, Some(1), "{option} {path}: {stderr}");
        assert_eq!(stderr, format!("tcpconnect: {option} {path}: {reason}\n"));
    }
}

#[test]
fn lport_column_holds_the_local_port_of_blocking_and_nonblocking_connects() {
    if !have_root("lport_column_holds_the_local_port_of_blocking_and_nonblocking_connects") {
        return;
    }
    let ports = Ports::new();
    for blocking in [false, true] {
        let mut args = vec!["--lport".to_string()];
        if blocking {
            args.push("--blocking".into());
        }
        args.extend(targets(&[
            ("4", "127.0.0.1", ports.v4_port),
            ("6", "::1", ports.v6_port),
            ("4", "127.0.0.1", ports.closed_port),
        ]));
        let connector = Connector::spawn(&args);
        let pid = connector.pid();
        let mut tool = Tool::start(&["-L", "-p", &pid.to_string()]);
        assert_eq!(tool.header, LPORT_HEADER);
        let outcomes = connector.go();
        let lport = |i: usize| outcomes[i].strip_prefix("ok ").unwrap().parse::<u16>().unwrap();
        assert_eq!(outcomes[2], "ConnectionRefused", "{outcomes:?}");
        let lines = tool.lines_until_quiet(Duration::from_millis(500));
        assert_eq!(lines.len(), 3, "blocking {blocking}: {lines:?}");
        assert_eq!(lines[0], lport_line(pid, 4, "127.0.0.1", lport(0), "127.0.0.1", ports.v4_port));
        assert_eq!(lines[1], lport_line(pid, 6, "::1", lport(1), "::1", ports.v6_port));
        // A refused connect's port is gone before the program can learn it
        // from user space: the line must carry the port it had, nonzero.
        let refused = &lines[2];
        let port = lport_of(refused);
        assert_ne!(port, 0, "{refused}");
        assert_eq!(*refused, lport_line(pid, 4, "127.0.0.1", port, "127.0.0.1", ports.closed_port));
        tool.stop(libc::SIGINT);
    }
}

#[test]
fn count_mode_prints_bccs_table_on_sigint() {
    if !have_root("count_mode_prints_bccs_table_on_sigint") {
        return;
    }
    let ports = Ports::new();
    let list = targets(&[
        ("4", "127.0.0.1", ports.v4_port),
        ("6", "::1", ports.closed_port),
        ("4", "127.0.0.1", ports.v4_port),
        ("4", "127.0.0.1", ports.v4_port),
    ]);
    for json in [false, true] {
        let connector = Connector::spawn(&list);
        let pid = connector.pid().to_string();
        let mut args = vec!["-c", "-p", &pid];
        if json {
            args.push("-j");
        }
        let tool = if json { Tool::start_headerless(&args) } else { Tool::start(&args) };
        connector.go();
        std::thread::sleep(Duration::from_millis(200));
        let (status, rest, stderr) = tool.stop(libc::SIGINT);
        assert!(status.success(), "{stderr}");
        let row = |s: &str, d: &str, port: u16, n: u64| format!("{s:<25} {d:<25} {port:<20} {n:<10}");
        let expected: Vec<String> = if json {
            vec![
                format!(
                    r#"{{"ip":4,"saddr":"127.0.0.1","daddr":"127.0.0.1","dport":{},"connects":3}}"#,
                    ports.v4_port
                ),
                format!(
                    r#"{{"ip":6,"saddr":"::1","daddr":"::1","dport":{},"connects":1}}"#,
                    ports.closed_port
                ),
            ]
        } else {
            vec![
                String::new(),
                format!("{:<25} {:<25} {:<20} {:<10}", "LADDR", "RADDR", "RPORT", "CONNECTS"),
                row("127.0.0.1", "127.0.0.1", ports.v4_port, 3),
                row("::1", "::1", ports.closed_port, 1),
            ]
        };
        assert_eq!(rest, expected, "json {json}");
    }
}

#[test]
fn json_lines_carry_the_documented_fields() {
    if !have_root("json_lines_carry_the_documented_fields") {
        return;
    }
    let ports = Ports::new();
    let mut args = vec!["--lport".to_string(), "--comm".to_string(), "63ff6e".to_string()];
    args.extend(targets(&[("4", "127.0.0.1", ports.v4_port), ("6", "::1", ports.v6_port)]));
    let connector = Connector::spawn(&args);
    let pid = connector.pid();
    let mut tool = Tool::start_headerless(&["-j", "-t", "-L", "-p", &pid.to_string()]);
    let outcomes = connector.go();
    let lport = |i: usize| outcomes[i].strip_prefix("ok ").unwrap().parse::<u16>().unwrap();
    let lines = tool.lines_matching(2, |_| true);
    // ts_us of the second depends on timing: check its shape, then the rest.
    let (ts, rest) = lines[1].strip_prefix(r#"{"ts_us":"#).unwrap().split_once(',').unwrap();
    assert!(ts.parse::<u64>().is_ok(), "{}", lines[1]);
    // "c\xffn": the invalid byte is escaped as U+DCFF (surrogateescape).
    let comm = r#""comm":"c\udcffn""#;
    assert_eq!(
        lines[0],
        format!(
            r#"{{"ts_us":0,"uid":0,"pid":{pid},{comm},"ip":4,"saddr":"127.0.0.1","lport":{},"daddr":"127.0.0.1","dport":{}}}"#,
            lport(0),
            ports.v4_port
        )
    );
    assert_eq!(
        rest,
        format!(
            r#""uid":0,"pid":{pid},{comm},"ip":6,"saddr":"::1","lport":{},"daddr":"::1","dport":{}}}"#,
            lport(1),
            ports.v6_port
        )
    );
    let (status, _, _) = tool.stop(libc::SIGINT);
    assert!(status.success());
}

/// A DNS server on 127.0.0.1:53 answering `example.test` A 127.0.0.2, and
/// a client asking it, both in the network namespace of `pid`. Returns once
/// the client has its answer.
fn dns_exchange(pid: u32) {
    const SCRIPT: &str = r#"
import socket, struct, threading
srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
srv.bind(("127.0.0.1", 53))
def serve():
    query, peer = srv.recvfrom(512)
    qid = query[:2]
    question = query[12:]
    answer = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([127, 0, 0, 2])
    srv.sendto(qid + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00" + question + answer, peer)
t = threading.Thread(target=serve); t.start()
name = b"".join(bytes([len(l)]) + l for l in b"example.test".split(b".")) + b"\x00"
cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
cli.settimeout(5)
cli.sendto(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + name + struct.pack(">HH", 1, 1), ("127.0.0.1", 53))
reply = cli.recv(512)
assert reply[-4:] == bytes([127, 0, 0, 2]), reply
t.join()
"#;
    let status = Command::new("nsenter")
        .arg(format!("--net=/proc/{pid}/ns/net"))
        .args(["python3", "-c", SCRIPT])
        .status()
        .expect("nsenter python3");
    assert!(status.success(), "the DNS exchange failed");
}

#[test]
fn dns_column_names_the_answer_a_connect_used() {
    if !have_root("dns_column_names_the_answer_a_connect_used") {
        return;
    }
    // A network namespace of our own: port 53 on its loopback is ours.
    let mut tool = Tool::start_wrapped(&["unshare", "--net"], "ip link set lo up", &["-d"]);
    assert_eq!(tool.header, "PID    COMM         IP SADDR            DADDR            DPORT QUERY");
    dns_exchange(tool.pid());
    // bcc appends the answer's age once it is over 100 ms.
    std::thread::sleep(Duration::from_millis(200));
    let list = targets(&[("4", "127.0.0.2", 9), ("4", "127.0.0.1", 9), ("4", "127.0.0.3", 9)]);
    let connector = Connector::spawn_in_netns_of(tool.pid(), &list);
    let pid = connector.pid();
    connector.go();
    // The tracer sees every namespace: keep the lines of our connector.
    let lines = tool.lines_of_pid(3, pid, 0);
    let base = |daddr: &str| format!("{} ", bcc_line(pid, "connector", 4, "127.0.0.1", daddr, 9));
    let aged = lines[0]
        .strip_prefix(&format!("{}example.test (", base("127.0.0.2")))
        .unwrap_or_else(|| panic!("{}", lines[0]));
    let ms = aged.strip_suffix("ms)").unwrap_or_else(|| panic!("{}", lines[0]));
    let (whole, frac) = ms.split_once('.').unwrap();
    assert_eq!(frac.len(), 3, "%.3f: {ms}");
    assert!(whole.parse::<u64>().unwrap() >= 200, "{ms}");
    assert_eq!(lines[1], format!("{}localhost", base("127.0.0.1")));
    assert_eq!(lines[2], format!("{}No DNS Query", base("127.0.0.3")));
    let (status, _, stderr) = tool.stop(libc::SIGINT);
    assert!(status.success(), "{stderr}");
}

#[test]
fn count_with_dns_is_a_usage_error() {
    let out = Command::new(tcpconnect_bin()).args(["-c", "-d"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.ends_with("tcpconnect: error: argument -d/--dns: not allowed with argument -c/--count\n"),
        "{stderr}"
    );
}
