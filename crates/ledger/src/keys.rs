//! Byte encodings of every RocksDB key the ledger writes, chosen so that RocksDB's
//! bytewise order is the order queries need and every prefix scan is exact.
//!
//! - block number: `u64` big-endian, so blocks iterate in height order;
//! - state key: `ns_len: u16 BE ‖ namespace ‖ key`. The length prefix makes the namespace
//!   boundary unambiguous (namespace `ab` never matches a scan over namespace `a`), and
//!   inside one namespace keys sort as their raw bytes;
//! - history key: `ns_len: u16 BE ‖ namespace ‖ key_len: u16 BE ‖ key ‖ block: u64 BE ‖ tx:
//!   u32 BE`. The key length makes the history of `a` disjoint from the history of `ab`, and a
//!   key's entries sort by (block, tx), the order they were written;
//! - composite key (the contract's "object type + attributes" keys, as in Fabric):
//!   `0x00 ‖ type ‖ 0x00 ‖ attr₁ ‖ 0x00 ‖ … ‖ attrₙ ‖ 0x00`. Parts may not contain `0x00`,
//!   so each part ends at the first `0x00` after it and a prefix of whole parts selects
//!   exactly the keys that start with those parts (`[a]` never matches `[ab]`). Simple keys
//!   may not start with `0x00`, so simple and composite keys never collide and range
//!   queries over simple keys (which start at `0x01`) never see composite keys.

use netsettle_protocol::limits::{
    COMPOSITE_ATTRIBUTES_MAX, COMPOSITE_PART_BYTES_MAX, KEY_BYTES_MAX,
};
use netsettle_protocol::{
    COMPOSITE_KEY_SEPARATOR as COMPOSITE_SEPARATOR, KeyError, SIMPLE_KEY_FIRST, check_key,
    check_namespace,
};

/// Bytes of the `(block, tx)` suffix of a history key.
pub(crate) const VERSION_BYTES: usize = 12;

/// Encodes a block number so that keys sort in height order.
pub(crate) fn block_number_key(number: u64) -> [u8; 8] {
    number.to_be_bytes()
}

/// Decodes a block-number key; `None` if it is not 8 bytes.
pub(crate) fn decode_block_number(bytes: &[u8]) -> Option<u64> {
    let array: [u8; 8] = bytes.try_into().ok()?;
    Some(u64::from_be_bytes(array))
}

