//! The channel configuration both carriers agree on: who the organisations are and how to
//! recognise their members, where the orderers are, how blocks are cut, which policies
//! govern reads, writes and changes, and which cryptography every node must use. It lives
//! on the chain in config blocks; the latest one is in force.

use crate::codec::{Wire, check_count, check_len, check_non_empty, check_sorted_by};
use crate::error::InvalidMessage;
use crate::header::check_name;
use crate::limits::{
    BATCH_ABSOLUTE_BYTES_MAX_DEFAULT, BATCH_PREFERRED_BYTES_MAX_DEFAULT, BATCH_TIMEOUT_MS_DEFAULT,
    BATCH_TX_MAX_DEFAULT, BLOCK_DATA_BYTES_MAX, BLOCK_TX_MAX, CAPABILITIES_MAX, CERT_DER_BYTES_MAX,
    CERTS_PER_ORG_MAX, CHANNEL_CONFIG_BYTES_MAX, CONSENTERS_MAX, CRL_DER_BYTES_MAX,
    ENDPOINTS_PER_ORG_MAX, MSP_ID_BYTES_MAX, ORGS_MAX,
};
use crate::policy::Policy;

/// A network address as `host:port`, where host is a DNS name or an IP literal. Peers and
/// orderers are reached through each carrier's DMZ forwarder, so these are the public
/// addresses.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Endpoint {
    /// DNS name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl Endpoint {
    fn check(&self) -> Result<(), InvalidMessage> {
        check_name("endpoint host", &self.host)
    }
}

impl core::str::FromStr for Endpoint {
    type Err = InvalidMessage;

    /// Parses `host:port` as profiles and operators write it; the last colon separates
    /// the port.
    fn from_str(text: &str) -> Result<Endpoint, InvalidMessage> {
        let (host, port) = text.rsplit_once(':').ok_or(InvalidMessage::Inconsistent {
            what: "endpoint is not host:port",
        })?;
        let port = port.parse().map_err(|_| InvalidMessage::Inconsistent {
            what: "endpoint port is not a number from 0 to 65535",
        })?;
        let endpoint = Endpoint {
            host: host.to_owned(),
            port,
        };
        endpoint.check()?;
        Ok(endpoint)
    }
}

/// The organisational-unit names that mark a certificate's role (Fabric's NodeOUs).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RoleOus {
    /// OU of administrators, e.g. `admin`.
    pub admin: String,
    /// OU of peers.
    pub peer: String,
    /// OU of client applications.
    pub client: String,
    /// OU of orderers.
    pub orderer: String,
}

impl Default for RoleOus {
    /// Fabric's conventional names.
    fn default() -> Self {
        RoleOus {
            admin: "admin".to_owned(),
            peer: "peer".to_owned(),
            client: "client".to_owned(),
            orderer: "orderer".to_owned(),
        }
    }
}

/// An organisation's own policies, referenced by name from implicit-meta policies.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrgPolicies {
    /// Who may read (deliver blocks, query).
    pub readers: Policy,
    /// Who may write (submit transactions).
    pub writers: Policy,
    /// Who administers the organisation.
    pub admins: Policy,
    /// Whose endorsement counts as this organisation's.
    pub endorsement: Policy,
}

/// One member organisation: how to recognise its members and where its nodes are.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrgConfig {
    /// The MSP id, e.g. `UnicomMSP`.
    pub msp_id: String,
    /// Root CA certificates, DER.
    #[serde(with = "crate::codec::bytes_list")]
    pub root_certs_der: Vec<Vec<u8>>,
    /// Intermediate CA certificates, DER.
    #[serde(with = "crate::codec::bytes_list")]
    pub intermediate_certs_der: Vec<Vec<u8>>,
    /// Certificate revocation lists, DER.
    #[serde(with = "crate::codec::bytes_list")]
    pub crls_der: Vec<Vec<u8>>,
    /// Root CA certificates for TLS, DER (may equal `root_certs_der`).
    #[serde(with = "crate::codec::bytes_list")]
    pub tls_root_certs_der: Vec<Vec<u8>>,
    /// Role OUs.
    pub role_ous: RoleOus,
    /// Peers other organisations use to discover this one's peers.
    pub anchor_peers: Vec<Endpoint>,
    /// This organisation's orderer endpoints, for broadcast and deliver.
    pub orderer_endpoints: Vec<Endpoint>,
    /// Readers / Writers / Admins / Endorsement of this organisation.
    pub policies: OrgPolicies,
}

