//! [`Ledger`]: opening with recovery, committing and appending blocks, and replaying
//! blocks into the world state when it is behind.
//!
//! One writer at a time: the tip (chain record and state savepoint) lives behind a mutex
//! that every write path holds from its precondition checks to the read-back after the
//! batch, so two commits can never both extend the same height. Queries do not take it;
//! they read RocksDB directly (see `query`).

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use netsettle_protocol::{Block, Payload, TxId, ValidationCode, check_write, encode};
use netsettle_smcrypto::{Hash, sm3};

use crate::error::{BlockRejected, Corruption, LedgerError};
use crate::keys::{block_number_key, history_key, state_key};
use crate::limits::OPEN_CHECK_BLOCKS;
use crate::meta::{CHAIN_KEY, ChainInfo, FORMAT_KEY, FORMAT_VERSION, SAVEPOINT_KEY};
use crate::query::StateSnapshot;
use crate::records::{HistoryRecord, TxLocationRecord, encode_state_value};
use crate::store::{Access, Batch, Column, Store};

/// The chain record and the state savepoint, as last written by this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Tip {
    chain: ChainInfo,
    state: ChainInfo,
}

/// Whether a write recomputes the block's data hash (the Merkle root of its envelopes'
/// SM3 hashes, the most expensive check on a block) before storing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DataHash {
    /// Recompute it and refuse a mismatch: for a block from anywhere else.
    Verify,
    /// The caller computed it from these very envelopes (the orderer that just built the
    /// block) or verified it on this same, unchanged value (the peer's validator) just
    /// before: recomputing would hash every envelope a second time for nothing.
    CheckedByCaller,
}

/// A ledger directory opened for reading and writing (or, through [`Ledger::open_read_only`],
/// for reading only).
pub struct Ledger {
    pub(crate) store: Store,
    tip: Mutex<Tip>,
    access: Access,
    /// Serialises the outbox's read-change-write operations (see `outbox`); separate
    /// from the tip so a notice mark never waits for a block commit.
    pub(crate) outbox_writer: Mutex<()>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("access", &self.access)
            .finish_non_exhaustive()
    }
}

