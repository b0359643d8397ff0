//! Reading a clang-built BPF ELF object into specs: the legacy `maps` section,
//! program sections, the license and the relocations of each program.
//! No syscalls here.

use super::insn::{parse_insns, Insn, LD_IMM64};
use object::{
    Object, ObjectSection, ObjectSymbol, RelocationFlags, RelocationTarget, SectionIndex, SymbolSection,
};
use std::collections::HashSet;
use std::ffi::CString;
use std::fmt;
use std::rc::Rc;

/// A map declared in the `maps` section (`struct bpf_map_def`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapSpec {
    pub name: String,
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
}

/// What a relocated instruction refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelocTarget {
    /// A map, by index into [`ObjectSpec::maps`].
    Map(usize),
    /// An undefined symbol: a load-time constant the loader supplies. Its
    /// name is shared by every relocation of it (~1100 relocations name
    /// ~60 constants: a String each was a third of the start's heap).
    Constant(Rc<str>),
}

/// A 64-bit immediate load that needs a value at load time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relocation {
    /// Index of the LD_IMM64 instruction in the program.
    pub insn: usize,
    pub target: RelocTarget,
}

/// One program: a section named after where it attaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramSpec {
    /// The ELF section, e.g. `tracepoint/sock/inet_sock_set_state`.
    pub section: String,
    /// The function's symbol name.
    pub name: String,
    pub insns: Vec<Insn>,
    pub relocations: Vec<Relocation>,
}

/// Everything we need from the object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectSpec {
    pub license: CString,
    pub maps: Vec<MapSpec>,
    pub programs: Vec<ProgramSpec>,
}

impl ObjectSpec {
    pub fn program(&self, section: &str) -> Option<&ProgramSpec> {
        self.programs.iter().find(|p| p.section == section)
    }

    pub fn map_index(&self, name: &str) -> Option<usize> {
        self.maps.iter().position(|m| m.name == name)
    }
}

/// Why an object could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum ElfError {
    Parse(String),
    NotBpf,
    NoLicense,
    BadMapDef { name: String },
    BadProgram { section: String, reason: String },
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElfError::Parse(e) => write!(f, "cannot parse the BPF object: {e}"),
            ElfError::NotBpf => write!(f, "the embedded object is not a little-endian BPF ELF"),
            ElfError::NoLicense => write!(f, "the BPF object has no license section"),
            ElfError::BadMapDef { name } => {
                write!(f, "the BPF object's map {name} has a malformed definition")
            }
            ElfError::BadProgram { section, reason } => {
                write!(f, "BPF program {section}: {reason}")
            }
        }
    }
}

impl std::error::Error for ElfError {}

/// Section name prefixes that hold programs.
const PROGRAM_PREFIXES: [&str; 6] =
    ["tracepoint/", "raw_tracepoint/", "tp_btf/", "kprobe/", "kretprobe/", "cgroup_skb/"];
const EM_BPF: u16 = 247;
/// R_BPF_64_64: the relocation clang emits for a LD_IMM64 of a symbol.
const R_BPF_64_64: u32 = 1;
/// `struct bpf_map_def` without map_flags; map_flags when 20 bytes.
const MAP_DEF_MIN: usize = 16;

fn parse_err(e: object::Error) -> ElfError {
    ElfError::Parse(e.to_string())
}

/// Reads `data` (an ELF BPF object) into an [`ObjectSpec`].
pub fn parse_object(data: &[u8]) -> Result<ObjectSpec, ElfError> {
    let file = object::File::parse(data).map_err(parse_err)?;
    let is_bpf = match &file {
        object::File::Elf64(elf) => elf.elf_header().e_machine.get(elf.endian()) == EM_BPF,
        _ => false,
    };
    if !is_bpf || !file.is_little_endian() {
        return Err(ElfError::NotBpf);
    }

    let license = file
        .section_by_name("license")
        .and_then(|s| s.data().ok())
        .map(|d| d.split(|&b| b == 0).next().unwrap_or_default().to_vec())
        .and_then(|d| CString::new(d).ok())
        .ok_or(ElfError::NoLicense)?;

    let maps_section = file.section_by_name("maps");
    let maps_index = maps_section.as_ref().map(|s| s.index());
    let maps = match &maps_section {
        Some(section) => read_maps(&file, section)?,
        None => Vec::new(),
    };

    let mut programs = Vec::new();
    let mut constant_names = HashSet::new();
    for section in file.sections() {
        let Ok(name) = section.name() else { continue };
        if !PROGRAM_PREFIXES.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        programs.push(read_program(&file, &section, name, maps_index, &maps, &mut constant_names)?);
    }
    Ok(ObjectSpec { license, maps, programs })
}

