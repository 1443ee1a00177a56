//! The deterministic ordering core: one Raft group (raft-rs `RawNode`) and the block
//! state machine fed by its committed log.
//!
//! [`OrdererCore::on`] takes one [`Event`] (a logical tick, a checked envelope, a Raft
//! message, blocks fetched for catch-up) and returns the [`Actions`] the shell must carry
//! out: Raft messages to send, broadcast replies, the new chain height. Inside, it follows
//! raft-rs's `Ready` contract in order: persist the snapshot, entries and hard state (one
//! synced batch in the [`RaftStore`]), then apply committed entries (cutting and appending
//! blocks to the [`Chain`]), then advance. Messages leave only after `on` returns, so
//! every message, including the ones raft-rs allows to go before the fsync, is sent after
//! the state it depends on is durable. The core reads no clock and opens no socket; the
//! two storage ports are traits, in memory in the cluster tests.
//!
//! # Why the log decides blocks
//!
//! Each envelope is its own Raft entry, and every orderer cuts blocks from the committed
//! log with the same pure rules ([`crate::cutter`]); only the batch timeout needs a clock,
//! and the leader turns it into a [`LogEntry::Cut`] entry. So every orderer builds the
//! same headers (hence the same block hashes) without trusting another's block, a
//! broadcast is acknowledged as soon as its entry is applied (committed on a majority and
//! so certain to be in a block), and duplicate transaction ids are dropped at apply time,
//! identically everywhere, which makes "every acknowledged transaction exactly once" hold
//! across leader changes and client retries. The alternative, a leader proposing whole
//! blocks, acknowledges later (after the cut) and loses the pending batch on a leader
//! change.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use netsettle_msp::ChannelState;
use netsettle_protocol::limits::{ENVELOPE_TIME_SKEW_SECS_MAX, NONCE_BYTES};
use netsettle_protocol::{
    Block, ConfigEnvelope, Envelope, Header, Identity, Nonce, Payload, Timestamp, TxId, decode,
    encode,
};
use netsettle_smcrypto::{Hash, PrivateKey, sm3};
use protobuf::Message as _;
use raft::prelude::{
    ConfChange, ConfChangeType, ConfState, Entry, EntryType, Message, MessageType, Snapshot,
};
use raft::{RawNode, StateRole};

use crate::catch_up::verify_batch;
use crate::chain::{Chain, ChainTip};
use crate::cutter::{BlockCutter, Sized, cut_due, timeout_ticks};
use crate::entry::{LogEntry, SnapshotState};
use crate::error::{BroadcastError, OrdererError};
use crate::limits::{
    CATCH_UP_BLOCKS_MAX, CATCH_UP_RETRY_TICKS, CLOCK_ENTRY_BYTES_MAX, CLOCK_STAMP_INTERVAL_MS,
    LOG_KEPT_BEHIND_SNAPSHOT_ENTRIES, PROPOSAL_BYTES_MAX, PROPOSAL_ENVELOPES_MAX,
    RAFT_COMMITTED_BYTES_PER_READY_MAX, RAFT_INFLIGHT_MESSAGES_MAX, RAFT_MESSAGE_BYTES_MAX,
    RAFT_UNCOMMITTED_BYTES_MAX, WAITERS_PER_TRANSACTION_MAX, WAITING_ACKS_MAX,
};
use crate::membership::{ConsenterChange, check_consenter_change, consenter_ids, next_conf_change};
use crate::snapshot::check_snapshot;
use crate::storage::{RaftStore, bootstrap_conf_state};
use crate::validate::{VerifiedEnvelope, VerifiedKind};

/// Names a broadcast so its reply can find the caller.
pub type RequestId = u64;

/// Tuning of one orderer's Raft node, in logical ticks.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// This orderer's Raft id (its consenter id in the channel config).
    pub id: u64,
    /// Milliseconds per tick, to turn the batch timeout into ticks.
    pub tick_ms: u64,
    /// Ticks without a heartbeat before a follower campaigns.
    pub election_ticks: usize,
    /// Ticks between leader heartbeats.
    pub heartbeat_ticks: usize,
    /// Applied entries between snapshots (and log compactions).
    pub snapshot_interval_entries: u64,
    /// Ticks a broadcast waits for its entry to be applied.
    pub broadcast_wait_ticks: u64,
    /// How far a broadcast envelope's timestamp may be from this orderer's clock, in
    /// seconds. The default is `protocol::limits::ENVELOPE_TIME_SKEW_SECS_MAX`, the
    /// bound contracts rely on; a node may lower it, only tests whose envelopes carry a
    /// fixed time raise it.
    pub envelope_time_skew_secs: u64,
}

impl CoreConfig {
    /// The defaults: 100 ms ticks, elections after 1–2 s, heartbeats every 200 ms.
    pub fn new(id: u64) -> Self {
        CoreConfig {
            id,
            tick_ms: 100,
            election_ticks: 10,
            heartbeat_ticks: 2,
            snapshot_interval_entries: crate::limits::SNAPSHOT_INTERVAL_ENTRIES_DEFAULT,
            broadcast_wait_ticks: crate::limits::BROADCAST_WAIT_TICKS_DEFAULT,
            envelope_time_skew_secs: netsettle_protocol::limits::ENVELOPE_TIME_SKEW_SECS_MAX,
        }
    }
}

/// The orderer's signing identity: blocks it writes carry its signature, config envelopes
/// it produces are signed by it.
#[derive(Debug, Clone)]
pub struct Signer {
    /// The SM2 key.
    pub key: PrivateKey,
    /// The certificate it belongs to (role orderer).
    pub identity: Identity,
}

/// Everything that can happen to the core.
#[derive(Debug)]
pub enum Event {
    /// One logical tick of the Raft and batch clocks.
    Tick,
    /// A checked envelope to order; the reply carries `request`.
    Envelope {
        /// Names the caller.
        request: RequestId,
        /// The envelope.
        envelope: Box<VerifiedEnvelope>,
    },
    /// A Raft message from another consenter.
    Raft(Box<Message>),
    /// Blocks another orderer sent for catch-up.
    Blocks(Vec<Block>),
    /// A consenter could not be reached (the transport gave up on a message).
    Unreachable(u64),
    /// Hand leadership to another consenter.
    TransferLeader(u64),
    /// The shell's wall clock now, unix milliseconds (sent with every tick): what the
    /// leader enters in the log as the orderers' time ([`LogEntry::Clock`]).
    WallClock(u64),
}

/// An accepted broadcast: its transaction is committed in the Raft log and will be in the
/// next block cut (or already is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BroadcastAck {
    /// The id of the entry that landed: the envelope's own id, or for a config update the
    /// id of the config envelope the orderer made from it.
    pub tx_id: TxId,
    /// Its Raft log index.
    pub log_index: u64,
}

/// A request to fetch blocks `[start, end)` from consenter `from`, for catch-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchBlocks {
    /// Which consenter to ask.
    pub from: u64,
    /// First block wanted.
    pub start: u64,
    /// One past the last block wanted.
    pub end: u64,
}

