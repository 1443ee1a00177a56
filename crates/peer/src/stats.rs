//! Cheap counters of what the peer did, for the node's `/metrics`: block commit time,
//! endorsements and their latency, gossip and state transfer. Atomics only, written on
//! the paths they count and read at scrape time through [`PeerHandle::stats`]
//! (`crate::service::PeerHandle`); no metrics library here, the node encodes them.
//!
//! Every counter only grows (relaxed ordering: each is read on its own, and a scrape
//! that sees one counter a step ahead of another is fine).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in microseconds (1 ms to 10 s).
pub const LATENCY_BUCKETS_MICROS: [u64; 13] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000,
];

/// A latency histogram over [`LATENCY_BUCKETS_MICROS`] (plus one bucket above them).
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// Non-cumulative counts per bucket; the last one holds everything above the bounds.
    counts: [AtomicU64; LATENCY_BUCKETS_MICROS.len() + 1],
    sum_micros: AtomicU64,
}

/// A histogram read at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// `(upper bound in seconds, observations at or below it)`, cumulative, in order;
    /// the last bound is `f64::INFINITY` and its count is [`HistogramSnapshot::count`].
    pub buckets: Vec<(f64, u64)>,
    /// How many observations.
    pub count: u64,
    /// Their sum in seconds.
    pub sum_seconds: f64,
}

impl LatencyHistogram {
    /// Records one duration.
    pub fn observe(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let bucket = LATENCY_BUCKETS_MICROS
            .iter()
            .position(|bound| micros <= *bound)
            .unwrap_or(LATENCY_BUCKETS_MICROS.len());
        if let Some(count) = self.counts.get(bucket) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// The histogram now, cumulative as Prometheus wants it.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let bounds = LATENCY_BUCKETS_MICROS
            .iter()
            .map(|micros| micros_to_seconds(*micros))
            .chain([f64::INFINITY]);
        let mut cumulative = 0u64;
        let buckets: Vec<(f64, u64)> = bounds
            .zip(&self.counts)
            .map(|(bound, count)| {
                cumulative = cumulative.saturating_add(count.load(Ordering::Relaxed));
                (bound, cumulative)
            })
            .collect();
        HistogramSnapshot {
            buckets,
            count: cumulative,
            sum_seconds: micros_to_seconds(self.sum_micros.load(Ordering::Relaxed)),
        }
    }
}

fn micros_to_seconds(micros: u64) -> f64 {
    // Split so each half converts exactly (u32 → f64 is lossless).
    let high = u32::try_from(micros >> 32).unwrap_or(u32::MAX);
    let low = u32::try_from(micros & u64::from(u32::MAX)).unwrap_or(u32::MAX);
    (f64::from(high) * 4_294_967_296.0 + f64::from(low)) / 1_000_000.0
}

/// What the peer counted since it started.
#[derive(Debug, Default)]
pub struct PeerStats {
    /// Validation plus commit of each block the committer took (refused ones included).
    pub block_commit: LatencyHistogram,
    /// Blocks the committer refused.
    pub blocks_refused: AtomicU64,
    /// Endorsements that produced a signed response.
    pub endorsements_ok: AtomicU64,
    /// Endorsements refused or failed (bad proposal, contract error, busy).
    pub endorsements_failed: AtomicU64,
    /// Time per endorsement, refused ones included.
    pub endorse: LatencyHistogram,
    /// Gossiped blocks received, by what became of them.
    pub gossip_received_next: AtomicU64,
    /// Gossiped blocks already held or buffered.
    pub gossip_received_known: AtomicU64,
    /// Gossiped blocks from beyond the next height (a gap to fetch).
    pub gossip_received_ahead: AtomicU64,
    /// Gossiped blocks refused (the sender was reported).
    pub gossip_received_refused: AtomicU64,
    /// Blocks fetched from other peers (state transfer).
    pub state_transfer_blocks_fetched: AtomicU64,
    /// Blocks served to other peers (state transfer).
    pub state_transfer_blocks_served: AtomicU64,
    /// Blocks fetched from orderers.
    pub orderer_blocks_fetched: AtomicU64,
}

impl PeerStats {
    /// Adds `n` to `counter`.
    pub(crate) fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_is_cumulative_and_sums_in_seconds() {
        let histogram = LatencyHistogram::default();
        histogram.observe(Duration::from_micros(500));
        histogram.observe(Duration::from_millis(3));
        histogram.observe(Duration::from_secs(60));
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.count, 3);
        assert_eq!(snapshot.buckets.len(), LATENCY_BUCKETS_MICROS.len() + 1);
        assert_eq!(snapshot.buckets[0], (0.001, 1));
        assert_eq!(snapshot.buckets[2], (0.005, 2));
        assert_eq!(snapshot.buckets[12].1, 2);
        assert_eq!(snapshot.buckets[13], (f64::INFINITY, 3));
        assert!((snapshot.sum_seconds - 60.0035).abs() < 1e-9);
    }
}
