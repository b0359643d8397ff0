//! --container against containerd's CRI plugin, driven as the kubelet
//! drives it: a pod sandbox on the host network under the kubelet's
//! cgroupfs layout (`/kubepods/besteffort/pod<uid>`), one container in it
//! that connects once to a port this test listens on. The CRI plugin
//! itself writes the task's bundle (`/run/containerd/
//! io.containerd.runtime.v2.task/k8s.io/<id>/config.json`) and runc the
//! cgroups; the lines must name the container, its pod and namespace.
//!
//! The client is tests/support/cri_client.py (Debian's python3-grpcio,
//! the few CRI messages encoded by hand). containerd is our own: its
//! config, root dir and socket in a scratch dir of this process, its
//! state dir the default /run/containerd (where --container reads
//! bundles). The image is the host's static busybox, imported into the
//! `k8s.io` namespace; it is also the sandbox (pause) image. The expected
//! values come from the CRI's answers and /proc, never from the tool.

mod support;

use std::collections::BTreeSet;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::containers::{
    add_blob, build_rootfs, cgroup_mounts, command_exists, container_line, n, overlay_available,
    parse_flat_object, run, s, skip, socket_owner, start_container_tracers, succeeds, Json, Scratch,
};
use support::{have_root, Tool};

/// Debian's python3, which has python3-grpcio (a pyenv shim may come first on PATH).
const PYTHON: &str = "/usr/bin/python3";
const CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/cri_client.py");
/// containerd's default state dir (the CRI plugin's bundles are read only
/// there) and the default socket a system containerd would answer on.
const STATE: &str = "/run/containerd";
const DEFAULT_SOCKET: &str = "/run/containerd/containerd.sock";
const BUSYBOX: &str = "/bin/busybox";
/// The pod and container as the test names them.
const POD_NAMESPACE: &str = "tcpconnect-test";
const CONTAINER_NAME: &str = "client";
/// How long containerd and its CRI plugin may take to answer, and the
/// container to connect.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything the test set up, undone on Drop in reverse: the sandbox
/// (and its container) through CRI, the image, the daemon (by PID), its
/// socket dir, what it made under /run/containerd, the pod's cgroups; the
/// scratch dir (config, root dir, logs) last, as its field drops.
struct Cri {
    socket_dir: PathBuf,
    socket: String,
    image: String,
    snapshotter: &'static str,
    uid: String,
    pod: String,
    cgroup_parent: String,
    daemon: Option<Child>,
    imported: bool,
    sandbox: Option<String>,
    containers: Vec<String>,
    /// Directories under /run/containerd before the daemon started.
    state_before: BTreeSet<PathBuf>,
    /// `kubepods` and `kubepods/besteffort` of each hierarchy that existed before.
    cgroups_before: BTreeSet<PathBuf>,
    scratch: Scratch,
}

fn output(what: &str, command: &mut Command) -> Output {
    command.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("{what}: cannot run {command:?}: {e}"))
}

/// Another containerd that shares the default state dir: its PID and
/// command line. dockerd's own containerd keeps its state under
/// /run/docker/containerd and is left out.
fn other_containerd() -> Option<String> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
        let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        (comm.trim_end() == "containerd" && !cmdline.contains("/run/docker/containerd"))
            .then(|| format!("{pid} ({})", cmdline.trim_end()))
    })
}

/// Directories under `root`, `depth` levels down.
fn dirs_under(root: &Path, depth: usize) -> BTreeSet<PathBuf> {
    let mut found = BTreeSet::new();
    if !root.is_dir() {
        return found;
    }
    found.insert(root.to_path_buf());
    if depth > 0 {
        for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                found.extend(dirs_under(&entry.path(), depth - 1));
            }
        }
    }
    found
}

