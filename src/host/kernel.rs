//! The running kernel's version, from uname's release string. Used where a
//! feature cannot be probed cheaply (memory accounting of BPF objects).

/// major.minor.patch of the running kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl KernelVersion {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        KernelVersion { major, minor, patch }
    }

    /// Parses the leading "X.Y[.Z]" of a release string such as
    /// "5.4.0-150-generic", "4.19.0-27-amd64" or "6.18.44-fc-v595"; distro
    /// suffixes after the numbers are ignored.
    pub fn parse_release(release: &str) -> Option<KernelVersion> {
        let numeric_prefix = |s: &str| -> Option<u32> {
            let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
            s[..end].parse().ok()
        };
        let mut parts = release.trim().splitn(3, '.');
        let major = numeric_prefix(parts.next()?)?;
        let minor = numeric_prefix(parts.next()?)?;
        let patch = parts.next().and_then(numeric_prefix).unwrap_or(0);
        Some(KernelVersion { major, minor, patch })
    }

    /// The running kernel, from /proc/sys/kernel/osrelease (= uname -r).
    pub fn running() -> Option<KernelVersion> {
        std::fs::read_to_string("/proc/sys/kernel/osrelease").ok().as_deref().and_then(Self::parse_release)
    }
}

/// LINUX_VERSION_CODE of the running kernel, which BPF_PROG_LOAD demands in
/// `kern_version` for kprobe programs before 5.0. uname's release is not
/// always it: Ubuntu's "4.15.0-112-generic" is really 4.15.18 (its
/// /proc/version_signature ends with the upstream version), and Debian's
/// "4.19.0-8-amd64" is 4.19.98 ("... SMP Debian 4.19.98-1 ..." in
/// /proc/version). The patch level is clamped to 255, as the kernel's
/// KERNEL_VERSION macro has done since 4.9.256/4.14.256.
pub fn linux_version_code(release: &str, version_signature: Option<&str>, proc_version: &str) -> Option<u32> {
    let ubuntu = version_signature
        .and_then(|s| s.split_ascii_whitespace().last())
        .and_then(KernelVersion::parse_release);
    let debian = proc_version
        .rmatch_indices("Debian ")
        .map(|(i, m)| &proc_version[i + m.len()..])
        .find(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        .and_then(KernelVersion::parse_release)
        // The distro version must be the same major.minor as uname says: the
        // compiler's "(Debian 8.3.0-6)" is also in /proc/version.
        .filter(|v| {
            KernelVersion::parse_release(release).is_some_and(|r| (r.major, r.minor) == (v.major, v.minor))
        });
    let version = ubuntu.or(debian).or_else(|| KernelVersion::parse_release(release))?;
    Some((version.major << 16) | (version.minor << 8) | version.patch.min(255))
}

/// [`linux_version_code`] of the running kernel; 0 when unknown (fine from
/// 5.0 on, where the kernel ignores the field).
pub fn running_version_code() -> u32 {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let release = read("/proc/sys/kernel/osrelease").unwrap_or_default();
    let signature = read("/proc/version_signature");
    let proc_version = read("/proc/version").unwrap_or_default();
    linux_version_code(&release, signature.as_deref(), &proc_version).unwrap_or(0)
}

/// Whether the kernel knows CAP_BPF (upstream 5.8, with CAP_PERFMON; a
/// backport may carry both under an older version), from
/// /proc/sys/kernel/cap_last_cap (3.2+):
/// where it does not, bpf(2) and perf_event_open(2) want CAP_SYS_ADMIN.
/// Unknown counts as no.
pub fn has_cap_bpf() -> bool {
    const CAP_BPF: u32 = 39;
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok())
        .is_some_and(|last| last >= CAP_BPF)
}

/// kernel.perf_event_paranoid. Debian and Ubuntu add a level 3 at which
/// perf_event_open(2) needs CAP_SYS_ADMIN, CAP_PERFMON or not.
pub fn perf_event_paranoid() -> Option<i32> {
    std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid").ok()?.trim().parse().ok()
}

/// The level at which only CAP_SYS_ADMIN may open perf events (Debian's patch).
pub const PERF_PARANOID_SYS_ADMIN_ONLY: i32 = 3;

#[cfg(test)]
mod tests {
    use super::KernelVersion as V;

    #[test]
    fn parses_distro_release_strings() {
        assert_eq!(V::parse_release("5.4.0-150-generic"), Some(V::new(5, 4, 0)));
        assert_eq!(V::parse_release("4.19.0-27-amd64"), Some(V::new(4, 19, 0)));
        assert_eq!(V::parse_release("6.18.44-fc-v595\n"), Some(V::new(6, 18, 44)));
        assert_eq!(V::parse_release("4.14.336"), Some(V::new(4, 14, 336)));
        assert_eq!(V::parse_release("3.10.0-1160.el7.x86_64"), Some(V::new(3, 10, 0)));
        assert_eq!(V::parse_release("6.1"), Some(V::new(6, 1, 0)));
        assert_eq!(V::parse_release("6.1-rc3"), Some(V::new(6, 1, 0)));
        assert_eq!(V::parse_release("garbage"), None);
    }

    #[test]
    fn version_code_follows_the_distribution() {
        use super::linux_version_code as code;
        let debian = "Linux version 4.19.0-8-amd64 (debian-kernel@lists.debian.org) (gcc version 8.3.0 \
                      (Debian 8.3.0-6)) #1 SMP Debian 4.19.98-1 (2020-01-26)";
        assert_eq!(code("4.19.0-8-amd64", None, debian), Some(0x04_13_62));
        let ubuntu_sig = "Ubuntu 4.15.0-112.113-generic 4.15.18\n";
        assert_eq!(code("4.15.0-112-generic", Some(ubuntu_sig), "Linux version 4.15.0"), Some(0x04_0f_12));
        // Patch levels past 255 are clamped.
        assert_eq!(code("4.14.336", None, "Linux version 4.14.336 (gcc 12)"), Some(0x04_0e_ff));
        // A compiler version alone is not the kernel's.
        assert_eq!(
            code("6.1.0-9-cloud-amd64", None, "(gcc (Debian 12.2.0-14) 12.2.0) #1 SMP"),
            Some(0x06_01_00)
        );
        assert_eq!(code("garbage", None, ""), None);
    }
}
