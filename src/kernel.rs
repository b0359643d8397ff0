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

/// Kernels before 5.11 charge BPF maps and programs to RLIMIT_MEMLOCK
/// (memcg accounting replaced it in 5.11).
pub const MEMCG_ACCOUNTING: KernelVersion = KernelVersion::new(5, 11, 0);

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
        assert!(V::new(5, 10, 200) < super::MEMCG_ACCOUNTING);
    }
}