/// An OCI image archive of one layer (busybox and its applets) named
/// `image`, whose config runs `sleep 3600` with /bin on PATH: the CRI
/// plugin runs it as the sandbox's pause container, and the client's
/// container with its own command.
fn build_image(scratch: &Scratch, image: &str) -> PathBuf {
    let (_, layer) = build_rootfs(scratch);
    let layout = scratch.path("oci");
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    let (layer, layer_size) = add_blob(&layout, &std::fs::read(&layer).unwrap());
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let config = format!(
        r#"{{"architecture":"{arch}","os":"linux","config":{{"Env":["PATH=/bin"],"Cmd":["sleep","3600"]}},"rootfs":{{"type":"layers","diff_ids":["sha256:{layer}"]}}}}"#
    );
    let (config, config_size) = add_blob(&layout, config.as_bytes());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{config}","size":{config_size}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:{layer}","size":{layer_size}}}]}}"#
    );
    let (manifest, manifest_size) = add_blob(&layout, manifest.as_bytes());
    let tag = image.rsplit(':').next().unwrap();
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

/// containerd's config: the CRI plugin on, cgroupfs (no systemd), the
/// image as the sandbox image, no CNI (the pod uses the host's network),
/// the sandbox's OOM score kept at containerd's own (lowering it needs
/// CAP_SYS_RESOURCE), plugins that would touch the host beyond the state
/// dir off.
fn containerd_config(root: &Path, socket: &str, image: &str, snapshotter: &str, cni: &Path) -> String {
    format!(
        r#"version = 2
root = "{root}"
state = "{STATE}"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "{socket}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{image}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  restrict_oom_score_adj = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "{snapshotter}"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni}/bin"
    conf_dir = "{cni}/conf"
"#,
        root = root.display(),
        cni = cni.display(),
    )
}

impl Cri {
    /// Starts containerd with the CRI plugin and imports the image; Err
    /// (reason to skip) when a part is missing or a containerd already
    /// uses the default state dir.
    fn start() -> Result<Cri, String> {
        for (command, package) in [
            ("containerd", "containerd"),
            ("ctr", "containerd"),
            ("containerd-shim-runc-v2", "containerd"),
            ("runc", "runc"),
        ] {
            if !command_exists(command) {
                return skip(format!("needs {command} (Debian package {package}), which is not installed"));
            }
        }
        if !Path::new(BUSYBOX).is_file() {
            return skip(format!("needs {BUSYBOX} (Debian package busybox-static), which is not installed"));
        }
        if !succeeds(Command::new(PYTHON).args(["-c", "import grpc"])) {
            return skip(format!(
                "needs {PYTHON} with grpc (Debian package python3-grpcio), which is not installed"
            ));
        }
        if Path::new(DEFAULT_SOCKET).exists()
            && succeeds(Command::new("ctr").args(["--address", DEFAULT_SOCKET, "--timeout", "2s", "version"]))
        {
            return Err(format!("a containerd already answers on {DEFAULT_SOCKET}; it is left undisturbed"));
        }
        // Another containerd on the same state dir removes, when it starts,
        // the bundles of tasks its own metadata lacks: one at a time.
        if let Some(other) = other_containerd() {
            return Err(format!("containerd {other} may share {STATE}; one containerd at a time"));
        }
        let pid = std::process::id();
        let scratch = Scratch::new("cri");
        let socket_dir = PathBuf::from(format!("/run/tcpc-cri-{pid}"));
        std::fs::create_dir_all(&socket_dir).unwrap();
        let uid = format!("{pid:08x}-7463-4063-8000-000000000000");
        let mut cri = Cri {
            socket: socket_dir.join("containerd.sock").display().to_string(),
            socket_dir,
            image: format!("docker.io/library/tcpconnect-cri:{pid}"),
            snapshotter: if overlay_available() { "overlayfs" } else { "native" },
            pod: format!("web-{pid}"),
            cgroup_parent: format!("/kubepods/besteffort/pod{uid}"),
            uid,
            daemon: None,
            imported: false,
            sandbox: None,
            containers: Vec::new(),
            state_before: dirs_under(Path::new(STATE), 3),
            cgroups_before: cgroup_mounts()
                .iter()
                .flat_map(|h| [h.join("kubepods"), h.join("kubepods/besteffort")])
                .filter(|d| d.is_dir())
                .collect(),
            scratch,
        };
        let archive = build_image(&cri.scratch, &cri.image);
        let config = cri.scratch.path("containerd.toml");
        let text = containerd_config(
            &cri.scratch.path("root"),
            &cri.socket,
            &cri.image,
            cri.snapshotter,
            &cri.scratch.path("cni"),
        );
        std::fs::write(&config, text).unwrap();
        let log = std::fs::File::create(cri.scratch.path("containerd.log")).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start containerd: {e}"));
        cri.daemon = Some(child);
        let version = cri.wait_for("containerd's CRI plugin to answer", |cri| {
            Path::new(&cri.socket).exists().then(|| cri.client(&["version"]).ok()).flatten()
        });
        eprintln!("cri: {version}");
        run(
            "ctr images import",
            Command::new("ctr")
                .args(["--address", &cri.socket, "--namespace", "k8s.io", "images", "import"])
                .args(["--snapshotter", cri.snapshotter])
                .arg(&archive),
        );
        cri.imported = true;
        // The CRI plugin learns of the image from containerd's event.
        cri.wait_for("the CRI plugin to list the image", |cri| {
            let status = cri.client(&["image-status", &cri.image]).ok()?;
            (!status.contains("\"id\":null")).then_some(status)
        });
        Ok(cri)
    }

