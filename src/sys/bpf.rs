//! bpf(2): map creation, element access and program loading.
//!
//! `union bpf_attr` is passed with a size that covers only the fields we set:
//! kernels reject a larger attr whose unknown tail is not zero (E2BIG), so a
//! smaller size is what keeps 4.x kernels happy.
//!
//! The element calls hand the kernel raw pointers to our buffers, and the
//! kernel trusts the map, not us, for how much it reads or writes through
//! them: `Map` sizes or checks every buffer against what the kernel will
//! copy, so no call from safe code can make it write past one.

use super::{owned_fd, SysError, SysResult};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::OnceLock;

use crate::uapi::{
    BPF_ENABLE_STATS, BPF_LINK_CREATE, BPF_MAP_CREATE, BPF_MAP_DELETE_ELEM, BPF_MAP_GET_NEXT_KEY,
    BPF_MAP_LOOKUP_ELEM, BPF_MAP_TYPE_LRU_PERCPU_HASH, BPF_MAP_TYPE_PERCPU_ARRAY,
    BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE, BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_UPDATE_ELEM, BPF_OBJ_GET,
    BPF_OBJ_NAME_LEN, BPF_PROG_LOAD, BPF_RAW_TRACEPOINT_OPEN, BPF_STATS_RUN_TIME,
};

/// The OBJ_PIN / OBJ_GET part of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct ObjGetAttr {
    pathname: u64,
    bpf_fd: u32,
    file_flags: u32,
}

/// Size of ObjGetAttr without file_flags (added in 4.15; 0 means read-write).
const OBJ_GET_ATTR_SIZE_NO_FLAGS: usize = 12;

/// BPF_OBJ_GET: opens the BPF object pinned at `path` in a bpf filesystem.
pub(crate) fn bpf_obj_get(path: &std::ffi::CStr) -> SysResult<OwnedFd> {
    let mut attr = ObjGetAttr { pathname: path.as_ptr() as u64, ..Default::default() };
    // `path` is NUL-terminated and borrowed for the whole call.
    let ret = sys_bpf(BPF_OBJ_GET, &mut attr, OBJ_GET_ATTR_SIZE_NO_FLAGS);
    owned_fd("bpf(BPF_OBJ_GET)", ret)
}

/// The ENABLE_STATS part of `union bpf_attr` (5.8).
#[repr(C)]
#[derive(Default)]
struct EnableStatsAttr {
    stats_type: u32,
}

/// BPF_ENABLE_STATS(BPF_STATS_RUN_TIME): the kernel counts every program's
/// run time and runs (run_time_ns and run_cnt in a program fd's fdinfo)
/// while the returned fd is open, as kernel.bpf_stats_enabled=1 does, and
/// stops when the last such fd closes, at exit too: nothing is left on.
/// For the bench, which measures what the programs cost.
pub fn enable_run_time_stats() -> SysResult<OwnedFd> {
    let mut attr = EnableStatsAttr { stats_type: BPF_STATS_RUN_TIME };
    let ret = sys_bpf(BPF_ENABLE_STATS, &mut attr, std::mem::size_of::<EnableStatsAttr>());
    owned_fd("bpf(BPF_ENABLE_STATS)", ret)
}

/// The RAW_TRACEPOINT_OPEN part of `union bpf_attr` (4.17). The padding
/// after prog_fd is part of the kernel's layout and must be zero.
#[repr(C)]
#[derive(Default)]
struct RawTracepointOpenAttr {
    name: u64,
    prog_fd: u32,
    _pad: u32,
}

