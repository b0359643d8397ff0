//! The root of the cgroup v2 hierarchy: -d's cgroup_skb program is attached
//! there, and so runs for every socket of the host, whichever cgroup its
//! process is in (a socket belongs to a cgroup v2 even where v1 controllers
//! are mounted too: hybrid hosts mount v2 at /sys/fs/cgroup/unified).

use super::mountinfo::{self, Mount};
use crate::sys::fs::filesystem_type;
use crate::uapi::CGROUP2_SUPER_MAGIC;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// The hierarchy's root directory, open.
pub struct Root {
    pub path: PathBuf,
    pub dir: OwnedFd,
}

/// Opens the root of the cgroup v2 hierarchy where this mount namespace
/// has it mounted. Inside a cgroup namespace that root is the namespace's,
/// and the program sees its sockets only.
pub fn open_root() -> Result<Root, String> {
    let mounts = mountinfo::mounts();
    let mount = root_mount(&mounts)
        .ok_or_else(|| "no cgroup v2 hierarchy is mounted at its root (/proc/self/mountinfo)".to_owned())?;
    let path = mount.mount_point.clone();
    let shown = crate::escape::escaped(&path.to_string_lossy()).into_owned();
    let dir: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(&path)
        .map_err(|e| format!("cannot open the cgroup v2 root {shown}: {e}"))?
        .into();
    match filesystem_type(dir.as_fd()) {
        Ok(CGROUP2_SUPER_MAGIC) => Ok(Root { path, dir }),
        Ok(_) => Err(format!("{shown} is no longer a cgroup v2 filesystem")),
        Err(e) => Err(format!("cannot check the filesystem of {shown}: {e}")),
    }
}

/// The first mount of a cgroup v2 filesystem that shows its root.
fn root_mount(mounts: &[Mount]) -> Option<&Mount> {
    mounts.iter().find(|m| m.fs_type == "cgroup2" && m.root == "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_is_the_first_cgroup2_mount_of_the_whole_tree() {
        let info = "30 1 0:26 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n\
                    40 1 0:38 /user.slice /mnt/part rw - cgroup2 cgroup2 rw\n\
                    41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
        let mounts = mountinfo::parse(info);
        assert_eq!(root_mount(&mounts).unwrap().mount_point, PathBuf::from("/sys/fs/cgroup/unified"));
        assert!(
            root_mount(&mountinfo::parse("30 1 0:26 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw\n")).is_none()
        );
    }

    #[test]
    fn opens_this_hosts_root_where_one_is_mounted() {
        let mounts = mountinfo::mounts();
        let Some(mount) = root_mount(&mounts) else {
            eprintln!("skipping: no cgroup v2 hierarchy mounted here");
            return;
        };
        let root = open_root().expect("the mounted root opens");
        assert_eq!(root.path, mount.mount_point);
    }
}
