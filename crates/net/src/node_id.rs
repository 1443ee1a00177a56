//! Node names: a [`NodeId`] is derived from the SM2 public key of a node's TLS
//! certificate, so it is known before connecting (from the certificate file) and checked
//! during every handshake.
//!
//! Derivation, fixed for both carriers: libp2p's `PeerId` accepts only an identity or a
//! SHA-256 multihash. We take the *identity* multihash (code 0x00) over
//! `b"sm2" ‖ compressed SM2 point` (1 + 32 bytes), 36 bytes in all, under libp2p's 42-byte
//! inline limit. No hash is involved, so no non-SM hash enters the identity, and the
//! public key can be read back from the id. The text form is libp2p's usual base58
//! encoding of those bytes.

use core::fmt;
use core::str::FromStr;

use libp2p::PeerId;
use libp2p::multihash::Multihash;
use netsettle_smcrypto::PublicKey;
use netsettle_smcrypto::x509::Certificate;

use crate::error::NetError;

/// Multihash code of the identity "hash": the digest is the input itself.
const IDENTITY_CODE: u64 = 0x00;
/// Tag that says which key type follows; room for others later.
const SM2_TAG: &[u8; 3] = b"sm2";
/// An SM2 point in SEC1 compressed form: parity byte then x.
const COMPRESSED_POINT_BYTES: usize = 33;
const DIGEST_BYTES: usize = SM2_TAG.len() + COMPRESSED_POINT_BYTES;
const _: () = assert!(DIGEST_BYTES <= 42);

/// A node's network identity. Cheap to copy; compare, hash, print and parse it freely.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(PeerId);

impl NodeId {
    /// The id of the node holding the private key of `public_key`.
    pub fn from_public_key(public_key: &PublicKey) -> NodeId {
        let uncompressed = public_key.to_sec1_uncompressed();
        let mut digest = [0u8; DIGEST_BYTES];
        let (tag, point) = digest.split_at_mut(SM2_TAG.len());
        tag.copy_from_slice(SM2_TAG);
        compress(&uncompressed, point);
        let multihash = Multihash::<64>::wrap(IDENTITY_CODE, &digest)
            .expect("36 bytes fit a 64-byte multihash");
        let peer_id = PeerId::from_multihash(multihash)
            .expect("an identity multihash of at most 42 bytes is a valid PeerId");
        NodeId(peer_id)
    }

    /// The id of the node presenting this TLS certificate.
    pub fn from_certificate(certificate: &Certificate) -> NodeId {
        Self::from_public_key(certificate.public_key())
    }

    pub(crate) fn from_peer_id(peer_id: PeerId) -> Result<NodeId, NetError> {
        let multihash = peer_id.as_ref();
        let well_formed = multihash.code() == IDENTITY_CODE
            && multihash.digest().len() == DIGEST_BYTES
            && multihash.digest().starts_with(SM2_TAG);
        if !well_formed {
            return Err(NetError::InvalidNodeId {
                text: peer_id.to_string(),
                reason: "not an SM2 node id (identity multihash of b\"sm2\" and a compressed point)",
            });
        }
        Ok(NodeId(peer_id))
    }

    pub(crate) fn peer_id(&self) -> PeerId {
        self.0
    }
}

/// SEC1 compression: `0x02 | (y mod 2)` then x.
fn compress(uncompressed: &[u8; 65], out: &mut [u8]) {
    debug_assert_eq!(uncompressed[0], 0x04);
    debug_assert_eq!(out.len(), COMPRESSED_POINT_BYTES);
    out[0] = 0x02 | (uncompressed[64] & 1);
    out[1..].copy_from_slice(&uncompressed[1..33]);
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", self.0)
    }
}

impl FromStr for NodeId {
    type Err = NetError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let peer_id = PeerId::from_str(text).map_err(|_| NetError::InvalidNodeId {
            text: text.chars().take(80).collect(),
            reason: "not base58 multihash text",
        })?;
        NodeId::from_peer_id(peer_id)
    }
}

#[cfg(test)]
mod tests {
    use netsettle_smcrypto::PrivateKey;

    use super::*;

    #[test]
    fn round_trips_through_text_and_is_deterministic() {
        let key = PrivateKey::generate();
        let id = NodeId::from_public_key(key.public_key());
        assert_eq!(id, NodeId::from_public_key(key.public_key()));
        let text = id.to_string();
        assert_eq!(text.parse::<NodeId>().unwrap(), id);
        let other = NodeId::from_public_key(PrivateKey::generate().public_key());
        assert_ne!(id, other);
    }

    #[test]
    fn refuses_foreign_and_garbage_ids() {
        assert!(matches!(
            "not-a-node".parse::<NodeId>(),
            Err(NetError::InvalidNodeId { .. })
        ));
        // A SHA-256 PeerId (the usual libp2p Ed25519/RSA kind) is well-formed libp2p text
        // but no SM2 node.
        let sha = Multihash::<64>::wrap(0x12, &[7u8; 32]).unwrap();
        let foreign = PeerId::from_multihash(sha).unwrap().to_string();
        assert!(matches!(
            foreign.parse::<NodeId>(),
            Err(NetError::InvalidNodeId { .. })
        ));
    }
}
