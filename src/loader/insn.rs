//! BPF instructions: the 8-byte `struct bpf_insn`, little-endian on the
//! hosts we run on (x86_64, aarch64).

/// One instruction, as raw little-endian bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn(pub [u8; 8]);

pub const INSN_SIZE: usize = 8;

/// `BPF_LD | BPF_IMM | BPF_DW`: the first half of a 64-bit immediate load.
pub const LD_IMM64: u8 = 0x18;
/// src_reg of a LD_IMM64 whose immediate is a map fd.
pub const BPF_PSEUDO_MAP_FD: u8 = 1;
const BPF_CLASS_MASK: u8 = 0x07;
const BPF_MODE_MASK: u8 = 0xe0;
const BPF_LDX: u8 = 0x01;
const BPF_MEM: u8 = 0x60;
/// `BPF_ALU64 | BPF_MOV | BPF_K`.
const MOV64_IMM: u8 = 0xb7;

impl Insn {
    pub fn code(&self) -> u8 {
        self.0[0]
    }
    pub fn dst_reg(&self) -> u8 {
        self.0[1] & 0x0f
    }
    pub fn src_reg(&self) -> u8 {
        self.0[1] >> 4
    }
    pub fn off(&self) -> i16 {
        i16::from_le_bytes([self.0[2], self.0[3]])
    }
    pub fn imm(&self) -> i32 {
        i32::from_le_bytes([self.0[4], self.0[5], self.0[6], self.0[7]])
    }
    pub fn set_src_reg(&mut self, src: u8) {
        self.0[1] = (self.0[1] & 0x0f) | (src << 4);
    }
    pub fn set_off(&mut self, off: i16) {
        self.0[2..4].copy_from_slice(&off.to_le_bytes());
    }
    pub fn set_imm(&mut self, imm: i32) {
        self.0[4..8].copy_from_slice(&imm.to_le_bytes());
    }

    /// `dst = *(size *)(src + off)`: returns the access width in bytes.
    pub fn ldx_mem_width(&self) -> Option<u8> {
        if self.code() & BPF_CLASS_MASK != BPF_LDX || self.code() & BPF_MODE_MASK != BPF_MEM {
            return None;
        }
        // BPF_SIZE: W=0x00, H=0x08, B=0x10, DW=0x18.
        Some(match self.code() & 0x18 {
            0x00 => 4,
            0x08 => 2,
            0x10 => 1,
            _ => 8,
        })
    }

    /// Makes a memory load read `width` bytes (1, 2, 4 or 8) instead; the
    /// loaded value is zero-extended into `dst` whatever the width.
    pub fn set_ldx_mem_width(&mut self, width: u8) {
        let size = match width {
            1 => 0x10,
            2 => 0x08,
            4 => 0x00,
            _ => 0x18,
        };
        self.0[0] = (self.0[0] & !0x18) | size;
    }

    /// `dst = imm` (64-bit move of a constant).
    pub fn mov64_imm(dst: u8, imm: i32) -> Insn {
        let mut insn = Insn([MOV64_IMM, dst & 0x0f, 0, 0, 0, 0, 0, 0]);
        insn.set_imm(imm);
        insn
    }

    pub fn to_u64(self) -> u64 {
        u64::from_le_bytes(self.0)
    }
}

/// Splits section bytes into instructions (the length must be a multiple of 8).
pub fn parse_insns(bytes: &[u8]) -> Option<Vec<Insn>> {
    if bytes.len() % INSN_SIZE != 0 {
        return None;
    }
    Some(bytes.chunks_exact(INSN_SIZE).map(|c| Insn(c.try_into().unwrap_or_default())).collect())
}
