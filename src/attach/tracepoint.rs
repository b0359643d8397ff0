//! Tracepoints: a PERF_TYPE_TRACEPOINT event with the tracepoint's id from
//! tracefs. One event on one online CPU is enough: the program runs for the
//! tracepoint on every CPU.

use super::PerfLink;
use crate::sys::perf_event::{perf_event_open, PerfEventSpec};
use crate::sys::SysResult;
use crate::uapi::PERF_TYPE_TRACEPOINT;
use std::os::fd::BorrowedFd;

pub fn attach_tracepoint(tracepoint_id: u64, prog: BorrowedFd<'_>, online_cpu: u32) -> SysResult<PerfLink> {
    let event = perf_event_open(&PerfEventSpec {
        type_: PERF_TYPE_TRACEPOINT,
        config: tracepoint_id,
        probe_func: None,
        config2: 0,
        cpu: online_cpu as i32,
        wakeup_events: 1,
        wakeup_watermark: false,
    })?;
    PerfLink::new(event, prog)
}
