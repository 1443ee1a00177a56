//! The consortium profile (`configs/consortium.toml`): the operators' description of a
//! channel, which `netsettle configtx genesis` turns into the genesis block's
//! [`ChannelConfig`].
//!
//! The conversion is pure. The profile names MSP directories and TLS certificate files;
//! the caller reads them into a [`ProfileMaterial`] (file reading stays at the edge), and
//! [`ConsortiumProfile::channel_config`] assembles and checks the configuration. It lives
//! in `msp` because what it assembles is the channel's membership: each organisation's
//! roots, intermediates, CRLs, TLS roots and default policies, proven usable by building
//! the channel's MSPs from the result.

use std::collections::BTreeMap;
use std::path::PathBuf;

use netsettle_protocol::{
    BatchPolicy, ChannelConfig, ChannelPolicies, Consenter, CryptoPolicy, Endpoint, InvalidMessage,
    OrdererConfig, OrgConfig, RoleOus, Wire as _,
};

use crate::{ChannelMsps, MspError, default_org_policies};

/// A consortium profile as its TOML file holds it; unknown keys are errors.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsortiumProfile {
    /// The channel name.
    pub channel: String,
    /// Capability names, in any order.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// How blocks are cut.
    pub batch: ProfileBatch,
    /// The organisations.
    pub orgs: Vec<ProfileOrg>,
    /// The Raft consenters.
    pub consenters: Vec<ProfileConsenter>,
}

/// The consortium's block-cutting agreement.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileBatch {
    /// A block is cut this long after its first transaction at the latest.
    pub timeout_ms: u64,
    /// Transactions per block at most.
    pub tx_max: u32,
    /// Bytes per block at most.
    pub absolute_bytes_max: u64,
    /// Bytes per block the cutter aims for.
    pub preferred_bytes_max: u64,
}

/// An organisation of the profile.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileOrg {
    /// Its MSP id.
    pub msp_id: String,
    /// Its (exported) public MSP directory, relative to the profile's base directory.
    pub msp_dir: PathBuf,
    /// Anchor peers, `host:port`.
    #[serde(default)]
    pub anchor_peers: Vec<String>,
    /// Orderer endpoints, `host:port`.
    #[serde(default)]
    pub orderer_endpoints: Vec<String>,
}

/// A Raft consenter of the profile.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileConsenter {
    /// Its consenter id.
    pub id: u64,
    /// Its organisation.
    pub msp_id: String,
    /// Where it listens, `host:port`.
    pub endpoint: String,
    /// Its TLS certificate (PEM), relative to the profile's base directory.
    pub tls_cert: PathBuf,
}

/// An organisation's public MSP as read from its directory, every item DER.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgMaterial {
    /// `cacerts/`: the roots; at least one.
    pub root_certs_der: Vec<Vec<u8>>,
    /// `intermediatecerts/`.
    pub intermediate_certs_der: Vec<Vec<u8>>,
    /// `tlscacerts/`; when empty, the roots serve as TLS roots too.
    pub tls_root_certs_der: Vec<Vec<u8>>,
    /// `crls/`.
    pub crls_der: Vec<Vec<u8>>,
}

/// What the caller read for a profile: each organisation's MSP by MSP id, and each
/// consenter's TLS certificate (DER) by consenter id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileMaterial {
    /// Organisation material by MSP id.
    pub orgs: BTreeMap<String, OrgMaterial>,
    /// Consenter TLS certificates by consenter id.
    pub consenter_tls_certs_der: BTreeMap<u64, Vec<u8>>,
}

