//! Reads: blocks by number or hash, transactions by id, world state by key, range and
//! composite-key prefix, the history of a key, and the state digest.
//!
//! Every read checks what it got back against what it asked for (the block stored under
//! `n` is numbered `n`, the block found by hash has that hash, a history entry's value
//! has the recorded digest): the read-back half of the paired assertions, reported as
//! [`Corruption`] because the data came from disk.

use netsettle_protocol::limits::{BLOCK_BYTES_MAX, VALUE_BYTES_MAX};
use netsettle_protocol::{
    Block, ChannelConfig, Envelope, HistoryEntry, Page, Payload, StateEntry, TxId, ValidationCode,
    Version, VersionedValue, check_simple_key, decode,
};
use netsettle_smcrypto::{Hash, Sm3Hasher, sm3};

use crate::error::{Corruption, LedgerError};
use crate::keys::{
    CompositeKey, block_number_key, decode_block_number, history_prefix, namespace_prefix,
    prefix_successor, simple_range_bounds, split_history_version, split_state_key, state_key,
};
use crate::ledger::Ledger;
use crate::limits::PAGE_ENTRIES_MAX;
use crate::meta::ChainInfo;
use crate::records::{HistoryRecord, TxLocationRecord, decode_state_value};
use crate::store::{Column, Snapshot, Store};

/// Largest stored state value: the protocol's largest value plus the version.
const STATE_VALUE_BYTES_MAX: usize = VALUE_BYTES_MAX + 12;

/// Where a transaction is on the ledger and what the committing peer decided about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxLocation {
    /// Block number.
    pub block: u64,
    /// Position in the block.
    pub index: u32,
    /// The peer's verdict; `NOT_VALIDATED` on an orderer's ledger.
    pub code: ValidationCode,
}

fn check_page_limit(limit: usize) -> Result<(), LedgerError> {
    if limit == 0 || limit > PAGE_ENTRIES_MAX {
        return Err(LedgerError::PageTooLarge {
            requested: limit,
            max: PAGE_ENTRIES_MAX,
        });
    }
    Ok(())
}

impl Ledger {
    /// The encoded block stored under `number`, as on disk (for delivery and comparison).
    pub fn block_bytes(&self, number: u64) -> Result<Option<Vec<u8>>, LedgerError> {
        self.store
            .get(Column::Blocks, &block_number_key(number), BLOCK_BYTES_MAX)
    }

    /// The block at height `number`.
    pub fn block(&self, number: u64) -> Result<Option<Block>, LedgerError> {
        let Some(bytes) = self.block_bytes(number)? else {
            return Ok(None);
        };
        let block: Block = decode(&bytes).map_err(|error| Corruption::UndecodableBlock {
            number,
            reason: error.to_string(),
        })?;
        if block.header.number != number {
            return Err(Corruption::MetadataMismatch {
                what: format!(
                    "block stored under {number} is numbered {}",
                    block.header.number
                ),
            }
            .into());
        }
        Ok(Some(block))
    }

    /// The channel configuration in force after the last block, and the number of the
    /// config block that carries it (the last block's `last_config_index`); `None` for an
    /// empty ledger.
    pub fn config_in_force(&self) -> Result<Option<(ChannelConfig, u64)>, LedgerError> {
        let Some(last) = self.chain_info()?.height.checked_sub(1) else {
            return Ok(None);
        };
        let tip = self
            .block(last)?
            .ok_or(Corruption::MissingBlock { number: last })?;
        let number = tip.metadata.last_config_index;
        let config_block = self
            .block(number)?
            .ok_or(Corruption::MissingBlock { number })?;
        let config = config_block
            .config()
            .ok_or_else(|| Corruption::MetadataMismatch {
                what: format!(
                    "block {last} names block {number} as its config block, which holds no config"
                ),
            })?;
        Ok(Some((config.clone(), number)))
    }

    /// The block whose header hash is `hash`.
    pub fn block_by_hash(&self, hash: &Hash) -> Result<Option<Block>, LedgerError> {
        let Some(number) = self.store.get(Column::BlockHashes, hash.as_bytes(), 8)? else {
            return Ok(None);
        };
        let number = decode_block_number(&number).ok_or(Corruption::Malformed {
            column: "block_hashes",
            what: "value is not 8 bytes".to_string(),
        })?;
        let block = self
            .block(number)?
            .ok_or(Corruption::MissingBlock { number })?;
        if block.hash() != *hash {
            return Err(Corruption::MetadataMismatch {
                what: format!("hash index points at block {number}, which has another hash"),
            }
            .into());
        }
        Ok(Some(block))
    }

