//! The maps of a run: created from the object's definitions at this run's
//! sizes, with the user's pinned filter maps in place of the placeholders;
//! and reading the -c counts back.

use super::constants::Constants;
use crate::abi;
use crate::error::Error;
use crate::event::{ConnectEvent, CountRow, EVENT_WITH_NETNS_SIZE};
use crate::loader::ObjectSpec;
use crate::plan::Plan;
use crate::sys::bpf::{Map, MapParams};
use crate::sys::mapped_array::{MappedArray, BPF_F_MMAPABLE};
use crate::uapi::{
    MapType, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_PERCPU_ARRAY,
    BPF_MAP_TYPE_RINGBUF, MAP_TYPES,
};

/// The counts map's size: no more rows can exist.
const MAX_COUNT_ROWS: usize = 10240;

/// How big the maps of this run must be.
pub(super) struct MapSizing<'a> {
    /// The possible CPUs: per-CPU maps and the perf event arrays have an
    /// entry for each.
    pub possible: &'a [u32],
    pub ports: usize,
    pub kprobes: bool,
    pub count: bool,
    pub lport_defer: bool,
    /// --result, or -L on the tracepoint path: connects wait in `inflight`.
    pub inflight: bool,
    /// The ring buffer transport: the ring's size in bytes (a power of two
    /// of pages). None: events go through the perf event arrays.
    pub ring_bytes: Option<u32>,
    /// -d in the kernel: the DNS program's rings and scratch value.
    pub dns: bool,
    /// --ppid, --container: the identity event's scratch value.
    pub identity: bool,
}

impl<'a> MapSizing<'a> {
    /// The sizes `plan` needs on the kprobe path or not, with the run's
    /// `constants` (which say whether -d reads answers in the kernel) and
    /// the ring buffer's size where events go through it.
    pub fn for_run(
        plan: &Plan,
        kprobes: bool,
        constants: &Constants,
        possible: &'a [u32],
        ring_bytes: Option<u32>,
    ) -> MapSizing<'a> {
        MapSizing {
            possible,
            ports: plan.filters.ports.len(),
            kprobes,
            count: plan.count,
            lport_defer: constants.lport_defer,
            inflight: constants.waits_for_handshakes(),
            ring_bytes,
            dns: constants.dns.is_some(),
            identity: constants.identity(),
        }
    }
}

/// The type a map no program of this run uses is created as: one that
/// serves the same helper calls and exists on every kernel we run on, so a
/// kernel without the real type (no LRU hash before 4.10) loads the
/// programs anyway. The verifier checks every map reference, even in code a
/// constant turns off, so each needs some map of the right key and value size.
/// The ring buffer has no keys; its helper calls are stubbed when it is
/// unused, so any small map will do for the reference left behind. The
/// per-CPU arrays (-d's 8 KiB scratch value, --ppid/--container's) become
/// a plain array of one value of the same size: 4.9's verifier follows the
/// branches a constant turns off (it rejected the connect programs'
/// identity code, off, against an 8-byte stand-in), so accesses there must
/// fit too.
fn stand_in(params: MapParams) -> MapParams {
    match params.map_type {
        t if t == BPF_MAP_TYPE_LRU_HASH.id => MapParams { map_type: BPF_MAP_TYPE_HASH.id, ..params },
        t if t == BPF_MAP_TYPE_RINGBUF.id => MapParams {
            map_type: BPF_MAP_TYPE_ARRAY.id,
            key_size: 4,
            value_size: 8,
            max_entries: 1,
            ..params
        },
        t if t == BPF_MAP_TYPE_PERCPU_ARRAY.id => {
            MapParams { map_type: BPF_MAP_TYPE_ARRAY.id, max_entries: 1, ..params }
        }
        _ => params,
    }
}

