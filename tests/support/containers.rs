//! Real container runtimes for tests/containers.rs: Debian's docker.io,
//! podman, containerd (ctr), runc and crun, run as root, an image made from
//! the host's static busybox, and a client that connects once from a
//! container on the host network. The harness learns the client's host PID
//! from the socket it connected with and checks it against what the
//! runtime reports, so the tests compare tcpconnect's lines with facts
//! found independently of it.
//!
//! The runtimes keep their state where they do by default (/var/lib/docker,
//! /var/lib/containers/storage, /run/containerd, /run/runc, /run/crun):
//! that is where --container reads names, so private data roots would test
//! nothing. A daemon already answering on its default socket is used;
//! otherwise the harness starts one (its log and config in a scratch dir)
//! and stops it, by PID, when done. Only what a test made is removed: its
//! containers by name, its image by a tag of this process's own.

use super::Tool;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The runtimes the tests drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    Docker,
    Podman,
    Ctr,
    Runc,
    Crun,
}

/// The image's repository (ctr wants a fully qualified reference); the
/// tag is this process's PID, so concurrent runs leave each other's alone.
const IMAGE_REPOSITORY: &str = "localhost/tcpconnect-test";
const CTR_IMAGE_REPOSITORY: &str = "docker.io/library/tcpconnect-test";
/// containerd namespace for ctr's containers: their cgroup is /<namespace>/<id>.
const CTR_NAMESPACE: &str = "tcpconnect-test";
/// The daemons' default sockets.
const DOCKER_SOCKET: &str = "/var/run/docker.sock";
const CONTAINERD_SOCKET: &str = "/run/containerd/containerd.sock";
/// The Debian docker.io client, which matches its dockerd (a newer client
/// may come first on PATH, e.g. /usr/local/bin/docker).
const DOCKER_CLI: &str = "/usr/bin/docker";
/// busybox-static's binary (the busybox package's one is dynamic).
const BUSYBOX: &str = "/bin/busybox";
/// The applets the client scripts use, as symlinks in the image.
const APPLETS: [&str; 7] = ["sh", "nc", "cat", "wget", "sleep", "true", "grep"];
/// crun 1.8's refusal on a hybrid host whose cgroup v2 has a controller
/// (libcrun/cgroup.c); runc runs such a host.
pub const CRUN_HYBRID_REFUSAL: &str =
    "cgroups in hybrid mode not supported, drop all controllers from cgroupv2";
/// How long a daemon may take to answer, and a client to connect.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a client may take to exit once its connection is closed.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

impl Runtime {
    pub const ALL: [Runtime; 5] =
        [Runtime::Docker, Runtime::Podman, Runtime::Ctr, Runtime::Runc, Runtime::Crun];

    pub fn name(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Podman => "podman",
            Runtime::Ctr => "ctr",
            Runtime::Runc => "runc",
            Runtime::Crun => "crun",
        }
    }

    /// A short tag for container names: `tc-<tag>-<pid>` stays within
    /// CONTAINER's 16 columns.
    fn tag(self) -> &'static str {
        match self {
            Runtime::Docker => "dk",
            Runtime::Podman => "pm",
            Runtime::Ctr => "ctr",
            Runtime::Runc => "runc",
            Runtime::Crun => "crun",
        }
    }

    /// The commands it needs and the Debian package of each.
    fn commands(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Runtime::Docker => &[
                ("dockerd", "docker.io"),
                (DOCKER_CLI, "docker.io"),
                ("containerd", "containerd"),
                ("containerd-shim-runc-v2", "containerd"),
                ("runc", "runc"),
            ],
            Runtime::Podman => &[("podman", "podman"), ("conmon", "conmon"), ("runc", "runc")],
            Runtime::Ctr => &[
                ("containerd", "containerd"),
                ("ctr", "containerd"),
                ("containerd-shim-runc-v2", "containerd"),
                ("runc", "runc"),
            ],
            Runtime::Runc => &[("runc", "runc")],
            Runtime::Crun => &[("crun", "crun")],
        }
    }

    /// The container name a test uses: unique to this test process.
    pub fn container_name(self) -> String {
        format!("tc-{}-{}", self.tag(), std::process::id())
    }
}

/// One client run: what tcpconnect should report for its connect.
#[derive(Debug)]
pub struct ClientRun {
    pub runtime: Runtime,
    /// The name as the runtime shows it (docker/podman --name; ctr, runc
    /// and crun: the id chosen).
    pub name: String,
    /// The full id: 64 hex for docker and podman, the chosen id otherwise.
    pub id: String,
    /// The client process as the host sees it.
    pub pid: u32,
    pub comm: String,
    /// The client's local port (the connect's LPORT).
    pub lport: u16,
    /// /proc/self/cgroup as the container's command read it.
    pub cgroup_inside: String,
    /// /proc/PID/cgroup of the client, read on the host while it ran.
    pub cgroup_host: String,
}

impl ClientRun {
    /// The client's cgroup v2 path as the host sees it (the `0::` line),
    /// e.g. `/docker/<id>`. On this hybrid host every runtime puts the
    /// client at the same path in cgroup v2 and in the v1 hierarchies but
    /// memory (runc nests it under its own memory cgroup), so it is also
    /// the path in the v1 `pids` hierarchy --container reads here.
    pub fn unified_cgroup(&self) -> &str {
        self.cgroup_host.lines().find_map(|line| line.strip_prefix("0::")).unwrap_or_else(|| {
            panic!("no cgroup v2 line in the client's /proc/PID/cgroup:\n{}", self.cgroup_host)
        })
    }
}