/// What the shell must do after an event, in this order.
#[derive(Debug, Default)]
pub struct Actions {
    /// Raft messages to send (`to` names the consenter).
    pub messages: Vec<Message>,
    /// Replies to broadcasts.
    pub replies: Vec<(RequestId, Result<BroadcastAck, BroadcastError>)>,
    /// The chain's new height, when blocks were appended.
    pub height: Option<u64>,
    /// The channel state now in force, when a config block was cut.
    pub channel: Option<Arc<ChannelState>>,
    /// Blocks to fetch for catch-up.
    pub fetch: Option<FetchBlocks>,
}

#[derive(Debug, Clone)]
struct Waiting {
    /// The broadcast that proposed it, then retries of it that arrived meanwhile (at
    /// most `WAITERS_PER_TRANSACTION_MAX`); all get the same answer.
    requests: Vec<RequestId>,
    deadline_tick: u64,
}

#[derive(Debug, Clone)]
struct CatchUp {
    target: ChainTip,
    requested_at_tick: u64,
    attempt: usize,
    /// The configuration in force after the stored chain: fetched blocks must carry a
    /// signature of one of its consenters.
    channel: Arc<ChannelState>,
}

/// The bootstrap snapshot of a new cluster: the genesis block's chain position and
/// configuration at log index 0, every consenter a voter.
pub fn bootstrap_snapshot(genesis: &Block) -> Result<Snapshot, OrdererError> {
    let config = genesis
        .config()
        .cloned()
        .ok_or_else(|| OrdererError::Config("the genesis block holds no config".to_owned()))?;
    let state = SnapshotState {
        height: genesis.header.number.saturating_add(1),
        last_hash: genesis.hash(),
        last_config_index: genesis.header.number,
        config: config.clone(),
        pending: Vec::new(),
        clock_unix_ms: genesis.header.timestamp.unix_time_ms,
    };
    let mut snapshot = Snapshot::default();
    snapshot.set_data(
        encode(&state)
            .map_err(|e| OrdererError::Config(e.to_string()))?
            .into(),
    );
    snapshot.mut_metadata().set_conf_state(bootstrap_conf_state(
        config
            .orderer
            .consenters
            .iter()
            .map(|consenter| consenter.id),
    ));
    Ok(snapshot)
}

/// Writes `genesis` into an empty chain, or checks that the chain starts with it.
pub fn prepare_chain(chain: &impl Chain, genesis: &Block) -> Result<(), OrdererError> {
    match chain.block(0)? {
        Some(first) if first.hash() == genesis.hash() => Ok(()),
        Some(first) => Err(OrdererError::Config(format!(
            "ledger starts with block {}, not the genesis block {}",
            first.hash(),
            genesis.hash()
        ))),
        None => Ok(chain.append(genesis)?),
    }
}

/// An envelope of the open batch with what was derived from it once, when it was
/// applied: its transaction id and its hash (`Envelope::hash`, the block's Merkle leaf).
#[derive(Debug, Clone)]
struct Ordered {
    tx_id: TxId,
    envelope: Envelope,
    hash: Hash,
}

/// One orderer's Raft node and block state machine.
pub struct OrdererCore<C: Chain> {
    config: CoreConfig,
    signer: Signer,
    node: RawNode<RaftStore>,
    chain: C,
    channel: Arc<ChannelState>,
    /// The chain as the applied log has built it (the stored chain may be ahead after a
    /// restart, or behind while catching up).
    tip: ChainTip,
    /// The open batch, each envelope with its transaction id and hash (each derived
    /// once, on apply).
    cutter: BlockCutter<Ordered>,
    pending_ids: HashSet<TxId>,
    waiting: HashMap<TxId, Waiting>,
    applied_index: u64,
    now_tick: u64,
    batch_opened_tick: Option<u64>,
    cut_proposed_tick: Option<u64>,
    leaderless_since_tick: Option<u64>,
    catch_up: Option<CatchUp>,
    /// Committed entries held back while catching up.
    held_entries: Vec<Entry>,
    /// A membership change was applied since the latest snapshot: take one, so a new
    /// consenter can be sent a snapshot that names it.
    snapshot_for_conf_change: bool,
    /// The orderers' time as the applied log says (the latest `Clock` entry, never
    /// decreasing): the next block's time.
    clock_unix_ms: u64,
    /// The shell's wall clock as last told (0: never told, so never stamped).
    wall_clock_unix_ms: u64,
    /// The wall clock this node last entered in the log as leader, and in which term.
    stamped: Option<(u64, u64)>,
    /// Checked transactions of the batch being handled, proposed together at its end (a
    /// few Raft entries of many envelopes rather than one entry each).
    proposing: Vec<(TxId, Envelope, u64)>,
}

impl<C: Chain> std::fmt::Debug for OrdererCore<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrdererCore")
            .field("id", &self.config.id)
            .field("tip", &self.tip)
            .field("applied_index", &self.applied_index)
            .finish_non_exhaustive()
    }
}

impl<C: Chain> OrdererCore<C> {
    /// Starts the core from the store's latest snapshot (the bootstrap snapshot on a first
    /// start); raft-rs then hands back every committed entry after it, and blocks that are
    /// already stored are checked, not written again.
    pub fn new(
        config: CoreConfig,
        signer: Signer,
        store: RaftStore,
        chain: C,
    ) -> Result<Self, OrdererError> {
        let snapshot = store.latest_snapshot().clone();
        let state: SnapshotState = decode(snapshot.get_data())
            .map_err(|e| OrdererError::Config(format!("raft snapshot does not decode: {e}")))?;
        if !consenter_ids(&state.config).contains(&config.id) {
            // A consenter added by a later config block starts from the genesis block,
            // like a wiped one: it votes once the log has taken it in.
            tracing::info!(
                id = config.id,
                "not a consenter of the starting configuration; waiting to be added"
            );
        }
        let raft_config = raft::Config {
            id: config.id,
            election_tick: config.election_ticks,
            heartbeat_tick: config.heartbeat_ticks,
            applied: snapshot.get_metadata().index,
            max_size_per_msg: RAFT_MESSAGE_BYTES_MAX,
            max_inflight_msgs: RAFT_INFLIGHT_MESSAGES_MAX,
            check_quorum: true,
            pre_vote: true,
            max_uncommitted_size: RAFT_UNCOMMITTED_BYTES_MAX,
            max_committed_size_per_ready: RAFT_COMMITTED_BYTES_PER_READY_MAX,
            ..raft::Config::default()
        };
        raft_config.validate()?;
        let logger = slog::Logger::root(TracingDrain { id: config.id }, slog::o!());
        let node = RawNode::new(&raft_config, store, &logger)?;
        let mut core = OrdererCore {
            config,
            signer,
            node,
            chain,
            channel: Arc::new(ChannelState::new(state.config.clone(), 0)?),
            tip: ChainTip {
                height: 0,
                last_hash: state.last_hash,
            },
            cutter: BlockCutter::default(),
            pending_ids: HashSet::new(),
            waiting: HashMap::new(),
            applied_index: 0,
            now_tick: 0,
            batch_opened_tick: None,
            cut_proposed_tick: None,
            leaderless_since_tick: Some(0),
            catch_up: None,
            held_entries: Vec::new(),
            snapshot_for_conf_change: false,
            clock_unix_ms: state.clock_unix_ms,
            wall_clock_unix_ms: 0,
            stamped: None,
            proposing: Vec::new(),
        };
        let mut actions = Actions::default();
        core.restore(state, snapshot.get_metadata().index, &mut actions)?;
        Ok(core)
    }

