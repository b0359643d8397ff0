//! Value converters: argparse's `type=` functions for each option value.

use super::python::{py_int, py_repr};
use super::AttachMode;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

/// The kernel's `PID_MAX_LIMIT`: no PID can be higher.
pub(super) const PID_MAX_LIMIT: u32 = 4_194_304;

/// A path argument, raw bytes kept (paths need not be UTF-8).
pub(super) fn path(raw: &[u8]) -> PathBuf {
    PathBuf::from(OsString::from_vec(raw.to_vec()))
}

/// `--attach`: argparse `choices=`.
pub(super) fn parse_attach(raw: &[u8]) -> Result<AttachMode, String> {
    match raw {
        b"auto" => Ok(AttachMode::Auto),
        b"kprobe" => Ok(AttachMode::Kprobe),
        b"tracepoint" => Ok(AttachMode::Tracepoint),
        _ => Err(format!("invalid choice: {} (choose from 'auto', 'kprobe', 'tracepoint')", py_repr(raw))),
    }
}

pub(super) fn invalid_int(raw: &[u8]) -> String {
    format!("invalid int value: {}", py_repr(raw))
}

/// `-p`: an integer in `1..=PID_MAX_LIMIT`.
pub(super) fn parse_pid(raw: &[u8]) -> Result<u32, String> {
    let n = py_int(raw).ok_or_else(|| invalid_int(raw))?;
    u32::try_from(n)
        .ok()
        .filter(|pid| (1..=PID_MAX_LIMIT).contains(pid))
        .ok_or_else(|| format!("invalid PID value: {}", py_repr(raw)))
}

/// `-u`: any `uid_t` except `(uid_t)-1`, which means "no uid".
pub(super) fn parse_uid(raw: &[u8]) -> Result<u32, String> {
    let n = py_int(raw).ok_or_else(|| invalid_int(raw))?;
    u32::try_from(n)
        .ok()
        .filter(|&uid| uid != u32::MAX)
        .ok_or_else(|| format!("invalid UID value: {}", py_repr(raw)))
}

/// `-P`: comma-separated ports. Each element is read the way Python's
/// `int()` reads it, so `"80, 443"` is fine. Duplicates are dropped and the
/// first-seen order is kept. If any element is not an integer, the whole list
/// is invalid; otherwise the first port outside 1..=65535 is reported.
pub(super) fn parse_ports(raw: &[u8]) -> Result<Vec<u16>, String> {
    let numbers = raw
        .split(|&b| b == b',')
        .map(|element| py_int(element).map(|n| (element, n)))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| format!("invalid port list: {}", py_repr(raw)))?;
    let mut ports = Vec::with_capacity(numbers.len());
    for (element, n) in numbers {
        let port = u16::try_from(n)
            .ok()
            .filter(|&port| port != 0)
            .ok_or_else(|| format!("port out of range (1-65535): {}", py_repr(element)))?;
        if !ports.contains(&port) {
            ports.push(port);
        }
    }
    Ok(ports)
}

/// `--ring-size`: the BPF ring buffer's size in KiB, a power of two from
/// 4 KiB (a page) to 1 GiB.
pub(super) fn parse_ring_size(raw: &[u8]) -> Result<u32, String> {
    let n = py_int(raw).ok_or_else(|| invalid_int(raw))?;
    u32::try_from(n)
        .ok()
        .filter(|kib| kib.is_power_of_two() && (4..=1 << 20).contains(kib))
        .ok_or_else(|| format!("invalid ring size: {} (a power of two from 4 to 1048576 KiB)", py_repr(raw)))
}
