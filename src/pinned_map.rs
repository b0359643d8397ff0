//! --cgroupmap / --mntnsmap: a hash map the user created and pinned in a bpf
//! filesystem (bcc's convention: keys are u64 cgroup ids or mount namespace
//! inode numbers, values anything). It is checked before use, so a wrong
//! path fails with a message instead of a verifier log.

use crate::escape::escaped;
use crate::sys::bpf::{bpf_obj_get, Map};
use crate::sys::SysError;
use std::ffi::CString;
use std::fmt;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// BPF_MAP_TYPE_HASH and BPF_MAP_TYPE_LRU_HASH.
const HASH_TYPES: [u32; 2] = [1, 9];
const KEY_SIZE: u32 = 8;

#[derive(Debug)]
pub struct PinnedMapError {
    pub option: &'static str,
    pub path: PathBuf,
    pub reason: String,
}

impl fmt::Display for PinnedMapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.option, escaped(&self.path.display().to_string()), self.reason)
    }
}

impl std::error::Error for PinnedMapError {}

/// What /proc/self/fdinfo says about a BPF fd: map type and key size, or
/// the kind of object it is instead.
fn describe_fdinfo(text: &str) -> Result<(u32, u32), String> {
    let field = |name: &str| text.lines().find_map(|l| l.strip_prefix(name)?.trim().parse::<u32>().ok());
    match (field("map_type:"), field("key_size:")) {
        (Some(map_type), Some(key_size)) => Ok((map_type, key_size)),
        _ if text.contains("prog_type:") => Err("is a pinned BPF program, not a map".into()),
        _ => Err("is not a BPF map".into()),
    }
}

/// Checks the map type and key size.
fn check(map_type: u32, key_size: u32) -> Result<(), String> {
    if !HASH_TYPES.contains(&map_type) {
        return Err(format!("is a BPF map of type {map_type}, not a hash map (type 1)"));
    }
    if key_size != KEY_SIZE {
        return Err(format!("has {key_size}-byte keys; it needs 8-byte (u64) keys"));
    }
    Ok(())
}

/// True when `path` lies under a mount of the bpf filesystem.
fn on_bpf_filesystem(path: &Path) -> bool {
    let Ok(path) = path.canonicalize() else {
        return false;
    };
    crate::host::mountinfo::mounts()
        .iter()
        .any(|mount| mount.fs_type == "bpf" && path.starts_with(&mount.mount_point))
}

/// Opens the map pinned at `path` for `option` and checks it.
pub fn open(option: &'static str, path: &Path) -> Result<Map, PinnedMapError> {
    let error = |reason: String| PinnedMapError { option, path: path.to_owned(), reason };
    let c_path =
        CString::new(path.as_os_str().as_bytes()).map_err(|_| error("contains a NUL byte".into()))?;
    let fd = bpf_obj_get(&c_path).map_err(|e: SysError| {
        error(match e.errno() {
            libc::ENOENT => "no such file".into(),
            libc::EINVAL | libc::EPERM | libc::EACCES if path.is_file() && !on_bpf_filesystem(path) => {
                "is not a pinned BPF object (not in a bpf filesystem)".into()
            }
            _ => format!("cannot open it as a pinned BPF object ({e})"),
        })
    })?;
    let fdinfo = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))
        .map_err(|e| error(format!("cannot read its fdinfo: {e}")))?;
    let (map_type, key_size) = describe_fdinfo(&fdinfo).map_err(error)?;
    check(map_type, key_size).map_err(error)?;
    Map::from_fd(fd).map_err(|e| error(format!("cannot read its key and value sizes ({e})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fdinfo_tells_maps_from_programs() {
        let map = "pos:\t0\nflags:\t02000002\nmnt_id:\t15\nmap_type:\t1\nkey_size:\t8\nvalue_size:\t1\n";
        assert_eq!(describe_fdinfo(map), Ok((1, 8)));
        let prog = "pos:\t0\nprog_type:\t5\nprog_jited:\t1\n";
        assert_eq!(describe_fdinfo(prog), Err("is a pinned BPF program, not a map".into()));
        assert_eq!(describe_fdinfo("pos:\t0\n"), Err("is not a BPF map".into()));
    }

    #[test]
    fn only_u64_hash_maps_pass() {
        assert_eq!(check(1, 8), Ok(()));
        assert_eq!(check(9, 8), Ok(()));
        assert_eq!(check(2, 8), Err("is a BPF map of type 2, not a hash map (type 1)".into()));
        assert_eq!(check(1, 4), Err("has 4-byte keys; it needs 8-byte (u64) keys".into()));
    }
}
