//! [`verify`] and [`compare`]: whole-ledger checks from the outside, behind
//! `netsettle ledger verify` and `netsettle ledger compare`.
//!
//! `verify` opens the ledger read-only and walks every stored block in order, checking
//! what the writer checked and what only a full walk can see: keys without gaps, the hash
//! chain, each data hash, the hash and transaction indexes, and the orderer signatures
//! against the channel configuration in force (see `signers`). It replays the writes of
//! valid transactions into memory and compares the result with the stored world state
//! (digest) and key history (count and digest), and checks the chain record and the
//! savepoint against the blocks. It reports the first fault and stops, because nothing
//! after a broken block can be trusted.

use std::collections::BTreeMap;
use std::path::Path;

use netsettle_protocol::limits::BLOCK_BYTES_MAX;
use netsettle_protocol::{Block, ChannelConfig, Payload, ValidationCode, Version, decode};
use netsettle_smcrypto::{Hash, Sm3Hasher, sm3};

use crate::error::LedgerError;
use crate::keys::{decode_block_number, history_key, state_key};
use crate::ledger::Ledger;
use crate::limits::VERIFY_STATE_ENTRIES_MAX;
use crate::meta::ChainInfo;
use crate::query::StateDigest;
use crate::records::{HistoryRecord, TxLocationRecord};
use crate::signers::check_orderer_signatures;
use crate::store::Column;

/// What `verify` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// The chain record (height, last hash).
    pub chain: ChainInfo,
    /// The state savepoint.
    pub state: ChainInfo,
    /// Blocks that passed every check, from block 0.
    pub blocks_checked: u64,
    /// Transactions in those blocks.
    pub transactions: u64,
    /// Digest of the stored world state (see [`Ledger::state_digest`]).
    pub state_digest: Hash,
    /// The first fault, if any.
    pub fault: Option<Fault>,
}

impl VerifyReport {
    /// Whether the ledger passed.
    pub fn is_ok(&self) -> bool {
        self.fault.is_none()
    }
}

/// A fault `verify` found, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{kind}", block.map(|n| format!("block {n}: ")).unwrap_or_default())]
pub struct Fault {
    /// The first bad block, when the fault belongs to one.
    pub block: Option<u64>,
    /// What is wrong.
    pub kind: FaultKind,
}

/// What is wrong with a ledger.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FaultKind {
    /// Reading the ledger failed (I/O or checksum error, malformed record).
    #[error("unreadable: {0}")]
    Unreadable(String),
    /// A block number below the chain height has no block.
    #[error("missing")]
    Missing,
    /// The stored bytes are not a valid block encoding.
    #[error("does not decode: {0}")]
    Undecodable(String),
    /// The header's number is not the number it is stored under.
    #[error("header says block {0}")]
    WrongNumber(u64),
    /// The previous-hash field is not the previous block's hash.
    #[error("previous hash does not match the previous block")]
    BrokenChain,
    /// The data hash is not the Merkle root of the envelopes.
    #[error("data hash does not match the envelopes")]
    DataHashMismatch,
    /// The hash index does not map this block's hash to its number.
    #[error("hash index does not point at this block")]
    HashIndexMismatch,
    /// Block 0 is not a configuration block, so no configuration is in force.
    #[error("genesis block holds no channel configuration")]
    NoGenesisConfig,
    /// The last-config index names the wrong block.
    #[error("last config index is {found}, expected {expected}")]
    WrongLastConfig {
        /// Number of the last config block seen.
        expected: u64,
        /// Index in the metadata.
        found: u64,
    },
    /// An orderer signature is missing or does not verify under the configuration in
    /// force.
    #[error("orderer signature: {0}")]
    BadOrdererSignature(String),
    /// The transaction index disagrees with the block.
    #[error("transaction {index}: index {what}")]
    TxIndexMismatch {
        /// Position in the block.
        index: usize,
        /// What disagrees.
        what: &'static str,
    },
    /// Blocks are stored past the recorded height.
    #[error("stored beyond the recorded height {height}")]
    BeyondHeight {
        /// Height in the chain record.
        height: u64,
    },
    /// The chain record or savepoint does not name the stored blocks.
    #[error("metadata: {0}")]
    Metadata(String),
    /// The stored world state differs from the replay of the blocks.
    #[error("world state digest {stored} differs from the replayed {replayed}")]
    StateMismatch {
        /// Digest of the stored state.
        stored: Hash,
        /// Digest of the state rebuilt from the blocks.
        replayed: Hash,
    },
    /// The stored key history differs from the replay of the blocks.
    #[error("key history differs from the blocks ({stored} stored, {replayed} replayed entries)")]
    HistoryMismatch {
        /// Stored entries.
        stored: u64,
        /// Entries the blocks produce.
        replayed: u64,
    },
}

