//! The records of the `meta` column: where the chain ends, how far the world state has
//! been applied, and the on-disk format version. Each is a fixed-layout record, so
//! decoding checks one length and never allocates from a stored size.

use netsettle_smcrypto::Hash;

use crate::error::Corruption;

/// Key of the chain record: `height: u64 BE`, then the 32-byte hash of the last block when
/// `height > 0`.
pub(crate) const CHAIN_KEY: &[u8] = b"chain";
/// Key of the state savepoint, same layout as the chain record: the world state and history
/// hold exactly the writes of blocks `0..height`.
pub(crate) const SAVEPOINT_KEY: &[u8] = b"state_savepoint";
/// Key of the format version byte.
pub(crate) const FORMAT_KEY: &[u8] = b"format";

/// The on-disk layout this build reads and writes. Bump it when any key or value encoding
/// changes, so an old node refuses a new ledger instead of misreading it.
pub(crate) const FORMAT_VERSION: u8 = 1;

/// Height and tip of a chain (or of the applied world state).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ChainInfo {
    /// Number of blocks: the next block's number.
    pub height: u64,
    /// Header hash of block `height - 1`; `None` for an empty chain.
    pub current_hash: Option<Hash>,
}

impl ChainInfo {
    /// The chain after appending a block with header hash `hash`. Panics on height
    /// overflow, which would take 2⁶⁴ blocks.
    pub(crate) fn extended(self, hash: Hash) -> ChainInfo {
        let height = self.height.checked_add(1);
        assert!(height.is_some(), "block height overflow");
        ChainInfo {
            height: height.unwrap_or(u64::MAX),
            current_hash: Some(hash),
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        // Both fields or neither: an empty chain has no hash, a non-empty one always has.
        assert_eq!(self.height == 0, self.current_hash.is_none());
        let mut out = Vec::with_capacity(8 + Hash::BYTES);
        out.extend_from_slice(&self.height.to_be_bytes());
        if let Some(hash) = self.current_hash {
            out.extend_from_slice(hash.as_bytes());
        }
        out
    }

    pub(crate) fn decode(bytes: &[u8], record: &str) -> Result<ChainInfo, Corruption> {
        let malformed = |what: &str| Corruption::Malformed {
            column: "meta",
            what: format!("{record}: {what}"),
        };
        let height: [u8; 8] = bytes
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| malformed("shorter than 8 bytes"))?;
        let height = u64::from_be_bytes(height);
        let rest = bytes.get(8..).unwrap_or_default();
        let current_hash = match (height, rest.len()) {
            (0, 0) => None,
            (1.., Hash::BYTES) => {
                Some(Hash::from_slice(rest).map_err(|_| malformed("hash is not 32 bytes"))?)
            }
            _ => return Err(malformed("hash does not match height")),
        };
        Ok(ChainInfo {
            height,
            current_hash,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netsettle_smcrypto::sm3;

    #[test]
    fn chain_info_round_trips() {
        let empty = ChainInfo::default();
        assert_eq!(ChainInfo::decode(&empty.encode(), "chain"), Ok(empty));
        let one = empty.extended(sm3(b"block 0"));
        assert_eq!(one.height, 1);
        assert_eq!(ChainInfo::decode(&one.encode(), "chain"), Ok(one));
    }

    #[test]
    fn malformed_chain_info_is_corruption() {
        assert!(ChainInfo::decode(&[0; 7], "chain").is_err());
        // Height 0 with a hash, height 1 without one.
        assert!(ChainInfo::decode(&[0; 40], "chain").is_err());
        let mut one = vec![0; 8];
        one[7] = 1;
        assert!(ChainInfo::decode(&one, "chain").is_err());
        one.extend_from_slice(&[0; 31]);
        assert!(ChainInfo::decode(&one, "chain").is_err());
    }
}
