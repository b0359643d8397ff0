//! Facts about the machine we run on, read once where they are needed and
//! never changed: the kernel's version (`kernel`), lockdown (`lockdown`),
//! the CPU lists (`cpus`), kernel symbols (`kallsyms`) and the register
//! layout of this architecture (`arch`).

pub mod arch;
pub mod cpus;
pub mod kallsyms;
pub mod kernel;
pub mod lockdown;
