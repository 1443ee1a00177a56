//! Who sent a message and which transaction it is: identities, nonces, timestamps, the
//! header every transaction carries and the transaction id derived from it.

use core::fmt;
use core::str::FromStr;

use netsettle_smcrypto::{CryptoError, Hash, Sm3Hasher};

use crate::codec::{check_len, check_non_empty};
use crate::error::InvalidMessage;
use crate::limits::{
    CERT_DER_BYTES_MAX, CODEC_VERSION, MSP_ID_BYTES_MAX, NAME_BYTES_MAX, NONCE_BYTES,
};

/// A member of an organisation: its MSP id and its X.509 certificate (DER). Whether the
/// certificate really chains to that MSP, and what role it has, is decided in
/// `netsettle-msp`; here it is just data.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    /// The organisation, e.g. `UnicomMSP`.
    pub msp_id: String,
    /// The member's SM2 certificate, DER.
    #[serde(with = "crate::codec::bytes")]
    pub cert_der: Vec<u8>,
}

impl Identity {
    /// Checks the size limits.
    pub fn check(&self) -> Result<(), InvalidMessage> {
        check_non_empty("identity MSP id", self.msp_id.len())?;
        check_len("identity MSP id", self.msp_id.len(), MSP_ID_BYTES_MAX)?;
        check_non_empty("identity certificate", self.cert_der.len())?;
        check_len(
            "identity certificate",
            self.cert_der.len(),
            CERT_DER_BYTES_MAX,
        )
    }

    /// Feeds the canonical encoding of this identity (what `codec::encode` produces for
    /// it: version byte, then each field as an 8-byte little-endian length and its bytes)
    /// into `hasher`, without allocating.
    fn hash_into(&self, hasher: &mut Sm3Hasher) {
        hasher.update(&[CODEC_VERSION]);
        hasher.update(&len_prefix(self.msp_id.len()));
        hasher.update(self.msp_id.as_bytes());
        hasher.update(&len_prefix(self.cert_der.len()));
        hasher.update(&self.cert_der);
    }
}

/// The 8-byte little-endian length prefix the codec writes before byte strings.
fn len_prefix(len: usize) -> [u8; 8] {
    // `limits` asserts at compile time that usize fits in u64, so this never saturates.
    u64::try_from(len).unwrap_or(u64::MAX).to_le_bytes()
}

/// The client's random nonce. Together with the creator it fixes the transaction id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Nonce(pub [u8; NONCE_BYTES]);

impl fmt::Debug for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nonce({})", hex::encode(self.0))
    }
}

/// A transaction id: `SM3(nonce ‖ encode(creator))`, 24 nonce bytes followed by the
/// canonical encoding of the creator's [`Identity`]. Derived, never chosen by the client,
/// so one client cannot claim another's id and replays are caught as duplicates.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct TxId(pub Hash);

impl TxId {
    /// Derives the id of a transaction from its nonce and creator.
    pub fn derive(nonce: &Nonce, creator: &Identity) -> Self {
        let mut hasher = Sm3Hasher::new();
        hasher.update(&nonce.0);
        creator.hash_into(&mut hasher);
        TxId(hasher.finalize())
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }
}

impl fmt::Display for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TxId({})", self.0)
    }
}

impl FromStr for TxId {
    type Err = CryptoError;

    /// Parses the 64-character lowercase hex form that `Display` prints.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<Hash>().map(TxId)
    }
}

/// Wall-clock time chosen by the message's creator, in milliseconds since the Unix epoch
/// (UTC). Informational and for replay windows; contracts take time from the block.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Timestamp {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    pub unix_time_ms: u64,
}

/// What every transaction starts with, as in Fabric's channel and signature headers: the
/// channel, who created it, and the nonce and time that make it unique.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Header {
    /// The channel, e.g. `settlement`.
    pub channel: String,
    /// The creator, whose signature the envelope carries.
    pub creator: Identity,
    /// Random bytes from the creator.
    pub nonce: Nonce,
    /// When the creator made it.
    pub timestamp: Timestamp,
}

impl Header {
    /// The transaction id, derived from nonce and creator.
    pub fn tx_id(&self) -> TxId {
        TxId::derive(&self.nonce, &self.creator)
    }

    /// Checks the size limits.
    pub fn check(&self) -> Result<(), InvalidMessage> {
        check_name("channel", &self.channel)?;
        self.creator.check()
    }
}

/// A deployed contract: name and version, as the lifecycle defines it on the channel.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct ContractId {
    /// The contract name, e.g. `settlement`.
    pub name: String,
    /// The version the client expects to run.
    pub version: String,
}

impl ContractId {
    /// Checks the size limits.
    pub fn check(&self) -> Result<(), InvalidMessage> {
        check_name("contract name", &self.name)?;
        check_name("contract version", &self.version)
    }
}

/// Checks a required short name (channel, contract, function, ...).
pub(crate) fn check_name(what: &'static str, name: &str) -> Result<(), InvalidMessage> {
    check_non_empty(what, name.len())?;
    check_len(what, name.len(), NAME_BYTES_MAX)
}
