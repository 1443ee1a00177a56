//! Unit tests for issuance, parsing and chain verification, including every chain error.
//! OpenSSL interop lives in `tests/openssl.rs`.

use std::net::{IpAddr, Ipv4Addr};

use super::build::{IssuerInfo, build_and_sign};
use super::*;
use crate::{CertificateError, CryptoError, EncodingError, PrivateKey};

const NOW: i64 = 1_790_000_000; // 2026-09
const DAY: i64 = 86_400;

fn name(common_name: &str) -> SubjectName {
    SubjectName {
        common_name: common_name.to_owned(),
        organization: Some("CarrierA".to_owned()),
        organizational_units: vec!["settlement".to_owned()],
        country: Some("CN".to_owned()),
    }
}

struct Pki {
    root_key: PrivateKey,
    root: Certificate,
    intermediate_key: PrivateKey,
    intermediate: Certificate,
    leaf_key: PrivateKey,
    leaf: Certificate,
}

fn pki() -> Pki {
    let root_key = PrivateKey::generate();
    let root = self_signed(
        &CertificateParams::ca(name("root"), Some(1), NOW - DAY, NOW + 3650 * DAY).unwrap(),
        &root_key,
    )
    .unwrap();
    let intermediate_key = PrivateKey::generate();
    let intermediate_params =
        CertificateParams::ca(name("intermediate"), Some(0), NOW - DAY, NOW + 365 * DAY).unwrap();
    let intermediate = issue(
        &intermediate_params,
        intermediate_key.public_key(),
        &root,
        &root_key,
    )
    .unwrap();
    let leaf_key = PrivateKey::generate();
    let mut leaf_params = CertificateParams::end_entity(
        name("peer0.carrier-a"),
        Role::Peer,
        NOW - DAY,
        NOW + 30 * DAY,
    )
    .unwrap();
    leaf_params.dns_names = vec!["peer0.carrier-a".to_owned(), "localhost".to_owned()];
    leaf_params.ip_addresses = vec![IpAddr::V4(Ipv4Addr::LOCALHOST), "::1".parse().unwrap()];
    let leaf = issue(
        &leaf_params,
        leaf_key.public_key(),
        &intermediate,
        &intermediate_key,
    )
    .unwrap();
    Pki {
        root_key,
        root,
        intermediate_key,
        intermediate,
        leaf_key,
        leaf,
    }
}

fn certificate_error(result: Result<VerifiedChain, CryptoError>) -> CertificateError {
    match result {
        Err(CryptoError::Certificate(err)) => err,
        other => panic!("expected a certificate error, got {other:?}"),
    }
}

#[test]
fn leaf_fields_read_back() {
    let pki = pki();
    let leaf = &pki.leaf;
    assert_eq!(leaf.common_name().as_deref(), Some("peer0.carrier-a"));
    assert_eq!(leaf.organization().as_deref(), Some("CarrierA"));
    assert_eq!(
        leaf.organizational_units(),
        vec!["settlement".to_owned(), "peer".to_owned()]
    );
    assert_eq!(leaf.role(), Ok(Some(Role::Peer)));
    assert_eq!(
        leaf.dns_names(),
        ["peer0.carrier-a".to_owned(), "localhost".to_owned()]
    );
    assert_eq!(
        leaf.ip_addresses(),
        [
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            "::1".parse::<IpAddr>().unwrap()
        ]
    );
    assert_eq!(leaf.not_before_unix(), NOW - DAY);
    assert_eq!(leaf.not_after_unix(), NOW + 30 * DAY);
    assert!(!leaf.is_ca());
    assert_eq!(leaf.public_key(), pki.leaf_key.public_key());
    let usage = leaf.key_usage().unwrap();
    assert!(usage.digital_signature && !usage.key_cert_sign);
    assert_eq!(
        leaf.extended_key_usage(),
        Some(ExtendedKeyUsage {
            server_auth: true,
            client_auth: true
        })
    );
    assert_eq!(leaf.authority_key_id(), pki.intermediate.subject_key_id());
    assert_eq!(leaf.subject_key_id().map(<[u8]>::len), Some(KEY_ID_BYTES));
    assert_eq!(leaf.serial().len(), 16);
    assert_eq!(leaf.serial_hex().len(), 32);
    assert_eq!(leaf.issuer_dn(), pki.intermediate.subject_dn());
    assert_eq!(leaf.sm3_fingerprint(), crate::sm3(leaf.der()));
}