impl Ledger {
    /// Opens the ledger at `path`, creating it if the directory holds none. Checks that the
    /// chain record agrees with the stored blocks, then replays into the world state any
    /// blocks it is missing (see the crate docs on what is atomic).
    ///
    /// It also re-checks the top [`OPEN_CHECK_BLOCKS`] blocks: each decodes, carries its
    /// number, matches its data hash, is found by its hash in the index, and links to the
    /// block below. That is where damage from a crash, a bad restore or a hand edit shows,
    /// and it costs milliseconds; the full walk of `verify` (every block, every signature,
    /// the whole state replayed) takes minutes on years of blocks, so it stays an
    /// operator's command. RocksDB's own block checksums (paranoid checks) cover the
    /// bytes of everything else as it is read.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        let store = Store::open(path, Access::ReadWrite)?;
        let tip = match load_tip(&store)? {
            Some(tip) => tip,
            None => initialize(&store)?,
        };
        let ledger = Ledger {
            store,
            tip: Mutex::new(tip),
            access: Access::ReadWrite,
            outbox_writer: Mutex::new(()),
        };
        check_tip_against_blocks(&ledger, &tip)?;
        check_recent_blocks(&ledger, tip.chain.height, OPEN_CHECK_BLOCKS)?;
        ledger.apply_pending_state()?;
        Ok(ledger)
    }

    /// Opens an existing ledger without taking RocksDB's lock, creating anything or
    /// replaying state: for inspection (`verify`, `compare`, queries from the CLI) while a
    /// node may hold the directory open, or when it is damaged. Write calls fail.
    pub fn open_read_only(path: &Path) -> Result<Ledger, LedgerError> {
        let store = Store::open(path, Access::ReadOnly)?;
        let tip = load_tip(&store)?.ok_or(Corruption::MissingMetadata)?;
        Ok(Ledger {
            store,
            tip: Mutex::new(tip),
            access: Access::ReadOnly,
            outbox_writer: Mutex::new(()),
        })
    }

    /// Height and last block hash of the block store.
    pub fn chain_info(&self) -> Result<ChainInfo, LedgerError> {
        Ok(self.lock_tip()?.chain)
    }

    /// Height and last block hash of the blocks whose writes the world state holds. Equal
    /// to [`Ledger::chain_info`] except after [`Ledger::append_block`] of blocks that have
    /// no validation codes yet (an orderer's copy).
    pub fn state_info(&self) -> Result<ChainInfo, LedgerError> {
        Ok(self.lock_tip()?.state)
    }

    /// Commits a validated block: the block, its indexes, the writes of its valid
    /// transactions and their history, in one synced batch. The block must extend the
    /// chain and carry one validation code per transaction, none of them `NOT_VALIDATED`.
    /// If the state is behind (after `append_block`), it is caught up first.
    pub fn commit_block(&self, block: &Block) -> Result<ChainInfo, LedgerError> {
        self.commit_block_with(block, DataHash::Verify)
    }

    /// [`Ledger::commit_block`], told whether to recompute the block's data hash (see
    /// [`DataHash`]).
    pub fn commit_block_with(
        &self,
        block: &Block,
        data_hash: DataHash,
    ) -> Result<ChainInfo, LedgerError> {
        self.commit_checked(block, data_hash, None)
    }

    /// [`Ledger::commit_block_with`] of a block whose transaction ids the caller has
    /// already derived, one per envelope in order (the peer's validator derives each id
    /// once), so the index does not hash every envelope a second time. A count other
    /// than one id per envelope is refused and writes nothing.
    pub fn commit_block_with_ids(
        &self,
        block: &Block,
        data_hash: DataHash,
        tx_ids: &[TxId],
    ) -> Result<ChainInfo, LedgerError> {
        self.commit_checked(block, data_hash, Some(tx_ids))
    }

    fn commit_checked(
        &self,
        block: &Block,
        data_hash: DataHash,
        tx_ids: Option<&[TxId]>,
    ) -> Result<ChainInfo, LedgerError> {
        self.check_writable()?;
        let mut tip = self.lock_tip()?;
        if tip.state.height < tip.chain.height {
            self.apply_pending_locked(&mut tip)?;
        }
        if tip.state.height < tip.chain.height {
            return Err(BlockRejected::StateBehind {
                state_height: tip.state.height,
                height: tip.chain.height,
            }
            .into());
        }
        check_validation_codes(block, true)?;
        let mut batch = self.block_batch(&tip.chain, block, data_hash, tx_ids)?;
        self.add_state_writes(&mut batch, block)?;
        let chain = tip.chain.extended(block.hash());
        let tip_after = Tip {
            chain,
            state: chain,
        };
        self.store
            .put(&mut batch, Column::Meta, SAVEPOINT_KEY, &chain.encode())?;
        self.write_tip(batch, &mut tip, tip_after)?;
        Ok(chain)
    }

    /// Appends a block to the block store and indexes without touching the world state,
    /// in one synced batch: what an orderer keeps, or a peer receiving blocks faster than
    /// it applies them. Validation codes may be absent (recorded as `NOT_VALIDATED`) or
    /// one per transaction. Blocks with codes are applied to the state by the next
    /// [`Ledger::apply_pending_state`], [`Ledger::commit_block`] or [`Ledger::open`].
    pub fn append_block(&self, block: &Block) -> Result<ChainInfo, LedgerError> {
        self.append_block_with(block, DataHash::Verify)
    }

    /// [`Ledger::append_block`], told whether to recompute the block's data hash (see
    /// [`DataHash`]).
    pub fn append_block_with(
        &self,
        block: &Block,
        data_hash: DataHash,
    ) -> Result<ChainInfo, LedgerError> {
        self.append_checked(block, data_hash, None)
    }

    /// [`Ledger::append_block`] of a block the caller has just built: its data hash
    /// computed from these envelopes and `tx_ids` derived from them, one per envelope in
    /// order (the orderer, which derived each id when the envelope was ordered), so
    /// neither is computed a second time.
    pub fn append_built_block(
        &self,
        block: &Block,
        tx_ids: &[TxId],
    ) -> Result<ChainInfo, LedgerError> {
        self.append_checked(block, DataHash::CheckedByCaller, Some(tx_ids))
    }

    fn append_checked(
        &self,
        block: &Block,
        data_hash: DataHash,
        tx_ids: Option<&[TxId]>,
    ) -> Result<ChainInfo, LedgerError> {
        self.check_writable()?;
        let mut tip = self.lock_tip()?;
        check_validation_codes(block, false)?;
        let batch = self.block_batch(&tip.chain, block, data_hash, tx_ids)?;
        let tip_after = Tip {
            chain: tip.chain.extended(block.hash()),
            state: tip.state,
        };
        self.write_tip(batch, &mut tip, tip_after)?;
        Ok(tip_after.chain)
    }

    /// Replays into the world state every stored block it does not hold yet, one synced
    /// batch per block, stopping at the first block without validation codes. Returns the
    /// state height reached.
    pub fn apply_pending_state(&self) -> Result<u64, LedgerError> {
        if self.access == Access::ReadOnly {
            return Ok(self.lock_tip()?.state.height);
        }
        let mut tip = self.lock_tip()?;
        self.apply_pending_locked(&mut tip)?;
        Ok(tip.state.height)
    }

    /// Deletes the world state and key history and replays them from the blocks: the
    /// operator's repair for a state damaged by a bug, or rebuilt after a format change.
    /// The deletion and the savepoint reset are one batch, so a crash in between leaves a
    /// ledger that rebuilds on the next open.
    pub fn reset_state(&self) -> Result<u64, LedgerError> {
        self.check_writable()?;
        let mut tip = self.lock_tip()?;
        let mut batch = self.store.batch();
        // Every state and history key starts with the two-byte namespace length, at most
        // 0x0100, so [0x00, 0xFF) covers them all.
        self.store
            .delete_range(&mut batch, Column::State, &[0x00], &[0xFF])?;
        self.store
            .delete_range(&mut batch, Column::History, &[0x00], &[0xFF])?;
        let empty = ChainInfo::default();
        self.store
            .put(&mut batch, Column::Meta, SAVEPOINT_KEY, &empty.encode())?;
        let tip_after = Tip {
            chain: tip.chain,
            state: empty,
        };
        self.write_tip(batch, &mut tip, tip_after)?;
        self.apply_pending_locked(&mut tip)?;
        Ok(tip.state.height)
    }

    /// A consistent view of the world state as of now (see [`StateSnapshot`]).
    pub fn snapshot(&self) -> Result<StateSnapshot<'_>, LedgerError> {
        // Under the writer lock, so the view and the state height it reports match:
        // commits write and update the tip while holding it.
        let tip = self.lock_tip()?;
        Ok(StateSnapshot {
            store: &self.store,
            snapshot: self.store.snapshot(),
            info: tip.state,
        })
    }

    fn lock_tip(&self) -> Result<MutexGuard<'_, Tip>, LedgerError> {
        // A panic while holding the lock means an assertion failed mid-commit; the
        // in-memory tip may no longer match the disk, so refuse to go on.
        self.tip.lock().map_err(|_| LedgerError::Poisoned)
    }

    pub(crate) fn check_writable(&self) -> Result<(), LedgerError> {
        if self.access == Access::ReadOnly {
            return Err(LedgerError::ReadOnly);
        }
        Ok(())
    }

    /// The batch every stored block needs: the block, its hash index entry, the
    /// transaction index and the new chain record. Checks that the block extends `chain`.
    fn block_batch(
        &self,
        chain: &ChainInfo,
        block: &Block,
        data_hash: DataHash,
        tx_ids: Option<&[TxId]>,
    ) -> Result<Batch, LedgerError> {
        let number = block.header.number;
        check_extends(chain, block)?;
        if let Some(ids) = tx_ids
            && ids.len() != block.data.len()
        {
            return Err(BlockRejected::TxIdsMismatch {
                number,
                envelopes: block.data.len(),
                ids: ids.len(),
            }
            .into());
        }
        if data_hash == DataHash::Verify && block.verify_data_hash().is_err() {
            return Err(BlockRejected::WrongDataHash { number }.into());
        }
        let bytes = encode(block).map_err(|error| BlockRejected::Encoding {
            number,
            reason: error.to_string(),
        })?;
        // Paired with the checks in `open` and `query::block`: what is stored under
        // `number` is a block numbered `number` that extends the previous one.
        assert_eq!(number, chain.height, "block number must equal the height");
        assert_eq!(
            block.header.previous_hash,
            chain.current_hash.unwrap_or_default(),
            "block must link to the last block"
        );
        // The block itself, its index entries and (at a peer) the state writes and
        // history of its transactions: about twice the block's bytes.
        let mut batch = self
            .store
            .batch_with_capacity(bytes.len().saturating_mul(2).saturating_add(4096));
        let number_key = block_number_key(number);
        self.store
            .put(&mut batch, Column::Blocks, &number_key, &bytes)?;
        self.store.put(
            &mut batch,
            Column::BlockHashes,
            block.hash().as_bytes(),
            &number_key,
        )?;
        self.add_tx_index(&mut batch, block, tx_ids)?;
        let chain_after = chain.extended(block.hash());
        self.store
            .put(&mut batch, Column::Meta, CHAIN_KEY, &chain_after.encode())?;
        Ok(batch)
    }

    /// Indexes every transaction id the ledger has not seen, keeping the first occurrence
    /// of a duplicate (the one that may have been valid), as Fabric does.
    /// `tx_ids`, when given, are the envelopes' ids as the caller derived them (one per
    /// envelope, checked by `block_batch`).
    fn add_tx_index(
        &self,
        batch: &mut Batch,
        block: &Block,
        tx_ids: Option<&[TxId]>,
    ) -> Result<(), LedgerError> {
        let number = block.header.number;
        let mut seen: HashSet<TxId> = HashSet::with_capacity(block.data.len());
        for (index, envelope) in block.data.iter().enumerate() {
            let tx_id = match tx_ids.and_then(|ids| ids.get(index)) {
                Some(tx_id) => *tx_id,
                None => envelope.tx_id(),
            };
            let code = block
                .validation_code(index)
                .unwrap_or(ValidationCode::NotValidated);
            let known =
                !seen.insert(tx_id) || self.store.contains(Column::TxIndex, tx_id.as_bytes())?;
            if known && code.is_valid() {
                return Err(BlockRejected::DuplicateValidTx { number, index }.into());
            }
            if known {
                continue;
            }
            let index = tx_position(number, index)?;
            let record = TxLocationRecord {
                block: number,
                index,
                code: code.to_byte(),
            };
            self.store
                .put(batch, Column::TxIndex, tx_id.as_bytes(), &record.encode())?;
        }
        Ok(())
    }

    /// Adds the writes of the block's valid transactions to the state and the history.
    /// Later transactions in the block overwrite earlier ones, because a batch applies
    /// its operations in order.
    fn add_state_writes(&self, batch: &mut Batch, block: &Block) -> Result<(), LedgerError> {
        let number = block.header.number;
        for (index, envelope) in block.data.iter().enumerate() {
            if block.validation_code(index) != Some(ValidationCode::Valid) {
                continue;
            }
            let Payload::Transaction(transaction) = &envelope.payload else {
                // Config envelopes change the channel configuration, not the world state.
                continue;
            };
            let tx = tx_position(number, index)?;
            for (namespace, write) in transaction.response.action.rw_set.writes() {
                check_write(namespace, &write.key).map_err(|error| BlockRejected::BadWrite {
                    number,
                    index,
                    error,
                })?;
                let key = state_key(namespace, write.key.as_bytes())?;
                let history = history_key(namespace, write.key.as_bytes(), number, tx)?;
                let record = match &write.value {
                    Some(value) => {
                        self.store.put(
                            batch,
                            Column::State,
                            &key,
                            &encode_state_value(number, tx, value),
                        )?;
                        HistoryRecord::Write(sm3(value))
                    }
                    None => {
                        self.store.delete(batch, Column::State, &key)?;
                        HistoryRecord::Delete
                    }
                };
                self.store
                    .put(batch, Column::History, &history, &record.encode())?;
            }
        }
        Ok(())
    }

    /// Replays blocks `state.height..chain.height` into the state, one batch each.
    fn apply_pending_locked(&self, tip: &mut MutexGuard<'_, Tip>) -> Result<(), LedgerError> {
        while tip.state.height < tip.chain.height {
            let number = tip.state.height;
            let block = self
                .block(number)?
                .ok_or(Corruption::MissingBlock { number })?;
            if block.metadata.validation_codes.is_empty() {
                // Not validated yet (an orderer's copy): the state cannot move past it.
                return Ok(());
            }
            let mut batch = self.store.batch();
            self.add_state_writes(&mut batch, &block)?;
            let state = tip.state.extended(block.hash());
            self.store
                .put(&mut batch, Column::Meta, SAVEPOINT_KEY, &state.encode())?;
            let tip_after = Tip {
                chain: tip.chain,
                state,
            };
            self.write_tip(batch, tip, tip_after)?;
        }
        Ok(())
    }

    /// Writes `batch` (which must carry the meta records of `tip_after`), then reads the
    /// records back and asserts they are what was written before updating the tip.
    fn write_tip(
        &self,
        batch: Batch,
        tip: &mut MutexGuard<'_, Tip>,
        tip_after: Tip,
    ) -> Result<(), LedgerError> {
        assert!(tip_after.state.height <= tip_after.chain.height);
        assert!(tip_after.chain.height >= tip.chain.height);
        self.store.write(batch)?;
        // The batch is durable: the tip moves now, so that even if the read-back below
        // fails with an I/O error, the next commit is checked against the real height.
        **tip = tip_after;
        let read_back = load_tip(&self.store)?;
        assert_eq!(
            read_back,
            Some(tip_after),
            "meta records must read back as written"
        );
        Ok(())
    }
}