/// BPF_RAW_TRACEPOINT_OPEN: attaches `prog` (BPF_PROG_TYPE_RAW_TRACEPOINT)
/// to the tracepoint `name`, or a BTF tracepoint program (name None: it was
/// loaded for its tracepoint, 5.5+) to its own. The program stays attached
/// while the returned fd is open.
pub(crate) fn bpf_raw_tracepoint_open(
    name: Option<&std::ffi::CStr>,
    prog: BorrowedFd<'_>,
) -> SysResult<OwnedFd> {
    let mut attr = RawTracepointOpenAttr {
        name: name.map_or(0, |name| name.as_ptr() as u64),
        prog_fd: prog.as_raw_fd() as u32,
        ..Default::default()
    };
    // `name`, if any, is NUL-terminated and borrowed for the whole call.
    let ret = sys_bpf(BPF_RAW_TRACEPOINT_OPEN, &mut attr, std::mem::size_of::<RawTracepointOpenAttr>());
    owned_fd("bpf(BPF_RAW_TRACEPOINT_OPEN)", ret)
}

/// The LINK_CREATE part of `union bpf_attr` (5.7), up to `flags`: the
/// cgroup form, which needs nothing after it.
#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_fd: u32,
    attach_type: u32,
    flags: u32,
}

/// BPF_LINK_CREATE: attaches `prog` to the cgroup `cgroup` (a directory of
/// the cgroup v2 hierarchy, opened) at `attach_type`, beside any other
/// program there (links always attach as BPF_F_ALLOW_MULTI). The program
/// stays attached while the returned fd is open and no longer: a killed
/// run leaves nothing on the cgroup, which BPF_PROG_ATTACH would.
pub(crate) fn bpf_link_create_cgroup(
    prog: BorrowedFd<'_>,
    cgroup: BorrowedFd<'_>,
    attach_type: u32,
) -> SysResult<OwnedFd> {
    let mut attr = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type,
        flags: 0,
    };
    let ret = sys_bpf(BPF_LINK_CREATE, &mut attr, std::mem::size_of::<LinkCreateAttr>());
    owned_fd("bpf(BPF_LINK_CREATE)", ret)
}

fn name_bytes(name: &str) -> [u8; BPF_OBJ_NAME_LEN] {
    let mut out = [0u8; BPF_OBJ_NAME_LEN];
    // Only [A-Za-z0-9_.] is accepted by the kernel; our names are literals.
    for (dst, src) in out.iter_mut().zip(name.bytes().take(BPF_OBJ_NAME_LEN - 1)) {
        *dst = src;
    }
    out
}

/// The MAP_CREATE part of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; BPF_OBJ_NAME_LEN],
}

/// Size of MapCreateAttr without the name (map_name came in 4.15).
const MAP_CREATE_ATTR_SIZE_NO_NAME: usize = 28;

/// The MAP_*_ELEM / GET_NEXT_KEY part of `union bpf_attr`.
#[repr(C)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

/// The PROG_LOAD part of `union bpf_attr`, up to prog_name.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; BPF_OBJ_NAME_LEN],
}

/// Size of ProgLoadAttr without the name (prog_name came in 4.15).
const PROG_LOAD_ATTR_SIZE_NO_NAME: usize = 48;

// The kernel's layout of both: a wrong size would make it read garbage.
const _: () = assert!(std::mem::size_of::<ProgLoadAttr>() == 64);
const _: () = assert!(std::mem::size_of::<ProgLoadBtfAttr>() == 112);

/// ProgLoadAttr up to attach_btf_id (5.5), for a program that attaches to
/// a kernel type named by its BTF id; only such loads pass this size, so
/// every other load is what 4.x kernels know.
#[repr(C)]
#[derive(Default)]
struct ProgLoadBtfAttr {
    base: ProgLoadAttr,
    prog_ifindex: u32,
    expected_attach_type: u32,
    prog_btf_fd: u32,
    func_info_rec_size: u32,
    func_info: u64,
    func_info_cnt: u32,
    line_info_rec_size: u32,
    line_info: u64,
    line_info_cnt: u32,
    attach_btf_id: u32,
}

