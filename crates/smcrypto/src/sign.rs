//! SM2 signatures (GB/T 32918.2, GM/T 0009): keys, the signer-ID–bound `Z` value, DER
//! signatures.
//!
//! Every signature in netsettle is made over `SM3(Z ‖ message)` where `Z` binds the
//! signer's public key and a distinguishing ID. Certificates, CRLs, transactions and blocks
//! use the GM/T 0009 default ID [`DEFAULT_DIST_ID`]; TLS 1.3 handshake signatures use the
//! ID fixed by RFC 8998, [`TLS13_DIST_ID`]. The ID is therefore always a parameter, with
//! the default-ID forms as shorthands.

use core::fmt;

use sm2::dsa::signature::{RandomizedSigner as _, Signer as _, Verifier as _};
use sm2::elliptic_curve::Generate as _;
use zeroize::Zeroizing;

use crate::sm2v::{self, CURVE_A, CURVE_B, GENERATOR_X, GENERATOR_Y, KeyBytes};
use crate::{CryptoError, Hash, Sm3Hasher};

/// The GM/T 0009 default signer ID, used for everything except TLS handshakes.
pub const DEFAULT_DIST_ID: &str = "1234567812345678";

/// The signer ID RFC 8998 §3.2.1 fixes for TLS 1.3 `CertificateVerify` signatures.
pub const TLS13_DIST_ID: &str = "TLSv1.3+GM+Cipher+Suite";

/// Longest ID whose bit length fits the 16-bit `ENTL` field of `Z`.
const DIST_ID_BYTES_MAX: usize = 8191;

fn check_dist_id(dist_id: &str) -> Result<(), CryptoError> {
    if dist_id.len() > DIST_ID_BYTES_MAX {
        return Err(CryptoError::DistIdTooLong);
    }
    Ok(())
}

/// An SM2 private key. The signing key for the default ID is precomputed, and so is
/// `(1 + d)^-1 mod n`, the one inversion of the signing equation that depends only on the
/// key (GB/T 32918.2 step A6): default-ID signatures skip it ([`PrivateKey::sign`]).
#[derive(Clone)]
pub struct PrivateKey {
    secret: sm2::SecretKey,
    signing_default: sm2::dsa::SigningKey,
    /// `(1 + d)^-1 mod n`; zero only for the one key the crate accepts that has none
    /// (d = n - 1), whose signatures then take the crate's path (`sign_digest` gives s = 0).
    d_plus_1_inv: Zeroizing<sm2::Scalar>,
    public: PublicKey,
}

impl PrivateKey {
    /// A fresh key from the operating system's RNG.
    pub fn generate() -> Self {
        let secret = sm2::SecretKey::generate();
        Self::from_secret(secret)
    }

    fn from_secret(secret: sm2::SecretKey) -> Self {
        // The default ID is 16 bytes, so building its signing key cannot fail.
        let signing_default = sm2::dsa::SigningKey::new(DEFAULT_DIST_ID, &secret)
            .expect("default SM2 ID is short enough");
        let public = PublicKey::from_point(secret.public_key());
        let d: &sm2::Scalar = signing_default.as_nonzero_scalar();
        // GB/T 32918.1 keys have d in [1, n-2], so 1 + d is never 0 mod n; `sm2::SecretKey`
        // accepts d = n - 1 too, whose signatures the crate would refuse as well.
        let d_plus_1_inv = Zeroizing::new(
            Option::<sm2::Scalar>::from((*d + sm2::Scalar::ONE).invert())
                .unwrap_or(sm2::Scalar::ZERO),
        );
        PrivateKey {
            secret,
            signing_default,
            d_plus_1_inv,
            public,
        }
    }

