//! Whether a proposed channel configuration may replace the one in force: the right
//! channel, the next sequence, a configuration that itself validates, genuine admin
//! signatures, and the modification policy satisfied.
//!
//! The modification policy depends on what changes. An organisation may change its own
//! anchor peers with its own Admins policy; anything else (organisations, consenters,
//! batch policy, crypto policy, policies themselves) needs the channel's Admins policy,
//! `MAJORITY Admins` by default, which with two carriers means both carriers' admins.

use netsettle_protocol::{ChannelConfig, ConfigUpdateEnvelope, Policy, Wire as _};

use crate::{ChannelMsps, MspError, PolicyError, Satisfied};

/// Why a config update is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigUpdateError {
    /// The update is for another channel.
    #[error("config update for channel {got:?}, this channel is {expected:?}")]
    WrongChannel {
        /// This channel.
        expected: String,
        /// The update's channel.
        got: String,
    },
    /// The new sequence is not the current one plus one (stale or replayed update).
    #[error("config update has sequence {got}, expected {expected}")]
    WrongSequence {
        /// current + 1.
        expected: u64,
        /// What the update carries.
        got: u64,
    },
    /// The proposed configuration is identical to the current one apart from the
    /// sequence.
    #[error("config update changes nothing")]
    NoChange,
    /// The proposed configuration is itself invalid (limits, unparsable roots or CRLs).
    #[error("proposed configuration is invalid: {0}")]
    InvalidConfig(MspError),
    /// A signer is not a valid identity of the current configuration.
    #[error("config update signer rejected: {0}")]
    Signer(MspError),
    /// A signature does not verify over the update.
    #[error("config update signature by {signer} does not verify")]
    BadSignature {
        /// The signer's subject.
        signer: String,
    },
    /// The signatures present do not satisfy the modification policy.
    #[error("config update needs {policy}: {source}")]
    Policy {
        /// Which policy applied, in words.
        policy: String,
        /// Why it is not satisfied.
        source: PolicyError,
    },
}

/// An accepted update: the configuration to put in force, and who approved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedUpdate {
    /// The new configuration.
    pub config: ChannelConfig,
    /// Which policy was applied.
    pub policy: String,
    /// Who satisfied it.
    pub satisfied: Satisfied,
}

/// Check `update` against the configuration in force (`current`, with its MSPs), judging
/// certificates at `at_unix`.
pub fn check_config_update(
    current: &ChannelConfig,
    msps: &ChannelMsps,
    update: &ConfigUpdateEnvelope,
    at_unix: i64,
) -> Result<AcceptedUpdate, ConfigUpdateError> {
    let proposed = &update.update.config;
    for channel in [&update.update.channel, &proposed.channel] {
        if *channel != current.channel {
            return Err(ConfigUpdateError::WrongChannel {
                expected: current.channel.clone(),
                got: channel.clone(),
            });
        }
    }
    let expected = current.sequence.saturating_add(1);
    if proposed.sequence != expected {
        return Err(ConfigUpdateError::WrongSequence {
            expected,
            got: proposed.sequence,
        });
    }
    proposed
        .check()
        .map_err(|e| ConfigUpdateError::InvalidConfig(MspError::InvalidConfig(e)))?;
    ChannelMsps::from_config(proposed).map_err(ConfigUpdateError::InvalidConfig)?;

    let mut signers = Vec::with_capacity(update.signatures.len());
    for approval in &update.signatures {
        let signer = msps
            .validate(&approval.signer, at_unix)
            .map_err(ConfigUpdateError::Signer)?;
        approval
            .verify(&update.update, signer.cert.public_key())
            .map_err(|_| ConfigUpdateError::BadSignature {
                signer: signer.cert.subject_dn(),
            })?;
        signers.push(signer);
    }

    let (policy_name, policy) = modification_policy(current, proposed)?;
    let satisfied =
        msps.evaluate(&policy, &signers)
            .map_err(|source| ConfigUpdateError::Policy {
                policy: policy_name.clone(),
                source,
            })?;
    Ok(AcceptedUpdate {
        config: proposed.clone(),
        policy: policy_name,
        satisfied,
    })
}

/// The policy that governs changing `current` into `proposed`.
fn modification_policy(
    current: &ChannelConfig,
    proposed: &ChannelConfig,
) -> Result<(String, Policy), ConfigUpdateError> {
    let mut same_but_sequence = proposed.clone();
    same_but_sequence.sequence = current.sequence;
    if same_but_sequence == *current {
        return Err(ConfigUpdateError::NoChange);
    }
    if let Some(msp_id) = only_anchor_peers_of_one_org(current, &same_but_sequence)
        && let Some(org) = current.org(&msp_id)
    {
        return Ok((format!("{msp_id} Admins"), org.policies.admins.clone()));
    }
    Ok(("channel Admins".to_owned(), current.policies.admins.clone()))
}

/// `Some(msp_id)` when the only difference is that organisation's anchor peers.
fn only_anchor_peers_of_one_org(
    current: &ChannelConfig,
    proposed: &ChannelConfig,
) -> Option<String> {
    if current.orgs.len() != proposed.orgs.len() {
        return None;
    }
    let changed: Vec<&str> = current
        .orgs
        .iter()
        .zip(&proposed.orgs)
        .filter(|(a, b)| a != b)
        .map(|(a, _)| a.msp_id.as_str())
        .collect();
    let [msp_id] = changed.as_slice() else {
        return None;
    };
    let mut reverted = proposed.clone();
    let current_org = current.org(msp_id)?;
    let reverted_org = reverted.orgs.iter_mut().find(|org| org.msp_id == *msp_id)?;
    reverted_org.anchor_peers = current_org.anchor_peers.clone();
    (reverted == *current).then(|| (*msp_id).to_owned())
}