#[test]
fn ca_fields_read_back() {
    let pki = pki();
    assert!(pki.root.is_ca());
    assert_eq!(pki.root.path_len(), Some(1));
    assert_eq!(pki.intermediate.path_len(), Some(0));
    assert_eq!(pki.root.role(), Ok(None));
    assert_eq!(pki.root.subject_key_id(), pki.root.authority_key_id());
    let usage = pki.root.key_usage().unwrap();
    assert!(usage.key_cert_sign && usage.crl_sign);
    assert_eq!(pki.root.extended_key_usage(), None);
    assert_eq!(pki.root.verify_signed_by(pki.root_key.public_key()), Ok(()));
}

#[test]
fn pem_and_der_round_trip() {
    let pki = pki();
    let again = Certificate::from_pem(&pki.leaf.to_pem()).unwrap();
    assert_eq!(again, pki.leaf);
    assert_eq!(Certificate::from_der(pki.leaf.der()).unwrap(), pki.leaf);
    let bundle = format!(
        "subject=CN = intermediate\n{}\nsubject=CN = root\n{}\n",
        pki.intermediate.to_pem(),
        pki.root.to_pem()
    );
    assert_eq!(
        Certificate::from_pem_bundle(&bundle).unwrap(),
        vec![pki.intermediate, pki.root]
    );
}

#[test]
fn chain_verifies_leaf_to_root() {
    let pki = pki();
    let chain = verify_chain(
        &pki.leaf,
        std::slice::from_ref(&pki.intermediate),
        std::slice::from_ref(&pki.root),
        NOW,
    )
    .unwrap();
    assert_eq!(
        chain.certificates(),
        [pki.leaf.clone(), pki.intermediate.clone(), pki.root.clone()]
    );
    assert_eq!(chain.leaf(), &pki.leaf);
    assert_eq!(chain.root(), &pki.root);
    let direct =
        verify_chain(&pki.intermediate, &[], std::slice::from_ref(&pki.root), NOW).unwrap();
    assert_eq!(direct.certificates().len(), 2);
}

#[test]
fn missing_intermediate_is_unknown_issuer() {
    let pki = pki();
    let err = certificate_error(verify_chain(
        &pki.leaf,
        &[],
        std::slice::from_ref(&pki.root),
        NOW,
    ));
    assert!(
        matches!(err, CertificateError::UnknownIssuer { .. }),
        "{err:?}"
    );
}

#[test]
fn expired_and_not_yet_valid() {
    let pki = pki();
    let (intermediates, roots) = ([pki.intermediate.clone()], [pki.root.clone()]);
    let late = NOW + 31 * DAY;
    assert_eq!(
        certificate_error(verify_chain(&pki.leaf, &intermediates, &roots, late)),
        CertificateError::Expired {
            subject: pki.leaf.subject_dn(),
            not_after: NOW + 30 * DAY,
            at: late
        }
    );
    let early = NOW - 2 * DAY;
    assert_eq!(
        certificate_error(verify_chain(&pki.leaf, &intermediates, &roots, early)),
        CertificateError::NotYetValid {
            subject: pki.leaf.subject_dn(),
            not_before: NOW - DAY,
            at: early
        }
    );
    // The intermediate expires long before the leaf would: its own expiry must be caught.
    let mut long_leaf =
        CertificateParams::end_entity(name("long"), Role::Client, NOW - DAY, NOW + 900 * DAY)
            .unwrap();
    long_leaf.serial = vec![7];
    let leaf = issue(
        &long_leaf,
        pki.leaf_key.public_key(),
        &pki.intermediate,
        &pki.intermediate_key,
    )
    .unwrap();
    let at = NOW + 400 * DAY;
    assert!(matches!(
        certificate_error(verify_chain(&leaf, &intermediates, &roots, at)),
        CertificateError::Expired { subject, .. } if subject == pki.intermediate.subject_dn()
    ));
}

