//! Policy evaluation, table-driven: each case names the signers present and whether the
//! policy holds.

use netsettle_msp::{ChannelMsps, PolicyError, ValidatedIdentity};
use netsettle_protocol::{Policy, Principal, Role as P, SignaturePolicy};
use netsettle_smcrypto::x509::Role;
use netsettle_testkit::channel::one_orderer_config;
use netsettle_testkit::pki::{NOW, TestOrg};

struct World {
    msps: ChannelMsps,
    signers: Vec<(&'static str, ValidatedIdentity)>,
}

fn world() -> World {
    let unicom = TestOrg::new("UnicomMSP");
    let mobile = TestOrg::new("MobileMSP");
    let msps = ChannelMsps::from_config(&one_orderer_config(&[&unicom, &mobile])).unwrap();
    let people = [
        ("u.admin", unicom.member("admin", Role::Admin)),
        ("u.peer", unicom.member("peer0", Role::Peer)),
        ("u.peer1", unicom.member("peer1", Role::Peer)),
        ("u.client", unicom.member("client", Role::Client)),
        ("m.admin", mobile.member("admin", Role::Admin)),
        ("m.peer", mobile.member("peer0", Role::Peer)),
        ("m.client", mobile.member("client", Role::Client)),
    ];
    let signers = people
        .iter()
        .map(|(name, member)| (*name, msps.validate(&member.identity(), NOW).unwrap()))
        .collect();
    World { msps, signers }
}

impl World {
    fn pick(&self, names: &[&str]) -> Vec<ValidatedIdentity> {
        names
            .iter()
            .map(|name| {
                self.signers
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, id)| id.clone())
                    .unwrap_or_else(|| panic!("no signer {name}"))
            })
            .collect()
    }

    fn check(&self, policy: &Policy, names: &[&str]) -> Result<Vec<String>, PolicyError> {
        self.msps
            .evaluate(policy, &self.pick(names))
            .map(|satisfied| satisfied.principals)
    }
}

fn by(msp: &str, role: P) -> SignaturePolicy {
    SignaturePolicy::SignedBy(Principal {
        msp_id: msp.to_owned(),
        role,
    })
}

fn and(rules: Vec<SignaturePolicy>) -> Policy {
    Policy::Signature(SignaturePolicy::And(rules))
}

#[test]
fn table() {
    let w = world();
    let settlement = and(vec![by("UnicomMSP", P::Peer), by("MobileMSP", P::Peer)]);
    let either_admin = Policy::Signature(SignaturePolicy::Or(vec![
        by("UnicomMSP", P::Admin),
        by("MobileMSP", P::Admin),
    ]));
    let two_of_three = Policy::Signature(SignaturePolicy::OutOf {
        n: 2,
        rules: vec![
            by("UnicomMSP", P::Admin),
            by("MobileMSP", P::Admin),
            by("UnicomMSP", P::Client),
        ],
    });
    let two_unicom_members = and(vec![by("UnicomMSP", P::Member), by("UnicomMSP", P::Member)]);
    let any_readers = Policy::any("Readers");
    let any_writers = Policy::any("Writers");
    let majority_admins = Policy::majority("Admins");
    let all_endorsement = Policy::all("Endorsement");
    let cases: Vec<(&str, &Policy, &[&str], bool)> = vec![
        (
            "both endorsing peers",
            &settlement,
            &["u.peer", "m.peer"],
            true,
        ),
        ("one endorsing peer", &settlement, &["u.peer"], false),
        (
            "two peers of one carrier",
            &settlement,
            &["u.peer", "u.peer1"],
            false,
        ),
        (
            "client is not a peer",
            &settlement,
            &["u.peer", "m.client"],
            false,
        ),
        ("either admin: unicom", &either_admin, &["u.admin"], true),
        ("either admin: mobile", &either_admin, &["m.admin"], true),
        (
            "either admin: none",
            &either_admin,
            &["u.client", "m.peer"],
            false,
        ),
        (
            "2 of 3: two admins",
            &two_of_three,
            &["u.admin", "m.admin"],
            true,
        ),
        (
            "2 of 3: admin + client",
            &two_of_three,
            &["m.admin", "u.client"],
            true,
        ),
        ("2 of 3: one", &two_of_three, &["m.admin"], false),
        (
            "member twice: two people",
            &two_unicom_members,
            &["u.admin", "u.peer"],
            true,
        ),
        (
            "member twice: one person signing twice",
            &two_unicom_members,
            &["u.admin", "u.admin"],
            false,
        ),
        ("ANY Readers", &any_readers, &["m.client"], true),
        ("ANY Writers", &any_writers, &["u.client"], true),
        (
            "MAJORITY Admins: both",
            &majority_admins,
            &["u.admin", "m.admin"],
            true,
        ),
        (
            "MAJORITY Admins: one of two",
            &majority_admins,
            &["u.admin"],
            false,
        ),
        (
            "MAJORITY Admins: same admin twice",
            &majority_admins,
            &["u.admin", "u.admin"],
            false,
        ),
        (
            "ALL Endorsement",
            &all_endorsement,
            &["u.peer", "m.peer"],
            true,
        ),
        (
            "ALL Endorsement: missing mobile",
            &all_endorsement,
            &["u.peer", "u.admin"],
            false,
        ),
        ("no signers", &any_readers, &[], false),
    ];
    for (name, policy, signers, expected) in cases {
        let outcome = w.check(policy, signers);
        assert_eq!(outcome.is_ok(), expected, "case {name:?}: {outcome:?}");
    }
}

#[test]
fn failure_says_what_is_missing() {
    let w = world();
    let settlement = and(vec![by("UnicomMSP", P::Peer), by("MobileMSP", P::Peer)]);
    let err = w.check(&settlement, &["u.peer"]).unwrap_err();
    assert_eq!(
        err,
        PolicyError::NotSatisfied {
            reason: "no signature from MobileMSP.peer".to_owned()
        }
    );
    let err = w
        .check(&Policy::majority("Admins"), &["m.admin"])
        .unwrap_err();
    let PolicyError::NotSatisfied { reason } = err else {
        panic!("expected NotSatisfied");
    };
    assert!(
        reason.contains("1 of 2 organisations satisfied, 2 needed"),
        "{reason}"
    );
    assert!(
        reason.contains("UnicomMSP Admins: no signature from UnicomMSP.admin"),
        "{reason}"
    );
}

#[test]
fn unknown_sub_policy_is_its_own_error() {
    let w = world();
    assert_eq!(
        w.check(&Policy::any("Auditors"), &["u.admin"]),
        Err(PolicyError::UnknownSubPolicy {
            name: "Auditors".to_owned()
        })
    );
}

#[test]
fn satisfied_lists_the_principals_that_counted() {
    let w = world();
    let settlement = and(vec![by("UnicomMSP", P::Peer), by("MobileMSP", P::Peer)]);
    assert_eq!(
        w.check(&settlement, &["m.client", "m.peer", "u.peer"])
            .unwrap(),
        vec!["UnicomMSP.peer".to_owned(), "MobileMSP.peer".to_owned()]
    );
}