fn sys_bpf<T>(cmd: libc::c_int, attr: &mut T, size: usize) -> libc::c_long {
    debug_assert!(size <= std::mem::size_of::<T>());
    // SAFETY: attr points to a live, initialized #[repr(C)] struct at least
    // `size` bytes long, laid out as the kernel's union bpf_attr member for
    // `cmd`; any pointers inside it point to buffers the caller keeps alive
    // for the duration of the call.
    unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T as *mut libc::c_void, size as libc::c_uint) }
}

/// What a map is, as BPF_MAP_CREATE wants it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapParams {
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
}

/// Whether the kernel keeps a value per possible CPU for each key of a map
/// of `map_type`, and copies all of them through an element call's value
/// pointer: `round_up(value_size, 8) * num_possible_cpus()` bytes
/// (bpf_map_value_size in kernel/bpf/syscall.c, the same four types since
/// 4.20).
fn is_per_cpu(map_type: u32) -> bool {
    [
        BPF_MAP_TYPE_PERCPU_HASH,
        BPF_MAP_TYPE_PERCPU_ARRAY,
        BPF_MAP_TYPE_LRU_PERCPU_HASH,
        BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE,
    ]
    .iter()
    .any(|t| t.id == map_type)
}

/// An element call that does not fit the map's kind of value, refused
/// before the kernel sees it (errno 0; [`SysError::refusal`] returns it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PerCpuMismatch {
    /// `lookup` or `update` on a per-CPU map, whose values the kernel copies
    /// for every possible CPU: `lookup_percpu` and `update_percpu` size them.
    PerCpuMap { map_type: u32 },
    /// `lookup_percpu` or `update_percpu` on a map with one value a key.
    NotPerCpuMap { map_type: u32 },
}

impl fmt::Display for PerCpuMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (map_type, keeps, calls) = match *self {
            PerCpuMismatch::PerCpuMap { map_type } => {
                (map_type, "a value per possible CPU", "lookup_percpu and update_percpu")
            }
            PerCpuMismatch::NotPerCpuMap { map_type } => (map_type, "one value a key", "lookup and update"),
        };
        write!(f, "map type {map_type} keeps {keeps}: read and write it with {calls}")
    }
}

impl std::error::Error for PerCpuMismatch {}

/// Where the kernel lists the possible CPUs: cpu_possible_mask, whose
/// weight is the num_possible_cpus() that sizes per-CPU values.
const POSSIBLE_CPUS: &str = "/sys/devices/system/cpu/possible";

/// The possible CPUs, in the order the kernel copies per-CPU values
/// (for_each_possible_cpu), read once. Only this sizes per-CPU buffers:
/// a count from a caller could be too small, and the kernel would write
/// past the buffer.
fn possible_cpus() -> SysResult<&'static [u32]> {
    static POSSIBLE: OnceLock<Result<Vec<u32>, String>> = OnceLock::new();
    let read = || {
        let text = std::fs::read_to_string(POSSIBLE_CPUS).map_err(|e| e.to_string())?;
        parse_possible_cpus(&text)
            .ok_or_else(|| format!("unexpected contents \"{}\"", crate::escape::escaped(text.trim())))
    };
    match POSSIBLE.get_or_init(read) {
        Ok(cpus) => Ok(cpus),
        Err(message) => Err(SysError {
            call: "read /sys/devices/system/cpu/possible",
            error: io::Error::new(io::ErrorKind::InvalidData, message.clone()),
        }),
    }
}

/// The CPUs of a kernel CPU list ("0-3,5\n"), ascending as the kernel
/// prints them (bitmap_print_to_pagebuf); None unless it is one.
fn parse_possible_cpus(text: &str) -> Option<Vec<u32>> {
    let mut cpus: Vec<u32> = Vec::new();
    for part in text.trim().split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((lo, hi)) => (lo.parse::<u32>().ok()?, hi.parse::<u32>().ok()?),
            None => {
                let cpu = part.parse::<u32>().ok()?;
                (cpu, cpu)
            }
        };
        // Ascending and bounded (NR_CPUS is at most 8192): a list read
        // wrong is refused, never counted short.
        if lo > hi || hi >= 1 << 16 || cpus.last().is_some_and(|&last| lo <= last) {
            return None;
        }
        cpus.extend(lo..=hi);
    }
    (!cpus.is_empty()).then_some(cpus)
}