#[test]
fn impostor_root_with_same_name_is_bad_signature() {
    let pki = pki();
    let impostor_key = PrivateKey::generate();
    let mut params = CertificateParams::ca(name("root"), Some(1), NOW - DAY, NOW + DAY).unwrap();
    params.serial = pki.root.serial().to_vec();
    let impostor = self_signed(&params, &impostor_key).unwrap();
    let err = certificate_error(verify_chain(&pki.intermediate, &[], &[impostor], NOW));
    assert_eq!(
        err,
        CertificateError::BadSignature {
            subject: pki.intermediate.subject_dn()
        }
    );
}

#[test]
fn tampered_certificate_is_rejected() {
    let pki = pki();
    // Flip a byte inside the subject CN: still parses, no longer verifies.
    let mut der = pki.leaf.der().to_vec();
    let at = der.windows(5).position(|w| w == b"peer0").unwrap();
    der[at] = b'P';
    let tampered = Certificate::from_der(&der).unwrap();
    let err = certificate_error(verify_chain(
        &tampered,
        std::slice::from_ref(&pki.intermediate),
        std::slice::from_ref(&pki.root),
        NOW,
    ));
    assert!(
        matches!(err, CertificateError::BadSignature { .. }),
        "{err:?}"
    );
    // Truncated DER does not parse.
    assert!(matches!(
        Certificate::from_der(&pki.leaf.der()[..100]),
        Err(CryptoError::Encoding(EncodingError::Der { .. }))
    ));
}

#[test]
fn leaf_signed_by_non_ca_is_not_ca() {
    let pki = pki();
    let other_key = PrivateKey::generate();
    let params =
        CertificateParams::end_entity(name("victim"), Role::Client, NOW - DAY, NOW + DAY).unwrap();
    // `issue` refuses a non-CA issuer, so forge the certificate below it directly.
    let issuer = IssuerInfo {
        name: pki.leaf.subject_name().clone(),
        key_id: vec![1; 20],
    };
    let subject = build_name(&params.subject, params.role).unwrap();
    let forged = build_and_sign(
        &params,
        subject,
        other_key.public_key(),
        &issuer,
        &pki.leaf_key,
    )
    .unwrap();
    let err = certificate_error(verify_chain(
        &forged,
        &[pki.leaf.clone(), pki.intermediate.clone()],
        std::slice::from_ref(&pki.root),
        NOW,
    ));
    assert_eq!(
        err,
        CertificateError::NotCa {
            subject: pki.leaf.subject_dn()
        }
    );
    assert_eq!(
        issue(&params, other_key.public_key(), &pki.leaf, &pki.leaf_key),
        Err(CertificateError::NotCa {
            subject: pki.leaf.subject_dn()
        }
        .into())
    );
}

#[test]
fn issuer_without_key_cert_sign_is_refused() {
    let root_key = PrivateKey::generate();
    let mut params =
        CertificateParams::ca(name("crl-only root"), None, NOW - DAY, NOW + DAY).unwrap();
    params.key_usage.key_cert_sign = false;
    let root = self_signed(&params, &root_key).unwrap();
    let leaf_key = PrivateKey::generate();
    let leaf_params =
        CertificateParams::end_entity(name("leaf"), Role::Admin, NOW - DAY, NOW + DAY).unwrap();
    let leaf = issue(&leaf_params, leaf_key.public_key(), &root, &root_key).unwrap();
    let err = certificate_error(verify_chain(&leaf, &[], std::slice::from_ref(&root), NOW));
    assert_eq!(
        err,
        CertificateError::KeyUsageForbids {
            subject: root.subject_dn(),
            usage: "keyCertSign"
        }
    );
}

