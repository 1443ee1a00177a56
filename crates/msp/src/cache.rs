//! A bounded cache of validated identities, keyed by certificate fingerprint and claimed
//! MSP id. Peers see the same few dozen certificates in every block; re-verifying their
//! chains each time would double the signature work.
//!
//! Entries hold only the time-independent verdict; validity times are re-checked on every
//! hit. The cache belongs to one [`crate::ChannelMsps`], i.e. one config sequence, so a
//! config change (new CRL, new root) starts from an empty cache.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use netsettle_smcrypto::Hash;

use crate::ValidatedIdentity;

/// How many identities one channel keeps verified. Two carriers with a handful of nodes
/// and clients each use far fewer; the bound stops a stream of fresh certificates from
/// growing memory.
pub const IDENTITY_CACHE_ENTRIES_MAX: usize = 4096;

type Key = (String, Hash);

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<Key, ValidatedIdentity>,
    /// Insertion order, for evicting the oldest entry when full.
    order: VecDeque<Key>,
}

/// Thread-safe, bounded, first-in-first-out identity cache.
#[derive(Debug, Default)]
pub(crate) struct IdentityCache {
    inner: Mutex<Inner>,
}

impl IdentityCache {
    pub(crate) fn get(&self, msp_id: &str, fingerprint: &Hash) -> Option<ValidatedIdentity> {
        let inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        inner
            .entries
            .get(&(msp_id.to_owned(), *fingerprint))
            .cloned()
    }

    pub(crate) fn insert(&self, identity: &ValidatedIdentity) {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (identity.msp_id.clone(), identity.fingerprint);
        if inner.entries.contains_key(&key) {
            return;
        }
        while inner.entries.len() >= IDENTITY_CACHE_ENTRIES_MAX {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            inner.entries.remove(&oldest);
        }
        inner.order.push_back(key.clone());
        inner.entries.insert(key, identity.clone());
        debug_assert_eq!(inner.entries.len(), inner.order.len());
    }

    pub(crate) fn len(&self) -> usize {
        let inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        inner.entries.len()
    }
}
