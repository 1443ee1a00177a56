//! Cheap counters of what the ordering service did, for the node's `/metrics`: Raft's
//! commit index and how broadcasts ended. Atomics written by the service shell after
//! each round of the core and read at scrape time through [`OrdererHandle::stats`]
//! (`crate::OrdererHandle`); no metrics library here, the node encodes them.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::BroadcastError;

/// Why the core answered a broadcast with an error, in a closed set (a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProposalFailure {
    /// No Raft leader, or no quorum behind it.
    NoLeader,
    /// Too many broadcasts waiting, or Raft dropped the proposal.
    Busy,
    /// Proposed but not ordered in time (a leader change may have dropped it).
    NotOrderedInTime,
    /// Already ordered.
    Duplicate,
    /// Anything else: a config change meanwhile, not a consenter, a refused update.
    Other,
}

impl ProposalFailure {
    /// Every reason, in the order [`OrdererStats`] keeps them.
    pub const ALL: [ProposalFailure; 5] = [
        ProposalFailure::NoLeader,
        ProposalFailure::Busy,
        ProposalFailure::NotOrderedInTime,
        ProposalFailure::Duplicate,
        ProposalFailure::Other,
    ];

    /// The label value (`no_leader`, `busy`, `not_ordered_in_time`, `duplicate`, `other`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProposalFailure::NoLeader => "no_leader",
            ProposalFailure::Busy => "busy",
            ProposalFailure::NotOrderedInTime => "not_ordered_in_time",
            ProposalFailure::Duplicate => "duplicate",
            ProposalFailure::Other => "other",
        }
    }

    fn of(error: &BroadcastError) -> ProposalFailure {
        match error {
            BroadcastError::NoLeader | BroadcastError::NoQuorum => ProposalFailure::NoLeader,
            BroadcastError::Busy => ProposalFailure::Busy,
            BroadcastError::NotOrderedInTime => ProposalFailure::NotOrderedInTime,
            BroadcastError::Duplicate(_) => ProposalFailure::Duplicate,
            _ => ProposalFailure::Other,
        }
    }

    fn index(self) -> usize {
        match self {
            ProposalFailure::NoLeader => 0,
            ProposalFailure::Busy => 1,
            ProposalFailure::NotOrderedInTime => 2,
            ProposalFailure::Duplicate => 3,
            ProposalFailure::Other => 4,
        }
    }
}

/// What the orderer counted since it started.
#[derive(Debug, Default)]
pub struct OrdererStats {
    /// The highest Raft log index this orderer knows to be committed.
    pub commit_index: AtomicU64,
    /// Broadcasts answered with an acknowledgement (ordered into the chain).
    pub broadcasts_ordered: AtomicU64,
    /// Broadcast envelopes handed to the checks (`checks`).
    pub envelope_checks: AtomicU64,
    /// Blocking-pool tasks those checks ran in (one per batch of envelopes that arrived
    /// together).
    pub envelope_check_batches: AtomicU64,
    /// `orderer-broadcast-batch` requests accepted (well-formed; their envelopes are
    /// counted with the others once checked).
    pub broadcast_batches: AtomicU64,
    /// Broadcasts the core answered with an error, by [`ProposalFailure::index`].
    proposals_failed: [AtomicU64; ProposalFailure::ALL.len()],
}

impl OrdererStats {
    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Broadcasts the core answered with an error for `reason`.
    pub fn proposals_failed(&self, reason: ProposalFailure) -> u64 {
        self.proposals_failed
            .get(reason.index())
            .map_or(0, |counter| counter.load(Ordering::Relaxed))
    }

    /// Counts one broadcast answer.
    pub(crate) fn count_reply<T>(&self, reply: &Result<T, BroadcastError>) {
        let counter = match reply {
            Ok(_) => Some(&self.broadcasts_ordered),
            Err(error) => self
                .proposals_failed
                .get(ProposalFailure::of(error).index()),
        };
        if let Some(counter) = counter {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_counted_by_outcome_and_reason() {
        let stats = OrdererStats::default();
        stats.count_reply(&Ok::<(), BroadcastError>(()));
        stats.count_reply(&Err::<(), _>(BroadcastError::NoQuorum));
        stats.count_reply(&Err::<(), _>(BroadcastError::NoLeader));
        stats.count_reply(&Err::<(), _>(BroadcastError::ConfigChanged));
        assert_eq!(OrdererStats::get(&stats.broadcasts_ordered), 1);
        assert_eq!(stats.proposals_failed(ProposalFailure::NoLeader), 2);
        assert_eq!(stats.proposals_failed(ProposalFailure::Other), 1);
        assert_eq!(stats.proposals_failed(ProposalFailure::Busy), 0);
    }
}