    /// This orderer's Raft id.
    pub fn id(&self) -> u64 {
        self.config.id
    }

    /// The current leader's id, 0 when none is known.
    pub fn leader_id(&self) -> u64 {
        self.node.raft.leader_id
    }

    /// Whether this orderer leads.
    pub fn is_leader(&self) -> bool {
        self.node.raft.state == StateRole::Leader
    }

    /// The Raft term.
    pub fn term(&self) -> u64 {
        self.node.raft.term
    }

    /// Raft's voters now (the applied conf state).
    pub fn voters(&self) -> BTreeSet<u64> {
        self.conf_state().voters.into_iter().collect()
    }

    /// Raft's applied conf state.
    pub fn conf_state(&self) -> ConfState {
        self.node.raft.prs().conf().to_conf_state()
    }

    /// Whether the configuration in force lists this orderer as a consenter.
    pub fn is_consenter(&self) -> bool {
        consenter_ids(&self.channel.config).contains(&self.config.id)
    }

    /// The chain as the applied log has built it.
    pub fn tip(&self) -> ChainTip {
        self.tip
    }

    /// The last applied log index.
    pub fn applied_index(&self) -> u64 {
        self.applied_index
    }

    /// The highest log index known to be committed (at or ahead of the applied one).
    pub fn commit_index(&self) -> u64 {
        self.node.raft.raft_log.committed
    }

    /// Whether the core waits for blocks before applying more of the log.
    pub fn is_catching_up(&self) -> bool {
        self.catch_up.is_some()
    }

    /// The channel state in force.
    pub fn channel(&self) -> &Arc<ChannelState> {
        &self.channel
    }

    /// The Raft log store.
    pub fn store(&self) -> &RaftStore {
        self.node.store()
    }

    /// The chain.
    pub fn chain(&self) -> &C {
        &self.chain
    }

    /// Envelopes committed and not yet cut.
    pub fn pending(&self) -> usize {
        self.cutter.pending().len()
    }

    /// Gives back the stores, as a crash would leave them (for restart tests and
    /// shutdown).
    pub fn into_parts(self) -> (RaftStore, C) {
        let OrdererCore { node, chain, .. } = self;
        // RawNode owns the store; raft-rs gives no way to take it back but `mut_store`,
        // so swap in an empty one.
        let mut node = node;
        let store = std::mem::replace(node.mut_store(), RaftStore::memory(Snapshot::default()));
        (store, chain)
    }

    /// Handles one event; see [`OrdererCore::on_batch`].
    pub fn on(&mut self, event: Event) -> Result<Actions, OrdererError> {
        self.on_batch(std::iter::once(event))
    }

    /// Handles several events, then processes the Raft `Ready` once, so one fsync covers
    /// every proposal of the batch. An error is fatal: the store or chain failed, and the
    /// orderer must stop rather than continue from an unknown state.
    pub fn on_batch(
        &mut self,
        events: impl IntoIterator<Item = Event>,
    ) -> Result<Actions, OrdererError> {
        let mut actions = Actions::default();
        for event in events {
            self.handle(event, &mut actions)?;
        }
        self.propose_queued(&mut actions);
        self.handle_ready(&mut actions)?;
        Ok(actions)
    }

    fn handle(&mut self, event: Event, actions: &mut Actions) -> Result<(), OrdererError> {
        match event {
            Event::Tick => self.on_tick(actions),
            Event::Envelope { request, envelope } => {
                if let Some(waiting) = self.waiting.get_mut(&envelope.tx_id()) {
                    // A retry of a broadcast still being ordered here (its client lost the
                    // connection, say) waits for the same answer: a `Duplicate` now would
                    // tell it the transaction landed, and the first attempt may yet fail.
                    if waiting.requests.len() < WAITERS_PER_TRANSACTION_MAX {
                        waiting.requests.push(request);
                    } else {
                        actions.replies.push((request, Err(BroadcastError::Busy)));
                    }
                    return Ok(());
                }
                match self.propose_envelope(*envelope, actions) {
                    Ok(tx_id) => {
                        let deadline_tick = self
                            .now_tick
                            .saturating_add(self.config.broadcast_wait_ticks);
                        self.waiting.insert(
                            tx_id,
                            Waiting {
                                requests: vec![request],
                                deadline_tick,
                            },
                        );
                    }
                    Err(error) => actions.replies.push((request, Err(error))),
                }
                Ok(())
            }
            Event::Raft(message) => {
                self.step_raft(*message);
                Ok(())
            }
            Event::Blocks(blocks) => self.on_blocks(blocks, actions),
            Event::Unreachable(id) => {
                self.node.report_unreachable(id);
                Ok(())
            }
            Event::TransferLeader(id) => {
                self.node.transfer_leader(id);
                Ok(())
            }
            Event::WallClock(unix_ms) => {
                self.wall_clock_unix_ms = unix_ms;
                Ok(())
            }
        }
    }
}

/// Splits queued proposals, in order, into groups of at most `PROPOSAL_ENVELOPES_MAX`
/// envelopes and `PROPOSAL_BYTES_MAX` bytes; an envelope larger than that is a group alone.
fn group_proposals(queued: Vec<(TxId, Envelope, u64)>) -> Vec<Vec<(TxId, Envelope)>> {
    let mut groups: Vec<Vec<(TxId, Envelope)>> = Vec::new();
    let mut group_bytes = 0u64;
    for (tx_id, envelope, bytes) in queued {
        let fits = groups.last().is_some_and(|group| {
            group.len() < PROPOSAL_ENVELOPES_MAX
                && group_bytes.saturating_add(bytes) <= PROPOSAL_BYTES_MAX
        });
        if fits {
            group_bytes = group_bytes.saturating_add(bytes);
            if let Some(group) = groups.last_mut() {
                group.push((tx_id, envelope));
            }
        } else {
            group_bytes = bytes;
            groups.push(vec![(tx_id, envelope)]);
        }
    }
    groups
}

/// Forwards raft-rs's slog records to `tracing`.
struct TracingDrain {
    id: u64,
}

impl slog::Drain for TracingDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(
        &self,
        record: &slog::Record<'_>,
        _values: &slog::OwnedKVList,
    ) -> Result<(), slog::Never> {
        let id = self.id;
        match record.level() {
            slog::Level::Critical | slog::Level::Error => {
                tracing::error!(target: "raft", id, "{}", record.msg());
            }
            slog::Level::Warning => tracing::warn!(target: "raft", id, "{}", record.msg()),
            slog::Level::Info => tracing::info!(target: "raft", id, "{}", record.msg()),
            slog::Level::Debug | slog::Level::Trace => {
                tracing::trace!(target: "raft", id, "{}", record.msg());
            }
        }
        Ok(())
    }
}

