//! Ledger errors, grouped by what the caller can do about them: fix the key it passed
//! ([`KeyError`], the protocol's key rules), fix the block it passed ([`BlockRejected`]), or stop and repair the
//! database ([`Corruption`], [`LedgerError::Db`]).

/// Everything a ledger operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// RocksDB reported an I/O error, a checksum mismatch, or could not open the
    /// directory (missing, locked by another process).
    #[error("rocksdb: {0}")]
    Db(#[from] rocksdb::Error),
    /// A namespace, key or composite-key part the caller passed is not acceptable.
    #[error("invalid key: {0}")]
    Key(#[from] netsettle_protocol::KeyError),
    /// A block handed to `commit_block` or `append_block` does not extend the chain.
    #[error("block rejected: {0}")]
    Rejected(#[from] BlockRejected),
    /// What is on disk contradicts itself; the ledger must not be served until repaired
    /// (re-synced from a healthy node).
    #[error("ledger is corrupt: {0}")]
    Corrupt(#[from] Corruption),
    /// The database was written by an incompatible version of this crate.
    #[error("ledger format version {found} is not supported (expected {expected})")]
    UnsupportedFormat {
        /// Version recorded in the database.
        found: u8,
        /// Version this build writes.
        expected: u8,
    },
    /// A query asked for more entries than one page may hold.
    #[error("page of {requested} entries exceeds the maximum of {max}")]
    PageTooLarge {
        /// Entries requested.
        requested: usize,
        /// [`crate::limits::PAGE_ENTRIES_MAX`].
        max: usize,
    },
    /// A write was attempted on a ledger opened with `Ledger::open_read_only`.
    #[error("ledger is open read-only")]
    ReadOnly,
    /// An earlier operation panicked while holding the writer lock (a failed assertion
    /// mid-commit); the in-memory tip may not match the disk, so the handle refuses
    /// further use. Reopen the ledger.
    #[error("ledger writer lock poisoned by an earlier panic; reopen the ledger")]
    Poisoned,
    /// An outbox operation was refused (see [`crate::Outbox`]).
    #[error("outbox: {0}")]
    Outbox(#[from] crate::outbox::OutboxError),
    /// `verify` would have to hold more state entries in memory than it allows.
    #[error("state has more than {max} entries; too large to verify in memory")]
    StateTooLargeToVerify {
        /// [`crate::limits::VERIFY_STATE_ENTRIES_MAX`].
        max: usize,
    },
}

/// Why a block was refused by `commit_block` or `append_block`. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlockRejected {
    /// The block's number is not the current height.
    #[error("block number {number} is not the next height {height}")]
    WrongNumber {
        /// Number in the block header.
        number: u64,
        /// Current height (number of blocks stored).
        height: u64,
    },
    /// The block's previous-hash field is not the hash of the last stored block.
    #[error("block {number} does not link to the last block's hash")]
    WrongPreviousHash {
        /// Number in the block header.
        number: u64,
    },
    /// The block's data hash is not the Merkle root of its envelopes.
    #[error("block {number} data hash does not match its envelopes")]
    WrongDataHash {
        /// Number in the block header.
        number: u64,
    },
    /// The committing peer must set one validation code per transaction.
    #[error("block {number} has {codes} validation codes for {txs} transactions")]
    ValidationCodeCount {
        /// Number in the block header.
        number: u64,
        /// Codes in the metadata.
        codes: usize,
        /// Envelopes in the block.
        txs: usize,
    },
    /// A validated block carries `NOT_VALIDATED` codes; only `append_block` takes those.
    #[error("block {number} has transactions marked NOT_VALIDATED")]
    NotValidated {
        /// Number in the block header.
        number: u64,
    },
    /// The world state lags the block store at a block without validation codes, so a
    /// validated block cannot be applied on top of it.
    #[error("world state is at height {state_height} of {height}: blocks await validation")]
    StateBehind {
        /// Height of the applied state.
        state_height: u64,
        /// Height of the block store.
        height: u64,
    },
    /// A transaction marked valid reuses an id already on the ledger; the peer should
    /// have marked it as a duplicate.
    #[error("block {number} tx {index} is marked valid but its id is already on the ledger")]
    DuplicateValidTx {
        /// Number in the block header.
        number: u64,
        /// Position of the transaction in the block.
        index: usize,
    },
    /// A valid transaction writes a key the ledger cannot store.
    #[error("block {number} tx {index}: {error}")]
    BadWrite {
        /// Number in the block header.
        number: u64,
        /// Position of the transaction in the block.
        index: usize,
        /// What is wrong with the key.
        error: netsettle_protocol::KeyError,
    },
    /// The block could not be encoded within the protocol's limits.
    #[error("block {number} cannot be encoded: {reason}")]
    Encoding {
        /// Number in the block header.
        number: u64,
        /// The codec's explanation.
        reason: String,
    },
    /// The caller gave a different number of transaction ids than the block has
    /// envelopes ([`crate::Ledger::append_built_block`]).
    #[error("block {number} has {envelopes} envelopes, the caller gave {ids} transaction ids")]
    TxIdsMismatch {
        /// Number in the block header.
        number: u64,
        /// Envelopes in the block.
        envelopes: usize,
        /// Ids given.
        ids: usize,
    },
}

/// A contradiction found in what is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Corruption {
    /// A column family the ledger always creates is missing.
    #[error("column family {name} is missing")]
    MissingColumnFamily {
        /// Column family name.
        name: &'static str,
    },
    /// A value is longer than anything the ledger writes to that column.
    #[error("value of {len} bytes in {column} exceeds the maximum of {max}")]
    ValueTooLong {
        /// Column family name.
        column: &'static str,
        /// Length found.
        len: usize,
        /// Largest length the ledger writes there.
        max: usize,
    },
    /// A record has the wrong shape (length, tag, or encoding).
    #[error("malformed record in {column}: {what}")]
    Malformed {
        /// Column family name.
        column: &'static str,
        /// Which record and what is wrong.
        what: String,
    },
    /// Blocks or state exist but the chain metadata does not.
    #[error("data present but chain metadata missing")]
    MissingMetadata,
    /// A block below the recorded height is absent.
    #[error("block {number} is missing")]
    MissingBlock {
        /// Block number.
        number: u64,
    },
    /// A block at or above the recorded height exists.
    #[error("block {number} exists beyond the recorded height {height}")]
    BlockBeyondHeight {
        /// Block number found.
        number: u64,
        /// Height in the metadata.
        height: u64,
    },
    /// A stored block does not decode.
    #[error("block {number} does not decode: {reason}")]
    UndecodableBlock {
        /// Key under which it is stored.
        number: u64,
        /// The codec's explanation.
        reason: String,
    },
    /// A block near the top of the chain does not name the previous block's hash.
    #[error("block {number} does not link to block {previous}'s hash")]
    BrokenChain {
        /// The block whose previous-hash field is wrong.
        number: u64,
        /// The block it should link to.
        previous: u64,
    },
    /// A block's data hash is not the Merkle root of its envelopes (its bytes changed
    /// after it was written).
    #[error("block {number} data hash does not match its envelopes")]
    DataHashMismatch {
        /// Block number.
        number: u64,
    },
    /// The hash index does not map a block's hash to its number.
    #[error("hash index does not point at block {number}")]
    HashIndexMismatch {
        /// Block number.
        number: u64,
    },
    /// Stored metadata and the stored blocks disagree.
    #[error("metadata disagrees with blocks: {what}")]
    MetadataMismatch {
        /// What disagrees.
        what: String,
    },
}
