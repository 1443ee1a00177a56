//! The shell around [`OrdererCore`]: one thread owns the core (its storage ports fsync, so
//! it must not sit on a tokio worker), fed by one bounded input queue that merges ticks,
//! broadcasts, Raft messages and fetched blocks; it handles what is queued as one batch
//! (one Raft `Ready`, one fsync), then carries out the [`Actions`]: messages to the
//! [`Transport`], replies to callers, new heights and configs to watchers, block fetches
//! to a tokio task.
//!
//! [`OrdererHandle`] is what the node and the transport call: `broadcast` has the
//! envelope checked on the blocking pool, batched with those that arrive with it
//! (`checks`; SM2 verification runs in parallel, outside the core),
//! `deliver` streams blocks from the ledger, `raft_message` and `blocks` serve the other
//! consenters.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use netsettle_ledger::Ledger;
use netsettle_msp::ChannelState;
use netsettle_protocol::{
    Block, ChannelConfig, DeliverResponse, DeliverStatus, Envelope, OrdererStatus, SeekPosition,
    SignedDeliverRequest,
};
use protobuf::Message as _;
use raft::prelude::Message;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};

use crate::checks::CheckJob;
use crate::core::{
    Actions, BroadcastAck, CoreConfig, Event, OrdererCore, RequestId, Signer, bootstrap_snapshot,
    prepare_chain,
};
use crate::error::{BroadcastError, DeliverError, OrdererError, RaftRefusal};
use crate::limits::{
    CATCH_UP_RESPONSE_BYTES_MAX, DELIVER_QUEUE_MAX, DELIVER_STREAMS_MAX,
    ENVELOPE_CHECKS_CONCURRENT_MAX, INPUT_BATCH_MAX, INPUT_QUEUE_MAX, RAFT_WIRE_BYTES_MAX,
};
use crate::stats::OrdererStats;
use crate::storage::RaftStore;
use crate::validate::verify_deliver_request;

/// A future the transport returns for a block fetch.
pub type FetchFuture = Pin<Box<dyn Future<Output = Result<Vec<Block>, String>> + Send>>;

/// How consenters reach each other. The node implements it over `netsettle-net`
/// (request–response services); tests route in memory.
pub trait Transport: Send + Sync + 'static {
    /// Sends one encoded Raft message to consenter `to`. Best effort, must not block:
    /// Raft retransmits what is lost. Called on the core thread, inside the runtime's
    /// context (so it may `tokio::spawn`).
    fn send_raft(&self, to: u64, message: Vec<u8>);
    /// Asks consenter `from` for blocks `[start, end)` (it may return fewer); its handle's
    /// [`OrdererHandle::blocks`] answers.
    fn fetch_blocks(&self, from: u64, start: u64, end: u64) -> FetchFuture;
    /// A config block put `config` in force; a consenter may have been added or removed.
    /// Called on the core thread; must not block. The default keeps the consenters the
    /// transport was made with.
    fn consenters_changed(&self, config: &ChannelConfig) {
        let _ = config;
    }
}

/// What an orderer needs to start.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Raft id and tuning.
    pub core: CoreConfig,
    /// Signing key and identity.
    pub signer: Signer,
    /// The channel's genesis block.
    pub genesis: Block,
    /// The orderer's data directory: `ledger/` (blocks, `netsettle-ledger`) and `raft/`
    /// (the Raft log).
    pub data_dir: PathBuf,
}

enum Input {
    Tick,
    Broadcast {
        envelope: Box<crate::validate::VerifiedEnvelope>,
        reply: oneshot::Sender<Result<BroadcastAck, BroadcastError>>,
    },
    Raft(Box<Message>),
    Blocks(Vec<Block>),
    TransferLeader(u64),
    Stop,
}

/// The running ordering service. Cheap to clone; every clone talks to the same core.
#[derive(Clone)]
pub struct OrdererHandle {
    inputs: mpsc::Sender<Input>,
    channel: watch::Receiver<Arc<ChannelState>>,
    height: watch::Receiver<u64>,
    leader: watch::Receiver<u64>,
    status: watch::Receiver<OrdererStatus>,
    ledger: Arc<Ledger>,
    deliver_streams: Arc<Semaphore>,
    thread: Arc<std::sync::Mutex<Option<std::thread::JoinHandle<()>>>>,
    /// `CoreConfig::envelope_time_skew_secs`.
    envelope_time_skew_secs: u64,
    /// Envelope checks queued or running on the blocking pool; beyond it broadcasts are
    /// `Busy`.
    checks: Arc<Semaphore>,
    /// Where envelopes wait for their checks, which run in batches (`checks`).
    check_jobs: mpsc::Sender<CheckJob>,
    /// How the core thread ended (`None` while it runs): `Err` names why it failed.
    stopped: watch::Receiver<Option<Result<(), String>>>,
    /// Counters for the node's metrics.
    stats: Arc<OrdererStats>,
}