    /// The private scalar as 32 big-endian bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let secret =
            sm2::SecretKey::from_slice(bytes).map_err(|_| CryptoError::InvalidPrivateKey)?;
        Ok(Self::from_secret(secret))
    }

    /// The private scalar as 32 big-endian bytes, wiped when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&self.secret.to_bytes());
        out
    }

    /// The matching public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Sign `message` with the default ID (`1234567812345678`).
    pub fn sign(&self, message: &[u8]) -> Signature {
        let digest = message_digest(&self.public.z_default, message);
        // Hedged, as `sign_with`: RFC 6979 over key and digest mixed with fresh OS
        // randomness; plain RFC 6979 if the OS RNG fails.
        let mut entropy = Zeroizing::new([0u8; 32]);
        let data: &[u8] = if getrandom::fill(entropy.as_mut_slice()).is_ok() {
            entropy.as_slice()
        } else {
            &[]
        };
        match self.sign_digest(digest.as_bytes(), data) {
            Some(raw) => Signature(sm2::dsa::DerSignature::from(raw).to_vec()),
            // r = 0, r + k = n or s = 0: negligible; the crate's own path decides.
            None => sign_with(&self.signing_default, message),
        }
    }

    /// The same hedged default-ID signature made by the `sm2` crate's own signing path (one
    /// more scalar inversion per signature), for benches and differential tests.
    pub fn sign_sm2_crate(&self, message: &[u8]) -> Signature {
        sign_with(&self.signing_default, message)
    }

    /// GB/T 32918.2 steps A2-A7 for digest `e` = SM3(Z ‖ M), as the `sm2` crate signs a
    /// prehash (RFC 6979 nonce with `data` as added entropy, constant-time scalar and point
    /// arithmetic of the crate) but with the key's `(1 + d)^-1` kept: the same signature as
    /// the crate's for the same `data`. `None` in the cases where the standard says to pick
    /// another k (r = 0, r + k = n, s = 0), and for the one key (d = n - 1) with no inverse.
    fn sign_digest(&self, digest: &[u8; 32], data: &[u8]) -> Option<sm2::dsa::Signature> {
        use sm2::elliptic_curve::point::AffineCoordinates as _;
        use sm2::elliptic_curve::subtle::ConstantTimeEq as _;
        use sm2::elliptic_curve::{Curve as _, Group as _, PrimeField as _};

        let d: &sm2::Scalar = self.signing_default.as_nonzero_scalar();
        // A2: e as a scalar (the digest is exactly as long as n).
        let e = <sm2::Scalar as sm2::elliptic_curve::ops::Reduce<sm2::U256>>::reduce(
            &sm2::U256::from_be_slice(digest),
        );
        // A3: k from HMAC-DRBG (SM3) over d, e and `data`, uniform in [1, n-1].
        let secret_bytes = Zeroizing::new(d.to_repr());
        let mut kgen = rfc6979::KGenerator::<sm3::Sm3, sm2::U256>::new(
            &secret_bytes,
            &e.to_bytes(),
            data,
            &sm2::Sm2::ORDER,
        );
        let mut k_bytes = Zeroizing::new(sm2::FieldBytes::default());
        kgen.fill_next_k(&mut k_bytes);
        let k = Zeroizing::new(Option::<sm2::Scalar>::from(sm2::Scalar::from_repr(
            *k_bytes,
        ))?);
        // A4: (x1, y1) = [k]G.
        let point = sm2::ProjectivePoint::mul_by_generator(&*k).to_affine();
        // A5: r = (e + x1) mod n; another k if r = 0 or r + k = n.
        let r = e + <sm2::Scalar as sm2::elliptic_curve::ops::Reduce<sm2::FieldBytes>>::reduce(
            &point.x(),
        );
        if bool::from(r.is_zero() | (r + *k).ct_eq(&sm2::Scalar::ZERO)) {
            return None;
        }
        // A6: s = (1 + d)^-1 (k - r d) mod n.
        let s = *self.d_plus_1_inv * (*k - r * d);
        // A7 (s = 0 is refused by `from_scalars`).
        sm2::dsa::Signature::from_scalars(r, s).ok()
    }

    /// Sign `message` with an explicit signer ID (e.g. [`TLS13_DIST_ID`]).
    pub fn sign_with_id(&self, dist_id: &str, message: &[u8]) -> Result<Signature, CryptoError> {
        check_dist_id(dist_id)?;
        let signing = sm2::dsa::SigningKey::new(dist_id, &self.secret)
            .map_err(|_| CryptoError::DistIdTooLong)?;
        Ok(sign_with(&signing, message))
    }

    /// The default-ID signing key, for the x509-cert builders that need a `Keypair` with
    /// a signature algorithm identifier to fill in the TBS.
    pub(crate) fn signing_key_default(&self) -> &sm2::dsa::SigningKey {
        &self.signing_default
    }

    pub(crate) fn secret(&self) -> &sm2::SecretKey {
        &self.secret
    }

    pub(crate) fn from_sm2(secret: sm2::SecretKey) -> Self {
        Self::from_secret(secret)
    }
}

