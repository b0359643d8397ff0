//! Reading a runtime's file on the host so that only root could have put
//! its bytes there. The paths are built from ids a cgroup name gave, under
//! directories (`/run`, `/var/lib`) where a symlink or a file planted by a
//! user would make us print what they chose as someone's container.
//!
//! Every directory from the host root down to the file must be a real
//! directory (never a symlink), owned by root and writable by no one else:
//! then no one but root can swap anything on the way between our checks and
//! our open, and the check cannot race. The file itself is opened with
//! `O_NOFOLLOW` (a symlink fails with ELOOP) and `O_NONBLOCK` (a FIFO does
//! not hang us), and checked on the opened descriptor: a regular file, root's,
//! writable by no one else, no larger than the caller's cap.
//!
//! Cost of being strict: a data root moved with a symlink (`/var/lib/docker`
//! → `/srv/docker`) is not followed, nor is the runtimes' own setting for it
//! (dockerd's `data-root`) read; those containers get their id and no name.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Why a file was not read.
#[derive(Debug)]
pub(crate) enum HostFileError {
    /// The file or a directory on the way is not there.
    Missing,
    /// Something on the way is not what only root could have made.
    Untrusted {
        path: PathBuf,
        why: &'static str,
    },
    /// The file is larger than the cap for its kind.
    TooLarge {
        path: PathBuf,
        cap: u64,
    },
    Io {
        path: PathBuf,
        error: io::Error,
    },
}

impl fmt::Display for HostFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostFileError::Missing => write!(f, "not there"),
            HostFileError::Untrusted { path, why } => write!(f, "{}: {why}", path.display()),
            HostFileError::TooLarge { path, cap } => write!(f, "{}: larger than {cap} bytes", path.display()),
            HostFileError::Io { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

/// The host's filesystem as seen from `root`, trusting what `owner` (root,
/// uid 0, outside tests) made.
#[derive(Debug, Clone)]
pub(crate) struct HostFs {
    root: PathBuf,
    owner: u32,
}

impl HostFs {
    pub(crate) fn new(root: PathBuf, owner: u32) -> HostFs {
        HostFs { root, owner }
    }

    /// The file at `parts` below the root, each part one path element (the
    /// caller has checked those made from ids: no '/', not `.` or `..`).
    pub(crate) fn read(&self, parts: &[&[u8]], cap: u64) -> Result<Vec<u8>, HostFileError> {
        let (file, dirs) = parts.split_last().ok_or(HostFileError::Missing)?;
        let mut path = self.root.clone();
        self.check_dir(&path)?;
        for part in dirs {
            path.push(element(part, &path)?);
            self.check_dir(&path)?;
        }
        path.push(element(file, &path)?);
        self.read_file(&path, cap)
    }

    fn check_dir(&self, path: &Path) -> Result<(), HostFileError> {
        let meta = std::fs::symlink_metadata(path).map_err(|error| io_error(path, error))?;
        let why = if meta.file_type().is_symlink() {
            "a symlink"
        } else if !meta.is_dir() {
            "not a directory"
        } else if meta.uid() != self.owner {
            "not root's"
        } else if meta.mode() & 0o022 != 0 {
            "writable by others than root"
        } else {
            return Ok(());
        };
        Err(HostFileError::Untrusted { path: path.to_path_buf(), why })
    }

    fn read_file(&self, path: &Path, cap: u64) -> Result<Vec<u8>, HostFileError> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
            .map_err(|error| match error.raw_os_error() {
                Some(libc::ELOOP) => HostFileError::Untrusted { path: path.to_path_buf(), why: "a symlink" },
                _ => io_error(path, error),
            })?;
        let meta = file.metadata().map_err(|error| io_error(path, error))?;
        let why = if !meta.is_file() {
            "not a regular file"
        } else if meta.uid() != self.owner {
            "not root's"
        } else if meta.mode() & 0o022 != 0 {
            "writable by others than root"
        } else if meta.len() > cap {
            return Err(HostFileError::TooLarge { path: path.to_path_buf(), cap });
        } else {
            return read_capped(file, path, cap);
        };
        Err(HostFileError::Untrusted { path: path.to_path_buf(), why })
    }
}

