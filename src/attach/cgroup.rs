//! Programs on a cgroup (5.7+ for links): BPF_LINK_CREATE attaches a
//! program to a cgroup v2 directory beside whatever other programs are
//! there, for as long as the link fd is open. A run killed by SIGKILL
//! leaves nothing attached: its fds close and the kernel detaches.

use crate::sys::bpf::bpf_link_create_cgroup;
use crate::sys::SysResult;
use crate::uapi::BPF_CGROUP_INET_INGRESS;
use std::os::fd::{BorrowedFd, OwnedFd};

/// A program attached to a cgroup; dropping it closes the link, which
/// detaches the program.
pub struct CgroupLink {
    _fd: OwnedFd,
}

/// Attaches `prog` (BPF_PROG_TYPE_CGROUP_SKB) to the packets every socket in
/// cgroup `cgroup` and below it receives.
pub fn attach_cgroup_ingress(prog: BorrowedFd<'_>, cgroup: BorrowedFd<'_>) -> SysResult<CgroupLink> {
    Ok(CgroupLink { _fd: bpf_link_create_cgroup(prog, cgroup, BPF_CGROUP_INET_INGRESS)? })
}
