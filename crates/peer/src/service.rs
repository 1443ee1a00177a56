//! The peer's service shell: one committer task that owns block validation and commit,
//! endorsement on the blocking pool, and the event broadcast. The node runtime spawns it
//! with a ledger, an endorser and a bounded channel of blocks (fed by the deliver client
//! or by gossip), and talks to it through a [`PeerHandle`].
//!
//! I/O order per block, as the style guide asks: validate (pure, on the blocking pool) →
//! one synced ledger batch → swap in the new channel config if the block changed it →
//! publish the height → publish the block event. A subscriber that sees an event can
//! therefore read the block's writes from the ledger.
//!
//! Bounded everywhere: blocks wait in the caller's channel (size
//! [`BLOCK_QUEUE_MAX`](crate::limits::BLOCK_QUEUE_MAX) suggested), at most
//! [`ENDORSE_QUEUE_MAX`] endorsements run or wait at once (more are refused as
//! `Unavailable`), and each event subscriber has its own bounded queue.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use netsettle_ledger::{Ledger, LedgerError};
use netsettle_msp::ChannelState;
use netsettle_protocol::{Block, ProposalResponse, SignedProposal};
use tokio::sync::{Semaphore, broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::committer;
use crate::endorser::Endorser;
use crate::error::EndorseError;
use crate::events::BlockEvent;
use crate::gossip::Tip;
use crate::limits::{
    ENDORSE_QUEUE_MAX, EVENT_SUBSCRIBER_QUEUE_MAX, STATE_TRANSFER_BLOCKS_MAX,
    STATE_TRANSFER_BYTES_MAX,
};
use crate::own_endorsements::OwnEndorsements;
use crate::state::LedgerView;
use crate::stats::PeerStats;
use crate::validator::{BlockError, Validator, check_block_time};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The ledger is empty and no genesis block was given.
    #[error("the ledger is empty: the peer needs the channel's genesis block to join")]
    NoGenesis,
    /// The genesis block, or the config block the ledger names, is unusable.
    #[error("channel configuration: {0}")]
    Config(String),
    /// The genesis block was refused.
    #[error(transparent)]
    Block(#[from] BlockError),
    /// The ledger failed.
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// The committer ended on its own (the ledger failed or it panicked); the peer
    /// commits nothing more.
    #[error("committer stopped: {0}")]
    CommitterStopped(String),
}

/// What the service needs from the node runtime.
pub struct PeerParts {
    /// The peer's ledger.
    pub ledger: Arc<Ledger>,
    /// The channel's genesis block: committed if the ledger is empty, otherwise checked
    /// against block 0.
    pub genesis: Block,
    /// The endorsing identity and installed contracts.
    pub endorser: Endorser,
    /// The block validator.
    pub validator: Validator,
    /// Blocks to validate and commit, in order (duplicates and gaps are dropped).
    pub blocks: mpsc::Receiver<Block>,
}

struct Shared {
    ledger: Arc<Ledger>,
    /// The config in force; a watch, so the node's trust can follow it.
    channel: watch::Sender<Arc<ChannelState>>,
    endorser: Endorser,
    endorse_permits: Arc<Semaphore>,
    events: broadcast::Sender<Arc<BlockEvent>>,
    /// What the peer counted, for the node's metrics.
    stats: PeerStats,
}

impl Shared {
    fn channel(&self) -> Arc<ChannelState> {
        Arc::clone(&self.channel.borrow())
    }

    fn set_channel(&self, channel: ChannelState) {
        self.channel.send_replace(Arc::new(channel));
    }
}

/// The running peer service; cheap to clone.
#[derive(Clone)]
pub struct PeerHandle {
    shared: Arc<Shared>,
    height: watch::Receiver<u64>,
    refusals: watch::Receiver<u64>,
    /// How the committer ended (`None` while it runs): `Err` names why it failed.
    committer: watch::Receiver<Option<Result<(), String>>>,
}

impl core::fmt::Debug for PeerHandle {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PeerHandle")
            .field("height", &*self.height.borrow())
            .finish_non_exhaustive()
    }
}