/// The values of one key of a per-CPU map, one for each possible CPU, laid
/// out as the kernel copies them: each `value_size` bytes followed by zero
/// padding to a multiple of 8. Made by [`Map::percpu_values`] for its map,
/// so its size is always what the kernel copies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PerCpuValues {
    buffer: Vec<u8>,
    value_size: usize,
    /// round_up(value_size, 8).
    stride: usize,
    cpus: &'static [u32],
}

impl PerCpuValues {
    /// The number of values: the possible CPUs.
    pub fn len(&self) -> usize {
        self.cpus.len()
    }

    /// Never: every kernel has a CPU.
    pub fn is_empty(&self) -> bool {
        self.cpus.is_empty()
    }

    /// The value of CPU `cpu` (its id), if it is a possible CPU.
    pub fn get(&self, cpu: u32) -> Option<&[u8]> {
        let at = self.cpus.iter().position(|&c| c == cpu)? * self.stride;
        Some(&self.buffer[at..at + self.value_size])
    }

    /// The value of CPU `cpu` to fill in, if it is a possible CPU.
    pub fn get_mut(&mut self, cpu: u32) -> Option<&mut [u8]> {
        let at = self.cpus.iter().position(|&c| c == cpu)? * self.stride;
        Some(&mut self.buffer[at..at + self.value_size])
    }

    /// Each possible CPU's id and value, in CPU order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &[u8])> + '_ {
        let value_size = self.value_size;
        self.cpus.iter().copied().zip(self.buffer.chunks_exact(self.stride).map(move |v| &v[..value_size]))
    }
}

/// A BPF map with its type and the key and value sizes the kernel uses for
/// it. Every element call checks the caller's buffers against them first:
/// the kernel reads `key_size` bytes of a key and writes `value_size` bytes
/// of a value through the pointers it is given (a value for every possible
/// CPU for per-CPU maps), so a shorter buffer from safe code would let it
/// read or write past the end (aya checks the same in `check_kv_size`).
/// Per-CPU maps take only the per-CPU calls, whose buffers sys sizes.
#[derive(Debug)]
pub struct Map {
    fd: OwnedFd,
    map_type: u32,
    key_size: u32,
    value_size: u32,
}

impl Map {
    /// BPF_MAP_CREATE. The name is best effort: kernels before 4.15 don't
    /// know map_name, so on EINVAL/E2BIG we retry without it.
    pub fn create(params: &MapParams, name: &str) -> SysResult<Map> {
        Map::create_with_inner(params, None, name)
    }

    /// BPF_MAP_CREATE of a map of maps (array or hash of maps, 4.12), whose
    /// values are maps shaped as `inner` (4.12); as `create` otherwise.
    pub fn create_map_of_maps(params: &MapParams, inner: &Map, name: &str) -> SysResult<Map> {
        Map::create_with_inner(params, Some(inner.fd.as_fd()), name)
    }

