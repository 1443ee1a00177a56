//! Who may connect: the channel configuration decides. A remote node's TLS certificate
//! must chain to an organisation's TLS root (checked inside the handshake, together with
//! the organisations' CRLs, so a refused node gets a TLS alert that says why), then
//! `netsettle-msp` must accept it as a member of that organisation with a role allowed to
//! open node connections.

use std::sync::Arc;

use netsettle_msp::ChannelMsps;
use netsettle_protocol::{ChannelConfig, Identity, Role};
use netsettle_smcrypto::Hash;
use netsettle_smcrypto::x509::{Certificate, Crl, verify_chain};
use netsettle_smtls::{RevocationCheck, RevocationError, TrustAnchors};

use crate::error::{IdentityRefusal, NetError};
use crate::node_id::NodeId;

/// A connected node as its certificate and the channel configuration describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotePeer {
    /// Its network id (from the certificate's key).
    pub node_id: NodeId,
    /// Its organisation, e.g. `MobileMSP`.
    pub msp_id: String,
    /// Its role OU (peer, orderer, ...).
    pub role: Role,
    /// SM3 of its TLS certificate DER.
    pub fingerprint: Hash,
    /// Its certificate subject, for logs.
    pub subject: String,
}

/// The trust a node places in others, built from one channel configuration.
#[derive(Clone)]
pub struct ChannelTrust {
    msps: Arc<ChannelMsps>,
    anchors: TrustAnchors,
    crls: Arc<ChannelCrls>,
    allowed_roles: Vec<Role>,
}

impl core::fmt::Debug for ChannelTrust {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ChannelTrust")
            .field("channel", &self.msps.channel())
            .field("sequence", &self.msps.sequence())
            .field("allowed_roles", &self.allowed_roles)
            .finish_non_exhaustive()
    }
}

impl ChannelTrust {
    /// Trust the organisations of `config`; nodes with a role in `allowed_roles` may
    /// connect (usually `[Role::Peer, Role::Orderer]`).
    pub fn new(config: &ChannelConfig, allowed_roles: &[Role]) -> Result<Self, NetError> {
        let msps = ChannelMsps::from_config(config)
            .map_err(|error| NetError::Config(format!("channel config: {error}")))?;
        let parse = |der: &Vec<u8>, what: &str| {
            Certificate::from_der(der).map_err(|error| NetError::Config(format!("{what}: {error}")))
        };
        let mut roots = Vec::new();
        let mut crls = Vec::new();
        for org in &config.orgs {
            for der in &org.tls_root_certs_der {
                roots.push(parse(der, "TLS root certificate")?);
            }
            for der in &org.crls_der {
                let crl = Crl::from_der(der)
                    .map_err(|error| NetError::Config(format!("CRL: {error}")))?;
                crls.push(crl);
            }
        }
        let anchors = TrustAnchors::new(roots)
            .map_err(|error| NetError::Config(format!("TLS roots: {error}")))?;
        if allowed_roles.is_empty() {
            return Err(NetError::Config("no role may connect".to_owned()));
        }
        Ok(ChannelTrust {
            msps: Arc::new(msps),
            anchors,
            crls: Arc::new(ChannelCrls { crls }),
            allowed_roles: allowed_roles.to_vec(),
        })
    }

    /// The config sequence this trust was built from.
    pub fn sequence(&self) -> u64 {
        self.msps.sequence()
    }

    /// The channel this trust was built from.
    pub fn channel(&self) -> &str {
        self.msps.channel()
    }

    pub(crate) fn anchors(&self) -> &TrustAnchors {
        &self.anchors
    }

    pub(crate) fn revocation(&self) -> Arc<dyn RevocationCheck> {
        self.crls.clone()
    }

    /// Decide about a certificate that passed the TLS chain check: find the organisation
    /// that vouches for it and check its role.
    pub(crate) fn authorize(
        &self,
        certificate: &Certificate,
        at_unix: i64,
    ) -> Result<RemotePeer, IdentityRefusal> {
        let mut last_reason = String::from("no organisations");
        for msp_id in self.msps.msp_ids() {
            let identity = Identity {
                msp_id: msp_id.to_owned(),
                cert_der: certificate.der().to_vec(),
            };
            match self.msps.validate(&identity, at_unix) {
                Ok(validated) => {
                    if !self.allowed_roles.contains(&validated.role) {
                        return Err(IdentityRefusal::RoleNotAllowed {
                            subject: certificate.subject_dn(),
                            role: format!("{:?}", validated.role),
                        });
                    }
                    return Ok(RemotePeer {
                        node_id: NodeId::from_certificate(certificate),
                        msp_id: validated.msp_id,
                        role: validated.role,
                        fingerprint: validated.fingerprint,
                        subject: certificate.subject_dn(),
                    });
                }
                Err(error) => last_reason = format!("{msp_id}: {error}"),
            }
        }
        Err(IdentityRefusal::NoOrganisation {
            subject: certificate.subject_dn(),
            reason: last_reason,
        })
    }
}

impl ChannelTrust {
    /// Everything the handshake checks, again, for a chain (leaf first) that was accepted
    /// under an earlier trust: it still ends at one of these TLS roots, no CRL of these
    /// lists any of it, and an organisation of this config vouches for the leaf with an
    /// allowed role.
    pub(crate) fn recheck(
        &self,
        chain: &[Certificate],
        at_unix: i64,
    ) -> Result<RemotePeer, IdentityRefusal> {
        let Some((leaf, intermediates)) = chain.split_first() else {
            return Err(IdentityRefusal::TlsChain {
                subject: String::new(),
                reason: "no certificate".to_owned(),
            });
        };
        let refused = |reason: String| IdentityRefusal::TlsChain {
            subject: leaf.subject_dn(),
            reason,
        };
        let verified = verify_chain(leaf, intermediates, self.anchors.roots(), at_unix)
            .map_err(|error| refused(error.to_string()))?;
        for pair in verified.certificates().windows(2) {
            let [certificate, issuer] = pair else {
                continue;
            };
            if self.crls.lists(certificate, issuer) {
                return Err(refused(format!(
                    "{} is revoked by its issuer's CRL",
                    certificate.subject_dn()
                )));
            }
        }
        self.authorize(leaf, at_unix)
    }
}

/// The organisations' CRLs as the TLS verifiers' revocation check. Same meaning as in
/// the MSP: a certificate is revoked when a CRL its issuer signed lists it; an issuer
/// without a CRL has revoked nothing. (smtls's `CrlRevocation` is stricter, hard-failing
/// without a fresh CRL, which the channel config does not promise.)
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
        Ok(self.lists(certificate, issuer))
    }
}

impl ChannelCrls {
    /// Whether a CRL that `issuer` signed lists `certificate`.
    fn lists(&self, certificate: &Certificate, issuer: &Certificate) -> bool {
        let issuer_dn = issuer.subject_dn();
        self.crls.iter().any(|crl| {
            crl.issuer_dn() == issuer_dn
                && crl.verify_signed_by(issuer).is_ok()
                && crl.is_revoked(certificate.serial())
        })
    }
}
