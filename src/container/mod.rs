//! `--container`: which container, pod or service made a connect, from the
//! cgroup the tracer saw and the files the container runtimes keep on the
//! host. Nothing here runs a runtime's CLI or talks to its daemon (no
//! socket, no waiting, nothing a hung daemon can stall), and all of it is
//! safe Rust (raw calls stay in `sys`).
//!
//! # Interface
//! The tracer gives a [`CgroupSeen`] (the cgroup's path below the
//! hierarchy's root when it still exists, its last element as the kernel
//! had it at the connect, and whether root owns it); [`Resolver::identify`]
//! gives an [`Identity`] (container id, name, pod, pod namespace, each
//! only where known) and [`Identity::column`] the CONTAINER column.
//! [`Resolver::new`] takes the host's root: `/` in production.
//!
//! # What is believed
//! A cgroup's name is chosen by whoever made it, and users may make
//! cgroups of any name in a subtree delegated to them. So:
//! - Only a cgroup root owns is read as a runtime's (`root_owned`). Its
//!   layout (`cgroup_path`: `/docker/<id>`, `crio-<id>.scope`, ...) says
//!   which runtime and id; root made it, so the id is believed even when the
//!   runtime's files are gone. The files (`runtimes`, read as `hostfile`
//!   allows: only what root could have written) add the name, pod and
//!   namespace, and are believed only when they name the same id or cgroup.
//! - A cgroup root does not own gets no identity: its column is its own
//!   last element, which is what it is (a rootless podman container under
//!   systemd shows `libpod-<id>.scope`; a user's cgroup named
//!   `docker-<a real id>.scope` shows that, not the real container's name).
//!   Rootless runtimes' files live in their user's home and are never read.
//!   (Without systemd, on cgroup v1, rootless podman makes no cgroup at all:
//!   its container stays in its user's cgroup and shows as that.)
//! - With only the leaf (the cgroup was gone when the line was printed), no
//!   identity either: the leaf proves what the cgroup was called, not who
//!   made it, and nothing is left to ask whether root owned it. The column
//!   is the leaf. (Such a cgroup is usually a container that exited right
//!   after connecting; it can print as its 64-hex cgroup name.)
//! - `/<ns>/<id>` and `/<id>` match no layout of their own; they are
//!   containerd's (`ctr`) or runc's and crun's only when those runtimes'
//!   state names that very cgroup. systemd machines and LXC containers are
//!   known by their cgroup alone (root's), having no other record.
//! - The outermost container on the path wins: cgroups a container made
//!   below its own (systemd in it, kind's nested nodes) are that container,
//!   whose files are the host's.
//! - Bytes come back as the runtime keeps them (the output escapes them);
//!   a name longer than 255 bytes is none any runtime made, and is dropped.
//!
//! # What may still be missed
//! Answers are cached by runtime and id (`cache`): an answer from the files
//! for 30 s, a miss or a cgroup-only answer for 1 s. A container whose
//! files are gone before its first line is printed (`docker run --rm` that
//! connected and exited at once, a `ctr run --rm`) has its id but no name
//! (docker, podman, CRI) or, for `ctr`, runc and crun, which are known only
//! by their files, no identity: its column is the cgroup's last element.
//! A rename shows up to 30 s late. A data root moved from the default
//! (dockerd's `data-root`, a symlinked `/var/lib/docker`) is not read.

mod cache;
mod cgroup_path;
mod event_names;
mod from_proc;
mod hostfile;
mod identity;
mod json;
mod runtimes;
#[cfg(test)]
mod tests;

pub use event_names::EventNames;
pub use from_proc::FromProc;
pub use identity::{CgroupSeen, Identity};

use cache::{Cache, Known};
use cgroup_path::Claim;
use hostfile::HostFs;
use std::path::PathBuf;
use std::time::Instant;

/// Names the containers of the host under `host_root`, remembering answers.
#[derive(Debug)]
pub struct Resolver {
    fs: HostFs,
    cache: Cache,
}

impl Resolver {
    /// A resolver reading the host's files below `host_root` (`/`), trusting
    /// what uid 0 owns.
    pub fn new(host_root: PathBuf) -> Resolver {
        Resolver::with_owner(host_root, 0)
    }

    /// A resolver trusting `owner`'s files instead of root's: a fixture
    /// host built by an unprivileged test.
    fn with_owner(host_root: PathBuf, owner: u32) -> Resolver {
        Resolver { fs: HostFs::new(host_root, owner), cache: Cache::default() }
    }

    /// Who made the connect whose cgroup is `seen`. See the module's
    /// comment for what is believed.
    pub fn identify(&mut self, seen: &CgroupSeen) -> Identity {
        match seen.path {
            Some(path) if seen.root_owned => self.identify_path(path, Instant::now()),
            _ => Identity::default(),
        }
    }