impl OrgConfig {
    fn check(&self) -> Result<(), InvalidMessage> {
        check_non_empty("organisation MSP id", self.msp_id.len())?;
        check_len("organisation MSP id", self.msp_id.len(), MSP_ID_BYTES_MAX)?;
        check_non_empty("root certificates", self.root_certs_der.len())?;
        check_der_list(
            "root certificates",
            &self.root_certs_der,
            CERT_DER_BYTES_MAX,
        )?;
        check_der_list(
            "intermediate certificates",
            &self.intermediate_certs_der,
            CERT_DER_BYTES_MAX,
        )?;
        check_der_list("CRLs", &self.crls_der, CRL_DER_BYTES_MAX)?;
        check_der_list(
            "TLS root certificates",
            &self.tls_root_certs_der,
            CERT_DER_BYTES_MAX,
        )?;
        for ou in [
            &self.role_ous.admin,
            &self.role_ous.peer,
            &self.role_ous.client,
            &self.role_ous.orderer,
        ] {
            check_name("role OU", ou)?;
        }
        check_count(
            "anchor peers",
            self.anchor_peers.len(),
            ENDPOINTS_PER_ORG_MAX,
        )?;
        check_count(
            "orderer endpoints",
            self.orderer_endpoints.len(),
            ENDPOINTS_PER_ORG_MAX,
        )?;
        for endpoint in self.anchor_peers.iter().chain(&self.orderer_endpoints) {
            endpoint.check()?;
        }
        self.policies.readers.check()?;
        self.policies.writers.check()?;
        self.policies.admins.check()?;
        self.policies.endorsement.check()
    }
}

fn check_der_list(
    what: &'static str,
    items: &[Vec<u8>],
    item_bytes_max: usize,
) -> Result<(), InvalidMessage> {
    check_count(what, items.len(), CERTS_PER_ORG_MAX)?;
    for item in items {
        check_non_empty(what, item.len())?;
        check_len(what, item.len(), item_bytes_max)?;
    }
    Ok(())
}

/// A Raft consenter: one ordering node of the channel's cluster.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Consenter {
    /// Raft node id, unique and non-zero (raft-rs reserves 0).
    pub id: u64,
    /// The organisation running it.
    pub msp_id: String,
    /// Where the other consenters reach it.
    pub endpoint: Endpoint,
    /// Its TLS certificate, DER: the one certificate it uses as both TLS server and
    /// client, which is how consenters authenticate each other.
    #[serde(with = "crate::codec::bytes")]
    pub tls_cert_der: Vec<u8>,
}

/// When the orderer cuts a block: whichever limit is reached first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BatchPolicy {
    /// Time since the block's first transaction, in milliseconds.
    pub timeout_ms: u64,
    /// Transactions per block.
    pub tx_max: u32,
    /// Hard cap on a block's envelope bytes; a larger single envelope is refused.
    pub absolute_bytes_max: u64,
    /// A block is cut once it reaches this many bytes; one larger envelope still gets a
    /// block of its own.
    pub preferred_bytes_max: u64,
}