fn sign_with(signing: &sm2::dsa::SigningKey, message: &[u8]) -> Signature {
    // Hedged signing: k comes from RFC 6979 over the key and digest, mixed with fresh OS
    // randomness, so neither a bad RNG nor a repeated message leaks the key. If the OS RNG
    // fails, plain RFC 6979 (deterministic k) is still safe.
    let raw: sm2::dsa::Signature = signing
        .try_sign_with_rng(&mut getrandom::SysRng, message)
        .or_else(|_| signing.try_sign(message))
        .expect("SM2 signing with a valid key only fails with negligible probability");
    let der = sm2::dsa::DerSignature::from(raw);
    Signature(der.to_vec())
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// An SM2 public key (a point on the SM2 curve) with its coordinates and default-ID `Z`
/// cached for verification.
#[derive(Clone)]
pub struct PublicKey {
    point: sm2::PublicKey,
    /// `x ‖ y`, what the verifier and its key cache take.
    coordinates: KeyBytes,
    /// `Z` for [`DEFAULT_DIST_ID`], which nearly every signature uses.
    z_default: Hash,
}

impl PublicKey {
    fn from_point(point: sm2::PublicKey) -> Self {
        let sec1 = point.to_sec1_bytes();
        let mut coordinates = [0u8; 64];
        // An uncompressed SM2 point is `04 ‖ x ‖ y`, 65 bytes.
        coordinates.copy_from_slice(sec1.get(1..).unwrap_or_default());
        let z_default = z_value_of(&coordinates, DEFAULT_DIST_ID);
        PublicKey {
            point,
            coordinates,
            z_default,
        }
    }

    /// Parse a SEC1 point (uncompressed `04‖x‖y` or compressed).
    pub fn from_sec1(bytes: &[u8]) -> Result<Self, CryptoError> {
        let point =
            sm2::PublicKey::from_sec1_bytes(bytes).map_err(|_| CryptoError::InvalidPublicKey)?;
        Ok(Self::from_point(point))
    }

    /// The uncompressed SEC1 encoding, 65 bytes `04‖x‖y`.
    pub fn to_sec1_uncompressed(&self) -> [u8; 65] {
        let mut out = [4u8; 65];
        out[1..].copy_from_slice(&self.coordinates);
        out
    }

    /// Verify a DER signature over `message` made with the default ID.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), CryptoError> {
        self.verify_with_z(&self.z_default, message, signature)
    }

    /// Verify a DER signature over `message` made with an explicit signer ID.
    pub fn verify_with_id(
        &self,
        dist_id: &str,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), CryptoError> {
        let z = self.z_value(dist_id)?;
        self.verify_with_z(&z, message, signature)
    }

    /// Verification on the variable-time path ([`crate::sm2v`]): e = SM3(Z ‖ M), then
    /// s·G + t·P from precomputed tables.
    fn verify_with_z(
        &self,
        z: &Hash,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), CryptoError> {
        let raw = signature.to_raw()?;
        let e = message_digest(z, message);
        if sm2v::verify_prehashed(&self.coordinates, e.as_bytes(), &raw) {
            Ok(())
        } else {
            Err(CryptoError::BadSignature)
        }
    }

    /// The same check on the `sm2` crate's constant-time arithmetic: the reference the
    /// differential tests and the benchmark compare the fast path against. Not for
    /// production use (about 4× slower).
    #[doc(hidden)]
    pub fn verify_with_id_sm2_crate(
        &self,
        dist_id: &str,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), CryptoError> {
        check_dist_id(dist_id)?;
        let verifying = sm2::dsa::VerifyingKey::new(dist_id, self.point)
            .map_err(|_| CryptoError::DistIdTooLong)?;
        let raw = signature.to_sm2()?;
        verifying
            .verify(message, &raw)
            .map_err(|_| CryptoError::BadSignature)
    }

    /// The GB/T 32918.2 user hash `Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA)` that
    /// every signature by this key with `dist_id` is bound to. Interop debugging needs it:
    /// a signature that verifies nowhere usually means the two sides disagree on the ID.
    pub fn z_value(&self, dist_id: &str) -> Result<Hash, CryptoError> {
        check_dist_id(dist_id)?;
        Ok(z_value_of(&self.coordinates, dist_id))
    }

    pub(crate) fn as_sm2(&self) -> &sm2::PublicKey {
        &self.point
    }

    pub(crate) fn from_sm2(point: sm2::PublicKey) -> Self {
        Self::from_point(point)
    }
}