impl<C: Chain> OrdererCore<C> {
    /// Steps a Raft message, first making a consenter that lost its log (a wiped data
    /// directory) recoverable: raft-rs, like etcd, assumes a follower never forgets
    /// acknowledged entries, so the leader's record of what it holds is stale and
    /// heartbeats would ask it to commit entries it does not have. The follower clamps
    /// such a commit index to its log, and the leader, seeing a rejection below what it
    /// thought the follower held, probes it again from what it really holds (and sends a
    /// snapshot if that was compacted).
    fn step_raft(&mut self, mut message: Message) {
        if let Err(reason) = self.admissible(&message) {
            tracing::warn!(
                id = self.config.id,
                from = message.from,
                kind = ?message.get_msg_type(),
                %reason,
                "raft message refused"
            );
            return;
        }
        match message.get_msg_type() {
            // Proposals a follower forwards: the leader's clock goes in first.
            MessageType::MsgPropose if self.is_leader() => self.stamp_clock_if_due(),
            MessageType::MsgHeartbeat => {
                let last = self.node.raft.raft_log.last_index();
                if message.commit > last {
                    message.commit = last;
                }
            }
            MessageType::MsgAppendResponse if message.reject && self.is_leader() => {
                let id = self.config.id;
                if let Some(progress) = self.node.raft.mut_prs().get_mut(message.from)
                    && message.reject_hint < progress.matched
                {
                    tracing::warn!(
                        id,
                        follower = message.from,
                        holds = message.reject_hint,
                        expected = progress.matched,
                        "consenter lost acknowledged entries (wiped?); resending"
                    );
                    progress.matched = message.reject_hint;
                    progress.become_probe();
                }
            }
            _ => {}
        }
        if let Err(error) = self.node.step(message) {
            tracing::debug!(id = self.config.id, %error, "raft message ignored");
        }
    }

    /// What a message from another consenter may not do, whatever transport brought it:
    /// install a snapshot that does not decode or does not fit this orderer's chain
    /// (`snapshot::check_snapshot`), ask this orderer to start a leadership transfer
    /// (only the operator's `orderer-admin` request on the leader does; see
    /// `admin::handle`), or make it campaign at once unless the leader it follows asks.
    fn admissible(&self, message: &Message) -> Result<(), String> {
        match message.get_msg_type() {
            MessageType::MsgSnapshot => {
                check_snapshot(message.get_snapshot(), &self.channel, &self.chain)
            }
            MessageType::MsgTransferLeader => {
                Err("leadership transfers are requested through orderer-admin".to_owned())
            }
            MessageType::MsgTimeoutNow if message.from != self.node.raft.leader_id => Err(format!(
                "only the leader ({}) may ask for an election now",
                self.node.raft.leader_id
            )),
            MessageType::MsgAppend => self.check_clock_entries(message.get_entries()),
            _ => Ok(()),
        }
    }

    /// A follower does not take a leader's clock entry that is ahead of its own wall
    /// clock by more than `ENVELOPE_TIME_SKEW_SECS_MAX`: blocks would carry a time peers
    /// cannot trust. It refuses the append (the leader retries), so such a time commits
    /// only if a majority's clocks agree with it. Entries behind the clock are normal (a
    /// follower catching up replays old ones); the log never moves the time backwards.
    fn check_clock_entries(&self, entries: &[Entry]) -> Result<(), String> {
        let now = self.wall_clock_unix_ms;
        if now == 0 {
            return Ok(());
        }
        let ahead_ms_max = ENVELOPE_TIME_SKEW_SECS_MAX.saturating_mul(1000);
        for entry in entries {
            // A clock entry is a few bytes; only those are decoded here.
            if entry.get_entry_type() != EntryType::EntryNormal
                || entry.get_data().len() > CLOCK_ENTRY_BYTES_MAX
            {
                continue;
            }
            if let Ok(LogEntry::Clock { unix_ms }) = decode::<LogEntry>(entry.get_data())
                && unix_ms > now.saturating_add(ahead_ms_max)
            {
                return Err(format!(
                    "leader's clock entry {unix_ms} ms is more than {ENVELOPE_TIME_SKEW_SECS_MAX} s ahead of this orderer's clock ({now} ms)"
                ));
            }
        }
        Ok(())
    }

    fn on_tick(&mut self, actions: &mut Actions) -> Result<(), OrdererError> {
        self.now_tick = self.now_tick.saturating_add(1);
        self.node.tick();
        if self.node.raft.leader_id == 0 {
            self.leaderless_since_tick.get_or_insert(self.now_tick);
        } else {
            self.leaderless_since_tick = None;
        }
        self.expire_waiting(actions);
        self.propose_cut_if_due();
        self.follow_consenters();
        self.retry_catch_up(actions)
    }

    fn expire_waiting(&mut self, actions: &mut Actions) {
        let now = self.now_tick;
        self.waiting.retain(|_, waiting| {
            if waiting.deadline_tick > now {
                return true;
            }
            for request in &waiting.requests {
                actions
                    .replies
                    .push((*request, Err(BroadcastError::NotOrderedInTime)));
            }
            false
        });
    }

    /// On the leader, before it proposes anything: enters its wall clock in the log
    /// ([`LogEntry::Clock`]) when it has not in this term or the last entry is
    /// `CLOCK_STAMP_INTERVAL_MS` old, so every transaction in the log has a leader's clock
    /// reading at most that old before it, and its block carries that time.
    fn stamp_clock_if_due(&mut self) {
        let now = self.wall_clock_unix_ms;
        if !self.is_leader() || now == 0 {
            return;
        }
        let term = self.term();
        if let Some((stamped_ms, stamped_term)) = self.stamped
            && stamped_term == term
            && now < stamped_ms.saturating_add(CLOCK_STAMP_INTERVAL_MS)
        {
            return;
        }
        match encode(&LogEntry::Clock { unix_ms: now }) {
            Ok(data) => match self.node.propose(Vec::new(), data) {
                Ok(()) => self.stamped = Some((now, term)),
                Err(error) => {
                    tracing::debug!(id = self.config.id, %error, "clock proposal dropped")
                }
            },
            Err(error) => tracing::error!(%error, "clock entry does not encode"),
        }
    }

    fn propose_cut_if_due(&mut self) {
        if !self.is_leader() || self.catch_up.is_some() {
            return;
        }
        let timeout = timeout_ticks(&self.channel.config.orderer.batch, self.config.tick_ms);
        if !cut_due(
            self.batch_opened_tick,
            self.cut_proposed_tick,
            self.now_tick,
            timeout,
        ) {
            return;
        }
        self.stamp_clock_if_due();
        let entry = LogEntry::Cut {
            block_number: self.tip.height,
        };
        match encode(&entry) {
            Ok(data) => {
                if let Err(error) = self.node.propose(Vec::new(), data) {
                    tracing::debug!(id = self.config.id, %error, "cut proposal dropped");
                }
                self.cut_proposed_tick = Some(self.now_tick);
            }
            Err(error) => tracing::error!(%error, "cut entry does not encode"),
        }
    }

