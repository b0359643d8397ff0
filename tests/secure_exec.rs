//! A copy given capabilities with setcap (the man page's PRIVILEGES) and
//! run by an unprivileged user: the caller's environment steers nothing.
//! With every TCPCONNECT_* switch set to something hostile, the run looks
//! exactly as it does without them, but for one -v line that says they
//! were ignored (issue 27: TCPCONNECT_BTF pointed at a crafted file once
//! made such a copy print kernel pointers as addresses).

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{bcc_line, have_root, Connector, Ports, Tool};

/// The user the copy runs as (nobody).
const NOBODY: &str = "65534";

/// Every switch, each set to what would change or break the run.
const HOSTILE: [(&str, &str); 6] = [
    ("TCPCONNECT_BTF", "/nonexistent"),
    ("TCPCONNECT_BTF_TRACEPOINT", "off"),
    ("TCPCONNECT_DNS", "packet"),
    ("TCPCONNECT_KPROBE_API", "legacy"),
    ("TCPCONNECT_RAW_TRACEPOINT", "off"),
    ("TCPCONNECT_TRANSPORT", "perf"),
];

/// The file capabilities the man page's PRIVILEGES names for a run without
/// -d on a host where tracefs is mounted.
const CAPS: &str = "cap_bpf,cap_perfmon,cap_dac_read_search";

/// A directory of our own with a copy of the binary that has capabilities
/// in its file capabilities.
struct SetcapCopy {
    dir: PathBuf,
    binary: PathBuf,
}

impl SetcapCopy {
    /// A copy with `CAPS`.
    fn new() -> SetcapCopy {
        SetcapCopy::with_caps("", CAPS)
    }

    /// A copy with `caps`, in a directory named after `tag` too (tests of
    /// one binary run at once).
    fn with_caps(tag: &str, caps: &str) -> SetcapCopy {
        let dir = std::env::temp_dir().join(format!("tcpconnect-secure-exec-{}{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let binary = dir.join("tcpconnect");
        std::fs::copy(support::tcpconnect_bin(), &binary).unwrap();
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
        let status = Command::new("setcap")
            .arg(format!("{caps}+ep"))
            .arg(&binary)
            .status()
            .expect("run setcap (Debian: libcap2-bin)");
        assert!(status.success(), "setcap failed");
        SetcapCopy { dir, binary }
    }

    /// Runs the copy as nobody with `env`, in a mount namespace of its own
    /// where tracefs is mounted (an unprivileged user cannot mount it, and
    /// this host may not have it mounted).
    fn start(&self, env: &[(&str, &str)]) -> Tool {
        self.start_with_args(env, &[])
    }

    /// `start`, with `args` after -v.
    fn start_with_args(&self, env: &[(&str, &str)], args: &[&str]) -> Tool {
        let mut command = Command::new("unshare");
        command
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(
                "mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing; \
                 user=$1; shift; \
                 exec setpriv --reuid \"$user\" --regid \"$user\" --clear-groups --inh-caps=-all \"$0\" -v \"$@\"",
            )
            .arg(&self.binary)
            .arg(NOBODY)
            .current_dir(Path::new("/"))
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .envs(env.iter().copied());
        Tool::start_command_with(command, args)
    }
}

impl Drop for SetcapCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The -v lines and the line of one connect of a run with `env`.
fn run_with(copy: &SetcapCopy, env: &[(&str, &str)]) -> (String, String, u32, u16) {
    let ports = Ports::new();
    let mut tool = copy.start(env);
    let connector = Connector::spawn(&[format!("6:::1:{}", ports.v6_port)]);
    let pid = connector.pid();
    assert_eq!(connector.go(), ["ok"]);
    let lines = tool.lines_of_pid(1, pid, 0);
    let (status, _, stderr) = tool.stop(libc::SIGINT);
    assert!(status.success(), "{status}: {stderr}");
    (lines.join("\n"), stderr, pid, ports.v6_port)
}

#[test]
fn a_setcap_copy_run_by_a_user_ignores_every_switch() {
    if !have_root("a_setcap_copy_run_by_a_user_ignores_every_switch") {
        return;
    }
    let copy = SetcapCopy::new();
    let (plain_line, plain_err, plain_pid, plain_port) = run_with(&copy, &[]);
    assert_eq!(plain_line, bcc_line(plain_pid, "connector", 6, "::1", "::1", plain_port));
    let (line, stderr, pid, port) = run_with(&copy, &HOSTILE);
    // The IPv6 address comes from the kernel's own BTF, not the caller's file.
    assert_eq!(line, bcc_line(pid, "connector", 6, "::1", "::1", port));
    let ignored = "tcpconnect: TCPCONNECT_BTF, TCPCONNECT_BTF_TRACEPOINT, TCPCONNECT_DNS, \
         TCPCONNECT_KPROBE_API, TCPCONNECT_RAW_TRACEPOINT, TCPCONNECT_TRANSPORT ignored: tcpconnect runs \
         with privilege its caller does not have (set-user-ID or file capabilities)\n";
    assert_eq!(stderr, format!("{ignored}{plain_err}"), "the run must look exactly as without the switches");
    assert!(!stderr.contains("/nonexistent"), "{stderr}");
}

/// -d's program on delivered packets is attached to a cgroup, which takes
/// CAP_NET_ADMIN: a copy without it says so and takes the answers at the
/// syscall tracepoints; with it, the program runs.
#[test]
fn a_setcap_copy_takes_dns_answers_at_delivery_only_with_cap_net_admin() {
    if !have_root("a_setcap_copy_takes_dns_answers_at_delivery_only_with_cap_net_admin") {
        return;
    }
    let reads = "tcpconnect: dns: answers as processes read them, in every network namespace \
                 (tracepoints syscalls:sys_{enter,exit}_{recvfrom,recvmsg,read})\n";
    let without = "tcpconnect: dns: no program on delivered datagrams: attaching to the cgroup v2 root \
                   /sys/fs/cgroup/unified needs CAP_NET_ADMIN: bpf(BPF_LINK_CREATE): Operation not permitted \
                   (os error 1)\n";
    let delivery =
        "tcpconnect: dns: answers as the kernel delivers them to sockets, in every network namespace \
                    (cgroup_skb ingress on the cgroup v2 root /sys/fs/cgroup/unified)\n";
    for (tag, caps, expected) in [
        ("-no-net-admin", CAPS.to_owned(), format!("{without}{reads}")),
        ("-net-admin", format!("{CAPS},cap_net_admin"), delivery.to_owned()),
    ] {
        let copy = SetcapCopy::with_caps(tag, &caps);
        let tool = copy.start_with_args(&[], &["-d"]);
        let (status, _, stderr) = tool.stop(libc::SIGINT);
        assert!(status.success(), "{caps}: {status}: {stderr}");
        let dns: String =
            stderr.lines().filter(|l| l.starts_with("tcpconnect: dns:")).map(|l| format!("{l}\n")).collect();
        assert_eq!(dns, expected, "{caps}");
    }
}