    /// Where transaction `tx_id` is and its validation code. For a duplicated id, the
    /// first occurrence.
    pub fn transaction(&self, tx_id: &TxId) -> Result<Option<TxLocation>, LedgerError> {
        let Some(bytes) =
            self.store
                .get(Column::TxIndex, tx_id.as_bytes(), TxLocationRecord::BYTES)?
        else {
            return Ok(None);
        };
        let record = TxLocationRecord::decode(&bytes)?;
        let code = ValidationCode::try_from(record.code).map_err(|_| Corruption::Malformed {
            column: "tx_index",
            what: format!("unknown validation code {}", record.code),
        })?;
        Ok(Some(TxLocation {
            block: record.block,
            index: record.index,
            code,
        }))
    }

    /// Whether `tx_id` is on the ledger (valid or not): the peer's duplicate check.
    pub fn contains_transaction(&self, tx_id: &TxId) -> Result<bool, LedgerError> {
        self.store.contains(Column::TxIndex, tx_id.as_bytes())
    }

    /// The envelope of transaction `tx_id` with its location, read from its block.
    pub fn transaction_envelope(
        &self,
        tx_id: &TxId,
    ) -> Result<Option<(Envelope, TxLocation)>, LedgerError> {
        let Some(location) = self.transaction(tx_id)? else {
            return Ok(None);
        };
        let number = location.block;
        let block = self
            .block(number)?
            .ok_or(Corruption::MissingBlock { number })?;
        let envelope = usize::try_from(location.index)
            .ok()
            .and_then(|index| block.data.get(index))
            .filter(|envelope| envelope.tx_id() == *tx_id)
            .ok_or_else(|| Corruption::MetadataMismatch {
                what: format!("tx index points at block {number} which lacks {tx_id}"),
            })?;
        Ok(Some((envelope.clone(), location)))
    }

    /// The current value of `key` in `namespace`.
    pub fn state(&self, namespace: &str, key: &str) -> Result<Option<VersionedValue>, LedgerError> {
        read_state(&self.store, None, namespace, key)
    }

    /// Simple keys of `namespace` in `[start, end)`, in key order, at most `limit`,
    /// starting after `after` if given. An empty `start` means the first key and an empty
    /// `end` the end of the namespace; composite keys are never included.
    pub fn state_range(
        &self,
        namespace: &str,
        start: &str,
        end: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<StateEntry, String>, LedgerError> {
        range_state(&self.store, None, namespace, (start, end), after, limit)
    }

    /// Composite keys of `namespace` that start with `prefix` (see
    /// [`CompositeKey::prefix`]), in key order, at most `limit`, after `after` if given.
    pub fn state_by_prefix(
        &self,
        namespace: &str,
        prefix: &CompositeKey,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<StateEntry, String>, LedgerError> {
        prefix_state(&self.store, None, namespace, prefix, after, limit)
    }

    /// Every write to `key` in `namespace`, oldest first, at most `limit`, after version
    /// `after` if given. Values come from the blocks and are checked against the digest
    /// the history recorded.
    pub fn history(
        &self,
        namespace: &str,
        key: &str,
        after: Option<Version>,
        limit: usize,
    ) -> Result<Page<HistoryEntry, Version>, LedgerError> {
        check_page_limit(limit)?;
        let prefix = history_prefix(namespace, key.as_bytes())?;
        let mut lower = prefix.clone();
        if let Some(after) = after {
            // The smallest (block, tx) after `after`; at the very end there is nothing left.
            let Some(next) = next_version(after) else {
                return Ok(Page {
                    entries: Vec::new(),
                    next: None,
                });
            };
            lower.extend_from_slice(&next.block.to_be_bytes());
            lower.extend_from_slice(&next.tx.to_be_bytes());
        }
        let upper = prefix_successor(&prefix);
        let mut records = Vec::new();
        self.store.scan(
            Column::History,
            &lower,
            upper.as_deref(),
            HistoryRecord::BYTES_MAX,
            |stored_key, value| {
                let (block, tx) =
                    split_history_version(stored_key, &prefix).ok_or(Corruption::Malformed {
                        column: "history",
                        what: "key does not end in a version".to_string(),
                    })?;
                records.push((Version { block, tx }, HistoryRecord::decode(value)?));
                Ok(records.len() < limit)
            },
        )?;
        let mut entries = Vec::with_capacity(records.len());
        let mut cached: Option<Block> = None;
        for (version, record) in records {
            if cached.as_ref().map(|b| b.header.number) != Some(version.block) {
                let number = version.block;
                cached = Some(
                    self.block(number)?
                        .ok_or(Corruption::MissingBlock { number })?,
                );
            }
            let block = cached.as_ref().ok_or(Corruption::MissingBlock {
                number: version.block,
            })?;
            entries.push(history_entry(block, namespace, key, version, record)?);
        }
        Ok(Page::of(entries, limit, |entry| entry.version))
    }

    /// SM3 over the whole world state in key order; equal on every peer at the same
    /// state height. Each entry contributes `u32 BE len(k) ‖ k ‖ block u64 BE ‖ tx u32 BE ‖
    /// SM3(value)`, where `k` is the stored key (`ns_len ‖ namespace ‖ key`).
    pub fn state_digest(&self) -> Result<Hash, LedgerError> {
        let mut digest = StateDigest::new();
        self.store.scan(
            Column::State,
            &[],
            None,
            STATE_VALUE_BYTES_MAX,
            |key, value| {
                let ((block, tx), value) = decode_state_value(value)?;
                digest.add(key, Version { block, tx }, &sm3(value))?;
                Ok(true)
            },
        )?;
        Ok(digest.finish())
    }
}

/// A consistent view of the world state at one state height: reads through it see no
/// block committed after it was taken. For simulating a proposal (every read of one
/// simulation from the same state) or validating a block against the state before it.
pub struct StateSnapshot<'a> {
    pub(crate) store: &'a Store,
    pub(crate) snapshot: Snapshot<'a>,
    pub(crate) info: ChainInfo,
}

impl std::fmt::Debug for StateSnapshot<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateSnapshot")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl StateSnapshot<'_> {
    /// The state height (and last applied block) this view shows.
    pub fn state_info(&self) -> ChainInfo {
        self.info
    }

