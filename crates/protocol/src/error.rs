//! Errors of the protocol crate, layered as in rustls: [`CodecError`] for bytes that do not
//! decode, [`InvalidMessage`] for values that decode but break a limit or the canonical
//! form, and [`ProtocolError`] for signature and consistency checks on top of both.

use netsettle_smcrypto::CryptoError;

/// A decoded value breaks a protocol limit or the canonical form. Raised after decoding
/// and before encoding, so such a value is never accepted nor emitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidMessage {
    /// A list has more entries than its limit allows.
    #[error("{what}: {actual} entries, at most {max} allowed")]
    TooMany {
        /// Which list.
        what: &'static str,
        /// Its limit.
        max: usize,
        /// Its length.
        actual: usize,
    },
    /// A byte string or text is longer than its limit allows.
    #[error("{what}: {actual} bytes, at most {max} allowed")]
    TooLong {
        /// Which field.
        what: &'static str,
        /// Its limit.
        max: usize,
        /// Its length.
        actual: usize,
    },
    /// A list that must be strictly sorted (so that every value has exactly one encoding)
    /// is out of order or has duplicates.
    #[error("{what}: not strictly sorted (out of order or duplicate)")]
    NotCanonical {
        /// Which list.
        what: &'static str,
    },
    /// A required field is empty.
    #[error("{what}: must not be empty")]
    Empty {
        /// Which field.
        what: &'static str,
    },
    /// Fields contradict each other (a count that does not match, a threshold larger than
    /// its list, a reference to something that is not there).
    #[error("inconsistent: {what}")]
    Inconsistent {
        /// What disagrees.
        what: &'static str,
    },
}

/// Bytes could not be turned into a message, or a message into bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The input (or the encoding being produced) exceeds the hard limit for this message
    /// type. Checked on the outer length before anything is decoded or allocated.
    #[error("{what}: {actual} bytes exceed the limit of {max}")]
    TooLarge {
        /// The message type.
        what: &'static str,
        /// Its byte limit.
        max: usize,
        /// The size seen.
        actual: usize,
    },
    /// The input ended before the message did.
    #[error("{what}: truncated input")]
    Truncated {
        /// The message type.
        what: &'static str,
    },
    /// The input is empty, so not even the version byte is there.
    #[error("{what}: empty input")]
    Empty {
        /// The message type.
        what: &'static str,
    },
    /// The version byte is not one this build understands.
    #[error("{what}: unknown codec version {version}")]
    UnknownVersion {
        /// The message type.
        what: &'static str,
        /// The version byte found.
        version: u8,
    },
    /// The message decoded but bytes were left over; canonical encodings have none.
    #[error("{what}: {count} trailing bytes after the message")]
    TrailingBytes {
        /// The message type.
        what: &'static str,
        /// How many bytes were left.
        count: usize,
    },
    /// An inner length prefix claims more bytes than the message may hold.
    #[error("{what}: a length prefix exceeds the message size limit")]
    LengthOutOfRange {
        /// The message type.
        what: &'static str,
    },
    /// The bytes are not a valid encoding: unknown enum tag, bad boolean or option tag,
    /// invalid UTF-8, a nesting limit, ...
    #[error("{what}: malformed encoding: {reason}")]
    Malformed {
        /// The message type.
        what: &'static str,
        /// What the decoder objected to.
        reason: String,
    },
    /// The message decoded but breaks a limit or the canonical form.
    #[error("{what}: {source}")]
    Invalid {
        /// The message type.
        what: &'static str,
        /// The broken rule.
        source: InvalidMessage,
    },
    /// The serializer failed; only a value no decoder could produce gets here.
    #[error("{what}: cannot encode: {reason}")]
    Encode {
        /// The message type.
        what: &'static str,
        /// What the encoder objected to.
        reason: String,
    },
}

/// A signed or hashed object failed a check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// Producing the canonical bytes to sign or verify failed.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The SM2 signature is malformed or does not verify against the given key.
    #[error("{what}: {source}")]
    Signature {
        /// Which signature.
        what: &'static str,
        /// Why it failed.
        source: CryptoError,
    },
    /// The proposal response refers to a different proposal than the one given.
    #[error("proposal response is for proposal {found}, expected {expected}")]
    ProposalHashMismatch {
        /// Hash of the proposal at hand.
        expected: netsettle_smcrypto::Hash,
        /// Hash recorded in the response.
        found: netsettle_smcrypto::Hash,
    },
    /// The block's data hash is not the Merkle root of its envelopes.
    #[error("block {number}: data hash does not match its envelopes")]
    DataHashMismatch {
        /// The block number.
        number: u64,
    },
    /// An index into a list (endorsements, signatures) is out of range.
    #[error("{what}: index {index} out of range")]
    NoSuchEntry {
        /// Which list.
        what: &'static str,
        /// The index asked for.
        index: usize,
    },
}
