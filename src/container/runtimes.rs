//! Where each container runtime keeps, on the host, what names its
//! containers, and the checks that a file is the one its path claims: the id
//! inside matches the id we came with, or the cgroup it records is the one
//! we saw. Only files root's runtimes write (through [`HostFs`]), never a
//! daemon's socket or a CLI; never a user's home (rootless podman keeps its
//! containers in `~/.local/share/containers`, which its user controls).
//!
//! The keys read, by runtime (each checked against files the runtime wrote
//! on a test host, or its source where noted in tests/fixtures/containers):
//! - docker: `/var/lib/docker/containers/<id>/config.v2.json`, `ID` and
//!   `Name` (with docker's leading '/').
//! - podman (rootful): containers/storage's `containers.json`, the element
//!   whose `id` is ours, its `names[0]`.
//! - containerd (ctr and the CRI plugin): the running task's OCI bundle,
//!   `/run/containerd/io.containerd.runtime.v2.task/<namespace>/<id>/config.json`,
//!   `linux.cgroupsPath` (must be the cgroup we saw) and the CRI plugin's
//!   annotations (containerd's internal/cri/annotations).
//! - CRI-O: `/run/containers/storage/overlay-containers/<id>/userdata/config.json`,
//!   annotations `io.kubernetes.cri-o.ContainerID` (must be ours) and the
//!   kubelet's `io.kubernetes.pod.name`, `.pod.namespace`, `.container.name`.
//! - runc: `/run/runc/<id>/state.json`, `id` and the cgroup it made;
//!   crun: `/run/crun/<id>/status`, `cgroup-path`.

use super::hostfile::HostFs;
use super::identity::Identity;

/// Cap for one container's file (docker's config.v2.json, a bundle's
/// config.json, runc's state.json): a few KiB each on a test host (2 to 9);
/// a megabyte leaves room for long environments and many labels.
const CONTAINER_FILE_CAP: u64 = 1 << 20;

/// Cap for podman's containers.json, every container in one file: about
/// 0.5 KiB each, so 32 MiB is some 60 000 containers. Read whole, once a
/// container (then cached).
const CONTAINERS_JSON_CAP: u64 = 32 << 20;

/// Longest name believed: docker's and podman's names, Kubernetes' (253 at
/// most) and systemd's unit names fit; a longer one is not what the runtime
/// wrote.
const NAME_MAX: usize = 255;

const CONTAINERD_TASKS: &[u8] = b"run/containerd/io.containerd.runtime.v2.task";

/// A name as the runtime keeps it, if it is one the runtime could have made.
fn name(bytes: Vec<u8>) -> Option<Vec<u8>> {
    (!bytes.is_empty() && bytes.len() <= NAME_MAX).then_some(bytes)
}

