//! The CA's rules without a network: secrets are one-time and guessed secrets never
//! lock the registration, only admins register and revoke, CSRs cannot claim
//! unregistered names, revocation lands in the CRL, re-enrollment revokes what it
//! replaces and is bounded, a crash between `crl.pem` and the registry is repaired on
//! reopening, and everything survives reopening the directory.

use std::collections::BTreeMap;

use netsettle_ca::{
    Authority, CaError, Caller, InitParams, Refusal, Registration, RevokeTarget, csr_params,
    init_with_admin,
};
use netsettle_smcrypto::PrivateKey;
use netsettle_smcrypto::x509::{Certificate, CertificateRequest, CsrParams, Role, verify_chain};

const NOW: i64 = 1_790_000_000;

fn params() -> InitParams {
    InitParams {
        common_name: "ca.unicom.example".to_owned(),
        msp_id: "UnicomMSP".to_owned(),
        ca_days: 3650,
        cert_days: 365,
        server_hosts: vec!["localhost".to_owned(), "127.0.0.1".to_owned()],
    }
}

fn registration(name: &str, role: Role, hosts: &[&str], secret: Option<&str>) -> Registration {
    Registration {
        name: name.to_owned(),
        role,
        hosts: hosts.iter().map(|host| (*host).to_owned()).collect(),
        attributes: BTreeMap::new(),
        secret: secret.map(str::to_owned),
    }
}

fn csr(name: &str) -> (PrivateKey, CertificateRequest) {
    let key = PrivateKey::generate();
    let request = CertificateRequest::new(&csr_params(name), &key).unwrap();
    (key, request)
}

