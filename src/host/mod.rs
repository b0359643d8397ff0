//! Facts about the machine we run on, read once where they are needed and
//! never changed: the kernel's version (`kernel`), lockdown (`lockdown`),
//! the CPU lists (`cpus`), kernel symbols (`kallsyms`), the register
//! layout of this architecture (`arch`), whether BPF maps count
//! against RLIMIT_MEMLOCK (`memlock`, asked of the kernel by a probe), and
//! the mounts (`mountinfo`).

pub mod arch;
pub mod cpus;
pub mod kallsyms;
pub mod kernel;
pub mod lockdown;
pub mod memlock;
pub mod mountinfo;