impl std::fmt::Debug for OrdererHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrdererHandle")
            .field("height", &*self.height.borrow())
            .field("leader", &*self.leader.borrow())
            .finish_non_exhaustive()
    }
}

/// Unix seconds now (the shell's clock; the core never reads one).
pub(crate) fn now_unix() -> i64 {
    i64::try_from(now_unix_ms() / 1000).unwrap_or(i64::MAX)
}

/// Unix milliseconds now.
fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Refuses an envelope whose timestamp is more than `skew_secs_max` from `now_unix_ms`,
/// either way (a pure check; the shell passes its clock).
pub fn check_envelope_time(
    envelope: &Envelope,
    now_unix_ms: u64,
    skew_secs_max: u64,
) -> Result<(), BroadcastError> {
    let timestamp_unix_ms = envelope.header().timestamp.unix_time_ms;
    let skew_ms_max = skew_secs_max.saturating_mul(1000);
    if timestamp_unix_ms.abs_diff(now_unix_ms) > skew_ms_max {
        return Err(BroadcastError::TimestampOutOfRange {
            timestamp_unix_ms,
            now_unix_ms,
            skew_secs_max,
        });
    }
    Ok(())
}

/// The ordering service's entry point.
#[derive(Debug)]
pub struct OrdererService;

impl OrdererService {
    /// Starts an orderer: opens (or creates) its ledger and Raft log under `data_dir`,
    /// starts the core thread and the tick timer. Must be called inside a tokio runtime.
    pub fn spawn(
        config: ServiceConfig,
        transport: Arc<dyn Transport>,
    ) -> Result<OrdererHandle, OrdererError> {
        spawn(config, transport)
    }
}

fn spawn(
    config: ServiceConfig,
    transport: Arc<dyn Transport>,
) -> Result<OrdererHandle, OrdererError> {
    let ledger_dir = config.data_dir.join("ledger");
    let raft_dir = config.data_dir.join("raft");
    for dir in [&ledger_dir, &raft_dir] {
        std::fs::create_dir_all(dir)
            .map_err(|e| OrdererError::Config(format!("creating {}: {e}", dir.display())))?;
    }
    let ledger = Arc::new(Ledger::open(&ledger_dir)?);
    prepare_chain(&ledger, &config.genesis)?;
    let store = RaftStore::open(&raft_dir, bootstrap_snapshot(&config.genesis)?)?;
    let tick = Duration::from_millis(config.core.tick_ms.max(1));
    let envelope_time_skew_secs = config.core.envelope_time_skew_secs;
    let core = OrdererCore::new(config.core, config.signer, store, Arc::clone(&ledger))?;
    // The latest snapshot may hold a later consenter set than the transport was made with.
    transport.consenters_changed(&core.channel().config);

    let (inputs, receiver) = mpsc::channel(INPUT_QUEUE_MAX);
    let (channel_tx, channel) = watch::channel(Arc::clone(core.channel()));
    // What deliver may read: the stored chain, which after a restart is ahead of the
    // state being replayed.
    let stored_height = ledger.chain_info()?.height;
    let (height_tx, height) = watch::channel(stored_height.max(core.tip().height));
    let (leader_tx, leader) = watch::channel(core.leader_id());
    let (status_tx, status) = watch::channel(status_of(&core, *height.borrow()));
    let stats = Arc::new(OrdererStats::default());
    let shell = Shell {
        core,
        transport,
        inputs: inputs.clone(),
        runtime: tokio::runtime::Handle::current(),
        waiting: HashMap::new(),
        next_request: 1,
        channel: channel_tx,
        height: height_tx,
        leader: leader_tx,
        status: status_tx,
        stats: Arc::clone(&stats),
    };
    let (stopped_tx, stopped) = watch::channel(None);
    let thread = std::thread::Builder::new()
        .name("orderer-core".to_owned())
        .spawn(move || {
            // A panic (a failed assertion) ends the core like a storage error does: the
            // node learns why through `stopped` instead of keeping a dead orderer.
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| shell.run(receiver)));
            let outcome = match outcome {
                Ok(Ok(())) => Ok(()),
                Ok(Err(error)) => Err(error.to_string()),
                Err(panic) => Err(panic_message(panic.as_ref())),
            };
            stopped_tx.send_replace(Some(outcome));
        })
        .map_err(|e| OrdererError::Config(format!("starting the core thread: {e}")))?;

    let ticker = inputs.clone();
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            match ticker.try_send(Input::Tick) {
                Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
                Err(mpsc::error::TrySendError::Closed(_)) => break,
            }
        }
    });
    Ok(OrdererHandle {
        inputs,
        channel,
        height,
        leader,
        status,
        ledger,
        deliver_streams: Arc::new(Semaphore::new(DELIVER_STREAMS_MAX)),
        thread: Arc::new(std::sync::Mutex::new(Some(thread))),
        envelope_time_skew_secs,
        checks: Arc::new(Semaphore::new(ENVELOPE_CHECKS_CONCURRENT_MAX)),
        check_jobs: crate::checks::start(Arc::clone(&stats)),
        stopped,
        stats,
    })
}

