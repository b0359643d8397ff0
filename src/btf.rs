//! A small reader of the kernel's own type information (BTF, exposed at
//! /sys/kernel/btf/vmlinux), used for one thing: finding where a member lives
//! inside a kernel struct on *this* kernel, so the BPF program can read it
//! without compiled-in offsets.
//!
//! The file comes from the running kernel, but this code runs as root on
//! production hosts and treats it as untrusted input: every read is
//! bounds-checked, allocations are bounded by the bytes actually present, and
//! every walk through type references (typedef chains, arrays, anonymous
//! members) is bounded, so a truncated or hostile file gives an error rather
//! than a panic or a hang.
//!
//! Layout (include/uapi/linux/btf.h): a header, then a type section of
//! variable-length records (type id = position, starting at 1; 0 is void),
//! then a NUL-separated string section that names point into.

use crate::sys::mapped_file::MappedFile;
use std::collections::HashSet;
use std::fmt;
use std::ops::Range;
use std::path::Path;

/// Where the running kernel publishes its BTF (CONFIG_DEBUG_INFO_BTF).
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

const MAGIC: u16 = 0xeb9f;
/// The fixed part of struct btf_header; newer kernels may append fields
/// (hdr_len says how many), which we skip.
const HEADER_LEN: usize = 24;
/// struct btf_type: name_off, info, size_or_type.
const TYPE_LEN: usize = 12;
/// Bound on every chain of type references we follow (typedef → const →
/// typedef …, arrays of arrays, anonymous members within anonymous members).
/// Real kernels need a handful; the bound turns reference cycles in a corrupt
/// file into errors instead of hangs or stack overflows.
const MAX_DEPTH: usize = 32;

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FLOAT: u32 = 16;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

/// Where a member lives inside the struct it was looked up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberLocation {
    /// Bytes from the start of the outer struct.
    pub offset: u32,
    /// Bytes of the member's type, typedefs and qualifiers resolved.
    pub size: u32,
}

/// Why the kernel's BTF could not be read or did not answer a lookup. Every
/// message names VMLINUX_BTF: it is the only BTF this tool reads.
#[derive(Debug)]
pub enum BtfError {
    /// No BTF file: the kernel was built without CONFIG_DEBUG_INFO_BTF
    /// (or is older than 5.4). Callers fall back to built-in offsets.
    Missing,
    /// The file exists but could not be read (e.g. permissions).
    Read(std::io::Error),
    /// Not BTF at all.
    BadMagic(u16),
    /// BTF of the opposite byte order: not from this kernel.
    ByteSwapped,
    /// A header version this reader does not know.
    Version(u8),
    /// The file's structure is broken (truncated section, bad header).
    Corrupt(&'static str),
    /// A type record of a kind newer than this reader: its length is unknown,
    /// so nothing after it can be found.
    UnknownKind { id: u32, kind: u32 },
    /// Type `id` is malformed or its references cannot be followed.
    BadType { id: u32, what: &'static str },
    /// No struct or union has this name.
    NoType(String),
    /// No typedef has this name.
    NoTypedef(String),
    /// `member` (dotted path, up to the component that failed) is not in `type_name`.
    NoMember { type_name: String, member: String },
    /// `member` is not a struct or union, so the path cannot descend into it.
    NotComposite { type_name: String, member: String },
    /// `member` is a bitfield; callers read whole bytes.
    Bitfield { type_name: String, member: String },
    /// The BTF answered, but not as the caller needs (e.g. a member of an
    /// unexpected size); the message says what was expected.
    Unexpected(String),
}

impl fmt::Display for BtfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{VMLINUX_BTF}: ")?;
        match self {
            BtfError::Missing => write!(f, "not found (kernel built without CONFIG_DEBUG_INFO_BTF)"),
            BtfError::Read(e) => write!(f, "{e}"),
            BtfError::BadMagic(magic) => write!(f, "not BTF (magic {magic:#06x}, expected {MAGIC:#06x})"),
            BtfError::ByteSwapped => write!(f, "BTF is of the opposite byte order to this machine"),
            BtfError::Version(v) => write!(f, "unsupported BTF version {v} (expected 1)"),
            BtfError::Corrupt(what) => write!(f, "{what}"),
            BtfError::UnknownKind { id, kind } => {
                write!(f, "type [{id}] has unknown kind {kind} (BTF newer than this tool)")
            }
            BtfError::BadType { id, what } => write!(f, "type [{id}] {what}"),
            BtfError::NoType(name) => write!(f, "no struct or union named {name}"),
            BtfError::NoTypedef(name) => write!(f, "no typedef named {name}"),
            BtfError::NoMember { type_name, member } => write!(f, "{type_name} has no member {member}"),
            BtfError::NotComposite { type_name, member } => {
                write!(f, "{type_name}.{member} is not a struct or union; cannot look inside it")
            }
            BtfError::Bitfield { type_name, member } => {
                write!(f, "{type_name}.{member} is a bitfield; only whole-byte members can be read")
            }
            BtfError::Unexpected(what) => write!(f, "{what}"),
        }
    }
}

impl std::error::Error for BtfError {}

/// The bytes of a BTF file: the kernel's mapped (no copy), or a copy.
enum Bytes {
    Mapped(MappedFile),
    Owned(Vec<u8>),
}

impl Bytes {
    fn get(&self) -> &[u8] {
        match self {
            Bytes::Mapped(file) => file.bytes(),
            Bytes::Owned(bytes) => bytes,
        }
    }
}

/// Parsed BTF: where the type and string sections are in the file's bytes,
/// plus where every `CHECKPOINT_STRIDE`th type record starts, so a type id is
/// found by walking at most that many records. An index of every record
/// would be ~500 KiB of heap for vmlinux's ~125k types on every start, most
/// of the tool's peak memory; this one is 8 KiB.
pub struct Btf {
    bytes: Bytes,
    types: Range<usize>,
    strings: Range<usize>,
    /// checkpoints[i] = start of type id i * CHECKPOINT_STRIDE + 1 within the
    /// type section.
    checkpoints: Vec<u32>,
    /// How many types there are (ids 1..=count).
    count: u32,
}

/// Types between two checkpoints of the index.
const CHECKPOINT_STRIDE: usize = 64;

/// One type record, decoded.
#[derive(Clone, Copy)]
struct Type<'a> {
    id: u32,
    kind: u32,
    vlen: usize,
    kind_flag: bool,
    size_or_type: u32,
    /// The kind-specific bytes after the fixed part.
    extra: &'a [u8],
}