    fn create_with_inner(params: &MapParams, inner: Option<BorrowedFd<'_>>, name: &str) -> SysResult<Map> {
        let mut attr = MapCreateAttr {
            map_type: params.map_type,
            key_size: params.key_size,
            value_size: params.value_size,
            max_entries: params.max_entries,
            map_flags: params.map_flags,
            inner_map_fd: inner.map_or(0, |fd| fd.as_raw_fd() as u32),
            map_name: name_bytes(name),
            ..Default::default()
        };
        let ret = sys_bpf(BPF_MAP_CREATE, &mut attr, std::mem::size_of::<MapCreateAttr>());
        let fd = match owned_fd("bpf(BPF_MAP_CREATE)", ret) {
            Err(e) if matches!(e.errno(), libc::EINVAL | libc::E2BIG) => {
                attr.map_name = [0; BPF_OBJ_NAME_LEN];
                let ret = sys_bpf(BPF_MAP_CREATE, &mut attr, MAP_CREATE_ATTR_SIZE_NO_NAME);
                owned_fd("bpf(BPF_MAP_CREATE)", ret)
            }
            other => other,
        }?;
        Ok(Map { fd, map_type: params.map_type, key_size: params.key_size, value_size: params.value_size })
    }

    /// A map fd from elsewhere (a pinned map), with the type and sizes the
    /// kernel reports for it in /proc/self/fdinfo (bpf_map_show_fdinfo,
    /// 4.4, as old as BPF_OBJ_GET).
    pub fn from_fd(fd: OwnedFd) -> SysResult<Map> {
        let call = "read /proc/self/fdinfo";
        let text = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))
            .map_err(|error| SysError { call, error })?;
        let field = |name: &str| text.lines().find_map(|l| l.strip_prefix(name)?.trim().parse::<u32>().ok());
        match (field("map_type:"), field("key_size:"), field("value_size:")) {
            (Some(map_type), Some(key_size), Some(value_size)) => {
                Ok(Map { fd, map_type, key_size, value_size })
            }
            _ => Err(SysError { call, error: io::Error::new(io::ErrorKind::InvalidInput, "not a BPF map") }),
        }
    }

    /// The map's type (enum bpf_map_type).
    pub fn map_type(&self) -> u32 {
        self.map_type
    }

    pub fn key_size(&self) -> u32 {
        self.key_size
    }

    /// The size of one value (of one CPU's, in a per-CPU map).
    pub fn value_size(&self) -> u32 {
        self.value_size
    }

    /// Whether the map keeps a value per possible CPU, which the kernel
    /// copies all of through an element call's value pointer: the per-CPU
    /// hashes and arrays and the per-CPU cgroup storage.
    pub fn is_per_cpu(&self) -> bool {
        is_per_cpu(self.map_type)
    }

    /// `buffer` must be `size` bytes: what the kernel will touch.
    fn check_size(call: &'static str, what: &str, buffer: &[u8], size: u32) -> SysResult<()> {
        if buffer.len() == size as usize {
            return Ok(());
        }
        let message = format!("a {}-byte {what} buffer for a map with {size}-byte {what}s", buffer.len());
        Err(SysError { call, error: io::Error::new(io::ErrorKind::InvalidInput, message) })
    }

    /// Refuses the single-value calls on a per-CPU map (`per_cpu` false)
    /// and the per-CPU calls on any other (`per_cpu` true).
    fn check_kind(&self, call: &'static str, per_cpu: bool) -> SysResult<()> {
        match (self.is_per_cpu(), per_cpu) {
            (true, false) => {
                Err(SysError::refused(call, PerCpuMismatch::PerCpuMap { map_type: self.map_type }))
            }
            (false, true) => {
                Err(SysError::refused(call, PerCpuMismatch::NotPerCpuMap { map_type: self.map_type }))
            }
            _ => Ok(()),
        }
    }

    /// BPF_MAP_UPDATE_ELEM. Refuses a per-CPU map (see [`Map::update_percpu`]).
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> SysResult<()> {
        let call = "bpf(BPF_MAP_UPDATE_ELEM)";
        self.check_kind(call, false)?;
        Map::check_size(call, "key", key, self.key_size)?;
        Map::check_size(call, "value", value, self.value_size)?;
        map_elem_call(call, BPF_MAP_UPDATE_ELEM, self.fd.as_fd(), Some(key), value.as_ptr() as u64, flags)
    }

    /// BPF_MAP_LOOKUP_ELEM into `value`. Ok(false) when the key is absent.
    /// Refuses a per-CPU map (see [`Map::lookup_percpu`]).
    pub fn lookup(&self, key: &[u8], value: &mut [u8]) -> SysResult<bool> {
        let call = "bpf(BPF_MAP_LOOKUP_ELEM)";
        self.check_kind(call, false)?;
        Map::check_size(call, "key", key, self.key_size)?;
        Map::check_size(call, "value", value, self.value_size)?;
        let ptr = value.as_mut_ptr() as u64;
        absent_is_false(map_elem_call(call, BPF_MAP_LOOKUP_ELEM, self.fd.as_fd(), Some(key), ptr, 0))
    }

    /// Zeroed values of this per-CPU map, one for each possible CPU, to
    /// look up into or to fill in for an update. Refuses any other map.
    pub fn percpu_values(&self) -> SysResult<PerCpuValues> {
        let call = "per-CPU map values";
        self.check_kind(call, true)?;
        let cpus = possible_cpus()?;
        let value_size = self.value_size as usize;
        let stride = value_size.next_multiple_of(8);
        let Some(len) = stride.checked_mul(cpus.len()) else {
            return Err(SysError { call, error: io::ErrorKind::OutOfMemory.into() });
        };
        Ok(PerCpuValues { buffer: vec![0; len], value_size, stride, cpus })
    }

    /// `values` must be this map's: the kernel copies
    /// round_up(value_size, 8) bytes for each possible CPU.
    fn check_values(&self, call: &'static str, values: &PerCpuValues) -> SysResult<()> {
        let stride = (self.value_size as usize).next_multiple_of(8);
        // possible_cpus() is read once, so values made since agree with it;
        // checked anyway, as it is all that stands between the kernel and
        // the end of the buffer.
        let cpus = possible_cpus()?.len();
        if values.value_size == self.value_size as usize
            && Some(values.buffer.len()) == stride.checked_mul(cpus)
        {
            return Ok(());
        }
        let message = format!(
            "{} values of {} bytes for a map with {}-byte values on {cpus} possible CPUs",
            values.len(),
            values.value_size,
            self.value_size
        );
        Err(SysError { call, error: io::Error::new(io::ErrorKind::InvalidInput, message) })
    }

    /// BPF_MAP_LOOKUP_ELEM of a per-CPU map: every possible CPU's value
    /// of `key` into `values` (from [`Map::percpu_values`]). Ok(false) when
    /// the key is absent. Refuses a map that is not per-CPU.
    pub fn lookup_percpu(&self, key: &[u8], values: &mut PerCpuValues) -> SysResult<bool> {
        let call = "bpf(BPF_MAP_LOOKUP_ELEM)";
        self.check_kind(call, true)?;
        Map::check_size(call, "key", key, self.key_size)?;
        self.check_values(call, values)?;
        let ptr = values.buffer.as_mut_ptr() as u64;
        absent_is_false(map_elem_call(call, BPF_MAP_LOOKUP_ELEM, self.fd.as_fd(), Some(key), ptr, 0))
    }

    /// BPF_MAP_UPDATE_ELEM of a per-CPU map: every possible CPU's value of
    /// `key` from `values` (from [`Map::percpu_values`], filled in).
    /// Refuses a map that is not per-CPU.
    pub fn update_percpu(&self, key: &[u8], values: &PerCpuValues, flags: u64) -> SysResult<()> {
        let call = "bpf(BPF_MAP_UPDATE_ELEM)";
        self.check_kind(call, true)?;
        Map::check_size(call, "key", key, self.key_size)?;
        self.check_values(call, values)?;
        let ptr = values.buffer.as_ptr() as u64;
        map_elem_call(call, BPF_MAP_UPDATE_ELEM, self.fd.as_fd(), Some(key), ptr, flags)
    }

    /// BPF_MAP_DELETE_ELEM. Ok(false) when the key was absent.
    pub fn delete(&self, key: &[u8]) -> SysResult<bool> {
        let call = "bpf(BPF_MAP_DELETE_ELEM)";
        Map::check_size(call, "key", key, self.key_size)?;
        absent_is_false(map_elem_call(call, BPF_MAP_DELETE_ELEM, self.fd.as_fd(), Some(key), 0, 0))
    }

    /// BPF_MAP_GET_NEXT_KEY: the key after `key` (the first key when None)
    /// into `next`. Ok(false) at the end of the map.
    pub fn next_key(&self, key: Option<&[u8]>, next: &mut [u8]) -> SysResult<bool> {
        let call = "bpf(BPF_MAP_GET_NEXT_KEY)";
        if let Some(key) = key {
            Map::check_size(call, "key", key, self.key_size)?;
        }
        Map::check_size(call, "key", next, self.key_size)?;
        let ptr = next.as_mut_ptr() as u64;
        absent_is_false(map_elem_call(call, BPF_MAP_GET_NEXT_KEY, self.fd.as_fd(), key, ptr, 0))
    }
}