/// `ns_len ‖ namespace`: the prefix shared by every state key of one namespace.
pub(crate) fn namespace_prefix(namespace: &str) -> Result<Vec<u8>, KeyError> {
    check_namespace(namespace)?;
    let len = u16::try_from(namespace.len()).map_err(|_| KeyError::NamespaceTooLong {
        len: namespace.len(),
    })?;
    let mut out = Vec::with_capacity(2 + namespace.len() + KEY_BYTES_MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(namespace.as_bytes());
    Ok(out)
}

/// The state-column key of `(namespace, key)`.
pub(crate) fn state_key(namespace: &str, key: &[u8]) -> Result<Vec<u8>, KeyError> {
    check_key(key)?;
    let mut out = namespace_prefix(namespace)?;
    out.extend_from_slice(key);
    Ok(out)
}

/// Splits a state-column key back into `(namespace, key)`; `None` if malformed.
pub(crate) fn split_state_key(bytes: &[u8]) -> Option<(&str, &[u8])> {
    let len: [u8; 2] = bytes.get(..2)?.try_into().ok()?;
    let len = usize::from(u16::from_be_bytes(len));
    let rest = bytes.get(2..)?;
    let namespace = rest.get(..len)?;
    let key = rest.get(len..)?;
    let namespace = core::str::from_utf8(namespace).ok()?;
    if check_namespace(namespace).is_err() || check_key(key).is_err() {
        return None;
    }
    Some((namespace, key))
}

/// `ns_len ‖ namespace ‖ key_len ‖ key`: the prefix of every history entry of one key.
pub(crate) fn history_prefix(namespace: &str, key: &[u8]) -> Result<Vec<u8>, KeyError> {
    check_key(key)?;
    let key_len = u16::try_from(key.len()).map_err(|_| KeyError::KeyTooLong { len: key.len() })?;
    let mut out = namespace_prefix(namespace)?;
    out.extend_from_slice(&key_len.to_be_bytes());
    out.extend_from_slice(key);
    Ok(out)
}

/// The history-column key of the write of `(namespace, key)` by transaction `tx` of
/// block `block`.
pub(crate) fn history_key(
    namespace: &str,
    key: &[u8],
    block: u64,
    tx: u32,
) -> Result<Vec<u8>, KeyError> {
    let mut out = history_prefix(namespace, key)?;
    out.extend_from_slice(&block.to_be_bytes());
    out.extend_from_slice(&tx.to_be_bytes());
    Ok(out)
}

/// The `(block, tx)` suffix of a history key that starts with `prefix`; `None` if the
/// key is not exactly `prefix` plus 12 bytes.
pub(crate) fn split_history_version(bytes: &[u8], prefix: &[u8]) -> Option<(u64, u32)> {
    let suffix = bytes.strip_prefix(prefix)?;
    if suffix.len() != VERSION_BYTES {
        return None;
    }
    let block: [u8; 8] = suffix.get(..8)?.try_into().ok()?;
    let tx: [u8; 4] = suffix.get(8..)?.try_into().ok()?;
    Some((u64::from_be_bytes(block), u32::from_be_bytes(tx)))
}

/// The smallest byte string greater than every string that starts with `prefix`, or
/// `None` if there is none (the prefix is empty or all `0xFF`). Used as an exclusive upper
/// bound so that a prefix scan stops exactly at the end of the prefix.
pub(crate) fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut out = prefix.to_vec();
    while let Some(last) = out.pop() {
        if let Some(next) = last.checked_add(1) {
            out.push(next);
            return Some(out);
        }
    }
    None
}

/// The `[lower, upper)` bounds of a simple-key range query over one namespace. An empty
/// `start` means the first simple key, an empty `end` the end of the namespace.
pub(crate) fn simple_range_bounds(
    namespace: &str,
    start: &[u8],
    end: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), KeyError> {
    let prefix = namespace_prefix(namespace)?;
    let start = if start.is_empty() {
        SIMPLE_KEY_FIRST.as_bytes()
    } else {
        check_key(start)?;
        start
    };
    let mut lower = prefix.clone();
    lower.extend_from_slice(start);
    let upper = if end.is_empty() {
        // A namespace prefix starts with a length below 0xFFFF, so it always has a
        // successor; the error arm is unreachable for valid namespaces.
        prefix_successor(&prefix).ok_or(KeyError::EmptyNamespace)?
    } else {
        check_key(end)?;
        let mut upper = prefix;
        upper.extend_from_slice(end);
        upper
    };
    Ok((lower, upper))
}

/// A composite key: an object type and attributes, encoded so that prefix scans over
/// whole leading parts are exact. See the module docs for the layout.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CompositeKey(Vec<u8>);

impl CompositeKey {
    /// Builds the key of `object_type` with `attributes`. Parts must be non-empty (the
    /// type) or possibly empty (attributes), at most [`COMPOSITE_PART_BYTES_MAX`] bytes,
    /// and free of `0x00`.
    pub fn new(object_type: &str, attributes: &[&str]) -> Result<Self, KeyError> {
        let encoded = encode_composite(object_type, attributes)?;
        check_key(&encoded)?;
        Ok(CompositeKey(encoded))
    }

    /// The prefix selecting every key of `object_type` whose first attributes are exactly
    /// `attributes` (possibly none). Not itself a key: use it with a prefix scan.
    pub fn prefix(object_type: &str, attributes: &[&str]) -> Result<Self, KeyError> {
        let encoded = encode_composite(object_type, attributes)?;
        if encoded.len() > KEY_BYTES_MAX {
            return Err(KeyError::KeyTooLong { len: encoded.len() });
        }
        Ok(CompositeKey(encoded))
    }

