//! Identity validation: each way an identity can be wrong gets its own error.

use netsettle_msp::{ChannelMsps, MspError};
use netsettle_protocol::Role as PolicyRole;
use netsettle_smcrypto::x509::Role;
use netsettle_testkit::channel::one_orderer_config;
use netsettle_testkit::pki::{DAY, NOW, TestOrg};

#[test]
fn valid_members_get_their_role() {
    let unicom = TestOrg::new("UnicomMSP");
    let mobile = TestOrg::new("MobileMSP");
    let msps = ChannelMsps::from_config(&one_orderer_config(&[&unicom, &mobile])).unwrap();
    for (role, expected) in [
        (Role::Admin, PolicyRole::Admin),
        (Role::Peer, PolicyRole::Peer),
        (Role::Client, PolicyRole::Client),
        (Role::Orderer, PolicyRole::Orderer),
    ] {
        let member = mobile.member("m", role);
        let validated = msps.validate(&member.identity(), NOW).unwrap();
        assert_eq!(validated.role, expected);
        assert_eq!(validated.msp_id, "MobileMSP");
    }
}

#[test]
fn each_fault_has_its_own_error() {
    let mut unicom = TestOrg::new("UnicomMSP");
    let mobile = TestOrg::new("MobileMSP");
    let stranger = TestOrg::new("UnicomMSP");
    let revoked = unicom.member("revoked-client", Role::Client);
    unicom.revoke(&revoked.cert);
    let msps = ChannelMsps::from_config(&one_orderer_config(&[&unicom, &mobile])).unwrap();

    let good = unicom.member("client", Role::Client);
    let expired = unicom.member_valid("old", Role::Client, NOW - 10 * DAY, NOW - DAY);
    let future = unicom.member_valid("future", Role::Client, NOW + DAY, NOW + 10 * DAY);
    let foreign_ca = stranger.member("impostor", Role::Client);

    let err = |identity| msps.validate(&identity, NOW).unwrap_err();

    assert!(matches!(
        err(good.identity_as("TelecomMSP")),
        MspError::UnknownOrg { msp_id } if msp_id == "TelecomMSP"
    ));
    assert!(matches!(err(expired.identity()), MspError::Expired { .. }));
    assert!(matches!(
        err(future.identity()),
        MspError::NotYetValid { .. }
    ));
    assert!(
        matches!(err(revoked.identity()), MspError::Revoked { msp_id, .. } if msp_id == "UnicomMSP")
    );
    // A CA the channel does not know, claiming a known MSP id.
    assert!(matches!(
        err(foreign_ca.identity()),
        MspError::NotIssuedByOrg { .. }
    ));
    // A real member of Unicom presented under Mobile's MSP id.
    assert!(matches!(
        err(good.identity_as("MobileMSP")),
        MspError::NotIssuedByOrg { msp_id, .. } if msp_id == "MobileMSP"
    ));
    let mut garbage = good.identity();
    garbage.cert_der.truncate(40);
    assert!(matches!(err(garbage), MspError::MalformedCertificate(_)));
}

#[test]
fn forged_signature_is_refused() {
    let unicom = TestOrg::new("UnicomMSP");
    let mobile = TestOrg::new("MobileMSP");
    let msps = ChannelMsps::from_config(&one_orderer_config(&[&unicom, &mobile])).unwrap();
    let alice = unicom.member("alice", Role::Client);
    let mallory = unicom.member("mallory", Role::Client);
    let signature = alice.key.sign(b"upload report 2026-10");
    assert!(
        msps.verify(&alice.identity(), b"upload report 2026-10", &signature, NOW)
            .is_ok()
    );
    // Mallory's key signs, but the transaction claims Alice's certificate.
    let forged = mallory.key.sign(b"upload report 2026-10");
    assert!(matches!(
        msps.verify(&alice.identity(), b"upload report 2026-10", &forged, NOW),
        Err(MspError::BadSignature { .. })
    ));
    assert!(matches!(
        msps.verify(&alice.identity(), b"upload report 2026-11", &signature, NOW),
        Err(MspError::BadSignature { .. })
    ));
}