/// Starts the peer service on the current tokio runtime.
pub fn spawn(parts: PeerParts) -> Result<PeerHandle, ServiceError> {
    let PeerParts {
        ledger,
        genesis,
        endorser,
        validator,
        blocks,
    } = parts;
    // The validator need not verify what this peer's own endorser signed.
    let validator = validator.trusting_own(endorser.own_endorsements());
    let channel = join_channel(&ledger, &validator, &genesis)?;
    let height = ledger.chain_info()?.height;
    let (height_tx, height_rx) = watch::channel(height);
    let (refusals_tx, refusals_rx) = watch::channel(0u64);
    let (events, _) = broadcast::channel(EVENT_SUBSCRIBER_QUEUE_MAX);
    let shared = Arc::new(Shared {
        ledger,
        channel: watch::Sender::new(Arc::new(channel)),
        endorser,
        endorse_permits: Arc::new(Semaphore::new(ENDORSE_QUEUE_MAX)),
        events,
        stats: PeerStats::default(),
    });
    info!(height, "peer service started");
    let committer = tokio::spawn(run_committer(
        Arc::clone(&shared),
        validator,
        blocks,
        Progress {
            height: height_tx,
            refusals: refusals_tx,
        },
    ));
    let (ended_tx, ended_rx) = watch::channel(None);
    tokio::spawn(report_end(committer, ended_tx));
    Ok(PeerHandle {
        shared,
        height: height_rx,
        refusals: refusals_rx,
        committer: ended_rx,
    })
}

/// The channel in force: from the genesis block on an empty ledger (committing it), or
/// from the ledger's last config block.
fn join_channel(
    ledger: &Ledger,
    validator: &Validator,
    genesis: &Block,
) -> Result<ChannelState, ServiceError> {
    let info = ledger.chain_info()?;
    if info.height == 0 {
        let (validated, channel) = validator.validate_genesis(genesis)?;
        committer::commit(ledger, &validated)?;
        info!(channel = %channel.config.channel, "joined the channel from its genesis block");
        return Ok(channel);
    }
    let stored = ledger.block(0)?.ok_or(ServiceError::NoGenesis)?;
    if stored.hash() != genesis.hash() {
        return Err(ServiceError::Config(
            "the ledger belongs to another channel (block 0 differs from the genesis block)"
                .to_owned(),
        ));
    }
    let (config, config_number) = ledger.config_in_force()?.ok_or(ServiceError::NoGenesis)?;
    ChannelState::new(config, config_number)
        .map_err(|error| ServiceError::Config(error.to_string()))
}

/// What the committer publishes after each block.
struct Progress {
    /// The committed height.
    height: watch::Sender<u64>,
    /// How many blocks were refused so far (sources watch it to fail over).
    refusals: watch::Sender<u64>,
}

/// Waits for the committer task and publishes how it ended, a panic included.
async fn report_end(
    committer: JoinHandle<Result<(), ServiceError>>,
    ended: watch::Sender<Option<Result<(), String>>>,
) {
    let outcome = match committer.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(join_error) => Err(format!("the committer task failed: {join_error}")),
    };
    ended.send_replace(Some(outcome));
}