    /// The encoded bytes, as stored in the state.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Splits encoded bytes back into `(object_type, attributes)`; `None` if the bytes are
    /// not a composite key.
    pub fn split(bytes: &[u8]) -> Option<(&str, Vec<&str>)> {
        let body = bytes.strip_prefix(&[COMPOSITE_SEPARATOR])?;
        let body = body.strip_suffix(&[COMPOSITE_SEPARATOR])?;
        let mut parts = body.split(|&b| b == COMPOSITE_SEPARATOR);
        let object_type = core::str::from_utf8(parts.next()?).ok()?;
        if object_type.is_empty() {
            return None;
        }
        let mut attributes = Vec::new();
        for part in parts {
            if attributes.len() >= COMPOSITE_ATTRIBUTES_MAX {
                return None;
            }
            attributes.push(core::str::from_utf8(part).ok()?);
        }
        Some((object_type, attributes))
    }
}

impl AsRef<[u8]> for CompositeKey {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

fn encode_composite(object_type: &str, attributes: &[&str]) -> Result<Vec<u8>, KeyError> {
    if object_type.is_empty() {
        return Err(KeyError::EmptyObjectType);
    }
    if attributes.len() > COMPOSITE_ATTRIBUTES_MAX {
        return Err(KeyError::TooManyAttributes {
            count: attributes.len(),
        });
    }
    let mut out = vec![COMPOSITE_SEPARATOR];
    for part in core::iter::once(&object_type).chain(attributes) {
        if part.len() > COMPOSITE_PART_BYTES_MAX {
            return Err(KeyError::CompositePartTooLong { len: part.len() });
        }
        if part.as_bytes().contains(&COMPOSITE_SEPARATOR) {
            return Err(KeyError::CompositePartContainsNul);
        }
        out.extend_from_slice(part.as_bytes());
        out.push(COMPOSITE_SEPARATOR);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netsettle_protocol::limits::NAME_BYTES_MAX;
    use proptest::prelude::*;

    #[test]
    fn block_numbers_sort_by_height() {
        assert!(block_number_key(255) < block_number_key(256));
        assert!(block_number_key(0) < block_number_key(u64::MAX));
        assert_eq!(decode_block_number(&block_number_key(77)), Some(77));
        assert_eq!(decode_block_number(&[1, 2, 3]), None);
    }

    #[test]
    fn namespace_prefix_is_exact() {
        let a = state_key("a", b"bx").unwrap();
        let ab = state_key("ab", b"x").unwrap();
        // Without the length prefix both would be "abx".
        assert_ne!(a, ab);
        assert!(!ab.starts_with(&namespace_prefix("a").unwrap()));
        assert_eq!(split_state_key(&a), Some(("a", &b"bx"[..])));
    }

    #[test]
    fn keys_are_checked() {
        assert_eq!(state_key("", b"k"), Err(KeyError::EmptyNamespace));
        assert_eq!(state_key("ns", b""), Err(KeyError::EmptyKey));
        let long = vec![b'k'; KEY_BYTES_MAX + 1];
        assert_eq!(
            state_key("ns", &long),
            Err(KeyError::KeyTooLong {
                len: KEY_BYTES_MAX + 1
            })
        );
        let long_ns = "n".repeat(NAME_BYTES_MAX + 1);
        assert_eq!(
            namespace_prefix(&long_ns),
            Err(KeyError::NamespaceTooLong {
                len: NAME_BYTES_MAX + 1
            })
        );
    }

    #[test]
    fn history_of_a_key_is_disjoint_from_longer_keys() {
        let prefix_a = history_prefix("ns", b"a").unwrap();
        let entry_ab = history_key("ns", b"ab", 1, 0).unwrap();
        assert!(!entry_ab.starts_with(&prefix_a));
        let entry_a = history_key("ns", b"a", 7, 3).unwrap();
        assert_eq!(split_history_version(&entry_a, &prefix_a), Some((7, 3)));
        assert!(history_key("ns", b"a", 1, 9).unwrap() < history_key("ns", b"a", 2, 0).unwrap());
    }

    #[test]
    fn prefix_successor_bounds() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_successor(&[0xff, 0xff]), None);
        assert_eq!(prefix_successor(&[]), None);
    }