/// `Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA)` for an ID already checked to fit
/// ENTL's 16 bits (at most [`DIST_ID_BYTES_MAX`] bytes).
/// e = SM3(Z ‖ M), what an SM2 signature signs and a verification checks.
fn message_digest(z: &Hash, message: &[u8]) -> Hash {
    let mut hasher = Sm3Hasher::new();
    hasher.update(z.as_bytes());
    hasher.update(message);
    hasher.finalize()
}

fn z_value_of(coordinates: &KeyBytes, dist_id: &str) -> Hash {
    let entl = u16::try_from(dist_id.len().saturating_mul(8)).unwrap_or(u16::MAX);
    let mut hasher = Sm3Hasher::new();
    hasher.update(&entl.to_be_bytes());
    hasher.update(dist_id.as_bytes());
    for constant in [CURVE_A, CURVE_B, GENERATOR_X, GENERATOR_Y] {
        hasher.update(&constant);
    }
    hasher.update(coordinates);
    hasher.finalize()
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.point == other.point
    }
}

impl Eq for PublicKey {}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", hex::encode(self.to_sec1_uncompressed()))
    }
}

/// A DER-encoded SM2 signature, `SEQUENCE { r INTEGER, s INTEGER }`, as X.509, CMS, TLS
/// and OpenSSL carry it.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Signature(Vec<u8>);

impl Signature {
    /// Longest DER SM2 signature: two 33-byte INTEGERs in a SEQUENCE.
    pub const DER_BYTES_MAX: usize = 72;

    /// Parse and check DER bytes (well-formed, r and s in [1, n-1]).
    pub fn from_der(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() > Self::DER_BYTES_MAX {
            return Err(CryptoError::MalformedSignature);
        }
        sm2::dsa::DerSignature::from_bytes(bytes)
            .and_then(sm2::dsa::Signature::try_from)
            .map_err(|_| CryptoError::MalformedSignature)?;
        Ok(Signature(bytes.to_vec()))
    }

    /// From the fixed 64-byte `r‖s` form.
    pub fn from_raw(bytes: &[u8]) -> Result<Self, CryptoError> {
        let raw =
            sm2::dsa::Signature::from_slice(bytes).map_err(|_| CryptoError::MalformedSignature)?;
        Ok(Signature(sm2::dsa::DerSignature::from(raw).to_vec()))
    }

    /// The DER bytes.
    pub fn as_der(&self) -> &[u8] {
        &self.0
    }

    /// The fixed 64-byte `r‖s` form.
    pub fn to_raw(&self) -> Result<[u8; 64], CryptoError> {
        let raw = self.to_sm2()?;
        let mut out = [0u8; 64];
        out.copy_from_slice(&raw.to_bytes());
        Ok(out)
    }

