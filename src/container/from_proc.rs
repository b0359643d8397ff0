//! --ppid and --container where the kernel has no BTF to locate a task's
//! parent or cgroup (RHEL 7 and 8, 4.x kernels): read from /proc when the
//! line is printed, not at the connect. A process gone by then is not
//! named (its columns show 0 and `?`), and a PID reused since the connect
//! must not name the new process's parent or container: a process that
//! started after the connect (by more than a clock tick) is not the one
//! that connected, and the start is read again after the rest, so a reuse
//! while reading is caught too.

use crate::event::{ConnectEvent, COMM_LEN};
use crate::host::cgroup_hierarchy::Hierarchy;
use crate::host::proc_task;

/// What is read from /proc for each event.
#[derive(Clone, Debug)]
pub struct FromProc {
    /// --ppid: the parent and its name.
    pub parent: bool,
    /// --container: the cgroup in this hierarchy.
    pub cgroup: Option<Hierarchy>,
    tick_ns: u64,
}

impl FromProc {
    pub fn new(parent: bool, cgroup: Option<Hierarchy>) -> FromProc {
        FromProc { parent, cgroup, tick_ns: proc_task::tick_ns() }
    }

    /// Adds what /proc says of `event`'s process, if it is still the one
    /// that connected.
    pub fn fill(&self, event: &mut ConnectEvent) {
        let Some(stat) = proc_task::stat(event.pid) else { return };
        if stat.started_ns > event.ts_ns.saturating_add(self.tick_ns) {
            return;
        }
        let pcomm = self.parent.then(|| comm_field(&proc_task::comm(stat.ppid).unwrap_or_default()));
        let path = self.cgroup.as_ref().and_then(|hierarchy| proc_task::cgroup_path(event.pid, hierarchy));
        // Still the same process: nothing above came from another.
        if proc_task::stat(event.pid) != Some(stat) {
            return;
        }
        let identity = event.identity.get_or_insert_with(Box::default);
        if let Some(pcomm) = pcomm {
            identity.ppid = stat.ppid;
            identity.pcomm = pcomm;
        }
        if self.cgroup.is_some() {
            identity.cgroup_path = path;
        }
    }
}

/// A name in a comm's fixed field, cut to it.
fn comm_field(name: &[u8]) -> [u8; COMM_LEN] {
    let mut field = [0u8; COMM_LEN];
    let len = name.len().min(COMM_LEN);
    field[..len].copy_from_slice(&name[..len]);
    field
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event_of(pid: u32, ts_ns: u64) -> ConnectEvent {
        let mut event = ConnectEvent::decode(&[0u8; crate::event::EVENT_SIZE]).unwrap();
        event.pid = pid;
        event.ts_ns = ts_ns;
        event
    }

    #[test]
    fn a_process_that_started_after_the_connect_is_not_named() {
        let me = std::process::id();
        let v2 = Hierarchy::V2 { mount_point: "/sys/fs/cgroup/unified".into() };
        let from_proc = FromProc::new(true, Some(v2));
        // A connect long after we started: us.
        let mut now = event_of(me, u64::MAX / 2);
        from_proc.fill(&mut now);
        let identity = now.identity.expect("named");
        assert_eq!(identity.ppid, std::os::unix::process::parent_id());
        assert!(identity.pcomm_bytes() == proc_task::comm(identity.ppid).unwrap().as_slice());
        // A connect before we started: another process that had our PID.
        let mut before = event_of(me, 0);
        from_proc.fill(&mut before);
        assert_eq!(before.identity, None);
        // Gone: nothing.
        let mut gone = event_of(u32::MAX - 1, u64::MAX / 2);
        from_proc.fill(&mut gone);
        assert_eq!(gone.identity, None);
    }
}
