//! The one codec for everything nodes exchange, store, hash or sign, so that "the bytes of
//! a message" means the same thing on every node and in every crate.
//!
//! # Format
//!
//! `encode(x) = CODEC_VERSION ‖ bincode(x)`, with bincode 2 driven through serde and this
//! configuration: little-endian, **fixed-width integers** (u32 as 4 bytes, u64 and every
//! length prefix as 8 bytes), no varints. Fixed-width was chosen over varints because it
//! makes the format trivially canonical (one encoding per value, with no minimal-length rule
//! to enforce) and easy to reproduce by hand or from another language; the few bytes it
//! costs per field do not matter next to certificates and payloads. Byte strings are written
//! as one length prefix plus the raw bytes.
//!
//! Decoding is strict, so `encode(decode(b)) == b` for every accepted `b`: booleans and
//! option tags must be 0 or 1, enum tags must name a variant, text must be UTF-8, no bytes
//! may follow the message, and the protocol never uses maps, sets or floats (sorted lists
//! instead, checked by [`Wire::check`]). Because of that, signing and hashing the
//! re-encoding of a decoded value is the same as signing the bytes that arrived.
//!
//! # Limits
//!
//! Each message type has a hard byte limit ([`Wire::BYTES_MAX`], from `limits`). The outer
//! length is checked against it before anything is decoded. Inside, bincode's `with_limit`
//! caps the bytes that length prefixes may claim, and the claim is checked before the
//! decoder allocates for it. Every claimed byte must also be present in a valid input, so
//! the cap is the smallest power of four from 4 KiB up to 256 MiB that is not below the
//! input length: a hostile length prefix can make the decoder allocate less than four times
//! the bytes actually received (at least 4 KiB). After decoding, [`Wire::check`] enforces
//! counts, per-field sizes and sort orders.
//!
//! # Signed and hashed bytes
//!
//! A signature always covers `tag ‖ encode(unsigned part)`, plus `bincode(signer)` when the
//! signer's identity is not already inside the unsigned part. The tag is one of the
//! NUL-terminated ASCII strings in [`domain`] (none is a prefix of another), so a signature
//! made for one kind of object can never be replayed as another. The crate documentation
//! lists each signed object.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{CodecError, InvalidMessage};
use crate::header::Identity;
use crate::limits::{CODEC_VERSION, IDENTITY_BYTES_MAX};

/// A message with a canonical encoding, a hard byte limit and structural checks.
pub trait Wire: Serialize + DeserializeOwned {
    /// The message type's name, for error messages.
    const NAME: &'static str;
    /// The largest encoding accepted or produced, version byte included.
    const BYTES_MAX: usize;
    /// Limits and canonical-form rules the byte limit alone does not enforce (list
    /// lengths, field sizes, sort orders). Run after every decode and before every encode.
    fn check(&self) -> Result<(), InvalidMessage>;
}

/// Domain-separation tags that start the bytes of every signature.
pub mod domain {
    /// Creator's signature on a [`crate::Proposal`] (in a [`crate::SignedProposal`]).
    pub const PROPOSAL: &[u8] = b"netsettle/v1/proposal\0";
    /// Endorser's signature on a [`crate::ProposalResponsePayload`] and its own identity.
    pub const ENDORSEMENT: &[u8] = b"netsettle/v1/endorsement\0";
    /// Creator's signature on an [`crate::Envelope`]'s [`crate::Payload`].
    pub const ENVELOPE: &[u8] = b"netsettle/v1/envelope\0";
    /// An admin's signature on a [`crate::ConfigUpdate`] and its own identity.
    pub const CONFIG_UPDATE: &[u8] = b"netsettle/v1/config-update\0";
    /// An orderer's signature on a block header, its last-config index and its own
    /// identity.
    pub const BLOCK: &[u8] = b"netsettle/v1/block\0";
    /// A requester's signature on a [`crate::DeliverRequest`].
    pub const DELIVER: &[u8] = b"netsettle/v1/deliver\0";
}

/// The bincode configuration, without the limit (which depends on the input).
fn config() -> bincode::config::Configuration<bincode::config::LittleEndian, bincode::config::Fixint>
{
    bincode::config::standard()
        .with_little_endian()
        .with_fixed_int_encoding()
}

/// Canonical bytes of `value`: version byte, then bincode.
pub fn encode<T: Wire>(value: &T) -> Result<Vec<u8>, CodecError> {
    value.check().map_err(|source| CodecError::Invalid {
        what: T::NAME,
        source,
    })?;
    encode_unchecked(value, T::NAME, T::BYTES_MAX)
}