/// Map symbols, in section order so indices are stable.
fn map_symbols<'d>(file: &object::File<'d>, maps_index: SectionIndex) -> Vec<(String, u64, u64)> {
    let mut syms: Vec<(String, u64, u64)> = file
        .symbols()
        .filter(|s| s.section_index() == Some(maps_index) && !s.name().unwrap_or("").is_empty())
        .filter(|s| s.kind() != object::SymbolKind::Section)
        .map(|s| (s.name().unwrap_or("").to_string(), s.address(), s.size()))
        .collect();
    syms.sort_by_key(|s| s.1);
    syms
}

fn read_maps(file: &object::File<'_>, section: &object::Section<'_, '_>) -> Result<Vec<MapSpec>, ElfError> {
    let data = section.data().map_err(parse_err)?;
    let u32_at = |d: &[u8], o: usize| u32::from_le_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]]);
    let mut maps = Vec::new();
    for (name, offset, size) in map_symbols(file, section.index()) {
        // Clang gives the symbol its struct size; assume the 20-byte legacy def otherwise.
        let size = if size == 0 { 20 } else { size } as usize;
        let start = offset as usize;
        let def = start
            .checked_add(size)
            .and_then(|end| data.get(start..end))
            .filter(|d| d.len() >= MAP_DEF_MIN)
            .ok_or_else(|| ElfError::BadMapDef { name: name.clone() })?;
        maps.push(MapSpec {
            name,
            map_type: u32_at(def, 0),
            key_size: u32_at(def, 4),
            value_size: u32_at(def, 8),
            max_entries: u32_at(def, 12),
            map_flags: if def.len() >= 20 { u32_at(def, 16) } else { 0 },
        });
    }
    Ok(maps)
}

/// `name`, allocated once however many relocations name it.
fn shared_name(names: &mut HashSet<Rc<str>>, name: &str) -> Rc<str> {
    match names.get(name) {
        Some(shared) => shared.clone(),
        None => {
            let shared: Rc<str> = name.into();
            names.insert(shared.clone());
            shared
        }
    }
}

