//! Certificate and handshake-signature verification for both ends of a mutual SM-TLS
//! connection.
//!
//! A peer is accepted when (1) its chain verifies with smcrypto's X.509 chain check
//! against our trust anchors (SM2 with the default signer ID, validity times, CA flags,
//! path lengths), (2) the leaf is allowed for the purpose (serverAuth / clientAuth,
//! digitalSignature), (3) no certificate in the chain is revoked according to the
//! pluggable [`RevocationCheck`], (4) for servers, the leaf names the host or IP address
//! we dialled (or, for node links that identify the server by its key, any one of its
//! own: [`Sm2ServerVerifier::for_nodes`]), and (5) its `CertificateVerify` is an `sm2sig_sm3` signature under the RFC
//! 8998 signer ID. rustls's own WebPKI verifier is not used: it cannot parse SM2 keys or
//! apply two different SM2 IDs.

use core::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, OtherError, PeerMisbehaved,
    SignatureScheme,
};

use netsettle_smcrypto::x509::{CHAIN_CERTS_MAX, Certificate, VerifiedChain, verify_chain};
use netsettle_smcrypto::{CryptoError, Signature, TLS13_DIST_ID};

use crate::config::TrustAnchors;
use crate::revocation::{RevocationCheck, RevocationError};
use crate::suite::SM2SIG_SM3;

/// Which extended key usage the peer's leaf must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    ServerAuth,
    ClientAuth,
}

/// The checks both verifiers share.
struct ChainVerifier {
    anchors: TrustAnchors,
    revocation: Arc<dyn RevocationCheck>,
}

impl ChainVerifier {
    fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        purpose: Purpose,
    ) -> Result<VerifiedChain, Error> {
        // The chain check caps its own length, but the peer could send any number of
        // unrelated certificates; refuse to parse more than a chain could ever use.
        if intermediates.len() >= CHAIN_CERTS_MAX {
            return Err(other_certificate_error(format!(
                "peer sent {} intermediate certificates, more than {}",
                intermediates.len(),
                CHAIN_CERTS_MAX - 1
            )));
        }
        let leaf = parse_certificate(end_entity)?;
        let intermediates = intermediates
            .iter()
            .map(parse_certificate)
            .collect::<Result<Vec<_>, _>>()?;
        let at_unix = unix_seconds(now)?;
        let chain = verify_chain(&leaf, &intermediates, self.anchors.roots(), at_unix)
            .map_err(chain_error)?;
        check_purpose(chain.leaf(), purpose)?;
        self.check_revocation(&chain, at_unix)?;
        Ok(chain)
    }

    fn check_revocation(&self, chain: &VerifiedChain, at_unix: i64) -> Result<(), Error> {
        // Pairs (certificate, its issuer) from the leaf up; the root is trusted as
        // configured and has no issuer to ask.
        for pair in chain.certificates().windows(2) {
            let [certificate, issuer] = pair else {
                continue;
            };
            match self.revocation.is_revoked(certificate, issuer, at_unix) {
                Ok(false) => {}
                Ok(true) => return Err(Error::InvalidCertificate(CertificateError::Revoked)),
                Err(RevocationError::Stale { .. }) => {
                    return Err(Error::InvalidCertificate(
                        CertificateError::ExpiredRevocationList,
                    ));
                }
                Err(_) => {
                    return Err(Error::InvalidCertificate(
                        CertificateError::UnknownRevocationStatus,
                    ));
                }
            }
        }
        Ok(())
    }
}

fn parse_certificate(der: &CertificateDer<'_>) -> Result<Certificate, Error> {
    Certificate::from_der(der.as_ref())
        .map_err(|err| other_certificate_error(format!("unusable certificate: {err}")))
}

fn unix_seconds(now: UnixTime) -> Result<i64, Error> {
    i64::try_from(now.as_secs()).map_err(|_| Error::FailedToGetCurrentTime)
}