fn refusal(result: Result<impl std::fmt::Debug, CaError>) -> Refusal {
    match result {
        Err(CaError::Refused(refusal)) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A CA with its bootstrap admin, and the admin's TLS certificate.
fn ca(dir: &std::path::Path) -> (Authority, Certificate) {
    let (authority, admin_dir) = init_with_admin(dir, &params(), "admin", NOW).unwrap();
    let admin_tls = Certificate::read_pem_file(&admin_dir.join("tls").join("cert.pem")).unwrap();
    (authority, admin_tls)
}

#[test]
fn peer_enrolls_once_with_its_secret_and_gets_registered_sans() {
    let dir = tempfile::tempdir().unwrap();
    let (mut authority, admin) = ca(dir.path());
    let name = "peer0.unicom.example";
    let secret = authority
        .register(
            Caller::Certified(&admin),
            registration(name, Role::Peer, &[name, "127.0.1.20"], None),
        )
        .unwrap();
    let (sign_key, sign_csr) = csr(name);
    let (tls_key, tls_csr) = csr(name);
    let enrollment = authority
        .enroll(name, &secret, &sign_csr, &tls_csr, NOW)
        .unwrap();
    let root = authority.certificate().clone();
    for cert in [&enrollment.sign_cert, &enrollment.tls_cert] {
        verify_chain(cert, &[], std::slice::from_ref(&root), NOW).unwrap();
        assert_eq!(cert.common_name().as_deref(), Some(name));
        assert_eq!(cert.organization().as_deref(), Some("UnicomMSP"));
        assert_eq!(cert.role().unwrap(), Some(Role::Peer));
    }
    assert_eq!(enrollment.sign_cert.public_key(), sign_key.public_key());
    assert_eq!(enrollment.tls_cert.public_key(), tls_key.public_key());
    assert!(enrollment.sign_cert.dns_names().is_empty());
    assert_eq!(enrollment.tls_cert.dns_names(), [name.to_owned()]);
    assert_eq!(
        enrollment.tls_cert.ip_addresses(),
        ["127.0.1.20".parse::<std::net::IpAddr>().unwrap()]
    );

    let (_, again_sign) = csr(name);
    let (_, again_tls) = csr(name);
    assert_eq!(
        refusal(authority.enroll(name, &secret, &again_sign, &again_tls, NOW)),
        Refusal::SecretAlreadyUsed {
            name: name.to_owned()
        }
    );
}

#[test]
fn wrong_secrets_are_refused_but_never_lock_out_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let (mut authority, admin) = ca(dir.path());
    let name = "settlement@unicom.example";
    authority
        .register(
            Caller::Certified(&admin),
            registration(name, Role::Client, &[], Some("correct-horse-battery")),
        )
        .unwrap();
    let (_, sign_csr) = csr(name);
    let (_, tls_csr) = csr(name);
    // Before, five wrong secrets from anyone locked the registration for good.
    for _ in 0..20 {
        assert_eq!(
            refusal(authority.enroll(name, "guess-guess-guess", &sign_csr, &tls_csr, NOW)),
            Refusal::WrongSecret {
                name: name.to_owned()
            }
        );
    }
    assert_eq!(
        authority.registry().identity(name).unwrap().failed_attempts,
        20,
        "wrong secrets stay on record for the audit"
    );
    authority
        .enroll(name, "correct-horse-battery", &sign_csr, &tls_csr, NOW)
        .unwrap();
    assert!(matches!(
        refusal(authority.enroll("nobody", "whatever-whatever", &sign_csr, &tls_csr, NOW)),
        Refusal::UnknownIdentity { .. }
    ));
}

#[test]
fn only_admins_register_and_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let (mut authority, admin) = ca(dir.path());
    let name = "peer1.unicom.example";
    let secret = authority
        .register(
            Caller::Certified(&admin),
            registration(name, Role::Peer, &[name], None),
        )
        .unwrap();
    let (_, sign_csr) = csr(name);
    let (_, tls_csr) = csr(name);
    let peer = authority
        .enroll(name, &secret, &sign_csr, &tls_csr, NOW)
        .unwrap();
    assert!(matches!(
        refusal(authority.register(
            Caller::Certified(&peer.tls_cert),
            registration("rogue", Role::Admin, &[], None)
        )),
        Refusal::NotAuthorised { .. }
    ));
    assert!(matches!(
        refusal(authority.register(
            Caller::Anonymous,
            registration("rogue", Role::Admin, &[], None)
        )),
        Refusal::CertificateRequired { .. }
    ));
    assert!(matches!(
        refusal(authority.revoke(
            Caller::Certified(&peer.tls_cert),
            &RevokeTarget::Name("admin".to_owned()),
            1,
            NOW
        )),
        Refusal::NotAuthorised { .. }
    ));
    assert!(matches!(
        refusal(authority.register(
            Caller::Certified(&admin),
            registration(name, Role::Peer, &[], None)
        )),
        Refusal::AlreadyRegistered { .. }
    ));
}

#[test]
fn csr_cannot_claim_an_unregistered_host() {
    let dir = tempfile::tempdir().unwrap();
    let (mut authority, admin) = ca(dir.path());
    let name = "orderer0.unicom.example";
    let secret = authority
        .register(
            Caller::Certified(&admin),
            registration(name, Role::Orderer, &[name], None),
        )
        .unwrap();
    let key = PrivateKey::generate();
    let greedy = CertificateRequest::new(
        &CsrParams {
            dns_names: vec!["peer0.mobile.example".to_owned()],
            ..csr_params(name)
        },
        &key,
    )
    .unwrap();
    let (_, sign_csr) = csr(name);
    assert_eq!(
        refusal(authority.enroll(name, &secret, &sign_csr, &greedy, NOW)),
        Refusal::HostNotRegistered {
            name: name.to_owned(),
            host: "peer0.mobile.example".to_owned()
        }
    );
    // The refused attempt did not use up the secret.
    let (_, tls_csr) = csr(name);
    authority
        .enroll(name, &secret, &sign_csr, &tls_csr, NOW)
        .unwrap();
}

