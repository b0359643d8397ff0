//! What a cgroup's path says about who made it: the layouts the container
//! runtimes and systemd use, recognised from the path alone, with no file
//! read. The answer is a claim to be confirmed (`runtimes`), and only ever
//! asked of a path root made (the caller's rule, in `mod.rs`).
//!
//! The outermost element that matches a layout wins: a container that made
//! cgroups of its own (systemd inside it, a nested runtime as in kind) has
//! them below its own, and the host's files describe the outer one.

/// A container runtime's claim on a cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Claim<'a> {
    /// dockerd, by its cgroup (`/docker/<id>`, `docker-<id>.scope`).
    Docker { id: &'a [u8] },
    /// Rootful podman: `libpod-<id>.scope` (systemd) or
    /// `/libpod_parent/libpod-<id>` (cgroupfs).
    Podman { id: &'a [u8] },
    /// CRI-O: `crio-<id>.scope` or `crio-<id>`.
    Crio { id: &'a [u8] },
    /// containerd's CRI plugin with systemd: `cri-containerd-<id>.scope`.
    CriContainerd { id: &'a [u8] },
    /// A Kubernetes pod's container with the cgroupfs driver,
    /// `/kubepods[/<qos>]/pod<uid>/<id>`: containerd, CRI-O or dockershim.
    KubePod { id: &'a [u8] },
    /// systemd-machined's `machine-<name>.scope`, the name unescaped.
    Machine { name: Vec<u8> },
    /// LXC: `/lxc/<name>` or `/lxc.payload.<name>`.
    Lxc { name: &'a [u8] },
    /// No layout matched; `/<ns>/<id>` may still be containerd's (ctr) and
    /// `/<id>` runc's or crun's, which only their files can tell.
    Unknown,
}

/// The path's elements, without empty ones (`/` has none).
pub(crate) fn elements(path: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    path.split(|&b| b == b'/').filter(|e| !e.is_empty())
}

/// The claim the path's layout makes.
pub(crate) fn claim(path: &[u8]) -> Claim<'_> {
    let parts: Vec<&[u8]> = elements(path).collect();
    for (i, part) in parts.iter().enumerate() {
        let next = parts.get(i + 1).copied();
        if let Some(claim) = claim_at(part, next, &parts[..i]) {
            return claim;
        }
    }
    Claim::Unknown
}

/// The claim of one element, `next` the one below it, `above` those above.
fn claim_at<'a>(part: &'a [u8], next: Option<&'a [u8]>, above: &[&[u8]]) -> Option<Claim<'a>> {
    if let Some(id) = scope_id(part, b"docker-") {
        return Some(Claim::Docker { id });
    }
    if let Some(id) = scope_id(part, b"libpod-") {
        return Some(Claim::Podman { id });
    }
    if let Some(id) = scope_id(part, b"crio-") {
        return Some(Claim::Crio { id });
    }
    if let Some(id) = scope_id(part, b"cri-containerd-") {
        return Some(Claim::CriContainerd { id });
    }
    if let Some(id) = part.strip_prefix(b"libpod-").filter(|id| is_hex64(id)) {
        if above.last() == Some(&&b"libpod_parent"[..]) {
            return Some(Claim::Podman { id });
        }
    }
    if let Some(id) = part.strip_prefix(b"crio-").filter(|id| is_hex64(id)) {
        return Some(Claim::Crio { id });
    }
    if part == b"docker" {
        if let Some(id) = next.filter(|id| is_hex64(id)) {
            return Some(Claim::Docker { id });
        }
    }
    if part.starts_with(b"pod") && above.first() == Some(&&b"kubepods"[..]) {
        if let Some(id) = next.filter(|id| is_hex64(id)) {
            return Some(Claim::KubePod { id });
        }
    }
    if let Some(name) = part.strip_prefix(b"machine-").and_then(|p| p.strip_suffix(b".scope")) {
        if above.last() == Some(&&b"machine.slice"[..]) {
            return unescape_unit(name).map(|name| Claim::Machine { name });
        }
    }
    if let Some(name) = part.strip_prefix(b"lxc.payload.").filter(|n| !n.is_empty()) {
        return Some(Claim::Lxc { name });
    }
    if part == b"lxc" && above.is_empty() {
        if let Some(name) = next {
            return Some(Claim::Lxc { name });
        }
    }
    None
}

/// The id of `<prefix><64 hex>.scope`. The conmon scopes
/// (`libpod-conmon-<id>.scope`, `crio-conmon-<id>.scope`) are not hex there
/// and fall through: conmon is the runtime's monitor, not the container.
fn scope_id<'a>(part: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    part.strip_prefix(prefix)?.strip_suffix(b".scope").filter(|id| is_hex64(id))
}

/// A 64-character lowercase hex id, as docker, podman, CRI-O and the CRI
/// plugin make them.
pub(crate) fn is_hex64(id: &[u8]) -> bool {
    id.len() == 64 && id.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A unit name's `\xNN` escapes undone (systemd-escape: `\x2d` is '-').
/// `None` for a malformed escape, or a name that unescapes to a '/' or NUL.
pub(crate) fn unescape_unit(name: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(name.len());
    let mut rest = name;
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'\\' {
            let hex = tail.get(..3).filter(|h| h[0] == b'x')?;
            let digit = |c: u8| char::from(c).to_digit(16);
            let byte = (digit(hex[1])? << 4 | digit(hex[2])?) as u8;
            if byte == 0 || byte == b'/' {
                return None;
            }
            out.push(byte);
            rest = &tail[3..];
        } else {
            out.push(b);
            rest = tail;
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "f0b632503e5eff89e71810ec40aab0816e69a63e5bbbabd3e19a02506ec7b867";

    fn of(path: &str) -> Claim<'_> {
        claim(path.as_bytes())
    }

    #[test]
    fn recognises_each_layout() {
        let id = ID.as_bytes();
        assert_eq!(of(&format!("/docker/{ID}")), Claim::Docker { id });
        assert_eq!(of(&format!("/system.slice/docker-{ID}.scope")), Claim::Docker { id });
        assert_eq!(of(&format!("/machine.slice/libpod-{ID}.scope")), Claim::Podman { id });
        assert_eq!(of(&format!("/libpod_parent/libpod-{ID}")), Claim::Podman { id });
        assert_eq!(of(&format!("/kubepods.slice/kubepods-pod1.slice/crio-{ID}.scope")), Claim::Crio { id });
        assert_eq!(of(&format!("/kubepods/besteffort/pod1/crio-{ID}")), Claim::Crio { id });
        assert_eq!(
            of(&format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1_2.slice/cri-containerd-{ID}.scope"
            )),
            Claim::CriContainerd { id }
        );
        assert_eq!(of(&format!("/kubepods/besteffort/pod7e8c-11/{ID}")), Claim::KubePod { id });
        assert_eq!(of(&format!("/kubepods/pod7e8c-11/{ID}")), Claim::KubePod { id }, "Guaranteed QoS");
        assert_eq!(
            of(r"/machine.slice/machine-qemu\x2d1\x2dvm.scope"),
            Claim::Machine { name: b"qemu-1-vm".to_vec() }
        );
        assert_eq!(of("/lxc.payload.web"), Claim::Lxc { name: b"web" });
        assert_eq!(of("/lxc/web"), Claim::Lxc { name: b"web" });
    }

    #[test]
    fn monitors_and_look_alikes_are_not_containers() {
        assert_eq!(of(&format!("/machine.slice/libpod-conmon-{ID}.scope")), Claim::Unknown);
        assert_eq!(of(&format!("/system.slice/crio-conmon-{ID}.scope")), Claim::Unknown);
        assert_eq!(of("/lxc.monitor.web"), Claim::Unknown);
        assert_eq!(of("/docker/F0B6"), Claim::Unknown, "not 64 lowercase hex");
        assert_eq!(of(&format!("/docker/{}", ID.to_uppercase())), Claim::Unknown);
        assert_eq!(of(&format!("/system.slice/docker-{ID}x.scope")), Claim::Unknown);
        assert_eq!(of(&format!("/libpod-{ID}")), Claim::Unknown, "cgroupfs podman lives in libpod_parent");
        assert_eq!(of(&format!("/other/pod1/{ID}")), Claim::Unknown);
        assert_eq!(of("/system.slice/sshd.service"), Claim::Unknown);
        assert_eq!(of("/"), Claim::Unknown);
        assert_eq!(of(r"/machine.slice/machine-a\x2fb.scope"), Claim::Unknown, "no '/' in a name");
        assert_eq!(of(r"/machine.slice/machine-bad\x2.scope"), Claim::Unknown);
    }

    #[test]
    fn the_outermost_container_wins() {
        let inner = "a".repeat(64);
        let id = ID.as_bytes();
        assert_eq!(of(&format!("/docker/{ID}/kubepods/besteffort/pod1/{inner}")), Claim::Docker { id });
        assert_eq!(of(&format!("/docker/{ID}/docker-{inner}.scope")), Claim::Docker { id });
    }
}
