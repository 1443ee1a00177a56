//! Consenter membership: the channel configuration says who the consenters are, and the
//! Raft group follows it one consenter at a time.
//!
//! A config update may add or remove exactly one consenter, and only once the previous
//! change has taken effect in Raft ([`check_consenter_change`], run when the update is
//! broadcast and again when its entry is applied, so every orderer gives the same
//! verdict). Once the config block is cut, the leader proposes the matching Raft
//! `ConfChange` ([`next_conf_change`] compares the config's consenters with Raft's
//! voters), every orderer applies it from the log, and snapshots carry the resulting
//! conf state. A leader that is itself removed first hands leadership over, so the
//! removal is proposed by a leader that stays. A new consenter starts from the genesis
//! block like a wiped one and catches up from the log or a snapshot.

use std::collections::BTreeSet;

use netsettle_protocol::{ChannelConfig, Consenter};
use netsettle_smcrypto::x509::{Certificate, verify_chain};

use crate::error::ConsenterChangeError;

/// One step of Raft membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsenterChange {
    /// Make this consenter a voter.
    Add(u64),
    /// Remove this consenter.
    Remove(u64),
}

/// The consenter ids of a configuration.
pub fn consenter_ids(config: &ChannelConfig) -> BTreeSet<u64> {
    config.orderer.consenters.iter().map(|c| c.id).collect()
}

/// Checks that `after` changes the consenters of `before` by at most one step: one
/// consenter added, one removed, or one consenter's TLS certificate renewed; that a
/// consenter kept keeps its organisation; that a renewed certificate is a renewal
/// ([`check_renewal`]); and that no earlier addition or removal is still under way
/// (`voters` is Raft's current voter set, which must equal `before`'s consenters when the
/// set changes again). `Ok(None)` when Raft's membership stays as it is (no change to the
/// consenters, or a renewal: the consenter keeps its id and its place in Raft).
///
/// Trusted: the config update policy (both carriers' admins for consenters); this check
/// keeps even a jointly signed update from taking more than one consenter out of the
/// quorum at once, and keeps a renewed consenter recognisable as the same node (its name
/// signs its blocks, see `netsettle_msp::verify_consenter_signature`).
pub fn check_consenter_change(
    before: &ChannelConfig,
    after: &ChannelConfig,
    voters: &BTreeSet<u64>,
) -> Result<Option<ConsenterChange>, ConsenterChangeError> {
    let ids_before = consenter_ids(before);
    let ids_after = consenter_ids(after);
    if ids_after.len() != after.orderer.consenters.len() {
        return Err(ConsenterChangeError::DuplicateId);
    }
    let mut renewed = Vec::new();
    for kept in after.orderer.consenters.iter() {
        let Some(old) = find(before, kept.id) else {
            continue;
        };
        if old.msp_id != kept.msp_id {
            return Err(ConsenterChangeError::IdentityChanged { id: kept.id });
        }
        if old.tls_cert_der != kept.tls_cert_der {
            check_renewal(after, old, kept).map_err(|reason| {
                ConsenterChangeError::RenewalRefused {
                    id: kept.id,
                    reason,
                }
            })?;
            renewed.push(kept.id);
        }
    }
    let added: Vec<u64> = ids_after.difference(&ids_before).copied().collect();
    let removed: Vec<u64> = ids_before.difference(&ids_after).copied().collect();
    let change = match (added.as_slice(), removed.as_slice(), renewed.as_slice()) {
        ([], [], []) | ([], [], [_]) => return Ok(None),
        ([id], [], []) => ConsenterChange::Add(*id),
        ([], [id], []) => ConsenterChange::Remove(*id),
        _ => {
            return Err(ConsenterChangeError::MoreThanOne {
                added,
                removed,
                renewed,
            });
        }
    };
    if ids_after.is_empty() {
        return Err(ConsenterChangeError::NoneLeft);
    }
    if *voters != ids_before {
        return Err(ConsenterChangeError::InProgress {
            voters: voters.iter().copied().collect(),
            consenters: ids_before.into_iter().collect(),
        });
    }
    Ok(Some(change))
}

