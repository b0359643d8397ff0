//! --ppid and --container: where the current task keeps its parent and its
//! cgroups, and where a cgroup keeps its kernfs node's id and name. These
//! lie in structs whose layout moves with every kernel and config, and no
//! connect of ours can reveal them, so they come from BTF only.
//!
//! task_struct.real_parent -> task_struct.tgid, and .group_leader -> .comm
//! (the parent, not the ptracer `parent`; the process's name, not the
//! forking thread's); task_struct.cgroups (struct css_set) ->
//! .subsys[controller] (struct cgroup_subsys_state) -> .cgroup on a v1
//! hierarchy, or -> .dfl_cgrp on v2; struct cgroup.kn (struct kernfs_node)
//! -> .id, .name, .parent (its name too) and .iattr (-> the owner's uid,
//! where it is not root). The controller's index in subsys[] is its value in
//! enum cgroup_subsys_id, which moves with the config too.

use crate::btf::{Btf, BtfError};
use crate::host::cgroup_hierarchy::Hierarchy;

/// task_struct.real_parent, .group_leader, .tgid and .comm: the parent is
/// the thread that forked, and its process's name its group leader's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParentOffsets {
    pub real_parent: u32,
    pub group_leader: u32,
    pub tgid: u32,
    pub comm: u32,
}

/// From the current task to its cgroup's kernfs node in one hierarchy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CgroupOffsets {
    pub task_cgroups: u32,
    /// In struct css_set: subsys[controller] (v1) or dfl_cgrp (v2).
    pub css_set_cgroup: u32,
    /// v1: what css_set_cgroup points to is a cgroup_subsys_state, whose
    /// `cgroup` (at css_cgroup) is the cgroup.
    pub via_css: bool,
    pub css_cgroup: u32,
    pub cgroup_kn: u32,
    /// kernfs_node.id: a u64 since 5.5, a union of the same size before.
    pub kn_id: u32,
    pub kn_name: u32,
    pub kn_parent: u32,
    /// kernfs_node.iattr, and the owner's uid in struct kernfs_iattrs
    /// (`ia_uid` since 5.1, `ia_iattr.ia_uid` before).
    pub kn_iattr: u32,
    pub iattrs_uid: u32,
}

/// The parent's members, from BTF.
pub fn parent_from_btf(btf: &Btf) -> Result<ParentOffsets, BtfError> {
    let task = |member: &str, size| btf.member_of_size("task_struct", &[member], size);
    Ok(ParentOffsets {
        real_parent: task("real_parent", 8)?,
        group_leader: task("group_leader", 8)?,
        tgid: task("tgid", 4)?,
        comm: task("comm", 16)?,
    })
}

/// The members from the current task to its cgroup in `hierarchy`, from BTF.
pub fn cgroup_from_btf(btf: &Btf, hierarchy: &Hierarchy) -> Result<CgroupOffsets, BtfError> {
    let (css_set_cgroup, via_css) = match hierarchy.subsys_name() {
        Some(name) => {
            let enumerator = format!("{name}_cgrp_id");
            let ssid = btf.enum_value("cgroup_subsys_id", &enumerator)?;
            let subsys = btf.member_offset("css_set", &["subsys"])?;
            // subsys[] holds one pointer per controller built in.
            let slot = u32::try_from(ssid)
                .ok()
                .and_then(|i| i.checked_mul(8))
                .filter(|&at| at + 8 <= subsys.size)
                .ok_or_else(|| {
                    BtfError::Unexpected(format!(
                        "{enumerator} = {ssid} lies past css_set.subsys ({} bytes)",
                        subsys.size
                    ))
                })?;
            (subsys.offset + slot, true)
        }
        None => (btf.member_of_size("css_set", &["dfl_cgrp"], 8)?, false),
    };
    Ok(CgroupOffsets {
        task_cgroups: btf.member_of_size("task_struct", &["cgroups"], 8)?,
        css_set_cgroup,
        via_css,
        css_cgroup: btf.member_of_size("cgroup_subsys_state", &["cgroup"], 8)?,
        cgroup_kn: btf.member_of_size("cgroup", &["kn"], 8)?,
        kn_id: btf.member_of_size("kernfs_node", &["id"], 8)?,
        kn_name: btf.member_of_size("kernfs_node", &["name"], 8)?,
        // `__parent` since 6.15, which reads it under RCU.
        kn_parent: btf
            .member_of_size("kernfs_node", &["parent"], 8)
            .or_else(|_| btf.member_of_size("kernfs_node", &["__parent"], 8))?,
        kn_iattr: btf.member_of_size("kernfs_node", &["iattr"], 8)?,
        iattrs_uid: btf
            .member_of_size("kernfs_iattrs", &["ia_uid"], 4)
            .or_else(|_| btf.member_of_size("kernfs_iattrs", &["ia_iattr", "ia_uid"], 4))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This kernel has them all; the v1 slot is the controller's.
    #[test]
    fn this_kernels_identity_layout_is_found() {
        let btf = match Btf::load_vmlinux() {
            Ok(btf) => btf,
            Err(e) => return eprintln!("skipped: {e}"),
        };
        let parent = parent_from_btf(&btf).unwrap();
        assert_eq!(parent.comm, btf.member_offset("task_struct", &["comm"]).unwrap().offset);
        let pids = Hierarchy::V1 { controller: "pids", mount_point: "/x".into() };
        let v1 = cgroup_from_btf(&btf, &pids).unwrap();
        let subsys = btf.member_offset("css_set", &["subsys"]).unwrap().offset;
        let ssid = btf.enum_value("cgroup_subsys_id", "pids_cgrp_id").unwrap() as u32;
        assert_eq!((v1.css_set_cgroup, v1.via_css), (subsys + 8 * ssid, true));
        let v2 = cgroup_from_btf(&btf, &Hierarchy::V2 { mount_point: "/x".into() }).unwrap();
        assert_eq!(v2.css_set_cgroup, btf.member_offset("css_set", &["dfl_cgrp"]).unwrap().offset);
        assert!(!v2.via_css);
    }

    #[test]
    fn a_controller_past_the_array_is_refused() {
        let mut b = crate::btf::tests::Builder::new();
        let ptr = b.int("long", 8, 64);
        b.enumeration("cgroup_subsys_id", false, &[("pids_cgrp_id", 3)]);
        // subsys[2]: room for ids 0 and 1 only.
        let array_bytes = 16;
        b.structure("css_set", array_bytes, &[("subsys", ptr, 0)]);
        let btf = Btf::parse(&b.build()).unwrap();
        let pids = Hierarchy::V1 { controller: "pids", mount_point: "/x".into() };
        let err = cgroup_from_btf(&btf, &pids).unwrap_err().to_string();
        assert!(err.contains("pids_cgrp_id = 3 lies past css_set.subsys"), "{err}");
    }
}
