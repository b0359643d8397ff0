//! The resolver on a host built from tests/fixtures/containers: the files
//! docker, podman, containerd (`ctr`) and runc wrote on a test host, and
//! those the CRI plugin, CRI-O and crun write as their source does (the
//! fixtures' README says which is which), copied below a temporary root.

use super::*;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const DOCKER: &str = "f0b632503e5eff89e71810ec40aab0816e69a63e5bbbabd3e19a02506ec7b867";
const DOCKER2: &str = "d2cf27e0cedef87f49927d0467428abe00292233cbad2172bdcc0d28880d3ca7";
const PODMAN: &str = "1f1e2c3eeb929c19caf20a59ed0fcd0e00633f8049d6858d53b65572e5128881";
const CTR_HEX: &str = "f00dcafe0123456789abcdef0123456789abcdef0123456789abcdef01234567";
const K8S: &str = "3a6cf36a9d0e5e1c42a9b8e9f7f5c4d1b2a3c4d5e6f708192a3b4c5d6e7f8091";
const K8S_SANDBOX: &str = "8e5d2f1c0b9a87766554433221100ffeeddccbbaa99887766554433221100aab";
const K8S_POD: &str = "pod7e8c1f0a-3b2d-4c5e-9f60-718293a4b5c6";
const K8S_SYSTEMD: &str = "b7c0ffee00112233445566778899aabbccddeeff00112233445566778899aabb";
const CRIO: &str = "e72fce5766ead840d848faae8843678ff84e779443c6776e941421a6617acdbd";
const UNKNOWN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A temporary host root holding every fixture, removed on drop.
struct Host {
    root: PathBuf,
}