/// Commits blocks until the block channel closes (`Ok`). A refused block is counted and
/// skipped; a ledger failure or a panic in validation or commit (an assertion) ends the
/// committer with `Err`: committing on after it would risk a divergent ledger.
async fn run_committer(
    shared: Arc<Shared>,
    validator: Validator,
    mut blocks: mpsc::Receiver<Block>,
    progress: Progress,
) -> Result<(), ServiceError> {
    let Progress { height, refusals } = progress;
    let validator = Arc::new(validator);
    // The last committed block's time, read from the ledger once.
    let mut last_time_ms: Option<u64> = None;
    while let Some(block) = blocks.recv().await {
        let expected = *height.borrow();
        if block.header.number != expected {
            // Sources may resend blocks after a failover; gaps mean a source skipped.
            if block.header.number > expected {
                warn!(
                    number = block.header.number,
                    expected, "dropping a block beyond the next height"
                );
            }
            continue;
        }
        let worker = Arc::clone(&shared);
        let validator = Arc::clone(&validator);
        let time_ms = block.header.timestamp.unix_time_ms;
        let started = Instant::now();
        let outcome = tokio::task::spawn_blocking(move || {
            validate_and_commit(&worker, &validator, &block, last_time_ms)
        })
        .await;
        shared.stats.block_commit.observe(started.elapsed());
        match outcome {
            Ok(Ok(event)) => {
                last_time_ms = Some(time_ms);
                height.send_replace(event.number.saturating_add(1));
                // No subscribers is fine; lagging ones are told by the broadcast itself.
                let _ = shared.events.send(event);
            }
            Ok(Err(error @ ServiceError::Block(_))) => {
                warn!(%error, "block refused");
                PeerStats::add(&shared.stats.blocks_refused, 1);
                refusals.send_modify(|count| *count = count.saturating_add(1));
            }
            Ok(Err(error)) => {
                // The ledger failed (or a config committed but cannot be put in force):
                // what is stored can no longer be trusted to match what was validated.
                error!(%error, "committer failed; stopping");
                return Err(error);
            }
            Err(join_error) => {
                // A panic in validation or commit is a bug (an assertion); stop
                // committing rather than risk a divergent ledger.
                error!(%join_error, "committer stopped");
                return Err(ServiceError::CommitterStopped(format!(
                    "validation or commit panicked: {join_error}"
                )));
            }
        }
    }
    info!("block source closed; committer stopped");
    Ok(())
}

/// Validates and commits one block; returns its event.
fn validate_and_commit(
    shared: &Shared,
    validator: &Validator,
    block: &Block,
    last_time_ms: Option<u64>,
) -> Result<Arc<BlockEvent>, ServiceError> {
    let previous_ms = match last_time_ms {
        Some(time_ms) => time_ms,
        None => previous_block_time(&shared.ledger, block.header.number)?,
    };
    check_block_time(previous_ms, block, now_ms())?;
    let channel = shared.channel();
    let validated = {
        let view = LedgerView::new(&shared.ledger)?;
        validator.validate_block(&channel, &view, block)?
    };
    committer::commit(&shared.ledger, &validated)?;
    if let Some(config) = &validated.new_config {
        let number = validated.block.header.number;
        let channel = ChannelState::new(config.clone(), number)
            .map_err(|error| ServiceError::Config(error.to_string()))?;
        info!(
            number,
            sequence = config.sequence,
            "new channel config in force"
        );
        shared.set_channel(channel);
    }
    Ok(BlockEvent::from_validated(&validated))
}

/// The time of the block before `number` on the ledger (0 before block 0).
fn previous_block_time(ledger: &Ledger, number: u64) -> Result<u64, ServiceError> {
    let Some(previous) = number.checked_sub(1) else {
        return Ok(0);
    };
    let block = ledger.block(previous)?.ok_or_else(|| {
        ServiceError::Config(format!("block {previous} is missing from the ledger"))
    })?;
    Ok(block.header.timestamp.unix_time_ms)
}