#[test]
fn path_length_is_enforced() {
    let pki = pki();
    // The intermediate has pathLen 0, so a second intermediate below it breaks the chain.
    let sub_key = PrivateKey::generate();
    let sub_params = CertificateParams::ca(name("sub"), None, NOW - DAY, NOW + DAY).unwrap();
    let sub = issue(
        &sub_params,
        sub_key.public_key(),
        &pki.intermediate,
        &pki.intermediate_key,
    )
    .unwrap();
    let leaf_params =
        CertificateParams::end_entity(name("deep"), Role::Orderer, NOW - DAY, NOW + DAY).unwrap();
    let leaf = issue(&leaf_params, pki.leaf_key.public_key(), &sub, &sub_key).unwrap();
    let err = certificate_error(verify_chain(
        &leaf,
        &[sub, pki.intermediate.clone()],
        std::slice::from_ref(&pki.root),
        NOW,
    ));
    assert_eq!(
        err,
        CertificateError::PathLenExceeded {
            subject: pki.intermediate.subject_dn(),
            path_len: 0
        }
    );
}

#[test]
fn overlong_chain_is_refused() {
    let root_key = PrivateKey::generate();
    let root = self_signed(
        &CertificateParams::ca(name("ca0"), None, NOW - DAY, NOW + DAY).unwrap(),
        &root_key,
    )
    .unwrap();
    let (mut issuer, mut issuer_key) = (root.clone(), root_key);
    let mut intermediates = Vec::new();
    for depth in 1..=CHAIN_CERTS_MAX {
        let key = PrivateKey::generate();
        let params =
            CertificateParams::ca(name(&format!("ca{depth}")), None, NOW - DAY, NOW + DAY).unwrap();
        let certificate = issue(&params, key.public_key(), &issuer, &issuer_key).unwrap();
        intermediates.push(certificate.clone());
        (issuer, issuer_key) = (certificate, key);
    }
    let err = certificate_error(verify_chain(&issuer, &intermediates, &[root], NOW));
    assert_eq!(
        err,
        CertificateError::ChainTooLong {
            max: CHAIN_CERTS_MAX
        }
    );
}

#[test]
fn bad_params_are_refused() {
    let key = PrivateKey::generate();
    let mut params = CertificateParams::ca(name("x"), None, NOW, NOW - 1).unwrap();
    assert_eq!(
        self_signed(&params, &key),
        Err(CertificateError::InvalidParams("notAfter is before notBefore").into())
    );
    params.not_after_unix = NOW + DAY;
    params.serial = vec![0, 0];
    assert_eq!(
        self_signed(&params, &key),
        Err(CertificateError::InvalidParams("serial number must be positive").into())
    );
    params.serial = vec![1; 21];
    assert_eq!(
        self_signed(&params, &key),
        Err(CertificateError::InvalidParams("serial number longer than 20 bytes").into())
    );
    params.serial = vec![1];
    params.not_before_unix = -1;
    assert_eq!(
        self_signed(&params, &key),
        Err(CertificateError::InvalidParams("times before 1970 cannot be encoded").into())
    );
    let other = PrivateKey::generate();
    let root = self_signed(
        &CertificateParams::ca(name("r"), None, NOW, NOW + DAY).unwrap(),
        &key,
    )
    .unwrap();
    let leaf_params = CertificateParams::end_entity(name("l"), Role::Peer, NOW, NOW + DAY).unwrap();
    assert_eq!(
        issue(&leaf_params, other.public_key(), &root, &other),
        Err(CertificateError::InvalidParams("issuer key does not match issuer certificate").into())
    );
}