/// Splits a relative path given as one byte string into its elements.
fn under<'a>(base: &'a [u8], more: &[&'a [u8]]) -> Vec<&'a [u8]> {
    let mut parts: Vec<&[u8]> = base.split(|&b| b == b'/').collect();
    parts.extend_from_slice(more);
    parts
}

/// dockerd's name for container `id` (64 hex, checked by the caller).
pub(crate) fn docker_name(fs: &HostFs, id: &[u8]) -> Option<Vec<u8>> {
    let doc =
        fs.read(&under(b"var/lib/docker/containers", &[id, b"config.v2.json"]), CONTAINER_FILE_CAP).ok()?;
    if super::json::string_at(&doc, &["ID"])? != id {
        return None;
    }
    let full = super::json::string_at(&doc, &["Name"])?;
    name(full.strip_prefix(b"/").unwrap_or(&full).to_vec())
}

/// Rootful podman's name for container `id`: its store lists every
/// container; a `--rm` container may be in the volatile list beside it, or
/// in the run root when the store is transient.
pub(crate) fn podman_name(fs: &HostFs, id: &[u8]) -> Option<Vec<u8>> {
    [
        &b"var/lib/containers/storage/overlay-containers/containers.json"[..],
        b"var/lib/containers/storage/overlay-containers/volatile-containers.json",
        b"run/containers/storage/overlay-containers/containers.json",
    ]
    .iter()
    .find_map(|path| {
        let doc = fs.read(&under(path, &[]), CONTAINERS_JSON_CAP).ok()?;
        name(super::json::first_of_list_where(&doc, "id", id, "names")?)
    })
}

/// containerd's running task `namespace`/`id`, if its bundle says it is
/// the container of cgroup `cgroup` (the path up to the container's own
/// element): ctr's and the CRI plugin's containers. `None` when there is no
/// such task or its bundle was made for another cgroup.
pub(crate) fn containerd_task(fs: &HostFs, namespace: &[u8], id: &[u8], cgroup: &[u8]) -> Option<Identity> {
    let doc = fs.read(&under(CONTAINERD_TASKS, &[namespace, id, b"config.json"]), CONTAINER_FILE_CAP).ok()?;
    let cgroups_path = super::json::string_at(&doc, &["linux", "cgroupsPath"])?;
    if !cgroups_path_is(&cgroups_path, cgroup) {
        return None;
    }
    let annotation = |key: &str| super::json::string_at(&doc, &["annotations", key]).and_then(name);
    Some(Identity {
        container_id: Some(id.to_vec()),
        container_name: annotation("io.kubernetes.cri.container-name"),
        pod: annotation("io.kubernetes.cri.sandbox-name"),
        pod_namespace: annotation("io.kubernetes.cri.sandbox-namespace"),
    })
}

/// Whether an OCI `cgroupsPath` names `cgroup`: the same path (cgroupfs),
/// or systemd's `<slice>:<prefix>:<name>` for the unit `<prefix>-<name>.scope`
/// that is `cgroup`'s last element, in that slice.
fn cgroups_path_is(cgroups_path: &[u8], cgroup: &[u8]) -> bool {
    if cgroups_path == cgroup {
        return true;
    }
    let mut fields = cgroups_path.split(|&b| b == b':');
    let (Some(slice), Some(prefix), Some(unit), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return false;
    };
    let mut elements = super::cgroup_path::elements(cgroup).rev();
    let (Some(last), Some(parent)) = (elements.next(), elements.next()) else {
        return false;
    };
    let scope = [prefix, b"-", unit, b".scope"].concat();
    last == scope.as_slice() && parent == slice
}

/// CRI-O's container `id` (64 hex): its bundle's annotations.
pub(crate) fn crio(fs: &HostFs, id: &[u8]) -> Option<Identity> {
    let path = under(b"run/containers/storage/overlay-containers", &[id, b"userdata", b"config.json"]);
    let doc = fs.read(&path, CONTAINER_FILE_CAP).ok()?;
    let annotation = |key: &str| super::json::string_at(&doc, &["annotations", key]);
    if annotation("io.kubernetes.cri-o.ContainerID")? != id {
        return None;
    }
    let annotation = |key: &str| annotation(key).and_then(name);
    Some(Identity {
        container_id: Some(id.to_vec()),
        container_name: annotation("io.kubernetes.container.name"),
        pod: annotation("io.kubernetes.pod.name"),
        pod_namespace: annotation("io.kubernetes.pod.namespace"),
    })
}

/// runc's container `id`, if its state records `cgroup` as the cgroup it
/// made (in the v2 or unified hierarchy, `cgroup_paths[""]`).
pub(crate) fn runc(fs: &HostFs, id: &[u8], cgroup: &[u8]) -> bool {
    let Ok(doc) = fs.read(&under(b"run/runc", &[id, b"state.json"]), CONTAINER_FILE_CAP) else {
        return false;
    };
    let same_id = super::json::string_at(&doc, &["id"]).is_some_and(|v| v == id);
    let made = super::json::string_at(&doc, &["cgroup_paths", ""]).is_some_and(|v| v.ends_with(cgroup));
    same_id && made
}

/// crun's container `id`, if its status records `cgroup` as its cgroup.
pub(crate) fn crun(fs: &HostFs, id: &[u8], cgroup: &[u8]) -> bool {
    let Ok(doc) = fs.read(&under(b"run/crun", &[id, b"status"]), CONTAINER_FILE_CAP) else {
        return false;
    };
    let trim = |p: &[u8]| p.strip_prefix(b"/").unwrap_or(p).to_vec();
    super::json::string_at(&doc, &["cgroup-path"]).is_some_and(|v| trim(&v) == trim(cgroup))
}

/// A containerd identifier (namespaces and container ids): letters and
/// digits in runs joined by one of `.`, `_`, `-`, at most 76 bytes
/// (containerd's identifiers package).
pub(crate) fn is_containerd_identifier(s: &[u8]) -> bool {
    let joined = s.windows(2).all(|w| !(is_separator(w[0]) && is_separator(w[1])));
    !s.is_empty()
        && s.len() <= 76
        && s.first().is_some_and(u8::is_ascii_alphanumeric)
        && s.last().is_some_and(u8::is_ascii_alphanumeric)
        && s.iter().all(|&b| b.is_ascii_alphanumeric() || is_separator(b))
        && joined
}

fn is_separator(b: u8) -> bool {
    matches!(b, b'.' | b'_' | b'-')
}

/// A runc or crun container id: word characters, `+`, `-` and `.`
/// (runc's check), not `.` or `..`, and short enough to be a file name.
pub(crate) fn is_runc_id(s: &[u8]) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s != b"."
        && s != b".."
        && s.iter().all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'))
}