    fn identify_path(&mut self, path: &[u8], now: Instant) -> Identity {
        let claim = cgroup_path::claim(path);
        let key = cache_key(&claim, path);
        let previous = match self.cache.get(&key, now) {
            Known::Fresh(identity) => return identity.clone(),
            Known::Look { previous } => previous,
        };
        let (identity, confirmed) = match look(&self.fs, &claim, path) {
            Some(found) => (found, true),
            // The files have gone: the last answer they gave still holds.
            None => match previous {
                Some(previous) => (previous, true),
                None => (from_cgroup(&claim), false),
            },
        };
        self.cache.put(key, identity.clone(), confirmed, now);
        identity
    }
}

/// The cache's key: the claim, or for a path claiming nothing the part of
/// it a runtime's files might name (`/<ns>/<id>`).
fn cache_key(claim: &Claim, path: &[u8]) -> Vec<u8> {
    let (kind, id): (&[u8], &[u8]) = match claim {
        Claim::Docker { id } => (b"docker", id),
        Claim::Podman { id } => (b"podman", id),
        Claim::Crio { id } => (b"crio", id),
        Claim::CriContainerd { id } => (b"cri", id),
        Claim::KubePod { id } => (b"kube", id),
        Claim::Machine { name } => (b"machine", name),
        Claim::Lxc { name } => (b"lxc", name),
        Claim::Unknown => (b"path", path),
    };
    [kind, b"\0", id].concat()
}

/// What the cgroup alone says, root having made it: the id of a runtime's
/// layout, the name of a machine or LXC container.
fn from_cgroup(claim: &Claim) -> Identity {
    match claim {
        Claim::Docker { id }
        | Claim::Podman { id }
        | Claim::Crio { id }
        | Claim::CriContainerd { id }
        | Claim::KubePod { id } => Identity::id(id),
        Claim::Machine { name } => Identity::named(name.clone()),
        Claim::Lxc { name } => Identity::named(name.to_vec()),
        Claim::Unknown => Identity::default(),
    }
}

/// What the runtimes' files say of the claim; `None` if they say nothing
/// (absent, refused, or about another container).
fn look(fs: &HostFs, claim: &Claim, path: &[u8]) -> Option<Identity> {
    let with_name = |id: &[u8], name: Option<Vec<u8>>| {
        name.map(|name| Identity { container_name: Some(name), ..Identity::id(id) })
    };
    match claim {
        Claim::Docker { id } => with_name(id, runtimes::docker_name(fs, id)),
        Claim::Podman { id } => with_name(id, runtimes::podman_name(fs, id)),
        Claim::Crio { id } => runtimes::crio(fs, id),
        Claim::CriContainerd { id } => runtimes::containerd_task(
            fs,
            b"k8s.io",
            id,
            up_to(path, |e| e.ends_with(id_scope(id).as_slice())),
        ),
        Claim::KubePod { id } => {
            let cgroup = up_to(path, |e| e == *id);
            runtimes::containerd_task(fs, b"k8s.io", id, cgroup)
                .or_else(|| runtimes::crio(fs, id))
                .or_else(|| with_name(id, runtimes::docker_name(fs, id)))
        }
        Claim::Machine { .. } | Claim::Lxc { .. } => None,
        Claim::Unknown => look_unclaimed(fs, path),
    }
}

fn id_scope(id: &[u8]) -> Vec<u8> {
    [id, b".scope"].concat()
}

/// `path` up to and including its first element `is` accepts (all of it if
/// none does).
fn up_to(path: &[u8], mut is: impl FnMut(&[u8]) -> bool) -> &[u8] {
    let mut end = 0;
    for element in path.split(|&b| b == b'/') {
        end += element.len();
        if !element.is_empty() && is(element) {
            return &path[..end];
        }
        end += 1;
    }
    path
}

/// `path` up to and including its `n`th element (all of it if shorter).
fn first_elements(path: &[u8], n: usize) -> &[u8] {
    let mut seen = 0;
    up_to(path, |_| {
        seen += 1;
        seen == n
    })
}

/// `/<ns>/<id>...` as containerd's task, else `/<id>...` as runc's or crun's.
fn look_unclaimed(fs: &HostFs, path: &[u8]) -> Option<Identity> {
    let mut elements = cgroup_path::elements(path);
    let first = elements.next()?;
    if let Some(second) = elements.next() {
        if runtimes::is_containerd_identifier(first) && runtimes::is_containerd_identifier(second) {
            let cgroup = first_elements(path, 2);
            if let Some(found) = runtimes::containerd_task(fs, first, second, cgroup) {
                return Some(found);
            }
        }
    }
    let cgroup = first_elements(path, 1);
    let runc_made = runtimes::is_runc_id(first)
        && (runtimes::runc(fs, first, cgroup) || runtimes::crun(fs, first, cgroup));
    runc_made.then(|| Identity::id(first))
}

/// The uid owning `path`, for tests that build a host as a user.
#[cfg(test)]
fn owner_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).map(|m| m.uid()).unwrap_or(u32::MAX)
}
