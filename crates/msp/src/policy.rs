//! Policy evaluation over validated signers, in Fabric's semantics: a signature policy
//! consumes signers as it matches them (so `AND(A.member, A.member)` needs two distinct
//! members of A), and implicit-meta policies count how many organisations satisfy their
//! own sub-policy of a name. Failures say which part was missing.

use std::collections::{BTreeMap, BTreeSet};

use netsettle_protocol::{
    ImplicitMetaPolicy, ImplicitMetaRule, OrgPolicies, Policy, Principal, Role, SignaturePolicy,
};

use crate::{PolicyError, ValidatedIdentity};

/// A satisfied policy, with the principals that satisfied it (for logs and audit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Satisfied {
    /// `MSP.role` of each signer that counted, in the order matched.
    pub principals: Vec<String>,
}

pub(crate) fn evaluate(
    policy: &Policy,
    signers: &[ValidatedIdentity],
    org_policies: &BTreeMap<String, OrgPolicies>,
) -> Result<Satisfied, PolicyError> {
    let signers = distinct(signers);
    match policy {
        Policy::Signature(rule) => evaluate_signature(rule, &signers),
        Policy::ImplicitMeta(meta) => evaluate_implicit_meta(meta, &signers, org_policies),
    }
}

/// One identity signing twice (or appearing twice) counts once.
fn distinct(signers: &[ValidatedIdentity]) -> Vec<&ValidatedIdentity> {
    let mut seen = BTreeSet::new();
    signers
        .iter()
        .filter(|signer| seen.insert(signer.fingerprint))
        .collect()
}

fn evaluate_signature(
    rule: &SignaturePolicy,
    signers: &[&ValidatedIdentity],
) -> Result<Satisfied, PolicyError> {
    let mut used = vec![false; signers.len()];
    let mut principals = Vec::new();
    match_rule(rule, signers, &mut used, &mut principals)
        .map(|()| Satisfied { principals })
        .map_err(|reason| PolicyError::NotSatisfied { reason })
}

/// Match `rule`, marking the signers it uses. On failure `used` and `principals` are
/// restored, so an `Or` can try its next branch with the same signers.
fn match_rule(
    rule: &SignaturePolicy,
    signers: &[&ValidatedIdentity],
    used: &mut Vec<bool>,
    principals: &mut Vec<String>,
) -> Result<(), String> {
    match rule {
        SignaturePolicy::SignedBy(principal) => {
            match_principal(principal, signers, used, principals)
        }
        SignaturePolicy::And(rules) => {
            let saved = (used.clone(), principals.len());
            for rule in rules {
                if let Err(reason) = match_rule(rule, signers, used, principals) {
                    *used = saved.0;
                    principals.truncate(saved.1);
                    return Err(reason);
                }
            }
            Ok(())
        }
        SignaturePolicy::Or(rules) => {
            let mut reasons = Vec::new();
            for rule in rules {
                match match_rule(rule, signers, used, principals) {
                    Ok(()) => return Ok(()),
                    Err(reason) => reasons.push(reason),
                }
            }
            Err(format!("none of: [{}]", reasons.join("; ")))
        }
        SignaturePolicy::OutOf { n, rules } => {
            let needed = usize::try_from(*n).unwrap_or(usize::MAX);
            let saved = (used.clone(), principals.len());
            let mut matched = 0usize;
            let mut reasons = Vec::new();
            for rule in rules {
                if matched >= needed {
                    break;
                }
                match match_rule(rule, signers, used, principals) {
                    Ok(()) => matched = matched.saturating_add(1),
                    Err(reason) => reasons.push(reason),
                }
            }
            if matched >= needed {
                return Ok(());
            }
            *used = saved.0;
            principals.truncate(saved.1);
            Err(format!(
                "{matched} of the required {needed} rules matched; missing: [{}]",
                reasons.join("; ")
            ))
        }
    }
}