/// The header `tcpconnect --container` prints.
pub const CONTAINER_HEADER: &str =
    "PID    COMM         CONTAINER        IP SADDR            DADDR            DPORT";

/// `tcpconnect --container` (its header checked) and its -j twin, both
/// tracing connects to `port` only.
pub fn start_container_tracers(port: u16) -> (Tool, Tool) {
    let port_arg = port.to_string();
    let text = Tool::start(&["--container", "-P", &port_arg]);
    assert_eq!(text.header, CONTAINER_HEADER);
    let json = Tool::start_headerless(&["-j", "--container", "-P", &port_arg]);
    (text, json)
}

/// The mount points of the host's cgroup hierarchies (v1 and v2), each
/// mounted at its root.
pub fn cgroup_mounts() -> Vec<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    mountinfo
        .lines()
        .filter_map(|line| {
            let (fields, after) = line.split_once(" - ")?;
            let fs_type = after.split(' ').next()?;
            let mut fields = fields.split(' ').skip(3);
            let (root, mount_point) = (fields.next()?, fields.next()?);
            (matches!(fs_type, "cgroup" | "cgroup2") && root == "/").then(|| PathBuf::from(mount_point))
        })
        .collect()
}

/// Err(reason) for the test to print as it skips; under CI a missing
/// runtime is a failure instead (tools/test installs them).
pub fn skip<T>(reason: String) -> Result<T, String> {
    if std::env::var_os("CI").is_some() {
        panic!("{reason}, and CI must have it (tools/test installs it)");
    }
    Err(reason)
}

/// Whether `command` is a file, or a file on PATH.
pub fn command_exists(command: &str) -> bool {
    if command.starts_with('/') {
        return Path::new(command).is_file();
    }
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(command).is_file()))
        .unwrap_or(false)
}

/// Detaches every mount under `dir` (deepest first).
fn detach_mounts_under(dir: &Path) {
    let prefix = format!("{}/", dir.display());
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut mounts: Vec<&str> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|point| point.starts_with(&prefix))
        .collect();
    mounts.sort_by_key(|point| std::cmp::Reverse(point.len()));
    for point in mounts {
        let c = std::ffi::CString::new(point).unwrap();
        // SAFETY: a NUL-terminated path; MNT_DETACH has no other precondition.
        if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
            eprintln!("containers harness: umount {point}: {}", std::io::Error::last_os_error());
        }
    }
}

/// A directory of our own under the temp dir (rootfs, bundles, daemon
/// logs); on Drop, mounts under it are detached and it is removed.
pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    pub fn new(what: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("tcpc-{what}-{}", std::process::id()));
        if dir.exists() {
            Scratch::clear(&dir);
        }
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        Scratch { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn clear(dir: &Path) {
        detach_mounts_under(dir);
        if let Err(e) = std::fs::remove_dir_all(dir) {
            eprintln!("containers harness: could not remove {}: {e}", dir.display());
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        Scratch::clear(&self.dir);
    }
}

/// A daemon we started; on Drop, SIGTERM by PID, then SIGKILL if it has
/// not exited within 20 s, and always waited for; then the mounts it left
/// under its state dir (dockerd's netns/default) are detached and the
/// sockets it leaves (containerd's ttrpc socket) removed.
pub struct Daemon {
    name: &'static str,
    child: Child,
    log: PathBuf,
    state: &'static str,
    sockets: &'static [&'static str],
}