/// The message a panic carried, for the error that reports it.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let message = panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned());
    format!("the orderer core panicked: {message}")
}

struct Shell {
    core: OrdererCore<Arc<Ledger>>,
    transport: Arc<dyn Transport>,
    inputs: mpsc::Sender<Input>,
    runtime: tokio::runtime::Handle,
    waiting: HashMap<RequestId, oneshot::Sender<Result<BroadcastAck, BroadcastError>>>,
    next_request: RequestId,
    channel: watch::Sender<Arc<ChannelState>>,
    height: watch::Sender<u64>,
    leader: watch::Sender<u64>,
    status: watch::Sender<OrdererStatus>,
    /// Counters for the node's metrics.
    stats: Arc<OrdererStats>,
}

/// The core's state for operators; `height` is the stored chain's.
fn status_of(core: &OrdererCore<Arc<Ledger>>, height: u64) -> OrdererStatus {
    let conf_state = core.conf_state();
    let mut consenters: Vec<u64> = core
        .channel()
        .config
        .orderer
        .consenters
        .iter()
        .map(|consenter| consenter.id)
        .collect();
    consenters.sort_unstable();
    let sorted = |mut ids: Vec<u64>| {
        ids.sort_unstable();
        ids
    };
    OrdererStatus {
        consenter_id: core.id(),
        leader_id: core.leader_id(),
        term: core.term(),
        height,
        applied_index: core.applied_index(),
        snapshot_index: core.store().snapshot_index(),
        voters: sorted(conf_state.voters),
        learners: sorted(conf_state.learners),
        consenters,
        config_sequence: core.channel().config.sequence,
        catching_up: core.is_catching_up(),
        pending_envelopes: u64::try_from(core.pending()).unwrap_or(u64::MAX),
    }
}

impl Shell {
    /// Runs the core until `Stop` or the input queue closes (`Ok`), or until storage
    /// fails (`Err`: nothing after it can be trusted to be durable).
    fn run(mut self, mut receiver: mpsc::Receiver<Input>) -> Result<(), OrdererError> {
        // The transport may spawn tasks from `send_raft`: give it the runtime.
        let runtime = self.runtime.clone();
        let _context = runtime.enter();
        while let Some(first) = receiver.blocking_recv() {
            let mut batch = vec![first];
            while batch.len() < INPUT_BATCH_MAX {
                match receiver.try_recv() {
                    Ok(input) => batch.push(input),
                    Err(_) => break,
                }
            }
            let mut events = Vec::with_capacity(batch.len());
            let mut stop = false;
            for input in batch {
                match input {
                    Input::Tick => {
                        events.push(Event::WallClock(now_unix_ms()));
                        events.push(Event::Tick);
                    }
                    Input::Broadcast { envelope, reply } => {
                        let request = self.next_request;
                        self.next_request = self.next_request.wrapping_add(1);
                        self.waiting.insert(request, reply);
                        events.push(Event::Envelope { request, envelope });
                    }
                    Input::Raft(message) => events.push(Event::Raft(message)),
                    Input::Blocks(blocks) => events.push(Event::Blocks(blocks)),
                    Input::TransferLeader(id) => events.push(Event::TransferLeader(id)),
                    Input::Stop => stop = true,
                }
            }
            match self.core.on_batch(events) {
                Ok(actions) => self.execute(actions),
                Err(error) => {
                    // Storage failed: nothing after this can be trusted to be durable.
                    tracing::error!(%error, "orderer core failed; stopping");
                    return Err(error);
                }
            }
            if stop {
                break;
            }
        }
        tracing::info!(id = self.core.id(), "orderer core stopped");
        Ok(())
    }

