//! --container's step between the rings and the lines: each event's
//! cgroup, as the programs read it at the connect (kernfs id, name, its
//! parent's name, its owner), to its path (`host::cgroup_paths`) and to who
//! that is (`Resolver`), written into the event for the formatter.
//!
//! A cgroup removed before its line is printed (a client that connected and
//! exited at once, its container torn down) is no longer in the hierarchy.
//! Its last two elements and its owner, as the kernel had them, stand in
//! for its path then: `/docker/<id>`, `/system.slice/docker-<id>.scope`,
//! `/machine.slice/libpod-<id>.scope` name the container as the whole path
//! would. The JSON `cgroup` key is given only for a path found whole (or
//! a cgroup just below the root, whose two elements are its whole path).
//!
//! A busy container's lines share one answer: what a cgroup (its id, names
//! and owner as the kernel read them) was found to be is reused for
//! [`MEMO_FOR`], so naming costs a hash lookup a line, not the path, the
//! runtime's answer and their copies (~8 allocations; the tracer's CPU with
//! --container was mostly those).

use super::{CgroupSeen, Resolver};
use crate::event::{ContainerFields, TaskIdentity, CGROUP_LEAF_LEN, CGROUP_PARENT_LEN};
use crate::host::cgroup_paths::CgroupPaths;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a cgroup's answer serves the lines after it. What the
/// runtime's files say anew (a `docker rename`, files that appear after a
/// container's first connect) shows at most this much later.
pub(crate) const MEMO_FOR: Duration = Duration::from_millis(100);
/// Cgroups remembered at once; past it the memory starts afresh.
pub(crate) const MEMO_CAPACITY: usize = 1024;

/// Names the cgroups of one hierarchy's events.
pub struct EventNames {
    paths: CgroupPaths,
    resolver: Resolver,
    /// By kernfs id: the answer last given for that cgroup.
    memo: HashMap<u64, Memo>,
}

/// One cgroup's answer, and what the kernel said of the cgroup it was
/// given for (an id seen with other names is another cgroup: looked up).
struct Memo {
    leaf: Vec<u8>,
    parent: Vec<u8>,
    owner: Option<u32>,
    fields: Arc<ContainerFields>,
    at: Instant,
}

impl Memo {
    fn serves(&self, identity: &TaskIdentity, now: Instant) -> bool {
        now.saturating_duration_since(self.at) < MEMO_FOR
            && self.leaf == identity.cgroup_leaf
            && self.parent == identity.cgroup_parent
            && self.owner == identity.cgroup_owner
    }
}

impl EventNames {
    /// For events of the hierarchy mounted at `hierarchy_root`, with the
    /// runtimes' files read below `/`.
    pub fn new(hierarchy_root: PathBuf) -> EventNames {
        EventNames {
            paths: CgroupPaths::new(hierarchy_root),
            resolver: Resolver::new(PathBuf::from("/")),
            memo: HashMap::new(),
        }
    }

    /// Fills `identity.container` from its cgroup: the answer given for the
    /// same cgroup within MEMO_FOR of `now` (the caller's clock read, once a
    /// batch), else a new one. Without BTF (a path from /proc, no kernfs id)
    /// every line is looked up.
    pub fn name(&mut self, identity: &mut TaskIdentity, now: Instant) {
        let id = identity.cgroup_id;
        if identity.cgroup_path.is_some() || id == 0 {
            identity.container = Some(Arc::new(self.find(identity)));
            return;
        }
        if let Some(memo) = self.memo.get(&id).filter(|memo| memo.serves(identity, now)) {
            identity.container = Some(Arc::clone(&memo.fields));
            return;
        }
        let fields = Arc::new(self.find(identity));
        if self.memo.len() >= MEMO_CAPACITY && !self.memo.contains_key(&id) {
            self.memo.clear();
        }
        let memo = Memo {
            leaf: identity.cgroup_leaf.clone(),
            parent: identity.cgroup_parent.clone(),
            owner: identity.cgroup_owner,
            fields: Arc::clone(&fields),
            at: now,
        };
        self.memo.insert(id, memo);
        identity.container = Some(fields);
    }

    /// What the cgroup's path and the runtimes' files say of it.
    fn find(&mut self, identity: &TaskIdentity) -> ContainerFields {
        // The kernel's copy of the name holds CGROUP_LEAF_LEN - 1 bytes at most.
        let found = match (&identity.cgroup_path, identity.cgroup_id) {
            (Some(path), _) => self.paths.at_path(path),
            (None, 0) => None,
            (None, id) => self.paths.lookup(id, &identity.cgroup_leaf, CGROUP_LEAF_LEN - 1).cloned(),
        };
        let (path, root_owned, whole) = match (&found, last_two(identity)) {
            (Some(dir), _) => (Some(dir.path.clone()), dir.root_owned, true),
            (None, Some((path, whole))) => (Some(path), identity.cgroup_owner == Some(0), whole),
            (None, None) => (None, false, false),
        };
        let seen = CgroupSeen { path: path.as_deref(), leaf: &identity.cgroup_leaf, root_owned };
        let who = self.resolver.identify(&seen);
        ContainerFields {
            column: who.column(&seen).to_vec(),
            cgroup: path.filter(|_| whole),
            container_id: who.container_id,
            container_name: who.container_name,
            pod: who.pod,
            pod_namespace: who.pod_namespace,
        }
    }
}