    /// The error for a broadcast that finds no leader: an election may be running, or,
    /// once that has taken longer than two election timeouts, there is no quorum.
    fn no_leader_error(&self) -> BroadcastError {
        let since = self.leaderless_since_tick.unwrap_or(self.now_tick);
        let election = u64::try_from(self.config.election_ticks).unwrap_or(u64::MAX);
        if self.now_tick.saturating_sub(since) > election.saturating_mul(2) {
            BroadcastError::NoQuorum
        } else {
            BroadcastError::NoLeader
        }
    }

    /// Whether the transaction is in the chain or committed and waiting to be cut: it
    /// landed, so a new broadcast of it is a duplicate. (One still being ordered through
    /// this orderer is not known yet; its retries wait for its answer.)
    fn is_known_transaction(&self, tx_id: &TxId) -> Result<bool, OrdererError> {
        if self.pending_ids.contains(tx_id) {
            return Ok(true);
        }
        Ok(self.chain.transaction_block(tx_id)?.is_some())
    }

    fn propose_envelope(
        &mut self,
        envelope: VerifiedEnvelope,
        actions: &mut Actions,
    ) -> Result<TxId, BroadcastError> {
        if envelope.config_sequence != self.channel.config.sequence {
            return Err(BroadcastError::ConfigChanged);
        }
        if !self.is_consenter() {
            return Err(BroadcastError::NotAConsenter);
        }
        if let VerifiedKind::ConfigUpdate { update, .. } = &envelope.kind {
            check_consenter_change(&self.channel.config, &update.update.config, &self.voters())
                .map_err(BroadcastError::ConsenterChange)?;
        }
        match self.is_known_transaction(&envelope.tx_id) {
            Ok(false) => {}
            Ok(true) => return Err(BroadcastError::Duplicate(envelope.tx_id)),
            Err(error) => {
                tracing::error!(%error, "duplicate check failed");
                return Err(BroadcastError::Stopped);
            }
        }
        if self.waiting.len() >= WAITING_ACKS_MAX {
            return Err(BroadcastError::Busy);
        }
        if self.node.raft.leader_id == 0 {
            return Err(self.no_leader_error());
        }
        let (entry, tx_id) = match envelope.kind {
            VerifiedKind::Transaction => {
                self.proposing
                    .push((envelope.tx_id, envelope.envelope, envelope.bytes));
                return Ok(envelope.tx_id);
            }
            VerifiedKind::ConfigUpdate {
                header,
                update,
                at_unix,
            } => {
                // Transactions checked before it go first, as they arrived.
                self.propose_queued(actions);
                let config_envelope = self.config_envelope(&header, *update, at_unix)?;
                let tx_id = config_envelope.tx_id();
                (
                    LogEntry::Config {
                        envelope: config_envelope,
                        at_unix,
                    },
                    tx_id,
                )
            }
        };
        self.stamp_clock_if_due();
        let data = encode(&entry).map_err(|e| BroadcastError::Malformed(e.to_string()))?;
        self.propose_data(data).map(|()| tx_id)
    }

    fn propose_data(&mut self, data: Vec<u8>) -> Result<(), BroadcastError> {
        match self.node.propose(Vec::new(), data) {
            Ok(()) => Ok(()),
            Err(raft::Error::ProposalDropped) if self.node.raft.leader_id == 0 => {
                Err(self.no_leader_error())
            }
            Err(_) => Err(BroadcastError::Busy),
        }
    }

    /// Proposes the transactions queued while the batch was handled, in arrival order, as
    /// entries of at most `PROPOSAL_ENVELOPES_MAX` envelopes and `PROPOSAL_BYTES_MAX` bytes
    /// (one larger envelope goes alone). The broadcasts of an entry that cannot be proposed
    /// get the reason now.
    fn propose_queued(&mut self, actions: &mut Actions) {
        if self.proposing.is_empty() {
            return;
        }
        self.stamp_clock_if_due();
        let queued = std::mem::take(&mut self.proposing);
        for group in group_proposals(queued) {
            let tx_ids: Vec<TxId> = group.iter().map(|(tx_id, _)| *tx_id).collect();
            let envelopes: Vec<Envelope> =
                group.into_iter().map(|(_, envelope)| envelope).collect();
            // One envelope stays a plain `Transaction` entry; groups are never empty.
            let entry = match <[Envelope; 1]>::try_from(envelopes) {
                Ok([envelope]) => LogEntry::Transaction { envelope },
                Err(envelopes) => LogEntry::Transactions { envelopes },
            };
            let outcome = encode(&entry)
                .map_err(|e| BroadcastError::Malformed(e.to_string()))
                .and_then(|data| self.propose_data(data));
            if let Err(error) = outcome {
                for tx_id in tx_ids {
                    if let Some(waiting) = self.waiting.remove(&tx_id) {
                        for request in waiting.requests {
                            actions.replies.push((request, Err(error.clone())));
                        }
                    }
                }
            }
        }
    }

    /// The config envelope this orderer signs for an accepted update.
    fn config_envelope(
        &self,
        submitted: &Header,
        update: netsettle_protocol::ConfigUpdateEnvelope,
        at_unix: i64,
    ) -> Result<Envelope, BroadcastError> {
        let mut nonce = [0u8; NONCE_BYTES];
        netsettle_smcrypto::random_bytes(&mut nonce).map_err(|_| BroadcastError::Busy)?;
        let header = Header {
            channel: submitted.channel.clone(),
            creator: self.signer.identity.clone(),
            nonce: Nonce(nonce),
            timestamp: Timestamp {
                unix_time_ms: u64::try_from(at_unix).unwrap_or(0).saturating_mul(1000),
            },
        };
        let payload = Payload::Config {
            header,
            config: Box::new(ConfigEnvelope {
                config: update.update.config.clone(),
                last_update: Some(update),
            }),
        };
        Envelope::sign(&self.signer.key, payload)
            .map_err(|e| BroadcastError::Malformed(e.to_string()))
    }

    /// raft-rs's `Ready` loop: persist, (messages go out after `on` returns), apply,
    /// advance; repeated while raft-rs has more.
    fn handle_ready(&mut self, actions: &mut Actions) -> Result<(), OrdererError> {
        while self.node.has_ready() {
            let mut ready = self.node.ready();
            actions.messages.extend(ready.take_messages());
            let snapshot = (!ready.snapshot().is_empty()).then(|| ready.snapshot().clone());
            self.node
                .mut_store()
                .persist(snapshot.as_ref(), ready.entries(), ready.hs())?;
            if let Some(snapshot) = &snapshot {
                self.install_snapshot(snapshot, actions)?;
            }
            actions.messages.extend(ready.take_persisted_messages());
            let committed = ready.take_committed_entries();
            self.apply_committed(committed, actions)?;
            let mut light = self.node.advance_append(ready);
            if let Some(commit) = light.commit_index() {
                self.node.mut_store().set_commit(commit)?;
            }
            actions.messages.extend(light.take_messages());
            self.apply_committed(light.take_committed_entries(), actions)?;
            self.node.advance_apply_to(self.applied_index);
            self.snapshot_if_due()?;
        }
        Ok(())
    }