impl Daemon {
    fn spawn(
        name: &'static str,
        mut command: Command,
        log: PathBuf,
        state: &'static str,
        sockets: &'static [&'static str],
    ) -> Daemon {
        let file = std::fs::File::create(&log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        command.stdin(Stdio::null()).stdout(file.try_clone().unwrap()).stderr(file);
        let child = command.spawn().unwrap_or_else(|e| panic!("start {name}: {e}"));
        Daemon { name, child, log, state, sockets }
    }

    /// Polls `ready` until it holds; panics with the log if the daemon
    /// exits or does not get ready in time.
    fn wait_ready(&mut self, mut ready: impl FnMut() -> bool) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if ready() {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("{} exited ({status}) before it was ready; its log:\n{}", self.name, self.log_tail());
            }
            if Instant::now() > deadline {
                panic!("{} not ready within {START_TIMEOUT:?}; its log:\n{}", self.name, self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Daemon {
    fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // SAFETY: kill(2) on the PID of our own child, not yet reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("containers harness: {} ignored SIGTERM for 20 s; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
        detach_mounts_under(Path::new(self.state));
        for socket in self.sockets {
            let _ = std::fs::remove_file(socket);
        }
    }
}

/// Runs `command`, panicking with its output unless it succeeds.
pub fn run(what: &str, command: &mut Command) -> String {
    let out = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {command:?}: {e}"));
    check(what, command, &out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn check(what: &str, command: &Command, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({}): {command:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `command` for cleanup: a failure is reported, not fatal.
fn run_quietly(command: &mut Command) {
    match command.stdin(Stdio::null()).output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => eprintln!(
            "containers harness: cleanup {command:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end()
        ),
        Err(e) => eprintln!("containers harness: cleanup {command:?}: {e}"),
    }
}

/// Whether the kernel has overlayfs (loading the module if it can): ctr
/// is told to use containerd's copying `native` snapshotter without it
/// (dockerd and podman fall back to vfs by themselves).
pub fn overlay_available() -> bool {
    let has = || {
        std::fs::read_to_string("/proc/filesystems")
            .unwrap_or_default()
            .lines()
            .any(|l| l.ends_with("\toverlay"))
    };
    if has() {
        return true;
    }
    let _ = Command::new("modprobe").arg("overlay").stderr(Stdio::null()).status();
    has()
}

/// Some(reason) when this host's cgroup layout is one crun 1.8 refuses:
/// hybrid (cgroup v2 at /sys/fs/cgroup/unified beside v1 controllers)
/// with a controller left on v2 (one no v1 hierarchy mounted).
pub fn crun_hybrid_refusal_expected() -> Option<String> {
    let controllers = std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers").ok()?;
    let controllers = controllers.trim();
    (!controllers.is_empty()).then(|| {
        format!(
            "hybrid cgroups with controller(s) \"{controllers}\" on cgroup v2 (/sys/fs/cgroup/unified/cgroup.controllers), \
             which crun {} refuses (\"{CRUN_HYBRID_REFUSAL}\")",
            crun_version()
        )
    })
}

fn crun_version() -> String {
    Command::new("crun")
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .map(|l| l.trim_start_matches("crun version ").to_owned())
        })
        .unwrap_or_else(|| "?".into())
}

/// The busybox root filesystem (bin/busybox and applet links, the mount
/// points runtimes need) and its tar.
pub fn build_rootfs(scratch: &Scratch) -> (PathBuf, PathBuf) {
    let rootfs = scratch.path("rootfs");
    busybox_rootfs(&rootfs);
    let tar = scratch.path("rootfs.tar");
    run("tar the busybox root", Command::new("tar").arg("-C").arg(&rootfs).arg("-cf").arg(&tar).arg("."));
    (rootfs, tar)
}

/// A root filesystem at `rootfs` for every runtime's client: the
/// directories runtimes mount on, busybox-static and its APPLETS as
/// symlinks.
pub fn busybox_rootfs(rootfs: &Path) {
    let busybox = Path::new(BUSYBOX);
    assert!(busybox.is_file(), "{BUSYBOX} missing: install busybox-static (tools/test does)");
    // A dynamic busybox (Debian's busybox package) has a PT_INTERP
    // program header; the root has no loader for it.
    assert!(!has_interpreter(busybox), "{BUSYBOX} is dynamically linked: the root needs busybox-static's");
    for dir in ["bin", "proc", "sys", "dev", "etc", "tmp", "run"] {
        std::fs::create_dir_all(rootfs.join(dir)).unwrap();
    }
    std::fs::copy(busybox, rootfs.join("bin/busybox")).unwrap();
    for applet in APPLETS {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
}

/// Whether the 64-bit little-endian ELF file at `path` has a PT_INTERP
/// program header (asks for a dynamic loader).
fn has_interpreter(path: &Path) -> bool {
    let elf = std::fs::read(path).unwrap();
    assert!(elf.starts_with(b"\x7fELF\x02\x01"), "{} is not a 64-bit little-endian ELF file", path.display());
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    (0..phnum).any(|i| {
        let at = phoff + i * phentsize;
        u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) == 3
    })
}

fn sha256_of(path: &Path) -> String {
    let out = run("sha256sum", Command::new("sha256sum").arg(path));
    let digest = out.split_whitespace().next().unwrap_or_default().to_owned();
    assert_eq!(digest.len(), 64, "sha256sum {}: {out:?}", path.display());
    digest
}

/// Writes `bytes` as a blob of an OCI layout; returns (digest, size).
pub fn add_blob(layout: &Path, bytes: &[u8]) -> (String, usize) {
    let tmp = layout.join("blob.tmp");
    std::fs::write(&tmp, bytes).unwrap();
    let digest = sha256_of(&tmp);
    std::fs::rename(&tmp, layout.join("blobs/sha256").join(&digest)).unwrap();
    (digest, bytes.len())
}

/// An OCI image archive (image layout, tarred) of one uncompressed layer,
/// named `image` (with its tag `tag`) for `ctr images import`.
fn build_oci_archive(scratch: &Scratch, rootfs_tar: &Path, image: &str, tag: &str) -> PathBuf {
    let layout = scratch.path("oci");
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    let (layer, layer_size) = add_blob(&layout, &std::fs::read(rootfs_tar).unwrap());
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":["sha256:{layer}"]}}}}"#
    );
    let (config, config_size) = add_blob(&layout, config.as_bytes());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{config}","size":{config_size}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:{layer}","size":{layer_size}}}]}}"#
    );
    let (manifest, manifest_size) = add_blob(&layout, manifest.as_bytes());
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{manifest}","size":{manifest_size},"annotations":{{"io.containerd.image.name":"{image}","org.opencontainers.image.ref.name":"{tag}"}}}}]}}"#
    );
    std::fs::write(layout.join("index.json"), index).unwrap();
    std::fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let archive = scratch.path("oci.tar");
    run(
        "tar the OCI layout",
        Command::new("tar").arg("-C").arg(&layout).arg("-cf").arg(&archive).args([
            "oci-layout",
            "index.json",
            "blobs",
        ]),
    );
    archive
}

