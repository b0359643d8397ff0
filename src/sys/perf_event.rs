//! perf_event_open(2), its ioctls, and the mmapped ring of a perf event.

use super::{owned_fd, SharedRing, SysError, SysResult};
use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::uapi::{
    PERF_ATTR_FLAG_WATERMARK, PERF_ATTR_SIZE_VER1, PERF_EVENT_IOC_DISABLE, PERF_EVENT_IOC_ENABLE,
    PERF_EVENT_IOC_SET_BPF, PERF_FLAG_FD_CLOEXEC, PERF_FORMAT_TOTAL_TIME_ENABLED, PERF_SAMPLE_RAW,
};

/// `struct perf_event_attr` up to config2 (PERF_ATTR_SIZE_VER1, 72 bytes):
/// every kernel with BPF accepts it, and it has the kprobe PMU fields.
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    type_: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    /// The flag bitfield (disabled, inherit, ... watermark ...).
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
    config2: u64,
}

/// How a perf event is opened.
pub(crate) struct PerfEventSpec<'a> {
    pub type_: u32,
    pub config: u64,
    /// kprobe PMU: the function to probe (config1 = kprobe_func, a pointer
    /// the kernel reads during the call); None for every other event.
    pub probe_func: Option<&'a CStr>,
    /// kprobe PMU: offset into the function (probe_offset); 0 otherwise.
    pub config2: u64,
    /// CPU to open on, or -1 for any.
    pub cpu: i32,
    /// Wake the reader after this many samples, or with `wakeup_watermark`
    /// once this many bytes wait in the ring.
    pub wakeup_events: u32,
    pub wakeup_watermark: bool,
}

/// perf_event_open(&attr, pid = -1, cpu, group = -1, FD_CLOEXEC): a
/// system-wide event sampling raw data, one sample per event. read(2) of it
/// gives two u64: its count and the nanoseconds it has been enabled.
pub(crate) fn perf_event_open(spec: &PerfEventSpec<'_>) -> SysResult<OwnedFd> {
    let mut attr = PerfEventAttr {
        type_: spec.type_,
        size: PERF_ATTR_SIZE_VER1,
        config: spec.config,
        sample_period: 1,
        sample_type: PERF_SAMPLE_RAW,
        read_format: PERF_FORMAT_TOTAL_TIME_ENABLED,
        wakeup_events: spec.wakeup_events,
        flags: if spec.wakeup_watermark { PERF_ATTR_FLAG_WATERMARK } else { 0 },
        config1: spec.probe_func.map_or(0, |name| name.as_ptr() as u64),
        config2: spec.config2,
        ..Default::default()
    };
    // SAFETY: attr is a live, initialized perf_event_attr prefix whose `size`
    // field says how much of it the kernel may read; config1, when it is a
    // kprobe function name, points into `spec.probe_func`, a NUL-terminated
    // string borrowed for the whole call (the kernel copies it with
    // strndup_user before returning); the other arguments are plain integers.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &mut attr as *mut PerfEventAttr,
            -1 as libc::pid_t,
            spec.cpu as libc::c_int,
            -1 as libc::c_int,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    owned_fd("perf_event_open", ret)
}

fn perf_ioctl(
    call: &'static str,
    fd: BorrowedFd<'_>,
    request: libc::c_ulong,
    arg: libc::c_ulong,
) -> SysResult<()> {
    // SAFETY: the perf ioctls used here take an integer argument, not a
    // pointer, so no memory is shared with the kernel.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), request as _, arg) };
    if ret < 0 {
        return Err(SysError::last(call));
    }
    Ok(())
}

