//! What the BTF tracepoint program (`tp_btf/inet_sock_set_state`) needs
//! from the kernel's BTF beyond the socket layout the raw tracepoint
//! program uses too: the id of the tracepoint's type, which the program is
//! loaded for, and where struct task_struct and struct cred keep the fields
//! it loads directly instead of asking helpers for them.

use crate::btf::{Btf, BtfError};

/// The type the kernel defines for each tracepoint's BTF program (5.5+).
pub const STATE_TRACEPOINT_TYPE: &str = "btf_trace_inet_sock_set_state";

/// Everything the BTF tracepoint program is loaded with, from BTF.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BtfTracepoint {
    /// The id of STATE_TRACEPOINT_TYPE in the kernel's BTF.
    pub btf_id: u32,
    pub task: TaskOffsets,
}

/// task_struct.tgid, .pid, .comm and .cred, and cred.uid: the process and
/// thread ids, the name and the uid bcc's helpers would give.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskOffsets {
    pub tgid: u32,
    pub pid: u32,
    pub comm: u32,
    pub cred: u32,
    pub cred_uid: u32,
}

/// From the kernel's BTF: fails unless each member is the width the program
/// loads it at.
pub fn from_btf(btf: &Btf) -> Result<BtfTracepoint, BtfError> {
    let task = |member: &str, size| btf.member_of_size("task_struct", &[member], size);
    Ok(BtfTracepoint {
        btf_id: btf.typedef_id(STATE_TRACEPOINT_TYPE)?,
        task: TaskOffsets {
            tgid: task("tgid", 4)?,
            pid: task("pid", 4)?,
            comm: task("comm", 16)?,
            cred: task("cred", 8)?,
            cred_uid: btf.member_of_size("cred", &["uid"], 4)?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btf::VMLINUX_BTF;

    /// This kernel has them all (btf.rs checks the same members against
    /// bpftool's reading of the file).
    #[test]
    fn this_kernels_task_layout_is_found() {
        let btf = match Btf::load_vmlinux() {
            Ok(btf) => btf,
            Err(e) => return eprintln!("skipped: {e}"),
        };
        let found = from_btf(&btf).unwrap();
        assert_eq!(found.btf_id, btf.typedef_id(STATE_TRACEPOINT_TYPE).unwrap());
        // pid and tgid are adjacent pid_t members in every kernel since 2.6.
        assert_eq!(found.task.tgid, found.task.pid + 4, "{found:?}");
        assert_eq!(found.task.comm, btf.member_offset("task_struct", &["comm"]).unwrap().offset);
        assert_eq!(found.task.cred_uid, btf.member_offset("cred", &["uid"]).unwrap().offset);
    }

    #[test]
    fn a_kernel_without_the_tracepoint_type_is_named() {
        let mut b = crate::btf::tests::Builder::new();
        b.int("int", 4, 32);
        let btf = Btf::parse(&b.build()).unwrap();
        assert_eq!(
            from_btf(&btf).unwrap_err().to_string(),
            format!("{VMLINUX_BTF}: no typedef named {STATE_TRACEPOINT_TYPE}")
        );
    }
}