#[test]
fn two_role_ous_are_ambiguous() {
    let key = PrivateKey::generate();
    let mut subject = name("confused");
    subject.organizational_units = vec!["admin".to_owned()];
    let params = CertificateParams::end_entity(subject, Role::Peer, NOW, NOW + DAY).unwrap();
    let certificate = self_signed(&params, &key).unwrap();
    assert!(matches!(
        certificate.role(),
        Err(CertificateError::AmbiguousRole { .. })
    ));
}

#[test]
fn role_parsing_is_exact() {
    for role in [Role::Admin, Role::Peer, Role::Orderer, Role::Client] {
        assert_eq!(role.as_ou().parse::<Role>(), Ok(role));
    }
    assert!("Peer".parse::<Role>().is_err());
    assert!(" peer".parse::<Role>().is_err());
}

#[test]
fn dates_after_2049_use_generalized_time() {
    let key = PrivateKey::generate();
    let far = 2_600_000_000; // 2052
    let params = CertificateParams::ca(name("far"), None, NOW, far).unwrap();
    let certificate = self_signed(&params, &key).unwrap();
    assert_eq!(certificate.not_after_unix(), far);
}

fn crl_params(entries: Vec<CrlEntry>) -> CrlParams {
    CrlParams {
        this_update_unix: NOW,
        next_update_unix: NOW + 7 * DAY,
        crl_number: 42,
        entries,
    }
}

#[test]
fn crl_round_trips_and_answers_revocation() {
    let pki = pki();
    let entry = CrlEntry {
        serial: pki.leaf.serial().to_vec(),
        revoked_at_unix: NOW - 10,
        reason: Some(RevocationReason::KeyCompromise),
    };
    let unexplained = CrlEntry {
        serial: vec![0x05],
        revoked_at_unix: NOW - 5,
        reason: None,
    };
    let crl = build_crl(
        &crl_params(vec![entry.clone(), unexplained.clone()]),
        &pki.intermediate,
        &pki.intermediate_key,
    )
    .unwrap();
    let again = Crl::from_pem(&crl.to_pem()).unwrap();
    assert_eq!(again, crl);
    assert_eq!(again.entries(), [entry, unexplained]);
    assert_eq!(again.crl_number(), Some(42));
    assert_eq!(again.this_update_unix(), NOW);
    assert_eq!(again.next_update_unix(), Some(NOW + 7 * DAY));
    assert_eq!(again.issuer_dn(), pki.intermediate.subject_dn());
    assert!(again.is_revoked(pki.leaf.serial()));
    assert!(
        again.is_revoked(&[0x00, 0x05]),
        "leading zeros are not significant"
    );
    assert!(!again.is_revoked(pki.intermediate.serial()));
    assert_eq!(again.verify_signed_by(&pki.intermediate), Ok(()));
    assert_eq!(
        pki.intermediate
            .public_key()
            .verify(again.tbs_der(), again.signature()),
        Ok(())
    );
}

#[test]
fn empty_crl_has_no_entries() {
    let pki = pki();
    let crl = build_crl(&crl_params(Vec::new()), &pki.root, &pki.root_key).unwrap();
    assert!(crl.entries().is_empty());
    assert!(!crl.is_revoked(pki.intermediate.serial()));
    assert_eq!(crl.verify_signed_by(&pki.root), Ok(()));
}

