//! Facts about the machine we run on, read once where they are needed and
//! never changed: the kernel's version (`kernel`), lockdown (`lockdown`),
//! the CPU lists (`cpus`), kernel symbols (`kallsyms`), the register
//! layout of this architecture (`arch`), whether BPF maps count
//! against RLIMIT_MEMLOCK (`memlock`, asked of the kernel by a probe), the
//! mounts (`mountinfo`), the root of the cgroup v2 hierarchy
//! (`cgroup_v2`), and for --container the hierarchy that names a task's
//! cgroup (`cgroup_hierarchy`) and its cgroups' paths (`cgroup_paths`),
//! and a process as /proc shows it (`proc_task`, where no BTF lets the
//! programs read it).

pub mod arch;
pub mod cgroup_hierarchy;
pub mod cgroup_paths;
pub mod cgroup_v2;
pub mod cpus;
pub mod kallsyms;
pub mod kernel;
pub mod lockdown;
pub mod memlock;
pub mod mountinfo;
pub mod proc_task;
