//! Producing the final instructions of a program: map fds written into their
//! LD_IMM64 (BPF_PSEUDO_MAP_FD), load-time constants written into theirs, and
//! tracepoint context loads moved from their marker offsets to the real field
//! offsets (see FIELD_MARK in bpf-prebuilt/tcpconnect.h), each read at the
//! width the running kernel gives its field. No syscalls here.

use super::elf::{ProgramSpec, RelocTarget};
use super::insn::{Insn, BPF_PSEUDO_MAP_FD};
use std::collections::HashMap;
use std::fmt;

/// Where a tracepoint field lives in the context record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldLayout {
    pub offset: u16,
    pub size: u16,
    /// A signed field is never read narrower than the program reads it.
    pub signed: bool,
}

/// Offsets 0x4000..=0x7fff in a context load are field markers:
/// 0x4000 | field << 8 | byte.
const MARKER_BASE: i16 = 0x4000;

fn decode_marker(off: i16) -> Option<(u8, u8)> {
    (off >= MARKER_BASE).then_some((((off >> 8) & 0x3f) as u8, (off & 0xff) as u8))
}

/// What linking needs besides the program.
pub struct LinkInputs<'a> {
    /// Map fds, indexed like `ObjectSpec::maps`.
    pub map_fds: &'a [i32],
    /// Values of the load-time constants, by symbol name.
    pub constants: &'a HashMap<&'static str, u64>,
    /// Tracepoint fields by marker id: Some(layout) when the kernel has the
    /// field, None for an optional field it lacks (its loads become `dst = 0`).
    /// A marker whose id is not here is an error.
    pub fields: &'a HashMap<u8, Option<FieldLayout>>,
    /// Helper ids whose calls become `r0 = 0`: helpers behind a filter that
    /// is off, which older kernels would reject even in dead code.
    pub stub_helpers: &'a [i32],
}

#[derive(Debug, PartialEq, Eq)]
pub enum LinkError {
    UnknownConstant(String),
    MissingMapFd(usize),
    UnknownField { insn: usize, field: u8 },
    FieldAccess { insn: usize, field: u8, byte: u8, width: u8, size: u16 },
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::UnknownConstant(name) => write!(f, "the BPF program needs constant {name}, which the loader does not know"),
            LinkError::MissingMapFd(i) => write!(f, "no map was created for map #{i}"),
            LinkError::UnknownField { insn, field } => {
                write!(f, "instruction {insn} reads tracepoint field #{field}, which the loader does not know")
            }
            LinkError::FieldAccess { insn, field, byte, width, size } => write!(
                f,
                "instruction {insn} reads {width} byte(s) at byte {byte} of tracepoint field #{field}, which is {size} byte(s) on this kernel"
            ),
        }
    }
}

impl std::error::Error for LinkError {}

/// How many bytes a load of `width` bytes at `byte` of a field must read on
/// this kernel, or None where it cannot be made right. Arrays are read byte
/// by byte inside the field. A scalar is read whole: the program is written for the widest layout a kernel has
/// (`sock:inet_sock_set_state`'s `protocol` is a u16 since 5.6 and a u8
/// from 4.16 to 5.5), and an unsigned field narrower than the load is read
/// at its own width, which zero-extends to the same value. A wider field, a
/// narrower signed one (the sign would be lost) or an odd size is refused.
fn read_width(byte: u8, width: u8, layout: &FieldLayout) -> Option<u8> {
    if layout.offset as u32 + byte as u32 >= MARKER_BASE as u32 {
        return None;
    }
    if width == 1 {
        return ((byte as u16) < layout.size).then_some(1);
    }
    if byte != 0 {
        return None;
    }
    match layout.size {
        size if size == width as u16 => Some(width),
        size @ (1 | 2 | 4) if size < width as u16 && !layout.signed => Some(size as u8),
        _ => None,
    }
}