/// A transaction's position as stored in versions and the index. The codec caps blocks at
/// `BLOCK_TX_MAX` transactions, far below `u32::MAX`, so this fails only for a block that
/// was never through the codec.
fn tx_position(number: u64, index: usize) -> Result<u32, BlockRejected> {
    u32::try_from(index).map_err(|_| BlockRejected::Encoding {
        number,
        reason: format!("transaction index {index} exceeds u32"),
    })
}

/// Checks that `block` is the next block after `chain`.
fn check_extends(chain: &ChainInfo, block: &Block) -> Result<(), BlockRejected> {
    let number = block.header.number;
    if number != chain.height {
        return Err(BlockRejected::WrongNumber {
            number,
            height: chain.height,
        });
    }
    // The genesis block's previous hash is all zeros, which `unwrap_or_default` gives.
    if block.header.previous_hash != chain.current_hash.unwrap_or_default() {
        return Err(BlockRejected::WrongPreviousHash { number });
    }
    Ok(())
}

/// Checks the validation codes: one per transaction, and, when `validated` is required,
/// none `NOT_VALIDATED`. Absent codes are allowed only when not required.
fn check_validation_codes(block: &Block, validated: bool) -> Result<(), BlockRejected> {
    let number = block.header.number;
    let codes = &block.metadata.validation_codes;
    let complete = codes.len() == block.data.len();
    // Absent codes (an orderer's copy) are acceptable only when validation is not required.
    let absent_allowed = codes.is_empty() && !validated;
    if !complete && !absent_allowed {
        return Err(BlockRejected::ValidationCodeCount {
            number,
            codes: codes.len(),
            txs: block.data.len(),
        });
    }
    if validated && codes.contains(&ValidationCode::NotValidated) {
        return Err(BlockRejected::NotValidated { number });
    }
    Ok(())
}