impl AsFd for Map {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Map {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

/// ENOENT from an element call: no such key (or no next one).
fn absent_is_false(result: SysResult<()>) -> SysResult<bool> {
    match result {
        Ok(()) => Ok(true),
        Err(e) if e.errno() == libc::ENOENT => Ok(false),
        Err(e) => Err(e),
    }
}

/// One element command. The caller has checked that `key` (and the buffer
/// at `value`, if any) have the sizes the kernel copies for the map.
fn map_elem_call(
    call: &'static str,
    cmd: libc::c_int,
    map: BorrowedFd<'_>,
    key: Option<&[u8]>,
    value: u64,
    flags: u64,
) -> SysResult<()> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        _pad: 0,
        key: key.map_or(0, |k| k.as_ptr() as u64),
        value,
        flags,
    };
    if sys_bpf(cmd, &mut attr, std::mem::size_of::<MapElemAttr>()) < 0 {
        return Err(SysError::last(call));
    }
    Ok(())
}

/// Everything BPF_PROG_LOAD needs.
pub struct ProgLoad<'a> {
    pub prog_type: u32,
    /// Raw instructions, 8 bytes each.
    pub insns: &'a [u64],
    /// NUL-terminated license string.
    pub license: &'a std::ffi::CStr,
    /// LINUX_VERSION_CODE; only checked for kprobes before 5.0.
    pub kern_version: u32,
    pub name: &'a str,
    /// A program typed by the kernel's BTF (a BTF tracepoint): what it
    /// attaches as and the BTF id it attaches to.
    pub btf_attach: Option<BtfAttach>,
}