fn fault(block: Option<u64>, kind: FaultKind) -> Fault {
    Fault { block, kind }
}

/// Checks the ledger at `path` without modifying it. `Err` only when it cannot be opened
/// at all; everything else wrong is reported in [`VerifyReport::fault`].
pub fn verify(path: &Path) -> Result<VerifyReport, LedgerError> {
    verify_with_progress(path, &|_, _| {})
}

/// [`verify`], calling `progress(blocks_checked, height)` after each block, so a caller
/// can show how far a long walk has got.
pub fn verify_with_progress(
    path: &Path,
    progress: &dyn Fn(u64, u64),
) -> Result<VerifyReport, LedgerError> {
    let ledger = Ledger::open_read_only(path)?;
    let chain = ledger.chain_info()?;
    let state = ledger.state_info()?;
    let mut walk = Walk::new(state.height);
    let walked = walk_blocks(&ledger, &chain, &mut walk, progress);
    let state_digest = ledger.state_digest();
    let mut report = VerifyReport {
        chain,
        state,
        blocks_checked: walk.checked,
        transactions: walk.transactions,
        state_digest: state_digest.as_ref().copied().unwrap_or_default(),
        fault: None,
    };
    let outcome = walked
        .and_then(|()| check_tip(&walk, &chain, &state))
        .and_then(|()| {
            let stored = state_digest.map_err(|error| unreadable(None, &error))?;
            check_replay(&ledger, walk, stored)
        });
    if let Err(found) = outcome {
        report.fault = Some(found);
    }
    Ok(report)
}

fn unreadable(block: Option<u64>, error: &LedgerError) -> Fault {
    fault(block, FaultKind::Unreadable(error.to_string()))
}

/// What the walk has seen so far.
struct Walk {
    /// Blocks that passed, which is also the next expected number.
    checked: u64,
    transactions: u64,
    previous_hash: Hash,
    config: Option<ChannelConfig>,
    last_config: u64,
    /// Replay only the blocks the state claims to hold.
    replay_height: u64,
    /// Hash of block `replay_height - 1`, which the savepoint must name.
    replay_tip: Option<Hash>,
    /// Stored state key → (version, SM3 of the value), as the blocks say it should be.
    state: BTreeMap<Vec<u8>, (Version, Hash)>,
    history_entries: u64,
    history_digest: [u8; 32],
}

impl Walk {
    fn new(replay_height: u64) -> Self {
        Walk {
            checked: 0,
            transactions: 0,
            previous_hash: Hash::default(),
            config: None,
            last_config: 0,
            replay_height,
            replay_tip: None,
            state: BTreeMap::new(),
            history_entries: 0,
            history_digest: [0; 32],
        }
    }
}

/// Walks the `blocks` column in key order, checking each block against the walk so far.
fn walk_blocks(
    ledger: &Ledger,
    chain: &ChainInfo,
    walk: &mut Walk,
    progress: &dyn Fn(u64, u64),
) -> Result<(), Fault> {
    let mut found: Option<Fault> = None;
    let scanned = ledger
        .store
        .scan(Column::Blocks, &[], None, BLOCK_BYTES_MAX, |key, value| {
            let expected = walk.checked;
            let outcome = match decode_block_number(key) {
                Some(number) if number == expected && number < chain.height => {
                    let checked = check_block(ledger, walk, number, value);
                    progress(walk.checked, chain.height);
                    checked
                }
                Some(number) if number >= chain.height && expected >= chain.height => Err(fault(
                    Some(number),
                    FaultKind::BeyondHeight {
                        height: chain.height,
                    },
                )),
                Some(_) => Err(fault(Some(expected), FaultKind::Missing)),
                None => Err(fault(
                    Some(expected),
                    FaultKind::Unreadable("block key is not 8 bytes".to_string()),
                )),
            };
            match outcome {
                Ok(()) => Ok(true),
                Err(error) => {
                    found = Some(error);
                    Ok(false)
                }
            }
        });
    if let Some(error) = found {
        return Err(error);
    }
    scanned.map_err(|error| unreadable(Some(walk.checked), &error))?;
    if walk.checked < chain.height {
        return Err(fault(Some(walk.checked), FaultKind::Missing));
    }
    Ok(())
}