    fn to_sm2(&self) -> Result<sm2::dsa::Signature, CryptoError> {
        // Signatures may arrive through serde without passing `from_der`, so parse again.
        if self.0.len() > Self::DER_BYTES_MAX {
            return Err(CryptoError::MalformedSignature);
        }
        sm2::dsa::DerSignature::from_bytes(&self.0)
            .and_then(sm2::dsa::Signature::try_from)
            .map_err(|_| CryptoError::MalformedSignature)
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_default_id() {
        let key = PrivateKey::generate();
        let sig = key.sign(b"settlement 2026-10");
        assert_eq!(key.public_key().verify(b"settlement 2026-10", &sig), Ok(()));
        assert_eq!(
            key.public_key().verify(b"settlement 2026-11", &sig),
            Err(CryptoError::BadSignature)
        );
    }

    #[test]
    fn signer_id_is_bound() {
        let key = PrivateKey::generate();
        let sig = key.sign_with_id(TLS13_DIST_ID, b"hello").unwrap();
        assert_eq!(
            key.public_key()
                .verify_with_id(TLS13_DIST_ID, b"hello", &sig),
            Ok(())
        );
        assert_eq!(
            key.public_key().verify(b"hello", &sig),
            Err(CryptoError::BadSignature)
        );
    }

    #[test]
    fn other_key_rejected() {
        let a = PrivateKey::generate();
        let b = PrivateKey::generate();
        let sig = a.sign(b"m");
        assert_eq!(
            b.public_key().verify(b"m", &sig),
            Err(CryptoError::BadSignature)
        );
    }

    #[test]
    fn malformed_der_rejected() {
        assert_eq!(
            Signature::from_der(b"\x30\x00"),
            Err(CryptoError::MalformedSignature)
        );
        assert_eq!(
            Signature::from_der(&[0u8; 100]),
            Err(CryptoError::MalformedSignature)
        );
        let key = PrivateKey::generate();
        let sig = key.sign(b"m");
        let raw = sig.to_raw().unwrap();
        assert_eq!(Signature::from_raw(&raw).unwrap(), sig);
    }

    // GB/T 32918.2 / GM/T 0003.2 worked example on the recommended curve, cross-checked
    // against several independent implementations' test suites.
    const KAT_D: &str = "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8";
    const KAT_X: &str = "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020";
    const KAT_Y: &str = "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13";
    const KAT_K: &str = "59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21";
    const KAT_Z: &str = "B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3";
    const KAT_E: &str = "F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640";
    const KAT_R: &str = "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3";
    const KAT_S: &str = "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA";
    const KAT_MESSAGE: &[u8] = b"message digest";

    fn bytes32(hex_text: &str) -> [u8; 32] {
        hex::decode(hex_text).unwrap().try_into().unwrap()
    }

    /// GB/T 32918.2 §6.1 steps A4–A6 with a caller-chosen k, on the sm2 crate's field
    /// arithmetic. Test-only: production signing never takes k from outside.
    fn sign_with_fixed_k(secret: [u8; 32], k: [u8; 32], e: [u8; 32]) -> [u8; 64] {
        use sm2::elliptic_curve::PrimeField as _;
        use sm2::elliptic_curve::ops::Reduce as _;
        use sm2::elliptic_curve::point::AffineCoordinates as _;

        let d = sm2::Scalar::from_repr(secret.into()).unwrap();
        let k = sm2::Scalar::from_repr(k.into()).unwrap();
        let e = sm2::Scalar::reduce(&sm2::FieldBytes::from(e));
        let point = (sm2::ProjectivePoint::GENERATOR * k).to_affine();
        let r = e + sm2::Scalar::reduce(&point.x());
        let s = (d + sm2::Scalar::ONE).invert().unwrap() * (k - r * d);
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(&r.to_repr());
        out[32..].copy_from_slice(&s.to_repr());
        out
    }

    #[test]
    fn gbt_32918_key_and_z_value() {
        let key = PrivateKey::from_bytes(&bytes32(KAT_D)).unwrap();
        let point = key.public_key().to_sec1_uncompressed();
        assert_eq!(hex::encode_upper(&point[1..33]), KAT_X);
        assert_eq!(hex::encode_upper(&point[33..]), KAT_Y);
        let z = key.public_key().z_value(DEFAULT_DIST_ID).unwrap();
        assert_eq!(z.to_hex(), KAT_Z.to_lowercase());
        let mut hasher = Sm3Hasher::new();
        hasher.update(z.as_bytes());
        hasher.update(KAT_MESSAGE);
        assert_eq!(hasher.finalize().to_hex(), KAT_E.to_lowercase());
    }

    #[test]
    fn gbt_32918_published_signature_verifies() {
        let key = PrivateKey::from_bytes(&bytes32(KAT_D)).unwrap();
        let raw = hex::decode(format!("{KAT_R}{KAT_S}")).unwrap();
        let signature = Signature::from_raw(&raw).unwrap();
        assert_eq!(key.public_key().verify(KAT_MESSAGE, &signature), Ok(()));
        assert_eq!(
            key.public_key().verify(b"message digesT", &signature),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(
            key.public_key()
                .verify_with_id("1234567812345679", KAT_MESSAGE, &signature),
            Err(CryptoError::BadSignature)
        );
    }

    #[test]
    fn gbt_32918_signature_reproduced_with_fixed_k() {
        let raw = sign_with_fixed_k(bytes32(KAT_D), bytes32(KAT_K), bytes32(KAT_E));
        assert_eq!(hex::encode_upper(&raw[..32]), KAT_R);
        assert_eq!(hex::encode_upper(&raw[32..]), KAT_S);
    }

    #[test]
    fn z_value_rejects_overlong_id() {
        let key = PrivateKey::generate();
        let long_id = "x".repeat(DIST_ID_BYTES_MAX + 1);
        assert_eq!(
            key.public_key().z_value(&long_id),
            Err(CryptoError::DistIdTooLong)
        );
    }

    /// The default-ID path with the kept `(1 + d)^-1` makes the `sm2` crate's signature
    /// bit for bit (same RFC 6979 nonce without added entropy), for many keys and digests;
    /// with entropy, its signatures verify under both verifiers and are never repeated.
    #[test]
    fn kept_inverse_signatures_are_the_sm2_crate_s() {
        use sm2::dsa::signature::hazmat::PrehashSigner as _;
        for i in 0u32..300 {
            let key = PrivateKey::generate();
            let message = format!("transaction {i}").repeat(usize::try_from(i % 7).unwrap());
            let digest = message_digest(&key.public_key().z_default, message.as_bytes());
            let ours = key.sign_digest(digest.as_bytes(), &[]).unwrap();
            let crate_s: sm2::dsa::Signature =
                key.signing_default.sign_prehash(digest.as_bytes()).unwrap();
            assert_eq!(ours, crate_s, "key {i}");

            let hedged = key.sign(message.as_bytes());
            let again = key.sign(message.as_bytes());
            assert_ne!(hedged, again, "fresh entropy per signature");
            for sig in [&hedged, &again] {
                assert_eq!(key.public_key().verify(message.as_bytes(), sig), Ok(()));
                assert_eq!(
                    key.public_key().verify_with_id_sm2_crate(
                        DEFAULT_DIST_ID,
                        message.as_bytes(),
                        sig
                    ),
                    Ok(())
                );
            }
            assert_eq!(
                key.public_key().verify(b"another message", &hedged),
                Err(CryptoError::BadSignature)
            );
        }
    }

    #[test]
    fn key_bytes_round_trip() {
        let key = PrivateKey::generate();
        let again = PrivateKey::from_bytes(&key.to_bytes()[..]).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        assert!(PrivateKey::from_bytes(&[0u8; 32]).is_err());
        let pk = PublicKey::from_sec1(&key.public_key().to_sec1_uncompressed()).unwrap();
        assert_eq!(&pk, key.public_key());
        assert_eq!(
            PublicKey::from_sec1(&[4u8; 65]),
            Err(CryptoError::InvalidPublicKey)
        );
    }
}
