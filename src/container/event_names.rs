//! --container's step between the rings and the lines: each event's
//! cgroup, as the programs read it at the connect (kernfs id and name), to
//! its path (`host::cgroup_paths`) and to who that is (`Resolver`), written
//! into the event for the formatter.

use super::{CgroupSeen, Resolver};
use crate::event::{ContainerFields, TaskIdentity, CGROUP_LEAF_LEN};
use crate::host::cgroup_paths::CgroupPaths;
use std::path::PathBuf;

/// Names the cgroups of one hierarchy's events.
pub struct EventNames {
    paths: CgroupPaths,
    resolver: Resolver,
}

impl EventNames {
    /// For events of the hierarchy mounted at `hierarchy_root`, with the
    /// runtimes' files read below `/`.
    pub fn new(hierarchy_root: PathBuf) -> EventNames {
        EventNames { paths: CgroupPaths::new(hierarchy_root), resolver: Resolver::new(PathBuf::from("/")) }
    }

    /// Fills `identity.container` from its cgroup.
    pub fn name(&mut self, identity: &mut TaskIdentity) {
        // The kernel's copy of the name holds CGROUP_LEAF_LEN - 1 bytes at most.
        let found = match identity.cgroup_id {
            0 => None,
            id => self.paths.lookup(id, &identity.cgroup_leaf, CGROUP_LEAF_LEN - 1).cloned(),
        };
        let seen = CgroupSeen {
            path: found.as_ref().map(|dir| &dir.path[..]),
            leaf: &identity.cgroup_leaf,
            root_owned: found.as_ref().is_some_and(|dir| dir.root_owned),
        };
        let who = self.resolver.identify(&seen);
        let fields = ContainerFields {
            column: who.column(&seen).to_vec(),
            cgroup: seen.path.map(<[u8]>::to_vec),
            container_id: who.container_id,
            container_name: who.container_name,
            pod: who.pod,
            pod_namespace: who.pod_namespace,
        };
        identity.container = Some(fields);
    }
}
