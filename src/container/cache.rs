//! A bounded memory of what the files said, so that a busy container's
//! thousands of connects a second read its files once. Keyed by what the
//! cgroup claims (runtime and id): ids are never reused, so an answer stays
//! true of its id; a name the runtime gives to a new container comes with a
//! new id, a new key.
//!
//! An answer the files gave is read again after [`FOUND_FOR`] (a `docker
//! rename`), and kept if the files have gone meanwhile (the container
//! exited: it had that name). A miss, or what the cgroup's name alone
//! said, is kept [`MISSED_FOR`], so a cgroup with no files
//! (a systemd service probed as a possible `ctr` container) costs one look
//! a second, and a container whose files appear just after its first
//! connect is named from then on.

use super::identity::Identity;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long an answer is believed before the files are read again.
pub(crate) const FOUND_FOR: Duration = Duration::from_secs(30);
/// How long a miss is believed.
pub(crate) const MISSED_FOR: Duration = Duration::from_secs(1);
/// Entries kept; each is a few hundred bytes at most (names are capped).
pub(crate) const CAPACITY: usize = 1024;

#[derive(Debug)]
struct Entry {
    identity: Identity,
    /// The runtime's files gave it (else it is what the cgroup alone says,
    /// or nothing: a miss, looked at again soon).
    confirmed: bool,
    checked: Instant,
}

#[derive(Debug, Default)]
pub(crate) struct Cache {
    entries: HashMap<Vec<u8>, Entry>,
}

/// What the cache knows of a key.
pub(crate) enum Known<'a> {
    /// Fresh: use it.
    Fresh(&'a Identity),
    /// Stale or absent: look again; `previous` is the last answer the
    /// files gave, if any.
    Look { previous: Option<Identity> },
}

impl Cache {
    pub(crate) fn get(&self, key: &[u8], now: Instant) -> Known<'_> {
        match self.entries.get(key) {
            Some(entry) => {
                let ttl = if entry.confirmed { FOUND_FOR } else { MISSED_FOR };
                if now.saturating_duration_since(entry.checked) < ttl {
                    Known::Fresh(&entry.identity)
                } else {
                    Known::Look { previous: entry.confirmed.then(|| entry.identity.clone()) }
                }
            }
            None => Known::Look { previous: None },
        }
    }

    pub(crate) fn put(&mut self, key: Vec<u8>, identity: Identity, confirmed: bool, now: Instant) {
        if self.entries.len() >= CAPACITY && !self.entries.contains_key(&key) {
            self.make_room(now);
        }
        self.entries.insert(key, Entry { identity, confirmed, checked: now });
    }

    /// Drops the stale unconfirmed entries, then, if still full, an arbitrary eighth
    /// (the map's order is random per process): no bookkeeping on the hot
    /// path, and a container dropped by mistake costs one more read.
    fn make_room(&mut self, now: Instant) {
        self.entries.retain(|_, e| e.confirmed || now.saturating_duration_since(e.checked) < MISSED_FOR);
        if self.entries.len() >= CAPACITY {
            let victims: Vec<Vec<u8>> = self.entries.keys().take(CAPACITY / 8).cloned().collect();
            for key in victims {
                self.entries.remove(&key);
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}
