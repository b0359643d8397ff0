//! --container against real LXC containers (Debian's lxc, 5.0 in bookworm).
//! LXC keeps no record of its containers that --container reads: the
//! resolver knows them by their cgroup alone, `/lxc.payload.<name>` (LXC 4
//! and later) or `/lxc/<name>` (older), and `/lxc.monitor.<name>` is LXC's
//! monitor, not the container (src/container/cgroup_path.rs). So the line
//! must give the container's name as CONTAINER and container_name, and no
//! container_id.
//!
//! Each test makes a container of its own, with no image server: a rootfs
//! of busybox-static's /bin/busybox and applet links, and a config file of
//! our own (the host's network, no AppArmor profile, stdio passed through)
//! in a private lxcpath (`lxc-start -P`), so nothing goes to /var/lib/lxc.
//! A client in it connects once to a port this test listens on; the
//! expected values come from LXC (`lxc-info`) and /proc (the harness finds
//! the client by its socket), never from the tool. Two ways into a
//! container are tested: the client as the container's init (`lxc-start
//! -F -- CMD`), and the client attached to a running container
//! (`lxc-attach`), which LXC puts in `/lxc.payload.<name>` in the cgroup v1
//! hierarchies and in `/lxc.payload.<name>/.lxc` in cgroup v2.
//!
//! Cleanup (on Drop, also after a failed assertion): the container is
//! killed if it still runs, and what LXC may leave of it is removed: its
//! cgroups (`lxc.payload.<name>`, `lxc.monitor.<name>`) in every
//! hierarchy, its lock under /run/lxc/lock, the scratch dir (rootfs,
//! lxcpath, log), and LXC's shared `lxc.pivot` cgroups where this process
//! was the first to make them (LXC makes them again when it needs them).

mod support;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};
use support::containers::{
    assert_json, busybox_rootfs, cgroup_mounts, command_exists, container_line, n, s, socket_owner,
    start_container_tracers, Scratch, Spawned,
};
use support::{have_root, Tool};

/// busybox-static's binary (the busybox package's one is dynamic).
/// Where LXC 5.0 locks a container: `<LOCK_ROOT><lxcpath>/.<name>`.
const LOCK_ROOT: &str = "/run/lxc/lock";
/// LXC's shared cgroup its monitors move to before removing their own.
const PIVOT: &str = "lxc.pivot";
/// How long LXC may take to start a container and its client to connect.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a client may take to exit once its connection is closed.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// `first`, which must be one line, and nothing after it (-P keeps only
/// connects to our port).
fn only_line(tool: &mut Tool, mut first: Vec<String>, what: &str) -> String {
    first.extend(tool.lines_until_quiet(Duration::from_millis(300)));
    assert_eq!(first.len(), 1, "{what}: {first:?}");
    first.remove(0)
}

fn stop(tool: Tool) -> String {
    let (status, rest, stderr) = tool.stop(libc::SIGINT);
    assert!(status.success(), "{status}: {stderr}");
    assert!(rest.is_empty(), "lines after the client's: {rest:?}");
    stderr
}

/// The `lxc.pivot` cgroups that existed before this process ran LXC: the
/// others are ours to remove.
fn pivots_before() -> &'static Vec<PathBuf> {
    static BEFORE: OnceLock<Vec<PathBuf>> = OnceLock::new();
    BEFORE.get_or_init(|| cgroup_mounts().into_iter().map(|m| m.join(PIVOT)).filter(|p| p.is_dir()).collect())
}

/// Removes the cgroup `dir` and those below it (deepest first); a cgroup
/// that still has tasks stays, and is reported.
fn remove_cgroup_tree(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_cgroup_tree(&entry.path());
        }
    }
    if let Err(e) = std::fs::remove_dir(dir) {
        eprintln!("lxc harness: could not remove the cgroup {}: {e}", dir.display());
    }
}

/// One test at a time in this process: a test's cleanup removes the
/// `lxc.pivot` cgroups another's monitor may be about to use.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Reports why a test skips; under CI a missing lxc or a host where LXC
/// cannot run a container is a failure (tools/test installs lxc).
fn skipping(test: &str, reason: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{test}: {reason}, and CI must run it (tools/test installs lxc)");
    }
    eprintln!("skipping {test}: {reason}");
}

/// What tcpconnect should report for the client's connect.
#[derive(Debug)]
struct ClientRun {
    /// The client process as the host sees it.
    pid: u32,
    comm: String,
    /// The client's local port (the connect's LPORT).
    lport: u16,
    /// /proc/self/cgroup as the client's shell read it in the container.
    cgroup_inside: String,
    /// /proc/PID/cgroup of the client, read on the host while it ran.
    cgroup_host: String,
}