/// Decode a message, enforcing the byte limit, the version, the absence of trailing bytes
/// and [`Wire::check`].
pub fn decode<T: Wire>(bytes: &[u8]) -> Result<T, CodecError> {
    let what = T::NAME;
    if bytes.len() > T::BYTES_MAX {
        return Err(CodecError::TooLarge {
            what,
            max: T::BYTES_MAX,
            actual: bytes.len(),
        });
    }
    let (version, body) = bytes.split_first().ok_or(CodecError::Empty { what })?;
    if *version != CODEC_VERSION {
        return Err(CodecError::UnknownVersion {
            what,
            version: *version,
        });
    }
    let (value, used) = decode_body::<T>(body).map_err(|error| map_decode_error(what, error))?;
    let count = body.len().saturating_sub(used);
    if count != 0 {
        return Err(CodecError::TrailingBytes { what, count });
    }
    value
        .check()
        .map_err(|source| CodecError::Invalid { what, source })?;
    Ok(value)
}

/// `tag ‖ encode(value)`: the bytes a signature covers.
pub(crate) fn signing_bytes<T: Wire>(tag: &[u8], value: &T) -> Result<Vec<u8>, CodecError> {
    value.check().map_err(|source| CodecError::Invalid {
        what: T::NAME,
        source,
    })?;
    let mut out = Vec::with_capacity(tag.len().saturating_add(256));
    out.extend_from_slice(tag);
    write_encoding(&mut out, value, T::NAME, T::BYTES_MAX)?;
    Ok(out)
}

/// `tag ‖ encode(value) ‖ bincode(signer)`: the bytes of a signature whose signer is not
/// already inside `value`. Binding the signer's identity into what it signs (as Fabric
/// does for endorsements) means a signature cannot be re-attributed to another identity
/// that happens to share the key.
pub(crate) fn signing_bytes_with_signer<T: Wire>(
    tag: &[u8],
    value: &T,
    signer: &Identity,
) -> Result<Vec<u8>, CodecError> {
    let invalid = |source| CodecError::Invalid {
        what: T::NAME,
        source,
    };
    value.check().map_err(invalid)?;
    signer.check().map_err(invalid)?;
    let mut out = Vec::with_capacity(tag.len().saturating_add(256));
    out.extend_from_slice(tag);
    write_encoding(&mut out, value, T::NAME, T::BYTES_MAX)?;
    let start = out.len();
    append_bincode(&mut out, signer, T::NAME)?;
    let actual = out.len().saturating_sub(start);
    if actual > IDENTITY_BYTES_MAX {
        return Err(CodecError::TooLarge {
            what: T::NAME,
            max: IDENTITY_BYTES_MAX,
            actual,
        });
    }
    Ok(out)
}

/// `tag ‖ CODEC_VERSION ‖ bincode(value)` for a value that is only ever signed, never sent
/// on its own (so it has no `Wire` impl).
pub(crate) fn signing_bytes_of<T: Serialize>(
    tag: &[u8],
    value: &T,
    what: &'static str,
    bytes_max: usize,
) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(tag.len().saturating_add(256));
    out.extend_from_slice(tag);
    write_encoding(&mut out, value, what, bytes_max)?;
    Ok(out)
}

fn encode_unchecked<T: Serialize>(
    value: &T,
    what: &'static str,
    bytes_max: usize,
) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(256);
    write_encoding(&mut out, value, what, bytes_max)?;
    Ok(out)
}

/// Appends `CODEC_VERSION ‖ bincode(value)` to `out` and checks that this part is within
/// `bytes_max`.
fn write_encoding<T: Serialize>(
    out: &mut Vec<u8>,
    value: &T,
    what: &'static str,
    bytes_max: usize,
) -> Result<(), CodecError> {
    let start = out.len();
    out.push(CODEC_VERSION);
    append_bincode(out, value, what)?;
    let actual = out.len().saturating_sub(start);
    if actual > bytes_max {
        return Err(CodecError::TooLarge {
            what,
            max: bytes_max,
            actual,
        });
    }
    Ok(())
}

/// Appends `bincode(value)`, no version byte.
fn append_bincode<T: Serialize>(
    out: &mut Vec<u8>,
    value: &T,
    what: &'static str,
) -> Result<(), CodecError> {
    bincode::serde::encode_into_std_write(value, out, config()).map_err(|error| {
        CodecError::Encode {
            what,
            reason: error.to_string(),
        }
    })?;
    Ok(())
}

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// Decodes with the smallest allocation cap from the ladder that still admits `body`.
fn decode_body<T: DeserializeOwned>(
    body: &[u8],
) -> Result<(T, usize), bincode::error::DecodeError> {
    // Every byte a length prefix claims must also be present in the input, so a cap equal
    // to the input length would be exact; bincode wants it as a const, hence the ladder.
    match body.len() {
        0..=4096 => decode_capped::<T, { 4 * KIB }>(body),
        4097..=16_384 => decode_capped::<T, { 16 * KIB }>(body),
        16_385..=65_536 => decode_capped::<T, { 64 * KIB }>(body),
        65_537..=262_144 => decode_capped::<T, { 256 * KIB }>(body),
        262_145..=1_048_576 => decode_capped::<T, { MIB }>(body),
        1_048_577..=4_194_304 => decode_capped::<T, { 4 * MIB }>(body),
        4_194_305..=16_777_216 => decode_capped::<T, { 16 * MIB }>(body),
        16_777_217..=67_108_864 => decode_capped::<T, { 64 * MIB }>(body),
        _ => decode_capped::<T, { 256 * MIB }>(body),
    }
}

