//! The two ends of the container module's interface: what the tracer saw
//! of the connecting task's cgroup, and who we say that is. Below both the
//! resolver and the runtimes' readers, which build an [`Identity`].

/// What the tracer knows of the connecting task's cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CgroupSeen<'a> {
    /// The path below the hierarchy's root: `/docker/<64 hex>`,
    /// `/system.slice/docker-<64 hex>.scope`, `/kubepods/besteffort/pod<uid>/<64 hex>`,
    /// `/default/myctr` (containerd namespace and id), `/` for the root;
    /// `None` when the cgroup was gone by the time the event was printed.
    pub path: Option<&'a [u8]>,
    /// The path's last element as the kernel had it at the connect (`b""`
    /// for the root cgroup).
    pub leaf: &'a [u8],
    /// The cgroup's directory is owned by uid 0. A user may make cgroups of
    /// any name inside a subtree delegated to them (systemd's
    /// `user@.service`, rootless runtimes), so a cgroup that is not root's
    /// is never taken for a root-run runtime's container. False when unknown.
    pub root_owned: bool,
}

/// Who made a connect, as far as the host's files say. Every field is
/// `None` when not known; bytes are as the runtime keeps them (the output
/// escapes them like any outside bytes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// The runtime's id of the container: 64 hex for docker, podman, CRI-O
    /// and Kubernetes; the user's choice for `ctr`, runc and crun.
    pub container_id: Option<Vec<u8>>,
    /// The container's own name where the runtime keeps one apart from the
    /// id (docker, podman, a Kubernetes container, a machine, LXC).
    pub container_name: Option<Vec<u8>>,
    /// The Kubernetes pod, and its namespace.
    pub pod: Option<Vec<u8>>,
    pub pod_namespace: Option<Vec<u8>>,
}

impl Identity {
    /// The id alone, the runtime having no name for it or its files not
    /// saying.
    pub(crate) fn id(id: &[u8]) -> Identity {
        Identity { container_id: Some(id.to_vec()), ..Identity::default() }
    }

    /// The name alone (machines and LXC, whose name is their id).
    pub(crate) fn named(name: Vec<u8>) -> Identity {
        Identity { container_name: Some(name), ..Identity::default() }
    }

    /// Whether any field is known.
    pub fn is_known(&self) -> bool {
        self.container_id.is_some() || self.container_name.is_some() || self.pod.is_some()
    }

    /// The CONTAINER column: the name where the runtime keeps one; else the
    /// id, cut to 12 characters when it is 64 hex as `docker ps` shows it
    /// (a user's id, `ctr`'s, whole); else the cgroup's last element (a
    /// systemd service: `sshd.service`); `-` for the root cgroup.
    pub fn column<'a>(&'a self, seen: &CgroupSeen<'a>) -> &'a [u8] {
        if let Some(name) = &self.container_name {
            return name;
        }
        if let Some(id) = &self.container_id {
            if super::cgroup_path::is_hex64(id) {
                return &id[..12];
            }
            return id;
        }
        let last = match seen.path {
            Some(path) => super::cgroup_path::elements(path).last(),
            None => Some(seen.leaf).filter(|leaf| !leaf.is_empty()),
        };
        last.unwrap_or(b"-")
    }
}