/// Whether `new` is a renewal of consenter `old`'s TLS certificate under `config` (the
/// configuration the update puts in force): it parses, has the same common name (the
/// node's name, by which its block signatures are matched to it), and chains to its
/// organisation's TLS roots (through the organisation's intermediates). Judged without
/// the clock, at the certificate's own start of validity, so every orderer applying the
/// entry gives the same verdict; expiry is the network layer's to enforce.
fn check_renewal(config: &ChannelConfig, old: &Consenter, new: &Consenter) -> Result<(), String> {
    let parse = |der: &[u8], what: &str| {
        Certificate::from_der(der).map_err(|error| format!("{what} certificate: {error}"))
    };
    let old_cert = parse(&old.tls_cert_der, "old")?;
    let new_cert = parse(&new.tls_cert_der, "new")?;
    if old_cert.common_name() != new_cert.common_name() {
        return Err(format!(
            "common name {:?} is not the consenter's {:?}",
            new_cert.common_name().unwrap_or_default(),
            old_cert.common_name().unwrap_or_default()
        ));
    }
    let org = config
        .org(&new.msp_id)
        .ok_or_else(|| format!("organisation {} is not on the channel", new.msp_id))?;
    let certificates = |list: &[Vec<u8>]| -> Vec<Certificate> {
        // A CA certificate that does not parse issues nothing (the config checks refuse
        // such organisations anyway).
        list.iter()
            .filter_map(|der| Certificate::from_der(der).ok())
            .collect()
    };
    let roots = certificates(&org.tls_root_certs_der);
    let intermediates = certificates(&org.intermediate_certs_der);
    verify_chain(
        &new_cert,
        &intermediates,
        &roots,
        new_cert.not_before_unix(),
    )
    .map(|_| ())
    .map_err(|error| format!("not issued by {}'s TLS CAs: {error}", new.msp_id))
}

fn find(config: &ChannelConfig, id: u64) -> Option<&Consenter> {
    config.orderer.consenters.iter().find(|c| c.id == id)
}

