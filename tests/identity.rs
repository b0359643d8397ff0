//! --ppid and --container against the real kernel, without a container
//! runtime (tests/containers.rs runs the real ones): the connecting
//! process's parent; cgroups made by hand in the hierarchy -v names, laid
//! out as Docker's cgroupfs driver lays them out (root's: the container's
//! 12-hex id), owned by a user (its own name, never the container it
//! mimics), and named with a terminal escape (escaped as COMM is). Expected
//! lines are built with independent format! calls.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use support::{have_root, tcpconnect_bin, Connector, Ports, Tool};

/// Where the tool reads cgroups on this host, by its documented rule: the
/// first of these v1 controllers mounted at its root, else cgroup v2.
fn hierarchy() -> PathBuf {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mounts: Vec<(String, String, String, String)> = info
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let f: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            Some((f[3].to_owned(), f[4].to_owned(), r[0].to_owned(), r.get(2)?.to_string()))
        })
        .collect();
    for controller in ["pids", "memory", "cpu", "devices", "freezer", "blkio", "cpuacct", "cpuset"] {
        let found = mounts.iter().find(|(root, _, fs, opts)| {
            root == "/" && fs == "cgroup" && opts.split(',').any(|o| o == controller)
        });
        if let Some((_, point, _, _)) = found {
            return PathBuf::from(point);
        }
    }
    let v2 =
        mounts.iter().find(|(root, _, fs, _)| root == "/" && fs == "cgroup2").expect("a cgroup hierarchy");
    PathBuf::from(&v2.1)
}

/// A cgroup made for one test, removed (after its processes left) on drop.
struct Cgroup(PathBuf);

impl Cgroup {
    fn new(below: &[&str], owner: Option<u32>) -> Cgroup {
        let path = below.iter().fold(hierarchy(), |p, e| p.join(e));
        std::fs::create_dir_all(&path).unwrap();
        if let Some(uid) = owner {
            std::os::unix::fs::chown(&path, Some(uid), None).unwrap();
        }
        Cgroup(path)
    }

    fn enter(&self, pid: u32) {
        std::fs::write(self.0.join("cgroup.procs"), pid.to_string()).unwrap();
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // The connector has exited: the cgroup is empty.
        for _ in 0..100 {
            if std::fs::remove_dir(&self.0).is_ok() || !self.0.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// This process's pid and name, as its children's PPID and PCOMM.
fn us() -> (u32, String) {
    let pid = std::process::id();
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    (pid, comm.trim_end().to_owned())
}

fn line(pid: u32, parent: Option<&(u32, String)>, container: Option<&str>, port: u16) -> String {
    let mut s = format!("{pid:<6} ");
    if let Some((ppid, pcomm)) = parent {
        s += &format!("{ppid:<6} {pcomm:<12.12} ");
    }
    s += &format!("{:<12.12} ", "connector");
    if let Some(container) = container {
        s += &format!("{container:<16} ");
    }
    s + &format!("{:<2} {:<16} {:<16} {port:<4}", 4, "127.0.0.1", "127.0.0.1")
}

/// Runs one connect of a parked connector in `cgroup` (or ours) under
/// `args` and returns the tool's line for it and its stderr.
fn traced(args: &[&str], cgroup: Option<&Cgroup>, port: u16) -> (u32, String, String) {
    let connector = Connector::spawn(&[format!("4:127.0.0.1:{port}")]);
    let pid = connector.pid();
    if let Some(cgroup) = cgroup {
        cgroup.enter(pid);
    }
    let pid_arg = pid.to_string();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["-v", "-p", &pid_arg]);
    // JSON has no header: the tool is live when its program is attached.
    let mut tool = if args.contains(&"-j") { Tool::start_headerless(&all) } else { Tool::start(&all) };
    connector.go();
    let lines = tool.lines_matching(1, |_| true);
    let (_, _, stderr) = tool.stop(libc::SIGINT);
    (pid, lines[0].clone(), stderr)
}

#[test]
fn ppid_names_the_parent_process_taken_in_the_kernel() {
    if !have_root("ppid_names_the_parent_process_taken_in_the_kernel") {
        return;
    }
    let ports = Ports::new();
    let us = us();
    let (pid, got, _) = traced(&["--ppid"], None, ports.v4_port);
    assert_eq!(got, line(pid, Some(&us), None, ports.v4_port));
    let (pid, got, _) = traced(&["--ppid", "-j"], None, ports.v4_port);
    let want = format!(
        "{{\"uid\":0,\"pid\":{pid},\"ppid\":{},\"pcomm\":\"{}\",\"comm\":\"connector\",\"ip\":4,\
         \"saddr\":\"127.0.0.1\",\"daddr\":\"127.0.0.1\",\"dport\":{}}}",
        us.0, us.1, ports.v4_port
    );
    assert_eq!(got, want);
}

#[test]
fn a_root_made_container_cgroup_is_named_by_its_id_and_path() {
    if !have_root("a_root_made_container_cgroup_is_named_by_its_id_and_path") {
        return;
    }
    let ports = Ports::new();
    let id = format!("{:016x}", std::process::id()).repeat(4);
    let cgroup = Cgroup::new(&["docker", &id], None);
    let (pid, got, stderr) = traced(&["--container"], Some(&cgroup), ports.v4_port);
    assert_eq!(got, line(pid, None, Some(&id[..12]), ports.v4_port));
    let named = "--container: each connect's cgroup in the cgroup ";
    assert!(stderr.contains(named) && stderr.contains(&hierarchy().display().to_string()), "{stderr}");
    let (pid, got, _) = traced(&["--container", "--ppid", "-j"], Some(&cgroup), ports.v4_port);
    let us = us();
    let want = format!(
        "{{\"uid\":0,\"pid\":{pid},\"ppid\":{},\"pcomm\":\"{}\",\"comm\":\"connector\",\"cgroup\":\"/docker/{id}\",\
         \"container_id\":\"{id}\",\"ip\":4,\"saddr\":\"127.0.0.1\",\"daddr\":\"127.0.0.1\",\"dport\":{}}}",
        us.0, us.1, ports.v4_port
    );
    assert_eq!(got, want);
    // Our own cgroup in that hierarchy: its last element, or - at the root.
    let ours = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let (pid, got, _) = traced(&["--container"], None, ports.v4_port);
    let h = hierarchy();
    let controller = h.file_name().unwrap().to_str().unwrap();
    let path = ours
        .lines()
        .find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, names, path) = (f.next()?, f.next()?, f.next()?);
            (names.split(',').any(|n| n == controller) || (names.is_empty() && controller == "cgroup"))
                .then(|| path.to_owned())
        })
        .unwrap_or_else(|| "/".to_owned());
    let last = if path == "/" { "-" } else { path.rsplit('/').next().unwrap() };
    assert_eq!(got, line(pid, None, Some(last), ports.v4_port));
}

