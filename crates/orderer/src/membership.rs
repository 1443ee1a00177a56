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

/// Checks that `after` changes the consenters of `before` by at most one added or
/// removed consenter, that a consenter kept keeps its organisation and TLS certificate,
/// and that no earlier change is still under way (`voters` is Raft's current voter set,
/// which must equal `before`'s consenters when the set changes again).
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
    for kept in after.orderer.consenters.iter() {
        if let Some(old) = find(before, kept.id)
            && (old.msp_id != kept.msp_id || old.tls_cert_der != kept.tls_cert_der)
        {
            return Err(ConsenterChangeError::IdentityChanged { id: kept.id });
        }
    }
    let added: Vec<u64> = ids_after.difference(&ids_before).copied().collect();
    let removed: Vec<u64> = ids_before.difference(&ids_after).copied().collect();
    let change = match (added.as_slice(), removed.as_slice()) {
        ([], []) => return Ok(None),
        ([id], []) => ConsenterChange::Add(*id),
        ([], [id]) => ConsenterChange::Remove(*id),
        _ => {
            return Err(ConsenterChangeError::MoreThanOne { added, removed });
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
                "config update changes more than one consenter at once (added [4, 5], removed [3]); add or remove one per update",
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

    #[test]
    fn a_kept_consenter_keeps_its_certificate() {
        let before = config(&[1, 2]);
        let mut after = before.clone();
        after.orderer.consenters[1].tls_cert_der = vec![9];
        let verdict = check_consenter_change(&before, &after, &set(&[1, 2]));
        assert_eq!(
            verdict,
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
