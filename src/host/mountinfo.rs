//! The mounts of our mount namespace, from /proc/self/mountinfo (kernel
//! text; mount points a user chose are escaped there, and unescaped here).

use std::path::PathBuf;

/// One line of mountinfo: what the mount shows of its filesystem, where,
/// and the filesystem's type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// The directory of the filesystem mounted ("/" for its root; a bind
    /// mount or a cgroup namespace's mount shows a subtree).
    pub root: String,
    pub mount_point: PathBuf,
    pub fs_type: String,
    /// The filesystem's own options, after its source: a cgroup v1
    /// hierarchy lists its controllers there ("rw,cpu,cpuacct").
    pub super_options: String,
}

/// This process's mounts; none where mountinfo cannot be read.
pub fn mounts() -> Vec<Mount> {
    parse(&std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
}

/// The mounts of mountinfo text `mountinfo`; lines that are not one are
/// skipped.
pub fn parse(mountinfo: &str) -> Vec<Mount> {
    mountinfo
        .lines()
        .filter_map(|line| {
            // "36 35 0:10 / /sys/kernel/tracing rw,... - tracefs nodev rw"
            let (left, right) = line.split_once(" - ")?;
            let mut fields = left.split(' ').skip(3);
            let root = unescape(fields.next()?);
            let mount_point = PathBuf::from(unescape(fields.next()?));
            let mut right = right.split(' ');
            let fs_type = right.next()?.to_owned();
            let super_options = right.nth(1).unwrap_or_default().to_owned();
            Some(Mount { root, mount_point, fs_type, super_options })
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4].iter().all(|b| (b'0'..=b'7').contains(b))
        {
            let v = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_give_root_mount_point_and_type_unescaped() {
        let info = "22 1 0:21 / /sys rw,nosuid - sysfs sysfs rw\n\
                    41 31 0:38 /user.slice /mnt/my\\040cg rw,relatime - cgroup2 cgroup2 rw\n\
                    garbage line\n";
        assert_eq!(
            parse(info),
            vec![
                Mount {
                    root: "/".into(),
                    mount_point: "/sys".into(),
                    fs_type: "sysfs".into(),
                    super_options: "rw".into()
                },
                Mount {
                    root: "/user.slice".into(),
                    mount_point: "/mnt/my cg".into(),
                    fs_type: "cgroup2".into(),
                    super_options: "rw".into()
                },
            ]
        );
    }
}
