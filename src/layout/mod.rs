//! Where each kernel field the BPF programs read lives on this kernel, and
//! how we know: one answer for "offset of X in struct Y, of size Z". The
//! kernel's BTF answers first (`btf_source` says where it is read from);
//! where there is none, the fields that a connect of our own can reveal are
//! found by calibration (the BPF side dumps the socket, the search over the
//! dump lives here: `socket::from_dump`, `sk_err::from_dumps`; the connects
//! themselves are made by `tracer::calibrate`). The programs get every
//! offset as a load-time constant (`tracer::constants`), never a guess.
//!
//! - `socket`: struct sock_common's IPv6 addresses, sk_protocol, inet_sport;
//! - `sk_err`: struct sock.sk_err (--result);
//! - `task`: the BTF tracepoint program's task_struct and cred members;
//! - `identity`: the current task's parent and cgroup (--ppid, --container);
//! - `namespaces`: the mount namespace (--mntnsmap), the network namespace
//!   and the socket behind a file descriptor (-d in the kernel).
//!
//! Nothing here touches the kernel but reading the BTF file.

use std::fmt;

pub mod btf_source;
pub mod identity;
pub mod namespaces;
pub mod sk_err;
pub mod socket;
pub mod task;

/// How an offset was found (reported with -v).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Btf,
    Calibration,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Btf => "from BTF",
            Source::Calibration => "by calibration",
        })
    }
}