impl ClientRun {
    /// The client's path in the hierarchy `controller` names (`pids`, or
    /// `""` for cgroup v2's `0::` line).
    fn cgroup(&self, controller: &str) -> &str {
        self.cgroup_host
            .lines()
            .find_map(|line| {
                let (_, rest) = line.split_once(':')?;
                let (controllers, path) = rest.split_once(':')?;
                (controllers.split(',').any(|c| c == controller) || controllers == controller).then_some(path)
            })
            .unwrap_or_else(|| {
                panic!("no {controller:?} line in /proc/{}/cgroup:\n{}", self.pid, self.cgroup_host)
            })
    }

    /// Whether the host has a cgroup v1 pids hierarchy.
    fn has_v1_pids(&self) -> bool {
        self.cgroup_host.lines().any(|line| line.split(':').nth(1) == Some("pids"))
    }

    /// The path --container reads: in the v1 pids hierarchy where there is
    /// one (src/host/cgroup_hierarchy.rs prefers it), else in cgroup v2.
    fn traced_cgroup(&self) -> &str {
        self.cgroup(if self.has_v1_pids() { "pids" } else { "" })
    }
}

/// One LXC container of this test process, in its own lxcpath; Drop
/// cleans up after it (see the module's comment).
struct Lxc {
    name: String,
    lxcpath: PathBuf,
    log: PathBuf,
    /// `lxc-start -F` for the container, while it runs.
    start: Option<Spawned>,
    scratch: Scratch,
    _turn: MutexGuard<'static, ()>,
}

impl Lxc {
    /// A container named `tc-<tag>-<pid>` (within CONTAINER's 16
    /// columns), configured but not started; Err(reason) when lxc is not
    /// installed.
    fn new(tag: &str) -> Result<Lxc, String> {
        for command in ["lxc-start", "lxc-attach", "lxc-info", "lxc-stop"] {
            if !command_exists(command) {
                return Err(format!("LXC needs {command} (Debian package lxc), which is not installed"));
            }
        }
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        pivots_before();
        let name = format!("tc-{tag}-{}", std::process::id());
        let scratch = Scratch::new(tag);
        let rootfs = scratch.path("rootfs");
        busybox_rootfs(&rootfs);
        let lxcpath = scratch.path("lxcpath");
        std::fs::create_dir_all(lxcpath.join(&name)).unwrap();
        let log = scratch.path("lxc.log");
        // The host's network (net type none), so the client reaches the
        // test's 127.0.0.1; no AppArmor profile to generate; no console,
        // so the container's stdio is lxc-start's.
        let config = format!(
            "lxc.uts.name = {name}\n\
             lxc.rootfs.path = dir:{}\n\
             lxc.net.0.type = none\n\
             lxc.apparmor.profile = unconfined\n\
             lxc.console.path = none\n\
             lxc.mount.auto = proc:mixed sys:mixed\n\
             lxc.log.file = {}\n\
             lxc.log.level = INFO\n",
            rootfs.display(),
            log.display()
        );
        std::fs::write(lxcpath.join(&name).join("config"), config).unwrap();
        Ok(Lxc { name, lxcpath, log, start: None, scratch, _turn: turn })
    }

    /// An LXC command on this container.
    fn lxc(&self, tool: &str) -> Command {
        let mut command = Command::new(tool);
        command.arg("-P").arg(&self.lxcpath).arg("-n").arg(&self.name);
        command
    }

    /// Starts the container with `argv` as its init (`lxc-start -F`).
    fn start(&mut self, argv: &[&str]) -> &mut Spawned {
        let mut command = self.lxc("lxc-start");
        command.arg("-F").arg("--").args(argv);
        self.start.insert(Spawned::new(command))
    }

    /// Why `process` (lxc-start or lxc-attach) failed: its status and
    /// output, and LXC's log's errors.
    fn failure(&self, process: &mut Spawned, status: ExitStatus) -> String {
        let (stdout, stderr) = process.finish();
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let errors: Vec<&str> = log.lines().filter(|l| l.contains(" ERROR ")).collect();
        let errors = if errors.is_empty() { "none".to_owned() } else { format!("\n{}", errors.join("\n")) };
        format!(
            "{} exited ({status}): stdout {:?}, stderr {:?}; the errors in LXC's log: {errors}",
            process.command(),
            stdout.trim_end(),
            stderr.trim_end(),
        )
    }