/// "create BPF map syn_sent_ports (an LRU hash map, Linux 4.10+)": what a
/// failure says, so an old kernel's EINVAL names the feature it lacks.
fn create_action(name: &str, map_type: u32) -> String {
    match MAP_TYPES.iter().find(|t| t.id == map_type) {
        Some(MapType { kind, since, .. }) => format!("create BPF map {name} (a {kind} map, Linux {since}+)"),
        None => format!("create BPF map {name} (map type {map_type})"),
    }
}

/// Creates the object's maps, in its order, except the filters the user
/// pinned, whose fds take their place. Maps a run does not use get one entry
/// (hash maps are preallocated) and a type every kernel has.
pub(super) fn create_maps(
    object: &ObjectSpec,
    sizing: &MapSizing<'_>,
    mut cgroup_map: Option<Map>,
    mut mntns_map: Option<Map>,
) -> Result<Vec<Map>, Error> {
    object
        .maps
        .iter()
        .map(|spec| {
            let needed = match spec.name.as_str() {
                abi::MAP_CONNECTING => sizing.kprobes,
                abi::MAP_COUNTS => sizing.count,
                abi::MAP_INFLIGHT => sizing.inflight,
                abi::MAP_IN_CONNECT | abi::MAP_PENDING | abi::MAP_SYN_SENT_PORTS | abi::MAP_HELD_SOCKETS => {
                    sizing.lport_defer
                }
                abi::MAP_CGROUP_FILTER => match cgroup_map.take() {
                    Some(fd) => return Ok(fd),
                    None => false,
                },
                abi::MAP_MNTNS_FILTER => match mntns_map.take() {
                    Some(fd) => return Ok(fd),
                    None => false,
                },
                abi::MAP_RING => sizing.ring_bytes.is_some(),
                abi::MAP_DNS_EVENTS | abi::MAP_DNS_SCRATCH | abi::MAP_DNS_READS => sizing.dns,
                abi::MAP_IDENTITY_SCRATCH => sizing.identity,
                _ => true,
            };
            let max_entries = match spec.name.as_str() {
                // Indexed by CPU id: sized to the highest possible CPU.
                abi::MAP_EVENTS => entries_by_cpu_id(sizing.possible),
                abi::MAP_TALLIES => tally_entries(sizing.possible),
                abi::MAP_PORTS => sizing.ports.max(1) as u32,
                _ if !needed => 1,
                abi::MAP_DNS_EVENTS => entries_by_cpu_id(sizing.possible),
                abi::MAP_RING => sizing.ring_bytes.unwrap_or(0),
                _ => spec.max_entries,
            };
            let params = MapParams {
                map_type: spec.map_type,
                key_size: spec.key_size,
                value_size: spec.value_size,
                max_entries,
                map_flags: spec.map_flags,
            };
            let params = if needed { params } else { stand_in(params) };
            if spec.name == abi::MAP_TALLIES {
                if let Some(map) = create_mappable(&params, &spec.name) {
                    return Ok(map);
                }
            }
            Map::create(&params, &spec.name)
                .map_err(Error::kernel(create_action(&spec.name, params.map_type)))
        })
        .collect()
}

/// The tallies as an array the reader can map (BPF_F_MMAPABLE, 5.5), so its
/// 100 ms timer reads the losses from memory, not with a bpf(2) lookup per
/// CPU (measured: about 20 us of the reader's CPU a wakeup on a 2-CPU
/// Firecracker guest). A kernel without the flag refuses it: None, and the
/// plain array is made.
fn create_mappable(params: &MapParams, name: &str) -> Option<Map> {
    Map::create(&MapParams { map_flags: params.map_flags | BPF_F_MMAPABLE, ..*params }, name).ok()
}

/// Entries of the tallies: a slot for each kind of tally on each CPU.
pub(super) fn tally_entries(possible: &[u32]) -> u32 {
    entries_by_cpu_id(possible) * abi::TALLY_KINDS
}

