//! The options bcc's tcpconnect gained after 2019, against the real kernel
//! (tracepoint path; the VM tests cover the kprobe path): -4/-6, -L, -c,
//! -d, --cgroupmap, --mntnsmap, and our -j. Expected lines are built with
//! independent format! calls.

mod support;

use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::time::Duration;
use support::{bcc_line, have_root, tcpconnect_bin, Connector, Ports, Tool};

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
    for (setup, option, path, reason) in cases {
        let (code, stderr) = run(&setup, &[option, path]);
        assert_eq!(code, Some(1), "{option} {path}: {stderr}");
        assert_eq!(stderr, format!("tcpconnect: {option} {path}: {reason}\n"));
    }
}
