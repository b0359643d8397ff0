//! Our own BPF object loader, split like aya-obj: `elf` reads the object into
//! plain specs without touching the kernel, `link` turns a program spec into
//! final instructions given map fds, constants and tracepoint field offsets.
//! Both are pure and unit-tested on the embedded object; creating maps and
//! loading programs is done by the caller through `sys::bpf`.

pub mod elf;
pub mod insn;
pub mod link;
pub mod lint;

pub use elf::{parse_object, MapSpec, ObjectSpec, ProgramSpec, RelocTarget, Relocation};
pub use link::{link_program, FieldLayout, LinkError, LinkInputs};

/// 8-byte alignment for the embedded ELF: the `object` crate reads its
/// headers in place and refuses misaligned data.
#[repr(C, align(8))]
struct Aligned<T: ?Sized>(T);

static ALIGNED_OBJECT: &Aligned<[u8]> = &Aligned(*include_bytes!(env!("TCPCONNECT_BPF_OBJECT")));

/// The BPF object compiled from bpf-prebuilt/tcpconnect.bpf.c, embedded at build time.
pub static EMBEDDED_OBJECT: &[u8] = &ALIGNED_OBJECT.0;
