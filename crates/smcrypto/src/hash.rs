//! SM3 (GB/T 32905): the hash behind transaction ids, block hashes, Merkle roots and
//! report commitments.

use core::fmt;
use core::str::FromStr;

use sm3::Digest as _;

use crate::CryptoError;

/// A 32-byte SM3 digest. Displays as lowercase hex.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// Digest length in bytes.
    pub const BYTES: usize = 32;

    /// The raw digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parse from a byte slice of exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        let array: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::InvalidLength {
            what: "SM3 digest",
            expected: Self::BYTES,
            actual: bytes.len(),
        })?;
        Ok(Hash(array))
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl FromStr for Hash {
    type Err = CryptoError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = hex::decode(s).map_err(|_| CryptoError::InvalidLength {
            what: "SM3 digest hex",
            expected: 2 * Self::BYTES,
            actual: s.len(),
        })?;
        Self::from_slice(&bytes)
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// One-shot SM3 digest.
pub fn sm3(data: &[u8]) -> Hash {
    let mut hasher = Sm3Hasher::new();
    hasher.update(data);
    hasher.finalize()
}

/// Streaming SM3: feed any number of slices, then `finalize`.
#[derive(Clone, Default)]
pub struct Sm3Hasher {
    inner: sm3::Sm3,
}

impl Sm3Hasher {
    /// A fresh hasher.
    pub fn new() -> Self {
        Self::default()
    }

    /// Absorb more input.
    pub fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
    }

    /// The digest of everything absorbed.
    pub fn finalize(self) -> Hash {
        let out = self.inner.finalize();
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&out);
        Hash(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // GB/T 32905-2016 Appendix A, examples 1 and 2.
    #[test]
    fn gbt_32905_example_1_abc() {
        assert_eq!(
            sm3(b"abc").to_hex(),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
    }

    #[test]
    fn gbt_32905_example_2_abcd_times_16() {
        let input = b"abcd".repeat(16);
        assert_eq!(
            sm3(&input).to_hex(),
            "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
        );
    }

    #[test]
    fn streaming_equals_one_shot() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let mut hasher = Sm3Hasher::new();
        for chunk in data.chunks(77) {
            hasher.update(chunk);
        }
        assert_eq!(hasher.finalize(), sm3(&data));
    }

    #[test]
    fn hex_round_trip() {
        let h = sm3(b"netsettle");
        assert_eq!(h.to_hex().parse::<Hash>(), Ok(h));
        assert!("zz".parse::<Hash>().is_err());
    }
}
