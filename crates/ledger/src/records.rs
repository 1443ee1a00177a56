//! Fixed-layout values of the `tx_index`, `state` and `history` columns. Each decoder
//! checks lengths and tags against the layout and never allocates from a stored length.

use netsettle_smcrypto::Hash;

use crate::error::Corruption;

/// Bytes of a `(block, tx)` version: `u64 BE ‖ u32 BE`.
const VERSION_BYTES: usize = 12;
/// Bytes of a transaction-index value: version and one code byte.
const TX_LOCATION_BYTES: usize = VERSION_BYTES + 1;

const HISTORY_WRITE: u8 = 0x00;
const HISTORY_DELETE: u8 = 0x01;

fn malformed(column: &'static str, what: &str) -> Corruption {
    Corruption::Malformed {
        column,
        what: what.to_string(),
    }
}

fn encode_version(out: &mut Vec<u8>, block: u64, tx: u32) {
    out.extend_from_slice(&block.to_be_bytes());
    out.extend_from_slice(&tx.to_be_bytes());
}

fn decode_version(bytes: &[u8]) -> Option<(u64, u32)> {
    let block: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    let tx: [u8; 4] = bytes.get(8..VERSION_BYTES)?.try_into().ok()?;
    Some((u64::from_be_bytes(block), u32::from_be_bytes(tx)))
}

/// Where a transaction is: block number, position in the block, and the validation code
/// the committing peer gave it (as the protocol's code byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TxLocationRecord {
    pub(crate) block: u64,
    pub(crate) index: u32,
    pub(crate) code: u8,
}

impl TxLocationRecord {
    pub(crate) const BYTES: usize = TX_LOCATION_BYTES;

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(TX_LOCATION_BYTES);
        encode_version(&mut out, self.block, self.index);
        out.push(self.code);
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, Corruption> {
        if bytes.len() != TX_LOCATION_BYTES {
            return Err(malformed("tx_index", "value is not 13 bytes"));
        }
        let (block, index) =
            decode_version(bytes).ok_or_else(|| malformed("tx_index", "bad version"))?;
        let code = *bytes
            .get(VERSION_BYTES)
            .ok_or_else(|| malformed("tx_index", "missing code"))?;
        Ok(TxLocationRecord { block, index, code })
    }
}

/// A world-state value with the version (block, tx) of the write that produced it.
pub(crate) fn encode_state_value(block: u64, tx: u32, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(VERSION_BYTES.saturating_add(value.len()));
    encode_version(&mut out, block, tx);
    out.extend_from_slice(value);
    out
}

/// Splits a stored state value into its version and the value bytes.
pub(crate) fn decode_state_value(bytes: &[u8]) -> Result<((u64, u32), &[u8]), Corruption> {
    let version =
        decode_version(bytes).ok_or_else(|| malformed("state", "shorter than a version"))?;
    let value = bytes.get(VERSION_BYTES..).unwrap_or_default();
    Ok((version, value))
}

/// One history entry's value: what the write did, and the digest of the value written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HistoryRecord {
    /// The key was set to a value with this SM3 digest.
    Write(Hash),
    /// The key was deleted.
    Delete,
}

impl HistoryRecord {
    /// Largest encoding: tag and digest.
    pub(crate) const BYTES_MAX: usize = 1 + Hash::BYTES;

    pub(crate) fn encode(&self) -> Vec<u8> {
        match self {
            HistoryRecord::Write(digest) => {
                let mut out = Vec::with_capacity(Self::BYTES_MAX);
                out.push(HISTORY_WRITE);
                out.extend_from_slice(digest.as_bytes());
                out
            }
            HistoryRecord::Delete => vec![HISTORY_DELETE],
        }
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, Corruption> {
        match bytes.split_first() {
            Some((&HISTORY_WRITE, digest)) => Hash::from_slice(digest)
                .map(HistoryRecord::Write)
                .map_err(|_| malformed("history", "digest is not 32 bytes")),
            Some((&HISTORY_DELETE, [])) => Ok(HistoryRecord::Delete),
            _ => Err(malformed("history", "unknown tag or length")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netsettle_smcrypto::sm3;

    #[test]
    fn tx_location_round_trips() {
        let record = TxLocationRecord {
            block: 9,
            index: 49,
            code: 3,
        };
        assert_eq!(TxLocationRecord::decode(&record.encode()), Ok(record));
        assert!(TxLocationRecord::decode(&[0; 12]).is_err());
        assert!(TxLocationRecord::decode(&[0; 14]).is_err());
    }

    #[test]
    fn state_value_round_trips() {
        let bytes = encode_state_value(5, 2, b"value");
        assert_eq!(decode_state_value(&bytes), Ok(((5, 2), &b"value"[..])));
        assert!(decode_state_value(&bytes[..11]).is_err());
    }

    #[test]
    fn history_record_round_trips() {
        for record in [HistoryRecord::Write(sm3(b"v")), HistoryRecord::Delete] {
            assert_eq!(HistoryRecord::decode(&record.encode()), Ok(record));
        }
        assert!(HistoryRecord::decode(&[]).is_err());
        assert!(HistoryRecord::decode(&[HISTORY_DELETE, 0]).is_err());
        assert!(HistoryRecord::decode(&[HISTORY_WRITE, 1, 2]).is_err());
        assert!(HistoryRecord::decode(&[7]).is_err());
    }
}