    /// The container's init as LXC reports it.
    fn init_pid(&self) -> u32 {
        let out = self.lxc("lxc-info").args(["-p", "-H"]).output().expect("run lxc-info");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "lxc-info {}: {}", self.name, String::from_utf8_lossy(&out.stderr));
        text.trim().parse().unwrap_or_else(|_| panic!("lxc-info -p -H {}: {text:?}", self.name))
    }

    /// Waits until LXC says the container runs.
    fn wait_running(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let out = self.lxc("lxc-info").arg("-s").output().expect("run lxc-info");
            if String::from_utf8_lossy(&out.stdout).contains("RUNNING") {
                return Ok(());
            }
            let mut start = self.start.take().expect("the container was started");
            let exited = start.try_wait().unwrap();
            let failed = exited.map(|status| self.failure(&mut start, status));
            self.start = Some(start);
            if let Some(why) = failed {
                return Err(why);
            }
            assert!(Instant::now() < deadline, "{} not RUNNING within {START_TIMEOUT:?}", self.name);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Lxc {
    fn drop(&mut self) {
        if let Some(mut start) = self.start.take() {
            if let Ok(None) = start.try_wait() {
                let out = self.lxc("lxc-stop").arg("-k").stdin(Stdio::null()).output();
                if !out.as_ref().is_ok_and(|o| o.status.success()) {
                    eprintln!("lxc harness: lxc-stop -k {}: {out:?}", self.name);
                }
                let deadline = Instant::now() + Duration::from_secs(20);
                while start.try_wait().is_ok_and(|s| s.is_none()) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            // lxc-start -F is killed if it outlived lxc-stop (Spawned's Drop).
        }
        for mount in cgroup_mounts() {
            for cgroup in [format!("lxc.payload.{}", self.name), format!("lxc.monitor.{}", self.name)] {
                remove_cgroup_tree(&mount.join(cgroup));
            }
            let pivot = mount.join(PIVOT);
            if !pivots_before().contains(&pivot) {
                // Busy (another LXC's monitor in it) is fine: it stays.
                let _ = std::fs::remove_dir(&pivot);
            }
        }
        // `<LOCK_ROOT><lxcpath>`: its dirs down from the first that is ours.
        let ours = Path::new(LOCK_ROOT).join(self.scratch.dir.strip_prefix("/").unwrap_or(&self.scratch.dir));
        let _ = std::fs::remove_dir_all(&ours);
        let mut parent = ours.parent();
        while let Some(dir) = parent.filter(|d| *d != Path::new(LOCK_ROOT)) {
            if std::fs::remove_dir(dir).is_err() {
                break;
            }
            parent = dir.parent();
        }
    }
}

/// Accepts the client's connect and learns who it is; Err(reason) if
/// `client` (lxc-start or lxc-attach) exited before it connected.
fn accept_client(
    lxc: &Lxc,
    listener: &TcpListener,
    client: &mut Spawned,
) -> Result<(TcpStream, ClientRun), String> {
    let port = listener.local_addr().unwrap().port();
    let (stream, lport) =
        client.accept(listener, START_TIMEOUT).map_err(|status| lxc.failure(client, status))?;
    let pid = socket_owner(lport, port);
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap().trim_end().to_owned();
    let cgroup_host = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    Ok((stream, ClientRun { pid, comm, lport, cgroup_inside: String::new(), cgroup_host }))
}

/// The client's script: prints its cgroups as seen inside, then connects.
fn client_script(port: u16) -> String {
    format!("cat /proc/self/cgroup && exec nc -w 30 127.0.0.1 {port} </dev/null")
}

/// How the client gets into its container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    /// The client is the container's init: `lxc-start -F -- sh -c SCRIPT`.
    Init,
    /// The container's init sleeps; `lxc-attach -- sh -c SCRIPT` runs the client.
    Attach,
}

/// Starts `tcpconnect --container -P PORT` and its -j twin, runs the
/// client in an LXC container, and checks both lines.
fn lxc_container_is_named(entry: Entry, test: &str) {
    if !have_root(test) {
        return;
    }
    let mut lxc = match Lxc::new(if entry == Entry::Init { "lxc" } else { "lxa" }) {
        Ok(lxc) => lxc,
        Err(why) => return skipping(test, &why),
    };
    let name = lxc.name.clone();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (mut text, mut json) = start_container_tracers(port);
    let script = client_script(port);
    let argv = ["/bin/sh", "-c", script.as_str()];
    // The client: lxc-start itself, or an lxc-attach into a running container.
    let mut attach = match entry {
        Entry::Init => None,
        Entry::Attach => {
            lxc.start(&["/bin/sleep", "300"]);
            if let Err(why) = lxc.wait_running() {
                return skipping(test, &format!("LXC cannot run a container on this host: {why}"));
            }
            let mut command = lxc.lxc("lxc-attach");
            command.arg("--").args(argv);
            Some(Spawned::new(command))
        }
    };
    if entry == Entry::Init {
        lxc.start(&argv);
    }
    let accepted = match attach.as_mut() {
        Some(attach) => accept_client(&lxc, &listener, attach),
        None => {
            let mut start = lxc.start.take().unwrap();
            let accepted = accept_client(&lxc, &listener, &mut start);
            lxc.start = Some(start);
            accepted
        }
    };
    let (stream, mut client) = match accepted {
        Ok(accepted) => accepted,
        Err(why) => {
            let cannot = match entry {
                Entry::Init => "LXC cannot run a container on this host",
                Entry::Attach => "LXC cannot attach a process to a running container on this host",
            };
            return skipping(test, &format!("{cannot}: {why}"));
        }
    };
    // Who LXC says the client is: its init, or a process in its init's
    // PID namespace.
    let init = lxc.init_pid();
    match entry {
        Entry::Init => assert_eq!(
            init, client.pid,
            "lxc-info says {name}'s init is {init}; the socket is {}'s",
            client.pid
        ),
        Entry::Attach => {
            let ns = |pid: u32| std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap();
            assert_eq!(ns(client.pid), ns(init), "the attached client is not in {name}'s PID namespace");
        }
    }
    // The lines are read while the container runs, as its client holds
    // the connection open.
    let started = Instant::now();
    let text_first = text.lines_matching(1, |_| true);
    let json_first = json.lines_matching(1, |_| true);
    eprintln!("{test}: both lines within {:?} of the accept", started.elapsed());
    drop(stream);
    let client_process = attach.as_mut().unwrap_or_else(|| lxc.start.as_mut().unwrap());
    let status = client_process.wait(EXIT_TIMEOUT);
    let (stdout, stderr) = client_process.finish();
    assert!(
        status.success(),
        "{} failed ({status})\nstdout: {stdout}\nstderr: {stderr}",
        client_process.command()
    );
    client.cgroup_inside = stdout;
    eprintln!("{test}: {name}: {client:#?}");

    // LXC 5.0's layout, found in /proc independently of the tool: the
    // container's cgroup is /lxc.payload.<name> in the v1 hierarchies, and
    // in cgroup v2 too but for an attached process (LXC's .lxc leaf below
    // it). The container has a cgroup namespace: it sees that as / (/.lxc).
    let payload = format!("/lxc.payload.{name}");
    let leaf = if entry == Entry::Attach { "/.lxc" } else { "" };
    if client.has_v1_pids() {
        assert_eq!(client.cgroup("pids"), payload, "{:?}", client.cgroup_host);
    }
    assert_eq!(client.cgroup(""), format!("{payload}{leaf}"), "{:?}", client.cgroup_host);
    let inside = format!("0::{}", if leaf.is_empty() { "/" } else { leaf });
    assert!(client.cgroup_inside.lines().any(|l| l == inside), "{:?}", client.cgroup_inside);

    // busybox runs as the nc applet's link: its task name is the link's.
    assert_eq!(client.comm, "nc");
    let line = only_line(&mut text, text_first, "--container");
    eprintln!("{test}: {line}");
    assert_eq!(line, container_line(client.pid, "nc", &name, port));
    let line = only_line(&mut json, json_first, "-j --container");
    eprintln!("{test}: {line}");
    // LXC keeps no id apart from the name (src/container/identity.rs).
    assert_json(
        &line,
        &[
            ("uid", n(0)),
            ("pid", n(client.pid)),
            ("comm", s("nc")),
            ("cgroup", s(client.traced_cgroup())),
            ("container_name", s(&name)),
            ("ip", n(4)),
            ("saddr", s("127.0.0.1")),
            ("daddr", s("127.0.0.1")),
            ("dport", n(port)),
        ],
        client.lport,
    );
    stop(text);
    // The hierarchy -v says it reads is the one whose path was expected.
    let hierarchy = if client.has_v1_pids() {
        "--container: each connect's cgroup in the cgroup v1 pids hierarchy at "
    } else {
        "--container: each connect's cgroup in the cgroup v2 hierarchy at "
    };
    let stderr = stop(json);
    assert!(stderr.contains(hierarchy), "-v does not say {hierarchy:?}:\n{stderr}");
    if entry == Entry::Attach {
        let stop = lxc.lxc("lxc-stop").arg("-k").output().expect("run lxc-stop");
        assert!(stop.status.success(), "lxc-stop -k {name}: {}", String::from_utf8_lossy(&stop.stderr));
        let start = lxc.start.as_mut().unwrap();
        start.wait(EXIT_TIMEOUT);
    }
}

#[test]
fn lxc_init_connect_names_its_container() {
    lxc_container_is_named(Entry::Init, "lxc_init_connect_names_its_container");
}

#[test]
fn lxc_attached_connect_names_its_container() {
    lxc_container_is_named(Entry::Attach, "lxc_attached_connect_names_its_container");
}