#[test]
fn revocation_reaches_the_crl_and_everything_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (mut authority, admin) = ca(dir.path());
    let enrolled_name = "finance@unicom.example";
    let secret = authority
        .register(
            Caller::Certified(&admin),
            registration(enrolled_name, Role::Client, &[], None),
        )
        .unwrap();
    let (_, sign_csr) = csr(enrolled_name);
    let (_, tls_csr) = csr(enrolled_name);
    let client = authority
        .enroll(enrolled_name, &secret, &sign_csr, &tls_csr, NOW)
        .unwrap();
    let pending_secret = authority
        .register(
            Caller::Certified(&admin),
            registration("peer1.unicom.example", Role::Peer, &[], None),
        )
        .unwrap();
    let (serials, crl) = authority
        .revoke(
            Caller::Certified(&admin),
            &RevokeTarget::Name(enrolled_name.to_owned()),
            1,
            NOW,
        )
        .unwrap();
    assert_eq!(serials.len(), 2);
    assert!(crl.is_revoked(client.sign_cert.serial()));
    assert!(crl.is_revoked(client.tls_cert.serial()));
    crl.verify_signed_by(authority.certificate()).unwrap();
    drop(authority);

    let mut reopened = Authority::open(dir.path(), NOW).unwrap();
    let crl = reopened.crl(NOW).unwrap();
    assert!(crl.is_revoked(client.tls_cert.serial()));
    assert!(matches!(
        refusal(reopened.reenroll(
            Caller::Certified(&client.tls_cert),
            &sign_csr,
            &tls_csr,
            NOW
        )),
        Refusal::NotAuthorised { .. }
    ));
    let (_, sign_csr) = csr("peer1.unicom.example");
    let (_, tls_csr) = csr("peer1.unicom.example");
    reopened
        .enroll(
            "peer1.unicom.example",
            &pending_secret,
            &sign_csr,
            &tls_csr,
            NOW,
        )
        .unwrap();
    assert!(matches!(
        Authority::init(dir.path(), &params(), NOW),
        Err(CaError::AlreadyInitialised { .. })
    ));
}

/// An enrolled client of `name` and its key pair's CSRs for the next re-enrollment.
fn enrolled_client(
    authority: &mut Authority,
    admin: &Certificate,
    name: &str,
) -> netsettle_ca::Enrollment {
    let secret = authority
        .register(
            Caller::Certified(admin),
            registration(name, Role::Client, &[], None),
        )
        .unwrap();
    let (_, sign_csr) = csr(name);
    let (_, tls_csr) = csr(name);
    authority
        .enroll(name, &secret, &sign_csr, &tls_csr, NOW)
        .unwrap()
}

#[test]
fn reenrollment_revokes_what_it_replaces_and_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let (mut authority, admin) = ca(dir.path());
    let name = "settlement@unicom.example";
    let first = enrolled_client(&mut authority, &admin, name);
    let mut current = first.clone();
    let max = netsettle_ca::limits::REENROLLMENTS_PER_WINDOW_MAX;
    for n in 0..max {
        let (_, sign_csr) = csr(name);
        let (_, tls_csr) = csr(name);
        let at = NOW + i64::try_from(n).unwrap();
        let next = authority
            .reenroll(
                Caller::Certified(&current.tls_cert),
                &sign_csr,
                &tls_csr,
                at,
            )
            .unwrap();
        // Before, the replaced certificates stayed valid: a stolen key outlived the
        // owner's re-enrollment.
        let crl = netsettle_smcrypto::x509::Crl::read_pem_file(&authority.layout().crl()).unwrap();
        assert!(
            crl.is_revoked(current.sign_cert.serial()),
            "re-enrollment {n}"
        );
        assert!(
            crl.is_revoked(current.tls_cert.serial()),
            "re-enrollment {n}"
        );
        assert!(!crl.is_revoked(next.tls_cert.serial()));
        // The replaced certificate can no longer re-enroll.
        let (_, sign_csr) = csr(name);
        let (_, tls_csr) = csr(name);
        assert!(matches!(
            refusal(authority.reenroll(
                Caller::Certified(&current.tls_cert),
                &sign_csr,
                &tls_csr,
                at
            )),
            Refusal::NotAuthorised { .. }
        ));
        current = next;
    }
    // Before, re-enrollment was unbounded (each one a pair of certificates on record).
    let (_, sign_csr) = csr(name);
    let (_, tls_csr) = csr(name);
    assert!(matches!(
        refusal(authority.reenroll(
            Caller::Certified(&current.tls_cert),
            &sign_csr,
            &tls_csr,
            NOW + 60
        )),
        Refusal::ReenrollmentLimit { .. }
    ));
    let next_day = NOW + netsettle_ca::limits::REENROLL_WINDOW_SECONDS + 1;
    authority
        .reenroll(
            Caller::Certified(&current.tls_cert),
            &sign_csr,
            &tls_csr,
            next_day,
        )
        .unwrap();
    assert!(first.tls_cert.serial() != current.tls_cert.serial());
}

