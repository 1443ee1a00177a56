//! Cheap counters of what the ordering service did, for the node's `/metrics`: Raft's
//! commit index and how broadcasts ended. Atomics written by the service shell after
//! each round of the core and read at scrape time through [`OrdererHandle::stats`]
//! (`crate::OrdererHandle`); no metrics library here, the node encodes them.

use std::sync::atomic::{AtomicU64, Ordering};

/// What the orderer counted since it started.
#[derive(Debug, Default)]
pub struct OrdererStats {
    /// The highest Raft log index this orderer knows to be committed.
    pub commit_index: AtomicU64,
    /// Broadcasts answered with an acknowledgement (ordered into the chain).
    pub broadcasts_ordered: AtomicU64,
    /// Broadcasts answered with an error by the core: not proposed (no leader, busy,
    /// duplicate, config changed, not a consenter) or dropped before they were ordered.
    pub proposals_failed: AtomicU64,
}

impl OrdererStats {
    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