#[test]
fn a_users_cgroup_is_never_taken_for_the_container_it_mimics_and_names_are_escaped() {
    if !have_root("a_users_cgroup_is_never_taken_for_the_container_it_mimics_and_names_are_escaped") {
        return;
    }
    let ports = Ports::new();
    let id = format!("{:016x}", u64::from(std::process::id()) << 8).repeat(4);
    let mimic = Cgroup::new(&["docker", &id], Some(65534));
    let (pid, got, _) = traced(&["--container"], Some(&mimic), ports.v4_port);
    assert_eq!(got, line(pid, None, Some(&id), ports.v4_port), "the user's cgroup's own name, whole");
    let (pid, got, _) = traced(&["--container", "-j"], Some(&mimic), ports.v4_port);
    assert!(!got.contains("container_id"), "{got}");
    assert!(
        got.contains(&format!("\"pid\":{pid},\"comm\":\"connector\",\"cgroup\":\"/docker/{id}\",")),
        "{got}"
    );
    drop(mimic);

    let evil = format!("tcpconnect-test-{}-\x1b[31mred\u{202e}", std::process::id());
    let cgroup = Cgroup::new(&[&evil], None);
    let (pid, got, _) = traced(&["--container"], Some(&cgroup), ports.v4_port);
    let shown = format!("tcpconnect-test-{}-\\027[31mred\\226\\128\\174", std::process::id());
    assert_eq!(got, line(pid, None, Some(&shown), ports.v4_port));
}

/// Without BTF (TCPCONNECT_BTF=off stands in for a kernel without it):
/// the parent and the cgroup come from /proc when the line is printed, and
/// -v says so. The client stays connected until its line is read.
#[test]
fn without_btf_a_live_process_is_named_from_proc() {
    if !have_root("without_btf_a_live_process_is_named_from_proc") {
        return;
    }
    let ports = Ports::new();
    let id = format!("{:016x}", u64::from(std::process::id()) << 16).repeat(4);
    let cgroup = Cgroup::new(&["docker", &id], None);
    let port = ports.v4_port.to_string();
    let args = ["--ppid", "--container", "-v", "-P", &port];
    let mut tool = Tool::start_with(&args, |c| {
        c.env("TCPCONNECT_BTF", "off");
    });
    // Into the cgroup before it connects; `exec`: the parent stays us.
    let script = format!(
        "echo $$ > {}/cgroup.procs && exec /bin/busybox nc -w 30 127.0.0.1 {port} </dev/null",
        cgroup.0.display()
    );
    let mut client = Command::new("/bin/sh").args(["-c", &script]).spawn().unwrap();
    let lines = tool.lines_matching(1, |_| true);
    let _ = client.kill();
    let _ = client.wait();
    let (_, _, stderr) = tool.stop(libc::SIGINT);
    let us = us();
    let mut want = format!("{:<6} {:<6} {:<12.12} {:<12.12} ", client.id(), us.0, us.1, "busybox");
    want +=
        &format!("{:<16} {:<2} {:<16} {:<16} {:<4}", &id[..12], 4, "127.0.0.1", "127.0.0.1", ports.v4_port);
    assert_eq!(lines, [want], "{stderr}");
    for option in ["--ppid: each connect's parent read from /proc", "--container: each connect's cgroup in"] {
        assert!(stderr.contains(option), "{stderr}");
    }
    assert!(stderr.contains("read from /proc when its line is printed"), "{stderr}");
}

#[test]
fn who_made_a_connect_is_not_combined_with_options_that_send_it_later() {
    for (flag, other, with) in [
        ("--container", "-c/--count", "-c"),
        ("--ppid", "-L/--lport", "-L"),
        ("--container", "--result", "--result"),
        ("--ppid", "--failed", "--failed"),
    ] {
        let out = Command::new(tcpconnect_bin()).args([flag, with]).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.ends_with(&format!(
                "tcpconnect: error: argument {flag}: not allowed with argument {other}\n"
            )),
            "{err}"
        );
    }
}