    /// Polls `ready` until it gives a value; panics with containerd's log
    /// if the daemon exits or START_TIMEOUT passes first.
    fn wait_for<T>(&mut self, what: &str, mut ready: impl FnMut(&Cri) -> Option<T>) -> T {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(value) = ready(self) {
                return value;
            }
            if let Some(status) = self.daemon.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "containerd exited ({status}) while waiting for {what}; its log:\n{}",
                    self.log_tail()
                );
            }
            if Instant::now() > deadline {
                panic!("no {what} within {START_TIMEOUT:?}; containerd's log:\n{}", self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.scratch.path("containerd.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Runs the CRI client: Ok(its stdout) or Err(its stdout and stderr).
    fn client(&self, args: &[&str]) -> Result<String, String> {
        let out = output("cri_client.py", Command::new(PYTHON).arg(CLIENT).arg(&self.socket).args(args));
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if out.status.success() {
            Ok(stdout)
        } else {
            Err(format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr).trim()))
        }
    }

    /// RunPodSandbox, CreateContainer and StartContainer for a container
    /// named `client` in pod `web-<pid>` running `command`: (sandbox id,
    /// container id).
    fn run_pod(&mut self, command: &[&str]) -> (String, String) {
        let spec = format!(
            r#"{{"name":{},"namespace":{},"uid":{},"cgroup_parent":{},"image":{},"command":[{}],"log_directory":{},"log_path":"client.log","container":{}}}"#,
            json_string(&self.pod),
            json_string(POD_NAMESPACE),
            json_string(&self.uid),
            json_string(&self.cgroup_parent),
            json_string(&self.image),
            command.iter().map(|a| json_string(a)).collect::<Vec<_>>().join(","),
            json_string(&self.scratch.path("logs").display().to_string()),
            json_string(CONTAINER_NAME),
        );
        let result = self.client(&["up", &spec]);
        // The ids come first, so that a failed start still leaves them for Drop.
        let out = match &result {
            Ok(out) | Err(out) => out.lines().next().unwrap_or_default().to_owned(),
        };
        self.sandbox = json_field(&out, "sandbox");
        self.containers.extend(json_field(&out, "container"));
        if let Err(why) = result {
            panic!("the CRI would not run the pod: {why}\ncontainerd's log:\n{}", self.log_tail());
        }
        (self.sandbox.clone().unwrap(), self.containers[0].clone())
    }

    /// The container's log as the CRI plugin wrote it, for failures.
    fn container_log(&self) -> String {
        std::fs::read_to_string(self.scratch.path("logs/client.log")).unwrap_or_default()
    }
}

