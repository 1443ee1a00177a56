//! Policies as data, in Fabric's two shapes: signature policies (AND / OR / n-out-of over
//! principals) and implicit-meta policies (ANY / ALL / MAJORITY of the organisations'
//! sub-policies of a name). Evaluating them against a set of verified signers belongs to
//! `netsettle-msp`; this module only defines, bounds and encodes them.

use serde::de::Error as _;

use crate::codec::{check_count, check_len, check_non_empty};
use crate::error::InvalidMessage;
use crate::header::check_name;
use crate::limits::{MSP_ID_BYTES_MAX, POLICY_DEPTH_MAX, POLICY_NODES_MAX};

/// A role a certificate can hold within its organisation, from its OU (Fabric's NodeOUs).
/// Exhaustive on purpose: policy evaluation must consider every role.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Role {
    /// Any valid certificate of the organisation.
    Member,
    /// An administrator.
    Admin,
    /// A client application.
    Client,
    /// A peer.
    Peer,
    /// An orderer.
    Orderer,
}

/// "A signer from organisation `msp_id` holding `role`."
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Principal {
    /// The organisation.
    pub msp_id: String,
    /// The role required.
    pub role: Role,
}

/// A rule over signers. `And` and `Or` are spelled out (rather than as n-out-of) because
/// that is how people write and read endorsement policies.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum SignaturePolicy {
    /// Satisfied by one signature from this principal.
    SignedBy(Principal),
    /// Satisfied when every rule is.
    And(Vec<SignaturePolicy>),
    /// Satisfied when any rule is.
    Or(Vec<SignaturePolicy>),
    /// Satisfied when at least `n` of the rules are.
    OutOf {
        /// How many rules must hold.
        n: u32,
        /// The rules.
        rules: Vec<SignaturePolicy>,
    },
}

impl SignaturePolicy {
    /// Checks nesting depth, node count, principal names and thresholds.
    pub fn check(&self) -> Result<(), InvalidMessage> {
        let mut nodes: usize = 0;
        self.check_at(1, &mut nodes)
    }

    fn check_at(&self, depth: usize, nodes: &mut usize) -> Result<(), InvalidMessage> {
        check_count("signature policy depth", depth, POLICY_DEPTH_MAX)?;
        *nodes = nodes.saturating_add(1);
        check_count("signature policy nodes", *nodes, POLICY_NODES_MAX)?;
        let rules = match self {
            SignaturePolicy::SignedBy(principal) => {
                check_non_empty("policy principal MSP id", principal.msp_id.len())?;
                return check_len(
                    "policy principal MSP id",
                    principal.msp_id.len(),
                    MSP_ID_BYTES_MAX,
                );
            }
            SignaturePolicy::And(rules) | SignaturePolicy::Or(rules) => rules,
            SignaturePolicy::OutOf { n, rules } => {
                let n = usize::try_from(*n).unwrap_or(usize::MAX);
                if n == 0 || n > rules.len() {
                    return Err(InvalidMessage::Inconsistent {
                        what: "n-out-of threshold must be between 1 and the number of rules",
                    });
                }
                rules
            }
        };
        if rules.is_empty() {
            return Err(InvalidMessage::Empty {
                what: "signature policy rules",
            });
        }
        for rule in rules {
            rule.check_at(depth.saturating_add(1), nodes)?;
        }
        Ok(())
    }
}

/// The field-for-field twin of [`SignaturePolicy`] that serde derives a decoder for; the
/// hand-written `Deserialize` below wraps it in a depth guard.
#[derive(serde::Deserialize)]
#[serde(rename = "SignaturePolicy")]
enum SignaturePolicyRepr {
    SignedBy(Principal),
    And(Vec<SignaturePolicy>),
    Or(Vec<SignaturePolicy>),
    OutOf { n: u32, rules: Vec<SignaturePolicy> },
}

std::thread_local! {
    /// Nesting depth of the signature policy being decoded on this thread. Decoding is
    /// synchronous, so a thread-local counter sees exactly the current recursion.
    static DECODE_DEPTH: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

/// Increments the decode depth for as long as it lives, so early returns unwind it too.
struct DepthGuard;

impl DepthGuard {
    fn enter() -> Option<DepthGuard> {
        DECODE_DEPTH.with(|depth| {
            let next = depth.get().saturating_add(1);
            if next > POLICY_DEPTH_MAX {
                return None;
            }
            depth.set(next);
            Some(DepthGuard)
        })
    }
}

impl Drop for DepthGuard {
    fn drop(&mut self) {
        DECODE_DEPTH.with(|depth| depth.set(depth.get().saturating_sub(1)));
    }
}

impl<'de> serde::Deserialize<'de> for SignaturePolicy {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Policies nest, and a hostile encoding could nest them deep enough to overflow
        // the stack before any limit check ran; the guard stops recursion while decoding.
        let _guard = DepthGuard::enter().ok_or_else(|| {
            D::Error::custom("signature policy nested deeper than POLICY_DEPTH_MAX")
        })?;
        Ok(match SignaturePolicyRepr::deserialize(deserializer)? {
            SignaturePolicyRepr::SignedBy(principal) => SignaturePolicy::SignedBy(principal),
            SignaturePolicyRepr::And(rules) => SignaturePolicy::And(rules),
            SignaturePolicyRepr::Or(rules) => SignaturePolicy::Or(rules),
            SignaturePolicyRepr::OutOf { n, rules } => SignaturePolicy::OutOf { n, rules },
        })
    }
}

/// How many organisations' sub-policies an implicit-meta policy requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ImplicitMetaRule {
    /// At least one.
    Any,
    /// Every one.
    All,
    /// More than half.
    Majority,
}

/// "`rule` of the organisations' policies named `sub_policy`", e.g. MAJORITY Admins.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImplicitMetaPolicy {
    /// How many must be satisfied.
    pub rule: ImplicitMetaRule,
    /// Which per-organisation policy, e.g. `Admins`.
    pub sub_policy: String,
}

/// A policy of either shape. Exhaustive on purpose: an evaluator must handle both.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Policy {
    /// Over explicit principals.
    Signature(SignaturePolicy),
    /// Over the organisations' own policies.
    ImplicitMeta(ImplicitMetaPolicy),
}

impl Policy {
    /// Checks the policy's limits.
    pub fn check(&self) -> Result<(), InvalidMessage> {
        match self {
            Policy::Signature(policy) => policy.check(),
            Policy::ImplicitMeta(policy) => {
                check_name("implicit-meta sub-policy", &policy.sub_policy)
            }
        }
    }

    /// `ANY <sub_policy>`.
    pub fn any(sub_policy: &str) -> Self {
        Self::implicit_meta(ImplicitMetaRule::Any, sub_policy)
    }

    /// `ALL <sub_policy>`.
    pub fn all(sub_policy: &str) -> Self {
        Self::implicit_meta(ImplicitMetaRule::All, sub_policy)
    }

    /// `MAJORITY <sub_policy>`.
    pub fn majority(sub_policy: &str) -> Self {
        Self::implicit_meta(ImplicitMetaRule::Majority, sub_policy)
    }

    fn implicit_meta(rule: ImplicitMetaRule, sub_policy: &str) -> Self {
        Policy::ImplicitMeta(ImplicitMetaPolicy {
            rule,
            sub_policy: sub_policy.to_owned(),
        })
    }

    /// One signature from `msp_id` with `role`.
    pub fn signed_by(msp_id: &str, role: Role) -> Self {
        Policy::Signature(SignaturePolicy::SignedBy(Principal {
            msp_id: msp_id.to_owned(),
            role,
        }))
    }
}