/// A member found by name, relative to the struct searched.
struct Found {
    bits: u64,
    type_id: u32,
    bitfield: bool,
    /// With kind_flag, a bitfield's width in bits (0: none, or given by its int type).
    bitfield_size: u32,
}

fn read_u32(buf: &[u8], pos: usize) -> Option<u32> {
    let bytes = buf.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_ne_bytes(bytes.try_into().ok()?))
}

/// Bytes of kind-specific data after a type record's fixed part; None for a
/// kind we do not know (its length cannot be known either).
fn extra_len(kind: u32, vlen: usize) -> Option<usize> {
    Some(match kind {
        KIND_INT => 4,
        KIND_ARRAY => 12,
        KIND_STRUCT | KIND_UNION => 12 * vlen,
        KIND_ENUM => 8 * vlen,
        // PTR, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC.
        2 | 7..=12 => 0,
        // FUNC_PROTO
        13 => 8 * vlen,
        // VAR
        14 => 4,
        // DATASEC
        15 => 12 * vlen,
        KIND_FLOAT | KIND_TYPE_TAG => 0,
        // DECL_TAG
        17 => 4,
        KIND_ENUM64 => 12 * vlen,
        _ => return None,
    })
}

fn u32_field(value: u64, id: u32) -> Result<u32, BtfError> {
    u32::try_from(value).map_err(|_| BtfError::BadType { id, what: "is too large" })
}

impl Btf {
    /// Parses a BTF blob of this machine's byte order, indexing its types.
    pub fn parse(bytes: &[u8]) -> Result<Btf, BtfError> {
        Btf::index(Bytes::Owned(bytes.to_vec()))
    }

    fn index(file: Bytes) -> Result<Btf, BtfError> {
        let bytes = file.get();
        let header = bytes.get(..HEADER_LEN).ok_or(BtfError::Corrupt("truncated header"))?;
        let magic = u16::from_ne_bytes([header[0], header[1]]);
        if magic == MAGIC.swap_bytes() {
            return Err(BtfError::ByteSwapped);
        }
        if magic != MAGIC {
            return Err(BtfError::BadMagic(magic));
        }
        if header[2] != 1 {
            return Err(BtfError::Version(header[2]));
        }
        let field =
            |pos| read_u32(header, pos).map(|v| v as usize).ok_or(BtfError::Corrupt("truncated header"));
        let hdr_len = field(4)?;
        if hdr_len < HEADER_LEN {
            return Err(BtfError::Corrupt("header length too small"));
        }
        if hdr_len > bytes.len() {
            return Err(BtfError::Corrupt("truncated header"));
        }
        // A section's place in `bytes` (kept in the Btf, which slices the
        // bytes on use) and its bytes.
        let section = |off: usize, len: usize, what| {
            let start = hdr_len.checked_add(off);
            let range = start.and_then(|start| Some(start..start.checked_add(len)?));
            range.and_then(|range| Some((range.clone(), bytes.get(range)?))).ok_or(BtfError::Corrupt(what))
        };
        let (type_range, types) = section(field(8)?, field(12)?, "truncated type section")?;
        let (string_range, strings) = section(field(16)?, field(20)?, "truncated string section")?;
        // Names are NUL-terminated; a final NUL means every in-bounds name
        // offset ends inside the section.
        if strings.last() != Some(&0) {
            return Err(BtfError::Corrupt("string section is empty or not NUL-terminated"));
        }

        // Each record is at least TYPE_LEN bytes, so this bounds the index by
        // the data present, not by anything the header claims. The type
        // section must be addressable by u32 offsets. This loop runs once per
        // type (~125k in vmlinux) on every start: errors are built only when
        // returned.
        if u32::try_from(types.len()).is_err() {
            return Err(BtfError::Corrupt("type section too large"));
        }
        let mut checkpoints = Vec::with_capacity(types.len() / TYPE_LEN / CHECKPOINT_STRIDE + 1);
        let mut count = 0usize;
        let mut pos = 0usize;
        while pos < types.len() {
            // At most types.len() / TYPE_LEN records, which fits u32.
            let id = count as u32 + 1;
            let truncated = || BtfError::BadType { id, what: "runs past the end of the type section" };
            let record: &[u8; TYPE_LEN] =
                types.get(pos..pos + TYPE_LEN).and_then(|r| r.try_into().ok()).ok_or_else(truncated)?;
            let name_off = u32::from_ne_bytes([record[0], record[1], record[2], record[3]]);
            let info = u32::from_ne_bytes([record[4], record[5], record[6], record[7]]);
            if name_off as usize >= strings.len() {
                return Err(BtfError::BadType { id, what: "has a name outside the string section" });
            }
            let kind = (info >> 24) & 0x1f;
            let Some(extra) = extra_len(kind, (info & 0xffff) as usize) else {
                return Err(BtfError::UnknownKind { id, kind });
            };
            let end = pos + TYPE_LEN + extra;
            if end > types.len() {
                return Err(truncated());
            }
            if count % CHECKPOINT_STRIDE == 0 {
                // Fits: pos < types.len(), which fits in u32.
                checkpoints.push(pos as u32);
            }
            count += 1;
            pos = end;
        }
        Ok(Btf { bytes: file, types: type_range, strings: string_range, checkpoints, count: count as u32 })
    }