impl Drop for Cri {
    fn drop(&mut self) {
        let ids: Vec<String> = self.sandbox.iter().chain(&self.containers).cloned().collect();
        if let Some(sandbox) = self.sandbox.take() {
            if let Err(why) = self.client(&["down", &sandbox]) {
                eprintln!("cri: cleanup: StopPodSandbox/RemovePodSandbox {sandbox}: {why}");
            }
        }
        if self.imported {
            let mut rm = Command::new("ctr");
            rm.args([
                "--address",
                &self.socket,
                "--namespace",
                "k8s.io",
                "images",
                "rm",
                "--sync",
                &self.image,
            ]);
            if !succeeds(&mut rm) {
                eprintln!("cri: cleanup: ctr images rm {} failed", self.image);
            }
        }
        if let Some(mut daemon) = self.daemon.take() {
            // SAFETY: kill(2) on the PID of our own child, not yet reaped.
            unsafe { libc::kill(daemon.id() as libc::pid_t, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(20);
            while daemon.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    eprintln!("cri: containerd ignored SIGTERM for 20 s; killing it");
                    let _ = daemon.kill();
                    let _ = daemon.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = std::fs::remove_dir_all(&self.socket_dir);
        // What the CRI could not remove (it failed, or containerd died):
        // the runc container, its shim, its mounts and directories.
        for id in &ids {
            let bundle = Path::new(STATE).join("io.containerd.runtime.v2.task/k8s.io").join(id);
            if !bundle.exists() {
                continue;
            }
            eprintln!("cri: cleanup: {} left behind; removing it", bundle.display());
            let _ = succeeds(Command::new("runc").args([
                "--root",
                "/run/containerd/runc/k8s.io",
                "delete",
                "-f",
                id,
            ]));
            if let Some(shim) = shim_of(id, &self.socket) {
                // SAFETY: kill(2) on the PID of the shim our containerd started for `id`.
                unsafe { libc::kill(shim as libc::pid_t, libc::SIGKILL) };
            }
            if let Some(shim_socket) = shim_socket(&self.socket, id) {
                let _ = std::fs::remove_file(shim_socket);
            }
            let cri_state = Path::new(STATE).join("io.containerd.grpc.v1.cri");
            for dir in
                [bundle.clone(), cri_state.join("sandboxes").join(id), cri_state.join("containers").join(id)]
            {
                let _ =
                    succeeds(Command::new("umount").args(["--recursive", "--lazy"]).arg(dir.join("rootfs")));
                let _ = succeeds(Command::new("umount").args(["--recursive", "--lazy"]).arg(dir.join("shm")));
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
        // What the daemon made under the state dir, if empty now.
        let mut made: Vec<PathBuf> =
            dirs_under(Path::new(STATE), 3).difference(&self.state_before).cloned().collect();
        made.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for dir in made {
            if let Err(e) = std::fs::remove_dir(&dir) {
                eprintln!("cri: cleanup: {} left behind: {e}", dir.display());
            }
        }
        // The pod's cgroups (runc removes the containers' own; the kubelet
        // would make and remove the pod's and the QoS class's).
        for hierarchy in cgroup_mounts() {
            let pod = hierarchy.join(self.cgroup_parent.trim_start_matches('/'));
            for leftover in std::fs::read_dir(&pod).into_iter().flatten().flatten() {
                if leftover.file_type().is_ok_and(|t| t.is_dir()) {
                    let _ = std::fs::remove_dir(leftover.path());
                }
            }
            // The pod's, then the QoS class's and kubepods if we made them.
            for dir in [pod, hierarchy.join("kubepods/besteffort"), hierarchy.join("kubepods")] {
                if dir.exists() && !self.cgroups_before.contains(&dir) {
                    if let Err(e) = std::fs::remove_dir(&dir) {
                        eprintln!("cri: cleanup: cgroup {} left behind: {e}", dir.display());
                    }
                }
            }
        }
    }
}

/// The containerd-shim-runc-v2 serving task `id` for the containerd on
/// `socket`, by its command line.
fn shim_of(id: &str, socket: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        let has = |flag: &str, value: &str| {
            args.windows(2).any(|w| w[0] == flag.as_bytes() && w[1] == value.as_bytes())
        };
        (has("-id", id) && has("-address", socket)).then_some(pid)
    })
}

/// The socket a shim for task `id` listens on: containerd 1.6 names it
/// after the SHA-256 of `<containerd's address>/<namespace>/<id>`
/// (runtime/v2/shim's SocketAddress). A killed shim leaves it. Never
/// panics: Drop calls it.
fn shim_socket(socket: &str, id: &str) -> Option<PathBuf> {
    let mut sha = Command::new("sha256sum").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().ok()?;
    sha.stdin.take()?.write_all(format!("{socket}/k8s.io/{id}").as_bytes()).ok()?;
    let out = sha.wait_with_output().ok()?;
    let digest = String::from_utf8_lossy(&out.stdout).split_whitespace().next()?.to_owned();
    Some(Path::new(STATE).join("s").join(digest))
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The first line a tracer prints, then any others within 300 ms: -P
/// keeps only connects to our port, so there must be one.
fn only_line(tool: &mut Tool, what: &str) -> String {
    let mut lines = tool.lines_matching(1, |_| true);
    lines.extend(tool.lines_until_quiet(Duration::from_millis(300)));
    assert_eq!(lines.len(), 1, "{what}: {lines:?}");
    lines.remove(0)
}

fn stop(tool: Tool) {
    let (status, rest, stderr) = tool.stop(libc::SIGINT);
    assert!(status.success(), "{status}: {stderr}");
    assert!(rest.is_empty(), "lines after the client's: {rest:?}");
}

/// Accepts one connect within START_TIMEOUT: the stream and the client's port.
fn accept(listener: &TcpListener, cri: &Cri, container: &str) -> (TcpStream, u16) {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                stream.set_nonblocking(false).unwrap();
                return (stream, peer.port());
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => panic!(
                "no connect from the container: {e}\nContainerStatus: {:?}\nits log: {}\ncontainerd's log:\n{}",
                cri.client(&["container-status", container]),
                cri.container_log(),
                cri.log_tail()
            ),
        }
    }
}

/// The CRI plugin's annotations and the cgroupsPath in a bundle's
/// config.json, as written (`"key":"value"`), for the record.
fn bundle_fields(config: &str) -> Vec<String> {
    let mut fields = Vec::new();
    for key in ["\"io.kubernetes.cri.", "\"cgroupsPath\""] {
        let mut rest = config;
        while let Some(at) = rest.find(key) {
            let field = &rest[at..];
            let end = field.find([',', '}']).unwrap_or(field.len());
            fields.push(field[..end].to_owned());
            rest = &field[end..];
        }
    }
    fields
}

/// The string or number `key` has in the client's one-line JSON answer,
/// if it has one (never panics: Drop depends on it).
fn json_field(answer: &str, key: &str) -> Option<String> {
    let rest = &answer[answer.find(&format!("\"{key}\":"))? + key.len() + 3..];
    let value = match rest.strip_prefix('"') {
        Some(string) => &string[..string.find('"')?],
        None => &rest[..rest.find([',', '}'])?],
    };
    Some(value.to_owned())
}

/// The value of `key` in the client's answer, which must have it.
fn answer_field(answer: &str, key: &str) -> String {
    json_field(answer, key).unwrap_or_else(|| panic!("no {key} in {answer}"))
}

#[test]
fn cri_pod_connect_names_its_container_pod_and_namespace() {
    let test = "cri_pod_connect_names_its_container_pod_and_namespace";
    if !have_root(test) {
        return;
    }
    let started = Instant::now();
    let mut cri = match Cri::start() {
        Ok(cri) => cri,
        Err(why) => return eprintln!("skipping {test}: {why}"),
    };
    eprintln!("{test}: containerd with the CRI plugin up, image imported, in {:?}", started.elapsed());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (mut text, mut json) = start_container_tracers(port);

    let script = format!("exec nc -w 30 127.0.0.1 {port} </dev/null");
    let (sandbox, container) = cri.run_pod(&["sh", "-c", &script]);
    let (stream, lport) = accept(&listener, &cri, &container);
    let pid = socket_owner(lport, port);
    // The CRI's own view of its container: running, and its process the
    // one holding the socket.
    let status = cri.client(&["container-status", &container]).unwrap();
    assert_eq!(answer_field(&status, "id"), container, "{status}");
    assert_eq!(answer_field(&status, "state"), "1", "not CONTAINER_RUNNING: {status}");
    assert_eq!(
        answer_field(&status, "pid"),
        pid.to_string(),
        "the socket to port {port} is {pid}'s: {status}"
    );
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap().trim_end().to_owned();
    let proc_cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let bundle = Path::new(STATE).join("io.containerd.runtime.v2.task/k8s.io").join(&container);
    let bundle_config = std::fs::read_to_string(bundle.join("config.json"))
        .unwrap_or_else(|e| panic!("the CRI plugin's bundle {}: {e}", bundle.display()));
    // Read while the container runs (src/container/mod.rs: names come
    // from the files the runtime keeps while it exists).
    let text_line = only_line(&mut text, "--container");
    let json_line = only_line(&mut json, "-j --container");
    drop(stream);

    // The facts, printed for the record (run with --nocapture).
    eprintln!(
        "{test}: pod {} namespace {POD_NAMESPACE} uid {} sandbox {sandbox}\ncontainer {container} pid {pid} comm {comm} lport {lport}\n/proc/{pid}/cgroup:\n{proc_cgroup}{}: {} bytes, of which:\n  {}",
        cri.pod,
        cri.uid,
        bundle.join("config.json").display(),
        bundle_config.len(),
        bundle_fields(&bundle_config).join("\n  ")
    );
    eprintln!("{test}: text: {text_line}\n{test}: -j:   {json_line}");

    // The cgroup runc made for the container is the pod's cgroup parent
    // and the container's id, in the v1 pids hierarchy --container reads
    // here and in every other one.
    let cgroup = format!("{}/{container}", cri.cgroup_parent);
    for line in proc_cgroup.lines() {
        let path = line.splitn(3, ':').nth(2).unwrap();
        assert_eq!(path, cgroup, "/proc/{pid}/cgroup: {line}");
    }
    // busybox runs as the nc applet's link: its task name is the link's.
    assert_eq!(comm, "nc");
    assert_eq!(text_line, container_line(pid, "nc", CONTAINER_NAME, port));
    let mut got = parse_flat_object(&json_line);
    if let Some(at) = got.iter().position(|(key, _)| key == "lport") {
        assert_eq!(got.remove(at).1, n(lport), "lport of {json_line}");
    }
    let expected: Vec<(String, Json)> = [
        ("uid", n(0)),
        ("pid", n(pid)),
        ("comm", s("nc")),
        ("cgroup", s(&cgroup)),
        ("container_id", s(&container)),
        ("container_name", s(CONTAINER_NAME)),
        ("pod", s(&cri.pod)),
        ("pod_namespace", s(POD_NAMESPACE)),
        ("ip", n(4)),
        ("saddr", s("127.0.0.1")),
        ("daddr", s("127.0.0.1")),
        ("dport", n(port)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(got, expected, "-j line: {json_line}");
    stop(text);
    stop(json);
    drop(cri);
    eprintln!("{test}: {:?} with setup and cleanup", started.elapsed());
}
