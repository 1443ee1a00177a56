//! Who is calling: the client certificate the TLS handshake verified, judged as a member
//! of the channel.
//!
//! The handshake trusts the MSP roots of every organisation in the channel config in
//! force (both carriers) and refuses a certificate that an organisation's CRL lists; a
//! connection without a client certificate never completes. After the handshake the leaf
//! is validated by the channel's MSPs (the organisation whose roots it chains to, exactly
//! one role OU), which gives the [`Caller`] every handler receives.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use netsettle_msp::ChannelState;
use netsettle_protocol::{Identity, Role};
use netsettle_smcrypto::x509::{Certificate, Crl};
use netsettle_smtls::{RevocationCheck, RevocationError, TlsIdentity, TrustAnchors};
use rustls::ServerConfig;

use crate::GatewayError;

/// An authenticated caller, from its verified client certificate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Caller {
    /// The organisation that vouches for the certificate.
    pub msp_id: String,
    /// The role OU (`client`, `admin`, `peer`, `orderer`).
    pub role: String,
    /// The certificate's common name: the user recorded as `on_behalf_of`.
    pub common_name: String,
    /// The certificate's subject DN.
    pub subject: String,
    /// Attribute OUs of the form `name=value` (e.g. `department=finance`).
    pub attributes: BTreeMap<String, String>,
}

impl Caller {
    /// Whether the certificate carries `department=finance`.
    pub fn is_finance(&self) -> bool {
        self.attributes.get("department").map(String::as_str) == Some("finance")
    }
}

/// The client trust of one channel config: the rustls server config that checks chains
/// and CRLs during the handshake, and the MSPs that name the caller after it.
struct ClientTrust {
    server: Arc<ServerConfig>,
    channel: Arc<ChannelState>,
}

/// The client trust in force, replaced whole when the channel config changes (a new CRL
/// takes effect on the next handshake without a restart).
pub struct Authenticator {
    identity: TlsIdentity,
    current: RwLock<Arc<ClientTrust>>,
}

impl Authenticator {
    /// Trust the organisations of `channel`, presenting `identity` (the node's TLS
    /// certificate) to callers.
    pub fn new(identity: TlsIdentity, channel: Arc<ChannelState>) -> Result<Self, GatewayError> {
        let trust = build(&identity, channel)?;
        Ok(Authenticator {
            identity,
            current: RwLock::new(Arc::new(trust)),
        })
    }

    /// Puts `channel`'s trust in force for new connections.
    pub fn replace(&self, channel: Arc<ChannelState>) -> Result<(), GatewayError> {
        let trust = Arc::new(build(&self.identity, channel)?);
        match self.current.write() {
            Ok(mut current) => *current = trust,
            Err(poisoned) => *poisoned.into_inner() = trust,
        }
        Ok(())
    }

    fn current(&self) -> Arc<ClientTrust> {
        match self.current.read() {
            Ok(current) => Arc::clone(&current),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// The rustls config for the next handshake.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.current().server)
    }

    /// The caller behind a verified client certificate, or why the channel does not
    /// vouch for it (another channel's CA, no role OU, expired at `at_unix`).
    pub fn caller(&self, leaf: &Certificate, at_unix: i64) -> Result<Caller, String> {
        let trust = self.current();
        let msps = &trust.channel.msps;
        let mut reasons = Vec::new();
        for msp_id in msps.msp_ids() {
            let identity = Identity {
                msp_id: msp_id.to_owned(),
                cert_der: leaf.der().to_vec(),
            };
            match msps.validate(&identity, at_unix) {
                Ok(validated) => return Ok(caller_of(&validated.msp_id, validated.role, leaf)),
                Err(error) => reasons.push(format!("{msp_id}: {error}")),
            }
        }
        Err(reasons.join("; "))
    }
}

fn caller_of(msp_id: &str, role: Role, leaf: &Certificate) -> Caller {
    let attributes = leaf
        .organizational_units()
        .into_iter()
        .filter_map(|ou| {
            let (name, value) = ou.split_once('=')?;
            Some((name.trim().to_owned(), value.trim().to_owned()))
        })
        .collect();
    Caller {
        msp_id: msp_id.to_owned(),
        role: format!("{role:?}").to_lowercase(),
        common_name: leaf.common_name().unwrap_or_default(),
        subject: leaf.subject_dn(),
        attributes,
    }
}

fn build(identity: &TlsIdentity, channel: Arc<ChannelState>) -> Result<ClientTrust, GatewayError> {
    let bad = |what: &str, error: String| GatewayError::Trust(format!("{what}: {error}"));
    let mut roots = Vec::new();
    let mut crls = Vec::new();
    for org in &channel.config.orgs {
        for der in &org.root_certs_der {
            roots.push(Certificate::from_der(der).map_err(|e| bad("MSP root", e.to_string()))?);
        }
        for der in &org.crls_der {
            crls.push(Crl::from_der(der).map_err(|e| bad("CRL", e.to_string()))?);
        }
    }
    let anchors = TrustAnchors::new(roots).map_err(|e| bad("MSP roots", e.to_string()))?;
    let revocation: Arc<dyn RevocationCheck> = Arc::new(ChannelCrls { crls });
    let server = netsettle_smtls::server_config(identity, &anchors, revocation)
        .map_err(|e| bad("server config", e.to_string()))?;
    Ok(ClientTrust { server, channel })
}

/// The organisations' CRLs as the handshake's revocation check, with the MSP's meaning:
/// a certificate is revoked when a CRL its issuer signed lists it; an issuer without a
/// CRL has revoked nothing (the channel config does not promise fresh CRLs).
struct ChannelCrls {
    crls: Vec<Crl>,
}

impl RevocationCheck for ChannelCrls {
    fn is_revoked(
        &self,
        certificate: &Certificate,
        issuer: &Certificate,
        _at_unix: i64,
    ) -> Result<bool, RevocationError> {
        let issuer_dn = issuer.subject_dn();
        Ok(self.crls.iter().any(|crl| {
            crl.issuer_dn() == issuer_dn
                && crl.verify_signed_by(issuer).is_ok()
                && crl.is_revoked(certificate.serial())
        }))
    }
}
