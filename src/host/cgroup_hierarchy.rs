//! Which cgroup hierarchy names a task's cgroup for --container. A task is
//! in one cgroup per hierarchy, and the hierarchies disagree on hybrid
//! hosts: there every process may sit in the v2 root (this machine: v2 at
//! /sys/fs/cgroup/unified with every process in `/`) while container
//! runtimes put each container in its own cgroup of every v1 controller
//! (Docker and runc with the cgroupfs driver, RHEL 7 and 8 by default). So
//! a v1 controller's hierarchy wins where one is mounted, the one runtimes
//! and systemd use most (pids: systemd accounts tasks of every service by
//! default; runc joins every controller it knows); the v2 hierarchy where it
//! is the only one (every systemd host since 2021, Kubernetes nodes with
//! cgroup v2). A hierarchy counts only where its root is mounted: a mount of
//! a subtree (a cgroup namespace, a bind mount) cannot map every cgroup to
//! its path.

use super::mountinfo::Mount;
use std::path::PathBuf;

/// v1 controllers in the order they are preferred, by their v1 (mount
/// option) names.
const PREFERRED_CONTROLLERS: [&str; 8] =
    ["pids", "memory", "cpu", "devices", "freezer", "blkio", "cpuacct", "cpuset"];

/// The hierarchy chosen, and where its root is mounted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hierarchy {
    /// A v1 hierarchy with this controller (its v1 name, as mounts and
    /// /proc/cgroups show it).
    V1 { controller: &'static str, mount_point: PathBuf },
    /// The cgroup v2 hierarchy.
    V2 { mount_point: PathBuf },
}

impl Hierarchy {
    /// Where its root is mounted: the paths of its cgroups are below.
    pub fn mount_point(&self) -> &PathBuf {
        match self {
            Hierarchy::V1 { mount_point, .. } | Hierarchy::V2 { mount_point } => mount_point,
        }
    }

    /// The controller's name in the kernel's enum cgroup_subsys_id
    /// (`<name>_cgrp_id`): the v1 name, but for blkio, which is `io`.
    pub fn subsys_name(&self) -> Option<&'static str> {
        match self {
            Hierarchy::V1 { controller: "blkio", .. } => Some("io"),
            Hierarchy::V1 { controller, .. } => Some(controller),
            Hierarchy::V2 { .. } => None,
        }
    }
}

impl std::fmt::Display for Hierarchy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |p: &PathBuf| crate::escape::escaped(&p.to_string_lossy()).into_owned();
        match self {
            Hierarchy::V1 { controller, mount_point } => {
                write!(f, "the cgroup v1 {controller} hierarchy at {}", shown(mount_point))
            }
            Hierarchy::V2 { mount_point } => write!(f, "the cgroup v2 hierarchy at {}", shown(mount_point)),
        }
    }
}

/// The hierarchy --container reads among `mounts`; None where no cgroup
/// hierarchy is mounted at its root.
pub fn choose(mounts: &[Mount]) -> Option<Hierarchy> {
    let whole = |fs_type: &'static str| mounts.iter().filter(move |m| m.fs_type == fs_type && m.root == "/");
    for controller in PREFERRED_CONTROLLERS {
        let has = |m: &&Mount| m.super_options.split(',').any(|o| o == controller);
        if let Some(mount) = whole("cgroup").find(has) {
            return Some(Hierarchy::V1 { controller, mount_point: mount.mount_point.clone() });
        }
    }
    whole("cgroup2").next().map(|m| Hierarchy::V2 { mount_point: m.mount_point.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::mountinfo::parse;

    /// This machine's layout: v1 controllers, name=systemd, v2 at unified.
    const HYBRID: &str = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
        32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
        39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n\
        40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n\
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

    #[test]
    fn a_hybrid_host_uses_its_pids_hierarchy() {
        let chosen = choose(&parse(HYBRID)).unwrap();
        assert_eq!(chosen, Hierarchy::V1 { controller: "pids", mount_point: "/sys/fs/cgroup/pids".into() });
        assert_eq!(chosen.subsys_name(), Some("pids"));
        assert_eq!(chosen.to_string(), "the cgroup v1 pids hierarchy at /sys/fs/cgroup/pids");
    }

    #[test]
    fn without_pids_the_next_controller_serves_even_when_comounted() {
        let rhel7 = "25 24 0:21 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpuacct,cpu\n\
                     26 24 0:22 / /sys/fs/cgroup/blkio rw - cgroup cgroup rw,blkio\n";
        let chosen = choose(&parse(rhel7)).unwrap();
        assert_eq!(chosen.mount_point(), &PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"));
        let blkio = choose(&parse("26 24 0:22 / /cg/blkio rw - cgroup cgroup rw,blkio\n")).unwrap();
        assert_eq!(blkio.subsys_name(), Some("io"));
    }

    #[test]
    fn a_pure_v2_host_uses_v2_and_subtree_mounts_do_not_count() {
        let v2 = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(choose(&parse(v2)), Some(Hierarchy::V2 { mount_point: "/sys/fs/cgroup".into() }));
        let inside = "30 23 0:26 /docker/abc /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n\
                      31 23 0:27 /docker/abc /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
        assert_eq!(choose(&parse(inside)), None);
        assert_eq!(choose(&parse("40 31 0:37 / /x rw - cgroup cgroup rw,name=systemd\n")), None);
    }
}
