//! The endorsements this peer signed, remembered so that its validator does not verify
//! its own signature again when the transaction comes back in a block (one SM2
//! verification less per transaction and peer).
//!
//! An entry is the transaction id, the exact bytes signed (or, for bytes over
//! [`OWN_ENDORSEMENT_KEPT_BYTES_MAX`], their SM3) and the signature. The validator takes
//! an endorsement as verified without SM2 only when it names this peer's identity exactly
//! and its signed bytes and its signature are exactly an entry's: anything else (a forged
//! signature under this peer's name, other bytes under a copied signature, an entry long
//! evicted) is verified as any other. Keeping the bytes themselves makes the check a
//! comparison instead of two SM3 passes over them (one to record, one to look up). The
//! cache holds at most [`OWN_ENDORSEMENTS_MAX`] entries and
//! [`OWN_ENDORSEMENTS_BYTES_MAX`] bytes kept, the oldest evicted first: an evicted entry
//! only costs a verification.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use netsettle_protocol::{Identity, TxId};
use netsettle_smcrypto::{Hash, Signature, sm3};

use crate::limits::{
    OWN_ENDORSEMENT_KEPT_BYTES_MAX, OWN_ENDORSEMENTS_BYTES_MAX, OWN_ENDORSEMENTS_MAX,
};

/// The endorsements one peer identity signed lately. Shared by the endorser (which
/// records) and the validator (which looks up).
#[derive(Debug)]
pub struct OwnEndorsements {
    /// The identity the peer endorses as, exactly as its endorsements carry it.
    identity: Identity,
    entries: Mutex<Entries>,
    /// Endorsements taken as verified from the cache, for metrics and tests.
    hits: AtomicU64,
}

#[derive(Debug, Default)]
struct Entries {
    by_tx: HashMap<TxId, Signed>,
    /// Transaction ids oldest first; each id once.
    order: VecDeque<TxId>,
    /// Bytes of signed messages kept, all entries together.
    kept_bytes: usize,
}