/// Entries of a map indexed by CPU id: up to the highest possible CPU.
pub(super) fn entries_by_cpu_id(possible: &[u32]) -> u32 {
    possible.iter().max().map_or(1, |&c| c + 1)
}

pub(super) fn map_index(object: &ObjectSpec, name: &str) -> Result<usize, Error> {
    object.map_index(name).ok_or_else(|| missing_map(name))
}

pub(super) fn missing_map(name: &str) -> Error {
    Error::Object(crate::loader::elf::ElfError::BadMapDef { name: name.into() })
}

/// One key and its value, as the map holds them.
type Entry<const K: usize, const V: usize> = ([u8; K], [u8; V]);

/// Every (key, value) of a hash map with K-byte keys and V-byte values,
/// walked with BPF_MAP_GET_NEXT_KEY. The map holds at most `max_entries`
/// keys; the walk is bounded by that anyway (a key the programs delete
/// under the walk restarts it from the first key). A key gone before its
/// lookup is simply not there.
fn entries<const K: usize, const V: usize>(
    map: &Map,
    max_entries: usize,
    action: &str,
) -> Result<Vec<Entry<K, V>>, Error> {
    let read_error = |error| Error::Kernel { action: action.into(), error };
    let mut entries = Vec::new();
    let mut key = [0u8; K];
    let mut next = [0u8; K];
    let mut first = true;
    for _ in 0..=max_entries {
        let more = map.next_key((!first).then_some(&key[..]), &mut next).map_err(read_error)?;
        if !more {
            break;
        }
        first = false;
        key = next;
        let mut value = [0u8; V];
        if map.lookup(&key, &mut value).map_err(read_error)? {
            entries.push((key, value));
        }
    }
    Ok(entries)
}

/// The rows of the -c counts map.
pub(super) fn read_counts(map: &Map) -> Result<Vec<CountRow>, Error> {
    let entries = entries::<{ abi::COUNT_KEY_SIZE }, 8>(map, MAX_COUNT_ROWS, "read the connect counts")?;
    Ok(entries.iter().map(|(key, value)| CountRow::decode(key, *value)).collect())
}

/// The events of the inflight map (keyed by socket address), oldest first.
pub(super) fn read_waiting(map: &Map) -> Result<Vec<ConnectEvent>, Error> {
    let entries =
        entries::<8, EVENT_WITH_NETNS_SIZE>(map, MAX_WAITING, "read the connects still in progress")?;
    let mut events: Vec<ConnectEvent> =
        entries.iter().filter_map(|(_, value)| ConnectEvent::decode(value)).collect();
    events.sort_by_key(|e| e.ts_ns);
    // A restarted walk may see a socket twice.
    events.dedup();
    Ok(events)
}

/// The inflight map's size (maps.bpf.h).
const MAX_WAITING: usize = 10240;

/// -L: the events held in the pending map (keyed by thread) for a
/// connect(2) that had not returned, oldest first. Each value is the event
/// and its socket (`struct pending_connect`); the local port is not in it
/// yet.
pub(super) fn read_held(map: &Map) -> Result<Vec<ConnectEvent>, Error> {
    const PENDING_CONNECT_SIZE: usize = EVENT_WITH_NETNS_SIZE + 8;
    let entries =
        entries::<8, PENDING_CONNECT_SIZE>(map, MAX_HELD, "read the connects still inside connect(2)")?;
    let mut events: Vec<ConnectEvent> = entries
        .iter()
        .filter_map(|(_, value)| ConnectEvent::decode(&value[..EVENT_WITH_NETNS_SIZE]))
        .collect();
    events.sort_by_key(|e| e.ts_ns);
    events.dedup();
    Ok(events)
}

/// The pending map's size (maps.bpf.h).
const MAX_HELD: usize = 10240;

