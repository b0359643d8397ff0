//! CPU lists from sysfs ("0-3,5"): the perf event array is sized to the
//! possible CPUs, rings are opened on the online ones (offline CPUs give ENODEV).

use std::fmt;

#[derive(Debug)]
pub struct CpuListError {
    pub path: &'static str,
    pub detail: String,
}

impl fmt::Display for CpuListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot read the CPU list {}: {}", self.path, self.detail)
    }
}

impl std::error::Error for CpuListError {}

pub const POSSIBLE: &str = "/sys/devices/system/cpu/possible";
pub const ONLINE: &str = "/sys/devices/system/cpu/online";

/// Parses a kernel CPU list like "0-3,5,7-8\n".
pub fn parse_cpu_list(text: &str) -> Option<Vec<u32>> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((lo, hi)) => (lo.parse::<u32>().ok()?, hi.parse::<u32>().ok()?),
            None => {
                let cpu = part.parse::<u32>().ok()?;
                (cpu, cpu)
            }
        };
        // Bounded: no kernel supports more than 8192 CPUs (NR_CPUS max).
        if lo > hi || hi >= 8192 {
            return None;
        }
        cpus.extend(lo..=hi);
    }
    (!cpus.is_empty()).then_some(cpus)
}

/// Reads and parses one of the sysfs CPU lists.
pub fn read_cpu_list(path: &'static str) -> Result<Vec<u32>, CpuListError> {
    let text = std::fs::read_to_string(path).map_err(|e| CpuListError { path, detail: e.to_string() })?;
    parse_cpu_list(&text).ok_or_else(|| CpuListError {
        path,
        detail: format!("unexpected contents \"{}\"", crate::escape::escaped(text.trim())),
    })
}

#[cfg(test)]
mod tests {
    use super::parse_cpu_list;

    #[test]
    fn parses_ranges_and_singles() {
        assert_eq!(parse_cpu_list("0-3,5,7-8\n"), Some(vec![0, 1, 2, 3, 5, 7, 8]));
        assert_eq!(parse_cpu_list("0\n"), Some(vec![0]));
        assert_eq!(parse_cpu_list(""), None);
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("0-99999999"), None);
        assert_eq!(parse_cpu_list("a"), None);
    }
}
