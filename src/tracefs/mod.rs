//! The tracing filesystem: where it is, mounting it when nobody has, and
//! reading tracepoint ids and formats. All tracefs text handling lives here.

pub mod format;
pub mod kprobe_events;

use crate::escape::escaped;
use crate::host::mountinfo::{self, Mount};
use crate::sys::fs::{mount_tracefs, unshare_private_mount_namespace};
use crate::sys::SysError;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// A usable tracefs. When it is mounted nowhere, we mount it in a private
/// mount namespace of our own: the host's mount table is never changed, and
/// the mount goes away with the process, even on SIGKILL, without racing other
/// instances that might still use it.
#[derive(Debug)]
pub struct Tracefs {
    root: PathBuf,
}

#[derive(Debug)]
pub enum TracefsError {
    /// Neither mounted nor mountable.
    Unavailable {
        tried: PathBuf,
        mount_error: SysError,
    },
    /// The tracepoint does not exist on this kernel.
    NoTracepoint {
        category: String,
        name: String,
    },
    Read {
        path: PathBuf,
        error: io::Error,
    },
    BadId {
        path: PathBuf,
    },
    Write {
        path: PathBuf,
        line: String,
        error: io::Error,
    },
}

impl fmt::Display for TracefsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TracefsError::Unavailable { tried, mount_error } => write!(
                f,
                "tracefs is not mounted and mounting it on {} failed ({mount_error}); mount it with: mount -t tracefs nodev /sys/kernel/tracing",
                escaped(&tried.display().to_string())
            ),
            TracefsError::NoTracepoint { category, name } => {
                write!(f, "this kernel has no tracepoint {category}:{name}")
            }
            TracefsError::Read { path, error } => {
                write!(f, "cannot read {}: {error}", escaped(&path.display().to_string()))
            }
            TracefsError::BadId { path } => {
                write!(f, "{} does not hold a tracepoint id", escaped(&path.display().to_string()))
            }
            TracefsError::Write { path, line, error } => {
                write!(f, "cannot write \"{}\" to {}: {error}", escaped(line), escaped(&path.display().to_string()))
            }
        }
    }
}

impl std::error::Error for TracefsError {}

/// Where tracefs usually is: its own mount point since 4.1, and the old place
/// inside debugfs (which automounts it on kernels that have tracefs).
const WELL_KNOWN: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// A directory is a usable tracefs when it has the events tree.
fn is_tracefs(dir: &Path) -> bool {
    dir.join("events").is_dir()
}

/// Mount points of tracefs (and debugfs + /tracing) from /proc/self/mountinfo,
/// which also finds it in containers where it lives elsewhere.
fn mounted_candidates(mounts: &[Mount]) -> Vec<PathBuf> {
    mounts
        .iter()
        .filter_map(|mount| match mount.fs_type.as_str() {
            "tracefs" => Some(mount.mount_point.clone()),
            "debugfs" => Some(mount.mount_point.join("tracing")),
            _ => None,
        })
        .collect()
}

impl Tracefs {
    /// Finds tracefs, mounting it on /sys/kernel/tracing if it is nowhere.
    pub fn open() -> Result<Tracefs, TracefsError> {
        let mut candidates = mounted_candidates(&mountinfo::mounts());
        candidates.extend(WELL_KNOWN.iter().map(PathBuf::from));
        if let Some(root) = candidates.iter().find(|c| is_tracefs(c)) {
            return Ok(Tracefs { root: root.clone() });
        }
        // Mounted but closed to us (tracefs is root's, mode 0700): say so
        // rather than try to mount another.
        for candidate in &candidates {
            let events = candidate.join("events");
            if let Err(error) = std::fs::read_dir(&events) {
                if error.kind() == io::ErrorKind::PermissionDenied {
                    return Err(TracefsError::Read { path: events, error });
                }
            }
        }
        let target = PathBuf::from(WELL_KNOWN[0]);
        let unavailable = |mount_error| TracefsError::Unavailable { tried: target.clone(), mount_error };
        unshare_private_mount_namespace().map_err(unavailable)?;
        mount_tracefs(&target).map_err(unavailable)?;
        if !is_tracefs(&target) {
            let error =
                SysError { call: "mount(tracefs)", error: io::Error::from_raw_os_error(libc::ENOENT) };
            return Err(unavailable(error));
        }
        Ok(Tracefs { root: target })
    }

    fn event_dir(&self, category: &str, name: &str) -> PathBuf {
        self.root.join("events").join(category).join(name)
    }

    fn read(&self, path: PathBuf, category: &str, name: &str) -> Result<String, TracefsError> {
        std::fs::read_to_string(&path).map_err(|error| {
            if error.kind() == io::ErrorKind::NotFound {
                TracefsError::NoTracepoint { category: category.into(), name: name.into() }
            } else {
                TracefsError::Read { path, error }
            }
        })
    }

    /// Whether tracefs's README (its mini-HOWTO, which lists the syntax the
    /// running kernel accepts) mentions `needle`.
    pub fn readme_mentions(&self, needle: &str) -> bool {
        std::fs::read_to_string(self.root.join("README")).is_ok_and(|text| text.contains(needle))
    }

    /// The perf event id of tracepoint `category:name`.
    pub fn tracepoint_id(&self, category: &str, name: &str) -> Result<u64, TracefsError> {
        let path = self.event_dir(category, name).join("id");
        let text = self.read(path.clone(), category, name)?;
        text.trim().parse().map_err(|_| TracefsError::BadId { path })
    }

    /// The record layout of tracepoint `category:name`.
    pub fn tracepoint_fields(&self, category: &str, name: &str) -> Result<Vec<format::Field>, TracefsError> {
        let text = self.read(self.event_dir(category, name).join("format"), category, name)?;
        Ok(format::parse_fields(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lists_tracefs_and_debugfs_tracing() {
        let info = "22 1 0:21 / /sys rw,nosuid - sysfs sysfs rw\n\
                    36 22 0:10 / /sys/kernel/debug rw - debugfs debugfs rw\n\
                    37 22 0:11 / /mnt/my\\040trace rw - tracefs nodev rw\n\
                    garbage line\n";
        assert_eq!(
            mounted_candidates(&mountinfo::parse(info)),
            vec![PathBuf::from("/sys/kernel/debug/tracing"), PathBuf::from("/mnt/my trace")]
        );
    }
}
