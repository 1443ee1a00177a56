//! Chinese national cryptography for netsettle: SM3 hashing, SM2 signatures and keys,
//! SM4 encryption, and SM2 X.509 certificates.
//!
//! Everything above this crate (TLS, protocol, ledger, contract) goes through these types
//! and never touches the RustCrypto `sm2`/`sm3`/`sm4` crates directly, so algorithm
//! choices (signer ID, DER encoding, nonce sizes) are made once, here.
//!
//! Peers check thousands of signatures per block, so [`BatchVerifier`] spreads SM2
//! verification over all cores with a bounded batch ([`BATCH_JOBS_MAX`]); each verification
//! runs on a variable-time path specialised to the SM2 curve (`sm2v`: public data only),
//! while signing stays on the constant-time `sm2` crate. Certificates,
//! CSRs, CRLs and chain verification live in [`x509`].
//!
//! What it leaves out: network I/O, TLS (see `netsettle-smtls`), and policy (which
//! certificate may do what lives in `netsettle-msp`).

mod batch;
mod error;
mod file;
mod hash;
mod keys;
mod kx;
mod mac;
mod pem;
mod sign;
mod sm2v;
mod sm4gcm;
mod sm4ni;
mod symmetric;
pub mod x509;

pub use batch::{BATCH_JOBS_MAX, BatchVerifier, VerifyJob};
pub use error::{CertificateError, CryptoError, EncodingError};
pub use file::{read_file_bounded, read_text_file_bounded};
pub use hash::{Hash, Sm3Hasher, sm3};
pub use keys::{PRIVATE_KEY_PEM_LABEL, PUBLIC_KEY_PEM_LABEL};
pub use kx::{EphemeralKey, KX_POINT_BYTES, KX_SHARED_SECRET_BYTES};
pub use mac::{HMAC_SM3_TAG_BYTES, HmacSm3Key, hmac_sm3};
pub use sign::{DEFAULT_DIST_ID, PrivateKey, PublicKey, Signature, TLS13_DIST_ID};
#[doc(hidden)]
pub use sm2v::{check_sm2_verify_differential, verify_prehashed_every_path};
#[doc(hidden)]
pub use sm4gcm::{
    CtrPath, reference as sm4gcm_reference, sm4_aesni_available, sm4_aesni_avx2_available,
    sm4_encrypt_block, sm4_encrypt_block_with, sm4_sbox, sm4_sbox_aesni,
};
pub use sm4gcm::{GCM_PLAINTEXT_BYTES_MAX, Sm4GcmKey};
#[doc(hidden)]
pub use sm4ni::sbox_model as sm4_sbox_model;
pub use symmetric::{
    GCM_NONCE_BYTES, GCM_TAG_BYTES, SM4_BLOCK_BYTES, SM4_KEY_BYTES, Sm4Key, cbc_decrypt,
    cbc_encrypt, gcm_open, gcm_seal, random_bytes,
};
