//! What the kprobe programs and the calibration probe are both linked and
//! attached with: the pt_regs fields of the running architecture and the
//! kind of return probe this kernel takes.

use crate::abi;
use crate::host::arch::PT_REGS;
use crate::host::kernel::KernelVersion;
use crate::loader::FieldLayout;
use crate::tracefs::kprobe_events::ProbeKind;
use std::collections::HashMap;

/// pt_regs fields of the running architecture, as the programs' REG_* markers.
pub(super) fn register_fields() -> HashMap<u8, Option<FieldLayout>> {
    HashMap::from([
        (abi::REG_ARG1, Some(FieldLayout { offset: PT_REGS.arg1, size: 8, signed: false })),
        (abi::REG_ARG2, Some(FieldLayout { offset: PT_REGS.arg2, size: 8, signed: false })),
        (abi::REG_RC, Some(FieldLayout { offset: PT_REGS.rc, size: 8, signed: false })),
    ])
}

/// Return instances preallocated per legacy kretprobe (`r<N>:`, 4.12+): one
/// per thread that can be inside tcp_v*_connect at once, preemption
/// included. The kernel's default (2 per CPU) misses connects under load;
/// 4096 is the kernel's maximum and costs a few hundred KiB.
fn legacy_maxactive() -> Option<u32> {
    const MAXACTIVE_SINCE: KernelVersion = KernelVersion::new(4, 12, 0);
    KernelVersion::running().filter(|v| *v >= MAXACTIVE_SINCE).map(|_| 4096)
}

/// Attach kind for return probes on this kernel.
pub(super) fn return_kind() -> ProbeKind {
    ProbeKind::Return { maxactive: legacy_maxactive() }
}