fn read_program(
    file: &object::File<'_>,
    section: &object::Section<'_, '_>,
    name: &str,
    maps_index: Option<SectionIndex>,
    maps: &[MapSpec],
    constant_names: &mut HashSet<Rc<str>>,
) -> Result<ProgramSpec, ElfError> {
    let bad = |reason: String| ElfError::BadProgram { section: name.to_string(), reason };
    let data = section.data().map_err(parse_err)?;
    let insns = parse_insns(data).ok_or_else(|| bad("size is not a multiple of 8".into()))?;

    // One function per section: we support neither subprograms nor calls.
    let functions: Vec<String> = file
        .symbols()
        .filter(|s| s.section_index() == Some(section.index()) && s.kind() == object::SymbolKind::Text)
        .filter_map(|s| s.name().ok().map(str::to_string))
        .collect();
    if functions.len() > 1 {
        return Err(bad(format!("holds {} functions; one per section is supported", functions.len())));
    }
    let func_name = functions.into_iter().next().unwrap_or_else(|| name.to_string());

    let mut relocations = Vec::new();
    for (offset, reloc) in section.relocations() {
        let at = format!("relocation at offset {offset:#x}");
        if !matches!(reloc.flags(), RelocationFlags::Elf { r_type } if r_type == R_BPF_64_64) {
            let kind = match reloc.flags() {
                RelocationFlags::Elf { r_type } => format!("ELF type {r_type}"),
                _ => "a non-ELF kind".to_owned(),
            };
            return Err(bad(format!("{at}: unsupported relocation ({kind}; only R_BPF_64_64 is)")));
        }
        let insn = (offset / 8) as usize;
        if offset % 8 != 0 || insns.get(insn).map(Insn::code) != Some(LD_IMM64) || insn + 1 >= insns.len() {
            return Err(bad(format!("{at}: not on a 64-bit immediate load")));
        }
        let RelocationTarget::Symbol(sym_index) = reloc.target() else {
            return Err(bad(format!("{at}: does not name a symbol")));
        };
        let symbol = file.symbol_by_index(sym_index).map_err(parse_err)?;
        let sym_name = symbol.name().map_err(parse_err)?;
        let target = match symbol.section() {
            SymbolSection::Undefined => RelocTarget::Constant(shared_name(constant_names, sym_name)),
            SymbolSection::Section(idx) if Some(idx) == maps_index => {
                let index = maps
                    .iter()
                    .position(|m| m.name == sym_name)
                    .ok_or_else(|| bad(format!("{at}: map symbol {sym_name} is not a map definition")))?;
                RelocTarget::Map(index)
            }
            _ => return Err(bad(format!("{at}: refers to {sym_name}, global data is not supported"))),
        };
        relocations.push(Relocation { insn, target });
    }
    relocations.sort_by_key(|r| r.insn);
    Ok(ProgramSpec { section: name.to_string(), name: func_name, insns, relocations })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader::EMBEDDED_OBJECT;

    // Damaged copies live in Vec<u8>: heap allocations are at least 8-aligned
    // on our targets, which is what `object` needs to read ELF headers in place.

    #[test]
    fn reads_programs_maps_and_relocations_of_the_embedded_object() {
        let obj = parse_object(EMBEDDED_OBJECT).unwrap();
        let sections: Vec<&str> = obj.programs.iter().map(|p| p.section.as_str()).collect();
        assert_eq!(
            sections,
            [
                "tracepoint/sock/inet_sock_set_state",
                "tracepoint/syscalls/sys_enter_connect",
                "tracepoint/syscalls/sys_exit_connect",
                "raw_tracepoint/inet_sock_set_state",
                "tp_btf/inet_sock_set_state",
                "kprobe/tcp_connect_entry",
                "kretprobe/tcp_v4_connect",
                "kretprobe/tcp_v6_connect",
                "kprobe/tcp_set_state",
                "tracepoint/syscalls/sys_enter_recvfrom",
                "tracepoint/syscalls/sys_enter_recvmsg",
                "tracepoint/syscalls/sys_enter_read",
                "tracepoint/syscalls/sys_exit_recv",
                "cgroup_skb/ingress",
                "kretprobe/calibrate_v6",
                "tracepoint/sock/calibrate_sk_err",
                "kprobe/calibrate_sk_err"
            ]
        );
        for prog in &obj.programs {
            // Small enough for 4.x kernels (4096 instructions before 5.2).
            assert!(prog.insns.len() > 10 && prog.insns.len() < 4096, "{} insns", prog.insns.len());
            // Every relocation sits on the first half of a 64-bit immediate load.
            for r in &prog.relocations {
                assert_eq!(prog.insns[r.insn].code(), LD_IMM64);
            }
        }
        assert_eq!(
            obj.maps.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
            [
                "events",
                "ring",
                "ports",
                "connecting",
                "tallies",
                "counts",
                "cgroup_filter",
                "mntns_filter",
                "in_connect",
                "syn_sent_ports",
                "pending",
                "held_sockets",
                "inflight",
                "dns_events",
                "dns_scratch",
                "dns_reads",
                "identity_scratch"
            ]
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(matches!(parse_object(b""), Err(ElfError::Parse(_))));
        assert!(matches!(parse_object(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]), Err(ElfError::Parse(_))));
        assert!(matches!(parse_object(&[0u8; 4096]), Err(ElfError::Parse(_))));
    }

    #[test]
    fn truncated_or_flipped_objects_never_panic() {
        for len in (0..EMBEDDED_OBJECT.len()).step_by(3) {
            let _ = parse_object(&EMBEDDED_OBJECT[..len]);
        }
        for at in 0..EMBEDDED_OBJECT.len() {
            let mut damaged = EMBEDDED_OBJECT.to_vec();
            damaged[at] ^= 0xff;
            let _ = parse_object(&damaged);
        }
    }

    #[test]
    fn a_non_bpf_machine_is_refused() {
        let mut bytes = EMBEDDED_OBJECT.to_vec();
        // e_machine (offset 18): EM_X86_64.
        bytes[18..20].copy_from_slice(&62u16.to_le_bytes());
        assert_eq!(parse_object(&bytes), Err(ElfError::NotBpf));
    }
}