    fn execute(&mut self, actions: Actions) {
        for message in actions.messages {
            match message.write_to_bytes() {
                Ok(bytes) => self.transport.send_raft(message.to, bytes),
                Err(error) => tracing::error!(%error, "raft message does not encode"),
            }
        }
        for (request, reply) in actions.replies {
            self.stats.count_reply(&reply);
            if let Some(sender) = self.waiting.remove(&request) {
                // The caller may have gone away; nothing to do then.
                let _ = sender.send(reply);
            }
        }
        if let Some(height) = actions.height
            && height > *self.height.borrow()
        {
            self.height.send_replace(height);
        }
        if let Some(channel) = actions.channel {
            self.transport.consenters_changed(&channel.config);
            self.channel.send_replace(channel);
        }
        let leader = self.core.leader_id();
        if *self.leader.borrow() != leader {
            self.leader.send_replace(leader);
        }
        self.stats.commit_index.store(
            self.core.commit_index(),
            std::sync::atomic::Ordering::Relaxed,
        );
        let status = status_of(&self.core, *self.height.borrow());
        self.status.send_if_modified(|current| {
            let changed = *current != status;
            *current = status;
            changed
        });
        if let Some(fetch) = actions.fetch {
            let transport = Arc::clone(&self.transport);
            let inputs = self.inputs.clone();
            self.runtime.spawn(async move {
                match transport
                    .fetch_blocks(fetch.from, fetch.start, fetch.end)
                    .await
                {
                    Ok(blocks) => {
                        let _ = inputs.try_send(Input::Blocks(blocks));
                    }
                    Err(error) => tracing::debug!(from = fetch.from, %error, "block fetch failed"),
                }
            });
        }
    }
}

/// One Raft message from its bytes, within the wire limit.
fn parse_raft_message(bytes: &[u8]) -> Result<Message, RaftRefusal> {
    if bytes.len() > RAFT_WIRE_BYTES_MAX {
        return Err(RaftRefusal::Malformed(format!(
            "{} bytes, over the {RAFT_WIRE_BYTES_MAX}-byte limit",
            bytes.len()
        )));
    }
    Message::parse_from_bytes(bytes).map_err(|error| RaftRefusal::Malformed(error.to_string()))
}

impl OrdererHandle {
    /// Submits an envelope. Returns once it is committed in the Raft log (it will be in
    /// the next block), or with the reason it was refused.
    ///
    /// The envelope's timestamp must be within `CoreConfig::envelope_time_skew_secs` of
    /// this orderer's clock. The checks (re-encoding, certificates, SM2) run on tokio's
    /// blocking pool, at most `ENVELOPE_CHECKS_CONCURRENT_MAX` queued or running at once
    /// (beyond: `Busy`), so a flood of broadcasts cannot starve the async workers that run
    /// the network and the Raft ticks; those that arrive together are checked in one
    /// blocking task (`checks`).
    pub async fn broadcast(&self, envelope: Envelope) -> Result<BroadcastAck, BroadcastError> {
        self.broadcast_sized(envelope, None).await
    }

    /// [`Self::broadcast`] of an envelope decoded from `encoded_bytes` bytes off the
    /// network (`net`), so its checks need not encode it again to know its size.
    pub(crate) async fn broadcast_decoded(
        &self,
        envelope: Envelope,
        encoded_bytes: usize,
    ) -> Result<BroadcastAck, BroadcastError> {
        self.broadcast_sized(envelope, Some(encoded_bytes)).await
    }

