//! A process as /proc shows it now: its parent, when it started, its name
//! and its cgroup in one hierarchy. For --ppid and --container where the
//! kernel has no BTF to read them at the connect: read when the line is
//! printed instead, so a process gone by then is not named, and one whose
//! PID was reused since the connect must not be taken for it (`started_ns`
//! against the connect's time tells them apart).

use super::cgroup_hierarchy::Hierarchy;
use crate::sys::process::clock_ticks_per_second;

/// What /proc/PID/stat says of a process that this module needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskStat {
    pub ppid: u32,
    /// When it started: CLOCK_BOOTTIME ns since 5.3, CLOCK_MONOTONIC before
    /// (equal but for time spent suspended), at clock-tick resolution.
    pub started_ns: u64,
}

/// Clock ticks are this coarse: a process started up to one tick after a
/// time may show a start before it.
pub fn tick_ns() -> u64 {
    1_000_000_000 / clock_ticks_per_second()
}

/// /proc/`pid`/stat's ppid and start time.
pub fn stat(pid: u32) -> Option<TaskStat> {
    parse_stat(&std::fs::read(format!("/proc/{pid}/stat")).ok()?, clock_ticks_per_second())
}

/// Fields after the comm, which may hold any byte but ends at the last ')'.
fn parse_stat(text: &[u8], ticks_per_second: u64) -> Option<TaskStat> {
    let close = text.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(text.get(close + 1..)?).ok()?;
    // state is field 3: after the comm, ppid is the 2nd field, starttime the 20th.
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    let ppid = fields.get(1)?.parse().ok()?;
    let ticks: u64 = fields.get(19)?.parse().ok()?;
    let started_ns = ticks.checked_mul(1_000_000_000)? / ticks_per_second.max(1);
    Some(TaskStat { ppid, started_ns })
}

/// /proc/`pid`/comm, without its newline.
pub fn comm(pid: u32) -> Option<Vec<u8>> {
    let mut comm = std::fs::read(format!("/proc/{pid}/comm")).ok()?;
    if comm.last() == Some(&b'\n') {
        comm.pop();
    }
    Some(comm)
}

/// The path of `pid`'s cgroup in `hierarchy`, from /proc/`pid`/cgroup.
pub fn cgroup_path(pid: u32, hierarchy: &Hierarchy) -> Option<Vec<u8>> {
    cgroup_line_path(&std::fs::read(format!("/proc/{pid}/cgroup")).ok()?, hierarchy)
}

/// "ID:CONTROLLERS:PATH" lines: the v1 hierarchy's by its controller, v2's
/// as "0::PATH". A path is whatever a cgroup's maker named it: only the
/// first ':' of the two separates, and a line ends only at '\n' (the kernel
/// does not escape a '\n' in a cgroup name: then the path is cut there).
fn cgroup_line_path(text: &[u8], hierarchy: &Hierarchy) -> Option<Vec<u8>> {
    let wanted = hierarchy_controller(hierarchy);
    text.split(|&b| b == b'\n').find_map(|line| {
        let mut parts = line.splitn(3, |&b| b == b':');
        let (id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = match wanted {
            Some(controller) => controllers.split(|&b| b == b',').any(|c| c == controller.as_bytes()),
            None => id == b"0" && controllers.is_empty(),
        };
        matches.then(|| path.to_vec())
    })
}

fn hierarchy_controller(hierarchy: &Hierarchy) -> Option<&'static str> {
    match hierarchy {
        Hierarchy::V1 { controller, .. } => Some(controller),
        Hierarchy::V2 { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_found_after_a_hostile_comm() {
        let line = b"4242 (a) b) 1 2 (c) S 77 4242 4242 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 123456 0 0\n";
        let stat = parse_stat(line, 100).unwrap();
        assert_eq!(stat, TaskStat { ppid: 77, started_ns: 1_234_560_000_000 });
        assert_eq!(parse_stat(b"4242 (x) S", 100), None);
        assert_eq!(parse_stat(b"no paren", 100), None);
    }

    #[test]
    fn the_hierarchys_line_gives_the_path_whatever_it_holds() {
        let text = b"12:pids:/docker/abc\n4:memory:/x:y\n1:name=systemd:/s\n0::/unified/path\n";
        let pids = Hierarchy::V1 { controller: "pids", mount_point: "/p".into() };
        let memory = Hierarchy::V1 { controller: "memory", mount_point: "/m".into() };
        let v2 = Hierarchy::V2 { mount_point: "/u".into() };
        assert_eq!(cgroup_line_path(text, &pids), Some(b"/docker/abc".to_vec()));
        assert_eq!(cgroup_line_path(text, &memory), Some(b"/x:y".to_vec()));
        assert_eq!(cgroup_line_path(text, &v2), Some(b"/unified/path".to_vec()));
        let comounted = b"3:cpu,cpuacct:/c\n";
        let cpu = Hierarchy::V1 { controller: "cpuacct", mount_point: "/c".into() };
        assert_eq!(cgroup_line_path(comounted, &cpu), Some(b"/c".to_vec()));
        assert_eq!(cgroup_line_path(b"", &v2), None);
    }

    #[test]
    fn this_process_is_read() {
        let me = std::process::id();
        let stat = stat(me).unwrap();
        assert_eq!(stat.ppid, std::os::unix::process::parent_id());
        assert!(comm(me).is_some());
    }
}