fn decode_capped<T: DeserializeOwned, const CAP: usize>(
    body: &[u8],
) -> Result<(T, usize), bincode::error::DecodeError> {
    bincode::serde::decode_from_slice(body, config().with_limit::<CAP>())
}

fn map_decode_error(what: &'static str, error: bincode::error::DecodeError) -> CodecError {
    use bincode::error::DecodeError;
    match error {
        DecodeError::UnexpectedEnd { .. } => CodecError::Truncated { what },
        DecodeError::LimitExceeded | DecodeError::OutsideUsizeRange(_) => {
            CodecError::LengthOutOfRange { what }
        }
        other => CodecError::Malformed {
            what,
            reason: other.to_string(),
        },
    }
}

/// Checks a byte or text length against its limit.
pub(crate) fn check_len(
    what: &'static str,
    actual: usize,
    max: usize,
) -> Result<(), InvalidMessage> {
    if actual > max {
        return Err(InvalidMessage::TooLong { what, max, actual });
    }
    Ok(())
}

/// Checks a list length against its limit.
pub(crate) fn check_count(
    what: &'static str,
    actual: usize,
    max: usize,
) -> Result<(), InvalidMessage> {
    if actual > max {
        return Err(InvalidMessage::TooMany { what, max, actual });
    }
    Ok(())
}

/// Checks that a required text or byte string is present.
pub(crate) fn check_non_empty(what: &'static str, len: usize) -> Result<(), InvalidMessage> {
    if len == 0 {
        return Err(InvalidMessage::Empty { what });
    }
    Ok(())
}

/// Checks that `items` are strictly increasing by `key`, which rules out duplicates and
/// gives every list exactly one valid order.
pub(crate) fn check_sorted_by<'a, T, K: Ord>(
    what: &'static str,
    items: &'a [T],
    key: impl Fn(&'a T) -> K,
) -> Result<(), InvalidMessage> {
    let in_order = items.windows(2).all(|pair| match pair {
        [a, b] => key(a) < key(b),
        _ => true,
    });
    if !in_order {
        return Err(InvalidMessage::NotCanonical { what });
    }
    Ok(())
}

/// Serde adapter that writes `Vec<u8>` as a byte string, so bincode copies it in one piece
/// (and checks its length prefix against the cap) instead of decoding byte by byte.
pub(crate) mod bytes {
    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(value: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(value)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        deserializer.deserialize_byte_buf(BytesVisitor)
    }

    pub(crate) struct BytesVisitor;

    impl<'de> serde::de::Visitor<'de> for BytesVisitor {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str("a byte string")
        }

        fn visit_byte_buf<E: serde::de::Error>(self, value: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(value)
        }

        fn visit_bytes<E: serde::de::Error>(self, value: &[u8]) -> Result<Vec<u8>, E> {
            Ok(value.to_vec())
        }

        /// Self-describing formats without a byte-string type (JSON, as config updates
        /// travel between admins) carry bytes as a list of numbers. The caller bounds the
        /// input size; the pre-allocation is capped so a hint cannot reserve more.
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            while let Some(byte) = seq.next_element::<u8>()? {
                out.push(byte);
            }
            Ok(out)
        }
    }

    /// A `Vec<u8>` that serializes as a byte string, for use inside lists and options.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(crate) struct ByteBuf(pub(crate) Vec<u8>);

    impl serde::Serialize for ByteBuf {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_bytes(&self.0)
        }
    }

    impl<'de> serde::Deserialize<'de> for ByteBuf {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_byte_buf(BytesVisitor).map(ByteBuf)
        }
    }

    /// A borrowed byte string, to serialize lists without copying.
    pub(crate) struct BytesRef<'a>(pub(crate) &'a [u8]);

    impl serde::Serialize for BytesRef<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_bytes(self.0)
        }
    }
}

/// Serde adapter for `Vec<Vec<u8>>` (arguments, certificate lists).
pub(crate) mod bytes_list {
    use serde::{Deserialize as _, Deserializer, Serializer};

    use super::bytes::{ByteBuf, BytesRef};

    pub(crate) fn serialize<S: Serializer>(
        value: &[Vec<u8>],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(value.iter().map(|item| BytesRef(item)))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Vec<u8>>, D::Error> {
        let items = Vec::<ByteBuf>::deserialize(deserializer)?;
        Ok(items.into_iter().map(|item| item.0).collect())
    }
}

/// Serde adapter for `Option<Vec<u8>>` (a write's value; `None` deletes).
pub(crate) mod option_bytes {
    use serde::{Deserialize as _, Deserializer, Serialize as _, Serializer};

    use super::bytes::{ByteBuf, BytesRef};

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<Vec<u8>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        value.as_deref().map(BytesRef).serialize(serializer)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        Ok(Option::<ByteBuf>::deserialize(deserializer)?.map(|item| item.0))
    }
}