/// Whether `command` runs and succeeds (output ignored).
pub fn succeeds(command: &mut Command) -> bool {
    command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    command.status().is_ok_and(|status| status.success())
}

fn docker_cli() -> Command {
    let mut command = Command::new(DOCKER_CLI);
    command.arg("-H").arg(format!("unix://{DOCKER_SOCKET}"));
    command
}

fn ctr_cli() -> Command {
    let mut command = Command::new("ctr");
    command.args(["--address", CONTAINERD_SOCKET, "--namespace", CTR_NAMESPACE]);
    command
}

fn docker_answers() -> bool {
    if !Path::new(DOCKER_SOCKET).exists() {
        return false;
    }
    let mut probe = docker_cli();
    probe.arg("version");
    succeeds(&mut probe)
}

fn containerd_answers() -> bool {
    // Without a socket, ctr would keep dialing for its 10 s timeout.
    if !Path::new(CONTAINERD_SOCKET).exists() {
        return false;
    }
    let mut probe = Command::new("ctr");
    probe.args(["--address", CONTAINERD_SOCKET, "--timeout", "2s", "version"]);
    succeeds(&mut probe)
}

/// Starts dockerd with its default data root, exec root and socket (and
/// its own containerd, or the system's if one runs), no bridge and no
/// iptables rules: the containers use the host's network.
fn start_dockerd(scratch: &Scratch) -> Daemon {
    // An empty config file: /etc/docker/daemon.json may set what the
    // options below set, which dockerd refuses.
    let config = scratch.path("daemon.json");
    std::fs::write(&config, "{}").unwrap();
    let mut command = Command::new("dockerd");
    command.arg("--config-file").arg(&config).args([
        "--iptables=false",
        "--ip-forward=false",
        "--ip-masq=false",
        "--bridge=none",
    ]);
    let mut dockerd =
        Daemon::spawn("dockerd", command, scratch.path("dockerd.log"), "/run/docker", &[DOCKER_SOCKET]);
    dockerd.wait_ready(docker_answers);
    dockerd
}

/// Starts containerd with its default root, state and socket (where
/// --container finds ctr's bundles), without the CRI plugin.
fn start_containerd(scratch: &Scratch) -> Daemon {
    let config = scratch.path("containerd.toml");
    std::fs::write(&config, "version = 2\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n").unwrap();
    let mut command = Command::new("containerd");
    command.arg("--config").arg(&config);
    let mut containerd = Daemon::spawn(
        "containerd",
        command,
        scratch.path("containerd.log"),
        "/run/containerd",
        &[CONTAINERD_SOCKET, "/run/containerd/containerd.sock.ttrpc"],
    );
    containerd.wait_ready(containerd_answers);
    containerd
}

/// The soft and hard limit of `resource` this process has.
fn rlimit(resource: libc::__rlimit_resource_t) -> (u64, u64) {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one struct rlimit we own.
    let ret = unsafe { libc::getrlimit(resource, &mut limit) };
    assert_eq!(ret, 0, "getrlimit");
    (limit.rlim_cur, limit.rlim_max)
}

/// One harness at a time in this process: a dockerd the docker test starts
/// would otherwise take the containerd the ctr test starts (and stops).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// One runtime, set up: its daemon running, its image made. Drop removes
/// the containers it ran and its image, stops the daemons it started, then
/// removes the scratch dir.
pub struct Harness {
    pub runtime: Runtime,
    /// The daemons we started, in stop order.
    daemons: Vec<Daemon>,
    image: String,
    /// The OCI runtime podman runs (crun, or runc where crun refuses the host).
    podman_runtime: &'static str,
    snapshotter: &'static str,
    rootfs: PathBuf,
    /// The containers run, by name.
    names: Vec<String>,
    scratch: Scratch,
    _turn: std::sync::MutexGuard<'static, ()>,
}

impl Harness {
    /// Sets up `runtime`; Err(reason) when it is not installed (outside CI).
    pub fn start(runtime: Runtime) -> Result<Harness, String> {
        for (command, package) in runtime.commands() {
            if !command_exists(command) {
                return skip(format!(
                    "{} needs {command} (Debian package {package}), which is not installed",
                    runtime.name()
                ));
            }
        }
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let scratch = Scratch::new(runtime.name());
        let (rootfs, rootfs_tar) = build_rootfs(&scratch);
        let tag = std::process::id().to_string();
        let repository = if runtime == Runtime::Ctr { CTR_IMAGE_REPOSITORY } else { IMAGE_REPOSITORY };
        let mut harness = Harness {
            runtime,
            daemons: Vec::new(),
            image: format!("{repository}:{tag}"),
            podman_runtime: "crun",
            snapshotter: if overlay_available() { "overlayfs" } else { "native" },
            rootfs,
            names: Vec::new(),
            scratch,
            _turn: turn,
        };
        match runtime {
            Runtime::Docker => {
                if !docker_answers() {
                    harness.daemons.push(start_dockerd(&harness.scratch));
                }
                run("docker import", docker_cli().arg("import").arg(&rootfs_tar).arg(&harness.image));
            }
            Runtime::Podman => {
                if let Some(reason) = crun_hybrid_refusal_expected() {
                    eprintln!("containers harness: podman runs runc, not crun: {reason}");
                    harness.podman_runtime = "runc";
                }
                run("podman import", harness.podman().arg("import").arg(&rootfs_tar).arg(&harness.image));
            }
            Runtime::Ctr => {
                if !containerd_answers() {
                    harness.daemons.push(start_containerd(&harness.scratch));
                }
                let archive = build_oci_archive(&harness.scratch, &rootfs_tar, &harness.image, &tag);
                run(
                    "ctr images import",
                    ctr_cli().args(["images", "import", "--snapshotter", harness.snapshotter]).arg(&archive),
                );
            }
            Runtime::Runc | Runtime::Crun => {}
        }
        Ok(harness)
    }

