//! Block gossip: what a peer decides about a block another peer sends it, and where it
//! keeps blocks that arrive ahead of its ledger.
//!
//! Peers spread blocks among themselves (Fabric's gossip) so a peer needs no orderer
//! connection of its own, and the orderers serve each block once per carrier rather than
//! once per peer. A gossiped block comes from a peer, not from the orderers, so before it
//! is forwarded or handed to the committer it must show it could only have come from
//! the ordering service: within the size limit, canonical encoding and shape, data hash
//! matching its envelopes, and an orderer signature from a consenter of the channel
//! configuration in force. Then its position decides:
//!
//! - the next block must link to the ledger's last hash ([`Judgement::Next`]);
//! - a block the ledger already holds must be that very block ([`Judgement::Duplicate`]);
//!   another block under the same number is a fork and refused;
//! - a block from the future cannot be linked yet ([`Judgement::Future`]): it waits in a
//!   bounded [`FutureBlocks`] buffer until the gap closes (by gossip or state transfer)
//!   and is linked then.
//!
//! One exception to the signature rule: a block that names a configuration later than
//! the one in force ([`Judgement::LaterConfig`]) may be signed by a consenter this peer
//! does not know yet. It cannot be judged, so it is dropped without blame; the peer is
//! behind and catches up by state transfer, which brings the config block first.
//!
//! A refused block is never committed and the caller reports its sender to the network
//! layer, which penalises peers that keep sending such blocks. The committer validates
//! every block again whatever its source, so these checks protect the gossip mesh (what
//! is forwarded) and the buffer (what is kept), not the ledger's correctness.
//!
//! Pure: no I/O and no clock; [`crate::net`] wires it to `netsettle-net`.

use std::collections::{BTreeMap, BTreeSet};

use netsettle_protocol::limits::BLOCK_BYTES_MAX;
use netsettle_protocol::{Block, decode};
use netsettle_smcrypto::Hash;

use crate::limits::{FUTURE_BLOCKS_BYTES_MAX, FUTURE_BLOCKS_MAX};
use netsettle_msp::ChannelState;

use crate::validator::{BlockError, check_block_shape, check_orderer_signature};

/// The prefix of a channel's block topic; the channel name follows.
pub const BLOCK_TOPIC_PREFIX: &str = "blocks/";

/// The gossip topic on which a channel's blocks travel.
pub fn block_topic(channel: &str) -> String {
    format!("{BLOCK_TOPIC_PREFIX}{channel}")
}

/// Where the receiving peer's ledger stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tip {
    /// Blocks on the ledger: the next block's number.
    pub height: u64,
    /// Hash of block `height - 1`.
    pub last_hash: Hash,
}

/// What a valid gossiped block means for the receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    /// The next block: hand it to the committer.
    Next(Box<Block>),
    /// A block the ledger already holds: nothing to do.
    Duplicate {
        /// Its number.
        number: u64,
    },
    /// A block ahead of the next one: keep it until the gap is filled.
    Future(Box<Block>),
    /// A block without a valid signature under the configuration in force, claiming a
    /// later configuration this peer has not committed yet (its consenters may have
    /// changed): neither forwarded nor held against its sender; the peer is behind.
    LaterConfig {
        /// Its number.
        number: u64,
    },
}

