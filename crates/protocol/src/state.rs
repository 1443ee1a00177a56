//! The world state as every reader sees it, whatever stores it: what a key holds, one page
//! of a range scan, one committed write of a key's history, and the rules a namespace or
//! key must meet. The ledger (RocksDB), the contract simulator and the in-memory state the
//! settlement audit replays on all speak these types, so a contract cannot tell them apart.
//!
//! Keys: non-empty, at most [`KEY_BYTES_MAX`] bytes. Simple keys may not start with `0x00`,
//! which marks composite keys (`0x00 ‖ type ‖ 0x00 ‖ attr₁ ‖ 0x00 ‖ …`, Fabric's layout), so
//! the two never collide and a range over simple keys (starting at [`SIMPLE_KEY_FIRST`])
//! never sees a composite key.

use crate::header::TxId;
use crate::limits::{KEY_BYTES_MAX, NAME_BYTES_MAX};
use crate::rwset::Version;

/// First byte of every composite key, and the separator after each of its parts.
pub const COMPOSITE_KEY_SEPARATOR: u8 = 0x00;

/// The smallest simple key: a range with an empty start key begins here, so it skips the
/// composite keys that all start with [`COMPOSITE_KEY_SEPARATOR`].
pub const SIMPLE_KEY_FIRST: &str = "\u{1}";

/// A world-state value and the version (block, tx) of the write that produced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionedValue {
    /// The value.
    pub value: Vec<u8>,
    /// Which transaction wrote it.
    pub version: Version,
}

/// One entry of a range or prefix query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateEntry {
    /// The key within its namespace.
    pub key: String,
    /// Value and version.
    pub value: VersionedValue,
}

/// One committed write to a key, as a history query reports it (oldest first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    /// Which transaction wrote it.
    pub version: Version,
    /// That transaction's id.
    pub tx_id: TxId,
    /// The value written; `None` for a delete.
    pub value: Option<Vec<u8>>,
}

/// A page of query results. `next` is `Some` when more entries may follow (the page is
/// full): pass it back as `after` to get them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T, C> {
    /// Entries in key (or version) order.
    pub entries: Vec<T>,
    /// Continuation: the last entry's key (or version), if the page is full.
    pub next: Option<C>,
}

impl<T, C> Page<T, C> {
    /// A page of `entries` asked for with `limit`: full (with `next` taken from its last
    /// entry) when it holds `limit` entries, the last page otherwise.
    pub fn of(entries: Vec<T>, limit: usize, next: impl FnOnce(&T) -> C) -> Self {
        let next = if entries.len() == limit {
            entries.last().map(next)
        } else {
            None
        };
        Page { entries, next }
    }
}

/// A namespace or key that will not be stored or queried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Namespaces name a contract and cannot be empty.
    #[error("namespace is empty")]
    EmptyNamespace,
    /// Namespace longer than [`NAME_BYTES_MAX`].
    #[error("namespace of {len} bytes is too long")]
    NamespaceTooLong {
        /// Length given.
        len: usize,
    },
    /// State keys cannot be empty.
    #[error("key is empty")]
    EmptyKey,
    /// Key longer than [`KEY_BYTES_MAX`].
    #[error("key of {len} bytes is too long")]
    KeyTooLong {
        /// Length given.
        len: usize,
    },
    /// Simple keys may not start with `0x00`, which marks composite keys.
    #[error("simple key starts with 0x00, reserved for composite keys")]
    SimpleKeyStartsWithNul,
    /// A composite key needs an object type.
    #[error("composite key has an empty object type")]
    EmptyObjectType,
    /// Composite-key parts may not contain `0x00`, the part separator.
    #[error("composite key part contains 0x00")]
    CompositePartContainsNul,
    /// Part longer than [`crate::limits::COMPOSITE_PART_BYTES_MAX`].
    #[error("composite key part of {len} bytes is too long")]
    CompositePartTooLong {
        /// Length given.
        len: usize,
    },
    /// More attributes than [`crate::limits::COMPOSITE_ATTRIBUTES_MAX`].
    #[error("composite key has {count} attributes, too many")]
    TooManyAttributes {
        /// Attributes given.
        count: usize,
    },
}

/// Checks a namespace: non-empty, at most [`NAME_BYTES_MAX`] bytes.
pub fn check_namespace(namespace: &str) -> Result<(), KeyError> {
    if namespace.is_empty() {
        return Err(KeyError::EmptyNamespace);
    }
    if namespace.len() > NAME_BYTES_MAX {
        return Err(KeyError::NamespaceTooLong {
            len: namespace.len(),
        });
    }
    Ok(())
}

/// Checks a state key (simple or composite): non-empty, at most [`KEY_BYTES_MAX`] bytes.
pub fn check_key(key: &[u8]) -> Result<(), KeyError> {
    if key.is_empty() {
        return Err(KeyError::EmptyKey);
    }
    if key.len() > KEY_BYTES_MAX {
        return Err(KeyError::KeyTooLong { len: key.len() });
    }
    Ok(())
}

/// Checks a simple key: a valid key that does not start with the composite marker.
pub fn check_simple_key(key: &[u8]) -> Result<(), KeyError> {
    check_key(key)?;
    if key.first() == Some(&COMPOSITE_KEY_SEPARATOR) {
        return Err(KeyError::SimpleKeyStartsWithNul);
    }
    Ok(())
}

/// Checks a write of a valid transaction: a valid namespace and a valid key, simple or
/// composite. The peer marks transactions whose writes fail this `BAD_RWSET`, since the
/// ledger refuses to commit them.
pub fn check_write(namespace: &str, key: &str) -> Result<(), KeyError> {
    check_namespace(namespace)?;
    check_key(key.as_bytes())
}

/// Whether `key` lies in the simple-key range `[start, end)` as every state reader bounds
/// it: an empty `start` means the first simple key, an empty `end` the end of the
/// namespace.
pub fn in_simple_range(key: &str, start: &str, end: &str) -> bool {
    let lower = if start.is_empty() {
        SIMPLE_KEY_FIRST
    } else {
        start
    };
    key >= lower && (end.is_empty() || key < end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked() {
        assert_eq!(check_write("", "k"), Err(KeyError::EmptyNamespace));
        assert_eq!(check_write("ns", ""), Err(KeyError::EmptyKey));
        let long = vec![b'k'; KEY_BYTES_MAX + 1];
        assert_eq!(
            check_key(&long),
            Err(KeyError::KeyTooLong {
                len: KEY_BYTES_MAX + 1
            })
        );
        assert_eq!(
            check_namespace(&"n".repeat(NAME_BYTES_MAX + 1)),
            Err(KeyError::NamespaceTooLong {
                len: NAME_BYTES_MAX + 1
            })
        );
        assert_eq!(
            check_simple_key(b"\0x"),
            Err(KeyError::SimpleKeyStartsWithNul)
        );
        assert_eq!(check_simple_key(b"x"), Ok(()));
    }

    #[test]
    fn simple_ranges_skip_composite_keys() {
        assert!(!in_simple_range("\u{0}line\u{0}", "", ""));
        assert!(in_simple_range("a", "", ""));
        assert!(in_simple_range("b", "b", "c"));
        assert!(!in_simple_range("c", "b", "c"));
        assert!(!in_simple_range("a", "b", ""));
    }

    #[test]
    fn a_full_page_names_its_last_entry() {
        let full = Page::of(vec![1, 2], 2, |n| *n);
        assert_eq!(full.next, Some(2));
        let last = Page::of(vec![1], 2, |n| *n);
        assert_eq!(last.next, None);
    }
}