/// expected_attach_type and attach_btf_id (in the kernel's own BTF).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BtfAttach {
    pub attach_type: u32,
    pub btf_id: u32,
}

/// A failed BPF_PROG_LOAD with the verifier's explanation when it gave one.
#[derive(Debug)]
pub struct ProgLoadError {
    pub error: SysError,
    pub verifier_log: String,
}

/// Largest verifier log we ask for before giving up on it (ENOSPC).
const MAX_LOG_SIZE: usize = 16 << 20;

/// BPF_PROG_LOAD. Loads without a log first (the fast path); when the kernel
/// refuses, loads again with log_level 1 to capture why. EAGAIN (a signal
/// interrupted the verifier) is retried; ENOSPC grows the log buffer.
pub fn bpf_prog_load(req: &ProgLoad<'_>) -> Result<OwnedFd, ProgLoadError> {
    let mut attr = ProgLoadBtfAttr {
        base: ProgLoadAttr {
            prog_type: req.prog_type,
            insn_cnt: req.insns.len() as u32,
            insns: req.insns.as_ptr() as u64,
            license: req.license.as_ptr() as u64,
            kern_version: req.kern_version,
            prog_name: name_bytes(req.name),
            ..Default::default()
        },
        ..Default::default()
    };
    let mut size = std::mem::size_of::<ProgLoadAttr>();
    if let Some(btf) = req.btf_attach {
        attr.expected_attach_type = btf.attach_type;
        attr.attach_btf_id = btf.btf_id;
        size = std::mem::size_of::<ProgLoadBtfAttr>();
    }
    let mut first = load_retrying_eagain(&mut attr, size);
    if let Err(e) = &first {
        // prog_name is unknown before 4.15: drop it and try again.
        if req.btf_attach.is_none() && matches!(e.errno(), libc::EINVAL | libc::E2BIG) {
            attr.base.prog_name = [0; BPF_OBJ_NAME_LEN];
            size = PROG_LOAD_ATTR_SIZE_NO_NAME;
            first = load_retrying_eagain(&mut attr, size);
        }
    }
    let error = match first {
        Ok(fd) => return Ok(fd),
        Err(e) => e,
    };

    // Ask again with the verifier log on, to say why.
    let mut log = vec![0u8; 1 << 20];
    loop {
        attr.base.log_level = 1;
        attr.base.log_size = log.len() as u32;
        attr.base.log_buf = log.as_mut_ptr() as u64;
        match load_retrying_eagain(&mut attr, size) {
            // Loads with the log on but not without it: take it.
            Ok(fd) => return Ok(fd),
            Err(e) if e.errno() == libc::ENOSPC && log.len() < MAX_LOG_SIZE => {
                log = vec![0u8; log.len() * 4];
            }
            Err(_) => break,
        }
    }
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    Err(ProgLoadError { error, verifier_log: String::from_utf8_lossy(&log[..end]).into_owned() })
}