#[test]
fn crl_from_wrong_issuer_or_tampered_is_rejected() {
    let pki = pki();
    let crl = build_crl(
        &crl_params(Vec::new()),
        &pki.intermediate,
        &pki.intermediate_key,
    )
    .unwrap();
    assert_eq!(
        crl.verify_signed_by(&pki.root),
        Err(CertificateError::CrlIssuerMismatch {
            crl_issuer: pki.intermediate.subject_dn(),
            issuer: pki.root.subject_dn(),
        }
        .into())
    );
    // Same name, different key: the impostor's signature check fails.
    let impostor_key = PrivateKey::generate();
    let impostor = self_signed(
        &CertificateParams::ca(name("intermediate"), None, NOW - DAY, NOW + DAY).unwrap(),
        &impostor_key,
    )
    .unwrap();
    assert_eq!(
        crl.verify_signed_by(&impostor),
        Err(CertificateError::BadSignature {
            subject: pki.intermediate.subject_dn()
        }
        .into())
    );
    // Bump the CRL number inside the signed bytes: the signature no longer covers them.
    let mut der = crl.der().to_vec();
    let number_at = der.windows(3).rposition(|w| w == [0x02, 0x01, 42]).unwrap();
    der[number_at + 2] = 43;
    let tampered = Crl::from_der(&der).unwrap();
    assert_eq!(tampered.crl_number(), Some(43));
    assert!(matches!(
        tampered.verify_signed_by(&pki.intermediate),
        Err(CryptoError::Certificate(
            CertificateError::BadSignature { .. }
        ))
    ));
}

#[test]
fn crl_issuer_needs_crl_sign_and_freshness_is_checked() {
    let key = PrivateKey::generate();
    let mut params = CertificateParams::ca(name("cert-only"), None, NOW - DAY, NOW + DAY).unwrap();
    params.key_usage.crl_sign = false;
    let ca = self_signed(&params, &key).unwrap();
    let crl = build_crl(&crl_params(Vec::new()), &ca, &key).unwrap();
    assert_eq!(
        crl.verify_signed_by(&ca),
        Err(CertificateError::KeyUsageForbids {
            subject: ca.subject_dn(),
            usage: "cRLSign"
        }
        .into())
    );
    assert_eq!(crl.check_fresh(NOW + DAY), Ok(()));
    assert_eq!(
        crl.check_fresh(NOW + 8 * DAY),
        Err(CertificateError::CrlStale {
            issuer: ca.subject_dn(),
            next_update: NOW + 7 * DAY,
            at: NOW + 8 * DAY
        })
    );
    let mut backwards = crl_params(Vec::new());
    backwards.next_update_unix = NOW - 1;
    assert_eq!(
        build_crl(&backwards, &ca, &key),
        Err(CertificateError::InvalidParams("nextUpdate is before thisUpdate").into())
    );
}

#[test]
fn csr_round_trips_and_issues() {
    let pki = pki();
    let key = PrivateKey::generate();
    let params = CsrParams {
        subject: name("client1.carrier-a"),
        role: Some(Role::Client),
        dns_names: vec!["client1.carrier-a".to_owned()],
        ip_addresses: vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7))],
    };
    let csr = CertificateRequest::new(&params, &key).unwrap();
    let again = CertificateRequest::from_pem(&csr.to_pem()).unwrap();
    assert_eq!(again, csr);
    assert_eq!(again.public_key(), key.public_key());
    assert_eq!(again.common_name().as_deref(), Some("client1.carrier-a"));
    assert_eq!(again.organization().as_deref(), Some("CarrierA"));
    assert_eq!(again.role(), Ok(Some(Role::Client)));
    assert_eq!(
        again.organizational_units(),
        vec!["settlement".to_owned(), "client".to_owned()]
    );
    assert_eq!(again.dns_names(), ["client1.carrier-a".to_owned()]);
    assert_eq!(
        again.ip_addresses(),
        [IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7))]
    );
    assert!(again.subject_dn().contains("CN=client1.carrier-a"));
    let mut cert_params = CertificateParams::end_entity(
        name("client1.carrier-a"),
        Role::Client,
        NOW - DAY,
        NOW + DAY,
    )
    .unwrap();
    cert_params.dns_names = again.dns_names().to_vec();
    let certificate = issue(
        &cert_params,
        again.public_key(),
        &pki.intermediate,
        &pki.intermediate_key,
    )
    .unwrap();
    assert_eq!(certificate.public_key(), key.public_key());
}