    async fn broadcast_sized(
        &self,
        envelope: Envelope,
        encoded_bytes: Option<usize>,
    ) -> Result<BroadcastAck, BroadcastError> {
        check_envelope_time(&envelope, now_unix_ms(), self.envelope_time_skew_secs).inspect_err(
            |error| tracing::info!(tx_id = %envelope.tx_id(), %error, "broadcast refused"),
        )?;
        let permit = Arc::clone(&self.checks)
            .try_acquire_owned()
            .map_err(|_| BroadcastError::Busy)?;
        let state = Arc::clone(&self.channel.borrow());
        let (checked, verified) = oneshot::channel();
        self.check_jobs
            .try_send(CheckJob {
                state,
                envelope,
                encoded_bytes,
                permit,
                reply: checked,
            })
            .map_err(|error| match error {
                // Cannot happen: every queued job holds one of as many permits.
                mpsc::error::TrySendError::Full(_) => BroadcastError::Busy,
                mpsc::error::TrySendError::Closed(_) => BroadcastError::Stopped,
            })?;
        let verified = verified.await.map_err(|_| BroadcastError::Stopped)??;
        let (reply, answer) = oneshot::channel();
        self.inputs
            .try_send(Input::Broadcast {
                envelope: Box::new(verified),
                reply,
            })
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => BroadcastError::Busy,
                mpsc::error::TrySendError::Closed(_) => BroadcastError::Stopped,
            })?;
        answer.await.map_err(|_| BroadcastError::Stopped)?
    }

    /// Hands over a Raft message another consenter sent (its bytes as the transport
    /// received them), trusting the transport that the message's `from` is its sender
    /// (the in-memory transports of tests). Dropped when it does not decode or the queue
    /// is full. A network transport calls [`Self::raft_message_from`].
    pub fn raft_message(&self, bytes: &[u8]) {
        let message = match parse_raft_message(bytes) {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(%error, "raft message dropped");
                return;
            }
        };
        let _ = self.inputs.try_send(Input::Raft(Box::new(message)));
    }

    /// Decodes and checks the Raft messages consenter `sender` sent (the transport
    /// authenticated it as that consenter of the configuration in force) and hands them
    /// to the core: every message must claim `sender` as its `from`, and a snapshot must
    /// decode and fit this orderer's chain ([`crate::snapshot::check_snapshot`]). One bad
    /// message refuses the whole request, and nothing of it is stepped. CPU-bound
    /// (protobuf decoding): call it off the async workers.
    pub fn raft_messages_from(&self, sender: u64, messages: &[&[u8]]) -> Result<(), RaftRefusal> {
        let mut parsed = Vec::with_capacity(messages.len());
        for bytes in messages {
            let message = parse_raft_message(bytes)?;
            if message.from != sender {
                return Err(RaftRefusal::ForgedSender {
                    sender,
                    claimed: message.from,
                });
            }
            if message.get_msg_type() == raft::prelude::MessageType::MsgSnapshot {
                let channel = Arc::clone(&self.channel.borrow());
                crate::snapshot::check_snapshot(message.get_snapshot(), &channel, &self.ledger)
                    .map_err(RaftRefusal::BadSnapshot)?;
            }
            parsed.push(message);
        }
        for message in parsed {
            self.inputs
                .try_send(Input::Raft(Box::new(message)))
                .map_err(|_| RaftRefusal::Busy)?;
        }
        Ok(())
    }

    /// Blocks `[start, end)` from this orderer's ledger for a catching-up consenter: as
    /// many as exist, at most `CATCH_UP_BLOCKS_MAX` and about one full block of bytes.
    pub fn blocks(&self, start: u64, end: u64) -> Result<Vec<Block>, OrdererError> {
        let end = end.min(start.saturating_add(crate::limits::CATCH_UP_BLOCKS_MAX));
        let mut blocks = Vec::new();
        let mut bytes = 0usize;
        for number in start..end {
            let Some(encoded) = self.ledger.block_bytes(number)? else {
                break;
            };
            bytes = bytes.saturating_add(encoded.len());
            if !blocks.is_empty() && bytes > CATCH_UP_RESPONSE_BYTES_MAX {
                break;
            }
            let block = netsettle_protocol::decode(&encoded)
                .map_err(|e| OrdererError::Block(e.to_string()))?;
            blocks.push(block);
        }
        Ok(blocks)
    }

    /// Checks a signed delivery request (Readers policy) and streams the blocks it asks
    /// for, then new ones as they are cut until `stop` (or forever). The stream ends with
    /// a status; dropping the receiver ends it early.
    pub fn deliver(
        &self,
        request: SignedDeliverRequest,
    ) -> Result<mpsc::Receiver<DeliverResponse>, DeliverError> {
        let state = Arc::clone(&self.channel.borrow());
        verify_deliver_request(&state, &request, now_unix())?;
        let permit = Arc::clone(&self.deliver_streams)
            .try_acquire_owned()
            .map_err(|_| DeliverError::Unavailable("too many delivery streams".to_owned()))?;
        let height = *self.height.borrow();
        let newest = height.saturating_sub(1);
        let position = |seek: SeekPosition| match seek {
            SeekPosition::Oldest => 0,
            SeekPosition::Newest => newest,
            SeekPosition::Specified(number) => number,
        };
        let start = position(request.request.start);
        let stop = request.request.stop.map(position);
        if stop.is_some_and(|stop| stop < start) {
            return Err(DeliverError::BadRequest("stop before start".to_owned()));
        }
        let (sender, receiver) = mpsc::channel(DELIVER_QUEUE_MAX);
        let ledger = Arc::clone(&self.ledger);
        let mut heights = self.height.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let status = stream_blocks(&ledger, &sender, &mut heights, start, stop).await;
            let _ = sender.send(DeliverResponse::Status(status)).await;
        });
        Ok(receiver)
    }

    /// Asks this orderer, if it leads, to hand leadership to consenter `id` (before a
    /// planned restart, say). Takes effect once `id` has caught up; watch [`Self::leader`].
    pub fn transfer_leader(&self, id: u64) -> Result<(), BroadcastError> {
        self.inputs
            .try_send(Input::TransferLeader(id))
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => BroadcastError::Busy,
                mpsc::error::TrySendError::Closed(_) => BroadcastError::Stopped,
            })
    }

    /// The chain height, updated as blocks are written.
    pub fn height(&self) -> watch::Receiver<u64> {
        self.height.clone()
    }

    /// The Raft leader's id as this orderer knows it (0: none).
    pub fn leader(&self) -> watch::Receiver<u64> {
        self.leader.clone()
    }

    /// The orderer's Raft and chain state, updated after every batch the core handles.
    pub fn status(&self) -> watch::Receiver<OrdererStatus> {
        self.status.clone()
    }

    /// The channel configuration in force.
    pub fn channel(&self) -> Arc<ChannelState> {
        Arc::clone(&self.channel.borrow())
    }

    /// The channel configuration in force as it changes: a new value whenever a config
    /// block is applied (the node's network trust follows it).
    pub fn channel_changes(&self) -> watch::Receiver<Arc<ChannelState>> {
        self.channel.clone()
    }

    /// What the orderer counted since it started (commit index, broadcast outcomes);
    /// cheap to read.
    pub fn stats(&self) -> &OrdererStats {
        &self.stats
    }

    /// The ledger (read it; only the core writes).
    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    /// Waits until the core thread ends: `Ok` once [`shutdown`](Self::shutdown) stopped
    /// it, [`OrdererError::CoreStopped`] with the reason when it failed on its own (a
    /// storage error, a panic). A node supervises its orderer role with this.
    pub async fn stopped(&self) -> Result<(), OrdererError> {
        let mut stopped = self.stopped.clone();
        let outcome = match stopped.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone().unwrap_or(Ok(())),
            Err(_) => Err("the core thread ended without reporting why".to_owned()),
        };
        outcome.map_err(OrdererError::CoreStopped)
    }

    /// Stops the core thread and waits for it; pending broadcasts get `Stopped`.
    pub async fn shutdown(&self) {
        let _ = self.inputs.send(Input::Stop).await;
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

async fn stream_blocks(
    ledger: &Ledger,
    sender: &mpsc::Sender<DeliverResponse>,
    heights: &mut watch::Receiver<u64>,
    start: u64,
    stop: Option<u64>,
) -> DeliverStatus {
    let mut next = start;
    loop {
        if stop.is_some_and(|stop| next > stop) {
            return DeliverStatus::Success;
        }
        if next >= *heights.borrow_and_update() {
            if heights.changed().await.is_err() {
                return DeliverStatus::ServiceUnavailable;
            }
            continue;
        }
        let block = match ledger.block(next) {
            Ok(Some(block)) => block,
            Ok(None) => return DeliverStatus::NotFound,
            Err(error) => {
                tracing::error!(%error, number = next, "deliver could not read a block");
                return DeliverStatus::ServiceUnavailable;
            }
        };
        if sender.send(DeliverResponse::Block(block)).await.is_err() {
            return DeliverStatus::Success;
        }
        next = next.saturating_add(1);
    }
}