/// Reads the meta records; `None` for a database that has never been initialized.
fn load_tip(store: &Store) -> Result<Option<Tip>, LedgerError> {
    let Some(format) = store.get(Column::Meta, FORMAT_KEY, 1)? else {
        return Ok(None);
    };
    let found = *format.first().ok_or(Corruption::Malformed {
        column: "meta",
        what: "format: empty".to_string(),
    })?;
    if found != FORMAT_VERSION {
        return Err(LedgerError::UnsupportedFormat {
            found,
            expected: FORMAT_VERSION,
        });
    }
    let record_bytes_max = 8 + Hash::BYTES;
    let chain = store
        .get(Column::Meta, CHAIN_KEY, record_bytes_max)?
        .ok_or(Corruption::MissingMetadata)?;
    let state = store
        .get(Column::Meta, SAVEPOINT_KEY, record_bytes_max)?
        .ok_or(Corruption::MissingMetadata)?;
    Ok(Some(Tip {
        chain: ChainInfo::decode(&chain, "chain")?,
        state: ChainInfo::decode(&state, "state savepoint")?,
    }))
}

/// Writes the meta records of an empty ledger, after checking that the database really is
/// empty (meta records lost while data remains is corruption, not a fresh ledger).
fn initialize(store: &Store) -> Result<Tip, LedgerError> {
    for column in Column::ALL {
        if store.last_key(column)?.is_some() {
            return Err(Corruption::MissingMetadata.into());
        }
    }
    let tip = Tip {
        chain: ChainInfo::default(),
        state: ChainInfo::default(),
    };
    let mut batch = store.batch();
    store.put(&mut batch, Column::Meta, FORMAT_KEY, &[FORMAT_VERSION])?;
    store.put(&mut batch, Column::Meta, CHAIN_KEY, &tip.chain.encode())?;
    store.put(&mut batch, Column::Meta, SAVEPOINT_KEY, &tip.state.encode())?;
    store.write(batch)?;
    assert_eq!(
        load_tip(store)?,
        Some(tip),
        "initial meta records must read back"
    );
    Ok(tip)
}

