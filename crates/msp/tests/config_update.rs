//! Config updates: one carrier's admin alone cannot change the consortium; both can; an
//! org may change its own anchor peers alone; stale, replayed or forged updates are
//! refused.

use netsettle_msp::{ChannelMsps, ConfigUpdateError, check_config_update};
use netsettle_protocol::{ConfigSignature, ConfigUpdate, ConfigUpdateEnvelope, Endpoint};
use netsettle_smcrypto::x509::Role;
use netsettle_testkit::channel::one_orderer_config;
use netsettle_testkit::pki::{Member, NOW, TestOrg};

fn approve(update: &ConfigUpdate, admins: &[&Member]) -> ConfigUpdateEnvelope {
    ConfigUpdateEnvelope {
        update: update.clone(),
        signatures: admins
            .iter()
            .map(|admin| ConfigSignature::sign(&admin.key, admin.identity(), update).unwrap())
            .collect(),
    }
}

struct Setup {
    unicom_admin: Member,
    mobile_admin: Member,
    unicom_client: Member,
    current: netsettle_protocol::ChannelConfig,
    msps: ChannelMsps,
}

fn setup() -> Setup {
    let unicom = TestOrg::new("UnicomMSP");
    let mobile = TestOrg::new("MobileMSP");
    let current = one_orderer_config(&[&unicom, &mobile]);
    let msps = ChannelMsps::from_config(&current).unwrap();
    Setup {
        unicom_admin: unicom.member("admin", Role::Admin),
        mobile_admin: mobile.member("admin", Role::Admin),
        unicom_client: unicom.member("client", Role::Client),
        current,
        msps,
    }
}

fn batch_change(s: &Setup) -> ConfigUpdate {
    let mut config = s.current.clone();
    config.sequence += 1;
    config.orderer.batch.tx_max = 20;
    ConfigUpdate {
        channel: "settlement".to_owned(),
        config,
    }
}

#[test]
fn consortium_change_needs_both_carriers_admins() {
    let s = setup();
    let update = batch_change(&s);
    let one = approve(&update, &[&s.unicom_admin]);
    let err = check_config_update(&s.current, &s.msps, &one, NOW).unwrap_err();
    let ConfigUpdateError::Policy { policy, source } = err else {
        panic!("expected a policy error, got {err:?}");
    };
    assert_eq!(policy, "channel Admins");
    assert!(
        source
            .to_string()
            .contains("1 of 2 organisations satisfied"),
        "{source}"
    );

    let both = approve(&update, &[&s.unicom_admin, &s.mobile_admin]);
    let accepted = check_config_update(&s.current, &s.msps, &both, NOW).unwrap();
    assert_eq!(accepted.config.sequence, 1);
    assert_eq!(accepted.config.orderer.batch.tx_max, 20);
}

#[test]
fn an_org_changes_its_own_anchor_peers_alone() {
    let s = setup();
    let mut config = s.current.clone();
    config.sequence += 1;
    let org = config
        .orgs
        .iter_mut()
        .find(|o| o.msp_id == "UnicomMSP")
        .unwrap();
    org.anchor_peers = vec![Endpoint {
        host: "127.0.1.11".to_owned(),
        port: 7051,
    }];
    let update = ConfigUpdate {
        channel: "settlement".to_owned(),
        config,
    };
    let accepted = check_config_update(
        &s.current,
        &s.msps,
        &approve(&update, &[&s.unicom_admin]),
        NOW,
    )
    .unwrap();
    assert_eq!(accepted.policy, "UnicomMSP Admins");
    // Mobile's admin cannot set Unicom's anchor peers.
    let err = check_config_update(
        &s.current,
        &s.msps,
        &approve(&update, &[&s.mobile_admin]),
        NOW,
    )
    .unwrap_err();
    assert!(matches!(err, ConfigUpdateError::Policy { .. }), "{err:?}");
}

#[test]
fn refusals() {
    let s = setup();
    let update = batch_change(&s);

    // A client is not an admin.
    let err = check_config_update(
        &s.current,
        &s.msps,
        &approve(&update, &[&s.unicom_client, &s.mobile_admin]),
        NOW,
    )
    .unwrap_err();
    assert!(matches!(err, ConfigUpdateError::Policy { .. }), "{err:?}");

    // Stale sequence (a replay of an update already applied).
    let mut stale = update.clone();
    stale.config.sequence = 0;
    stale.config.orderer.batch.tx_max = 10;
    let err = check_config_update(
        &s.current,
        &s.msps,
        &approve(&stale, &[&s.unicom_admin, &s.mobile_admin]),
        NOW,
    )
    .unwrap_err();
    assert_eq!(
        err,
        ConfigUpdateError::WrongSequence {
            expected: 1,
            got: 0
        }
    );

    // Another channel.
    let mut other = update.clone();
    other.channel = "other".to_owned();
    let err = check_config_update(
        &s.current,
        &s.msps,
        &approve(&other, &[&s.unicom_admin, &s.mobile_admin]),
        NOW,
    )
    .unwrap_err();
    assert!(matches!(err, ConfigUpdateError::WrongChannel { .. }));

    // Nothing changes.
    let mut same = s.current.clone();
    same.sequence += 1;
    let noop = ConfigUpdate {
        channel: "settlement".to_owned(),
        config: same,
    };
    let err = check_config_update(
        &s.current,
        &s.msps,
        &approve(&noop, &[&s.unicom_admin, &s.mobile_admin]),
        NOW,
    )
    .unwrap_err();
    assert_eq!(err, ConfigUpdateError::NoChange);

    // A signature over a different update.
    let mut forged = approve(&update, &[&s.unicom_admin, &s.mobile_admin]);
    forged.update.config.orderer.batch.tx_max = 1;
    let err = check_config_update(&s.current, &s.msps, &forged, NOW).unwrap_err();
    assert!(
        matches!(err, ConfigUpdateError::BadSignature { .. }),
        "{err:?}"
    );

    // A proposed root that does not parse.
    let mut broken = update.clone();
    broken.config.orgs[0].root_certs_der = vec![vec![0x30, 0x03, 0x02, 0x01, 0x01]];
    let err = check_config_update(
        &s.current,
        &s.msps,
        &approve(&broken, &[&s.unicom_admin, &s.mobile_admin]),
        NOW,
    )
    .unwrap_err();
    assert!(
        matches!(err, ConfigUpdateError::InvalidConfig(_)),
        "{err:?}"
    );
}