/// The Raft membership step that brings `voters` closer to `consenters`: removals
/// first (the smallest id), then additions. `None` once they agree.
pub fn next_conf_change(
    consenters: &BTreeSet<u64>,
    voters: &BTreeSet<u64>,
) -> Option<ConsenterChange> {
    if let Some(id) = voters.difference(consenters).next() {
        return Some(ConsenterChange::Remove(*id));
    }
    consenters
        .difference(voters)
        .next()
        .map(|id| ConsenterChange::Add(*id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use netsettle_protocol::{BatchPolicy, ChannelPolicies, CryptoPolicy, Endpoint, OrdererConfig};
    use netsettle_smcrypto::x509::Role;
    use netsettle_testkit::pki::TestOrg;

    fn config(ids: &[u64]) -> ChannelConfig {
        ChannelConfig {
            channel: "settlement".to_owned(),
            sequence: 0,
            orgs: Vec::new(),
            orderer: OrdererConfig {
                consenters: ids
                    .iter()
                    .map(|id| Consenter {
                        id: *id,
                        msp_id: "UnicomMSP".to_owned(),
                        endpoint: Endpoint {
                            host: "127.0.0.1".to_owned(),
                            port: 7050,
                        },
                        tls_cert_der: vec![u8::try_from(*id).unwrap()],
                    })
                    .collect(),
                batch: BatchPolicy::default(),
            },
            policies: ChannelPolicies::default(),
            crypto: CryptoPolicy::default(),
            capabilities: Vec::new(),
        }
    }

    fn set(ids: &[u64]) -> BTreeSet<u64> {
        ids.iter().copied().collect()
    }

    /// (before, after, Raft voters) → verdict, as text.
    fn check(before: &[u64], after: &[u64], voters: &[u64]) -> String {
        match check_consenter_change(&config(before), &config(after), &set(voters)) {
            Ok(change) => format!("{change:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn one_change_at_a_time() {
        let cases = [
            (&[1, 2, 3][..], &[1, 2, 3][..], &[1, 2, 3][..], "None"),
            (&[1, 2, 3], &[1, 2, 3, 4], &[1, 2, 3], "Some(Add(4))"),
            (&[1, 2, 3], &[1, 3], &[1, 2, 3], "Some(Remove(2))"),
            (
                &[1, 2, 3],
                &[1, 2, 4, 5],
                &[1, 2, 3],
                "config update changes more than one consenter at once (added [4, 5], removed [3], renewed []); add, remove or renew one per update",
            ),
            (
                &[1, 2, 3],
                &[1, 2, 3, 4],
                &[1, 2],
                "the previous consenter change is not in effect yet (Raft voters [1, 2], consenters [1, 2, 3]); retry once it is",
            ),
            // Other config changes are fine while a consenter change is under way.
            (&[1, 2, 3], &[1, 2, 3], &[1, 2], "None"),
            (&[1], &[], &[1], "config update removes the last consenter"),
        ];
        for (before, after, voters, expected) in cases {
            assert_eq!(
                check(before, after, voters),
                expected,
                "{before:?} → {after:?}"
            );
        }
    }

    /// Two organisations with real CAs, consenters 1 and 2 of Unicom and 3 of Mobile,
    /// each with a TLS certificate from its organisation's CA.
    fn real_config() -> (ChannelConfig, TestOrg, TestOrg) {
        let unicom = TestOrg::new("UnicomMSP");
        let mobile = TestOrg::new("MobileMSP");
        let mut config = config(&[]);
        config.orgs = vec![unicom.org_config(), mobile.org_config()];
        for (id, org, name) in [
            (1, &unicom, "orderer0.unicom.example"),
            (2, &unicom, "orderer1.unicom.example"),
            (3, &mobile, "orderer0.mobile.example"),
        ] {
            config.orderer.consenters.push(Consenter {
                id,
                msp_id: org.msp_id.clone(),
                endpoint: Endpoint {
                    host: "127.0.0.1".to_owned(),
                    port: 7050,
                },
                tls_cert_der: tls_cert(org, name),
            });
        }
        (config, unicom, mobile)
    }

    fn tls_cert(org: &TestOrg, name: &str) -> Vec<u8> {
        org.member(name, Role::Orderer).cert.der().to_vec()
    }

    fn renew(config: &ChannelConfig, id: u64, der: Vec<u8>) -> ChannelConfig {
        let mut after = config.clone();
        for consenter in &mut after.orderer.consenters {
            if consenter.id == id {
                consenter.tls_cert_der = der.clone();
            }
        }
        after
    }

    #[test]
    fn a_consenter_renews_its_tls_certificate_from_its_own_ca() {
        let (before, unicom, _) = real_config();
        let voters = set(&[1, 2, 3]);
        let after = renew(&before, 2, tls_cert(&unicom, "orderer1.unicom.example"));
        // A renewal leaves Raft's membership as it is.
        assert_eq!(check_consenter_change(&before, &after, &voters), Ok(None));
        // Even while an earlier addition or removal is under way.
        assert_eq!(
            check_consenter_change(&before, &after, &set(&[1, 2])),
            Ok(None)
        );
    }

    #[test]
    fn a_renewal_that_is_not_one_is_refused() {
        let (before, unicom, mobile) = real_config();
        let voters = set(&[1, 2, 3]);
        let refused = |after: &ChannelConfig| {
            check_consenter_change(&before, after, &voters)
                .expect_err("refused")
                .to_string()
        };
        // Mobile's CA minting a certificate with the name of Unicom's consenter.
        let minted = mobile
            .member_with("orderer1.unicom.example", Role::Orderer, |params| {
                params.subject.common_name = "orderer1.unicom.example.UnicomMSP".to_owned();
            })
            .cert;
        let minted = renew(&before, 2, minted.der().to_vec());
        assert!(
            refused(&minted).contains(
                "consenter 2: new TLS certificate refused: not issued by UnicomMSP's TLS CAs"
            ),
            "{}",
            refused(&minted)
        );
        // Unicom's own CA, but another node's name.
        let renamed = renew(&before, 2, tls_cert(&unicom, "orderer0.unicom.example"));
        assert!(
            refused(&renamed).contains(
                "common name \"orderer0.unicom.example.UnicomMSP\" is not the consenter's \"orderer1.unicom.example.UnicomMSP\""
            ),
            "{}",
            refused(&renamed)
        );
        // Bytes that are no certificate.
        let garbage = renew(&before, 2, vec![0x30, 0x03, 0x02, 0x01, 0x00]);
        assert!(
            refused(&garbage).contains("new certificate"),
            "{}",
            refused(&garbage)
        );
        // Two consenters at once: never more than one out of the quorum.
        let both = renew(
            &renew(&before, 1, tls_cert(&unicom, "orderer0.unicom.example")),
            2,
            tls_cert(&unicom, "orderer1.unicom.example"),
        );
        assert_eq!(
            refused(&both),
            "config update changes more than one consenter at once (added [], removed [], renewed [1, 2]); add, remove or renew one per update"
        );
        // A renewal together with a removal.
        let mut and_remove = renew(&before, 2, tls_cert(&unicom, "orderer1.unicom.example"));
        and_remove.orderer.consenters.retain(|c| c.id != 3);
        assert!(refused(&and_remove).contains("removed [3], renewed [2]"));
        // Another organisation for a kept id.
        let mut moved = before.clone();
        moved.orderer.consenters[1].msp_id = "MobileMSP".to_owned();
        assert_eq!(
            check_consenter_change(&before, &moved, &voters),
            Err(ConsenterChangeError::IdentityChanged { id: 2 })
        );
    }

    #[test]
    fn raft_follows_the_config_removals_first() {
        assert_eq!(next_conf_change(&set(&[1, 2]), &set(&[1, 2])), None);
        assert_eq!(
            next_conf_change(&set(&[1, 2, 6]), &set(&[1, 2])),
            Some(ConsenterChange::Add(6))
        );
        assert_eq!(
            next_conf_change(&set(&[1, 6]), &set(&[1, 2])),
            Some(ConsenterChange::Remove(2))
        );
    }
}