fn match_principal(
    principal: &Principal,
    signers: &[&ValidatedIdentity],
    used: &mut [bool],
    principals: &mut Vec<String>,
) -> Result<(), String> {
    let found = signers
        .iter()
        .zip(used.iter())
        .position(|(signer, used)| !used && satisfies(signer, principal));
    match found.and_then(|idx| used.get_mut(idx).map(|slot| (idx, slot))) {
        Some((idx, slot)) => {
            *slot = true;
            if let Some(signer) = signers.get(idx) {
                principals.push(format!("{}.{}", signer.msp_id, role_name(signer.role)));
            }
            Ok(())
        }
        None => Err(format!(
            "no signature from {}.{}",
            principal.msp_id,
            role_name(principal.role)
        )),
    }
}

fn satisfies(signer: &ValidatedIdentity, principal: &Principal) -> bool {
    signer.msp_id == principal.msp_id
        && (principal.role == Role::Member || principal.role == signer.role)
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Member => "member",
        Role::Admin => "admin",
        Role::Client => "client",
        Role::Peer => "peer",
        Role::Orderer => "orderer",
    }
}

fn evaluate_implicit_meta(
    meta: &ImplicitMetaPolicy,
    signers: &[&ValidatedIdentity],
    org_policies: &BTreeMap<String, OrgPolicies>,
) -> Result<Satisfied, PolicyError> {
    let n_orgs = org_policies.len();
    let mut principals = Vec::new();
    let mut satisfied_orgs = 0usize;
    let mut reasons = Vec::new();
    for (msp_id, policies) in org_policies {
        let sub = sub_policy(policies, &meta.sub_policy)?;
        let Policy::Signature(rule) = sub else {
            return Err(PolicyError::NestedImplicitMeta {
                msp_id: msp_id.clone(),
                name: meta.sub_policy.clone(),
            });
        };
        match evaluate_signature(rule, signers) {
            Ok(found) => {
                satisfied_orgs = satisfied_orgs.saturating_add(1);
                principals.extend(found.principals);
            }
            Err(PolicyError::NotSatisfied { reason }) => {
                reasons.push(format!("{msp_id} {}: {reason}", meta.sub_policy));
            }
            Err(other) => return Err(other),
        }
    }
    let needed = match meta.rule {
        ImplicitMetaRule::Any => 1,
        ImplicitMetaRule::All => n_orgs,
        ImplicitMetaRule::Majority => n_orgs / 2 + 1,
    };
    if satisfied_orgs >= needed && n_orgs > 0 {
        return Ok(Satisfied { principals });
    }
    Err(PolicyError::NotSatisfied {
        reason: format!(
            "{:?} {}: {satisfied_orgs} of {n_orgs} organisations satisfied, {needed} needed ({})",
            meta.rule,
            meta.sub_policy,
            reasons.join("; ")
        ),
    })
}

fn sub_policy<'a>(policies: &'a OrgPolicies, name: &str) -> Result<&'a Policy, PolicyError> {
    match name {
        "Readers" => Ok(&policies.readers),
        "Writers" => Ok(&policies.writers),
        "Admins" => Ok(&policies.admins),
        "Endorsement" => Ok(&policies.endorsement),
        _ => Err(PolicyError::UnknownSubPolicy {
            name: name.to_owned(),
        }),
    }
}

/// Fabric's usual per-organisation policies: Readers = any admin, peer, client or
/// orderer; Writers = any admin, client or peer; Admins = an admin; Endorsement = a peer.
pub fn default_org_policies(msp_id: &str) -> OrgPolicies {
    let signed_by = |role| {
        SignaturePolicy::SignedBy(Principal {
            msp_id: msp_id.to_owned(),
            role,
        })
    };
    OrgPolicies {
        readers: Policy::Signature(SignaturePolicy::Or(vec![
            signed_by(Role::Admin),
            signed_by(Role::Peer),
            signed_by(Role::Client),
            signed_by(Role::Orderer),
        ])),
        writers: Policy::Signature(SignaturePolicy::Or(vec![
            signed_by(Role::Admin),
            signed_by(Role::Client),
            signed_by(Role::Peer),
        ])),
        admins: Policy::Signature(signed_by(Role::Admin)),
        endorsement: Policy::Signature(signed_by(Role::Peer)),
    }
}
