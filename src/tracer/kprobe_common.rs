//! What the kprobe programs and the calibration probe are both linked and
//! attached with: the pt_regs fields of the running architecture and the
//! kind of return probe this kernel takes.

use crate::abi;
use crate::host::arch::PT_REGS;
use crate::host::kernel::KernelVersion;
use crate::loader::FieldLayout;
use crate::tracefs::kprobe_events::ProbeKind;
use crate::tracefs::Tracefs;
use std::collections::HashMap;

/// pt_regs fields of the running architecture, as the programs' REG_* markers.
pub(super) fn register_fields() -> HashMap<u8, Option<FieldLayout>> {
    HashMap::from([
        (abi::REG_ARG1, Some(FieldLayout { offset: PT_REGS.arg1, size: 8, signed: false })),
        (abi::REG_ARG2, Some(FieldLayout { offset: PT_REGS.arg2, size: 8, signed: false })),
        (abi::REG_RC, Some(FieldLayout { offset: PT_REGS.rc, size: 8, signed: false })),
    ])
}

/// Return instances preallocated per legacy kretprobe (`r<N>:`): one per
/// thread that can be inside tcp_v*_connect at once, preemption included.
/// The kernel's default (2 per CPU) misses connects under load; 4096 is the
/// kernel's maximum and costs a few hundred KiB. Upstream parses `r<N>:`
/// from 4.12; a kernel before that reads `r4096:grp/name` as an unnamed
/// probe (no error), so a backport is taken at its README's word
/// (`r[maxactive]`, the syntax it lists) and nothing else is guessed.
fn legacy_maxactive(tracefs: &Tracefs) -> Option<u32> {
    const MAXACTIVE_SINCE: KernelVersion = KernelVersion::new(4, 12, 0);
    let upstream = KernelVersion::running().is_some_and(|v| v >= MAXACTIVE_SINCE);
    (upstream || tracefs.readme_mentions("r[maxactive]")).then_some(4096)
}

/// Attach kind for return probes on this kernel.
pub(super) fn return_kind(tracefs: &Tracefs) -> ProbeKind {
    ProbeKind::Return { maxactive: legacy_maxactive(tracefs) }
}