    fn podman(&self) -> Command {
        let mut command = Command::new("podman");
        // PID 1 is no systemd here, and nothing reads a journal.
        command.args(["--cgroup-manager=cgroupfs", "--events-backend=file"]);
        command
    }

    /// runc or crun, with their default state dir (/run/runc, /run/crun).
    fn oci(&self) -> Command {
        Command::new(self.runtime.name())
    }

    /// An OCI bundle for `name` running `args`: the runtime's own default
    /// spec, on the host network, no terminal, our rootfs.
    fn bundle(&self, name: &str, args: &[&str]) -> PathBuf {
        let bundle = self.scratch.path(&format!("bundle-{name}"));
        std::fs::create_dir_all(&bundle).unwrap();
        let _ = std::fs::remove_file(bundle.join("config.json"));
        run(&format!("{} spec", self.runtime.name()), self.oci().arg("spec").arg("-b").arg(&bundle));
        const EDIT: &str = r#"
import json, sys
path, root, args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
spec = json.load(open(path))
namespaces = spec["linux"]["namespaces"]
assert any(n["type"] == "network" for n in namespaces), namespaces
spec["linux"]["namespaces"] = [n for n in namespaces if n["type"] != "network"]
spec["process"]["terminal"] = False
spec["process"]["args"] = args
spec["root"] = {"path": root, "readonly": True}
json.dump(spec, open(path, "w"), indent=1)
"#;
        let args_json = format!("[{}]", args.iter().map(|a| json_string(a)).collect::<Vec<_>>().join(","));
        run(
            "edit the bundle's config.json",
            Command::new(python3())
                .args(["-c", EDIT])
                .arg(bundle.join("config.json"))
                .arg(&self.rootfs)
                .arg(args_json),
        );
        bundle
    }

