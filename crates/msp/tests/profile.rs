//! The consortium profile → genesis channel configuration: the repository's own profile
//! (`configs/consortium.toml`) with test MSP material, and each way a profile is refused.

use netsettle_msp::{
    ConsortiumProfile, MspError, OrgMaterial, ProfileError, ProfileMaterial, default_org_policies,
};
use netsettle_protocol::{ChannelConfig, Endpoint, InvalidMessage};
use netsettle_smcrypto::x509::Role;
use netsettle_testkit::pki::TestOrg;

/// The repository's consortium profile: two carriers, five consenters.
fn consortium_profile() -> ConsortiumProfile {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs/consortium.toml");
    toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Material for the profile's organisations (Unicom with a TLS root of its own, Mobile
/// without) and a TLS certificate for each consenter.
fn material(profile: &ConsortiumProfile) -> ProfileMaterial {
    let unicom = TestOrg::new("UnicomMSP");
    let unicom_tls = TestOrg::new("UnicomMSP");
    let mobile = TestOrg::new("MobileMSP");
    let mut material = ProfileMaterial::default();
    material.orgs.insert(
        "UnicomMSP".to_owned(),
        OrgMaterial {
            root_certs_der: vec![unicom.ca_cert.der().to_vec()],
            tls_root_certs_der: vec![unicom_tls.ca_cert.der().to_vec()],
            ..OrgMaterial::default()
        },
    );
    material.orgs.insert(
        "MobileMSP".to_owned(),
        OrgMaterial {
            root_certs_der: vec![mobile.ca_cert.der().to_vec()],
            ..OrgMaterial::default()
        },
    );
    for consenter in &profile.consenters {
        let org = if consenter.msp_id == "UnicomMSP" {
            &unicom
        } else {
            &mobile
        };
        let orderer = org.member(&format!("orderer{}", consenter.id), Role::Orderer);
        material
            .consenter_tls_certs_der
            .insert(consenter.id, orderer.cert.der().to_vec());
    }
    material
}

/// The one caller of the conversion for refusals: `edit` breaks a good profile or its
/// material, which must then be refused with `expected`.
fn check_refused(
    edit: impl FnOnce(&mut ConsortiumProfile, &mut ProfileMaterial),
    expected: ProfileError,
) {
    let mut profile = consortium_profile();
    let mut material = material(&profile);
    edit(&mut profile, &mut material);
    assert_eq!(profile.channel_config(&material), Err(expected));
}

#[test]
fn the_consortium_profile_gives_the_genesis_configuration() {
    let profile = consortium_profile();
    let material = material(&profile);
    let config: ChannelConfig = profile.channel_config(&material).unwrap();
    assert_eq!(config.channel, "settlement");
    assert_eq!(config.sequence, 0);
    assert_eq!(config.capabilities, vec!["V1_0".to_owned()]);
    assert_eq!(config.orderer.batch.timeout_ms, 1_000);
    assert_eq!(config.orderer.batch.tx_max, 50);
    assert_eq!(
        config
            .orderer
            .consenters
            .iter()
            .map(|c| c.id)
            .collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(
        config.orderer.consenters[3].tls_cert_der,
        material.consenter_tls_certs_der[&4]
    );
    // Organisations in canonical (MSP id) order.
    let mobile = &config.orgs[0];
    let unicom = &config.orgs[1];
    assert_eq!(mobile.msp_id, "MobileMSP");
    assert_eq!(unicom.msp_id, "UnicomMSP");
    assert_eq!(
        unicom.anchor_peers,
        vec![Endpoint {
            host: "127.0.3.1".to_owned(),
            port: 7060
        }]
    );
    assert_eq!(unicom.orderer_endpoints.len(), 3);
    assert_eq!(unicom.policies, default_org_policies("UnicomMSP"));
    // A TLS root of its own is kept; without one, the roots are the TLS roots.
    let unicom_material = &material.orgs["UnicomMSP"];
    assert_eq!(
        unicom.tls_root_certs_der,
        unicom_material.tls_root_certs_der
    );
    assert_ne!(unicom.tls_root_certs_der, unicom.root_certs_der);
    assert_eq!(mobile.tls_root_certs_der, mobile.root_certs_der);
}

#[test]
fn a_profile_with_unknown_keys_does_not_parse() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs/consortium.toml");
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("tx_max = 50", "tx_max = 50\ntx_maximum = 60");
    assert!(toml::from_str::<ConsortiumProfile>(&text).is_err());
}

#[test]
fn profiles_without_usable_material_are_refused() {
    check_refused(
        |_, material| {
            material.orgs.remove("MobileMSP");
        },
        ProfileError::MissingOrgMaterial {
            msp_id: "MobileMSP".to_owned(),
        },
    );
    check_refused(
        |_, material| {
            material
                .orgs
                .get_mut("UnicomMSP")
                .unwrap()
                .root_certs_der
                .clear();
        },
        ProfileError::NoRootCertificate {
            msp_id: "UnicomMSP".to_owned(),
        },
    );
    check_refused(
        |_, material| {
            material.consenter_tls_certs_der.remove(&3);
        },
        ProfileError::MissingConsenterCertificate { id: 3 },
    );
}

#[test]
fn a_root_that_does_not_parse_is_refused_by_the_msps() {
    let profile = consortium_profile();
    let mut material = material(&profile);
    material.orgs.get_mut("MobileMSP").unwrap().root_certs_der[0] = b"not a certificate".to_vec();
    let refused = profile.channel_config(&material);
    assert!(
        matches!(
            &refused,
            Err(ProfileError::Msp(MspError::BadConfig { msp_id, .. })) if msp_id == "MobileMSP"
        ),
        "{refused:?}"
    );
}

#[test]
fn profiles_with_bad_endpoints_or_structure_are_refused() {
    check_refused(
        |profile, _| profile.orgs[0].anchor_peers = vec!["peer0.unicom.example".to_owned()],
        ProfileError::BadEndpoint {
            text: "peer0.unicom.example".to_owned(),
            source: InvalidMessage::Inconsistent {
                what: "endpoint is not host:port",
            },
        },
    );
    check_refused(
        |profile, _| profile.consenters[0].endpoint = "127.0.1.10:port".to_owned(),
        ProfileError::BadEndpoint {
            text: "127.0.1.10:port".to_owned(),
            source: InvalidMessage::Inconsistent {
                what: "endpoint port is not a number from 0 to 65535",
            },
        },
    );
    check_refused(
        |profile, _| profile.consenters[4].msp_id = "TelecomMSP".to_owned(),
        ProfileError::InvalidConfig(InvalidMessage::Inconsistent {
            what: "consenter belongs to no organisation of the channel",
        }),
    );
    check_refused(
        |profile, material| {
            let duplicate = profile.orgs[0].clone();
            material
                .orgs
                .insert(duplicate.msp_id.clone(), material.orgs["UnicomMSP"].clone());
            profile.orgs.push(duplicate);
        },
        ProfileError::InvalidConfig(InvalidMessage::NotCanonical {
            what: "organisations",
        }),
    );
}