/// What the programs tallied, by kind, summed over CPUs. The map is a plain
/// array (maps.bpf.h `tallies`, key CPU id * TALLY_KINDS + kind), one u64
/// a key, not a per-CPU map: `Map::lookup` reads it (and would refuse a
/// per-CPU map rather than let the kernel write a value per CPU into 8
/// bytes), or from its mapping (`mapped`, where the kernel let it be one).
/// Only the `kinds` asked for are read (without the mapping, a lookup per
/// CPU each: the losses are read on the flush timer), the others stay 0.
pub(super) fn read_tallies(
    map: &Map,
    mapped: Option<&MappedArray>,
    possible_cpus: u32,
    kinds: &[u32],
) -> Result<Tallies, Error> {
    let mut tallies = Tallies::default();
    for cpu in 0..possible_cpus {
        for (kind, total) in [
            (abi::LOST_EVENT, &mut tallies.events_lost),
            (abi::LOST_DNS, &mut tallies.dns_messages_lost),
            (abi::LOST_FLOW, &mut tallies.count_flows_lost),
            (abi::TALLY_SEEN, &mut tallies.seen),
            (abi::TALLY_FILTERED, &mut tallies.filtered),
            (abi::TALLY_SENT, &mut tallies.sent),
        ] {
            if !kinds.contains(&kind) {
                continue;
            }
            let key = cpu * abi::TALLY_KINDS + kind;
            if let Some(mapped) = mapped {
                // One u64 a key: the value at key * 8 (the programs add to
                // it atomically).
                *total = total.wrapping_add(mapped.load_u64_acquire(key as usize * 8));
                continue;
            }
            let mut value = [0u8; 8];
            if map
                .lookup(&key.to_ne_bytes(), &mut value)
                .map_err(|error| Error::Kernel { action: "read the programs' tallies".into(), error })?
            {
                *total = total.wrapping_add(u64::from_ne_bytes(value));
            }
        }
    }
    Ok(tallies)
}

/// What the programs tallied so far, summed over CPUs: what they could not
/// pass on (always), and with -v what they saw, filtered out and sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tallies {
    /// Connect events a full ring (or map holding them) refused.
    pub events_lost: u64,
    /// -d: DNS messages a full DNS ring refused.
    pub dns_messages_lost: u64,
    /// -c: connects of new flows the full counts map refused.
    pub count_flows_lost: u64,
    /// -v: connects the hooks saw (kprobes: calls of tcp_v4/v6_connect).
    pub seen: u64,
    /// -v: connects the filters (-p, -u, -P, -4/-6, --cgroupmap, --mntnsmap) dropped.
    pub filtered: u64,
    /// -v: events sent to user space (-c: connects counted in the kernel).
    pub sent: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader::{parse_object, EMBEDDED_OBJECT};

    #[test]
    fn an_unused_per_cpu_array_stands_in_as_one_value_of_its_size() {
        let identity = MapParams {
            map_type: BPF_MAP_TYPE_PERCPU_ARRAY.id,
            key_size: 4,
            value_size: 304,
            max_entries: 1,
            map_flags: 0,
        };
        let stood = stand_in(identity);
        assert_eq!((stood.map_type, stood.key_size, stood.value_size), (BPF_MAP_TYPE_ARRAY.id, 4, 304));
        let ring = MapParams { map_type: BPF_MAP_TYPE_RINGBUF.id, key_size: 0, value_size: 0, ..identity };
        assert_eq!(stand_in(ring).value_size, 8);
    }

    /// `read_tallies` reads `tallies` one u64 a key with
    /// `Map::lookup`, which takes only maps of one value a key.
    #[test]
    fn tallies_is_an_array_of_one_u64_a_key() {
        let obj = parse_object(EMBEDDED_OBJECT).expect("embedded object parses");
        let lost = &obj.maps[map_index(&obj, abi::MAP_TALLIES).expect("tallies map")];
        assert_eq!((lost.map_type, lost.key_size, lost.value_size), (BPF_MAP_TYPE_ARRAY.id, 4, 8));
    }
}