    /// Runs a client that connects to 127.0.0.1:`port` (nothing listens:
    /// refused) and exits at once, in a `--rm` container named `name`
    /// (docker, podman), and waits until the runtime has removed it.
    /// Returns the container's id, from --cidfile.
    pub fn run_exiting_client(&mut self, port: u16, name: &str) -> String {
        let script = format!("nc -w 1 127.0.0.1 {port} </dev/null; true");
        let cidfile = self.scratch.path(&format!("{name}.cid"));
        let _ = std::fs::remove_file(&cidfile);
        self.names.push(name.to_owned());
        let command = match self.runtime {
            Runtime::Docker => docker_cli(),
            Runtime::Podman => {
                let (soft, hard) = rlimit(libc::RLIMIT_NOFILE);
                let mut c = self.podman();
                c.arg(format!("--runtime={}", self.podman_runtime));
                c.arg(format!("--ulimit=nofile={soft}:{hard}")).arg("--ulimit=nproc=1024:1024");
                c
            }
            other => panic!("run_exiting_client: {} keeps no names", other.name()),
        };
        // podman takes its --runtime and --ulimit after `run`.
        let mut args: Vec<String> = command.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        let program = command.get_program().to_owned();
        let split = args.iter().position(|a| a.starts_with("--runtime=")).unwrap_or(args.len());
        let run_options = args.split_off(split);
        let mut command = Command::new(program);
        command.args(&args).args(["run", "--rm", "--network", "host", "--name", name]).args(&run_options);
        command.arg("--cidfile").arg(&cidfile).arg(&self.image).args(["sh", "-c", &script]);
        let out = command.output().unwrap_or_else(|e| panic!("{} run {name}: {e}", self.runtime.name()));
        assert!(
            out.status.success(),
            "{} run {name} failed ({}): {}",
            self.runtime.name(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read_to_string(&cidfile)
            .unwrap_or_else(|e| panic!("{}: {e}", cidfile.display()))
            .trim()
            .to_owned()
    }

    /// Runs the client in a container named `name` on the host network: it
    /// prints /proc/self/cgroup, then busybox nc connects to the listener
    /// once. The harness accepts, finds the client's host PID from the
    /// socket and checks it against the runtime's, calls `while_connected`
    /// with that PID (the container still runs: a test collects the
    /// tracer's lines there), closes the connection, and waits for the
    /// container to exit. Err(reason) only where crun refuses this host
    /// (CRUN_HYBRID_REFUSAL); any other failure panics.
    pub fn run_client(
        &mut self,
        listener: &TcpListener,
        name: &str,
        while_connected: impl FnOnce(u32),
    ) -> Result<ClientRun, String> {
        let port = listener.local_addr().unwrap().port();
        let script = format!("cat /proc/self/cgroup && exec nc -w 30 127.0.0.1 {port} </dev/null");
        let argv = ["sh", "-c", script.as_str()];
        let cidfile = self.scratch.path(&format!("{name}.cid"));
        let _ = std::fs::remove_file(&cidfile);
        self.names.push(name.to_owned());
        let mut command = match self.runtime {
            Runtime::Docker => {
                let mut c = docker_cli();
                c.args(["run", "--rm", "--network", "host", "--name", name])
                    .arg("--cidfile")
                    .arg(&cidfile)
                    .arg(&self.image);
                c
            }
            Runtime::Podman => {
                // Podman raises RLIMIT_NOFILE and RLIMIT_NPROC by default,
                // which fails without CAP_SYS_RESOURCE (this host's root
                // lacks it): keep our NOFILE, and an NPROC root is exempt
                // from anyway (kernel/fork.c); through podman, runc refused
                // even to set the current NPROC here.
                let (soft, hard) = rlimit(libc::RLIMIT_NOFILE);
                let mut c = self.podman();
                c.args(["run", "--rm", "--network", "host", "--name", name])
                    .arg(format!("--runtime={}", self.podman_runtime))
                    .arg(format!("--ulimit=nofile={soft}:{hard}"))
                    .arg("--ulimit=nproc=1024:1024")
                    .arg("--cidfile")
                    .arg(&cidfile)
                    .arg(&self.image);
                c
            }
            Runtime::Ctr => {
                let mut c = ctr_cli();
                c.args(["run", "--rm", "--net-host", "--snapshotter", self.snapshotter, &self.image, name]);
                c
            }
            Runtime::Runc | Runtime::Crun => {
                let bundle = self.bundle(name, &argv);
                let mut c = self.oci();
                c.arg("run").arg("-b").arg(&bundle).arg(name);
                c
            }
        };
        if matches!(self.runtime, Runtime::Docker | Runtime::Podman | Runtime::Ctr) {
            command.args(argv);
        }
        let mut child = Spawned::new(command);
        let (stream, lport) = match child.accept(listener, START_TIMEOUT) {
            Ok(accepted) => accepted,
            Err(status) => {
                let (stdout, stderr) = child.finish();
                if self.runtime == Runtime::Crun && stderr.contains(CRUN_HYBRID_REFUSAL) {
                    return Err(crun_hybrid_refusal_expected().unwrap_or_else(|| stderr.trim().to_owned()));
                }
                panic!(
                    "{} exited ({status}) before its client connected: {}\nstdout: {stdout}\nstderr: {stderr}",
                    self.runtime.name(),
                    child.command
                );
            }
        };
        let pid = socket_owner(lport, port);
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap().trim_end().to_owned();
        let cgroup_host = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        let (runtime_pid, id) = self.runtime_view(name);
        assert_eq!(
            runtime_pid,
            pid,
            "{} says container {name}'s process is {runtime_pid}; the socket to port {port} is {pid}'s",
            self.runtime.name()
        );
        while_connected(pid);
        drop(stream);
        let status = child.wait(EXIT_TIMEOUT);
        let (stdout, stderr) = child.finish();
        assert!(
            status.success(),
            "{} run {name} failed ({status})\nstdout: {stdout}\nstderr: {stderr}",
            self.runtime.name()
        );
        if matches!(self.runtime, Runtime::Docker | Runtime::Podman) {
            let cid =
                std::fs::read_to_string(&cidfile).unwrap_or_else(|e| panic!("{}: {e}", cidfile.display()));
            assert_eq!(cid.trim(), id, "--cidfile and inspect disagree on {name}'s id");
        }
        Ok(ClientRun {
            runtime: self.runtime,
            name: name.to_owned(),
            id,
            pid,
            comm,
            lport,
            cgroup_inside: stdout,
            cgroup_host,
        })
    }

    /// The container's process and full id as the runtime reports them.
    fn runtime_view(&self, name: &str) -> (u32, String) {
        match self.runtime {
            Runtime::Docker | Runtime::Podman => {
                let mut c = if self.runtime == Runtime::Docker { docker_cli() } else { self.podman() };
                let out =
                    run("inspect", c.args(["inspect", "--format", "{{.State.Pid}} {{.Id}} {{.Name}}", name]));
                let fields: Vec<&str> = out.split_whitespace().collect();
                assert_eq!(fields.len(), 3, "inspect {name}: {out:?}");
                assert_eq!(fields[2].trim_start_matches('/'), name, "inspect {name}: {out:?}");
                let id = fields[1].to_owned();
                assert!(id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()), "id of {name}: {id:?}");
                (fields[0].parse().unwrap_or_else(|_| panic!("inspect {name}: {out:?}")), id)
            }
            Runtime::Ctr => {
                let out = run("ctr task ls", ctr_cli().args(["task", "ls"]));
                let pid = out
                    .lines()
                    .find_map(|line| {
                        let mut fields = line.split_whitespace();
                        (fields.next() == Some(name)).then(|| fields.next().unwrap().parse::<u32>().unwrap())
                    })
                    .unwrap_or_else(|| panic!("no task {name} in ctr task ls:\n{out}"));
                (pid, name.to_owned())
            }
            Runtime::Runc | Runtime::Crun => {
                let out = run("state", self.oci().args(["state", name]));
                let pid =
                    json_number(&out, "pid").unwrap_or_else(|| panic!("no pid in state of {name}: {out}"));
                (pid, name.to_owned())
            }
        }
    }
}

impl Drop for Harness {
    /// What is left of the containers we ran (normally nothing: they ran
    /// with --rm, or runc's and crun's delete themselves), then our image;
    /// the daemons we started and the scratch dir go after this, as the
    /// fields drop.
    fn drop(&mut self) {
        for name in &self.names {
            match self.runtime {
                Runtime::Docker | Runtime::Podman => {
                    let cli = || if self.runtime == Runtime::Docker { docker_cli() } else { self.podman() };
                    let mut exists = cli();
                    exists.args(["container", "inspect", name]);
                    if succeeds(&mut exists) {
                        run_quietly(cli().args(["rm", "-f", name]));
                    }
                }
                Runtime::Ctr => {
                    let mut exists = ctr_cli();
                    exists.args(["containers", "info", name]);
                    if succeeds(&mut exists) {
                        let _ = ctr_cli().args(["tasks", "kill", "-s", "KILL", name]).output();
                        let _ = ctr_cli().args(["tasks", "delete", "-f", name]).output();
                        run_quietly(ctr_cli().args(["containers", "rm", name]));
                    }
                }
                Runtime::Runc | Runtime::Crun => {
                    let mut exists = self.oci();
                    exists.args(["state", name]);
                    if succeeds(&mut exists) {
                        run_quietly(self.oci().args(["delete", "-f", name]));
                    }
                }
            }
        }
        match self.runtime {
            Runtime::Docker => run_quietly(docker_cli().args(["rmi", &self.image])),
            Runtime::Podman => run_quietly(self.podman().args(["rmi", &self.image])),
            Runtime::Ctr => {
                run_quietly(ctr_cli().args(["images", "rm", "--sync", &self.image]));
                // Gone when nothing else is in it (another run may be).
                let mut remove = Command::new("ctr");
                remove.args(["--address", CONTAINERD_SOCKET, "namespaces", "rm", CTR_NAMESPACE]);
                let _ = succeeds(&mut remove);
                for dir in ["/run/containerd/runc", "/run/containerd/io.containerd.runtime.v2.task"] {
                    let _ = std::fs::remove_dir(Path::new(dir).join(CTR_NAMESPACE));
                }
            }
            Runtime::Runc | Runtime::Crun => {}
        }
    }
}

/// A command whose stdout and stderr are read as it runs (a runtime's
/// client, lxc-start, lxc-attach); killed if still running when dropped.
pub struct Spawned {
    command: String,
    child: Child,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

impl Spawned {
    pub fn new(mut command: Command) -> Spawned {
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let text = format!("{command:?}");
        let mut child = command.spawn().unwrap_or_else(|e| panic!("spawn {text}: {e}"));
        let reader = |mut pipe: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                String::from_utf8_lossy(&bytes).into_owned()
            })
        };
        let stdout = Some(reader(Box::new(child.stdout.take().unwrap())));
        let stderr = Some(reader(Box::new(child.stderr.take().unwrap())));
        Spawned { command: text, child, stdout, stderr }
    }

    /// Waits for the connect; Err(exit status) if the command ends first.
    pub fn accept(
        &mut self,
        listener: &TcpListener,
        timeout: Duration,
    ) -> Result<(TcpStream, u16), ExitStatus> {
        listener.set_nonblocking(true).unwrap();
        let deadline = Instant::now() + timeout;
        let accepted = loop {
            match listener.accept() {
                Ok((stream, peer)) => break (stream, peer.port()),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("accept: {e}"),
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                listener.set_nonblocking(false).unwrap();
                return Err(status);
            }
            if Instant::now() > deadline {
                panic!("no connect within {timeout:?} from {}", self.command);
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        listener.set_nonblocking(false).unwrap();
        accepted.0.set_nonblocking(false).unwrap();
        Ok(accepted)
    }

    /// Waits for it to exit; killed, and the test failed, after `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("{} did not exit within {timeout:?}", self.command);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its output, once it has exited (empty when already taken).
    pub fn finish(&mut self) -> (String, String) {
        let _ = self.child.wait();
        let join =
            |h: &mut Option<JoinHandle<String>>| h.take().map(|h| h.join().unwrap()).unwrap_or_default();
        (join(&mut self.stdout), join(&mut self.stderr))
    }

    /// The command line, for messages.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// Child::try_wait of its process.
    pub fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The host PID of the process holding the TCP socket 127.0.0.1:`lport` ->
/// 127.0.0.1:`dport` (from /proc/net/tcp and every process's fds).
pub fn socket_owner(lport: u16, dport: u16) -> u32 {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let local = format!("0100007F:{lport:04X}");
    let remote = format!("0100007F:{dport:04X}");
    let inode = table
        .lines()
        .skip(1)
        .find_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            (f.len() > 9 && f[1] == local && f[2] == remote).then(|| f[9].to_owned())
        })
        .unwrap_or_else(|| panic!("no socket {local} -> {remote} in /proc/net/tcp"));
    let target = format!("socket:[{inode}]");
    let mut owners = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        if fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == target.as_str()))
        {
            owners.push(pid);
        }
    }
    assert_eq!(owners.len(), 1, "processes holding {target} (127.0.0.1:{lport} -> {dport}): {owners:?}");
    owners[0]
}

