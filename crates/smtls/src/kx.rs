//! The `curveSM2` key-exchange group: TLS 1.3 ECDHE on the SM2 curve (RFC 8998 §3.2),
//! on top of `netsettle_smcrypto::EphemeralKey`.

use rustls::crypto::{ActiveKeyExchange, SharedSecret, SupportedKxGroup};
use rustls::{Error, NamedGroup, PeerMisbehaved, ProtocolVersion};

use netsettle_smcrypto::EphemeralKey;

use crate::suite::CURVE_SM2;

/// The `curveSM2` group, the only one this crate offers or accepts.
#[derive(Debug)]
pub(crate) struct CurveSm2;

pub(crate) static CURVE_SM2_GROUP: CurveSm2 = CurveSm2;

impl SupportedKxGroup for CurveSm2 {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, Error> {
        Ok(Box::new(CurveSm2Exchange {
            key: EphemeralKey::generate(),
        }))
    }

    fn name(&self) -> NamedGroup {
        CURVE_SM2
    }

    /// RFC 8998 defines `curveSM2` for TLS 1.3 only.
    fn usable_for_version(&self, version: ProtocolVersion) -> bool {
        version == ProtocolVersion::TLSv1_3
    }
}

/// Our half of one exchange: the ephemeral scalar and the point we sent.
struct CurveSm2Exchange {
    key: EphemeralKey,
}

impl ActiveKeyExchange for CurveSm2Exchange {
    fn complete(self: Box<Self>, peer_pub_key: &[u8]) -> Result<SharedSecret, Error> {
        let shared = self
            .key
            .diffie_hellman(peer_pub_key)
            .map_err(|_| Error::PeerMisbehaved(PeerMisbehaved::InvalidKeyShare))?;
        Ok(SharedSecret::from(&shared[..]))
    }

    fn pub_key(&self) -> &[u8] {
        self.key.public_point()
    }

    fn group(&self) -> NamedGroup {
        CURVE_SM2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_and_server_derive_the_same_secret() {
        let client = CURVE_SM2_GROUP.start().unwrap();
        assert_eq!(client.group(), CURVE_SM2);
        assert_eq!(client.pub_key().len(), 65);
        assert_eq!(client.pub_key().first(), Some(&0x04));
        // The server's one-shot path, as rustls uses it.
        let server = CURVE_SM2_GROUP
            .start_and_complete(client.pub_key())
            .unwrap();
        assert_eq!(server.group, CURVE_SM2);
        let client_secret = client.complete(&server.pub_key).unwrap();
        assert_eq!(client_secret.secret_bytes(), server.secret.secret_bytes());
        assert_eq!(client_secret.secret_bytes().len(), 32);
    }

    #[test]
    fn invalid_share_is_peer_misbehaviour() {
        let ours = CURVE_SM2_GROUP.start().unwrap();
        let mut compressed = ours.pub_key()[..33].to_vec();
        compressed[0] = 0x02;
        for bad in [&[][..], &[0x04; 65][..], &compressed[..]] {
            let key = CURVE_SM2_GROUP.start().unwrap();
            assert!(matches!(
                key.complete(bad),
                Err(Error::PeerMisbehaved(PeerMisbehaved::InvalidKeyShare))
            ));
        }
    }

    #[test]
    fn only_for_tls13() {
        assert!(CURVE_SM2_GROUP.usable_for_version(ProtocolVersion::TLSv1_3));
        assert!(!CURVE_SM2_GROUP.usable_for_version(ProtocolVersion::TLSv1_2));
    }
}
