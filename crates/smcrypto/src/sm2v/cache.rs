//! A small bounded cache of per-key tables for signers that recur.
//!
//! A channel has few signers that sign again and again (one client, two endorsers, five
//! orderers, a handful of CA keys), and a key table turns a verification's 256 doublings
//! into 32. Building one costs a few verifications' worth of work, so a key gets its table
//! on its second sighting, not its first: a stream of one-off keys (an attacker's, or a
//! test's) only ever costs a slot, never a table. Slots are reused by the clock
//! (second-chance) policy, so the cache never holds more than [`KEY_CACHE_KEYS_MAX`] keys
//! and a recurring signer survives a burst of one-off ones.

use std::sync::{Arc, Mutex, PoisonError};

use super::point::Affine;
use super::table::FixedTable;

/// Most keys the cache remembers (with or without a table). About 8 signers recur per
/// channel; 64 leaves room for CA keys and membership changes at ~8 KiB per table.
pub(crate) const KEY_CACHE_KEYS_MAX: usize = 64;

/// wNAF window of key tables: 16 odd multiples per chunk, 128 points, 8 KiB per key.
pub(crate) const KEY_TABLE_WINDOW: u32 = 6;

/// Uncompressed coordinates `x ‖ y`: the cache's key.
pub(crate) type KeyBytes = [u8; 64];

#[derive(Debug)]
struct Slot {
    key: KeyBytes,
    table: Option<Arc<FixedTable>>,
    referenced: bool,
}

/// What a lookup found.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// The key has a table.
    Table(Arc<FixedTable>),
    /// Seen before but no table yet: build one and [`KeyCache::store`] it.
    Recurring,
    /// First sighting (now remembered).
    New,
}

/// The cache proper; [`table_for`] wraps one shared instance.
#[derive(Debug)]
pub(crate) struct KeyCache {
    slots: Vec<Slot>,
    hand: usize,
    capacity: usize,
}

impl KeyCache {
    pub(crate) fn new(capacity: usize) -> KeyCache {
        assert!(capacity > 0, "key cache needs a slot");
        KeyCache {
            slots: Vec::with_capacity(capacity),
            hand: 0,
            capacity,
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn lookup(&mut self, key: &KeyBytes) -> Lookup {
        if let Some(slot) = self.slots.iter_mut().find(|slot| &slot.key == key) {
            slot.referenced = true;
            return match &slot.table {
                Some(table) => Lookup::Table(Arc::clone(table)),
                None => Lookup::Recurring,
            };
        }
        self.insert(*key);
        Lookup::New
    }

    /// Attach a freshly built table, if the key still has a slot.
    pub(crate) fn store(&mut self, key: &KeyBytes, table: Arc<FixedTable>) {
        if let Some(slot) = self.slots.iter_mut().find(|slot| &slot.key == key) {
            slot.table.get_or_insert(table);
        }
    }

    fn insert(&mut self, key: KeyBytes) {
        let slot = Slot {
            key,
            table: None,
            referenced: false,
        };
        if self.slots.len() < self.capacity {
            self.slots.push(slot);
            return;
        }
        // Clock: clear reference bits until an unreferenced slot comes round; at most one
        // full turn clears them all, so this ends within two turns.
        loop {
            self.hand %= self.slots.len();
            let Some(victim) = self.slots.get_mut(self.hand) else {
                return;
            };
            self.hand += 1;
            if victim.referenced {
                victim.referenced = false;
            } else {
                *victim = slot;
                return;
            }
        }
    }
}

static KEY_CACHE: Mutex<Option<KeyCache>> = Mutex::new(None);

fn with_cache<T>(f: impl FnOnce(&mut KeyCache) -> T) -> T {
    // The cache is consistent after every statement, so a panic elsewhere while the lock
    // was held leaves nothing to repair.
    let mut guard = KEY_CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    f(guard.get_or_insert_with(|| KeyCache::new(KEY_CACHE_KEYS_MAX)))
}

/// The key's table if it has (or, recurring, now gets) one; `None` on a first sighting.
/// The table is built outside the lock, so other threads' lookups never wait for it.
pub(crate) fn table_for(key: &KeyBytes, point: &Affine) -> Option<Arc<FixedTable>> {
    match with_cache(|cache| cache.lookup(key)) {
        Lookup::Table(table) => Some(table),
        Lookup::New => None,
        Lookup::Recurring => {
            let table = Arc::new(FixedTable::build(point, KEY_TABLE_WINDOW)?);
            with_cache(|cache| cache.store(key, Arc::clone(&table)));
            Some(table)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sm2v::generator;

    fn key(n: u8) -> KeyBytes {
        [n; 64]
    }

    #[test]
    fn second_sighting_asks_for_a_table_and_third_gets_it() {
        let mut cache = KeyCache::new(4);
        assert!(matches!(cache.lookup(&key(1)), Lookup::New));
        assert!(matches!(cache.lookup(&key(1)), Lookup::Recurring));
        let table = Arc::new(FixedTable::build(&generator(), 2).unwrap());
        cache.store(&key(1), table);
        assert!(matches!(cache.lookup(&key(1)), Lookup::Table(_)));
    }

    #[test]
    fn bounded_and_recurring_keys_survive_a_burst_of_one_off_keys() {
        let mut cache = KeyCache::new(4);
        cache.lookup(&key(1));
        for n in 10..200 {
            // The recurring key is looked up between one-off keys, as a channel's orderer
            // signs between clients'.
            assert!(
                !matches!(cache.lookup(&key(1)), Lookup::New),
                "evicted at {n}"
            );
            cache.lookup(&key(n));
            assert!(cache.len() <= 4);
        }
    }
}