/// Map smcrypto's chain failures onto rustls's certificate errors, which decide the alert
/// the peer receives (unknown_ca, certificate_expired, bad_certificate).
fn chain_error(err: CryptoError) -> Error {
    use netsettle_smcrypto::CertificateError as Sm;
    let mapped = match &err {
        CryptoError::Certificate(Sm::UnknownIssuer { .. }) => CertificateError::UnknownIssuer,
        CryptoError::Certificate(Sm::Expired { not_after, at, .. }) => {
            match (to_unix_time(*at), to_unix_time(*not_after)) {
                (Some(time), Some(not_after)) => {
                    CertificateError::ExpiredContext { time, not_after }
                }
                _ => CertificateError::Expired,
            }
        }
        CryptoError::Certificate(Sm::NotYetValid { not_before, at, .. }) => {
            match (to_unix_time(*at), to_unix_time(*not_before)) {
                (Some(time), Some(not_before)) => {
                    CertificateError::NotValidYetContext { time, not_before }
                }
                _ => CertificateError::NotValidYet,
            }
        }
        // Forged links, non-CA issuers, path-length and extension violations: the chain
        // is not acceptable, and smcrypto's message says which link failed.
        _ => return other_certificate_error(err.to_string()),
    };
    Error::InvalidCertificate(mapped)
}

fn to_unix_time(seconds: i64) -> Option<UnixTime> {
    let seconds = u64::try_from(seconds).ok()?;
    Some(UnixTime::since_unix_epoch(core::time::Duration::from_secs(
        seconds,
    )))
}

/// A certificate failure with our own description; rustls sends `bad_certificate` for it.
fn other_certificate_error(detail: String) -> Error {
    let source: Box<dyn std::error::Error + Send + Sync> = detail.into();
    Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::from(source))))
}

fn check_purpose(leaf: &Certificate, purpose: Purpose) -> Result<(), Error> {
    // RFC 5280 §4.2.1.12: an absent extendedKeyUsage allows any purpose; a present one
    // must name ours. keyUsage, when present, must allow signatures, since the leaf's key
    // signs the handshake.
    if let Some(eku) = leaf.extended_key_usage() {
        let allowed = match purpose {
            Purpose::ServerAuth => eku.server_auth,
            Purpose::ClientAuth => eku.client_auth,
        };
        if !allowed {
            return Err(Error::InvalidCertificate(CertificateError::InvalidPurpose));
        }
    }
    if let Some(key_usage) = leaf.key_usage()
        && !key_usage.digital_signature
    {
        return Err(Error::InvalidCertificate(CertificateError::InvalidPurpose));
    }
    Ok(())
}

fn check_server_name(leaf: &Certificate, server_name: &ServerName<'_>) -> Result<(), Error> {
    let matches = match server_name {
        ServerName::DnsName(dns) => leaf
            .dns_names()
            .iter()
            .any(|presented| dns_name_matches(presented, dns.as_ref())),
        ServerName::IpAddress(ip) => {
            let wanted = std::net::IpAddr::from(*ip);
            leaf.ip_addresses().contains(&wanted)
        }
        _ => false,
    };
    if matches {
        return Ok(());
    }
    let presented = leaf
        .dns_names()
        .iter()
        .cloned()
        .chain(leaf.ip_addresses().iter().map(|ip| ip.to_string()))
        .collect();
    Err(Error::InvalidCertificate(
        CertificateError::NotValidForNameContext {
            expected: server_name.to_owned(),
            presented,
        },
    ))
}

/// DNS names compare case-insensitively; a presented `*.example.org` matches exactly one
/// leftmost label (RFC 6125 §6.4.3), never the bare parent or deeper names.
fn dns_name_matches(presented: &str, wanted: &str) -> bool {
    let presented = presented.trim_end_matches('.');
    let wanted = wanted.trim_end_matches('.');
    if let Some(parent) = presented.strip_prefix("*.") {
        return match wanted.split_once('.') {
            Some((label, rest)) => !label.is_empty() && rest.eq_ignore_ascii_case(parent),
            None => false,
        };
    }
    presented.eq_ignore_ascii_case(wanted)
}