/// PERF_EVENT_IOC_SET_BPF: run `prog` whenever the event fires.
pub(crate) fn perf_event_set_bpf(event: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> SysResult<()> {
    perf_ioctl(
        "ioctl(PERF_EVENT_IOC_SET_BPF)",
        event,
        PERF_EVENT_IOC_SET_BPF,
        prog.as_raw_fd() as libc::c_ulong,
    )
}

/// PERF_EVENT_IOC_ENABLE.
pub(crate) fn perf_event_enable(event: BorrowedFd<'_>) -> SysResult<()> {
    perf_ioctl("ioctl(PERF_EVENT_IOC_ENABLE)", event, PERF_EVENT_IOC_ENABLE, 0)
}

/// PERF_EVENT_IOC_DISABLE.
pub(crate) fn perf_event_disable(event: BorrowedFd<'_>) -> SysResult<()> {
    perf_ioctl("ioctl(PERF_EVENT_IOC_DISABLE)", event, PERF_EVENT_IOC_DISABLE, 0)
}

/// The page size, for sizing rings.
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no memory preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 {
        size as usize
    } else {
        4096
    }
}

// Offsets in struct perf_event_mmap_page (stable UAPI since 3.x).
const DATA_HEAD_OFFSET: usize = 1024;
const DATA_TAIL_OFFSET: usize = 1032;

/// A perf event's ring mapped into our memory: one metadata page followed by
/// `data_len` bytes of data. Unmapped on drop.
pub(crate) struct PerfRingMap {
    base: *mut u8,
    map_len: usize,
    data_len: usize,
}

impl PerfRingMap {
    /// Maps 1 + `data_pages` pages of `event` (data_pages a power of two).
    pub fn new(event: BorrowedFd<'_>, data_pages: usize) -> SysResult<PerfRingMap> {
        let page = page_size();
        // Checked: a wrapped length would map less than data() reads.
        let lens = data_pages.checked_mul(page).and_then(|data| Some((data, data.checked_add(page)?)));
        let Some((data_len, map_len)) = lens else {
            return Err(SysError { call: "mmap(perf ring)", error: std::io::ErrorKind::InvalidInput.into() });
        };
        // SAFETY: a fresh shared mapping of a perf event fd at an address the
        // kernel picks, so no existing memory is touched; the kernel
        // validates the length (perf_mmap: exactly 1 + 2^n pages) and we
        // check the result, so on success all map_len bytes are mapped.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                event.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(SysError::last("mmap(perf ring)"));
        }
        Ok(PerfRingMap { base: base as *mut u8, map_len, data_len })
    }

    fn meta_u64(&self, offset: usize) -> &AtomicU64 {
        // SAFETY: offset is 1024 or 1032, 8-aligned and inside the metadata
        // page, which stays mapped for &self's lifetime. The kernel updates
        // data_head concurrently, hence an atomic view of the word.
        unsafe { &*(self.base.add(offset) as *const AtomicU64) }
    }

    /// data_head, read with Acquire so the record bytes the kernel wrote
    /// before publishing it are visible to us (the smp_rmb of the perf ABI).
    pub fn data_head(&self) -> u64 {
        self.meta_u64(DATA_HEAD_OFFSET).load(Ordering::Acquire)
    }

    /// data_tail as we last published it.
    pub fn data_tail(&self) -> u64 {
        self.meta_u64(DATA_TAIL_OFFSET).load(Ordering::Relaxed)
    }

    /// Publishes data_tail with Release: everything we read from the ring
    /// happens before the kernel may overwrite it (the perf ABI's smp_mb).
    pub fn set_data_tail(&self, tail: u64) {
        self.meta_u64(DATA_TAIL_OFFSET).store(tail, Ordering::Release)
    }

    /// The data area, to parse records out of (`perf::ring`), seen only
    /// through copies: the kernel writes into it beyond data_head while we
    /// read below it, so no `&[u8]` of it may exist. Read data_head first
    /// (its Acquire makes the records below it visible).
    pub fn data(&self) -> SharedRing<'_> {
        // SAFETY: the data area starts one page into the live mapping and is
        // data_len bytes long (data_pages pages: page-aligned, whole 8-byte
        // words); it stays mapped while self is borrowed (munmap is in Drop).
        unsafe { SharedRing::new(self.base.add(self.map_len - self.data_len), self.data_len) }
    }
}

impl Drop for PerfRingMap {
    fn drop(&mut self) {
        // SAFETY: base/map_len are exactly what mmap returned; no views or
        // references into the mapping outlive self (they borrow it).
        unsafe {
            libc::munmap(self.base as *mut libc::c_void, self.map_len);
        }
    }
}