    #[test]
    fn composite_prefix_is_exact() {
        let key = CompositeKey::new("line", &["2026-10", "ab"]).unwrap();
        let prefix_a = CompositeKey::prefix("line", &["2026-10", "a"]).unwrap();
        let prefix_ab = CompositeKey::prefix("line", &["2026-10", "ab"]).unwrap();
        let prefix_period = CompositeKey::prefix("line", &["2026-10"]).unwrap();
        assert!(!key.as_bytes().starts_with(prefix_a.as_bytes()));
        assert!(key.as_bytes().starts_with(prefix_ab.as_bytes()));
        assert!(key.as_bytes().starts_with(prefix_period.as_bytes()));
        let other_type = CompositeKey::new("lines", &["2026-10"]).unwrap();
        assert!(
            !other_type
                .as_bytes()
                .starts_with(CompositeKey::prefix("line", &[]).unwrap().as_bytes())
        );
        assert_eq!(
            CompositeKey::split(key.as_bytes()),
            Some(("line", vec!["2026-10", "ab"]))
        );
    }

    #[test]
    fn composite_parts_are_checked() {
        assert_eq!(CompositeKey::new("", &[]), Err(KeyError::EmptyObjectType));
        assert_eq!(
            CompositeKey::new("t", &["a\0b"]),
            Err(KeyError::CompositePartContainsNul)
        );
        let many = vec!["x"; COMPOSITE_ATTRIBUTES_MAX + 1];
        assert_eq!(
            CompositeKey::new("t", &many),
            Err(KeyError::TooManyAttributes {
                count: COMPOSITE_ATTRIBUTES_MAX + 1
            })
        );
        assert_eq!(CompositeKey::split(b"plain"), None);
        assert_eq!(CompositeKey::split(b"\0\0"), None);
    }

    #[test]
    fn simple_range_skips_composite_keys() {
        let (lower, upper) = simple_range_bounds("ns", b"", b"").unwrap();
        let composite = state_key("ns", CompositeKey::new("t", &[]).unwrap().as_bytes()).unwrap();
        assert!(composite < lower);
        let simple = state_key("ns", b"\x01").unwrap();
        assert!(lower <= simple && simple < upper);
        let next_namespace = state_key("nt", b"a").unwrap();
        assert!(next_namespace >= upper);
    }

    fn part() -> impl Strategy<Value = String> {
        "[a-z0-9\\-]{0,6}"
    }

    proptest! {
        // A prefix built from the first n attributes of a key matches it; a prefix with a
        // different i-th attribute never does, whatever the lengths.
        #[test]
        fn composite_prefix_matches_iff_parts_equal(
            object_type in "[a-z]{1,4}",
            attrs in proptest::collection::vec(part(), 0..5),
            other in proptest::collection::vec(part(), 0..5),
        ) {
            let attr_refs: Vec<&str> = attrs.iter().map(String::as_str).collect();
            let other_refs: Vec<&str> = other.iter().map(String::as_str).collect();
            let key = CompositeKey::new(&object_type, &attr_refs).unwrap();
            let prefix = CompositeKey::prefix(&object_type, &other_refs).unwrap();
            let expected = other.len() <= attrs.len()
                && attrs.iter().zip(&other).all(|(a, b)| a == b);
            prop_assert_eq!(key.as_bytes().starts_with(prefix.as_bytes()), expected);
            let split = CompositeKey::split(key.as_bytes());
            prop_assert_eq!(split, Some((object_type.as_str(), attr_refs)));
        }

        // Inside one namespace, state keys sort as the raw keys do.
        #[test]
        fn state_keys_preserve_order(
            a in proptest::collection::vec(any::<u8>(), 1..20),
            b in proptest::collection::vec(any::<u8>(), 1..20),
        ) {
            let ka = state_key("ns", &a).unwrap();
            let kb = state_key("ns", &b).unwrap();
            prop_assert_eq!(ka.cmp(&kb), a.cmp(&b));
        }
    }
}
