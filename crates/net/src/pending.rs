//! Inbound connections still in their handshake: anyone who can reach the port can
//! open one, so they are bounded in total and per source address, and a new one beyond
//! either bound evicts the oldest instead of being refused. Idle connections then cost
//! an attacker a slot only until newer connections push them out, and a real node's
//! handshake (milliseconds) completes long before it becomes the oldest.
//!
//! Evicting rather than refusing matters across a DMZ: every connection from the other
//! carrier arrives from the forwarder's address, so refusing at a per-source bound would
//! let anyone who reaches the forwarder lock that carrier out.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use futures::future::{AbortHandle, AbortRegistration};

/// Handshakes in progress on one listener.
#[derive(Debug)]
pub(crate) struct PendingHandshakes {
    total_max: usize,
    per_source_max: usize,
    state: Mutex<PendingState>,
}

#[derive(Debug, Default)]
struct PendingState {
    next_id: u64,
    /// Oldest first.
    entries: VecDeque<Entry>,
}

#[derive(Debug)]
struct Entry {
    id: u64,
    source: IpAddr,
    abort: AbortHandle,
}

/// A handshake's slot; dropping it (handshake done, failed or evicted) frees the slot.
#[derive(Debug)]
pub(crate) struct PendingSlot {
    pending: Arc<PendingHandshakes>,
    id: u64,
}

impl PendingHandshakes {
    pub(crate) fn new(total_max: usize, per_source_max: usize) -> Arc<Self> {
        Arc::new(PendingHandshakes {
            total_max: total_max.max(1),
            per_source_max: per_source_max.max(1),
            state: Mutex::new(PendingState::default()),
        })
    }

    /// Take a slot for a new handshake from `source`, evicting the oldest handshake of
    /// that source, then the oldest of all, while over the bounds. The handshake future
    /// must be wrapped in `futures::future::Abortable` with the registration returned.
    pub(crate) fn admit(self: &Arc<Self>, source: IpAddr) -> (PendingSlot, AbortRegistration) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let from_source = state.entries.iter().filter(|e| e.source == source).count();
        if from_source >= self.per_source_max
            && let Some(index) = state.entries.iter().position(|e| e.source == source)
            && let Some(evicted) = state.entries.remove(index)
        {
            tracing::info!(%source, "handshake evicted: too many pending from this address");
            evicted.abort.abort();
        }
        while state.entries.len() >= self.total_max {
            let Some(evicted) = state.entries.pop_front() else {
                break;
            };
            tracing::info!(source = %evicted.source, "handshake evicted: pending handshakes full");
            evicted.abort.abort();
        }
        let (abort, registration) = AbortHandle::new_pair();
        let id = state.next_id;
        state.next_id = state.next_id.wrapping_add(1);
        state.entries.push_back(Entry { id, source, abort });
        let slot = PendingSlot {
            pending: Arc::clone(self),
            id,
        };
        (slot, registration)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entries
            .len()
    }
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        let mut state = self.pending.state.lock().unwrap_or_else(|e| e.into_inner());
        state.entries.retain(|entry| entry.id != self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_of_a_source_and_then_the_oldest_of_all_are_evicted() {
        let pending = PendingHandshakes::new(4, 2);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let (a1, r_a1) = pending.admit(a);
        let (_a2, r_a2) = pending.admit(a);
        let (_a3, _) = pending.admit(a);
        assert!(
            r_a1.handle().is_aborted(),
            "a's oldest makes room for a's third"
        );
        assert!(!r_a2.handle().is_aborted());
        drop(a1);
        assert_eq!(pending.len(), 2);
        let (_b1, r_b1) = pending.admit(b);
        let (_b2, _) = pending.admit(b);
        let (_c1, _) = pending.admit("127.0.0.3".parse().unwrap());
        assert!(r_a2.handle().is_aborted(), "the oldest of all makes room");
        assert!(!r_b1.handle().is_aborted());
        assert_eq!(pending.len(), 4);
    }
}