    fn apply_committed(
        &mut self,
        entries: Vec<Entry>,
        actions: &mut Actions,
    ) -> Result<(), OrdererError> {
        if self.catch_up.is_some() {
            self.held_entries.extend(entries);
            return Ok(());
        }
        for entry in entries {
            self.apply_entry(&entry, actions)?;
        }
        Ok(())
    }

    fn apply_entry(&mut self, entry: &Entry, actions: &mut Actions) -> Result<(), OrdererError> {
        let index = entry.get_index();
        if index <= self.applied_index {
            // Already in the state (covered by the snapshot the core started from).
            return Ok(());
        }
        assert_eq!(
            index,
            self.applied_index + 1,
            "committed entries must be applied in order"
        );
        self.applied_index = index;
        match entry.get_entry_type() {
            EntryType::EntryNormal => {}
            EntryType::EntryConfChange => return self.apply_conf_change(index, entry),
            EntryType::EntryConfChangeV2 => {
                // Never proposed here; every orderer skips it alike.
                tracing::error!(index, "joint-consensus conf change in the log; skipped");
                return Ok(());
            }
        }
        if entry.get_data().is_empty() {
            // The empty entry a new leader appends to commit its term.
            return Ok(());
        }
        match decode::<LogEntry>(entry.get_data()) {
            Ok(LogEntry::Transaction { envelope }) => {
                self.apply_transaction(index, envelope, actions)
            }
            Ok(LogEntry::Transactions { envelopes }) => {
                for envelope in envelopes {
                    self.apply_transaction(index, envelope, actions)?;
                }
                Ok(())
            }
            Ok(LogEntry::Config { envelope, at_unix }) => {
                self.apply_config(index, envelope, at_unix, actions)
            }
            Ok(LogEntry::Clock { unix_ms }) => {
                // Never backwards: a new leader with a slower clock keeps the old time.
                self.clock_unix_ms = self.clock_unix_ms.max(unix_ms);
                Ok(())
            }
            Ok(LogEntry::Cut { block_number }) => {
                if block_number == self.tip.height
                    && let Some(batch) = self.cutter.cut()
                {
                    self.write_block(batch, false, actions)?;
                }
                Ok(())
            }
            Err(error) => {
                // Every orderer decodes the same bytes, so every one skips it.
                tracing::error!(index, %error, "log entry does not decode; skipped");
                Ok(())
            }
        }
    }

    /// Whether the transaction is already in the chain built so far or the open batch.
    fn is_ordered(&self, tx_id: &TxId) -> Result<bool, OrdererError> {
        if self.pending_ids.contains(tx_id) {
            return Ok(true);
        }
        Ok(self
            .chain
            .transaction_block(tx_id)?
            .is_some_and(|block| block < self.tip.height))
    }

    fn reply_applied(
        &mut self,
        tx_id: TxId,
        index: u64,
        outcome: Result<(), BroadcastError>,
        actions: &mut Actions,
    ) {
        if let Some(waiting) = self.waiting.remove(&tx_id) {
            let reply = outcome.map(|()| BroadcastAck {
                tx_id,
                log_index: index,
            });
            for request in waiting.requests {
                actions.replies.push((request, reply.clone()));
            }
        }
    }

    fn apply_transaction(
        &mut self,
        index: u64,
        envelope: Envelope,
        actions: &mut Actions,
    ) -> Result<(), OrdererError> {
        let tx_id = envelope.tx_id();
        if self.is_ordered(&tx_id)? {
            tracing::debug!(index, %tx_id, "duplicate transaction skipped");
            self.reply_applied(tx_id, index, Err(BroadcastError::Duplicate(tx_id)), actions);
            return Ok(());
        }
        // Encoded once: its length is what the batch limits count, its SM3 the block's
        // Merkle leaf (`Envelope::hash`), so the block is built without a second pass.
        let (bytes, hash) = match encode(&envelope) {
            Ok(encoded) => (
                u64::try_from(encoded.len()).unwrap_or(u64::MAX),
                sm3(&encoded),
            ),
            Err(_) => (u64::MAX, Hash::default()),
        };
        let policy = self.channel.config.orderer.batch.clone();
        if bytes > policy.absolute_bytes_max {
            tracing::warn!(index, %tx_id, bytes, "oversize transaction in the log skipped");
            let max = policy.absolute_bytes_max;
            self.reply_applied(
                tx_id,
                index,
                Err(BroadcastError::TooLarge { bytes, max }),
                actions,
            );
            return Ok(());
        }
        let was_empty = self.cutter.pending().is_empty();
        self.pending_ids.insert(tx_id);
        let batches = self.cutter.ordered(
            Sized {
                envelope: Ordered {
                    tx_id,
                    envelope,
                    hash,
                },
                bytes,
            },
            &policy,
        );
        if was_empty {
            self.batch_opened_tick = Some(self.now_tick);
        }
        for batch in batches {
            self.write_block(batch, false, actions)?;
        }
        self.reply_applied(tx_id, index, Ok(()), actions);
        Ok(())
    }

    fn apply_config(
        &mut self,
        index: u64,
        envelope: Envelope,
        at_unix: i64,
        actions: &mut Actions,
    ) -> Result<(), OrdererError> {
        let tx_id = envelope.tx_id();
        let verdict = match &envelope.payload {
            Payload::Config { config, .. } => match &config.last_update {
                Some(update) => netsettle_msp::check_config_update(
                    &self.channel.config,
                    &self.channel.msps,
                    update,
                    at_unix,
                )
                .map_err(BroadcastError::ConfigUpdate)
                .and_then(|accepted| {
                    if accepted.config == config.config {
                        Ok(accepted.config)
                    } else {
                        Err(BroadcastError::Malformed(
                            "config envelope differs from its update".to_owned(),
                        ))
                    }
                }),
                None => Err(BroadcastError::ConfigEnvelope),
            },
            _ => Err(BroadcastError::ConfigEnvelope),
        };
        let verdict = verdict.and_then(|config| {
            check_consenter_change(&self.channel.config, &config, &self.voters())
                .map(|_| config)
                .map_err(BroadcastError::ConsenterChange)
        });
        let new_config = match verdict {
            Ok(config) => config,
            Err(error) => {
                // Another update won the sequence number first: same verdict everywhere.
                tracing::info!(index, %error, "config entry no longer applies; skipped");
                self.reply_applied(tx_id, index, Err(error), actions);
                return Ok(());
            }
        };
        if let Some(batch) = self.cutter.cut() {
            self.write_block(batch, false, actions)?;
        }
        let number = self.tip.height;
        let consenters_before = consenter_ids(&self.channel.config);
        let hash = envelope
            .hash()
            .map_err(|e| OrdererError::Block(e.to_string()))?;
        let config_tx = Ordered {
            tx_id,
            envelope,
            hash,
        };
        self.write_block(vec![config_tx], true, actions)?;
        let channel = Arc::new(ChannelState::new(new_config, number)?);
        let consenters_after = consenter_ids(&channel.config);
        if consenters_before != consenters_after {
            tracing::info!(
                id = self.config.id,
                ?consenters_before,
                ?consenters_after,
                config_block = number,
                "consenter set changed; Raft membership follows"
            );
            if !consenters_after.contains(&self.config.id) {
                tracing::warn!(
                    id = self.config.id,
                    config_block = number,
                    "this orderer was removed from the consenter set; it no longer takes part in ordering"
                );
            }
        }
        self.channel = Arc::clone(&channel);
        actions.channel = Some(channel);
        self.reply_applied(tx_id, index, Ok(()), actions);
        Ok(())
    }