/// A profile that does not make a usable channel configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    /// No MSP material was given for an organisation of the profile.
    #[error("{msp_id}: no MSP material read for it")]
    MissingOrgMaterial {
        /// The organisation.
        msp_id: String,
    },
    /// An organisation's MSP holds no root certificate.
    #[error("{msp_id}: no root certificate in its MSP (cacerts)")]
    NoRootCertificate {
        /// The organisation.
        msp_id: String,
    },
    /// No TLS certificate was given for a consenter of the profile.
    #[error("consenter {id}: no TLS certificate read for it")]
    MissingConsenterCertificate {
        /// The consenter id.
        id: u64,
    },
    /// An endpoint is not `host:port`.
    #[error("endpoint {text:?}: {source}")]
    BadEndpoint {
        /// The text as the profile gives it.
        text: String,
        /// Why it does not parse.
        source: InvalidMessage,
    },
    /// The assembled configuration breaks a structural rule of the protocol.
    #[error("the profile gives an invalid channel configuration: {0}")]
    InvalidConfig(#[source] InvalidMessage),
    /// The channel's MSPs cannot be built from the assembled configuration (a root or
    /// CRL that does not parse, for example).
    #[error("the profile's MSPs are unusable: {0}")]
    Msp(#[from] MspError),
}

impl ConsortiumProfile {
    /// The genesis configuration (sequence 0) the profile describes, with `material` for
    /// its organisations and consenters. Organisations, consenters and capabilities are
    /// sorted into their canonical order; the result passes `Wire::check` and builds
    /// [`ChannelMsps`].
    pub fn channel_config(
        &self,
        material: &ProfileMaterial,
    ) -> Result<ChannelConfig, ProfileError> {
        let mut orgs = self
            .orgs
            .iter()
            .map(|org| org.config(material))
            .collect::<Result<Vec<_>, _>>()?;
        orgs.sort_by(|a, b| a.msp_id.cmp(&b.msp_id));
        let mut consenters = self
            .consenters
            .iter()
            .map(|consenter| consenter.config(material))
            .collect::<Result<Vec<_>, _>>()?;
        consenters.sort_by_key(|consenter| consenter.id);
        let mut capabilities = self.capabilities.clone();
        capabilities.sort();
        let config = ChannelConfig {
            channel: self.channel.clone(),
            sequence: 0,
            orgs,
            orderer: OrdererConfig {
                consenters,
                batch: BatchPolicy {
                    timeout_ms: self.batch.timeout_ms,
                    tx_max: self.batch.tx_max,
                    absolute_bytes_max: self.batch.absolute_bytes_max,
                    preferred_bytes_max: self.batch.preferred_bytes_max,
                },
            },
            policies: ChannelPolicies::default(),
            crypto: CryptoPolicy::default(),
            capabilities,
        };
        config.check().map_err(ProfileError::InvalidConfig)?;
        ChannelMsps::from_config(&config)?;
        Ok(config)
    }
}

impl ProfileOrg {
    fn config(&self, material: &ProfileMaterial) -> Result<OrgConfig, ProfileError> {
        let msp =
            material
                .orgs
                .get(&self.msp_id)
                .ok_or_else(|| ProfileError::MissingOrgMaterial {
                    msp_id: self.msp_id.clone(),
                })?;
        if msp.root_certs_der.is_empty() {
            return Err(ProfileError::NoRootCertificate {
                msp_id: self.msp_id.clone(),
            });
        }
        let tls_root_certs_der = if msp.tls_root_certs_der.is_empty() {
            msp.root_certs_der.clone()
        } else {
            msp.tls_root_certs_der.clone()
        };
        Ok(OrgConfig {
            msp_id: self.msp_id.clone(),
            root_certs_der: msp.root_certs_der.clone(),
            intermediate_certs_der: msp.intermediate_certs_der.clone(),
            crls_der: msp.crls_der.clone(),
            tls_root_certs_der,
            role_ous: RoleOus::default(),
            anchor_peers: endpoints(&self.anchor_peers)?,
            orderer_endpoints: endpoints(&self.orderer_endpoints)?,
            policies: default_org_policies(&self.msp_id),
        })
    }
}

impl ProfileConsenter {
    fn config(&self, material: &ProfileMaterial) -> Result<Consenter, ProfileError> {
        let tls_cert_der = material
            .consenter_tls_certs_der
            .get(&self.id)
            .ok_or(ProfileError::MissingConsenterCertificate { id: self.id })?;
        Ok(Consenter {
            id: self.id,
            msp_id: self.msp_id.clone(),
            endpoint: endpoint(&self.endpoint)?,
            tls_cert_der: tls_cert_der.clone(),
        })
    }
}

fn endpoints(texts: &[String]) -> Result<Vec<Endpoint>, ProfileError> {
    texts.iter().map(|text| endpoint(text)).collect()
}

fn endpoint(text: &str) -> Result<Endpoint, ProfileError> {
    text.parse().map_err(|source| ProfileError::BadEndpoint {
        text: text.to_owned(),
        source,
    })
}