    /// Maps (or, where sysfs cannot map it on older kernels, reads) and parses
    /// the running kernel's BTF. Mapping skips copying ~6 MB, which is most
    /// of what reading it costs a start.
    pub fn load_vmlinux() -> Result<Btf, BtfError> {
        let bytes = match MappedFile::open(Path::new(VMLINUX_BTF)) {
            Ok(mapped) => Bytes::Mapped(mapped),
            Err(_) => Bytes::Owned(std::fs::read(VMLINUX_BTF).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => BtfError::Missing,
                _ => BtfError::Read(e),
            })?),
        };
        Btf::index(bytes)
    }

    /// The type section.
    fn types(&self) -> &[u8] {
        self.bytes.get().get(self.types.clone()).unwrap_or(&[])
    }

    /// The string section.
    fn strings(&self) -> &[u8] {
        self.bytes.get().get(self.strings.clone()).unwrap_or(&[])
    }

    /// Offset of `path` (e.g. ["skc_v6_rcv_saddr"], or ["ns", "inum"] through
    /// an embedded named struct member) inside struct or union `type_name`
    /// (the first STRUCT with that name, else the first UNION). Members of
    /// anonymous struct/union members are searched recursively, as C lets you
    /// name them directly; components after the first descend into the named
    /// member's (typedef/qualifier-resolved) struct or union, never through a
    /// pointer. Bitfields are an error: callers read whole bytes. An empty
    /// path gives the struct itself (offset 0, its size). A member that does
    /// not lie wholly inside the struct is an error too: a program reads
    /// through the offset from a pointer to the struct, and a damaged or
    /// crafted file must not send it past the end.
    pub fn member_offset(&self, type_name: &str, path: &[&str]) -> Result<MemberLocation, BtfError> {
        let top = self.find_composite(type_name)?;
        let mut current = top;
        let mut bits = 0u64;
        for (i, component) in path.iter().enumerate() {
            let dotted = || path.get(..=i).unwrap_or(path).join(".");
            let outer = self.resolve(current)?;
            if outer.kind != KIND_STRUCT && outer.kind != KIND_UNION {
                let member = path.get(..i).unwrap_or(path).join(".");
                return Err(BtfError::NotComposite { type_name: type_name.to_string(), member });
            }
            // An empty name would match the first anonymous member.
            let found = if component.is_empty() {
                None
            } else {
                self.find_member(outer, component.as_bytes(), 0, &mut HashSet::new())?
            };
            let found = found
                .ok_or_else(|| BtfError::NoMember { type_name: type_name.to_string(), member: dotted() })?;
            if found.bitfield {
                return Err(BtfError::Bitfield { type_name: type_name.to_string(), member: dotted() });
            }
            bits = bits
                .checked_add(found.bits)
                .ok_or(BtfError::BadType { id: outer.id, what: "is too large" })?;
            current = found.type_id;
            if bits % 8 != 0 || self.is_int_bitfield(current)? {
                return Err(BtfError::Bitfield { type_name: type_name.to_string(), member: dotted() });
            }
        }
        let size = self.size_of(current, 0)?;
        let location =
            MemberLocation { offset: u32_field(bits / 8, current)?, size: u32_field(size, current)? };
        let whole = self.size_of(top, 0)?;
        if u64::from(location.offset) + u64::from(location.size) > whole {
            return Err(BtfError::Unexpected(format!(
                "{type_name}.{} ({} bytes at offset {}) lies past the end of {type_name} ({whole} bytes)",
                path.join("."),
                location.size,
                location.offset
            )));
        }
        Ok(location)
    }

    /// The offset of `path` in `type_name`, as `member_offset`, where the
    /// member is `size` bytes: the width a program reads it at.
    pub fn member_of_size(&self, type_name: &str, path: &[&str], size: u32) -> Result<u32, BtfError> {
        let found = self.member_offset(type_name, path)?;
        if found.size != size {
            return Err(BtfError::Unexpected(format!(
                "{type_name}.{} is {} bytes, not {size}",
                path.join("."),
                found.size
            )));
        }
        Ok(found.offset)
    }

    /// Where member `name` of struct `type_name` lies as a program loads it
    /// whole, and how many bits it has: a whole int of at most 2 bytes, or a
    /// bitfield of 8 or 16 bits that starts on a byte boundary (as
    /// sock.sk_protocol: a u16 since 5.6, 8 bits of a bitfield before,
    /// loaded as the low byte of a u16 on the little-endian machines we run
    /// on). Like every member, it must lie wholly inside the struct.
    pub fn small_member(&self, type_name: &str, name: &str) -> Result<(u32, u32), BtfError> {
        let top = self.find_composite(type_name)?;
        let outer = self.resolve(top)?;
        let missing = || BtfError::NoMember { type_name: type_name.to_string(), member: name.to_string() };
        let found = self.find_member(outer, name.as_bytes(), 0, &mut HashSet::new())?.ok_or_else(missing)?;
        let int = self.resolve(found.type_id)?;
        let (start, bits) = if found.bitfield_size != 0 {
            (found.bits, found.bitfield_size)
        } else if int.kind == KIND_INT {
            let encoding = read_u32(int.extra, 0).unwrap_or(0);
            let (nr_bits, bit_offset) = (encoding & 0xff, (encoding >> 16) & 0xff);
            (found.bits + u64::from(bit_offset), nr_bits)
        } else {
            (found.bits, u32_field(self.size_of(found.type_id, 0)? * 8, found.type_id)?)
        };
        if start % 8 != 0 || !(bits == 8 || bits == 16) {
            return Err(BtfError::Unexpected(format!(
                "{type_name}.{name} is {bits} bits at bit {start}, not a whole byte or two"
            )));
        }
        let offset = u32_field(start / 8, found.type_id)?;
        let whole = self.size_of(top, 0)?;
        if u64::from(offset) + u64::from(bits / 8) > whole {
            return Err(BtfError::Unexpected(format!(
                "{type_name}.{name} ({bits} bits at offset {offset}) lies past the end of {type_name} ({whole} bytes)"
            )));
        }
        Ok((offset, bits))
    }

    fn ty(&self, id: u32) -> Result<Type<'_>, BtfError> {
        let bad = BtfError::BadType { id, what: "is referenced but does not exist" };
        let index =
            (id as usize).checked_sub(1).ok_or(BtfError::BadType { id, what: "(void) has no size" })?;
        if index >= self.count as usize {
            return Err(bad);
        }
        let pos = self.record_start(index).ok_or(bad)?;
        let (Some(info), Some(size_or_type)) =
            (read_u32(self.types(), pos + 4), read_u32(self.types(), pos + 8))
        else {
            return Err(BtfError::BadType { id, what: "runs past the end of the type section" });
        };
        let kind = (info >> 24) & 0x1f;
        let vlen = (info & 0xffff) as usize;
        // Lengths were validated by parse(); this only keeps the slice checked.
        let extra_end = pos + TYPE_LEN + extra_len(kind, vlen).unwrap_or(0);
        let extra = self.types().get(pos + TYPE_LEN..extra_end).unwrap_or(&[]);
        Ok(Type { id, kind, vlen, kind_flag: info >> 31 != 0, size_or_type, extra })
    }

    /// Where the record of type id `index + 1` starts: its checkpoint's,
    /// then the records after it, each skipped by its length (validated by
    /// parse()). None only for an index past the last type.
    fn record_start(&self, index: usize) -> Option<usize> {
        let mut pos = *self.checkpoints.get(index / CHECKPOINT_STRIDE)? as usize;
        for _ in 0..index % CHECKPOINT_STRIDE {
            pos = self.next_record(pos)?;
        }
        Some(pos)
    }

    /// The start of the record after the one at `pos`.
    fn next_record(&self, pos: usize) -> Option<usize> {
        let info = read_u32(self.types(), pos + 4)?;
        Some(pos + TYPE_LEN + extra_len((info >> 24) & 0x1f, (info & 0xffff) as usize)?)
    }

    /// Whether the NUL-terminated name at `off` is exactly `want`, comparing
    /// only want.len() + 1 bytes (a hostile name cannot make this slow).
    fn name_is(&self, off: u32, want: &[u8]) -> bool {
        let start = off as usize;
        let Some(end) = start.checked_add(want.len()) else {
            return false;
        };
        self.strings().get(start..end) == Some(want) && self.strings().get(end) == Some(&0)
    }

    /// The id of the typedef `name`: what a BTF tracepoint program is
    /// loaded for (`btf_trace_<tracepoint>`, which the kernel defines for
    /// each tracepoint since 5.5).
    pub fn typedef_id(&self, name: &str) -> Result<u32, BtfError> {
        self.ids_of(name, |kind| kind == KIND_TYPEDEF)
            .next()
            .map(|(id, _)| id)
            .ok_or_else(|| BtfError::NoTypedef(name.to_string()))
    }

    /// The value of `enumerator` in the enum named `enum_name` (as
    /// cgroup_subsys_id's `pids_cgrp_id`: the index of the pids controller
    /// in css_set.subsys, which moves with the kernel's config).
    pub fn enum_value(&self, enum_name: &str, enumerator: &str) -> Result<i64, BtfError> {
        let missing =
            || BtfError::NoMember { type_name: format!("enum {enum_name}"), member: enumerator.to_string() };
        for (id, kind) in self.ids_of(enum_name, |kind| kind == KIND_ENUM || kind == KIND_ENUM64) {
            let t = self.ty(id)?;
            let stride = if kind == KIND_ENUM { 8 } else { 12 };
            for i in 0..t.vlen {
                let at = i * stride;
                let name_off = read_u32(t.extra, at).ok_or(BtfError::BadType { id, what: "is truncated" })?;
                if !self.name_is(name_off, enumerator.as_bytes()) {
                    continue;
                }
                let low = read_u32(t.extra, at + 4).ok_or(BtfError::BadType { id, what: "is truncated" })?;
                return Ok(if kind == KIND_ENUM {
                    // A 4-byte enum's values are signed unless kind_flag says unsigned (5.x BTF has no flag: signed).
                    if t.kind_flag {
                        i64::from(low)
                    } else {
                        i64::from(low as i32)
                    }
                } else {
                    let high =
                        read_u32(t.extra, at + 8).ok_or(BtfError::BadType { id, what: "is truncated" })?;
                    ((u64::from(high) << 32) | u64::from(low)) as i64
                });
            }
        }
        Err(missing())
    }

    /// The first STRUCT named `name`, else the first UNION. A linear scan:
    /// callers look up a handful of names once, and scanning the ~125k
    /// vmlinux types takes ~50 µs in release, far less than building a map.
    fn find_composite(&self, name: &str) -> Result<u32, BtfError> {
        let mut union = None;
        for (id, kind) in self.ids_of(name, |kind| kind == KIND_STRUCT || kind == KIND_UNION) {
            if kind == KIND_STRUCT {
                return Ok(id);
            }
            union = union.or(Some(id));
        }
        union.ok_or_else(|| BtfError::NoType(name.to_string()))
    }

    /// The ids (with their kinds) of the types named `name` whose kind
    /// `wanted` accepts, in id order.
    fn ids_of<'b>(
        &'b self,
        name: &'b str,
        wanted: impl Fn(u32) -> bool + 'b,
    ) -> impl Iterator<Item = (u32, u32)> + 'b {
        let types = self.types();
        // Every record in order, each found from the one before.
        let starts = std::iter::successors(self.checkpoints.first().map(|&p| p as usize), |&pos| {
            self.next_record(pos).filter(|&next| next < types.len())
        });
        (1..=self.count).zip(starts).filter_map(move |(id, pos)| {
            let name_off = read_u32(types, pos)?;
            let kind = (read_u32(types, pos + 4)? >> 24) & 0x1f;
            (wanted(kind) && self.name_is(name_off, name.as_bytes())).then_some((id, kind))
        })
    }

    /// Follows typedefs, qualifiers and type tags to the type they name.
    fn resolve(&self, id: u32) -> Result<Type<'_>, BtfError> {
        let mut current = id;
        for _ in 0..MAX_DEPTH {
            let t = self.ty(current)?;
            match t.kind {
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                    current = t.size_or_type
                }
                _ => return Ok(t),
            }
        }
        Err(BtfError::BadType { id, what: "is a typedef/qualifier chain too long to follow (a cycle?)" })
    }

    /// Searches struct/union `outer` for a member named `name`, descending
    /// into anonymous struct/union members. `visited` holds the anonymous
    /// types already searched in vain (or being searched): skipping them keeps
    /// the work linear in the members present even when a corrupt file shares
    /// or cycles anonymous types.
    fn find_member(
        &self,
        outer: Type<'_>,
        name: &[u8],
        depth: usize,
        visited: &mut HashSet<u32>,
    ) -> Result<Option<Found>, BtfError> {
        if depth > MAX_DEPTH {
            return Err(BtfError::BadType {
                id: outer.id,
                what: "nests anonymous members too deeply (a cycle?)",
            });
        }
        for member in outer.extra.chunks_exact(12).take(outer.vlen) {
            let (Some(name_off), Some(type_id), Some(offset)) =
                (read_u32(member, 0), read_u32(member, 4), read_u32(member, 8))
            else {
                continue;
            };
            if name_off as usize >= self.strings().len() {
                return Err(BtfError::BadType {
                    id: outer.id,
                    what: "has a member name outside the string section",
                });
            }
            // With kind_flag, offset packs bitfield_size << 24 | bit_offset.
            let (bits, bitfield_size) =
                if outer.kind_flag { (offset & 0x00ff_ffff, offset >> 24) } else { (offset, 0) };
            if self.name_is(name_off, name) {
                return Ok(Some(Found {
                    bits: bits.into(),
                    type_id,
                    bitfield: bitfield_size != 0,
                    bitfield_size,
                }));
            }
            if !self.name_is(name_off, b"") {
                continue;
            }
            let inner = self.resolve(type_id)?;
            if (inner.kind == KIND_STRUCT || inner.kind == KIND_UNION) && visited.insert(inner.id) {
                if let Some(found) = self.find_member(inner, name, depth + 1, visited)? {
                    let total = found.bits + u64::from(bits);
                    return Ok(Some(Found { bits: total, ..found }));
                }
            }
        }
        Ok(None)
    }

    /// Whether `id` is an INT narrower than its storage: the pre-kind_flag
    /// way BTF encodes a bitfield member.
    fn is_int_bitfield(&self, id: u32) -> Result<bool, BtfError> {
        let t = self.resolve(id)?;
        if t.kind != KIND_INT {
            return Ok(false);
        }
        let encoding = read_u32(t.extra, 0).unwrap_or(0);
        let (nr_bits, bit_offset) = (encoding & 0xff, (encoding >> 16) & 0xff);
        Ok(bit_offset != 0 || u64::from(nr_bits) != u64::from(t.size_or_type) * 8)
    }

    /// Bytes of type `id`, typedefs and qualifiers resolved.
    fn size_of(&self, id: u32, depth: usize) -> Result<u64, BtfError> {
        if depth > MAX_DEPTH {
            return Err(BtfError::BadType { id, what: "nests arrays too deeply (a cycle?)" });
        }
        let t = self.resolve(id)?;
        match t.kind {
            KIND_INT | KIND_STRUCT | KIND_UNION | KIND_ENUM | KIND_ENUM64 | KIND_FLOAT => {
                Ok(t.size_or_type.into())
            }
            // This tool only runs on 64-bit kernels (x86_64, arm64).
            KIND_PTR => Ok(8),
            KIND_ARRAY => {
                let (Some(elem), Some(nelems)) = (read_u32(t.extra, 0), read_u32(t.extra, 8)) else {
                    return Err(BtfError::BadType {
                        id: t.id,
                        what: "runs past the end of the type section",
                    });
                };
                let elem_size = self.size_of(elem, depth + 1)?;
                elem_size
                    .checked_mul(nelems.into())
                    .ok_or(BtfError::BadType { id: t.id, what: "is too large" })
            }
            _ => Err(BtfError::BadType {
                id: t.id,
                what: "has no size (function, forward declaration or void)",
            }),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds BTF blobs in this machine's byte order, type by type (also
    /// used by other modules' tests).
    pub(crate) struct Builder {
        types: Vec<u8>,
        strings: Vec<u8>,
        next_id: u32,
    }

    impl Builder {
        pub(crate) fn new() -> Builder {
            Builder { types: Vec::new(), strings: vec![0], next_id: 1 }
        }

        /// A struct whose members are (name, type id, bit offset).
        pub(crate) fn structure(&mut self, name: &str, size: u32, members: &[(&str, u32, u32)]) -> u32 {
            self.composite(KIND_STRUCT, name, size, false, members)
        }

        fn string(&mut self, s: &str) -> u32 {
            if s.is_empty() {
                return 0;
            }
            let off = self.strings.len() as u32;
            self.strings.extend_from_slice(s.as_bytes());
            self.strings.push(0);
            off
        }

        fn push(&mut self, name: &str, kind: u32, kind_flag: bool, size_or_type: u32, extra: &[u32]) -> u32 {
            self.push_vlen(name, kind, 0, kind_flag, size_or_type, extra)
        }

        fn push_vlen(
            &mut self,
            name: &str,
            kind: u32,
            vlen: u32,
            kind_flag: bool,
            size_or_type: u32,
            extra: &[u32],
        ) -> u32 {
            let name_off = self.string(name);
            let info = (u32::from(kind_flag) << 31) | (kind << 24) | vlen;
            for word in [name_off, info, size_or_type].iter().chain(extra) {
                self.types.extend_from_slice(&word.to_ne_bytes());
            }
            self.next_id += 1;
            self.next_id - 1
        }

        pub(crate) fn int(&mut self, name: &str, size: u32, bits: u32) -> u32 {
            self.push(name, KIND_INT, false, size, &[bits])
        }

        /// An int type of `bits` bits from bit `offset` of its `size` bytes:
        /// a bitfield as BTF without kind_flag encodes it.
        pub(crate) fn int_bits(&mut self, name: &str, size: u32, bits: u32, offset: u32) -> u32 {
            self.push(name, KIND_INT, false, size, &[offset << 16 | bits])
        }

        fn composite(
            &mut self,
            kind: u32,
            name: &str,
            size: u32,
            kind_flag: bool,
            members: &[(&str, u32, u32)],
        ) -> u32 {
            let mut extra = Vec::new();
            for &(member, type_id, offset) in members {
                extra.extend([self.string(member), type_id, offset]);
            }
            self.push_vlen(name, kind, members.len() as u32, kind_flag, size, &extra)
        }

        /// A 4-byte enum of (name, value) pairs; `unsigned` sets kind_flag.
        pub(crate) fn enumeration(&mut self, name: &str, unsigned: bool, values: &[(&str, u32)]) -> u32 {
            let mut extra = Vec::new();
            for &(enumerator, value) in values {
                extra.extend([self.string(enumerator), value]);
            }
            self.push_vlen(name, KIND_ENUM, values.len() as u32, unsigned, 4, &extra)
        }

        pub(crate) fn build(&self) -> Vec<u8> {
            let (type_len, str_len) = (self.types.len() as u32, self.strings.len() as u32);
            let mut blob = Vec::new();
            blob.extend_from_slice(&MAGIC.to_ne_bytes());
            blob.extend_from_slice(&[1, 0]);
            for word in [HEADER_LEN as u32, 0, type_len, type_len, str_len] {
                blob.extend_from_slice(&word.to_ne_bytes());
            }
            blob.extend_from_slice(&self.types);
            blob.extend_from_slice(&self.strings);
            blob
        }
    }

    /// A blob covering each case member_offset handles; ids are asserted so
    /// forward references (the pointer, the cycles) stay right.
    fn fixture() -> Vec<u8> {
        let mut b = Builder::new();
        assert_eq!(b.push("outer", 7, false, 0, &[]), 1); // FWD: must be skipped by name lookup
        let int = b.int("int", 4, 32);
        let uchar = b.int("unsigned char", 1, 8);
        let u32_t = b.push("u32", KIND_TYPEDEF, false, int, &[]);
        let const_u32 = b.push("", KIND_CONST, false, u32_t, &[]);
        let bytes16 = b.push("", KIND_ARRAY, false, 0, &[uchar, int, 16]);
        let ns_common =
            b.composite(KIND_STRUCT, "ns_common", 16, false, &[("stashed", int, 0), ("inum", const_u32, 64)]);
        let pair = b.composite(KIND_STRUCT, "", 8, false, &[("lo", int, 0), ("hi", int, 32)]);
        let anon =
            b.composite(KIND_UNION, "", 16, false, &[("addr", bytes16, 0), ("", pair, 0), ("pair", pair, 0)]);
        let ns_t = b.push("ns_common_t", KIND_TYPEDEF, false, ns_common, &[]);
        assert_eq!(ns_t, 10);
        let ptr = b.push("", KIND_PTR, false, 12, &[]);
        let outer = b.composite(
            KIND_STRUCT,
            "outer",
            80,
            true,
            &[
                ("family", int, 0),
                ("", anon, 32),
                ("ns", ns_t, 160),
                ("id", u32_t, 288),
                ("flags", int, 3 << 24 | 320),
                ("next", ptr, 384),
                ("tail", bytes16, 448),
            ],
        );
        assert_eq!(outer, 12);
        let bits3 = b.int("bits3", 4, 3);
        b.composite(
            KIND_STRUCT,
            "oldbits",
            8,
            false,
            &[("whole", int, 0), ("narrow", bits3, 32), ("odd", uchar, 36)],
        );
        b.composite(KIND_UNION, "dup", 4, false, &[("u", int, 0)]);
        b.composite(KIND_STRUCT, "dup", 8, false, &[("s", int, 32)]);
        assert_eq!(b.push("loop", KIND_TYPEDEF, false, 17, &[]), 17);
        assert_eq!(b.composite(KIND_STRUCT, "cyclic", 4, false, &[("", 18, 0), ("x", 17, 0)]), 18);
        b.build()
    }

    fn at(offset: u32, size: u32) -> MemberLocation {
        MemberLocation { offset, size }
    }

    #[test]
    fn a_small_member_is_found_whole_or_as_a_byte_aligned_bitfield() {
        // sock.sk_protocol: a u16 since 5.6; before, 8 bits of a bitfield
        // word (int-encoded here), after 8 bits of flags.
        let mut b = Builder::new();
        let u16_t = b.int("u16", 2, 16);
        let word = b.int("unsigned int", 4, 32);
        let narrow = b.int_bits("unsigned int", 4, 8, 8);
        let odd = b.int_bits("unsigned int", 4, 7, 1);
        b.structure("new_sock", 600, &[("sk_flags", word, 4096), ("sk_protocol", u16_t, 4128)]);
        b.structure("old_sock", 600, &[("sk_protocol", narrow, 4096)]);
        b.structure("odd_sock", 600, &[("sk_protocol", odd, 4096)]);
        b.structure("short_sock", 513, &[("sk_protocol", u16_t, 4096)]);
        let btf = Btf::parse(&b.build()).unwrap();
        assert_eq!(btf.small_member("new_sock", "sk_protocol").unwrap(), (516, 16));
        assert_eq!(btf.small_member("old_sock", "sk_protocol").unwrap(), (513, 8));
        assert!(btf.small_member("odd_sock", "sk_protocol").unwrap_err().to_string().contains("7 bits"));
        assert!(btf
            .small_member("short_sock", "sk_protocol")
            .unwrap_err()
            .to_string()
            .contains("past the end"));
    }

    #[test]
    fn a_member_past_the_end_of_its_struct_is_refused() {
        // A crafted file that moves skc_v6_daddr past sock_common's end (where
        // a program would read kernel pointers instead of the address), and
        // one that nests a member past the end of the outer struct.
        let mut b = Builder::new();
        let u8_t = b.int("u8", 1, 8);
        let u32_t = b.int("u32", 4, 32);
        let in6 = b.structure("in6_addr", 16, &[("a", u8_t, 0)]);
        b.structure("sock_common", 64, &[("skc_daddr", u32_t, 0), ("skc_v6_daddr", in6, 56 * 8)]);
        let ns = b.structure("ns_common", 8, &[("inum", u32_t, 0)]);
        b.structure("net", 10, &[("ns", ns, 8 * 8)]);
        let btf = Btf::parse(&b.build()).unwrap();
        assert_eq!(btf.member_offset("sock_common", &["skc_daddr"]).unwrap().offset, 0);
        let past = btf.member_offset("sock_common", &["skc_v6_daddr"]).unwrap_err().to_string();
        assert!(
            past.contains("sock_common.skc_v6_daddr (16 bytes at offset 56) lies past the end of sock_common (64 bytes)"),
            "{past}"
        );
        let nested = btf.member_offset("net", &["ns", "inum"]).unwrap_err().to_string();
        assert!(
            nested.contains("net.ns.inum (4 bytes at offset 8) lies past the end of net (10 bytes)"),
            "{nested}"
        );
    }

    #[test]
    fn finds_plain_anonymous_nested_typedef_array_and_pointer_members() {
        let btf = Btf::parse(&fixture()).unwrap();
        let find = |path: &[&str]| btf.member_offset("outer", path).unwrap();
        assert_eq!(find(&["family"]), at(0, 4));
        assert_eq!(find(&["addr"]), at(4, 16), "through the anonymous union; array size = 16 × 1");
        assert_eq!(find(&["lo"]), at(4, 4), "anonymous struct inside the anonymous union");
        assert_eq!(find(&["hi"]), at(8, 4));
        assert_eq!(find(&["pair"]), at(4, 8), "found after searching the same type as an anonymous member");
        assert_eq!(find(&["pair", "hi"]), at(8, 4));
        assert_eq!(find(&["ns"]), at(20, 16));
        assert_eq!(find(&["ns", "inum"]), at(28, 4), "through a typedef'd struct to a const typedef'd int");
        assert_eq!(find(&["id"]), at(36, 4));
        assert_eq!(find(&["next"]), at(48, 8));
        assert_eq!(find(&["tail"]), at(56, 16));
        assert_eq!(find(&[]), at(0, 80));
        assert_eq!(btf.member_offset("ns_common", &["inum"]).unwrap(), at(8, 4));
        assert_eq!(btf.member_offset("oldbits", &["whole"]).unwrap(), at(0, 4));
        assert_eq!(btf.member_offset("dup", &["s"]).unwrap(), at(4, 4), "the struct wins over the union");
    }

    #[test]
    fn a_member_of_the_wrong_size_is_refused_with_both_sizes() {
        let btf = Btf::parse(&fixture()).unwrap();
        assert_eq!(btf.member_of_size("outer", &["ns", "inum"], 4).unwrap(), 28);
        match btf.member_of_size("outer", &["ns", "inum"], 8) {
            Err(BtfError::Unexpected(message)) => assert_eq!(message, "outer.ns.inum is 4 bytes, not 8"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(btf.member_of_size("outer", &["nothing"], 4), Err(BtfError::NoMember { .. })));
    }

    #[test]
    fn bitfields_are_refused() {
        let btf = Btf::parse(&fixture()).unwrap();
        for (type_name, member) in [("outer", "flags"), ("oldbits", "narrow"), ("oldbits", "odd")] {
            match btf.member_offset(type_name, &[member]) {
                Err(BtfError::Bitfield { type_name: t, member: m }) => {
                    assert_eq!((t.as_str(), m.as_str()), (type_name, member))
                }
                other => panic!("{type_name}.{member}: {other:?}"),
            }
        }
    }

    #[test]
    fn missing_names_are_named_in_the_error() {
        let btf = Btf::parse(&fixture()).unwrap();
        let message =
            |type_name: &str, path: &[&str]| btf.member_offset(type_name, path).unwrap_err().to_string();
        assert_eq!(message("outer", &["nope"]), "/sys/kernel/btf/vmlinux: outer has no member nope");
        assert_eq!(message("outer", &["ns", "nope"]), "/sys/kernel/btf/vmlinux: outer has no member ns.nope");
        assert_eq!(message("nosuch", &["x"]), "/sys/kernel/btf/vmlinux: no struct or union named nosuch");
        assert!(message("outer", &["family", "x"]).contains("outer.family is not a struct or union"));
        assert!(message("outer", &["next", "family"]).contains("outer.next is not a struct or union"));
        assert!(matches!(btf.member_offset("outer", &[""]), Err(BtfError::NoMember { .. })));
        assert!(matches!(btf.member_offset("dup", &["u"]), Err(BtfError::NoMember { .. })));
        // Typedefs by name: a struct of that name is not one.
        assert_eq!(btf.typedef_id("ns_common_t").unwrap(), 10);
        assert_eq!(btf.typedef_id("u32").unwrap(), 4);
        assert_eq!(
            btf.typedef_id("outer").unwrap_err().to_string(),
            "/sys/kernel/btf/vmlinux: no typedef named outer"
        );
    }

    #[test]
    fn reference_cycles_end_in_errors() {
        let btf = Btf::parse(&fixture()).unwrap();
        let err = btf.member_offset("cyclic", &["x"]).unwrap_err();
        assert!(matches!(err, BtfError::BadType { id: 17, .. }), "{err:?}");
        // The anonymous member of its own type is searched once, not forever.
        assert!(matches!(btf.member_offset("cyclic", &["y"]), Err(BtfError::NoMember { .. })));
        assert!(matches!(btf.member_offset("cyclic", &[]), Ok(MemberLocation { offset: 0, size: 4 })));

        let mut b = Builder::new();
        b.push("", KIND_ARRAY, false, 0, &[1, 1, 2]); // an array of itself
        b.composite(KIND_STRUCT, "s", 8, false, &[("a", 1, 0)]);
        let btf = Btf::parse(&b.build()).unwrap();
        assert!(matches!(btf.member_offset("s", &["a"]), Err(BtfError::BadType { .. })));
    }

    #[test]
    fn header_problems_are_reported() {
        let blob = fixture();
        assert!(matches!(Btf::parse(&[]), Err(BtfError::Corrupt("truncated header"))));
        let mut swapped = blob.clone();
        swapped.swap(0, 1);
        assert!(matches!(Btf::parse(&swapped), Err(BtfError::ByteSwapped)));
        let mut version = blob.clone();
        version[2] = 2;
        assert!(matches!(Btf::parse(&version), Err(BtfError::Version(2))));
        let short = &blob[..blob.len() - 1];
        assert_eq!(
            Btf::parse(short).err().map(|e| e.to_string()).as_deref(),
            Some("/sys/kernel/btf/vmlinux: truncated string section")
        );

        let mut b = Builder::new();
        b.int("int", 4, 32);
        b.push("", 25, false, 0, &[]);
        assert!(matches!(Btf::parse(&b.build()), Err(BtfError::UnknownKind { id: 2, kind: 25 })));
    }

    /// Runs every kind of lookup, so damaged blobs reach all the code.
    fn exercise(btf: &Btf) {
        let lookups: &[(&str, &[&str])] = &[
            ("outer", &["family"]),
            ("outer", &["addr"]),
            ("outer", &["hi"]),
            ("outer", &["ns", "inum"]),
            ("outer", &["id"]),
            ("outer", &["flags"]),
            ("outer", &["next", "family"]),
            ("outer", &["tail"]),
            ("outer", &["nope"]),
            ("outer", &[]),
            ("oldbits", &["narrow"]),
            ("oldbits", &["odd"]),
            ("dup", &["s"]),
            ("cyclic", &["x"]),
            ("cyclic", &["y"]),
        ];
        for (type_name, path) in lookups {
            if let Err(e) = btf.member_offset(type_name, path) {
                assert!(!e.to_string().contains('\n'));
            }
        }
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let blob = fixture();
        for len in 0..blob.len() {
            if let Ok(btf) = Btf::parse(&blob[..len]) {
                exercise(&btf);
            }
        }
        exercise(&Btf::parse(&blob).unwrap());
    }

    #[test]
    fn every_byte_flip_is_survived() {
        let blob = fixture();
        for i in 0..blob.len() {
            let original = blob[i];
            for value in
                [0x00, 0xff, 0x01, 0x80, 0x7f, original ^ 0x01, original ^ 0x10, original.wrapping_add(1)]
            {
                let mut damaged = blob.clone();
                damaged[i] = value;
                if let Ok(btf) = Btf::parse(&damaged) {
                    exercise(&btf);
                }
            }
        }
    }

    /// The running kernel's BTF, as bpftool decodes it (`format raw`): an
    /// oracle independent of the binary parsing above.
    struct Oracle {
        /// By type id - 1: the header line and the member lines under it.
        types: Vec<(String, Vec<String>)>,
    }

    fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
        line.split_whitespace().find_map(|word| word.strip_prefix(key))
    }

    fn quoted(line: &str) -> Option<&str> {
        line.split('\'').nth(1)
    }

    impl Oracle {
        fn load() -> Option<Oracle> {
            let args = ["btf", "dump", "file", VMLINUX_BTF, "format", "raw"];
            let output = ["bpftool", "/usr/sbin/bpftool"]
                .iter()
                .find_map(|tool| std::process::Command::new(tool).args(args).output().ok())
                .filter(|output| output.status.success())?;
            let mut types: Vec<(String, Vec<String>)> = Vec::new();
            for line in String::from_utf8(output.stdout).ok()?.lines() {
                if line.starts_with('[') {
                    types.push((line.to_string(), Vec::new()));
                } else if let (Some(last), true) = (types.last_mut(), line.starts_with('\t')) {
                    last.1.push(line.to_string());
                }
            }
            Some(Oracle { types })
        }

        fn kind(&self, id: usize) -> &str {
            self.types[id - 1].0.split_whitespace().nth(1).unwrap()
        }

        fn num(&self, id: usize, key: &str) -> u64 {
            field(&self.types[id - 1].0, key).unwrap().parse().unwrap()
        }

        fn resolve(&self, mut id: usize) -> usize {
            while ["TYPEDEF", "CONST", "VOLATILE", "RESTRICT", "TYPE_TAG"].contains(&self.kind(id)) {
                id = self.num(id, "type_id=") as usize;
            }
            id
        }

        fn size(&self, id: usize) -> u64 {
            let id = self.resolve(id);
            match self.kind(id) {
                "PTR" => 8,
                "ARRAY" => self.num(id, "nr_elems=") * self.size(self.num(id, "type_id=") as usize),
                _ => self.num(id, "size="),
            }
        }

        /// (bits_offset, type_id) of `name` in struct/union `id`, looking
        /// inside '(anon)' members.
        fn member(&self, id: usize, name: &str) -> Option<(u64, usize)> {
            for line in &self.types[id - 1].1 {
                let bits: u64 = field(line, "bits_offset=")?.parse().ok()?;
                let type_id: usize = field(line, "type_id=")?.parse().ok()?;
                if quoted(line) == Some(name) {
                    return Some((bits, type_id));
                }
                if quoted(line) == Some("(anon)") {
                    if let Some((inner_bits, inner_type)) = self.member(self.resolve(type_id), name) {
                        return Some((bits + inner_bits, inner_type));
                    }
                }
            }
            None
        }

        fn member_offset(&self, type_name: &str, path: &[&str]) -> MemberLocation {
            let mut id = (1..=self.types.len())
                .find(|&id| self.kind(id) == "STRUCT" && quoted(&self.types[id - 1].0) == Some(type_name))
                .unwrap();
            let mut bits = 0;
            for name in path {
                let (member_bits, type_id) = self.member(self.resolve(id), name).unwrap();
                bits += member_bits;
                id = type_id;
            }
            MemberLocation { offset: (bits / 8) as u32, size: self.size(id) as u32 }
        }
    }

    #[test]
    fn real_kernel_offsets_match_bpftool() {
        let started = std::time::Instant::now();
        let bytes = match std::fs::read(VMLINUX_BTF) {
            Ok(bytes) => bytes,
            Err(e) => return eprintln!("skipped: cannot read {VMLINUX_BTF}: {e}"),
        };
        let read = started.elapsed();
        let started = std::time::Instant::now();
        let btf = Btf::parse(&bytes).unwrap();
        eprintln!(
            "{VMLINUX_BTF}: {} bytes, {} types, read in {read:?}, parsed in {:?}",
            bytes.len(),
            btf.count,
            started.elapsed()
        );

        let started = std::time::Instant::now();
        let daddr = btf.member_offset("sock_common", &["skc_v6_daddr"]).unwrap();
        eprintln!("one lookup took {:?}", started.elapsed());
        let saddr = btf.member_offset("sock_common", &["skc_v6_rcv_saddr"]).unwrap();
        assert_eq!(saddr, at(daddr.offset + 16, 16));
        assert!(matches!(btf.member_offset("sock_common", &["skc_reuse"]), Err(BtfError::Bitfield { .. })));

        let Some(oracle) = Oracle::load() else {
            assert!(std::env::var_os("CI").is_none(), "bpftool is needed for this test in CI");
            return eprintln!("skipped the bpftool comparison: bpftool not found or failed");
        };
        assert_eq!(oracle.types.len(), btf.count as usize, "type count");
        let lookups: &[(&str, &[&str])] = &[
            ("sock_common", &["skc_v6_daddr"]),
            ("sock_common", &["skc_v6_rcv_saddr"]),
            ("sock_common", &["skc_family"]),
            ("sock_common", &["skc_daddr"]),
            ("sock_common", &["skc_rcv_saddr"]),
            ("sock_common", &["skc_dport"]),
            ("sock_common", &["skc_num"]),
            ("sock", &["__sk_common", "skc_dport"]),
            ("task_struct", &["nsproxy"]),
            ("task_struct", &["tgid"]),
            ("task_struct", &["pid"]),
            ("task_struct", &["comm"]),
            ("task_struct", &["cred"]),
            ("cred", &["uid"]),
            ("nsproxy", &["mnt_ns"]),
            ("mnt_namespace", &["ns", "inum"]),
        ];
        for (type_name, path) in lookups {
            let ours = btf.member_offset(type_name, path).unwrap();
            assert_eq!(ours, oracle.member_offset(type_name, path), "{type_name} {path:?}");
        }
        // The BTF tracepoint's type, as bpftool names it by id.
        let id = btf.typedef_id("btf_trace_inet_sock_set_state").unwrap() as usize;
        assert_eq!(oracle.kind(id), "TYPEDEF");
        assert_eq!(quoted(&oracle.types[id - 1].0), Some("btf_trace_inet_sock_set_state"));
    }

    #[test]
    fn an_enumerator_is_found_by_enum_and_name() {
        let mut b = Builder::new();
        b.enumeration("other", false, &[("pids_cgrp_id", 9)]);
        b.enumeration("cgroup_subsys_id", false, &[("cpuset_cgrp_id", 0), ("pids_cgrp_id", 11)]);
        b.enumeration("signed", false, &[("minus_one", u32::MAX)]);
        b.enumeration("unsigned", true, &[("big", u32::MAX)]);
        let btf = Btf::parse(&b.build()).unwrap();
        assert_eq!(btf.enum_value("cgroup_subsys_id", "pids_cgrp_id").unwrap(), 11);
        assert_eq!(btf.enum_value("cgroup_subsys_id", "cpuset_cgrp_id").unwrap(), 0);
        assert_eq!(btf.enum_value("signed", "minus_one").unwrap(), -1);
        assert_eq!(btf.enum_value("unsigned", "big").unwrap(), i64::from(u32::MAX));
        assert_eq!(
            btf.enum_value("cgroup_subsys_id", "memory_cgrp_id").unwrap_err().to_string(),
            format!("{VMLINUX_BTF}: enum cgroup_subsys_id has no member memory_cgrp_id")
        );
    }

    /// This kernel's controllers are numbered as /proc/cgroups lists them
    /// (its lines are in subsystem id order).
    #[test]
    fn this_kernels_cgroup_subsystems_match_proc_cgroups() {
        let (Ok(btf), Ok(listing)) = (Btf::load_vmlinux(), std::fs::read_to_string("/proc/cgroups")) else {
            return eprintln!("skipped: no BTF or no /proc/cgroups");
        };
        let names = listing.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split('\t').next());
        for (ssid, name) in names.enumerate() {
            // The io controller keeps its v1 name in /proc/cgroups.
            let name = if name == "blkio" { "io" } else { name };
            let value = btf.enum_value("cgroup_subsys_id", &format!("{name}_cgrp_id")).unwrap();
            assert_eq!(value, ssid as i64, "{name}");
        }
    }
}