impl Entries {
    fn remove(&mut self, tx_id: &TxId) {
        if let Some(signed) = self.by_tx.remove(tx_id) {
            self.kept_bytes = self.kept_bytes.saturating_sub(signed.message.kept_bytes());
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Signed {
    message: Message,
    signature: Signature,
}

/// What an entry keeps of the signed bytes.
#[derive(Debug, PartialEq, Eq)]
enum Message {
    /// The bytes themselves.
    Bytes(Vec<u8>),
    /// Their SM3, for bytes over [`OWN_ENDORSEMENT_KEPT_BYTES_MAX`].
    Hash(Hash),
}

impl Message {
    fn of(message: &[u8]) -> Message {
        if message.len() <= OWN_ENDORSEMENT_KEPT_BYTES_MAX {
            Message::Bytes(message.to_vec())
        } else {
            Message::Hash(sm3(message))
        }
    }

    fn kept_bytes(&self) -> usize {
        match self {
            Message::Bytes(bytes) => bytes.len(),
            Message::Hash(_) => 0,
        }
    }
}

impl OwnEndorsements {
    /// An empty cache for the peer that endorses as `identity`.
    pub fn new(identity: Identity) -> OwnEndorsements {
        OwnEndorsements {
            identity,
            entries: Mutex::default(),
            hits: AtomicU64::new(0),
        }
    }

    /// Remembers that this peer signed `message` with `signature` for `tx_id` (replacing
    /// an earlier endorsement of the same transaction), evicting the oldest entries when
    /// full.
    pub fn record(&self, tx_id: TxId, message: &[u8], signature: Signature) {
        let signed = Signed {
            message: Message::of(message),
            signature,
        };
        let kept = signed.message.kept_bytes();
        let mut entries = self.lock();
        entries.kept_bytes = entries.kept_bytes.saturating_add(kept);
        match entries.by_tx.insert(tx_id, signed) {
            None => entries.order.push_back(tx_id),
            Some(replaced) => {
                let before = replaced.message.kept_bytes();
                entries.kept_bytes = entries.kept_bytes.saturating_sub(before);
            }
        }
        while entries.order.len() > OWN_ENDORSEMENTS_MAX
            || entries.kept_bytes > OWN_ENDORSEMENTS_BYTES_MAX
        {
            let Some(oldest) = entries.order.pop_front() else {
                break;
            };
            entries.remove(&oldest);
        }
    }

    /// Whether `endorser`'s `signature` over `message` for `tx_id` is one this peer made,
    /// exactly as recorded: then it needs no verification.
    pub fn is_own(
        &self,
        tx_id: &TxId,
        endorser: &Identity,
        message: &[u8],
        signature: &Signature,
    ) -> bool {
        if *endorser != self.identity {
            return false;
        }
        let own = {
            let entries = self.lock();
            let same_signature = entries
                .by_tx
                .get(tx_id)
                .filter(|signed| signed.signature == *signature);
            match same_signature.map(|signed| &signed.message) {
                Some(Message::Bytes(bytes)) => bytes.as_slice() == message,
                Some(Message::Hash(hash)) => {
                    let hash = *hash;
                    drop(entries);
                    // Hashing outside the lock: the message is large.
                    hash == sm3(message)
                }
                None => false,
            }
        };
        if own {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        own
    }

    /// The identity this cache records endorsements of.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Endorsements taken as verified from the cache so far.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Entries held now (at most [`OWN_ENDORSEMENTS_MAX`]).
    pub fn len(&self) -> usize {
        self.lock().order.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // Every update leaves the entries consistent; a panic elsewhere cannot break them.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(name: &str) -> Identity {
        Identity {
            msp_id: "UnicomMSP".to_owned(),
            cert_der: name.as_bytes().to_vec(),
        }
    }

    fn tx(n: u64) -> TxId {
        TxId(sm3(&n.to_le_bytes()))
    }

    fn signature(byte: u8) -> Signature {
        Signature::from_raw(&[byte; 64]).unwrap()
    }

    #[test]
    fn only_the_exact_recorded_endorsement_counts() {
        let own = OwnEndorsements::new(identity("peer0"));
        own.record(tx(1), b"signed bytes", signature(1));
        assert!(own.is_own(&tx(1), &identity("peer0"), b"signed bytes", &signature(1)));
        assert_eq!(own.hits(), 1);
        // Another signature, other bytes, another transaction, another identity: no.
        assert!(!own.is_own(&tx(1), &identity("peer0"), b"signed bytes", &signature(2)));
        assert!(!own.is_own(&tx(1), &identity("peer0"), b"other bytes", &signature(1)));
        assert!(!own.is_own(&tx(2), &identity("peer0"), b"signed bytes", &signature(1)));
        assert!(!own.is_own(&tx(1), &identity("peer1"), b"signed bytes", &signature(1)));
        assert_eq!(own.hits(), 1);
        // A second endorsement of the same transaction replaces the first.
        own.record(tx(1), b"signed bytes", signature(3));
        assert!(!own.is_own(&tx(1), &identity("peer0"), b"signed bytes", &signature(1)));
        assert!(own.is_own(&tx(1), &identity("peer0"), b"signed bytes", &signature(3)));
        assert_eq!(own.len(), 1);
    }

    #[test]
    fn large_messages_are_kept_as_their_hash_and_kept_bytes_are_bounded() {
        let own = OwnEndorsements::new(identity("peer0"));
        let large = vec![7u8; OWN_ENDORSEMENT_KEPT_BYTES_MAX + 1];
        own.record(tx(1), &large, signature(1));
        assert!(own.is_own(&tx(1), &identity("peer0"), &large, &signature(1)));
        let mut other = large.clone();
        other[0] = 8;
        assert!(!own.is_own(&tx(1), &identity("peer0"), &other, &signature(1)));
        assert_eq!(own.lock().kept_bytes, 0);
        // Kept bytes stay within their bound: the oldest entries give way.
        let medium = vec![1u8; OWN_ENDORSEMENT_KEPT_BYTES_MAX];
        let fit = OWN_ENDORSEMENTS_BYTES_MAX / OWN_ENDORSEMENT_KEPT_BYTES_MAX;
        for n in 2..u64::try_from(fit + 5).unwrap() {
            own.record(tx(n), &medium, signature(1));
            assert!(own.lock().kept_bytes <= OWN_ENDORSEMENTS_BYTES_MAX);
        }
        assert!(!own.is_own(&tx(2), &identity("peer0"), &medium, &signature(1)));
        let last = u64::try_from(fit + 4).unwrap();
        assert!(own.is_own(&tx(last), &identity("peer0"), &medium, &signature(1)));
        // Replacing an entry gives its kept bytes back.
        let before = own.lock().kept_bytes;
        own.record(tx(last), b"m", signature(2));
        assert_eq!(own.lock().kept_bytes, before - medium.len() + 1);
    }

    #[test]
    fn the_cache_stays_bounded_and_evicts_the_oldest() {
        let own = OwnEndorsements::new(identity("peer0"));
        let extra = 10u64;
        let total = u64::try_from(OWN_ENDORSEMENTS_MAX).unwrap() + extra;
        for n in 0..total {
            own.record(tx(n), b"m", signature(1));
            assert!(own.len() <= OWN_ENDORSEMENTS_MAX);
        }
        assert_eq!(own.len(), OWN_ENDORSEMENTS_MAX);
        assert!(!own.is_own(&tx(extra - 1), &identity("peer0"), b"m", &signature(1)));
        assert!(own.is_own(&tx(extra), &identity("peer0"), b"m", &signature(1)));
        assert!(own.is_own(&tx(total - 1), &identity("peer0"), b"m", &signature(1)));
    }
}