/// All checks of block `number`; on success the walk moves past it.
fn check_block(ledger: &Ledger, walk: &mut Walk, number: u64, bytes: &[u8]) -> Result<(), Fault> {
    let at = Some(number);
    let block: Block =
        decode(bytes).map_err(|error| fault(at, FaultKind::Undecodable(error.to_string())))?;
    if block.header.number != number {
        return Err(fault(at, FaultKind::WrongNumber(block.header.number)));
    }
    if block.header.previous_hash != walk.previous_hash {
        return Err(fault(at, FaultKind::BrokenChain));
    }
    if block.verify_data_hash().is_err() {
        return Err(fault(at, FaultKind::DataHashMismatch));
    }
    let hash = block.hash();
    let indexed = ledger
        .store
        .get(Column::BlockHashes, hash.as_bytes(), 8)
        .map_err(|error| unreadable(at, &error))?;
    if indexed.as_deref().and_then(decode_block_number) != Some(number) {
        return Err(fault(at, FaultKind::HashIndexMismatch));
    }
    check_config(walk, &block)?;
    check_tx_index(ledger, &block)?;
    if number < walk.replay_height {
        replay(walk, &block)?;
        walk.replay_tip = Some(hash);
    }
    walk.previous_hash = hash;
    walk.transactions = walk
        .transactions
        .saturating_add(u64::try_from(block.data.len()).unwrap_or(u64::MAX));
    walk.checked = number.saturating_add(1);
    Ok(())
}

/// Checks the last-config index and the orderer signatures, then puts a config block's
/// configuration in force. A config block is checked against the configuration before
/// it, so a configuration can never authorize its own signer; the genesis block, which
/// has no predecessor, is checked against its own configuration, and only if signed.
fn check_config(walk: &mut Walk, block: &Block) -> Result<(), Fault> {
    let number = block.header.number;
    let at = Some(number);
    let carried = block.config();
    let Some(in_force) = walk.config.as_ref() else {
        let genesis = carried.ok_or_else(|| fault(at, FaultKind::NoGenesisConfig))?;
        if !block.metadata.signatures.is_empty() {
            check_orderer_signatures(genesis, block)
                .map_err(|reason| fault(at, FaultKind::BadOrdererSignature(reason)))?;
        }
        walk.config = Some(genesis.clone());
        walk.last_config = number;
        return Ok(());
    };
    let expected = if carried.is_some() {
        number
    } else {
        walk.last_config
    };
    if block.metadata.last_config_index != expected {
        return Err(fault(
            at,
            FaultKind::WrongLastConfig {
                expected,
                found: block.metadata.last_config_index,
            },
        ));
    }
    if block.metadata.signatures.is_empty() {
        return Err(fault(
            at,
            FaultKind::BadOrdererSignature("block is not signed".to_string()),
        ));
    }
    check_orderer_signatures(in_force, block)
        .map_err(|reason| fault(at, FaultKind::BadOrdererSignature(reason)))?;
    if let Some(config) = carried {
        walk.config = Some(config.clone());
        walk.last_config = number;
    }
    Ok(())
}

/// Every transaction is indexed: at its own position with the block's code, or, for a
/// duplicate id that is not valid, at an earlier block.
fn check_tx_index(ledger: &Ledger, block: &Block) -> Result<(), Fault> {
    let number = block.header.number;
    let at = Some(number);
    for (index, envelope) in block.data.iter().enumerate() {
        let mismatch = |what| fault(at, FaultKind::TxIndexMismatch { index, what });
        let code = block
            .validation_code(index)
            .unwrap_or(ValidationCode::NotValidated);
        let stored = ledger
            .store
            .get(
                Column::TxIndex,
                envelope.tx_id().as_bytes(),
                TxLocationRecord::BYTES,
            )
            .map_err(|error| unreadable(at, &error))?
            .ok_or_else(|| mismatch("entry missing"))?;
        let record = TxLocationRecord::decode(&stored)
            .map_err(|error| unreadable(at, &LedgerError::Corrupt(error)))?;
        let own_position = record.block == number
            && usize::try_from(record.index).is_ok_and(|stored_index| stored_index == index);
        if own_position {
            if record.code != code.to_byte() {
                return Err(mismatch("has another validation code"));
            }
            continue;
        }
        let earlier = record.block < number
            || (record.block == number
                && usize::try_from(record.index).is_ok_and(|first| first < index));
        if !earlier || code.is_valid() {
            return Err(mismatch("points elsewhere"));
        }
    }
    Ok(())
}