    /// Builds block `tip.height` from `batch`, signs it and appends it; if the chain
    /// already holds that block (a restart replaying the log), checks it is the same.
    fn write_block(
        &mut self,
        batch: Vec<Ordered>,
        is_config: bool,
        actions: &mut Actions,
    ) -> Result<(), OrdererError> {
        let number = self.tip.height;
        let last_config = if is_config {
            number
        } else {
            self.channel.config_block
        };
        let mut tx_ids = Vec::with_capacity(batch.len());
        let mut hashes = Vec::with_capacity(batch.len());
        let mut envelopes = Vec::with_capacity(batch.len());
        for ordered in batch {
            self.pending_ids.remove(&ordered.tx_id);
            tx_ids.push(ordered.tx_id);
            hashes.push(ordered.hash);
            envelopes.push(ordered.envelope);
        }
        let timestamp = Timestamp {
            unix_time_ms: self.clock_unix_ms,
        };
        let mut block = Block::new_from_hashes(
            number,
            self.tip.last_hash,
            envelopes,
            &hashes,
            last_config,
            timestamp,
        )
        .map_err(|e| OrdererError::Block(e.to_string()))?;
        let hash = block.hash();
        match self.chain.block(number)? {
            Some(stored) => {
                assert_eq!(
                    stored.hash(),
                    hash,
                    "block {number} rebuilt from the log differs from the stored one"
                );
            }
            None => {
                let stored_height = self.chain.tip()?.map_or(0, |tip| tip.height);
                assert_eq!(stored_height, number, "chain gap before block {number}");
                block
                    .sign(&self.signer.key, self.signer.identity.clone())
                    .map_err(|e| OrdererError::Block(e.to_string()))?;
                // Built above from these envelopes and their ids; only the metadata
                // changed since.
                self.chain.append_built(&block, &tx_ids)?;
            }
        }
        self.tip = ChainTip {
            height: number.saturating_add(1),
            last_hash: hash,
        };
        self.batch_opened_tick = if self.cutter.pending().is_empty() {
            None
        } else {
            Some(self.now_tick)
        };
        self.cut_proposed_tick = None;
        actions.height = Some(self.tip.height);
        Ok(())
    }
}

impl<C: Chain> OrdererCore<C> {
    /// Puts the state machine at `state`, the state after log index `index`, and starts
    /// catching up when the stored chain is shorter than the state's.
    fn restore(
        &mut self,
        state: SnapshotState,
        index: u64,
        actions: &mut Actions,
    ) -> Result<(), OrdererError> {
        self.channel = Arc::new(ChannelState::new(state.config, state.last_config_index)?);
        self.clock_unix_ms = state.clock_unix_ms;
        // Callers checking envelopes, and the transport, follow the restored config.
        actions.channel = Some(Arc::clone(&self.channel));
        self.tip = ChainTip {
            height: state.height,
            last_hash: state.last_hash,
        };
        let mut pending_bytes = 0u64;
        self.pending_ids.clear();
        self.batch_opened_tick = (!state.pending.is_empty()).then_some(self.now_tick);
        self.cut_proposed_tick = None;
        let mut pending = Vec::with_capacity(state.pending.len());
        for envelope in state.pending {
            let encoded = encode(&envelope).map_err(|e| OrdererError::Config(e.to_string()))?;
            let bytes = u64::try_from(encoded.len()).unwrap_or(u64::MAX);
            pending_bytes = pending_bytes.saturating_add(bytes);
            let tx_id = envelope.tx_id();
            self.pending_ids.insert(tx_id);
            pending.push(Ordered {
                tx_id,
                envelope,
                hash: sm3(&encoded),
            });
        }
        self.cutter = BlockCutter::with_pending(pending, pending_bytes);
        self.applied_index = index;
        self.held_entries.retain(|entry| entry.get_index() > index);
        let stored = self.chain.tip()?.map_or(0, |tip| tip.height);
        if stored >= self.tip.height {
            let last = self.chain.block(self.tip.height - 1)?;
            assert_eq!(
                last.map(|block| block.hash()),
                Some(self.tip.last_hash),
                "stored chain disagrees with the Raft snapshot at height {}",
                self.tip.height
            );
            self.catch_up = None;
            return Ok(());
        }
        tracing::info!(
            id = self.config.id,
            stored,
            target = self.tip.height,
            "catching up: fetching blocks from another orderer"
        );
        let channel = self.stored_config()?;
        self.catch_up = Some(CatchUp {
            target: self.tip,
            requested_at_tick: self.now_tick,
            attempt: 0,
            channel,
        });
        self.request_blocks(stored, actions);
        Ok(())
    }

    fn install_snapshot(
        &mut self,
        snapshot: &Snapshot,
        actions: &mut Actions,
    ) -> Result<(), OrdererError> {
        let index = snapshot.get_metadata().index;
        let state: SnapshotState = decode(snapshot.get_data())
            .map_err(|e| OrdererError::Config(format!("raft snapshot does not decode: {e}")))?;
        tracing::info!(
            id = self.config.id,
            index,
            height = state.height,
            "installing snapshot"
        );
        self.restore(state, index, actions)
    }

    fn request_blocks(&mut self, start: u64, actions: &mut Actions) {
        let Some(catch_up) = &mut self.catch_up else {
            return;
        };
        let peers: Vec<u64> = self
            .channel
            .config
            .orderer
            .consenters
            .iter()
            .map(|consenter| consenter.id)
            .filter(|id| *id != self.config.id)
            .collect();
        let leader = self.node.raft.leader_id;
        let from = if catch_up.attempt == 0 && leader != 0 && leader != self.config.id {
            leader
        } else {
            let Some(peer) = peers.get(catch_up.attempt % peers.len().max(1)) else {
                return;
            };
            *peer
        };
        catch_up.requested_at_tick = self.now_tick;
        let end = catch_up
            .target
            .height
            .min(start.saturating_add(CATCH_UP_BLOCKS_MAX));
        actions.fetch = Some(FetchBlocks { from, start, end });
    }

    fn retry_catch_up(&mut self, actions: &mut Actions) -> Result<(), OrdererError> {
        let Some(catch_up) = &mut self.catch_up else {
            return Ok(());
        };
        if self.now_tick.saturating_sub(catch_up.requested_at_tick) < CATCH_UP_RETRY_TICKS {
            return Ok(());
        }
        catch_up.attempt = catch_up.attempt.wrapping_add(1);
        let stored = self.chain.tip()?.map_or(0, |tip| tip.height);
        self.request_blocks(stored, actions);
        Ok(())
    }

