//! The read–write set an endorser records while simulating a contract: what it read (with
//! the version it saw), what it wrote, and which key ranges it scanned. Committing peers
//! replay the versions against their world state (MVCC) and apply the writes of valid
//! transactions.
//!
//! Canonical form: namespaces are strictly sorted by name, and within one namespace reads
//! and writes are strictly sorted by key (so no key appears twice). Endorsers must build
//! their sets that way, so two honest endorsers produce byte-identical results.

use crate::codec::{check_count, check_len, check_sorted_by};
use crate::error::InvalidMessage;
use crate::header::check_name;
use crate::limits::{
    KEY_BYTES_MAX, RANGE_QUERIES_MAX, RW_SET_ENTRIES_MAX, RW_SET_NAMESPACES_MAX, VALUE_BYTES_MAX,
};

/// Where a state value was last written: the block, and the transaction's index in it.
/// Orders by block, then transaction.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Version {
    /// Block number.
    pub block: u64,
    /// Index of the transaction within the block.
    pub tx: u32,
}

impl core::fmt::Display for Version {
    /// `block:tx`, e.g. `12:3`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}:{}", self.block, self.tx)
    }
}

/// One key read during simulation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KvRead {
    /// The key.
    pub key: String,
    /// The version seen; `None` when the key did not exist.
    pub version: Option<Version>,
}

/// One key written during simulation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KvWrite {
    /// The key.
    pub key: String,
    /// The new value; `None` deletes the key.
    #[serde(with = "crate::codec::option_bytes")]
    pub value: Option<Vec<u8>>,
}

impl KvWrite {
    /// Whether this write deletes its key.
    pub fn is_delete(&self) -> bool {
        self.value.is_none()
    }
}

/// A range scan `[start_key, end_key)` and every key it returned, so a committing peer can
/// re-run it and detect phantoms (keys inserted or deleted in the range since).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RangeQueryRead {
    /// First key of the range, inclusive.
    pub start_key: String,
    /// End of the range, exclusive; empty means "to the end of the namespace".
    pub end_key: String,
    /// Whether the contract read the iterator to its end (otherwise only the returned
    /// prefix is checked).
    pub exhausted: bool,
    /// The keys returned, in iteration order, with the versions seen.
    pub reads: Vec<KvRead>,
}

/// Reads, range reads and writes of one contract namespace.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NamespaceReadWriteSet {
    /// The namespace, normally the contract name.
    pub namespace: String,
    /// Point reads, strictly sorted by key.
    pub reads: Vec<KvRead>,
    /// Range scans, in the order the contract ran them.
    pub range_queries: Vec<RangeQueryRead>,
    /// Writes and deletes, strictly sorted by key.
    pub writes: Vec<KvWrite>,
}

/// Everything one transaction read and wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReadWriteSet {
    /// Per namespace, strictly sorted by namespace name.
    pub namespaces: Vec<NamespaceReadWriteSet>,
}

impl ReadWriteSet {
    /// Checks limits and the canonical order.
    pub fn check(&self) -> Result<(), InvalidMessage> {
        check_count(
            "rw-set namespaces",
            self.namespaces.len(),
            RW_SET_NAMESPACES_MAX,
        )?;
        check_sorted_by("rw-set namespaces", &self.namespaces, |ns| {
            ns.namespace.as_str()
        })?;
        let mut entries: usize = 0;
        for namespace in &self.namespaces {
            entries = entries.saturating_add(namespace.check()?);
        }
        check_count("rw-set entries", entries, RW_SET_ENTRIES_MAX)
    }

    /// All writes of all namespaces, as `(namespace, write)`.
    pub fn writes(&self) -> impl Iterator<Item = (&str, &KvWrite)> {
        self.namespaces.iter().flat_map(|ns| {
            ns.writes
                .iter()
                .map(move |write| (ns.namespace.as_str(), write))
        })
    }
}

impl NamespaceReadWriteSet {
    /// Checks limits and order; returns how many entries (reads, range reads, writes) it
    /// holds, which the caller adds up against the per-transaction limit.
    fn check(&self) -> Result<usize, InvalidMessage> {
        check_name("rw-set namespace", &self.namespace)?;
        check_count("rw-set reads", self.reads.len(), RW_SET_ENTRIES_MAX)?;
        check_count("rw-set writes", self.writes.len(), RW_SET_ENTRIES_MAX)?;
        check_count(
            "rw-set range queries",
            self.range_queries.len(),
            RANGE_QUERIES_MAX,
        )?;
        check_sorted_by("rw-set reads", &self.reads, |read| read.key.as_str())?;
        check_sorted_by("rw-set writes", &self.writes, |write| write.key.as_str())?;
        for read in &self.reads {
            check_len("read key", read.key.len(), KEY_BYTES_MAX)?;
        }
        for write in &self.writes {
            check_len("write key", write.key.len(), KEY_BYTES_MAX)?;
            let value_len = write.value.as_ref().map_or(0, Vec::len);
            check_len("write value", value_len, VALUE_BYTES_MAX)?;
        }
        let mut entries = self.reads.len().saturating_add(self.writes.len());
        for range in &self.range_queries {
            check_len("range start key", range.start_key.len(), KEY_BYTES_MAX)?;
            check_len("range end key", range.end_key.len(), KEY_BYTES_MAX)?;
            check_count("range reads", range.reads.len(), RW_SET_ENTRIES_MAX)?;
            for read in &range.reads {
                check_len("range read key", read.key.len(), KEY_BYTES_MAX)?;
            }
            entries = entries.saturating_add(range.reads.len()).saturating_add(1);
        }
        Ok(entries)
    }
}
