//! What travels through the Raft log, and what a Raft snapshot holds.
//!
//! Block contents are decided by the log, not by any one node's timer: every committed
//! [`LogEntry::Transaction`] is appended to the pending batch on every orderer, and the
//! count and size limits cut blocks deterministically while the entries are applied. Only
//! the batch timeout depends on a clock; the leader turns it into a [`LogEntry::Cut`]
//! naming the block it closes, so every orderer cuts that block at the same log position.
//! A stale cut (its block was already closed by the count limit) is ignored by everyone.
//! The block's time is decided the same way: the leader enters its clock in the log
//! ([`LogEntry::Clock`]) and a block carries the latest one before it.

use netsettle_protocol::{ChannelConfig, Envelope, InvalidMessage, Wire};
use netsettle_smcrypto::Hash;

use crate::limits::{
    LOG_ENTRY_BYTES_MAX, PENDING_ENVELOPES_MAX, PROPOSAL_ENVELOPES_MAX, SNAPSHOT_BYTES_MAX,
};

/// One entry of the Raft log (the `data` of a raft-rs `Entry`, in the protocol codec).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LogEntry {
    /// An endorsed transaction, validated by the orderer that proposed it.
    Transaction {
        /// The envelope as the client signed it.
        envelope: Envelope,
    },
    /// A configuration put in force: a `Payload::Config` envelope signed by the orderer
    /// that accepted the update. Re-checked when applied, against the configuration in
    /// force at that log position, with the proposer's clock reading `at_unix` so every
    /// orderer reaches the same verdict.
    Config {
        /// The config envelope that becomes a block of its own.
        envelope: Envelope,
        /// Unix seconds at which the proposer checked the update.
        at_unix: i64,
    },
    /// The batch timeout expired on the leader: close block `block_number` if it is still
    /// open and not empty.
    Cut {
        /// The number the cut block gets.
        block_number: u64,
    },
    /// The leader's clock, proposed before anything else it proposes once its last
    /// reading is a second old: blocks cut after it carry this time (never less than the
    /// time before it), so every orderer stamps the same time on the same block.
    Clock {
        /// Unix milliseconds on the leader's clock.
        unix_ms: u64,
    },
    // Appended last: the codec numbers variants in order, and logs written before it
    // must still decode.
    /// Several endorsed transactions, each validated by the orderer that proposed them,
    /// applied in order exactly as that many `Transaction` entries at this index would be:
    /// a leader under load proposes the broadcasts of one input batch together.
    Transactions {
        /// The envelopes as their clients signed them, at least two.
        envelopes: Vec<Envelope>,
    },
}

impl Wire for LogEntry {
    const NAME: &'static str = "orderer log entry";
    const BYTES_MAX: usize = LOG_ENTRY_BYTES_MAX;

    fn check(&self) -> Result<(), InvalidMessage> {
        match self {
            LogEntry::Transaction { envelope } | LogEntry::Config { envelope, .. } => {
                envelope.check()
            }
            LogEntry::Transactions { envelopes } => {
                if envelopes.len() < 2 || envelopes.len() > PROPOSAL_ENVELOPES_MAX {
                    return Err(InvalidMessage::Inconsistent {
                        what: "transactions entry of fewer than two or too many envelopes",
                    });
                }
                envelopes.iter().try_for_each(Wire::check)
            }
            LogEntry::Cut { .. } | LogEntry::Clock { .. } => Ok(()),
        }
    }
}

/// The ordering state machine at one applied log index: where the chain ends, which
/// configuration is in force, and what is committed but not yet cut. The blocks
/// themselves are not in it; a node installing a snapshot fetches the blocks it lacks
/// from another orderer and checks them against `last_hash`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SnapshotState {
    /// Blocks in the chain (the next block's number).
    pub height: u64,
    /// Header hash of block `height - 1`.
    pub last_hash: Hash,
    /// Number of the config block in force.
    pub last_config_index: u64,
    /// The configuration in force.
    pub config: ChannelConfig,
    /// Envelopes committed after the last cut, in log order.
    pub pending: Vec<Envelope>,
    /// The orderers' time at this log position (the latest [`LogEntry::Clock`]), unix
    /// milliseconds: the time the next block gets.
    pub clock_unix_ms: u64,
}

impl Wire for SnapshotState {
    const NAME: &'static str = "orderer snapshot";
    const BYTES_MAX: usize = SNAPSHOT_BYTES_MAX;

    fn check(&self) -> Result<(), InvalidMessage> {
        if self.height == 0 {
            return Err(InvalidMessage::Inconsistent {
                what: "snapshot of an empty chain",
            });
        }
        if self.last_config_index >= self.height {
            return Err(InvalidMessage::Inconsistent {
                what: "snapshot config block beyond its chain",
            });
        }
        if self.pending.len() > PENDING_ENVELOPES_MAX {
            return Err(InvalidMessage::TooMany {
                what: "snapshot pending envelopes",
                max: PENDING_ENVELOPES_MAX,
                actual: self.pending.len(),
            });
        }
        self.config.check()?;
        self.pending.iter().try_for_each(Envelope::check)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_entry_is_small_enough_for_followers_to_decode() {
        let entry = LogEntry::Clock { unix_ms: u64::MAX };
        let bytes = netsettle_protocol::encode(&entry).unwrap();
        assert!(bytes.len() <= crate::limits::CLOCK_ENTRY_BYTES_MAX);
        assert_eq!(
            netsettle_protocol::decode::<LogEntry>(&bytes).unwrap(),
            entry
        );
    }

    /// What a leader (possibly the other carrier's) may put in one multi-envelope entry:
    /// two to `PROPOSAL_ENVELOPES_MAX` envelopes; anything else does not decode, so every
    /// orderer skips it alike.
    #[test]
    fn a_transactions_entry_outside_its_bounds_does_not_decode() {
        let net = netsettle_testkit::Consortium::new();
        let envelopes = |n: u64| -> Vec<Envelope> {
            (0..n)
                .map(|seed| net.ordering_envelope(&net.unicom_client, seed, 8))
                .collect()
        };
        let entry = |n: u64| LogEntry::Transactions {
            envelopes: envelopes(n),
        };
        let max = u64::try_from(PROPOSAL_ENVELOPES_MAX).unwrap();
        for n in [2, max] {
            let bytes = netsettle_protocol::encode(&entry(n)).unwrap();
            assert!(
                netsettle_protocol::decode::<LogEntry>(&bytes).is_ok(),
                "{n}"
            );
        }
        // The codec runs this check on every decode, and will not encode such an entry.
        for n in [0, 1, max + 1] {
            assert!(entry(n).check().is_err(), "{n}");
            assert!(netsettle_protocol::encode(&entry(n)).is_err(), "{n}");
        }
    }
}