/// Returns the program's instructions ready for BPF_PROG_LOAD.
pub fn link_program(program: &ProgramSpec, inputs: &LinkInputs<'_>) -> Result<Vec<u64>, LinkError> {
    let mut insns = program.insns.clone();

    for reloc in &program.relocations {
        let value: u64 = match &reloc.target {
            RelocTarget::Map(index) => {
                let fd = *inputs.map_fds.get(*index).ok_or(LinkError::MissingMapFd(*index))?;
                insns[reloc.insn].set_src_reg(BPF_PSEUDO_MAP_FD);
                fd as u32 as u64
            }
            RelocTarget::Constant(name) => {
                *inputs.constants.get(&**name).ok_or_else(|| LinkError::UnknownConstant(name.to_string()))?
            }
        };
        match (&reloc.target, i32::try_from(value)) {
            // A constant that fits a 32-bit immediate is loaded by a
            // 64-bit move, twice (the two slots of the 64-bit load): 4.9's
            // verifier knows a moved immediate but not a loaded one, and
            // only knowing it does it skip the code a flag that is off
            // turns away (which it must then accept too: helpers writing
            // to a map value, --ppid's identity code, refused there).
            (RelocTarget::Constant(_), Ok(imm)) => {
                let dst = insns[reloc.insn].dst_reg();
                insns[reloc.insn] = Insn::mov64_imm(dst, imm);
                insns[reloc.insn + 1] = Insn::mov64_imm(dst, imm);
            }
            // A 64-bit immediate is split over the imm fields of two instructions.
            _ => {
                insns[reloc.insn].set_imm(value as u32 as i32);
                insns[reloc.insn + 1].set_imm((value >> 32) as u32 as i32);
            }
        }
    }

    for insn in insns.iter_mut() {
        // BPF_JMP | BPF_CALL with src_reg 0: a helper call by id.
        if insn.code() == 0x85 && insn.src_reg() == 0 && inputs.stub_helpers.contains(&insn.imm()) {
            *insn = Insn::mov64_imm(0, 0);
        }
    }

    for (index, insn) in insns.iter_mut().enumerate() {
        let Some(width) = insn.ldx_mem_width() else {
            continue;
        };
        let Some((field, byte)) = decode_marker(insn.off()) else {
            continue;
        };
        let layout = inputs.fields.get(&field).ok_or(LinkError::UnknownField { insn: index, field })?;
        match layout {
            None => *insn = Insn::mov64_imm(insn.dst_reg(), 0),
            Some(layout) => {
                let read_width = read_width(byte, width, layout).ok_or(LinkError::FieldAccess {
                    insn: index,
                    field,
                    byte,
                    width,
                    size: layout.size,
                })?;
                insn.set_ldx_mem_width(read_width);
                insn.set_off((layout.offset + byte as u16) as i16);
            }
        }
    }
    Ok(insns.into_iter().map(Insn::to_u64).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader::elf::Relocation;

    fn ldx(width_bits: u8, dst: u8, src: u8, off: i16) -> Insn {
        let mut i = Insn([0x61 | width_bits, dst | (src << 4), 0, 0, 0, 0, 0, 0]);
        i.set_off(off);
        i
    }

    fn program(insns: Vec<Insn>, relocations: Vec<Relocation>) -> ProgramSpec {
        ProgramSpec { section: "tracepoint/x/y".into(), name: "p".into(), insns, relocations }
    }

    #[test]
    fn a_constant_that_fits_32_bits_is_a_move_in_both_slots() {
        let ld = Insn([0x18, 3, 0, 0, 0, 0, 0, 0]);
        let p = program(
            vec![ld, Insn([0; 8])],
            vec![Relocation { insn: 0, target: RelocTarget::Constant("k".into()) }],
        );
        for value in [0u64, 1, i32::MAX as u64] {
            let constants = HashMap::from([("k", value)]);
            let inputs = LinkInputs {
                map_fds: &[],
                constants: &constants,
                fields: &HashMap::new(),
                stub_helpers: &[],
            };
            let out = link_program(&p, &inputs).unwrap();
            let want = Insn::mov64_imm(3, value as i32);
            assert_eq!((Insn(out[0].to_le_bytes()), Insn(out[1].to_le_bytes())), (want, want), "{value}");
        }
    }

    #[test]
    fn constants_fill_both_halves_of_the_immediate() {
        let ld = Insn([0x18, 1, 0, 0, 0, 0, 0, 0]);
        let p = program(
            vec![ld, Insn([0; 8])],
            vec![Relocation { insn: 0, target: RelocTarget::Constant("k".into()) }],
        );
        let constants = HashMap::from([("k", 0x1122_3344_5566_7788u64)]);
        let out = link_program(
            &p,
            &LinkInputs { map_fds: &[], constants: &constants, fields: &HashMap::new(), stub_helpers: &[] },
        )
        .unwrap();
        assert_eq!(Insn(out[0].to_le_bytes()).imm() as u32, 0x5566_7788);
        assert_eq!(Insn(out[1].to_le_bytes()).imm() as u32, 0x1122_3344);
        assert_eq!(Insn(out[0].to_le_bytes()).src_reg(), 0);
    }

    #[test]
    fn unknown_constant_is_an_error() {
        let p = program(
            vec![Insn([0x18, 1, 0, 0, 0, 0, 0, 0]), Insn([0; 8])],
            vec![Relocation { insn: 0, target: RelocTarget::Constant("nope".into()) }],
        );
        let err = link_program(
            &p,
            &LinkInputs {
                map_fds: &[],
                constants: &HashMap::new(),
                fields: &HashMap::new(),
                stub_helpers: &[],
            },
        );
        assert_eq!(err, Err(LinkError::UnknownConstant("nope".into())));
    }

    #[test]
    fn markers_become_offsets_and_missing_optional_fields_become_zero() {
        // u16 field 3 at byte 0, u8 field 8 at byte 5, u16 field 4 (absent).
        let p = program(
            vec![
                ldx(0x08, 1, 6, 0x4300),
                ldx(0x10, 2, 6, 0x4805),
                ldx(0x08, 3, 6, 0x4400),
                ldx(0x00, 4, 10, -8),
            ],
            vec![],
        );
        let fields = HashMap::from([
            (3u8, Some(FieldLayout { offset: 26, size: 2, signed: false })),
            (8u8, Some(FieldLayout { offset: 40, size: 16, signed: false })),
            (4u8, None),
        ]);
        let out = link_program(
            &p,
            &LinkInputs { map_fds: &[], constants: &HashMap::new(), fields: &fields, stub_helpers: &[] },
        )
        .unwrap();
        let out: Vec<Insn> = out.iter().map(|i| Insn(i.to_le_bytes())).collect();
        assert_eq!(out[0].off(), 26);
        assert_eq!(out[1].off(), 45);
        assert_eq!(out[2], Insn::mov64_imm(3, 0));
        assert_eq!(out[3].off(), -8, "ordinary stack loads are untouched");
    }

    #[test]
    fn stubbed_helper_calls_become_zero() {
        let call = |id: i32| {
            let mut i = Insn([0x85, 0, 0, 0, 0, 0, 0, 0]);
            i.set_imm(id);
            i
        };
        let p = program(vec![call(80), call(14), call(35)], vec![]);
        let inputs = LinkInputs {
            map_fds: &[],
            constants: &HashMap::new(),
            fields: &HashMap::new(),
            stub_helpers: &[80, 35],
        };
        let out: Vec<Insn> =
            link_program(&p, &inputs).unwrap().iter().map(|i| Insn(i.to_le_bytes())).collect();
        assert_eq!(out, [Insn::mov64_imm(0, 0), call(14), Insn::mov64_imm(0, 0)]);
    }

    fn link_one(load: Insn, layout: FieldLayout) -> Result<Insn, LinkError> {
        let p = program(vec![load], vec![]);
        let fields = HashMap::from([(3u8, Some(layout))]);
        let inputs =
            LinkInputs { map_fds: &[], constants: &HashMap::new(), fields: &fields, stub_helpers: &[] };
        link_program(&p, &inputs).map(|out| Insn(out[0].to_le_bytes()))
    }

    #[test]
    fn an_unsigned_field_narrower_than_the_load_is_read_at_its_own_width() {
        // 4.19's one-byte protocol at 30, read by a u16 load: a u8 load at 30.
        let out = link_one(ldx(0x08, 1, 6, 0x4300), FieldLayout { offset: 30, size: 1, signed: false });
        assert_eq!(out, Ok(ldx(0x10, 1, 6, 30)));
        // A u64 load of a u32 field.
        let out = link_one(ldx(0x18, 2, 6, 0x4300), FieldLayout { offset: 16, size: 4, signed: false });
        assert_eq!(out, Ok(ldx(0x00, 2, 6, 16)));
        // The same width is left as it is.
        let out = link_one(ldx(0x08, 1, 6, 0x4300), FieldLayout { offset: 30, size: 2, signed: false });
        assert_eq!(out, Ok(ldx(0x08, 1, 6, 30)));
    }

    #[test]
    fn width_mismatch_is_an_error() {
        // A field wider than the load would be cut.
        let err = link_one(ldx(0x08, 1, 6, 0x4300), FieldLayout { offset: 26, size: 4, signed: false });
        assert!(matches!(err, Err(LinkError::FieldAccess { width: 2, size: 4, .. })), "{err:?}");
        // A signed field narrower than the load would lose its sign.
        let err = link_one(ldx(0x00, 1, 6, 0x4300), FieldLayout { offset: 26, size: 2, signed: true });
        assert!(matches!(err, Err(LinkError::FieldAccess { width: 4, size: 2, .. })), "{err:?}");
        // Not a whole scalar size.
        let err = link_one(ldx(0x00, 1, 6, 0x4300), FieldLayout { offset: 26, size: 3, signed: false });
        assert!(matches!(err, Err(LinkError::FieldAccess { width: 4, size: 3, .. })), "{err:?}");
        // A scalar load inside the field, not at its start.
        let err = link_one(ldx(0x08, 1, 6, 0x4302), FieldLayout { offset: 26, size: 4, signed: false });
        assert!(matches!(err, Err(LinkError::FieldAccess { byte: 2, .. })), "{err:?}");
    }

    #[test]
    fn byte_outside_the_array_is_an_error() {
        let p = program(vec![ldx(0x10, 1, 6, 0x4604)], vec![]);
        let fields = HashMap::from([(6u8, Some(FieldLayout { offset: 32, size: 4, signed: false }))]);
        let err = link_program(
            &p,
            &LinkInputs { map_fds: &[], constants: &HashMap::new(), fields: &fields, stub_helpers: &[] },
        );
        assert!(matches!(err, Err(LinkError::FieldAccess { byte: 4, .. })));
    }
}