/// Why a gossiped block was refused; the sender is reported to the network layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GossipRefusal {
    /// More bytes than any block may have.
    #[error("{len} bytes, over the {max}-byte block limit")]
    Oversize {
        /// Bytes received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not a canonical block encoding.
    #[error("not a block: {0}")]
    Undecodable(String),
    /// Malformed, wrong data hash or no valid orderer signature.
    #[error(transparent)]
    Block(#[from] BlockError),
    /// The next block does not link to the ledger's last block.
    #[error("block {number} does not link to the last committed block")]
    WrongPreviousHash {
        /// Block number.
        number: u64,
    },
    /// A different block under a number the ledger already holds: the sender (or an
    /// orderer that signed it) forked the chain.
    #[error("block {number} differs from the committed block {number}")]
    Fork {
        /// Block number.
        number: u64,
    },
}

/// Judges the bytes of a gossiped block against the channel in force and the ledger's
/// tip. `committed_hash(n)` gives the hash of committed block `n < tip.height`.
pub fn judge(
    channel: &ChannelState,
    tip: Tip,
    committed_hash: impl FnOnce(u64) -> Option<Hash>,
    payload: &[u8],
) -> Result<Judgement, GossipRefusal> {
    if payload.len() > BLOCK_BYTES_MAX {
        return Err(GossipRefusal::Oversize {
            len: payload.len(),
            max: BLOCK_BYTES_MAX,
        });
    }
    let block: Block =
        decode(payload).map_err(|error| GossipRefusal::Undecodable(error.to_string()))?;
    let number = block.header.number;
    // A copy of a committed block (each block reaches a peer from its orderers and again
    // from the other carrier's peers): its header hash equals the committed one, so it
    // is dropped before the data hash and signature checks, which would only confirm
    // what the ledger already holds. Anything else under a committed number gets every
    // check below, so a fork is still told from garbage.
    if number < tip.height
        && let Some(hash) = committed_hash(number)
    {
        if hash == block.hash() {
            return Ok(Judgement::Duplicate { number });
        }
        check_block_shape(&block)?;
        check_orderer_signature(channel, &block)?;
        return Err(GossipRefusal::Fork { number });
    }
    check_block_shape(&block)?;
    if let Err(error) = check_orderer_signature(channel, &block) {
        if block.metadata.last_config_index > channel.config_block {
            return Ok(Judgement::LaterConfig { number });
        }
        return Err(error.into());
    }
    if number < tip.height {
        // A committed block the ledger cannot read back says nothing about the sender.
        return Ok(Judgement::Duplicate { number });
    }
    if number > tip.height {
        return Ok(Judgement::Future(Box::new(block)));
    }
    if block.header.previous_hash != tip.last_hash {
        return Err(GossipRefusal::WrongPreviousHash { number });
    }
    Ok(Judgement::Next(Box::new(block)))
}

/// Blocks that arrived ahead of the ledger, by number; bounded in count and bytes. When
/// full, the blocks furthest ahead give way: the nearest are the ones that can be
/// committed first.
#[derive(Debug, Default)]
pub struct FutureBlocks {
    blocks: BTreeMap<u64, (Block, usize)>,
    bytes: usize,
}

impl FutureBlocks {
    /// An empty buffer.
    pub fn new() -> Self {
        FutureBlocks::default()
    }

    /// Blocks held.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// The lowest number held: where the gap ends.
    pub fn first_number(&self) -> Option<u64> {
        self.blocks.keys().next().copied()
    }

    /// Keeps `block` (`encoded_bytes` long) unless one under its number is held or it is
    /// further ahead than everything a full buffer keeps; `true` if kept.
    pub fn insert(&mut self, block: Block, encoded_bytes: usize) -> bool {
        let number = block.header.number;
        if self.blocks.contains_key(&number) || encoded_bytes > FUTURE_BLOCKS_BYTES_MAX {
            return false;
        }
        while self.blocks.len() >= FUTURE_BLOCKS_MAX
            || self.bytes.saturating_add(encoded_bytes) > FUTURE_BLOCKS_BYTES_MAX
        {
            let Some((&last, _)) = self.blocks.last_key_value() else {
                break;
            };
            if last < number {
                return false;
            }
            self.remove(last);
        }
        self.bytes = self.bytes.saturating_add(encoded_bytes);
        self.blocks.insert(number, (block, encoded_bytes));
        assert!(self.blocks.len() <= FUTURE_BLOCKS_MAX);
        assert!(self.bytes <= FUTURE_BLOCKS_BYTES_MAX);
        true
    }

    fn remove(&mut self, number: u64) -> Option<Block> {
        let (block, bytes) = self.blocks.remove(&number)?;
        self.bytes = self.bytes.saturating_sub(bytes);
        Some(block)
    }

    /// The held blocks that continue the chain at `tip`, in order, removed from the
    /// buffer; blocks the ledger already passed are dropped, and so is a block that does
    /// not link (it was signed by an orderer but belongs to no chain this ledger has).
    pub fn take_ready(&mut self, tip: Tip) -> Vec<Block> {
        let stale: Vec<u64> = self.blocks.range(..tip.height).map(|(n, _)| *n).collect();
        for number in stale {
            self.remove(number);
        }
        let mut ready = Vec::new();
        let mut next = tip.height;
        let mut previous = tip.last_hash;
        while let Some(block) = self.remove(next) {
            if block.header.previous_hash != previous {
                break;
            }
            previous = block.hash();
            next = next.saturating_add(1);
            ready.push(block);
        }
        ready
    }
}

/// What the shell does with one gossiped message.
#[derive(Debug)]
pub enum Route {
    /// Accept it (the network forwards it) and hand the block to the committer.
    Commit(Box<Block>),
    /// Accept it; nothing else to do (the ledger holds it already).
    Accept,
    /// Accept it; it is kept (if there is room) until the gap before it closes, and the
    /// peer is behind: wake state transfer.
    AcceptBehind,
    /// Give no verdict (it could not be judged); the peer is behind: wake state transfer.
    Behind,
    /// Report the sender: the network drops the message and counts it against them.
    Report(GossipRefusal),
}

/// The peer's side of block gossip between commits: routes each judged message, keeps
/// blocks from the future, and remembers which blocks came by gossip so they are not
/// published again (the network forwarded them when they were accepted). Bounded: the
/// buffer by [`FutureBlocks`], the remembered numbers by [`FUTURE_BLOCKS_MAX`].
#[derive(Debug, Default)]
pub struct Intake {
    future: FutureBlocks,
    by_gossip: BTreeSet<u64>,
}

impl Intake {
    /// Nothing buffered yet.
    pub fn new() -> Self {
        Intake::default()
    }

    /// Routes a message [`judge`]d as `judged`, `encoded_bytes` long.
    pub fn route(
        &mut self,
        judged: Result<Judgement, GossipRefusal>,
        encoded_bytes: usize,
    ) -> Route {
        match judged {
            Ok(Judgement::Next(block)) => {
                self.remember(block.header.number);
                Route::Commit(block)
            }
            Ok(Judgement::Duplicate { .. }) => Route::Accept,
            Ok(Judgement::Future(block)) => {
                self.future.insert(*block, encoded_bytes);
                Route::AcceptBehind
            }
            Ok(Judgement::LaterConfig { .. }) => Route::Behind,
            Err(refusal) => Route::Report(refusal),
        }
    }

    /// Block `number` was committed; `true` if the peer should publish it (it did not
    /// come by gossip).
    pub fn committed(&mut self, number: u64) -> bool {
        let by_gossip = self.by_gossip.remove(&number);
        self.by_gossip = self.by_gossip.split_off(&number);
        !by_gossip
    }

    /// The buffered blocks that now continue the ledger at `tip`, for the committer.
    pub fn ready(&mut self, tip: Tip) -> Vec<Block> {
        let ready = self.future.take_ready(tip);
        for block in &ready {
            self.remember(block.header.number);
        }
        ready
    }

    fn remember(&mut self, number: u64) {
        self.by_gossip.insert(number);
        // Numbers the committer dropped (another source was first) must not pile up.
        while self.by_gossip.len() > FUTURE_BLOCKS_MAX {
            self.by_gossip.pop_last();
        }
    }
}