/// The read-back half of the paired assertions, for data a previous process wrote: the
/// last block is the one the chain record names, nothing is stored past it, and the
/// savepoint names a stored block. Disagreement is corruption, not a bug of this process.
fn check_tip_against_blocks(ledger: &Ledger, tip: &Tip) -> Result<(), LedgerError> {
    let last_stored = match ledger.store.last_key(Column::Blocks)? {
        Some(key) => Some(
            crate::keys::decode_block_number(&key).ok_or(Corruption::Malformed {
                column: "blocks",
                what: "key is not 8 bytes".to_string(),
            })?,
        ),
        None => None,
    };
    let expected_last = tip.chain.height.checked_sub(1);
    if last_stored > expected_last {
        return Err(Corruption::BlockBeyondHeight {
            number: last_stored.unwrap_or_default(),
            height: tip.chain.height,
        }
        .into());
    }
    check_names_block(ledger, &tip.chain, "chain record")?;
    if tip.state.height > tip.chain.height {
        return Err(Corruption::MetadataMismatch {
            what: format!(
                "state savepoint {} is above the height {}",
                tip.state.height, tip.chain.height
            ),
        }
        .into());
    }
    check_names_block(ledger, &tip.state, "state savepoint")
}

/// Checks that block `info.height - 1` is stored and has hash `info.current_hash`.
fn check_names_block(ledger: &Ledger, info: &ChainInfo, record: &str) -> Result<(), LedgerError> {
    let (Some(number), Some(hash)) = (info.height.checked_sub(1), info.current_hash) else {
        return Ok(());
    };
    let block = ledger
        .block(number)?
        .ok_or(Corruption::MissingBlock { number })?;
    if block.hash() != hash {
        return Err(Corruption::MetadataMismatch {
            what: format!("{record} names block {number} with a different hash"),
        }
        .into());
    }
    Ok(())
}

