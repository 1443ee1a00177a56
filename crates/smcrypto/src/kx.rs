//! Ephemeral elliptic-curve Diffie–Hellman on the SM2 curve: the `curveSM2` key exchange
//! of RFC 8998 §3.2.
//!
//! RFC 8998 reuses TLS 1.3's plain ECDHE (RFC 8446 §7.4.2) on the SM2 curve rather than
//! the GB/T 32918.3 SM2 key-agreement protocol: each side sends an uncompressed point and
//! the shared secret is the x-coordinate of the product. The peer's point arrives from the
//! network, so it is parsed strictly (exactly 65 bytes, `04‖x‖y`, on the curve, not the
//! identity) before any arithmetic touches it.

use core::fmt;

use sm2::elliptic_curve::Generate as _;
use sm2::elliptic_curve::group::Group as _;
use sm2::elliptic_curve::point::AffineCoordinates as _;
use zeroize::Zeroizing;

use crate::CryptoError;

/// Length of an uncompressed SM2 point, `04‖x‖y`, as `curveSM2` key shares carry it.
pub const KX_POINT_BYTES: usize = 65;

/// Length of the shared secret: the x-coordinate of the shared point.
pub const KX_SHARED_SECRET_BYTES: usize = 32;

/// The SEC1 tag of an uncompressed point.
const SEC1_UNCOMPRESSED_TAG: u8 = 0x04;

/// One side's ephemeral key for a single SM2 Diffie–Hellman exchange.
///
/// `diffie_hellman` consumes the key, so one ephemeral scalar can never be reused for a
/// second exchange by mistake.
pub struct EphemeralKey {
    secret: sm2::SecretKey,
    public_point: [u8; KX_POINT_BYTES],
}

impl EphemeralKey {
    /// A fresh ephemeral key from the operating system's RNG.
    pub fn generate() -> Self {
        let secret = sm2::SecretKey::generate();
        let public_point = crate::PublicKey::from_sm2(secret.public_key()).to_sec1_uncompressed();
        EphemeralKey {
            secret,
            public_point,
        }
    }

    /// Our public point, uncompressed (`04‖x‖y`), to send to the peer.
    pub fn public_point(&self) -> &[u8; KX_POINT_BYTES] {
        &self.public_point
    }

    /// Combine our scalar with the peer's uncompressed point and return the x-coordinate of
    /// the shared point (wiped when dropped).
    ///
    /// Rejects, with [`CryptoError::InvalidPublicKey`], anything that is not a 65-byte
    /// uncompressed point on the SM2 curve, including the point at infinity. The SM2 curve
    /// has cofactor 1, so every valid point lies in the prime-order group and no
    /// small-subgroup check is needed beyond the curve equation.
    pub fn diffie_hellman(
        self,
        peer_point: &[u8],
    ) -> Result<Zeroizing<[u8; KX_SHARED_SECRET_BYTES]>, CryptoError> {
        let peer = parse_peer_point(peer_point)?;
        let shared = peer.to_projective() * *self.secret.to_nonzero_scalar();
        // A valid peer point times a non-zero scalar below the group order is never the
        // identity, but the check is cheap and keeps an all-zero secret out of the key
        // schedule even if the arithmetic below us were wrong.
        if bool::from(shared.is_identity()) {
            return Err(CryptoError::InvalidPublicKey);
        }
        // The field-bytes type is 32 bytes by construction, so this conversion is total.
        Ok(Zeroizing::new(shared.to_affine().x().into()))
    }
}

fn parse_peer_point(bytes: &[u8]) -> Result<sm2::PublicKey, CryptoError> {
    // RFC 8998 fixes the uncompressed form; a compressed or hybrid encoding is a protocol
    // violation even though the curve library could decode it.
    if bytes.len() != KX_POINT_BYTES || bytes.first() != Some(&SEC1_UNCOMPRESSED_TAG) {
        return Err(CryptoError::InvalidPublicKey);
    }
    // `from_sec1_bytes` checks the curve equation and refuses the identity.
    sm2::PublicKey::from_sec1_bytes(bytes).map_err(|_| CryptoError::InvalidPublicKey)
}

impl fmt::Debug for EphemeralKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EphemeralKey")
            .field("public_point", &hex::encode(self.public_point))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_agree() {
        let alice = EphemeralKey::generate();
        let bob = EphemeralKey::generate();
        let alice_point = *alice.public_point();
        let bob_point = *bob.public_point();
        let alice_secret = alice.diffie_hellman(&bob_point).unwrap();
        let bob_secret = bob.diffie_hellman(&alice_point).unwrap();
        assert_eq!(*alice_secret, *bob_secret);
        assert_ne!(*alice_secret, [0u8; KX_SHARED_SECRET_BYTES]);
    }

    #[test]
    fn fresh_keys_differ() {
        assert_ne!(
            EphemeralKey::generate().public_point(),
            EphemeralKey::generate().public_point()
        );
    }

    #[test]
    fn matches_static_key_arithmetic() {
        // d_a * (d_b * G) must equal d_b * (d_a * G); checking against the signature key
        // type's independently derived public point ties `public_point` to the scalar.
        let peer = crate::PrivateKey::generate();
        let ours = EphemeralKey::generate();
        let ours_point = *ours.public_point();
        let via_ephemeral = ours
            .diffie_hellman(&peer.public_key().to_sec1_uncompressed())
            .unwrap();
        let peer_as_ephemeral = EphemeralKey {
            secret: peer.secret().clone(),
            public_point: peer.public_key().to_sec1_uncompressed(),
        };
        let via_peer = peer_as_ephemeral.diffie_hellman(&ours_point).unwrap();
        assert_eq!(*via_ephemeral, *via_peer);
    }

    #[test]
    fn rejects_bad_points() {
        let good = *EphemeralKey::generate().public_point();
        // Wrong length, compressed form, identity encoding, off-curve, empty.
        let compressed = {
            let key = crate::PrivateKey::generate();
            let mut c = vec![0x02 | (key.public_key().to_sec1_uncompressed()[64] & 1)];
            c.extend_from_slice(&key.public_key().to_sec1_uncompressed()[1..33]);
            c
        };
        let mut off_curve = good;
        off_curve[64] ^= 1;
        let mut wrong_tag = good;
        wrong_tag[0] = 0x06;
        let cases: Vec<Vec<u8>> = vec![
            Vec::new(),
            vec![0x00],
            good[..64].to_vec(),
            [&good[..], &[0u8]].concat(),
            compressed,
            off_curve.to_vec(),
            wrong_tag.to_vec(),
            {
                let mut zero = vec![0u8; KX_POINT_BYTES];
                zero[0] = SEC1_UNCOMPRESSED_TAG;
                zero
            },
        ];
        for case in cases {
            let key = EphemeralKey::generate();
            assert_eq!(
                key.diffie_hellman(&case).map(|_| ()),
                Err(CryptoError::InvalidPublicKey),
                "{case:02x?}"
            );
        }
    }
}
