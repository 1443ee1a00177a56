//! Channel configurations over test organisations: the two carriers' consortium with
//! its five orderers (three of Unicom's, two of Mobile's), peers, clients and admins, its
//! genesis block, and a one-orderer config for tests that need only the organisations.

use netsettle_msp::ChannelMsps;
use netsettle_protocol::{
    BatchPolicy, Block, ChannelConfig, ChannelPolicies, Consenter, CryptoPolicy, Endpoint,
    Envelope, OrdererConfig, OrgConfig,
};
use netsettle_smcrypto::x509::Role;

use crate::block::{genesis_block, next_block};
use crate::pki::{Member, TestOrg};
use crate::tx::{config_update, header, ordering_envelope};

/// The channel every test uses.
pub const CHANNEL: &str = "settlement";
/// Unicom's MSP id: the carrier that creates the consortium.
pub const UNICOM: &str = "UnicomMSP";
/// Mobile's MSP id: the carrier that joins.
pub const MOBILE: &str = "MobileMSP";

/// The consenter entry of orderer `id`: its certificate as TLS certificate, at
/// 127.0.0.`id`:7050.
pub fn consenter(id: u64, member: &Member) -> Consenter {
    Consenter {
        id,
        msp_id: member.msp_id.clone(),
        endpoint: Endpoint {
            host: format!("127.0.0.{id}"),
            port: 7050,
        },
        tls_cert_der: member.cert.der().to_vec(),
    }
}

/// A channel config over `orgs` (sorted by MSP id, as the config requires) ordered by
/// `consenters`, with the default batch, policies and crypto.
pub fn channel_config(orgs: &[&TestOrg], consenters: Vec<Consenter>) -> ChannelConfig {
    let mut org_configs: Vec<OrgConfig> = orgs.iter().map(|org| org.org_config()).collect();
    org_configs.sort_by(|a, b| a.msp_id.cmp(&b.msp_id));
    ChannelConfig {
        channel: CHANNEL.to_owned(),
        sequence: 0,
        orgs: org_configs,
        orderer: OrdererConfig {
            consenters,
            batch: BatchPolicy::default(),
        },
        policies: ChannelPolicies::default(),
        crypto: CryptoPolicy::default(),
        capabilities: vec!["V1_0".to_owned()],
    }
}

/// [`channel_config`] with one consenter, a fresh orderer of the first organisation.
pub fn one_orderer_config(orgs: &[&TestOrg]) -> ChannelConfig {
    let first = orgs.first().expect("at least one organisation");
    let orderer = first.member("orderer0", Role::Orderer);
    channel_config(orgs, vec![consenter(1, &orderer)])
}

/// Both carriers: their CAs, `orderers` (consenter ids 1, 2, …; the first three
/// Unicom's), an endorsing peer, a client and an admin of each, a Unicom client whose
/// certificate the config revokes, the channel config and its genesis block.
pub struct Consortium {
    pub unicom: TestOrg,
    pub mobile: TestOrg,
    /// Every orderer with a certificate; the first `n_orderers` are consenters, the
    /// rest spares a config update may add.
    pub orderers: Vec<Member>,
    pub unicom_peer: Member,
    pub mobile_peer: Member,
    pub unicom_client: Member,
    pub mobile_client: Member,
    pub unicom_admin: Member,
    pub mobile_admin: Member,
    /// A Unicom client on Unicom's revocation list.
    pub revoked_client: Member,
    pub config: ChannelConfig,
    /// Block 0, signed by orderer 1. Made once: signatures are randomised, so every
    /// node of a test must start from this one.
    pub genesis: Block,
}

impl Consortium {
    /// Five consenters, the default batch policy.
    pub fn new() -> Self {
        Self::with_batch(BatchPolicy::default())
    }

    /// Five consenters cutting blocks by `batch`.
    pub fn with_batch(batch: BatchPolicy) -> Self {
        Self::with_orderers(5, 0, batch)
    }

    /// `n_orderers` consenters plus `n_spares` orderers (ids after them) that have
    /// certificates but are not in the genesis config.
    pub fn with_orderers(n_orderers: u64, n_spares: u64, batch: BatchPolicy) -> Self {
        let mut unicom = TestOrg::new(UNICOM);
        let mobile = TestOrg::new(MOBILE);
        let revoked_client = unicom.member("revoked", Role::Client);
        unicom.revoke(&revoked_client.cert);
        let orderers: Vec<Member> = (1..=n_orderers + n_spares)
            .map(|id| {
                let org = if id <= 3 { &unicom } else { &mobile };
                org.member(&format!("orderer{id}"), Role::Orderer)
            })
            .collect();
        let consenters = (1..)
            .zip(&orderers)
            .take_while(|(id, _)| *id <= n_orderers)
            .map(|(id, member)| consenter(id, member))
            .collect();
        let mut config = channel_config(&[&unicom, &mobile], consenters);
        config.orderer.batch = batch;
        let first = orderers.first().expect("at least one orderer");
        let genesis = genesis_block(first, &config);
        Consortium {
            unicom_peer: unicom.member("peer0", Role::Peer),
            mobile_peer: mobile.member("peer0", Role::Peer),
            unicom_client: unicom.member("client1", Role::Client),
            mobile_client: mobile.member("client1", Role::Client),
            unicom_admin: unicom.member("admin", Role::Admin),
            mobile_admin: mobile.member("admin", Role::Admin),
            revoked_client,
            unicom,
            mobile,
            orderers,
            config,
            genesis,
        }
    }

    /// Orderer 1, which signed the genesis block and signs [`Consortium::block`]s.
    pub fn orderer(&self) -> &Member {
        self.orderer_id(1)
    }

    /// Orderer `id` (consenter or spare).
    pub fn orderer_id(&self, id: u64) -> &Member {
        usize::try_from(id)
            .ok()
            .and_then(|id| id.checked_sub(1))
            .and_then(|index| self.orderers.get(index))
            .unwrap_or_else(|| panic!("no orderer {id}"))
    }

    /// The consenter entry a config lists for orderer `id`.
    pub fn consenter(&self, id: u64) -> Consenter {
        consenter(id, self.orderer_id(id))
    }

    /// The channel's MSPs, from the genesis config.
    pub fn msps(&self) -> ChannelMsps {
        ChannelMsps::from_config(&self.config).expect("the config's MSPs load")
    }

    /// The block after `previous` holding `envelopes`, signed by orderer 1.
    pub fn block(&self, previous: &Block, envelopes: Vec<Envelope>) -> Block {
        next_block(self.orderer(), previous, envelopes)
    }

    /// The envelope for ordering only ([`ordering_envelope`]) from `client`, unique by
    /// `seed`, at [`crate::pki::NOW_MS`], with Unicom's peer's endorsement standing in.
    pub fn ordering_envelope(&self, client: &Member, seed: u64, pad_bytes: usize) -> Envelope {
        ordering_envelope(
            client,
            &self.unicom_peer,
            header(&client.identity(), seed),
            pad_bytes,
        )
    }

    /// A config update to `config` (its sequence set by the caller), approved by both
    /// carriers' admins and submitted by Unicom's, unique by `seed`.
    pub fn config_update(&self, config: ChannelConfig, seed: u64) -> Envelope {
        config_update(
            config,
            &[&self.unicom_admin, &self.mobile_admin],
            &self.unicom_admin,
            seed,
        )
    }
}

impl Default for Consortium {
    fn default() -> Self {
        Self::new()
    }
}