impl Host {
    fn new() -> Host {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let root = std::env::temp_dir().join(format!("tcpconnect-containers-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/containers");
        for runtime in fs::read_dir(&fixtures).unwrap() {
            let runtime = runtime.unwrap().path();
            if runtime.is_dir() {
                copy_tree(&runtime, &root);
            }
        }
        Host { root }
    }

    fn resolver(&self) -> Resolver {
        Resolver::with_owner(self.root.clone(), owner_of(&self.root))
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn docker_config(&self, id: &str) -> PathBuf {
        self.path(&format!("var/lib/docker/containers/{id}/config.v2.json"))
    }

    /// Writes `bytes` at `rel`, making its directories as a runtime would.
    fn write(&self, rel: &str, bytes: &[u8]) {
        let path = self.path(rel);
        let mut dir = self.root.clone();
        for part in Path::new(rel).parent().unwrap().components() {
            dir.push(part);
            if !dir.exists() {
                fs::create_dir(&dir).unwrap();
                fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
            }
        }
        fs::write(&path, bytes).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// Copies the tree below `from` into `to`, directories 0755, files 0644
/// (the fixtures' modes in git are not root's runtimes').
fn copy_tree(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if !target.exists() {
                fs::create_dir(&target).unwrap();
            }
            fs::set_permissions(&target, fs::Permissions::from_mode(0o755)).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
            fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
}

fn seen(path: &str) -> CgroupSeen<'_> {
    let leaf = path.rsplit('/').next().unwrap_or("").as_bytes();
    CgroupSeen { path: Some(path.as_bytes()), leaf, root_owned: true }
}

fn text(bytes: &Option<Vec<u8>>) -> Option<&str> {
    bytes.as_deref().map(|b| std::str::from_utf8(b).unwrap())
}

/// The identity's fields and column, as text, for short assertions.
fn show(resolver: &mut Resolver, seen: &CgroupSeen) -> (String, [Option<String>; 4]) {
    let id = resolver.identify(seen);
    let column = String::from_utf8(id.column(seen).to_vec()).unwrap();
    let own = |b: &Option<Vec<u8>>| text(b).map(str::to_owned);
    (column, [own(&id.container_id), own(&id.container_name), own(&id.pod), own(&id.pod_namespace)])
}

fn fields(id: &str, name: Option<&str>, pod: Option<&str>, ns: Option<&str>) -> [Option<String>; 4] {
    [Some(id.to_owned()), name.map(str::to_owned), pod.map(str::to_owned), ns.map(str::to_owned)]
}

#[test]
fn docker_by_either_driver() {
    let host = Host::new();
    let mut r = host.resolver();
    for path in [format!("/docker/{DOCKER}"), format!("/system.slice/docker-{DOCKER}.scope")] {
        assert_eq!(show(&mut r, &seen(&path)), ("web-1".into(), fields(DOCKER, Some("web-1"), None, None)));
    }
    let path = format!("/docker/{DOCKER2}");
    assert_eq!(show(&mut r, &seen(&path)).0, "we.ird_name-2");
    // A sub-cgroup a container made is still that container.
    let path = format!("/docker/{DOCKER}/init.scope");
    assert_eq!(show(&mut r, &seen(&path)).0, "web-1");
}

#[test]
fn docker_without_files_has_its_id() {
    let host = Host::new();
    let mut r = host.resolver();
    let path = format!("/docker/{UNKNOWN}");
    assert_eq!(show(&mut r, &seen(&path)), (UNKNOWN[..12].into(), fields(UNKNOWN, None, None, None)));
}

#[test]
fn podman_rootful() {
    let host = Host::new();
    let mut r = host.resolver();
    for path in [format!("/libpod_parent/libpod-{PODMAN}"), format!("/machine.slice/libpod-{PODMAN}.scope")] {
        assert_eq!(
            show(&mut r, &seen(&path)),
            ("pod-web".into(), fields(PODMAN, Some("pod-web"), None, None))
        );
    }
    // conmon's cgroups are the monitor's, not the container's.
    assert_eq!(show(&mut r, &seen("/libpod_parent/conmon")), ("conmon".into(), [None, None, None, None]));
    let path = format!("/machine.slice/libpod-conmon-{PODMAN}.scope");
    assert_eq!(
        show(&mut r, &seen(&path)),
        (format!("libpod-conmon-{PODMAN}.scope"), [None, None, None, None])
    );
}

#[test]
fn containerd_ctr() {
    let host = Host::new();
    let mut r = host.resolver();
    assert_eq!(show(&mut r, &seen("/default/myctr")), ("myctr".into(), fields("myctr", None, None, None)));
    let path = format!("/default/{CTR_HEX}");
    assert_eq!(show(&mut r, &seen(&path)).0, &CTR_HEX[..12]);
    // No task of that name in that namespace: a cgroup like any other.
    assert_eq!(show(&mut r, &seen("/other/myctr")), ("myctr".into(), [None, None, None, None]));
}

#[test]
fn containerd_bundle_for_another_cgroup_is_not_believed() {
    let host = Host::new();
    let mut r = host.resolver();
    let bundle = host.path("run/containerd/io.containerd.runtime.v2.task/default/myctr/config.json");
    let spec = fs::read_to_string(&bundle).unwrap().replace("\"/default/myctr\"", "\"/elsewhere\"");
    fs::write(&bundle, spec).unwrap();
    assert_eq!(show(&mut r, &seen("/default/myctr")), ("myctr".into(), [None, None, None, None]));
}

#[test]
fn kubernetes_with_containerd() {
    let host = Host::new();
    let mut r = host.resolver();
    let pod = Some("web-7d9f8b6c5-x2k4p");
    let path = format!("/kubepods/besteffort/{K8S_POD}/{K8S}");
    assert_eq!(show(&mut r, &seen(&path)), ("nginx".into(), fields(K8S, Some("nginx"), pod, Some("shop"))));
    // The pod's sandbox: its pod, no container name.
    let path = format!("/kubepods/besteffort/{K8S_POD}/{K8S_SANDBOX}");
    assert_eq!(
        show(&mut r, &seen(&path)),
        (K8S_SANDBOX[..12].into(), fields(K8S_SANDBOX, None, pod, Some("shop")))
    );
    let path = format!(
        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0d1e2f3a_4b5c_4d6e_8f70_8192a3b4c5d6.slice/cri-containerd-{K8S_SYSTEMD}.scope"
    );
    let want = fields(K8S_SYSTEMD, Some("coredns"), Some("coredns-5d78c9869d-abcde"), Some("kube-system"));
    assert_eq!(show(&mut r, &seen(&path)), ("coredns".into(), want));
}

#[test]
fn kubernetes_with_crio() {
    let host = Host::new();
    let mut r = host.resolver();
    let path = format!(
        "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod5a6b7c8d_9e0f_4a1b_8c2d_3e4f5a6b7c8d.slice/crio-{CRIO}.scope"
    );
    assert_eq!(
        show(&mut r, &seen(&path)),
        ("redis".into(), fields(CRIO, Some("redis"), Some("cache-0"), Some("data")))
    );
    let path = format!("/kubepods/besteffort/pod5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d/{CRIO}");
    assert_eq!(show(&mut r, &seen(&path)).0, "redis");
}

#[test]
fn runc_and_crun_by_hand() {
    let host = Host::new();
    let mut r = host.resolver();
    assert_eq!(
        show(&mut r, &seen("/runc-demo")),
        ("runc-demo".into(), fields("runc-demo", None, None, None))
    );
    assert_eq!(
        show(&mut r, &seen("/crun-demo")),
        ("crun-demo".into(), fields("crun-demo", None, None, None))
    );
    // A state that is not that container's.
    host.write(
        "run/runc/other/state.json",
        br#"{"id":"runc-demo","cgroup_paths":{"":"/sys/fs/cgroup/other"}}"#,
    );
    assert_eq!(show(&mut r, &seen("/other")), ("other".into(), [None, None, None, None]));
}

#[test]
fn machines_lxc_services_and_the_root() {
    let host = Host::new();
    let mut r = host.resolver();
    let machine = seen(r"/machine.slice/machine-qemu\x2d1\x2dvm.scope");
    assert_eq!(show(&mut r, &machine), ("qemu-1-vm".into(), [None, Some("qemu-1-vm".into()), None, None]));
    assert_eq!(show(&mut r, &seen("/lxc.payload.web")).0, "web");
    assert_eq!(show(&mut r, &seen("/lxc.monitor.web")), ("lxc.monitor.web".into(), [None, None, None, None]));
    assert_eq!(
        show(&mut r, &seen("/system.slice/sshd.service")),
        ("sshd.service".into(), [None, None, None, None])
    );
    let root = CgroupSeen { path: Some(b"/"), leaf: b"", root_owned: true };
    assert_eq!(show(&mut r, &root), ("-".into(), [None, None, None, None]));
    let gone_root = CgroupSeen { path: None, leaf: b"", root_owned: false };
    assert_eq!(show(&mut r, &gone_root).0, "-");
}

#[test]
fn a_users_cgroup_is_never_a_runtimes_container() {
    let host = Host::new();
    let mut r = host.resolver();
    let path = format!("/user.slice/user-1000.slice/user@1000.service/docker-{DOCKER}.scope");
    let users = CgroupSeen { root_owned: false, ..seen(&path) };
    assert_eq!(show(&mut r, &users), (format!("docker-{DOCKER}.scope"), [None, None, None, None]));
    // Nor is a leaf alone, the cgroup gone.
    let leaf = format!("docker-{DOCKER}.scope");
    let gone = CgroupSeen { path: None, leaf: leaf.as_bytes(), root_owned: false };
    assert_eq!(show(&mut r, &gone), (leaf.clone(), [None, None, None, None]));
    // root_owned is only believed with a path.
    let gone = CgroupSeen { path: None, leaf: leaf.as_bytes(), root_owned: true };
    assert_eq!(show(&mut r, &gone).1, [None, None, None, None]);
}

#[test]
fn planted_files_are_refused() {
    let host = Host::new();
    let named = |r: &mut Resolver, id: &str| {
        let path = format!("/docker/{id}");
        r.identify(&seen(&path)).container_name.is_some()
    };
    assert!(named(&mut host.resolver(), DOCKER));

    // The file a symlink to another container's.
    let config = host.docker_config(DOCKER);
    fs::remove_file(&config).unwrap();
    symlink(host.docker_config(DOCKER2), &config).unwrap();
    assert!(!named(&mut host.resolver(), DOCKER));
    fs::remove_file(&config).unwrap();

    // The container's directory a symlink.
    let dir = config.parent().unwrap();
    fs::remove_dir_all(dir).unwrap();
    symlink(host.docker_config(DOCKER2).parent().unwrap(), dir).unwrap();
    assert!(!named(&mut host.resolver(), DOCKER));
    fs::remove_file(dir).unwrap();

    // Another container's file under this id: its ID says so.
    fs::create_dir(dir).unwrap();
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    fs::copy(host.docker_config(DOCKER2), &config).unwrap();
    fs::set_permissions(&config, fs::Permissions::from_mode(0o644)).unwrap();
    assert!(!named(&mut host.resolver(), DOCKER));

    // Writable by others, the file or a directory on the way.
    assert!(named(&mut host.resolver(), DOCKER2));
    let config2 = host.docker_config(DOCKER2);
    fs::set_permissions(&config2, fs::Permissions::from_mode(0o666)).unwrap();
    assert!(!named(&mut host.resolver(), DOCKER2));
    fs::set_permissions(&config2, fs::Permissions::from_mode(0o644)).unwrap();
    let containers = host.path("var/lib/docker/containers");
    fs::set_permissions(&containers, fs::Permissions::from_mode(0o777)).unwrap();
    assert!(!named(&mut host.resolver(), DOCKER2));
    fs::set_permissions(&containers, fs::Permissions::from_mode(0o755)).unwrap();
    assert!(named(&mut host.resolver(), DOCKER2));
}

#[test]
fn a_fifo_or_directory_is_not_read() {
    let host = Host::new();
    let config = host.docker_config(DOCKER);
    fs::remove_file(&config).unwrap();
    fs::create_dir(&config).unwrap();
    assert_eq!(host.resolver().identify(&seen(&format!("/docker/{DOCKER}"))).container_name, None);
    fs::remove_dir(&config).unwrap();
    // mkfifo(1), not a raw libc call: a FIFO from the shell, where there is one.
    let made = std::process::Command::new("mkfifo").arg(&config).status().map(|s| s.success());
    if made.unwrap_or(false) {
        fs::set_permissions(&config, fs::Permissions::from_mode(0o644)).unwrap();
        // O_NONBLOCK: the open does not wait for a writer.
        assert_eq!(host.resolver().identify(&seen(&format!("/docker/{DOCKER}"))).container_name, None);
    }
}

#[test]
fn files_not_roots_are_refused() {
    let host = Host::new();
    let config = host.docker_config(DOCKER);
    let owner = owner_of(&host.root);
    // As root the file can be given away; otherwise trust another uid.
    let mut r = if owner == 0 {
        std::process::Command::new("chown").arg("1").arg(&config).status().unwrap();
        host.resolver()
    } else {
        Resolver::with_owner(host.root.clone(), 0)
    };
    assert_eq!(r.identify(&seen(&format!("/docker/{DOCKER}"))).container_name, None);
}

#[test]
fn oversized_and_hostile_names() {
    let host = Host::new();
    let store = "var/lib/containers/storage/overlay-containers/containers.json";
    let long = "n".repeat(256);
    let doc = format!(
        r#"[{{"id":"{PODMAN}","names":["line\nbreak\u001b[31m"]}},{{"id":"{UNKNOWN}","names":["{long}"]}}]"#
    );
    host.write(store, doc.as_bytes());
    let mut r = host.resolver();
    // Bytes are returned as kept; the output escapes them.
    let path = format!("/libpod_parent/libpod-{PODMAN}");
    assert_eq!(r.identify(&seen(&path)).container_name.as_deref(), Some(&b"line\nbreak\x1b[31m"[..]));
    let path = format!("/libpod_parent/libpod-{UNKNOWN}");
    assert_eq!(r.identify(&seen(&path)), Identity::id(UNKNOWN.as_bytes()), "a 256-byte name is none");
    // Larger than its cap: not read at all.
    let config = host.docker_config(DOCKER);
    let mut big = fs::read(&config).unwrap();
    big.pop();
    big.extend_from_slice(format!(r#","Pad":"{}"}}"#, "x".repeat(1 << 20)).as_bytes());
    fs::write(&config, big).unwrap();
    assert_eq!(host.resolver().identify(&seen(&format!("/docker/{DOCKER}"))).container_name, None);
}

#[test]
fn the_cache_keeps_answers_and_retries_misses() {
    let host = Host::new();
    let mut r = host.resolver();
    let t0 = Instant::now();
    let path = format!("/docker/{DOCKER}");
    assert_eq!(text(&r.identify_path(path.as_bytes(), t0).container_name), Some("web-1"));
    // The container removed: its name stays (the id was that container's).
    fs::remove_dir_all(host.docker_config(DOCKER).parent().unwrap()).unwrap();
    assert_eq!(
        text(&r.identify_path(path.as_bytes(), t0 + Duration::from_secs(1)).container_name),
        Some("web-1")
    );
    let later = t0 + cache::FOUND_FOR + Duration::from_secs(1);
    assert_eq!(text(&r.identify_path(path.as_bytes(), later).container_name), Some("web-1"));

    // A container whose files appear after its first line.
    let path = format!("/docker/{UNKNOWN}");
    assert_eq!(r.identify_path(path.as_bytes(), t0).container_name, None);
    let doc = fs::read_to_string(host.docker_config(DOCKER2)).unwrap().replace(DOCKER2, UNKNOWN);
    host.write(&format!("var/lib/docker/containers/{UNKNOWN}/config.v2.json"), doc.as_bytes());
    let soon = t0 + cache::MISSED_FOR / 2;
    assert_eq!(r.identify_path(path.as_bytes(), soon).container_name, None, "a miss is kept a moment");
    let after = t0 + cache::MISSED_FOR + Duration::from_millis(1);
    assert_eq!(text(&r.identify_path(path.as_bytes(), after).container_name), Some("we.ird_name-2"));
}

#[test]
fn the_cache_is_bounded() {
    let host = Host::new();
    let mut r = host.resolver();
    let now = Instant::now();
    for n in 0..(3 * cache::CAPACITY) {
        r.identify_path(format!("/docker/{n:064x}").as_bytes(), now);
        r.identify_path(format!("/system.slice/unit{n}.service").as_bytes(), now);
    }
    assert!(r.cache.len() <= cache::CAPACITY);
}
