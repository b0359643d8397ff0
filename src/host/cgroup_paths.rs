//! --container: a cgroup's path from the kernfs id the programs read at the
//! connect. The id is the inode number of the cgroup's directory (5.5 on;
//! before, its low 32 bits are), so a walk of the hierarchy's mount finds
//! it. Walks are bounded (depth, directories) and happen only when an id
//! is not known yet, at most once per MIN_WALK_INTERVAL and never sooner
//! than WALK_SHARE times the last walk's own duration after it, so a flood
//! of connects from new cgroups costs one walk per interval, not one a
//! line, and a host with a huge tree (a user may make many cgroups in a
//! subtree delegated to them) at most 1/WALK_SHARE of our time.
//! Paths of cgroups removed since stay known while the index has room, so
//! a short-lived container printed after its cgroup is gone keeps its path.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The least time between two walks.
const MIN_WALK_INTERVAL: Duration = Duration::from_millis(20);
/// A walk that took T waits WALK_SHARE * T before the next.
const WALK_SHARE: u32 = 5;
/// Directories a walk looks at, at most (a host with more cgroups than
/// this names the rest by their last element only).
const MAX_WALK_DIRS: usize = 65_536;
/// How deep a walk goes below the root.
const MAX_DEPTH: usize = 32;
/// Ids the index keeps, current and removed cgroups together.
const MAX_ENTRIES: usize = 2 * MAX_WALK_DIRS;

/// Where a cgroup is, and whether root owns its directory (a cgroup made
/// in a subtree delegated to a user is the user's, and named by them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupDir {
    /// Below the hierarchy's root, "/" for the root itself.
    pub path: Vec<u8>,
    pub root_owned: bool,
}

/// Known cgroups of one hierarchy, by inode number.
pub struct CgroupPaths {
    root: PathBuf,
    by_ino: HashMap<u64, CgroupDir>,
    last_walk: Option<Instant>,
    /// How long the last walk took.
    last_walk_took: Duration,
}

impl CgroupPaths {
    /// The index of the hierarchy mounted at `root`; empty until asked.
    pub fn new(root: PathBuf) -> CgroupPaths {
        CgroupPaths { root, by_ino: HashMap::new(), last_walk: None, last_walk_took: Duration::ZERO }
    }

    /// The cgroup of kernfs id `id` whose name the kernel gave as `leaf`
    /// (cut at `leaf_max` bytes), walking the hierarchy once more if it is
    /// not known and the last walk is old enough. The name must match:
    /// before 5.5 an inode number is reused once its cgroup is removed,
    /// and a path of the removed one must not name the new one.
    pub fn lookup(&mut self, id: u64, leaf: &[u8], leaf_max: usize) -> Option<&CgroupDir> {
        // 5.5 on, the id is the inode number; before, its low half is (the
        // high half is a generation number that the inode does not carry).
        let keys = [id, id & 0xffff_ffff];
        let matches = |dir: &CgroupDir| {
            let name = match dir.path.as_slice() {
                b"/" => &b""[..],
                path => path.rsplit(|&b| b == b'/').next().unwrap_or_default(),
            };
            name == leaf || (leaf.len() >= leaf_max && name.starts_with(leaf))
        };
        let known = |paths: &CgroupPaths| keys.iter().any(|k| paths.by_ino.get(k).is_some_and(matches));
        if !known(self) && self.may_walk() {
            self.walk();
        }
        keys.iter().filter_map(|k| self.by_ino.get(k)).find(|dir| matches(dir))
    }

    fn may_walk(&self) -> bool {
        let wait = MIN_WALK_INTERVAL.max(self.last_walk_took * WALK_SHARE);
        self.last_walk.is_none_or(|at| at.elapsed() >= wait)
    }