/// The parent PID of `pid` (field 4 of /proc/PID/stat, after the comm).
pub fn parent_of(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    after_comm.split(' ').nth(1).unwrap().parse().unwrap()
}

fn python3() -> &'static str {
    // Debian's own (tools/test installs it); a pyenv shim may come first on PATH.
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The number after `"key":` in JSON text (spaces allowed), if any.
fn json_number(text: &str, key: &str) -> Option<u32> {
    let rest = &text[text.find(&format!("\"{key}\""))? + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    rest[..rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len())].parse().ok()
}

/// A JSON value of a flat object: strings decoded, anything else as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Json {
    Str(String),
    Raw(String),
}

/// Parses one flat JSON object (`-j`'s lines: no nesting) into its
/// (key, value) pairs in order; panics on anything else.
pub fn parse_flat_object(line: &str) -> Vec<(String, Json)> {
    let bytes: Vec<char> = line.chars().collect();
    let mut i = 0;
    let fail = |why: &str, at: usize| -> ! { panic!("not a flat JSON object ({why} at {at}): {line}") };
    let string = |i: &mut usize| -> String {
        if bytes.get(*i) != Some(&'"') {
            fail("string expected", *i);
        }
        *i += 1;
        let mut s = String::new();
        loop {
            match bytes.get(*i) {
                None => fail("unterminated string", *i),
                Some('"') => {
                    *i += 1;
                    return s;
                }
                Some('\\') => {
                    let c = *bytes.get(*i + 1).unwrap_or_else(|| fail("bad escape", *i));
                    *i += 2;
                    match c {
                        '"' | '\\' | '/' => s.push(c),
                        'n' => s.push('\n'),
                        't' => s.push('\t'),
                        'r' => s.push('\r'),
                        'b' => s.push('\u{8}'),
                        'f' => s.push('\u{c}'),
                        // Kept as written: tests compare ASCII values.
                        'u' => {
                            let hex: String =
                                bytes.get(*i..*i + 4).unwrap_or_else(|| fail("bad \\u", *i)).iter().collect();
                            s.push_str(&format!("\\u{hex}"));
                            *i += 4;
                        }
                        _ => fail("bad escape", *i),
                    }
                }
                Some(&c) => {
                    s.push(c);
                    *i += 1;
                }
            }
        }
    };
    if bytes.first() != Some(&'{') || bytes.last() != Some(&'}') {
        fail("braces", 0);
    }
    i += 1;
    let mut pairs: Vec<(String, Json)> = Vec::new();
    if bytes.get(i) == Some(&'}') && i + 1 == bytes.len() {
        return pairs;
    }
    loop {
        let key = string(&mut i);
        if bytes.get(i) != Some(&':') {
            fail("colon expected", i);
        }
        i += 1;
        let value = if bytes.get(i) == Some(&'"') {
            Json::Str(string(&mut i))
        } else {
            let start = i;
            while i < bytes.len() && bytes[i] != ',' && bytes[i] != '}' {
                i += 1;
            }
            let raw: String = bytes[start..i].iter().collect();
            let number = raw.parse::<f64>().is_ok() && !raw.starts_with('+');
            if !(number || ["null", "true", "false"].contains(&raw.as_str())) {
                fail("bad value", start);
            }
            Json::Raw(raw)
        };
        if pairs.iter().any(|(k, _)| *k == key) {
            fail("duplicate key", i);
        }
        pairs.push((key, value));
        match bytes.get(i) {
            Some(',') => i += 1,
            Some('}') if i + 1 == bytes.len() => return pairs,
            _ => fail("',' or final '}' expected", i),
        }
    }
}

// What the runtime tests (containers.rs, cri.rs, lxc.rs) expect of a line.

/// "%-6d %-12.12s %-16s %-2d %-16s %-16s %-4d", without trailing spaces.
pub fn container_line(pid: u32, comm: &str, container: &str, dport: u16) -> String {
    let line = format!(
        "{pid:<6} {comm:<12.12} {container:<16} {:<2} {:<16} {:<16} {dport:<4}",
        4, "127.0.0.1", "127.0.0.1"
    );
    line.trim_end().to_owned()
}

pub fn s(value: &str) -> Json {
    Json::Str(value.to_owned())
}

pub fn n(value: impl ToString) -> Json {
    Json::Raw(value.to_string())
}

/// Checks a -j line's keys and values against `expected`, in the order
/// src/present/json.rs documents; `lport` may be there (only when known:
/// it must then be the client's port) or not.
pub fn assert_json(line: &str, expected: &[(&str, Json)], lport: u16) {
    let mut got = parse_flat_object(line);
    if let Some(at) = got.iter().position(|(key, _)| key == "lport") {
        assert_eq!(got.remove(at).1, n(lport), "lport of {line}");
    }
    let want: Vec<(String, Json)> = expected.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    assert_eq!(got, want, "-j line: {line}");
}