/// The cgroup's last two elements as a path, and whether that is its whole
/// path (its parent is the root, whose name is empty); None where the
/// kernel's copy of either name may be cut or its owner is unknown.
fn last_two(identity: &TaskIdentity) -> Option<(Vec<u8>, bool)> {
    let (leaf, parent) = (&identity.cgroup_leaf, &identity.cgroup_parent);
    let cut = leaf.len() >= CGROUP_LEAF_LEN - 1 || parent.len() >= CGROUP_PARENT_LEN - 1;
    if cut || leaf.is_empty() || identity.cgroup_owner.is_none() {
        return None;
    }
    let mut path = Vec::with_capacity(parent.len() + leaf.len() + 2);
    if !parent.is_empty() {
        path.push(b'/');
        path.extend_from_slice(parent);
    }
    path.push(b'/');
    path.extend_from_slice(leaf);
    Some((path, parent.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gone(leaf: &[u8], parent: &[u8], owner: Option<u32>) -> TaskIdentity {
        TaskIdentity {
            cgroup_id: u64::MAX - 1,
            cgroup_leaf: leaf.to_vec(),
            cgroup_parent: parent.to_vec(),
            cgroup_owner: owner,
            ..TaskIdentity::default()
        }
    }

    /// A cgroup no longer in the hierarchy (an id no walk finds) is named
    /// from what the kernel gave, if root owned it.
    #[test]
    fn a_removed_cgroup_is_named_from_its_last_two_elements_if_roots() {
        let root = std::env::temp_dir().join(format!("tcpconnect-event-names-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        let mut names = EventNames::new(root.clone());
        let id = "0123456789abcdef".repeat(4);
        let mut docker = gone(id.as_bytes(), b"docker", Some(0));
        names.name(&mut docker, Instant::now());
        let fields = docker.container.unwrap();
        assert_eq!(fields.column, b"0123456789ab");
        assert_eq!(fields.container_id.as_deref(), Some(id.as_bytes()));
        assert_eq!(fields.cgroup, None, "two elements of a deeper path are not its path");

        // A user's cgroup of the same name: what it is called, no container.
        let mut forged = gone(id.as_bytes(), b"docker", Some(1000));
        names.name(&mut forged, Instant::now());
        let fields = forged.container.unwrap();
        assert_eq!((fields.column.clone(), fields.container_id.clone()), (id.as_bytes().to_vec(), None));

        // Owner unread: the same.
        let mut unknown = gone(id.as_bytes(), b"docker", None);
        names.name(&mut unknown, Instant::now());
        assert_eq!(unknown.container.unwrap().container_id, None);

        // Just below the root: its whole path.
        let mut service = gone(b"sshd.service", b"", Some(0));
        names.name(&mut service, Instant::now());
        let fields = service.container.unwrap();
        assert_eq!(
            (fields.column.clone(), fields.cgroup.clone()),
            (b"sshd.service".to_vec(), Some(b"/sshd.service".to_vec()))
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// The lines of one cgroup share its answer for MEMO_FOR; the same id
    /// with other names, or another owner, is another cgroup.
    #[test]
    fn one_cgroups_lines_share_its_answer_for_a_while() {
        let root = std::env::temp_dir().join(format!("tcpconnect-event-memo-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        let mut names = EventNames::new(root.clone());
        let mut named = |identity: TaskIdentity| {
            let mut identity = identity;
            names.name(&mut identity, Instant::now());
            identity.container.unwrap()
        };
        let id = "0123456789abcdef".repeat(4);
        let first = named(gone(id.as_bytes(), b"docker", Some(0)));
        let again = named(gone(id.as_bytes(), b"docker", Some(0)));
        assert!(Arc::ptr_eq(&first, &again), "a second line of the cgroup is looked up again");
        assert_eq!(first.container_id.as_deref(), Some(id.as_bytes()));
        let renamed = named(gone(b"db.service", b"", Some(0)));
        assert_eq!(renamed.column, b"db.service", "an id with another name was given the first name");
        let users = named(gone(id.as_bytes(), b"docker", Some(1000)));
        assert_eq!(users.container_id, None, "another owner was given root's answer");
        std::thread::sleep(MEMO_FOR + Duration::from_millis(10));
        let later = named(gone(id.as_bytes(), b"docker", Some(1000)));
        assert!(!Arc::ptr_eq(&users, &later), "an answer served past MEMO_FOR");
        assert_eq!(*users, *later);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn names_the_kernel_may_have_cut_are_not_made_a_path() {
        let long = vec![b'a'; CGROUP_LEAF_LEN - 1];
        assert_eq!(last_two(&gone(&long, b"docker", Some(0))), None);
        assert_eq!(last_two(&gone(b"abc", &[b'p'; CGROUP_PARENT_LEN - 1], Some(0))), None);
        assert_eq!(last_two(&gone(b"abc", b"p", Some(0))), Some((b"/p/abc".to_vec(), false)));
    }
}
