//! SM-TLS: TLS 1.3 with the Chinese national algorithms of RFC 8998, as a rustls
//! `CryptoProvider`, plus the small tokio API every netsettle link uses.
//!
//! What it does: one cipher suite (`TLS_SM4_GCM_SM3`), one key-exchange group
//! (`curveSM2`), one signature scheme (`sm2sig_sm3`), TLS 1.3 only, mutual authentication
//! with one SM2 certificate per node, verified against a configured set of roots (both
//! carriers' CAs) with a pluggable revocation check. Nothing else can be negotiated.
//!
//! What it leaves out: the SM algorithms themselves and X.509 parsing and chain checks
//! (`netsettle-smcrypto`), CRL fetching and policy about which certificate may do what
//! (`netsettle-msp`), TLCP's dual-certificate mode, session resumption and 0-RTT.
//!
//! Reading order: the algorithm pieces (`suite`, `aead`, `kx`, `sign`) assembled by
//! `provider`, the certificate checks in `verify` and `revocation`, then `config` and
//! `stream`.

mod aead;
mod config;
mod error;
mod kx;
mod provider;
mod revocation;
mod sign;
mod stream;
mod suite;
mod verify;

pub use config::{
    PEM_FILE_BYTES_MAX, TRUST_ANCHORS_MAX, TlsIdentity, TrustAnchors, client_config, server_config,
};
pub use error::{ConfigError, DetectedBy, HandshakeFailure, TlsError};
pub use provider::{provider, provider_arc};
pub use revocation::{CrlRevocation, NoRevocation, RevocationCheck, RevocationError};
pub use stream::{HANDSHAKE_TIMEOUT, PeerIdentity, TlsStream, accept, connect, connect_stream};
pub use suite::{CURVE_SM2, SM2SIG_SM3, TLS_SM4_GCM_SM3, TLS13_SM4_GCM_SM3};
pub use verify::{Sm2ClientVerifier, Sm2ServerVerifier};
