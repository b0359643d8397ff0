//! Whether the running kernel charges BPF maps to RLIMIT_MEMLOCK. Upstream
//! did until 5.11, when memory-cgroup accounting replaced it, but enterprise
//! kernels carry either behaviour under any version number, so it is
//! asked of the kernel: with the soft limit at 0 for a moment, a one-element
//! array map is refused (EPERM) only where the kernel charges it.

use crate::sys::bpf::{Map, MapParams};
use crate::sys::process::{memlock_limit, set_memlock_limit};
use crate::uapi::BPF_MAP_TYPE_ARRAY;

/// Some(true) where maps count against RLIMIT_MEMLOCK, Some(false) where
/// not, None where the probe itself could not run (no map can be made at
/// all: the loads that follow say why).
pub fn kernel_charges_memlock() -> Option<bool> {
    let params = MapParams {
        map_type: BPF_MAP_TYPE_ARRAY.id,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        map_flags: 0,
    };
    // A map must be possible at the current limit, or EPERM below would not
    // be the limit's.
    drop(Map::create(&params, "tc_memlock").ok()?);
    let limit = memlock_limit().ok()?;
    set_memlock_limit(libc::rlimit { rlim_cur: 0, ..limit }).ok()?;
    let at_zero = Map::create(&params, "tc_memlock");
    // Back to where it was: never above the hard limit, so always allowed.
    set_memlock_limit(limit).ok()?;
    match at_zero {
        Ok(_) => Some(false),
        Err(e) if e.errno() == libc::EPERM => Some(true),
        Err(_) => None,
    }
}