    /// The configuration in force at the end of the stored chain, from its last config
    /// block.
    fn stored_config(&self) -> Result<Arc<ChannelState>, OrdererError> {
        let tip = self
            .chain
            .tip()?
            .ok_or_else(|| OrdererError::Config("the chain has no genesis block".to_owned()))?;
        let last = self.stored_block(tip.height.saturating_sub(1))?;
        let index = last.metadata.last_config_index;
        if index == self.channel.config_block {
            return Ok(Arc::clone(&self.channel));
        }
        let block = self.stored_block(index)?;
        let config = block.config().ok_or_else(|| {
            OrdererError::Config(format!(
                "block {index} is named as a config block but holds no config"
            ))
        })?;
        Ok(Arc::new(ChannelState::new(config.clone(), index)?))
    }

    fn stored_block(&self, number: u64) -> Result<Block, OrdererError> {
        self.chain
            .block(number)?
            .ok_or_else(|| OrdererError::Config(format!("stored block {number} is missing")))
    }

    /// Appends fetched blocks that extend the stored chain towards the catch-up target,
    /// once every one of them is checked (`catch_up::verify_batch`): a bad batch is
    /// refused whole, and the retry timer asks another consenter.
    fn on_blocks(&mut self, blocks: Vec<Block>, actions: &mut Actions) -> Result<(), OrdererError> {
        let Some(catch_up) = &self.catch_up else {
            return Ok(());
        };
        let target = catch_up.target;
        let channel = Arc::clone(&catch_up.channel);
        let stored = self
            .chain
            .tip()?
            .ok_or_else(|| OrdererError::Config("the chain has no genesis block".to_owned()))?;
        match verify_batch(channel, stored, target, blocks) {
            Ok((accepted, tip, channel)) => {
                for block in &accepted {
                    self.chain.append(block)?;
                }
                let after = self.chain.tip()?;
                assert_eq!(after, Some(tip), "chain tip after catch-up appends");
                if let Some(catch_up) = &mut self.catch_up {
                    catch_up.channel = channel;
                }
            }
            Err(error) => {
                // The retry timer asks the next consenter; asking again at once would
                // spin on a consenter that keeps sending bad blocks.
                tracing::warn!(
                    id = self.config.id,
                    %error,
                    "fetched blocks refused, nothing written; asking another consenter"
                );
                return Ok(());
            }
        }
        let stored = self.chain.tip()?.map_or(0, |tip| tip.height);
        actions.height = Some(stored);
        if stored < target.height {
            self.request_blocks(stored, actions);
            return Ok(());
        }
        tracing::info!(id = self.config.id, height = stored, "caught up");
        self.catch_up = None;
        for entry in std::mem::take(&mut self.held_entries) {
            self.apply_entry(&entry, actions)?;
        }
        self.node.advance_apply_to(self.applied_index);
        Ok(())
    }

    fn snapshot_if_due(&mut self) -> Result<(), OrdererError> {
        let since = self
            .applied_index
            .saturating_sub(self.node.store().snapshot_index());
        let due = since >= self.config.snapshot_interval_entries
            || (self.snapshot_for_conf_change && since > 0);
        if self.catch_up.is_some() || !due {
            return Ok(());
        }
        self.snapshot_for_conf_change = false;
        let state = SnapshotState {
            height: self.tip.height,
            last_hash: self.tip.last_hash,
            last_config_index: self.channel.config_block,
            config: self.channel.config.clone(),
            pending: self
                .cutter
                .pending()
                .iter()
                .map(|ordered| ordered.envelope.clone())
                .collect(),
            clock_unix_ms: self.clock_unix_ms,
        };
        let data = encode(&state).map_err(|e| OrdererError::Config(e.to_string()))?;
        let index = self.applied_index;
        let conf_state = self.node.raft.prs().conf().to_conf_state();
        self.node.mut_store().create_snapshot(
            index,
            data,
            conf_state,
            LOG_KEPT_BEHIND_SNAPSHOT_ENTRIES,
        )?;
        tracing::debug!(id = self.config.id, index, "snapshot taken, log compacted");
        Ok(())
    }
}

impl<C: Chain> OrdererCore<C> {
    /// On the leader: moves Raft's voters one step towards the consenters of the
    /// configuration in force, once no other conf change is in flight. A leader about to
    /// be removed hands leadership to the most up-to-date other voter instead, and that
    /// leader proposes the removal.
    fn follow_consenters(&mut self) {
        if !self.is_leader()
            || self.catch_up.is_some()
            || self.node.raft.pending_conf_index > self.applied_index
        {
            return;
        }
        let consenters = consenter_ids(&self.channel.config);
        let Some(change) = next_conf_change(&consenters, &self.voters()) else {
            return;
        };
        let id = self.config.id;
        if change == ConsenterChange::Remove(id) {
            if self.node.raft.lead_transferee.is_some() {
                return;
            }
            let successor = self
                .node
                .raft
                .prs()
                .iter()
                .filter(|(other, _)| **other != id && consenters.contains(other))
                .max_by_key(|(other, progress)| (progress.matched, std::cmp::Reverse(**other)))
                .map(|(other, _)| *other);
            if let Some(successor) = successor {
                tracing::info!(
                    id,
                    successor,
                    "removed from the consenters: handing over leadership"
                );
                self.node.transfer_leader(successor);
            }
            return;
        }
        let mut conf_change = ConfChange::default();
        let (change_type, node) = match change {
            ConsenterChange::Add(node) => (ConfChangeType::AddNode, node),
            ConsenterChange::Remove(node) => (ConfChangeType::RemoveNode, node),
        };
        conf_change.set_change_type(change_type);
        conf_change.node_id = node;
        let context = self.channel.config_block.to_be_bytes().to_vec();
        match self.node.propose_conf_change(context, conf_change) {
            Ok(()) => tracing::info!(id, ?change, "proposed Raft membership change"),
            Err(error) => tracing::debug!(id, %error, "membership change proposal dropped"),
        }
    }

    /// Applies a committed Raft membership change; the conf state reaches disk with the
    /// next snapshot, and until then the change is replayed from the log on restart.
    fn apply_conf_change(&mut self, index: u64, entry: &Entry) -> Result<(), OrdererError> {
        let conf_change = match ConfChange::parse_from_bytes(entry.get_data()) {
            Ok(conf_change) => conf_change,
            Err(error) => {
                // Every orderer decodes the same bytes, so every one skips it.
                tracing::error!(index, %error, "conf change does not decode; skipped");
                return Ok(());
            }
        };
        let conf_state = self.node.apply_conf_change(&conf_change)?;
        self.snapshot_for_conf_change = true;
        let node = conf_change.node_id;
        assert!(
            conf_state.voters.contains(&node)
                == (conf_change.get_change_type() == ConfChangeType::AddNode),
            "conf change {index} did not take effect"
        );
        tracing::info!(
            id = self.config.id,
            index,
            node,
            change = ?conf_change.get_change_type(),
            voters = ?conf_state.voters,
            "Raft membership changed"
        );
        if node == self.config.id && !conf_state.voters.contains(&node) {
            tracing::warn!(
                id = self.config.id,
                "this orderer is no longer a Raft voter; it stops taking part in ordering"
            );
        }
        Ok(())
    }
}