/// Check an `sm2sig_sm3` `CertificateVerify` signature with the RFC 8998 signer ID.
fn verify_handshake_signature(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, Error> {
    if dss.scheme != SM2SIG_SM3 {
        return Err(Error::PeerMisbehaved(
            PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme,
        ));
    }
    let leaf = parse_certificate(cert)?;
    let signature = Signature::from_der(dss.signature())
        .map_err(|_| Error::InvalidCertificate(CertificateError::BadSignature))?;
    leaf.public_key()
        .verify_with_id(TLS13_DIST_ID, message, &signature)
        .map_err(|_| Error::InvalidCertificate(CertificateError::BadSignature))?;
    Ok(HandshakeSignatureValid::assertion())
}

fn refuse_tls12() -> Error {
    // The provider has no TLS 1.2 suite, so rustls cannot reach this; answer as a peer
    // that does not speak TLS 1.2 would.
    Error::PeerIncompatible(rustls::PeerIncompatible::Tls12NotOffered)
}

/// The handshake-signature methods every verifier shares (rustls asks them of server and
/// client verifiers alike, through two traits): TLS 1.2 refused, TLS 1.3 `CertificateVerify`
/// checked as `sm2sig_sm3` under the RFC 8998 signer ID, and that one scheme offered.
macro_rules! sm2_handshake_signatures {
    () => {
        fn verify_tls12_signature(
            &self,
            _message: &[u8],
            _cert: &CertificateDer<'_>,
            _dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            Err(refuse_tls12())
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            verify_handshake_signature(message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            vec![SM2SIG_SM3]
        }
    };
}

/// Which name a server's leaf must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerNames {
    /// The host or IP address the client dialled, as TLS usually checks.
    Dialled,
    /// Its own: the leaf must name a host or IP address, and the caller identifies the
    /// server by other means (netsettle nodes: the node id of the certificate's key).
    Own,
}

/// Verifies servers for our clients: chain, serverAuth, revocation, name, handshake
/// signature.
pub struct Sm2ServerVerifier {
    chain: ChainVerifier,
    names: ServerNames,
}

impl Sm2ServerVerifier {
    /// Trust servers whose chains end at one of `anchors`, asking `revocation` about each
    /// certificate; the leaf must name the host or IP address dialled.
    pub fn new(anchors: TrustAnchors, revocation: Arc<dyn RevocationCheck>) -> Self {
        Sm2ServerVerifier {
            chain: ChainVerifier {
                anchors,
                revocation,
            },
            names: ServerNames::Dialled,
        }
    }

    /// Like [`Sm2ServerVerifier::new`], but the leaf is checked against its own first IP
    /// address or host name instead of the one dialled, so it only has to name one. For
    /// callers that identify the server by its key after the handshake (the net crate's
    /// node ids), where the dialled address is a DMZ forwarder's, not the node's.
    pub fn for_nodes(anchors: TrustAnchors, revocation: Arc<dyn RevocationCheck>) -> Self {
        Sm2ServerVerifier {
            names: ServerNames::Own,
            ..Sm2ServerVerifier::new(anchors, revocation)
        }
    }
}

impl fmt::Debug for Sm2ServerVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sm2ServerVerifier")
            .field("roots", &self.chain.anchors.roots().len())
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

/// The name a leaf is checked against under [`ServerNames::Own`]: its first IP address,
/// else its first DNS name.
fn own_server_name(leaf: &Certificate) -> Result<ServerName<'static>, Error> {
    if let Some(ip) = leaf.ip_addresses().first() {
        return Ok(ServerName::from(*ip));
    }
    match leaf.dns_names().first() {
        Some(dns) => ServerName::try_from(dns.clone())
            .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding)),
        // The name check needs a name; `ca bootstrap` always writes one.
        None => Err(Error::General(
            "node TLS certificate names no host or IP address (subjectAltName)".to_owned(),
        )),
    }
}

impl ServerCertVerifier for Sm2ServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let chain = self
            .chain
            .verify(end_entity, intermediates, now, Purpose::ServerAuth)?;
        let leaf = chain.leaf();
        match self.names {
            ServerNames::Dialled => check_server_name(leaf, server_name)?,
            ServerNames::Own => check_server_name(leaf, &own_server_name(leaf)?)?,
        }
        Ok(ServerCertVerified::assertion())
    }

    sm2_handshake_signatures!();
}

/// Verifies clients for our servers: chain, clientAuth, revocation, handshake signature;
/// a certificate is mandatory unless built with [`Sm2ClientVerifier::optional`].
pub struct Sm2ClientVerifier {
    chain: ChainVerifier,
    mandatory: bool,
}

impl Sm2ClientVerifier {
    /// Require a client certificate whose chain ends at one of `anchors`, asking
    /// `revocation` about each certificate.
    pub fn new(anchors: TrustAnchors, revocation: Arc<dyn RevocationCheck>) -> Self {
        Sm2ClientVerifier {
            chain: ChainVerifier {
                anchors,
                revocation,
            },
            mandatory: true,
        }
    }

    /// Offer client authentication without requiring it; a certificate presented is
    /// verified exactly as [`Sm2ClientVerifier::new`] does. Only for a server that must
    /// serve clients without a certificate yet (the CA's enrollment service), and which
    /// then decides per request what an anonymous client may do.
    pub fn optional(anchors: TrustAnchors, revocation: Arc<dyn RevocationCheck>) -> Self {
        Sm2ClientVerifier {
            mandatory: false,
            ..Sm2ClientVerifier::new(anchors, revocation)
        }
    }
}