/// One path element from bytes: never empty, `.`, `..` or holding a '/'
/// or NUL (ids are checked before, this is the last line).
fn element<'a>(part: &'a [u8], at: &Path) -> Result<&'a std::ffi::OsStr, HostFileError> {
    if part.is_empty() || part == b"." || part == b".." || part.iter().any(|&b| b == b'/' || b == 0) {
        return Err(HostFileError::Untrusted { path: at.to_path_buf(), why: "a bad path element" });
    }
    Ok(std::ffi::OsStr::from_bytes(part))
}

/// The file's bytes, at most `cap` of them: it may have grown since fstat.
fn read_capped(file: File, path: &Path, cap: u64) -> Result<Vec<u8>, HostFileError> {
    let mut bytes = Vec::new();
    file.take(cap.saturating_add(1)).read_to_end(&mut bytes).map_err(|error| io_error(path, error))?;
    if bytes.len() as u64 > cap {
        return Err(HostFileError::TooLarge { path: path.to_path_buf(), cap });
    }
    Ok(bytes)
}

fn io_error(path: &Path, error: io::Error) -> HostFileError {
    match error.kind() {
        io::ErrorKind::NotFound => HostFileError::Missing,
        _ => HostFileError::Io { path: path.to_path_buf(), error },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, PermissionsExt};

    /// A root with `a/b/f` (0644 in 0755 directories), trusting its owner.
    fn host(name: &str) -> (PathBuf, HostFs) {
        let root = std::env::temp_dir().join(format!("tcpconnect-hostfile-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("a/b")).unwrap();
        for dir in [&root, &root.join("a"), &root.join("a/b")] {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
        }
        fs::write(root.join("a/b/f"), b"{}").unwrap();
        fs::set_permissions(root.join("a/b/f"), fs::Permissions::from_mode(0o644)).unwrap();
        let owner = fs::metadata(&root).unwrap().uid();
        (root.clone(), HostFs::new(root, owner))
    }

    fn why(result: Result<Vec<u8>, HostFileError>) -> String {
        match result {
            Ok(bytes) => format!("read {} bytes", bytes.len()),
            Err(HostFileError::Untrusted { why, .. }) => why.to_owned(),
            Err(HostFileError::TooLarge { cap, .. }) => format!("over {cap}"),
            Err(HostFileError::Missing) => "missing".to_owned(),
            Err(HostFileError::Io { error, .. }) => error.to_string(),
        }
    }

    #[test]
    fn reads_only_what_its_owner_alone_could_write() {
        let (root, fs_) = host("owner");
        let read = |parts: &[&[u8]], cap| why(fs_.read(parts, cap));
        assert_eq!(read(&[b"a", b"b", b"f"], 2), "read 2 bytes");
        assert_eq!(read(&[b"a", b"b", b"f"], 1), "over 1");
        assert_eq!(read(&[b"a", b"b", b"g"], 9), "missing");
        assert_eq!(read(&[b"a", b"..", b"a", b"b", b"f"], 9), "a bad path element");
        assert_eq!(read(&[b"a", b"b/f"], 9), "a bad path element");
        assert_eq!(read(&[b"a", b"b"], 9), "not a regular file");

        symlink(root.join("a/b/f"), root.join("a/b/link")).unwrap();
        assert_eq!(read(&[b"a", b"b", b"link"], 9), "a symlink");
        symlink(root.join("a/b"), root.join("a/dirlink")).unwrap();
        assert_eq!(read(&[b"a", b"dirlink", b"f"], 9), "a symlink");

        fs::set_permissions(root.join("a/b/f"), fs::Permissions::from_mode(0o664)).unwrap();
        assert_eq!(read(&[b"a", b"b", b"f"], 9), "writable by others than root");
        fs::set_permissions(root.join("a/b/f"), fs::Permissions::from_mode(0o644)).unwrap();
        fs::set_permissions(root.join("a"), fs::Permissions::from_mode(0o757)).unwrap();
        assert_eq!(read(&[b"a", b"b", b"f"], 9), "writable by others than root");
        fs::set_permissions(root.join("a"), fs::Permissions::from_mode(0o755)).unwrap();

        let stranger = HostFs::new(root.clone(), fs_.owner.wrapping_add(1));
        assert_eq!(why(stranger.read(&[b"a", b"b", b"f"], 9)), "not root's");
        let _ = fs::remove_dir_all(&root);
    }
}