/// Applies the block's valid writes to the in-memory state and history digest.
fn replay(walk: &mut Walk, block: &Block) -> Result<(), Fault> {
    let number = block.header.number;
    let at = Some(number);
    if block.metadata.validation_codes.is_empty() {
        return Err(fault(
            at,
            FaultKind::Metadata(
                "state savepoint is past a block without validation codes".to_string(),
            ),
        ));
    }
    for (index, envelope) in block.data.iter().enumerate() {
        if block.validation_code(index) != Some(ValidationCode::Valid) {
            continue;
        }
        let Payload::Transaction(transaction) = &envelope.payload else {
            continue;
        };
        let tx = u32::try_from(index).map_err(|_| {
            fault(
                at,
                FaultKind::Undecodable("transaction index exceeds u32".to_string()),
            )
        })?;
        let version = Version { block: number, tx };
        for (namespace, write) in transaction.response.action.rw_set.writes() {
            let bad_key = |error: netsettle_protocol::KeyError| {
                fault(
                    at,
                    FaultKind::Undecodable(format!("valid write with {error}")),
                )
            };
            let key = state_key(namespace, write.key.as_bytes()).map_err(bad_key)?;
            let history =
                history_key(namespace, write.key.as_bytes(), number, tx).map_err(bad_key)?;
            let record = match &write.value {
                Some(value) => {
                    let digest = sm3(value);
                    walk.state.insert(key, (version, digest));
                    HistoryRecord::Write(digest)
                }
                None => {
                    walk.state.remove(&key);
                    HistoryRecord::Delete
                }
            };
            if walk.state.len() > VERIFY_STATE_ENTRIES_MAX {
                return Err(fault(
                    at,
                    FaultKind::Unreadable(
                        LedgerError::StateTooLargeToVerify {
                            max: VERIFY_STATE_ENTRIES_MAX,
                        }
                        .to_string(),
                    ),
                ));
            }
            mix_history(&mut walk.history_digest, &history, &record.encode());
            walk.history_entries = walk.history_entries.saturating_add(1);
        }
    }
    Ok(())
}

/// Folds one history entry into an order-independent digest (XOR of entry hashes). The
/// replay produces entries in block order and the column holds them in key order; XOR
/// makes the two comparable without sorting. Entries are unique keys, so they cannot
/// cancel out by repetition; this detects damage, it is not meant to resist forgery (the
/// blocks and their signatures are the authority).
fn mix_history(digest: &mut [u8; 32], key: &[u8], value: &[u8]) {
    let mut hasher = Sm3Hasher::new();
    hasher.update(&u64::try_from(key.len()).unwrap_or(u64::MAX).to_be_bytes());
    hasher.update(key);
    hasher.update(value);
    let entry = hasher.finalize();
    for (out, byte) in digest.iter_mut().zip(entry.as_bytes()) {
        *out ^= byte;
    }
}

/// The chain record names the last block walked, and the savepoint a walked block.
fn check_tip(walk: &Walk, chain: &ChainInfo, state: &ChainInfo) -> Result<(), Fault> {
    let tip_hash = (walk.checked > 0).then_some(walk.previous_hash);
    if walk.checked != chain.height || tip_hash != chain.current_hash {
        return Err(fault(
            None,
            FaultKind::Metadata(format!(
                "chain record says height {}, blocks end at {}",
                chain.height, walk.checked
            )),
        ));
    }
    if state.height > chain.height {
        return Err(fault(
            None,
            FaultKind::Metadata(format!(
                "state savepoint {} is above the height {}",
                state.height, chain.height
            )),
        ));
    }
    if state.current_hash != walk.replay_tip {
        return Err(fault(
            None,
            FaultKind::Metadata(format!(
                "state savepoint at {} names another block's hash",
                state.height
            )),
        ));
    }
    Ok(())
}

/// Compares the replayed state and history with the stored ones.
fn check_replay(ledger: &Ledger, walk: Walk, stored_state: Hash) -> Result<(), Fault> {
    let mut replayed = StateDigest::new();
    for (key, (version, digest)) in &walk.state {
        replayed
            .add(key, *version, digest)
            .map_err(|error| unreadable(None, &error))?;
    }
    let replayed = replayed.finish();
    if replayed != stored_state {
        return Err(fault(
            None,
            FaultKind::StateMismatch {
                stored: stored_state,
                replayed,
            },
        ));
    }
    let mut stored_digest = [0u8; 32];
    let mut stored_entries: u64 = 0;
    ledger
        .store
        .scan(
            Column::History,
            &[],
            None,
            HistoryRecord::BYTES_MAX,
            |key, value| {
                mix_history(&mut stored_digest, key, value);
                stored_entries = stored_entries.saturating_add(1);
                Ok(true)
            },
        )
        .map_err(|error| unreadable(None, &error))?;
    if stored_entries != walk.history_entries || stored_digest != walk.history_digest {
        return Err(fault(
            None,
            FaultKind::HistoryMismatch {
                stored: stored_entries,
                replayed: walk.history_entries,
            },
        ));
    }
    Ok(())
}