impl Default for BatchPolicy {
    /// The consortium's agreement: 1 s, 50 transactions, 100 MB.
    fn default() -> Self {
        BatchPolicy {
            timeout_ms: BATCH_TIMEOUT_MS_DEFAULT,
            tx_max: BATCH_TX_MAX_DEFAULT,
            absolute_bytes_max: BATCH_ABSOLUTE_BYTES_MAX_DEFAULT,
            preferred_bytes_max: BATCH_PREFERRED_BYTES_MAX_DEFAULT,
        }
    }
}

impl BatchPolicy {
    fn check(&self) -> Result<(), InvalidMessage> {
        if self.timeout_ms == 0 {
            return Err(InvalidMessage::Inconsistent {
                what: "batch timeout must be positive",
            });
        }
        let tx_max = usize::try_from(self.tx_max).unwrap_or(usize::MAX);
        if tx_max == 0 || tx_max > BLOCK_TX_MAX {
            return Err(InvalidMessage::Inconsistent {
                what: "batch tx_max must be between 1 and BLOCK_TX_MAX",
            });
        }
        let absolute = usize::try_from(self.absolute_bytes_max).unwrap_or(usize::MAX);
        if absolute == 0 || absolute > BLOCK_DATA_BYTES_MAX {
            return Err(InvalidMessage::Inconsistent {
                what: "batch absolute_bytes_max must be between 1 and BLOCK_DATA_BYTES_MAX",
            });
        }
        if self.preferred_bytes_max == 0 || self.preferred_bytes_max > self.absolute_bytes_max {
            return Err(InvalidMessage::Inconsistent {
                what: "batch preferred_bytes_max must be between 1 and absolute_bytes_max",
            });
        }
        Ok(())
    }
}

/// The ordering service: Raft consenters and block cutting.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrdererConfig {
    /// The Raft cluster, strictly sorted by id (the consortium runs 5: 2f+1, f = 2).
    pub consenters: Vec<Consenter>,
    /// Block cutting.
    pub batch: BatchPolicy,
}

impl OrdererConfig {
    fn check(&self) -> Result<(), InvalidMessage> {
        check_non_empty("consenters", self.consenters.len())?;
        check_count("consenters", self.consenters.len(), CONSENTERS_MAX)?;
        check_sorted_by("consenters", &self.consenters, |consenter| consenter.id)?;
        for consenter in &self.consenters {
            if consenter.id == 0 {
                return Err(InvalidMessage::Inconsistent {
                    what: "consenter id 0 is reserved",
                });
            }
            check_non_empty("consenter MSP id", consenter.msp_id.len())?;
            check_len("consenter MSP id", consenter.msp_id.len(), MSP_ID_BYTES_MAX)?;
            consenter.endpoint.check()?;
            check_non_empty("consenter TLS certificate", consenter.tls_cert_der.len())?;
            check_len(
                "consenter TLS certificate",
                consenter.tls_cert_der.len(),
                CERT_DER_BYTES_MAX,
            )?;
        }
        self.batch.check()
    }
}

/// Channel-wide policies, normally implicit-meta over the organisations' own.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChannelPolicies {
    /// Default `ANY Readers`.
    pub readers: Policy,
    /// Default `ANY Writers`.
    pub writers: Policy,
    /// Who may change the configuration: `MAJORITY Admins`.
    pub admins: Policy,
    /// Endorsement policy of contracts that define none: `MAJORITY Endorsement` (with two
    /// organisations, both must endorse).
    pub endorsement: Policy,
}

impl Default for ChannelPolicies {
    fn default() -> Self {
        ChannelPolicies {
            readers: Policy::any("Readers"),
            writers: Policy::any("Writers"),
            admins: Policy::majority("Admins"),
            endorsement: Policy::majority("Endorsement"),
        }
    }
}

/// Signature algorithm for transactions, blocks and certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum SignatureAlgorithm {
    /// SM2 over SM3 with the GM/T 0009 default signer ID.
    Sm2WithSm3,
}

/// Hash algorithm for transaction ids, block hashes and Merkle roots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// SM3 (GB/T 32905).
    Sm3,
}