#[test]
fn cache_rechecks_time_and_skips_failures() {
    let unicom = TestOrg::new("UnicomMSP");
    let mobile = TestOrg::new("MobileMSP");
    let msps = ChannelMsps::from_config(&one_orderer_config(&[&unicom, &mobile])).unwrap();
    let short = unicom.member_valid("short", Role::Client, NOW - DAY, NOW + DAY);
    assert!(msps.validate(&short.identity(), NOW).is_ok());
    assert_eq!(msps.cached_identities(), 1);
    // Cached, but checked again at a later time: now expired.
    assert!(matches!(
        msps.validate(&short.identity(), NOW + 2 * DAY),
        Err(MspError::Expired { .. })
    ));
    // A failed validation is not cached.
    let stranger = TestOrg::new("MobileMSP").member("x", Role::Client);
    assert!(msps.validate(&stranger.identity(), NOW).is_err());
    assert_eq!(msps.cached_identities(), 1);
}

#[test]
fn revocation_takes_effect_with_the_new_config() {
    let mut unicom = TestOrg::new("UnicomMSP");
    let mobile = TestOrg::new("MobileMSP");
    let client = unicom.member("client", Role::Client);
    let before = ChannelMsps::from_config(&one_orderer_config(&[&unicom, &mobile])).unwrap();
    assert!(before.validate(&client.identity(), NOW).is_ok());
    unicom.revoke(&client.cert);
    let after = ChannelMsps::from_config(&one_orderer_config(&[&unicom, &mobile])).unwrap();
    assert!(matches!(
        after.validate(&client.identity(), NOW),
        Err(MspError::Revoked { .. })
    ));
}

#[test]
fn crl_signed_by_another_ca_is_a_config_error() {
    let mut unicom = TestOrg::new("UnicomMSP");
    let mut mobile = TestOrg::new("MobileMSP");
    let victim = unicom.member("client", Role::Client);
    mobile.revoke(&victim.cert);
    let mut config = one_orderer_config(&[&unicom, &mobile]);
    // Put Mobile's CRL into Unicom's org: it is not signed by Unicom's CA.
    let mobile_crl = mobile.crl().unwrap();
    let unicom_org = config
        .orgs
        .iter_mut()
        .find(|org| org.msp_id == "UnicomMSP")
        .unwrap();
    unicom_org.crls_der = vec![mobile_crl.der().to_vec()];
    assert!(matches!(
        ChannelMsps::from_config(&config),
        Err(MspError::BadConfig { .. })
    ));
    unicom.revoke(&victim.cert);
}

#[test]
fn consenters_are_named_by_their_tls_keys_and_a_bad_certificate_is_a_config_error() {
    let unicom = TestOrg::new("UnicomMSP");
    let mut config = one_orderer_config(&[&unicom]);
    let tls =
        netsettle_smcrypto::x509::Certificate::from_der(&config.orderer.consenters[0].tls_cert_der)
            .unwrap();
    let nodes = netsettle_msp::consenter_nodes(&config, |key| key.clone()).unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes.get(&1), Some(tls.public_key()));

    config.orderer.consenters[0].tls_cert_der = b"not a certificate".to_vec();
    let error = netsettle_msp::consenter_nodes(&config, |key| key.clone()).unwrap_err();
    assert!(
        matches!(&error, MspError::BadConfig { msp_id, reason }
            if msp_id == "UnicomMSP" && reason.contains("consenter 1")),
        "{error}"
    );
}

/// The CA writes identity attributes as `key=value` subject OUs beside the role OU; a
/// validated identity carries them (the settlement contract's separation of duties reads
/// `department`), and they never change the role.
#[test]
fn certificate_attributes_come_from_key_value_organizational_units() {
    let unicom = TestOrg::new("UnicomMSP");
    let mobile = TestOrg::new("MobileMSP");
    let msps = ChannelMsps::from_config(&one_orderer_config(&[&unicom, &mobile])).unwrap();
    let finance = unicom.member_with("finance", Role::Client, |params| {
        params.subject.organizational_units =
            vec!["department=finance".to_owned(), "site=北京".to_owned()];
    });
    let validated = msps.validate(&finance.identity(), NOW).unwrap();
    assert_eq!(validated.role, PolicyRole::Client);
    let attributes: Vec<(&str, &str)> = validated
        .attributes
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect();
    assert_eq!(attributes, [("department", "finance"), ("site", "北京")]);
    let plain = unicom.member("settlement", Role::Client);
    assert!(
        msps.validate(&plain.identity(), NOW)
            .unwrap()
            .attributes
            .is_empty()
    );
}