/// Checks the top `count` blocks below `height` (see [`Ledger::open`]): decoded under their
/// own number, data hash intact, indexed by hash, and each linked to the one below it.
fn check_recent_blocks(ledger: &Ledger, height: u64, count: u64) -> Result<(), LedgerError> {
    let first = height.saturating_sub(count);
    // The block below the window, so the window's first link is checked too.
    let mut previous = match first.checked_sub(1) {
        Some(number) => Some((
            number,
            ledger
                .block(number)?
                .ok_or(Corruption::MissingBlock { number })?
                .hash(),
        )),
        None => None,
    };
    for number in first..height {
        let block = ledger
            .block(number)?
            .ok_or(Corruption::MissingBlock { number })?;
        if let Some((previous_number, previous_hash)) = previous
            && block.header.previous_hash != previous_hash
        {
            return Err(Corruption::BrokenChain {
                number,
                previous: previous_number,
            }
            .into());
        }
        if block.verify_data_hash().is_err() {
            return Err(Corruption::DataHashMismatch { number }.into());
        }
        let hash = block.hash();
        let indexed = ledger
            .store
            .get(Column::BlockHashes, hash.as_bytes(), 8)?
            .and_then(|key| crate::keys::decode_block_number(&key));
        if indexed != Some(number) {
            return Err(Corruption::HashIndexMismatch { number }.into());
        }
        previous = Some((number, hash));
    }
    Ok(())
}
