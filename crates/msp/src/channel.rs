//! All organisations of one channel configuration, with the identity cache and the policy
//! lookups that need the whole config (implicit-meta policies range over every org).

use std::collections::BTreeMap;

use netsettle_protocol::{
    ChannelConfig, ChannelPolicies, Identity, OrgPolicies, Policy, Wire as _,
};
use netsettle_smcrypto::Signature;
use netsettle_smcrypto::x509::Certificate;

use crate::cache::IdentityCache;
use crate::policy::{self, Satisfied};
use crate::{Msp, MspError, PolicyError, ValidatedIdentity};

/// The MSPs of one channel at one config sequence. Build a new one when the config
/// changes; that also drops every cached verdict.
#[derive(Debug)]
pub struct ChannelMsps {
    channel: String,
    sequence: u64,
    msps: BTreeMap<String, Msp>,
    org_policies: BTreeMap<String, OrgPolicies>,
    channel_policies: ChannelPolicies,
    cache: IdentityCache,
}

impl ChannelMsps {
    /// Build from a channel configuration; every organisation's roots and CRLs must parse.
    pub fn from_config(config: &ChannelConfig) -> Result<Self, MspError> {
        config.check()?;
        let mut msps = BTreeMap::new();
        let mut org_policies = BTreeMap::new();
        for org in &config.orgs {
            msps.insert(org.msp_id.clone(), Msp::from_config(org)?);
            org_policies.insert(org.msp_id.clone(), org.policies.clone());
        }
        Ok(ChannelMsps {
            channel: config.channel.clone(),
            sequence: config.sequence,
            msps,
            org_policies,
            channel_policies: config.policies.clone(),
            cache: IdentityCache::default(),
        })
    }

    /// The channel id.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The config sequence these MSPs were built from.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// One organisation's MSP.
    pub fn msp(&self, msp_id: &str) -> Option<&Msp> {
        self.msps.get(msp_id)
    }

    /// The MSP ids, sorted.
    pub fn msp_ids(&self) -> impl Iterator<Item = &str> {
        self.msps.keys().map(String::as_str)
    }

    /// The channel-wide policies (Readers, Writers, Admins, Endorsement).
    pub fn channel_policies(&self) -> &ChannelPolicies {
        &self.channel_policies
    }

    /// Validate an identity as a member of the organisation it names, at `at_unix`.
    pub fn validate(
        &self,
        identity: &Identity,
        at_unix: i64,
    ) -> Result<ValidatedIdentity, MspError> {
        let msp = self
            .msps
            .get(&identity.msp_id)
            .ok_or_else(|| MspError::UnknownOrg {
                msp_id: identity.msp_id.clone(),
            })?;
        let fingerprint = netsettle_smcrypto::sm3(&identity.cert_der);
        if let Some(cached) = self.cache.get(&identity.msp_id, &fingerprint) {
            cached.check_time(at_unix)?;
            return Ok(cached);
        }
        let cert =
            Certificate::from_der(&identity.cert_der).map_err(MspError::MalformedCertificate)?;
        let validated = msp.validate(&cert, at_unix)?;
        debug_assert_eq!(validated.fingerprint, fingerprint);
        self.cache.insert(&validated);
        Ok(validated)
    }

    /// Validate `identity` and check its SM2 signature over `message`.
    pub fn verify(
        &self,
        identity: &Identity,
        message: &[u8],
        signature: &Signature,
        at_unix: i64,
    ) -> Result<ValidatedIdentity, MspError> {
        let validated = self.validate(identity, at_unix)?;
        validated.verify(message, signature)?;
        Ok(validated)
    }

    /// Evaluate `policy` against signers that were already validated and whose
    /// signatures were checked. Duplicate signers count once.
    pub fn evaluate(
        &self,
        policy: &Policy,
        signers: &[ValidatedIdentity],
    ) -> Result<Satisfied, PolicyError> {
        policy::evaluate(policy, signers, &self.org_policies)
    }

    /// How many identities are cached (for metrics and tests).
    pub fn cached_identities(&self) -> usize {
        self.cache.len()
    }
}

/// The channel configuration in force and the MSPs built from it: what the orderer checks
/// envelopes against and the peer validates blocks with. Shared read-only (behind an
/// `Arc`) and replaced whole when a config block commits.
#[derive(Debug)]
pub struct ChannelState {
    /// The configuration.
    pub config: ChannelConfig,
    /// Its MSPs.
    pub msps: ChannelMsps,
    /// The number of the block that put it in force.
    pub config_block: u64,
}

impl ChannelState {
    /// Builds the MSPs of `config`, in force since block `config_block`.
    pub fn new(config: ChannelConfig, config_block: u64) -> Result<Self, MspError> {
        let msps = ChannelMsps::from_config(&config)?;
        Ok(ChannelState {
            config,
            msps,
            config_block,
        })
    }
}