#[test]
fn tampered_csr_fails_its_self_signature() {
    let key = PrivateKey::generate();
    let params = CsrParams {
        subject: name("node9"),
        ..CsrParams::default()
    };
    let csr = CertificateRequest::new(&params, &key).unwrap();
    let mut der = csr.der().to_vec();
    let at = der.windows(5).position(|w| w == b"node9").unwrap();
    der[at + 4] = b'8';
    assert!(matches!(
        CertificateRequest::from_der(&der),
        Err(CryptoError::Certificate(
            CertificateError::BadSignature { .. }
        ))
    ));
    assert!(matches!(
        CertificateRequest::from_der(&der[..50]),
        Err(CryptoError::Encoding(EncodingError::Der { .. }))
    ));
}

#[test]
fn duplicate_or_malformed_extensions_are_rejected() {
    use der::oid::AssociatedOid as _;
    use x509_cert::ext::Extension;
    use x509_cert::ext::pkix::BasicConstraints;

    let good = Extension {
        extn_id: BasicConstraints::OID,
        critical: true,
        extn_value: der::asn1::OctetString::new(vec![0x30, 0x03, 0x01, 0x01, 0xff]).unwrap(),
    };
    assert!(super::cert::parse_extensions(Some(&vec![good.clone()]), "CN=x").is_ok());
    let expected = CertificateError::BadExtension {
        subject: "CN=x".to_owned(),
        oid: BasicConstraints::OID.to_string(),
    };
    assert_eq!(
        super::cert::parse_extensions(Some(&vec![good.clone(), good.clone()]), "CN=x").unwrap_err(),
        expected
    );
    let malformed = Extension {
        extn_value: der::asn1::OctetString::new(vec![0x04, 0x00]).unwrap(),
        ..good
    };
    assert_eq!(
        super::cert::parse_extensions(Some(&vec![malformed]), "CN=x").unwrap_err(),
        expected
    );
}

#[test]
fn pem_files_read_back() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let roots = dir.path().join("roots.pem");
    std::fs::write(
        &roots,
        format!("{}{}", pki.root.to_pem(), pki.intermediate.to_pem()),
    )
    .unwrap();
    assert_eq!(
        Certificate::read_pem_bundle_file(&roots).unwrap(),
        vec![pki.root.clone(), pki.intermediate.clone()]
    );
    let leaf = dir.path().join("leaf.pem");
    std::fs::write(&leaf, pki.leaf.to_pem()).unwrap();
    assert_eq!(Certificate::read_pem_file(&leaf).unwrap(), pki.leaf);
    let crl_path = dir.path().join("crl.pem");
    let crl = build_crl(&crl_params(Vec::new()), &pki.root, &pki.root_key).unwrap();
    std::fs::write(&crl_path, crl.to_pem()).unwrap();
    assert_eq!(Crl::read_pem_file(&crl_path).unwrap(), crl);
    assert!(matches!(
        Crl::read_pem_file(&leaf),
        Err(CryptoError::Encoding(EncodingError::PemLabel { .. }))
    ));
}

#[test]
fn self_signed_intermediate_does_not_loop() {
    let key = PrivateKey::generate();
    let rogue = self_signed(
        &CertificateParams::ca(name("rogue"), None, NOW - DAY, NOW + DAY).unwrap(),
        &key,
    )
    .unwrap();
    let pki = pki();
    let err = certificate_error(verify_chain(
        &rogue,
        std::slice::from_ref(&rogue),
        std::slice::from_ref(&pki.root),
        NOW,
    ));
    assert_eq!(
        err,
        CertificateError::UnknownIssuer {
            subject: rogue.subject_dn(),
            issuer: rogue.subject_dn()
        }
    );
}