/// Where two ledgers first differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comparison {
    /// Height of the first ledger.
    pub height_a: u64,
    /// Height of the second ledger.
    pub height_b: u64,
    /// The first difference, if any.
    pub difference: Option<Difference>,
}

/// The first height at which two ledgers differ, and how.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("ledgers differ at height {height}: {kind}")]
pub struct Difference {
    /// Block number (or, for [`DifferenceKind::State`], the common height).
    pub height: u64,
    /// How they differ.
    pub kind: DifferenceKind,
}

/// How two ledgers differ at a height.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DifferenceKind {
    /// The block headers differ: different transactions, order or chain.
    #[error("different blocks (header hashes {a} and {b})")]
    Header {
        /// Header hash in the first ledger.
        a: Hash,
        /// Header hash in the second ledger.
        b: Hash,
    },
    /// Same header, different validation codes: the peers judged a transaction
    /// differently.
    #[error("same block, different validation codes")]
    ValidationCodes,
    /// Same header, different last-config index.
    #[error("same block, different last-config index ({a} vs {b})")]
    LastConfig {
        /// Index in the first ledger.
        a: u64,
        /// Index in the second ledger.
        b: u64,
    },
    /// Only one ledger has this block.
    #[error("only ledger {has} has this block")]
    Missing {
        /// `"A"` or `"B"`.
        has: &'static str,
    },
    /// Same blocks, different world state.
    #[error("same blocks, different world state ({a} vs {b})")]
    State {
        /// State digest of the first ledger.
        a: Hash,
        /// State digest of the second ledger.
        b: Hash,
    },
}

/// Compares two ledger directories block by block and reports the first height at which
/// they differ; with identical blocks, also the world states (when both are complete).
pub fn compare(a: &Path, b: &Path) -> Result<Comparison, LedgerError> {
    let ledger_a = Ledger::open_read_only(a)?;
    let ledger_b = Ledger::open_read_only(b)?;
    let chain_a = ledger_a.chain_info()?;
    let chain_b = ledger_b.chain_info()?;
    let mut comparison = Comparison {
        height_a: chain_a.height,
        height_b: chain_b.height,
        difference: None,
    };
    let common = chain_a.height.min(chain_b.height);
    for height in 0..common {
        if let Some(kind) = compare_block(&ledger_a, &ledger_b, height)? {
            comparison.difference = Some(Difference { height, kind });
            return Ok(comparison);
        }
    }
    if chain_a.height != chain_b.height {
        let has = if chain_a.height > chain_b.height {
            "A"
        } else {
            "B"
        };
        comparison.difference = Some(Difference {
            height: common,
            kind: DifferenceKind::Missing { has },
        });
        return Ok(comparison);
    }
    let state_a = ledger_a.state_info()?;
    let state_b = ledger_b.state_info()?;
    if state_a.height == common && state_b.height == common {
        let digest_a = ledger_a.state_digest()?;
        let digest_b = ledger_b.state_digest()?;
        if digest_a != digest_b {
            comparison.difference = Some(Difference {
                height: common,
                kind: DifferenceKind::State {
                    a: digest_a,
                    b: digest_b,
                },
            });
        }
    }
    Ok(comparison)
}

fn compare_block(
    a: &Ledger,
    b: &Ledger,
    height: u64,
) -> Result<Option<DifferenceKind>, LedgerError> {
    let bytes_a = a.block_bytes(height)?;
    let bytes_b = b.block_bytes(height)?;
    if bytes_a == bytes_b {
        return Ok(None);
    }
    let (Some(block_a), Some(block_b)) = (a.block(height)?, b.block(height)?) else {
        let has = if bytes_a.is_some() { "A" } else { "B" };
        return Ok(Some(DifferenceKind::Missing { has }));
    };
    if block_a.hash() != block_b.hash() {
        return Ok(Some(DifferenceKind::Header {
            a: block_a.hash(),
            b: block_b.hash(),
        }));
    }
    if block_a.metadata.validation_codes != block_b.metadata.validation_codes {
        return Ok(Some(DifferenceKind::ValidationCodes));
    }
    let (config_a, config_b) = (
        block_a.metadata.last_config_index,
        block_b.metadata.last_config_index,
    );
    if config_a != config_b {
        return Ok(Some(DifferenceKind::LastConfig {
            a: config_a,
            b: config_b,
        }));
    }
    // Only the orderer signatures differ: each orderer signs its own copy of a block and
    // peers take blocks from whichever orderer answers. `verify` checks every signature.
    Ok(None)
}
