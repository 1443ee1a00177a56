//! The deliver client: pulls blocks for the committer from a list of sources, failing
//! over between them. Sources are the orderers of both carriers (deliver) and, when no
//! orderer answers, other peers (state transfer from their ledgers); the transport is
//! the node's business, behind [`BlockSource`].
//!
//! Any source may be slow, down or lying. A source is abandoned for the next one when a
//! fetch fails, when it returns blocks that do not continue the chain from the height
//! asked for, or when the committer refuses one of its blocks (bad orderer signature,
//! broken hash chain). The committer validates every block whatever its source, so a
//! lying source costs time, never correctness. Retries back off exponentially, bounded.

use std::future::Future;
use std::time::Duration;

use netsettle_protocol::Block;
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

use crate::limits::DELIVER_BATCH_BLOCKS_MAX;
use crate::service::PeerHandle;

/// Where blocks come from: an orderer's deliver service or another peer's ledger.
pub trait BlockSource: Send + Sync + 'static {
    /// How many endpoints this source can try (orderers, then peers).
    fn n_endpoints(&self) -> usize;

    /// Blocks numbered `start`, `start + 1`, … from endpoint `endpoint`, at most `max`.
    /// May wait (long-poll) for new blocks; an empty answer means none yet.
    fn fetch(
        &self,
        endpoint: usize,
        start: u64,
        max: usize,
    ) -> impl Future<Output = Result<Vec<Block>, String>> + Send;
}

/// Retry and failover timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliverConfig {
    /// First pause after a failed endpoint.
    pub backoff_min: Duration,
    /// Longest pause between retries.
    pub backoff_max: Duration,
    /// How long committed progress may lag after blocks were handed to the committer
    /// before the source is treated as stuck.
    pub progress_timeout: Duration,
}

impl Default for DeliverConfig {
    fn default() -> Self {
        DeliverConfig {
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            progress_timeout: Duration::from_secs(30),
        }
    }
}

/// Why an endpoint was abandoned.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("fetch failed: {0}")]
    Fetch(String),
    #[error("sent block {got} when {expected} was asked for")]
    OutOfOrder { expected: u64, got: u64 },
    #[error("the committer refused one of its blocks")]
    Refused,
    #[error("the committed height stopped moving")]
    Stalled,
}

/// Runs until `shutdown` turns true or the committer's block channel closes.
pub async fn run<S: BlockSource>(
    source: S,
    config: DeliverConfig,
    peer: PeerHandle,
    blocks: mpsc::Sender<Block>,
    mut shutdown: watch::Receiver<bool>,
) {
    let n_endpoints = source.n_endpoints().max(1);
    let mut endpoint = 0usize;
    let mut backoff = config.backoff_min;
    loop {
        if *shutdown.borrow() || blocks.is_closed() {
            return;
        }
        let outcome = tokio::select! {
            outcome = pull_once(&source, endpoint, &config, &peer, &blocks) => outcome,
            _ = shutdown.changed() => return,
        };
        match outcome {
            Ok(progressed) => {
                if progressed {
                    backoff = config.backoff_min;
                }
            }
            Err(failure) => {
                warn!(endpoint, %failure, "block source failed; trying the next one");
                endpoint = endpoint.wrapping_add(1) % n_endpoints;
                // After a whole round of failures, pause before starting again.
                if endpoint == 0 {
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        _ = shutdown.changed() => return,
                    }
                    backoff = backoff.saturating_mul(2).min(config.backoff_max);
                }
            }
        }
    }
}

/// One fetch from `endpoint`, handed to the committer; `Ok(true)` when the height moved.
async fn pull_once<S: BlockSource>(
    source: &S,
    endpoint: usize,
    config: &DeliverConfig,
    peer: &PeerHandle,
    blocks: &mpsc::Sender<Block>,
) -> Result<bool, Failure> {
    let start = peer.height();
    let fetched = source
        .fetch(endpoint, start, DELIVER_BATCH_BLOCKS_MAX)
        .await
        .map_err(Failure::Fetch)?;
    if fetched.is_empty() {
        return Ok(false);
    }
    let mut expected = start;
    for block in fetched.into_iter().take(DELIVER_BATCH_BLOCKS_MAX) {
        if block.header.number != expected {
            return Err(Failure::OutOfOrder {
                expected,
                got: block.header.number,
            });
        }
        expected = expected.saturating_add(1);
        if blocks.send(block).await.is_err() {
            return Ok(false);
        }
    }
    debug!(
        endpoint,
        start,
        end = expected,
        "blocks handed to the committer"
    );
    let mut refusals = peer.refusals();
    let refused_before = *refusals.borrow_and_update();
    let progress = async {
        tokio::select! {
            reached = peer.wait_for_height(expected) => if reached { Ok(true) } else { Ok(false) },
            _ = refusals.wait_for(|count| *count != refused_before) => Err(Failure::Refused),
        }
    };
    tokio::time::timeout(config.progress_timeout, progress)
        .await
        .map_err(|_| Failure::Stalled)?
}
