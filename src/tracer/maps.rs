//! The maps of a run: created from the object's definitions at this run's
//! sizes, with the user's pinned filter maps in place of the placeholders;
//! and reading the -c counts back.

use crate::abi;
use crate::count_table::CountRow;
use crate::error::Error;
use crate::loader::ObjectSpec;
use crate::sys::bpf::{bpf_map_create, bpf_map_get_next_key, bpf_map_lookup_elem, MapParams};
use std::os::fd::{BorrowedFd, OwnedFd};

/// The counts map's size: no more rows can exist.
const MAX_COUNT_ROWS: usize = 10240;

/// How big the maps of this run must be.
pub(super) struct MapSizing<'a> {
    pub possible: &'a [u32],
    pub ports: usize,
    pub kprobes: bool,
    pub count: bool,
    pub lport_defer: bool,
}

/// Creates the object's maps, in its order, except the filters the user
/// pinned, whose fds take their place. Maps a run does not use get one entry:
/// hash maps are preallocated.
pub(super) fn create_maps(
    object: &ObjectSpec,
    sizing: &MapSizing<'_>,
    mut cgroup_map: Option<OwnedFd>,
    mut mntns_map: Option<OwnedFd>,
) -> Result<Vec<OwnedFd>, Error> {
    let used = |needed: bool, entries: u32| if needed { entries } else { 1 };
    object
        .maps
        .iter()
        .map(|spec| {
            let max_entries = match spec.name.as_str() {
                // Indexed by CPU id: sized to the highest possible CPU.
                abi::MAP_EVENTS | abi::MAP_LOST_EVENTS => sizing.possible.iter().max().map_or(1, |&c| c + 1),
                abi::MAP_PORTS => sizing.ports.max(1) as u32,
                abi::MAP_CONNECTING => used(sizing.kprobes, spec.max_entries),
                abi::MAP_COUNTS => used(sizing.count, spec.max_entries),
                abi::MAP_IN_CONNECT | abi::MAP_PENDING | abi::MAP_SYN_SENT_PORTS => {
                    used(sizing.lport_defer, spec.max_entries)
                }
                abi::MAP_CGROUP_FILTER => match cgroup_map.take() {
                    Some(fd) => return Ok(fd),
                    None => 1,
                },
                abi::MAP_MNTNS_FILTER => match mntns_map.take() {
                    Some(fd) => return Ok(fd),
                    None => 1,
                },
                _ => spec.max_entries,
            };
            let params = MapParams {
                map_type: spec.map_type,
                key_size: spec.key_size,
                value_size: spec.value_size,
                max_entries,
                map_flags: spec.map_flags,
            };
            bpf_map_create(&params, &spec.name)
                .map_err(Error::kernel(format!("create BPF map {}", spec.name)))
        })
        .collect()
}

pub(super) fn map_index(object: &ObjectSpec, name: &str) -> Result<usize, Error> {
    object.map_index(name).ok_or_else(|| missing_map(name))
}

pub(super) fn missing_map(name: &str) -> Error {
    Error::Object(crate::loader::elf::ElfError::BadMapDef { name: name.into() })
}

/// The rows of the -c counts map.
pub(super) fn read_counts(map: BorrowedFd<'_>) -> Result<Vec<CountRow>, Error> {
    let read_error = |error| Error::Kernel { action: "read the connect counts".into(), error };
    let mut rows = Vec::new();
    let mut key = [0u8; abi::COUNT_KEY_SIZE];
    let mut next = [0u8; abi::COUNT_KEY_SIZE];
    let mut first = true;
    // The map holds at most its max_entries keys; bound the walk anyway.
    for _ in 0..=MAX_COUNT_ROWS {
        let more = bpf_map_get_next_key(map, (!first).then_some(&key[..]), &mut next).map_err(read_error)?;
        if !more {
            break;
        }
        first = false;
        key = next;
        let mut value = [0u8; 8];
        if bpf_map_lookup_elem(map, &key, &mut value).map_err(read_error)? {
            rows.push(CountRow {
                saddr: key[0..16].try_into().unwrap_or_default(),
                daddr: key[16..32].try_into().unwrap_or_default(),
                dport: u16::from_ne_bytes([key[32], key[33]]),
                ip: key[34],
                count: u64::from_ne_bytes(value),
            });
        }
    }
    Ok(rows)
}

/// Events the kernel could not put in a ring, summed over CPUs.
pub(super) fn read_lost_events(map: BorrowedFd<'_>, possible_cpus: u32) -> Result<u64, Error> {
    let mut total = 0u64;
    for cpu in 0..possible_cpus {
        let mut value = [0u8; 8];
        if bpf_map_lookup_elem(map, &cpu.to_ne_bytes(), &mut value)
            .map_err(|error| Error::Kernel { action: "read the lost-event counts".into(), error })?
        {
            total = total.wrapping_add(u64::from_ne_bytes(value));
        }
    }
    Ok(total)
}
