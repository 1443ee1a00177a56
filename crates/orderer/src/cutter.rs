//! Block cutting as a pure function of the committed envelopes, the batch policy and
//! logical ticks, in Fabric's rules:
//!
//! - an envelope larger than `preferred_bytes_max` closes the open batch (if any) and gets
//!   a block of its own;
//! - an envelope that would take the open batch past `preferred_bytes_max` closes it first
//!   and opens the next one;
//! - a batch holding `tx_max` envelopes is closed at once;
//! - a batch whose first envelope has waited `timeout_ticks` is closed by the leader's
//!   [`crate::LogEntry::Cut`].
//!
//! Envelopes larger than `absolute_bytes_max` never get here: broadcast refuses them, and
//! the core skips one that slipped into the log (same verdict on every node).

use netsettle_protocol::BatchPolicy;

/// An envelope (generic so tests can cut plain labels) with its encoded size, which the
/// limits are measured in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sized<T> {
    /// The envelope.
    pub envelope: T,
    /// `encode(envelope).len()`.
    pub bytes: u64,
}

/// The open batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockCutter<T> {
    pending: Vec<T>,
    pending_bytes: u64,
}

impl<T> Default for BlockCutter<T> {
    fn default() -> Self {
        BlockCutter {
            pending: Vec::new(),
            pending_bytes: 0,
        }
    }
}

impl<T> BlockCutter<T> {
    /// A cutter resuming with `pending` (from a snapshot) whose sizes are `bytes`.
    pub fn with_pending(pending: Vec<T>, pending_bytes: u64) -> Self {
        BlockCutter {
            pending,
            pending_bytes,
        }
    }

    /// Adds one committed envelope; returns the batches it closes, oldest first (none, one
    /// or two).
    pub fn ordered(&mut self, item: Sized<T>, policy: &BatchPolicy) -> Vec<Vec<T>> {
        let mut batches = Vec::new();
        if item.bytes > policy.preferred_bytes_max {
            batches.extend(self.cut());
            batches.push(vec![item.envelope]);
            return batches;
        }
        if self.pending_bytes.saturating_add(item.bytes) > policy.preferred_bytes_max {
            batches.extend(self.cut());
        }
        self.pending.push(item.envelope);
        self.pending_bytes = self.pending_bytes.saturating_add(item.bytes);
        let tx_max = usize::try_from(policy.tx_max).unwrap_or(usize::MAX);
        if self.pending.len() >= tx_max {
            batches.extend(self.cut());
        }
        batches
    }

    /// Closes the open batch, if it holds anything.
    pub fn cut(&mut self) -> Option<Vec<T>> {
        if self.pending.is_empty() {
            return None;
        }
        self.pending_bytes = 0;
        Some(std::mem::take(&mut self.pending))
    }

    /// The envelopes of the open batch.
    pub fn pending(&self) -> &[T] {
        &self.pending
    }

    /// Bytes of the open batch.
    pub fn pending_bytes(&self) -> u64 {
        self.pending_bytes
    }
}

/// Ticks after which a batch times out: `timeout_ms` rounded up to whole ticks, at least
/// one.
pub fn timeout_ticks(policy: &BatchPolicy, tick_ms: u64) -> u64 {
    policy.timeout_ms.div_ceil(tick_ms.max(1)).max(1)
}

