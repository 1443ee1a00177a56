//! SM-TLS configurations for the enrollment service. Everything else in netsettle uses
//! mandatory mutual TLS (`netsettle_smtls::server_config`); the CA alone must also accept
//! clients that have no certificate yet, because enrolling is how they get one.
//!
//! So the server uses smtls's client verifier made optional
//! ([`Sm2ClientVerifier::optional`]): it offers client authentication and verifies any
//! certificate presented exactly as everywhere else, but does not require one. The server then allows a certificate-less connection to send
//! only `Enroll` (see `server.rs`). The server's own identity and the SM-only provider
//! come from smtls unchanged.

use std::sync::{Arc, RwLock};

use rustls::{ClientConfig, ServerConfig};

use netsettle_smcrypto::x509::Certificate;
use netsettle_smtls::{
    NoRevocation, RevocationCheck, RevocationError, Sm2ClientVerifier, Sm2ServerVerifier, TlsError,
    TlsIdentity, TrustAnchors,
};

/// Revocation as the CA itself knows it: the serials it has revoked, updated in place.
#[derive(Debug, Clone, Default)]
pub struct RevokedSerials {
    serials: Arc<RwLock<std::collections::BTreeSet<Vec<u8>>>>,
}

impl RevokedSerials {
    /// Replace the set (after a revocation).
    pub fn set(&self, serials: std::collections::BTreeSet<Vec<u8>>) {
        // A poisoned lock only means another thread panicked mid-update of a plain set;
        // the set itself is still a valid value to overwrite.
        let mut guard = self
            .serials
            .write()
            .unwrap_or_else(|poison| poison.into_inner());
        *guard = serials;
    }
}

impl RevocationCheck for RevokedSerials {
    fn is_revoked(
        &self,
        certificate: &Certificate,
        _issuer: &Certificate,
        _at_unix: i64,
    ) -> Result<bool, RevocationError> {
        let guard = self
            .serials
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        Ok(guard.contains(certificate.serial()))
    }
}

/// The enrollment server's config: SM-TLS 1.3, our identity, client certificates
/// optional but verified against `trust` and `revocation` when presented.
pub fn server_config(
    identity: &TlsIdentity,
    trust: &TrustAnchors,
    revocation: Arc<dyn RevocationCheck>,
) -> Result<Arc<ServerConfig>, TlsError> {
    // Borrow smtls's certificate resolver (it owns the SM2 signing-key glue) from a
    // standard config, then pair it with the optional verifier.
    let standard = netsettle_smtls::server_config(identity, trust, Arc::clone(&revocation))?;
    let verifier = Arc::new(Sm2ClientVerifier::optional(trust.clone(), revocation));
    let mut config = ServerConfig::builder_with_provider(netsettle_smtls::provider_arc())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|err| TlsError::Config(netsettle_smtls::ConfigError::Rustls(err)))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::clone(&standard.cert_resolver));
    // As in smtls: no resumption, so every connection runs the full certificate checks.
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

/// A client config without a certificate, for enrolling: the server is still verified
/// against `trust` (the CA root obtained out of band).
pub fn anonymous_client_config(trust: &TrustAnchors) -> Result<Arc<ClientConfig>, TlsError> {
    let verifier = Arc::new(Sm2ServerVerifier::new(
        trust.clone(),
        Arc::new(NoRevocation),
    ));
    let mut config = ClientConfig::builder_with_provider(netsettle_smtls::provider_arc())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|err| TlsError::Config(netsettle_smtls::ConfigError::Rustls(err)))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

/// A client config presenting `identity` (register, re-enroll, revoke, CRL).
pub fn client_config(
    identity: &TlsIdentity,
    trust: &TrustAnchors,
) -> Result<Arc<ClientConfig>, TlsError> {
    // The client trusts the CA it dials; CA-side revocation is the server's business.
    Ok(netsettle_smtls::client_config(
        identity,
        trust,
        Arc::new(NoRevocation),
    )?)
}