    /// Indexes every directory below the root (bounded); what the index
    /// held of cgroups removed since stays while there is room.
    fn walk(&mut self) {
        let started = Instant::now();
        self.last_walk = Some(started);
        let mut found = HashMap::new();
        let mut stack: Vec<(PathBuf, Vec<u8>, usize)> = vec![(self.root.clone(), b"/".to_vec(), 0)];
        while let Some((dir, path, depth)) = stack.pop() {
            if found.len() >= MAX_WALK_DIRS {
                break;
            }
            // symlink_metadata: cgroupfs has no links, but nothing here follows one.
            let Ok(meta) = std::fs::symlink_metadata(&dir) else { continue };
            if !meta.is_dir() {
                continue;
            }
            found.insert(meta.ino(), CgroupDir { path: path.clone(), root_owned: meta.uid() == 0 });
            if depth >= MAX_DEPTH {
                continue;
            }
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    let name = entry.file_name();
                    let mut child = path.clone();
                    if child != b"/" {
                        child.push(b'/');
                    }
                    child.extend_from_slice(std::os::unix::ffi::OsStrExt::as_bytes(name.as_os_str()));
                    stack.push((dir.join(&name), child, depth + 1));
                }
            }
        }
        let kept = std::mem::take(&mut self.by_ino);
        let room = MAX_ENTRIES.saturating_sub(found.len());
        for (ino, dir) in kept.into_iter().take(room) {
            found.entry(ino).or_insert(dir);
        }
        self.by_ino = found;
        self.last_walk_took = started.elapsed();
    }

    /// The cgroup at `path` below the root, as it is now (without BTF the
    /// path comes from /proc, not an id).
    pub fn at_path(&self, path: &[u8]) -> Option<CgroupDir> {
        let relative = Path::new(std::ffi::OsStr::from_bytes(path.strip_prefix(b"/").unwrap_or(path)));
        let meta = std::fs::symlink_metadata(self.root.join(relative)).ok()?;
        meta.is_dir().then(|| CgroupDir { path: path.to_vec(), root_owned: meta.uid() == 0 })
    }

    /// The mount point walked.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ino(path: &Path) -> u64 {
        std::fs::metadata(path).unwrap().ino()
    }

    #[test]
    fn directories_are_found_by_inode_and_kept_after_removal() {
        let root = std::env::temp_dir().join(format!("tcpconnect-cgpaths-{}", std::process::id()));
        let leaf = root.join("docker").join("abc");
        std::fs::create_dir_all(&leaf).unwrap();
        let mut paths = CgroupPaths::new(root.clone());
        let id = ino(&leaf);
        let path =
            |paths: &mut CgroupPaths, id, leaf: &[u8]| paths.lookup(id, leaf, 111).map(|d| d.path.clone());
        assert_eq!(path(&mut paths, id, b"abc"), Some(b"/docker/abc".to_vec()));
        assert_eq!(path(&mut paths, ino(&root), b""), Some(b"/".to_vec()));
        // The old (pre-5.5) id: a generation number in the high half.
        assert_eq!(path(&mut paths, id | 7 << 32, b"abc"), Some(b"/docker/abc".to_vec()));
        // A name cut where the kernel's copy ends matches its start.
        assert_eq!(paths.lookup(id, b"ab", 2).map(|d| d.path.clone()), Some(b"/docker/abc".to_vec()));
        assert_eq!(paths.lookup(id, b"ab", 3), None, "a different name is a different cgroup");
        let newer = root.join("docker").join("def");
        std::fs::create_dir(&newer).unwrap();
        std::fs::remove_dir(&leaf).unwrap();
        std::thread::sleep(MIN_WALK_INTERVAL);
        assert_eq!(path(&mut paths, ino(&newer), b"def"), Some(b"/docker/def".to_vec()));
        assert_eq!(path(&mut paths, id, b"abc"), Some(b"/docker/abc".to_vec()), "removed, still known");
        // Its inode reused by a cgroup of another name (tmpfs reuses at
        // once, cgroupfs before 5.5 may): the old path is not given for it.
        let reused = root.join("docker").join("ghi");
        std::fs::create_dir(&reused).unwrap();
        if ino(&reused) == id {
            std::thread::sleep(MIN_WALK_INTERVAL);
            assert_eq!(path(&mut paths, id, b"ghi"), Some(b"/docker/ghi".to_vec()));
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn an_unknown_id_walks_at_most_once_an_interval() {
        let root = std::env::temp_dir().join(format!("tcpconnect-cgpaths-rate-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        let mut paths = CgroupPaths::new(root.clone());
        assert!(paths.lookup(u64::MAX, b"late", 111).is_none());
        let late = root.join("late");
        std::fs::create_dir(&late).unwrap();
        // Within the interval: no second walk, so not found yet.
        let walked = paths.last_walk.unwrap();
        let found = paths.lookup(ino(&late), b"late", 111).is_some();
        if walked.elapsed() < MIN_WALK_INTERVAL {
            assert!(!found, "walked again within the interval");
        }
        std::thread::sleep(MIN_WALK_INTERVAL);
        assert!(paths.lookup(ino(&late), b"late", 111).is_some());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