/// Symmetric cipher for report encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum SymmetricAlgorithm {
    /// SM4 (GB/T 32907) in GCM mode.
    Sm4Gcm,
}

/// TLS 1.3 cipher suite on every link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum TlsCipherSuite {
    /// RFC 8998 `TLS_SM4_GCM_SM3` (0x00C6), key exchange `curveSM2`, signatures
    /// `sm2sig_sm3`.
    Sm4GcmSm3,
}

/// How many certificates a node presents in TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum TlsCertificateMode {
    /// One SM2 certificate for signing and key exchange (not GM/T TLCP's sign+encrypt
    /// pair).
    Single,
}

/// The national-cryptography choices both carriers' builds must agree on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CryptoPolicy {
    /// Signatures.
    pub signature: SignatureAlgorithm,
    /// Hashes.
    pub hash: HashAlgorithm,
    /// Report encryption.
    pub symmetric: SymmetricAlgorithm,
    /// TLS suite.
    pub tls_cipher_suite: TlsCipherSuite,
    /// TLS certificate mode.
    pub tls_certificate_mode: TlsCertificateMode,
}

impl Default for CryptoPolicy {
    /// SM2/SM3/SM4, RFC 8998, single-certificate TLS: the only combination this build has.
    fn default() -> Self {
        CryptoPolicy {
            signature: SignatureAlgorithm::Sm2WithSm3,
            hash: HashAlgorithm::Sm3,
            symmetric: SymmetricAlgorithm::Sm4Gcm,
            tls_cipher_suite: TlsCipherSuite::Sm4GcmSm3,
            tls_certificate_mode: TlsCertificateMode::Single,
        }
    }
}

/// A channel's whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChannelConfig {
    /// The channel id, e.g. `settlement`.
    pub channel: String,
    /// Incremented by one with every accepted configuration change; 0 in the genesis
    /// block.
    pub sequence: u64,
    /// Member organisations, strictly sorted by MSP id.
    pub orgs: Vec<OrgConfig>,
    /// The ordering service.
    pub orderer: OrdererConfig,
    /// Channel-wide policies.
    pub policies: ChannelPolicies,
    /// National-cryptography policy.
    pub crypto: CryptoPolicy,
    /// Feature flags every node must support to take part, strictly sorted, e.g. `V1_0`.
    pub capabilities: Vec<String>,
}

impl ChannelConfig {
    /// The organisation with this MSP id.
    pub fn org(&self, msp_id: &str) -> Option<&OrgConfig> {
        self.orgs.iter().find(|org| org.msp_id == msp_id)
    }
}

impl Wire for ChannelConfig {
    const NAME: &'static str = "channel config";
    const BYTES_MAX: usize = CHANNEL_CONFIG_BYTES_MAX;

    fn check(&self) -> Result<(), InvalidMessage> {
        check_name("channel", &self.channel)?;
        check_non_empty("organisations", self.orgs.len())?;
        check_count("organisations", self.orgs.len(), ORGS_MAX)?;
        check_sorted_by("organisations", &self.orgs, |org| org.msp_id.as_str())?;
        for org in &self.orgs {
            org.check()?;
        }
        self.orderer.check()?;
        if !self
            .orderer
            .consenters
            .iter()
            .all(|consenter| self.org(&consenter.msp_id).is_some())
        {
            return Err(InvalidMessage::Inconsistent {
                what: "consenter belongs to no organisation of the channel",
            });
        }
        self.policies.readers.check()?;
        self.policies.writers.check()?;
        self.policies.admins.check()?;
        self.policies.endorsement.check()?;
        check_count("capabilities", self.capabilities.len(), CAPABILITIES_MAX)?;
        check_sorted_by("capabilities", &self.capabilities, String::as_str)?;
        for capability in &self.capabilities {
            check_name("capability", capability)?;
        }
        Ok(())
    }
}