    /// [`Ledger::state`] in this view.
    pub fn state(&self, namespace: &str, key: &str) -> Result<Option<VersionedValue>, LedgerError> {
        read_state(self.store, Some(&self.snapshot), namespace, key)
    }

    /// [`Ledger::state_range`] in this view.
    pub fn state_range(
        &self,
        namespace: &str,
        start: &str,
        end: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<StateEntry, String>, LedgerError> {
        range_state(
            self.store,
            Some(&self.snapshot),
            namespace,
            (start, end),
            after,
            limit,
        )
    }

    /// [`Ledger::state_by_prefix`] in this view.
    pub fn state_by_prefix(
        &self,
        namespace: &str,
        prefix: &CompositeKey,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<StateEntry, String>, LedgerError> {
        prefix_state(
            self.store,
            Some(&self.snapshot),
            namespace,
            prefix,
            after,
            limit,
        )
    }
}

fn read_state(
    store: &Store,
    view: Option<&Snapshot<'_>>,
    namespace: &str,
    key: &str,
) -> Result<Option<VersionedValue>, LedgerError> {
    let state_key = state_key(namespace, key.as_bytes())?;
    let Some(bytes) = store.get_at(view, Column::State, &state_key, STATE_VALUE_BYTES_MAX)? else {
        return Ok(None);
    };
    let ((block, tx), value) = decode_state_value(&bytes)?;
    Ok(Some(VersionedValue {
        value: value.to_vec(),
        version: Version { block, tx },
    }))
}

fn range_state(
    store: &Store,
    view: Option<&Snapshot<'_>>,
    namespace: &str,
    (start, end): (&str, &str),
    after: Option<&str>,
    limit: usize,
) -> Result<Page<StateEntry, String>, LedgerError> {
    check_page_limit(limit)?;
    let (mut lower, upper) = simple_range_bounds(namespace, start.as_bytes(), end.as_bytes())?;
    if let Some(after) = after {
        check_simple_key(after.as_bytes())?;
        lower = lower.max(successor_key(namespace, after)?);
    }
    state_page(store, view, &lower, &upper, limit)
}

fn prefix_state(
    store: &Store,
    view: Option<&Snapshot<'_>>,
    namespace: &str,
    prefix: &CompositeKey,
    after: Option<&str>,
    limit: usize,
) -> Result<Page<StateEntry, String>, LedgerError> {
    check_page_limit(limit)?;
    let mut lower = namespace_prefix(namespace)?;
    lower.extend_from_slice(prefix.as_bytes());
    // A composite prefix ends in 0x00, so its successor always exists.
    let upper = prefix_successor(&lower).ok_or(netsettle_protocol::KeyError::EmptyObjectType)?;
    if let Some(after) = after {
        lower = lower.max(successor_key(namespace, after)?);
    }
    state_page(store, view, &lower, &upper, limit)
}

fn state_page(
    store: &Store,
    view: Option<&Snapshot<'_>>,
    lower: &[u8],
    upper: &[u8],
    limit: usize,
) -> Result<Page<StateEntry, String>, LedgerError> {
    let mut entries = Vec::new();
    store.scan_at(
        view,
        Column::State,
        lower,
        Some(upper),
        STATE_VALUE_BYTES_MAX,
        |key, value| {
            entries.push(decode_state_entry(key, value)?);
            Ok(entries.len() < limit)
        },
    )?;
    Ok(Page::of(entries, limit, |entry| entry.key.clone()))
}

/// The running state digest; see [`Ledger::state_digest`]. Shared with `verify`, which
/// feeds it the state it rebuilt from the blocks.
pub(crate) struct StateDigest {
    hasher: Sm3Hasher,
}

impl StateDigest {
    pub(crate) fn new() -> Self {
        StateDigest {
            hasher: Sm3Hasher::new(),
        }
    }

    pub(crate) fn add(
        &mut self,
        key: &[u8],
        version: Version,
        value_digest: &Hash,
    ) -> Result<(), LedgerError> {
        let len = u32::try_from(key.len()).map_err(|_| Corruption::Malformed {
            column: "state",
            what: "key longer than u32".to_string(),
        })?;
        self.hasher.update(&len.to_be_bytes());
        self.hasher.update(key);
        self.hasher.update(&version.block.to_be_bytes());
        self.hasher.update(&version.tx.to_be_bytes());
        self.hasher.update(value_digest.as_bytes());
        Ok(())
    }

    pub(crate) fn finish(self) -> Hash {
        self.hasher.finalize()
    }
}

/// The state key right after `(namespace, key)`: `key ‖ 0x00`, the next possible key.
fn successor_key(namespace: &str, key: &str) -> Result<Vec<u8>, LedgerError> {
    let mut next = state_key(namespace, key.as_bytes())?;
    next.push(0x00);
    Ok(next)
}

fn next_version(version: Version) -> Option<Version> {
    match version.tx.checked_add(1) {
        Some(tx) => Some(Version {
            block: version.block,
            tx,
        }),
        None => Some(Version {
            block: version.block.checked_add(1)?,
            tx: 0,
        }),
    }
}

fn decode_state_entry(key: &[u8], value: &[u8]) -> Result<StateEntry, LedgerError> {
    let (_, key) = split_state_key(key).ok_or(Corruption::Malformed {
        column: "state",
        what: "key is not ns_len ‖ namespace ‖ key".to_string(),
    })?;
    let key = String::from_utf8(key.to_vec()).map_err(|_| Corruption::Malformed {
        column: "state",
        what: "key is not UTF-8".to_string(),
    })?;
    let ((block, tx), value) = decode_state_value(value)?;
    Ok(StateEntry {
        key,
        value: VersionedValue {
            value: value.to_vec(),
            version: Version { block, tx },
        },
    })
}

/// Finds the write that history entry `version` records in `block` and checks it.
fn history_entry(
    block: &Block,
    namespace: &str,
    key: &str,
    version: Version,
    record: HistoryRecord,
) -> Result<HistoryEntry, LedgerError> {
    let mismatch = || Corruption::MetadataMismatch {
        what: format!(
            "history of {namespace}/{key:?} names block {} tx {}, which has no such write",
            version.block, version.tx
        ),
    };
    let envelope = usize::try_from(version.tx)
        .ok()
        .and_then(|index| block.data.get(index))
        .ok_or_else(mismatch)?;
    let Payload::Transaction(transaction) = &envelope.payload else {
        return Err(mismatch().into());
    };
    let write = transaction
        .response
        .action
        .rw_set
        .writes()
        .find(|(ns, write)| *ns == namespace && write.key == key)
        .map(|(_, write)| write)
        .ok_or_else(mismatch)?;
    let matches = match (&write.value, record) {
        (Some(value), HistoryRecord::Write(digest)) => sm3(value) == digest,
        (None, HistoryRecord::Delete) => true,
        _ => false,
    };
    if !matches {
        return Err(mismatch().into());
    }
    Ok(HistoryEntry {
        version,
        tx_id: envelope.tx_id(),
        value: write.value.clone(),
    })
}