impl fmt::Debug for Sm2ClientVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sm2ClientVerifier")
            .field("roots", &self.chain.anchors.roots().len())
            .field("mandatory", &self.mandatory)
            .finish_non_exhaustive()
    }
}

impl ClientCertVerifier for Sm2ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    /// No `certificate_authorities` hint: each node has exactly one certificate, so the
    /// hint could not change the client's choice, and leaving it out keeps the
    /// CertificateRequest small.
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        self.chain
            .verify(end_entity, intermediates, now, Purpose::ClientAuth)?;
        Ok(ClientCertVerified::assertion())
    }

    sm2_handshake_signatures!();
}

#[cfg(test)]
mod tests {
    use netsettle_smcrypto::PrivateKey;
    use netsettle_smcrypto::x509::{CertificateParams, Role, SubjectName, self_signed};

    use super::*;

    fn self_signed_leaf(key: &PrivateKey) -> CertificateDer<'static> {
        let subject = SubjectName {
            common_name: "peer0".to_owned(),
            ..SubjectName::default()
        };
        let params = CertificateParams::end_entity(subject, Role::Peer, 0, 4_000_000_000).unwrap();
        CertificateDer::from(self_signed(&params, key).unwrap().der().to_vec())
    }

    /// `DigitallySignedStruct::new` is crate-private in rustls, so build one from its
    /// wire form: scheme (u16), then the signature with a u16 length.
    fn dss_of(scheme: SignatureScheme, signature: Vec<u8>) -> DigitallySignedStruct {
        use rustls::internal::msgs::codec::Codec as _;
        let mut wire = u16::from(scheme).to_be_bytes().to_vec();
        wire.extend_from_slice(&u16::try_from(signature.len()).unwrap().to_be_bytes());
        wire.extend_from_slice(&signature);
        DigitallySignedStruct::read_bytes(&wire).unwrap()
    }

    #[test]
    fn handshake_signature_needs_the_rfc8998_id_and_scheme() {
        let key = PrivateKey::generate();
        let cert = self_signed_leaf(&key);
        let message = b"TLS 1.3, server CertificateVerify transcript";
        let good = key.sign_with_id(TLS13_DIST_ID, message).unwrap();
        let dss = dss_of(SM2SIG_SM3, good.as_der().to_vec());
        assert!(verify_handshake_signature(message, &cert, &dss).is_ok());

        // Signed with the certificate (default) ID: must not pass as a handshake signature.
        let default_id = key.sign(message);
        let dss = dss_of(SM2SIG_SM3, default_id.as_der().to_vec());
        assert_eq!(
            verify_handshake_signature(message, &cert, &dss).err(),
            Some(Error::InvalidCertificate(CertificateError::BadSignature))
        );

        // Right bytes under another scheme label, or over another transcript.
        let dss = dss_of(
            SignatureScheme::ECDSA_NISTP256_SHA256,
            good.as_der().to_vec(),
        );
        assert_eq!(
            verify_handshake_signature(message, &cert, &dss).err(),
            Some(Error::PeerMisbehaved(
                PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme
            ))
        );
        let dss = dss_of(SM2SIG_SM3, good.as_der().to_vec());
        assert!(verify_handshake_signature(b"another transcript", &cert, &dss).is_err());
        let dss = dss_of(SM2SIG_SM3, vec![0x30, 0x00]);
        assert!(verify_handshake_signature(message, &cert, &dss).is_err());
    }

    #[test]
    fn dns_wildcards_match_one_label_only() {
        assert!(dns_name_matches(
            "peer0.carrier-a.net",
            "PEER0.carrier-a.net"
        ));
        assert!(dns_name_matches(
            "peer0.carrier-a.net.",
            "peer0.carrier-a.net"
        ));
        assert!(dns_name_matches("*.carrier-a.net", "peer0.carrier-a.net"));
        assert!(!dns_name_matches("*.carrier-a.net", "carrier-a.net"));
        assert!(!dns_name_matches(
            "*.carrier-a.net",
            "x.peer0.carrier-a.net"
        ));
        assert!(!dns_name_matches("*.carrier-a.net", ".carrier-a.net"));
        assert!(!dns_name_matches(
            "peer0.carrier-a.net",
            "peer1.carrier-a.net"
        ));
        assert!(!dns_name_matches(
            "peer0.carrier-a.net",
            "peer0.carrier-b.net"
        ));
    }
}
