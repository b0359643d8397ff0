//! What the kprobe programs need to know about the CPU they run on: where
//! struct pt_regs keeps the first function argument and the return value
//! (arch/*/include/asm/ptrace.h, the layout BPF kprobe programs see).

/// Byte offsets inside struct pt_regs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PtRegs {
    /// The first argument of the probed function (`struct sock *sk`).
    pub arg1: u16,
    /// The second argument (tcp_set_state's new state).
    pub arg2: u16,
    /// The return value, read by the kretprobe.
    pub rc: u16,
}

/// x86_64: r15 r14 r13 r12 bp bx r11 r10 r9 r8 ax cx dx si di ...; the first
/// argument is in di, the second in si, the return value in ax.
#[cfg(target_arch = "x86_64")]
pub const PT_REGS: PtRegs = PtRegs { arg1: 14 * 8, arg2: 13 * 8, rc: 10 * 8 };

/// arm64 (struct user_pt_regs first): regs[0] holds both the first argument
/// and the return value, regs[1] the second argument.
#[cfg(target_arch = "aarch64")]
pub const PT_REGS: PtRegs = PtRegs { arg1: 0, arg2: 8, rc: 0 };

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("tcpconnect knows struct pt_regs for x86_64 and aarch64 only");

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn x86_64_offsets_match_the_user_regs_struct() {
        // user_regs_struct (what ptrace and core dumps use) has the same
        // leading layout as the kernel's pt_regs.
        assert_eq!(std::mem::offset_of!(libc::user_regs_struct, rdi), super::PT_REGS.arg1 as usize);
        assert_eq!(std::mem::offset_of!(libc::user_regs_struct, rsi), super::PT_REGS.arg2 as usize);
        assert_eq!(std::mem::offset_of!(libc::user_regs_struct, rax), super::PT_REGS.rc as usize);
    }
}
