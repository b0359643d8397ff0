//! The members the programs follow from the current task to its
//! namespaces, and from a file descriptor to its socket. They lie deep in
//! structs whose layout moves with every kernel and config, and no connect
//! of ours can reveal them, so they come from BTF only: --mntnsmap and -d
//! in the kernel need it (-d falls back to its packet socket without).

use crate::btf::{Btf, BtfError};

/// The members --mntnsmap follows from the current task: task_struct.nsproxy,
/// nsproxy.mnt_ns, mnt_namespace.ns.inum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MntnsOffsets {
    pub task_nsproxy: u32,
    pub nsproxy_mnt_ns: u32,
    pub mnt_ns_inum: u32,
}

/// -d in the kernel: the members from the current task to its network
/// namespace inode (task_struct.nsproxy, nsproxy.net_ns, net.ns.inum), which
/// keys the DNS cache on both the answer and the connect; and from a file
/// descriptor to the socket behind it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DnsOffsets {
    pub task_nsproxy: u32,
    pub nsproxy_net_ns: u32,
    pub net_inum: u32,
    /// sock_common.skc_net's `net`, for the cgroup_skb program, which finds
    /// the namespace from the receiving socket; None where the kernel has no
    /// network namespaces (CONFIG_NET_NS off: possible_net_t is empty).
    pub sock_net: Option<u32>,
    pub fd: FdOffsets,
    pub queue: QueueOffsets,
}

/// Where a UDP socket's next datagram waits, and its source port: sock's
/// sk_protocol and sk_receive_queue (its first skb), udp_sock's
/// reader_queue (the same), sk_buff's head and transport_header. With them
/// the source of an answer is read from kernel memory, never from the
/// reader's own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueOffsets {
    pub sock_protocol: u32,
    /// The bits of a u16 load at `sock_protocol` that are sk_protocol: a
    /// u16 since 5.6, a byte of a bitfield before.
    pub sock_protocol_mask: u32,
    pub sock_receive_queue: u32,
    pub udp_reader_queue: u32,
    pub skb_head: u32,
    pub skb_transport_header: u32,
}

/// task_struct.files, files_struct.fdt, fdtable.fd and .max_fds, file.f_inode
/// and .private_data, inode.i_mode, socket.sk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FdOffsets {
    pub task_files: u32,
    pub files_fdt: u32,
    pub fdt_fd: u32,
    pub fdt_max_fds: u32,
    pub file_f_inode: u32,
    pub file_private_data: u32,
    pub inode_i_mode: u32,
    pub socket_sk: u32,
}

/// --mntnsmap's members, from BTF.
pub fn mntns_from_btf(btf: &Btf) -> Result<MntnsOffsets, BtfError> {
    let offset = |ty: &str, path: &[&str]| btf.member_offset(ty, path).map(|m| m.offset);
    Ok(MntnsOffsets {
        task_nsproxy: offset("task_struct", &["nsproxy"])?,
        nsproxy_mnt_ns: offset("nsproxy", &["mnt_ns"])?,
        mnt_ns_inum: offset("mnt_namespace", &["ns", "inum"])?,
    })
}

/// -d's members, from BTF, each with the size the program reads it at.
pub fn dns_from_btf(btf: &Btf) -> Result<DnsOffsets, BtfError> {
    let member = |ty: &str, path: &[&str], size: u32| btf.member_of_size(ty, path, size);
    let fd = FdOffsets {
        task_files: member("task_struct", &["files"], 8)?,
        files_fdt: member("files_struct", &["fdt"], 8)?,
        fdt_fd: member("fdtable", &["fd"], 8)?,
        fdt_max_fds: member("fdtable", &["max_fds"], 4)?,
        file_f_inode: member("file", &["f_inode"], 8)?,
        file_private_data: member("file", &["private_data"], 8)?,
        inode_i_mode: member("inode", &["i_mode"], 2)?,
        socket_sk: member("socket", &["sk"], 8)?,
    };
    let (sock_protocol, protocol_bits) = btf.small_member("sock", "sk_protocol")?;
    let queue = QueueOffsets {
        sock_protocol,
        sock_protocol_mask: (1 << protocol_bits) - 1,
        sock_receive_queue: member("sock", &["sk_receive_queue", "next"], 8)?,
        udp_reader_queue: member("udp_sock", &["reader_queue", "next"], 8)?,
        skb_head: member("sk_buff", &["head"], 8)?,
        skb_transport_header: member("sk_buff", &["transport_header"], 2)?,
    };
    Ok(DnsOffsets {
        task_nsproxy: member("task_struct", &["nsproxy"], 8)?,
        nsproxy_net_ns: member("nsproxy", &["net_ns"], 8)?,
        net_inum: member("net", &["ns", "inum"], 4)?,
        sock_net: member("sock_common", &["skc_net", "net"], 8).ok(),
        fd,
        queue,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_offsets_from_this_kernels_btf_are_inside_their_structs() {
        let Ok(btf) = Btf::load_vmlinux() else {
            eprintln!("skipping: no /sys/kernel/btf/vmlinux");
            return;
        };
        let offsets = dns_from_btf(&btf).expect("the DNS programs' members");
        let size = |ty: &str| btf.member_offset(ty, &[]).unwrap().size;
        assert!(offsets.task_nsproxy < size("task_struct"));
        assert!(offsets.nsproxy_net_ns < size("nsproxy"));
        assert!(offsets.net_inum < size("net"));
        assert!(offsets.fd.socket_sk < size("socket") && offsets.fd.inode_i_mode < size("inode"));
        assert!(offsets.fd.fdt_fd < size("fdtable") && offsets.fd.file_f_inode < size("file"));
        let queue = offsets.queue;
        assert!(queue.sock_receive_queue < size("sock") && queue.udp_reader_queue < size("udp_sock"));
        assert!(queue.udp_reader_queue >= size("sock"), "udp_sock begins with its sock: {queue:?}");
        assert!(queue.skb_head < size("sk_buff") && queue.skb_transport_header < size("sk_buff"));
        let mntns = mntns_from_btf(&btf).expect("--mntnsmap's members");
        assert_eq!(mntns.task_nsproxy, offsets.task_nsproxy);
        assert!(mntns.nsproxy_mnt_ns < size("nsproxy") && mntns.mnt_ns_inum < size("mnt_namespace"));
    }
}