/// The wall clock in milliseconds since the Unix epoch; the shell is the only place that
/// reads it.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl PeerHandle {
    /// Endorses a proposal against the latest committed state, at the wall clock.
    pub async fn endorse(&self, signed: SignedProposal) -> Result<ProposalResponse, EndorseError> {
        self.endorse_at(signed, now_ms()).await
    }

    /// Endorses a proposal with the clock at `now_ms` (for tests and replays).
    pub async fn endorse_at(
        &self,
        signed: SignedProposal,
        now_ms: u64,
    ) -> Result<ProposalResponse, EndorseError> {
        let started = Instant::now();
        let outcome = self.endorse_on_pool(signed, now_ms).await;
        let stats = &self.shared.stats;
        stats.endorse.observe(started.elapsed());
        let counter = match &outcome {
            Ok(_) => &stats.endorsements_ok,
            Err(_) => &stats.endorsements_failed,
        };
        PeerStats::add(counter, 1);
        outcome
    }

    async fn endorse_on_pool(
        &self,
        signed: SignedProposal,
        now_ms: u64,
    ) -> Result<ProposalResponse, EndorseError> {
        let permit = Arc::clone(&self.shared.endorse_permits)
            .try_acquire_owned()
            .map_err(|_| EndorseError::Unavailable("too many endorsements in flight"))?;
        let shared = Arc::clone(&self.shared);
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let channel = shared.channel();
            let view = LedgerView::new(&shared.ledger)?;
            shared
                .endorser
                .endorse(&channel.msps, &view, &signed, now_ms)
        });
        task.await
            .map_err(|_| EndorseError::Unavailable("the endorsement task failed"))?
    }

    /// What the peer counted since it started (commit and endorsement latency, gossip,
    /// state transfer); cheap to read.
    pub fn stats(&self) -> &PeerStats {
        &self.shared.stats
    }

    /// The endorsements this peer signed lately, which its validator does not verify
    /// again (their count of such skips is [`OwnEndorsements::hits`]).
    pub fn own_endorsements(&self) -> Arc<OwnEndorsements> {
        self.shared.endorser.own_endorsements()
    }

    /// Block events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<BlockEvent>> {
        self.shared.events.subscribe()
    }

    /// The committed height (blocks on the ledger).
    pub fn height(&self) -> u64 {
        *self.height.borrow()
    }

    /// The committed height as it changes (the notifier follows it).
    pub fn height_changes(&self) -> watch::Receiver<u64> {
        self.height.clone()
    }

    /// Waits until the committed height reaches `height`; `false` if the committer
    /// stopped first.
    pub async fn wait_for_height(&self, height: u64) -> bool {
        let mut watcher = self.height.clone();
        watcher.wait_for(|current| *current >= height).await.is_ok()
    }

    /// Watches the number of blocks the committer refused.
    pub fn refusals(&self) -> watch::Receiver<u64> {
        self.refusals.clone()
    }

    /// Committed blocks from `start` on, at most
    /// [`STATE_TRANSFER_BLOCKS_MAX`](crate::limits::STATE_TRANSFER_BLOCKS_MAX) of them and
    /// [`STATE_TRANSFER_BYTES_MAX`](crate::limits::STATE_TRANSFER_BYTES_MAX) encoded bytes
    /// (always at least one block when `start` is committed): what this peer serves to
    /// peers catching up (state transfer).
    pub fn blocks_from(&self, start: u64) -> Result<Vec<Block>, LedgerError> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let n_max = u64::try_from(STATE_TRANSFER_BLOCKS_MAX).unwrap_or(u64::MAX);
        let end = start.saturating_add(n_max);
        for number in start..end {
            let Some(encoded) = self.shared.ledger.block_bytes(number)? else {
                break;
            };
            bytes = bytes.saturating_add(encoded.len());
            if !out.is_empty() && bytes > STATE_TRANSFER_BYTES_MAX {
                break;
            }
            match netsettle_protocol::decode::<Block>(&encoded) {
                Ok(block) if block.header.number == number => out.push(block),
                _ => {
                    // `Ledger::verify` names the damage; serve the blocks before it.
                    warn!(
                        number,
                        "stored block unreadable; state transfer stops before it"
                    );
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Where the ledger stands: its height and the hash of its last block.
    pub fn tip(&self) -> Result<Tip, LedgerError> {
        let info = self.shared.ledger.chain_info()?;
        Ok(Tip {
            height: info.height,
            last_hash: info.current_hash.unwrap_or_default(),
        })
    }

    /// The channel configuration in force.
    pub fn channel(&self) -> Arc<ChannelState> {
        self.shared.channel()
    }

    /// The channel configuration in force as it changes: a new value whenever a config
    /// block commits (the node's network trust follows it).
    pub fn channel_changes(&self) -> watch::Receiver<Arc<ChannelState>> {
        self.shared.channel.subscribe()
    }

    /// The ledger (for queries).
    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.shared.ledger
    }

    /// Waits for the committer to finish: `Ok` once the block channel closed,
    /// [`ServiceError::CommitterStopped`] with the reason when it failed on its own (the
    /// ledger failed, a panic). A node supervises its peer role with this.
    pub async fn join(&self) -> Result<(), ServiceError> {
        let mut committer = self.committer.clone();
        let outcome = match committer.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone().unwrap_or(Ok(())),
            Err(_) => Err("the committer ended without reporting why".to_owned()),
        };
        outcome.map_err(ServiceError::CommitterStopped)
    }
}