/// A crash after the CRL was written but before the registry was: reopening adopts the
/// CRL's revocations (before, the CRL was written second, so a crash between left a
/// CRL that missed the revocation). A crash that left the CRL behind the registry (a CA
/// directory from before this order) is repaired by rewriting the CRL.
#[test]
fn a_crash_between_crl_and_registry_is_repaired_on_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (mut authority, admin) = ca(dir.path());
    let client = enrolled_client(&mut authority, &admin, "finance@unicom.example");
    let registry_path = authority.layout().registry();
    let crl_path = authority.layout().crl();
    assert!(
        registry_path.exists(),
        "the registry lives at {}",
        registry_path.display()
    );
    let registry_before = std::fs::read(&registry_path).unwrap();
    let crl_before = std::fs::read(&crl_path).unwrap();
    let serial = client.tls_cert.serial_hex();
    authority
        .revoke(
            Caller::Certified(&admin),
            &RevokeTarget::Serial(serial),
            1,
            NOW,
        )
        .unwrap();
    let crl_after = std::fs::read(&crl_path).unwrap();
    drop(authority);

    // CRL written, registry not: the revocation is adopted.
    std::fs::write(&registry_path, &registry_before).unwrap();
    let reopened = Authority::open(dir.path(), NOW).unwrap();
    let record = reopened
        .registry()
        .certificate(&client.tls_cert.serial_hex().to_ascii_lowercase())
        .unwrap();
    assert!(
        record.revoked_at.is_some(),
        "the CRL's revocation was not adopted"
    );
    assert_eq!(record.reason, Some(1));
    assert_eq!(
        std::fs::read(&crl_path).unwrap(),
        crl_after,
        "an adopted CRL stays as it is"
    );
    let (_, sign_csr) = csr("finance@unicom.example");
    let (_, tls_csr) = csr("finance@unicom.example");
    let mut reopened = reopened;
    assert!(matches!(
        refusal(reopened.reenroll(
            Caller::Certified(&client.tls_cert),
            &sign_csr,
            &tls_csr,
            NOW
        )),
        Refusal::NotAuthorised { .. }
    ));
    drop(reopened);

    // Registry written, CRL stale: the CRL is rewritten with the revocation.
    std::fs::write(&crl_path, &crl_before).unwrap();
    let reopened = Authority::open(dir.path(), NOW + 10).unwrap();
    let crl = netsettle_smcrypto::x509::Crl::read_pem_file(&crl_path).unwrap();
    assert!(
        crl.is_revoked(client.tls_cert.serial()),
        "the stale CRL was kept"
    );
    assert!(crl.crl_number().unwrap() > reopened.registry().crl_number - 1);
    assert_eq!(crl.crl_number(), Some(reopened.registry().crl_number));
}
