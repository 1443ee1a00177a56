//! The block data hash: an SM3 Merkle tree over the envelope hashes, so a block header
//! commits to every envelope and its order.
//!
//! The tree is RFC 6962's Merkle Tree Hash (§2.1) with SM3 in place of SHA-256:
//!
//! - no leaves: `SM3("")`, the hash of the empty string;
//! - leaf: `SM3(0x00 ‖ envelope hash)`;
//! - inner node: `SM3(0x01 ‖ left ‖ right)`.
//!
//! The distinct prefixes keep a leaf from ever being read as an inner node (second
//! preimages). With an odd number of nodes on a level, the last one is carried up to the
//! next level unchanged rather than paired with itself; duplicating it, as Bitcoin does,
//! would give `[a, b, c]` and `[a, b, c, c]` the same root. Carrying up bottom-up yields
//! exactly RFC 6962's split at the largest power of two below n.

use netsettle_smcrypto::{Hash, Sm3Hasher, sm3};

const LEAF_PREFIX: u8 = 0x00;
const NODE_PREFIX: u8 = 0x01;

/// The Merkle root of `leaves` (the envelope hashes, in block order).
pub fn merkle_root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return sm3(b"");
    }
    let mut level: Vec<Hash> = leaves.iter().map(leaf_hash).collect();
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        let mut pairs = level.chunks_exact(2);
        for pair in &mut pairs {
            if let [left, right] = pair {
                next.push(node_hash(left, right));
            }
        }
        // The odd node out, if any, moves up unchanged.
        next.extend_from_slice(pairs.remainder());
        level = next;
    }
    level.first().copied().unwrap_or_else(|| sm3(b""))
}

fn leaf_hash(leaf: &Hash) -> Hash {
    let mut hasher = Sm3Hasher::new();
    hasher.update(&[LEAF_PREFIX]);
    hasher.update(leaf.as_bytes());
    hasher.finalize()
}

fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sm3Hasher::new();
    hasher.update(&[NODE_PREFIX]);
    hasher.update(left.as_bytes());
    hasher.update(right.as_bytes());
    hasher.finalize()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn leaves(n: u8) -> Vec<Hash> {
        (0..n).map(|i| sm3(&[i])).collect()
    }

    /// RFC 6962 §2.1 read literally: split at the largest power of two below n.
    fn rfc6962_root(leaves: &[Hash]) -> Hash {
        match leaves {
            [] => sm3(b""),
            [single] => leaf_hash(single),
            _ => {
                let mut split = 1;
                while split * 2 < leaves.len() {
                    split *= 2;
                }
                let (left, right) = leaves.split_at(split);
                node_hash(&rfc6962_root(left), &rfc6962_root(right))
            }
        }
    }

    fn hex(hash: Hash) -> String {
        hash.to_hex()
    }

    // Computed independently with Python's `cryptography` SM3:
    //   h = lambda b: SM3(b); L_i = h(bytes([i])); leaf = h(b"\0" + L); node = h(b"\1" + l + r)
    //   root([L0, L1, L2]) = node(node(leaf(L0), leaf(L1)), leaf(L2))
    #[test]
    fn hand_computed_three_leaves() {
        assert_eq!(hex(merkle_root(&leaves(3))), THREE_LEAVES_ROOT);
    }

    #[test]
    fn hand_computed_one_leaf() {
        assert_eq!(hex(merkle_root(&leaves(1))), ONE_LEAF_ROOT);
    }

    #[test]
    fn empty_is_sm3_of_nothing() {
        assert_eq!(
            hex(merkle_root(&[])),
            "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b"
        );
    }

    #[test]
    fn duplicating_the_last_leaf_changes_the_root() {
        let three = leaves(3);
        let mut four = three.clone();
        four.push(three[2]);
        assert_ne!(merkle_root(&three), merkle_root(&four));
    }

    #[test]
    fn order_matters() {
        let mut swapped = leaves(2);
        swapped.reverse();
        assert_ne!(merkle_root(&leaves(2)), merkle_root(&swapped));
    }

    proptest! {
        #[test]
        fn bottom_up_equals_rfc6962(n in 0u8..70) {
            let leaves = leaves(n);
            prop_assert_eq!(merkle_root(&leaves), rfc6962_root(&leaves));
        }
    }

    const ONE_LEAF_ROOT: &str = "7a31b79dcb4ce5660761181075d1a3995a471d80e2362747be9e49f474ca4f8d";
    const THREE_LEAVES_ROOT: &str =
        "0e77e7a65612d0bbb3c8e5d69e5e529528c690ac42a1c09465c30e8edff78cc8";
}