fn load_retrying_eagain(attr: &mut ProgLoadBtfAttr, size: usize) -> SysResult<OwnedFd> {
    let mut tries = 0;
    loop {
        let ret = sys_bpf(BPF_PROG_LOAD, attr, size);
        match owned_fd("bpf(BPF_PROG_LOAD)", ret) {
            Err(e) if e.errno() == libc::EAGAIN && tries < 5 => tries += 1,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn possible_cpu_lists_are_read_whole_or_refused() {
        assert_eq!(parse_possible_cpus("0-3\n"), Some(vec![0, 1, 2, 3]));
        assert_eq!(parse_possible_cpus("0\n"), Some(vec![0]));
        assert_eq!(parse_possible_cpus("0,2-3,7"), Some(vec![0, 2, 3, 7]));
        // Anything else would risk a count below the kernel's: refused.
        for bad in ["", "\n", "0-", "-1", "3-1", "0,0", "2,1", "0-3,2", "0-70000", "a", "0,,1"] {
            assert_eq!(parse_possible_cpus(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn per_cpu_map_types_are_the_kernels_four() {
        let per_cpu: Vec<u32> = (0..40).filter(|&t| is_per_cpu(t)).collect();
        assert_eq!(per_cpu, [5, 6, 10, 21]);
    }

    #[test]
    fn mismatches_say_which_calls_to_use() {
        let refused =
            SysError::refused("bpf(BPF_MAP_LOOKUP_ELEM)", PerCpuMismatch::PerCpuMap { map_type: 6 });
        assert_eq!(refused.errno(), 0);
        assert_eq!(refused.refusal::<PerCpuMismatch>(), Some(&PerCpuMismatch::PerCpuMap { map_type: 6 }));
        assert_eq!(
            refused.to_string(),
            "bpf(BPF_MAP_LOOKUP_ELEM): map type 6 keeps a value per possible CPU: \
             read and write it with lookup_percpu and update_percpu"
        );
        let other = SysError { call: "x", error: io::Error::from_raw_os_error(libc::ENOENT) };
        assert_eq!(other.refusal::<PerCpuMismatch>(), None);
    }
}
