//! Property tests: every encoder's output decodes back to the same value, and every
//! decoder survives arbitrary bytes with an error rather than a panic (these parsers face
//! the network and the disk).

use std::net::{IpAddr, Ipv4Addr};

use netsettle_smcrypto::x509::{
    self, Certificate, CertificateParams, CertificateRequest, Crl, Role, SubjectName,
};
use netsettle_smcrypto::{
    PrivateKey, PublicKey, Signature, Sm4Key, cbc_decrypt, cbc_encrypt, gcm_open, gcm_seal,
};
use proptest::prelude::*;

/// `cases` cases, and no regression files written into the source tree.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Certificate::from_der(&bytes);
        let _ = Crl::from_der(&bytes);
        let _ = CertificateRequest::from_der(&bytes);
        let _ = PrivateKey::from_pkcs8_der(&bytes);
        let _ = PublicKey::from_spki_der(&bytes);
        let _ = Signature::from_der(&bytes);
        let text = String::from_utf8_lossy(&bytes);
        let _ = Certificate::from_pem(&text);
        let _ = Certificate::from_pem_bundle(&text);
        let _ = PrivateKey::from_pkcs8_pem(&text);
    }

    #[test]
    fn pkcs8_and_spki_round_trip(secret in proptest::array::uniform32(any::<u8>())) {
        // Most 32-byte strings are valid scalars; the rest must be rejected, not panic.
        if let Ok(key) = PrivateKey::from_bytes(&secret) {
            let again = PrivateKey::from_pkcs8_pem(&key.to_pkcs8_pem()).unwrap();
            prop_assert_eq!(again.to_bytes(), key.to_bytes());
            let public = PublicKey::from_spki_der(&key.public_key().to_spki_der()).unwrap();
            prop_assert_eq!(&public, key.public_key());
        }
    }

    #[test]
    fn sm4_round_trips(key in proptest::array::uniform16(any::<u8>()),
                       iv in proptest::array::uniform16(any::<u8>()),
                       nonce in proptest::array::uniform12(any::<u8>()),
                       plaintext in proptest::collection::vec(any::<u8>(), 0..300)) {
        let key = Sm4Key::from_slice(&key).unwrap();
        prop_assert_eq!(cbc_decrypt(&key, &iv, &cbc_encrypt(&key, &iv, &plaintext)).unwrap(), plaintext.clone());
        prop_assert_eq!(gcm_open(&key, &nonce, b"aad", &gcm_seal(&key, &nonce, b"aad", &plaintext)).unwrap(), plaintext);
    }
}

proptest! {
    // Certificates need key generation and signing per case, so fewer cases.
    #![proptest_config(config(12))]

    #[test]
    fn certificate_fields_round_trip(
        common_name in "[a-z0-9][a-z0-9.-]{0,40}",
        organization in "\\PC{1,30}",
        serial_head in 1u8..=127,
        serial_tail in proptest::collection::vec(any::<u8>(), 0..=19),
        not_before in 0i64..4_000_000_000,
        lifetime in 0i64..1_000_000_000,
        dns in proptest::collection::vec("[a-z]{1,10}\\.example", 0..4),
        octet in any::<u8>(),
    ) {
        // A 20-byte serial with the top bit set would need 21 DER bytes, which RFC 5280 forbids.
        let serial: Vec<u8> = std::iter::once(serial_head).chain(serial_tail).collect();
        let key = PrivateKey::generate();
        let subject = SubjectName {
            common_name: common_name.clone(),
            organization: Some(organization.clone()),
            organizational_units: Vec::new(),
            country: None,
        };
        let mut params = CertificateParams::end_entity(subject, Role::Peer, not_before, not_before + lifetime).unwrap();
        params.serial = serial.clone();
        params.dns_names = dns.clone();
        params.ip_addresses = vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, octet))];
        let certificate = Certificate::from_pem(&x509::self_signed(&params, &key).unwrap().to_pem()).unwrap();
        prop_assert_eq!(certificate.common_name(), Some(common_name));
        prop_assert_eq!(certificate.organization(), Some(organization));
        prop_assert_eq!(certificate.serial(), serial.as_slice());
        prop_assert_eq!(certificate.not_before_unix(), not_before);
        prop_assert_eq!(certificate.not_after_unix(), not_before + lifetime);
        prop_assert_eq!(certificate.dns_names(), dns.as_slice());
        prop_assert_eq!(certificate.role(), Ok(Some(Role::Peer)));
        prop_assert_eq!(certificate.verify_signed_by(key.public_key()), Ok(()));
    }
}