/// Whether the leader should propose a cut: the batch has been open (as this node saw it)
/// for at least `timeout_ticks`, and no cut for it was proposed in the last
/// `timeout_ticks` either (a lost proposal is retried, a pending one is not doubled).
pub fn cut_due(
    opened_at_tick: Option<u64>,
    cut_proposed_at_tick: Option<u64>,
    now_tick: u64,
    timeout_ticks: u64,
) -> bool {
    let Some(opened) = opened_at_tick else {
        return false;
    };
    if now_tick.saturating_sub(opened) < timeout_ticks {
        return false;
    }
    match cut_proposed_at_tick {
        Some(proposed) => now_tick.saturating_sub(proposed) >= timeout_ticks,
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the cutter over `(label, bytes)` items and, when `cut_at_end`, a final timeout
    /// cut; returns the blocks as label lists.
    fn check(policy: &BatchPolicy, items: &[(u32, u64)], cut_at_end: bool) -> Vec<Vec<u32>> {
        let mut cutter = BlockCutter::default();
        let mut blocks = Vec::new();
        for &(envelope, bytes) in items {
            blocks.extend(cutter.ordered(Sized { envelope, bytes }, policy));
        }
        if cut_at_end {
            blocks.extend(cutter.cut());
        }
        blocks
    }

    fn policy(tx_max: u32, preferred: u64, absolute: u64) -> BatchPolicy {
        BatchPolicy {
            timeout_ms: 1_000,
            tx_max,
            absolute_bytes_max: absolute,
            preferred_bytes_max: preferred,
        }
    }

    #[test]
    fn count_limit_cuts_exactly_at_tx_max() {
        let items: Vec<(u32, u64)> = (0..7).map(|i| (i, 10)).collect();
        assert_eq!(
            check(&policy(3, 1_000, 1_000), &items, false),
            vec![vec![0, 1, 2], vec![3, 4, 5]]
        );
        assert_eq!(
            check(&policy(3, 1_000, 1_000), &items, true),
            vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]
        );
    }

    #[test]
    fn default_policy_cuts_fifty() {
        let items: Vec<(u32, u64)> = (0..120).map(|i| (i, 1_024)).collect();
        let blocks = check(&BatchPolicy::default(), &items, true);
        let sizes: Vec<usize> = blocks.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![50, 50, 20]);
    }

    #[test]
    fn bytes_limit_closes_the_batch_before_it_overflows() {
        // 40 + 40 fit in 100, the third would make 120: the first two go, the third waits.
        let items = [(1, 40), (2, 40), (3, 40), (4, 60)];
        assert_eq!(
            check(&policy(50, 100, 200), &items, true),
            vec![vec![1, 2], vec![3, 4]]
        );
        // Exactly the preferred size still fits.
        assert_eq!(
            check(&policy(50, 100, 200), &[(1, 60), (2, 40), (3, 1)], true),
            vec![vec![1, 2], vec![3]]
        );
    }

    #[test]
    fn envelope_above_preferred_gets_a_block_of_its_own() {
        let items = [(1, 10), (2, 150), (3, 10)];
        assert_eq!(
            check(&policy(50, 100, 200), &items, true),
            vec![vec![1], vec![2], vec![3]]
        );
        // With nothing open, the big one is alone and nothing else is cut.
        assert_eq!(
            check(&policy(50, 100, 200), &[(2, 150)], false),
            vec![vec![2]]
        );
    }

    #[test]
    fn the_mission_policy_with_100_mb() {
        let mib = 1024 * 1024;
        // Two 60 MiB transactions cannot share a 100 MiB block.
        let items = [(1, 60 * mib), (2, 60 * mib)];
        assert_eq!(
            check(&BatchPolicy::default(), &items, true),
            vec![vec![1], vec![2]]
        );
    }

    #[test]
    fn empty_batch_is_never_cut() {
        let mut cutter = BlockCutter::<u32>::default();
        assert_eq!(cutter.cut(), None);
        assert_eq!(cutter.pending_bytes(), 0);
    }

    #[test]
    fn timeout_in_ticks_rounds_up() {
        let one_second = BatchPolicy::default();
        assert_eq!(timeout_ticks(&one_second, 100), 10);
        assert_eq!(timeout_ticks(&one_second, 300), 4);
        assert_eq!(timeout_ticks(&one_second, 5_000), 1);
        assert_eq!(timeout_ticks(&one_second, 0), 1_000);
    }

    #[test]
    fn cut_is_due_after_timeout_and_not_doubled() {
        // (opened, proposed, now) -> due, timeout 10 ticks.
        let cases = [
            (None, None, 100, false),
            (Some(0), None, 9, false),
            (Some(0), None, 10, true),
            (Some(0), Some(10), 15, false),
            (Some(0), Some(10), 20, true),
            (Some(5), None, 14, false),
        ];
        for (opened, proposed, now, due) in cases {
            assert_eq!(
                cut_due(opened, proposed, now, 10),
                due,
                "opened {opened:?} proposed {proposed:?} now {now}"
            );
        }
    }
}
