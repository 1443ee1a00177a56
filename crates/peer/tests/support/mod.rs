//! Test fixtures for the peer: two carriers with real SM2 CAs and certificates, the
//! channel config built from them, a genesis block, proposal and transaction builders,
//! a tempdir ledger, and a small key-value contract.

#![allow(dead_code)]

use std::sync::Arc;

use netsettle_contract::{Context, Contract, ContractError};
use netsettle_ledger::Ledger;
use netsettle_msp::{ChannelMsps, default_org_policies};
use netsettle_protocol::{
    BatchPolicy, Block, ChannelConfig, ChannelPolicies, ConfigEnvelope, Consenter, ContractId,
    CryptoPolicy, Endpoint, Envelope, Header, Identity, Nonce, OrdererConfig, OrgConfig, Payload,
    Proposal, RoleOus, SignedProposal, Timestamp, ValidationCode,
};
use netsettle_smcrypto::x509::{
    self, Certificate, CertificateParams, CrlEntry, CrlParams, RevocationReason, Role, SubjectName,
};
use netsettle_smcrypto::{Hash, PrivateKey, sm3};

/// The tests' "now", unix seconds (2026-11-19).
pub const NOW: i64 = 1_795_000_000;
pub const DAY: i64 = 86_400;
/// The tests' "now" as a proposal timestamp.
pub const NOW_MS: u64 = 1_795_000_000_000;

pub struct TestOrg {
    pub msp_id: String,
    pub ca_key: PrivateKey,
    pub ca_cert: Certificate,
    pub revoked: Vec<Certificate>,
}

#[derive(Clone)]
pub struct Member {
    pub key: Arc<PrivateKey>,
    pub cert: Certificate,
    pub msp_id: String,
}

impl Member {
    pub fn identity(&self) -> Identity {
        Identity {
            msp_id: self.msp_id.clone(),
            cert_der: self.cert.der().to_vec(),
        }
    }
}

fn subject(cn: &str, org: &str) -> SubjectName {
    SubjectName {
        common_name: cn.to_owned(),
        organization: Some(org.to_owned()),
        organizational_units: Vec::new(),
        country: Some("CN".to_owned()),
    }
}

impl TestOrg {
    pub fn new(msp_id: &str) -> Self {
        let ca_key = PrivateKey::generate();
        let params = CertificateParams::ca(
            subject(&format!("ca.{msp_id}"), msp_id),
            None,
            NOW - DAY,
            NOW + 3650 * DAY,
        )
        .unwrap();
        let ca_cert = x509::self_signed(&params, &ca_key).unwrap();
        TestOrg {
            msp_id: msp_id.to_owned(),
            ca_key,
            ca_cert,
            revoked: Vec::new(),
        }
    }

    pub fn member(&self, name: &str, role: Role) -> Member {
        let key = PrivateKey::generate();
        let params = CertificateParams::end_entity(
            subject(&format!("{name}.{}", self.msp_id), &self.msp_id),
            role,
            NOW - DAY,
            NOW + 3000 * DAY,
        )
        .unwrap();
        let cert = x509::issue(&params, key.public_key(), &self.ca_cert, &self.ca_key).unwrap();
        Member {
            key: Arc::new(key),
            cert,
            msp_id: self.msp_id.clone(),
        }
    }

    pub fn org_config(&self) -> OrgConfig {
        let crls_der = if self.revoked.is_empty() {
            Vec::new()
        } else {
            let entries = self
                .revoked
                .iter()
                .map(|cert| CrlEntry {
                    serial: cert.serial().to_vec(),
                    revoked_at_unix: NOW - 60,
                    reason: Some(RevocationReason::KeyCompromise),
                })
                .collect();
            let params = CrlParams {
                crl_number: 1,
                this_update_unix: NOW - 60,
                next_update_unix: NOW + 7 * DAY,
                entries,
            };
            let crl = x509::build_crl(&params, &self.ca_cert, &self.ca_key).unwrap();
            vec![crl.der().to_vec()]
        };
        OrgConfig {
            msp_id: self.msp_id.clone(),
            root_certs_der: vec![self.ca_cert.der().to_vec()],
            intermediate_certs_der: Vec::new(),
            crls_der,
            tls_root_certs_der: vec![self.ca_cert.der().to_vec()],
            role_ous: RoleOus::default(),
            anchor_peers: Vec::new(),
            orderer_endpoints: Vec::new(),
            policies: default_org_policies(&self.msp_id),
        }
    }
}

/// Both carriers: CAs, their peers, clients, admins, one orderer, and the channel.
pub struct Network {
    pub unicom: TestOrg,
    pub mobile: TestOrg,
    pub unicom_peer: Member,
    pub mobile_peer: Member,
    pub unicom_client: Member,
    pub mobile_client: Member,
    pub unicom_admin: Member,
    pub mobile_admin: Member,
    pub orderer: Member,
    /// The five consenters, ids 1–5: three of Unicom's, two of Mobile's; `orderer` is the
    /// first.
    pub orderers: Vec<Member>,
    /// A client whose certificate is revoked in the channel config.
    pub revoked_client: Member,
    pub config: ChannelConfig,
    /// Block 0, made once: signatures are randomised, so every peer must get this one.
    genesis: Block,
}

impl Network {
    pub fn new() -> Self {
        Self::with_batch(BatchPolicy::default())
    }

    pub fn with_batch(batch: BatchPolicy) -> Self {
        let mut unicom = TestOrg::new("UnicomMSP");
        let mobile = TestOrg::new("MobileMSP");
        let revoked_client = unicom.member("revoked", Role::Client);
        unicom.revoked.push(revoked_client.cert.clone());
        let orderers: Vec<Member> = (0..5)
            .map(|index| {
                let org = if index < 3 { &unicom } else { &mobile };
                org.member(&format!("orderer{index}"), Role::Orderer)
            })
            .collect();
        let orderer = orderers[0].clone();
        let mut orgs = vec![unicom.org_config(), mobile.org_config()];
        orgs.sort_by(|a, b| a.msp_id.cmp(&b.msp_id));
        let config = ChannelConfig {
            channel: "settlement".to_owned(),
            sequence: 0,
            orgs,
            orderer: OrdererConfig {
                consenters: (1u64..)
                    .zip(&orderers)
                    .map(|(id, member)| Consenter {
                        id,
                        msp_id: member.msp_id.clone(),
                        endpoint: Endpoint {
                            host: "127.0.0.1".to_owned(),
                            port: 7050 + u16::try_from(id).unwrap(),
                        },
                        tls_cert_der: member.cert.der().to_vec(),
                    })
                    .collect(),
                batch,
            },
            policies: ChannelPolicies::default(),
            crypto: CryptoPolicy::default(),
            capabilities: vec!["V1_0".to_owned()],
        };
        let genesis = genesis_block(&orderer, &config);
        Network {
            genesis,
            orderers,
            unicom_peer: unicom.member("peer0", Role::Peer),
            mobile_peer: mobile.member("peer0", Role::Peer),
            unicom_client: unicom.member("settlement", Role::Client),
            mobile_client: mobile.member("settlement", Role::Client),
            unicom_admin: unicom.member("admin", Role::Admin),
            mobile_admin: mobile.member("admin", Role::Admin),
            orderer,
            revoked_client,
            config,
            unicom,
            mobile,
        }
    }

    pub fn msps(&self) -> ChannelMsps {
        ChannelMsps::from_config(&self.config).unwrap()
    }

    /// Block 0: the channel config, signed by the orderer.
    pub fn genesis(&self) -> Block {
        self.genesis.clone()
    }

    /// The next block after `previous` holding `envelopes`, signed by the orderer.
    pub fn block(&self, previous: &Block, envelopes: Vec<Envelope>) -> Block {
        let mut block = Block::new(
            previous.header.number + 1,
            previous.hash(),
            envelopes,
            previous.metadata.last_config_index,
        )
        .unwrap();
        block
            .sign(&self.orderer.key, self.orderer.identity())
            .unwrap();
        block
    }
}

fn genesis_block(orderer: &Member, config: &ChannelConfig) -> Block {
    let payload = Payload::Config {
        header: header(orderer, 0),
        config: Box::new(ConfigEnvelope {
            config: config.clone(),
            last_update: None,
        }),
    };
    let envelope = Envelope::sign(&orderer.key, payload).unwrap();
    let mut block = Block::new(0, Hash::default(), vec![envelope], 0).unwrap();
    block.sign(&orderer.key, orderer.identity()).unwrap();
    block
}

/// A header from `creator` with a nonce derived from `seed` (distinct seeds, distinct ids).
pub fn header(creator: &Member, seed: u64) -> Header {
    header_at(creator, seed, NOW_MS)
}

/// [`header`] at `unix_time_ms`.
pub fn header_at(creator: &Member, seed: u64, unix_time_ms: u64) -> Header {
    let digest = sm3(&seed.to_le_bytes());
    let mut nonce = [0u8; 24];
    nonce.copy_from_slice(&digest.as_bytes()[..24]);
    Header {
        channel: "settlement".to_owned(),
        creator: creator.identity(),
        nonce: Nonce(nonce),
        timestamp: Timestamp { unix_time_ms },
    }
}

/// `creator` proposes `contract.function(args)`.
pub fn proposal(
    creator: &Member,
    seed: u64,
    contract: &str,
    function: &str,
    args: &[&[u8]],
) -> SignedProposal {
    proposal_at(creator, seed, contract, function, args, NOW_MS)
}

/// [`proposal`] made at `unix_time_ms`.
pub fn proposal_at(
    creator: &Member,
    seed: u64,
    contract: &str,
    function: &str,
    args: &[&[u8]],
    unix_time_ms: u64,
) -> SignedProposal {
    let proposal = Proposal {
        header: header_at(creator, seed, unix_time_ms),
        contract: ContractId {
            name: contract.to_owned(),
            version: "1.0".to_owned(),
        },
        function: function.to_owned(),
        args: args.iter().map(|arg| arg.to_vec()).collect(),
    };
    SignedProposal::sign(&creator.key, proposal).unwrap()
}

/// A ledger in a fresh temporary directory; the directory goes when the guard drops.
pub struct TempLedger {
    pub ledger: Ledger,
    _dir: tempfile::TempDir,
}

impl TempLedger {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(dir.path()).unwrap();
        TempLedger { ledger, _dir: dir }
    }
}

/// Marks every transaction of `block` valid and commits it without validation: for
/// setting up state in simulator tests.
pub fn commit_unvalidated(ledger: &Ledger, mut block: Block) {
    block.metadata.validation_codes = vec![ValidationCode::Valid; block.data.len()];
    ledger.commit_block(&block).unwrap();
}

/// A key-value contract for tests: `put k v`, `get k`, `delete k`, `range start end limit`,
/// `move from to` (reads both, deletes one, writes the other), `fail`, `emit name`.
pub struct KvContract;

pub const KV_DIGEST_SEED: &[u8] = b"kv contract 1.0";

fn arg(args: &[Vec<u8>], index: usize) -> Result<String, ContractError> {
    let bytes = args
        .get(index)
        .ok_or_else(|| ContractError::bad_request(format!("missing argument {index}")))?;
    String::from_utf8(bytes.clone()).map_err(|_| ContractError::bad_request("not UTF-8"))
}

impl Contract for KvContract {
    fn id(&self) -> ContractId {
        ContractId {
            name: "kv".to_owned(),
            version: "1.0".to_owned(),
        }
    }

    fn package_digest(&self) -> Hash {
        sm3(KV_DIGEST_SEED)
    }

    fn invoke(
        &self,
        ctx: &mut dyn Context,
        function: &str,
        args: &[Vec<u8>],
    ) -> Result<Vec<u8>, ContractError> {
        match function {
            "put" => {
                ctx.put(&arg(args, 0)?, arg(args, 1)?.as_bytes())?;
                Ok(Vec::new())
            }
            "get" => Ok(ctx.get(&arg(args, 0)?)?.unwrap_or_default()),
            "delete" => {
                ctx.delete(&arg(args, 0)?)?;
                Ok(Vec::new())
            }
            "range" => {
                let limit: usize = arg(args, 2)?
                    .parse()
                    .map_err(|_| ContractError::bad_request("limit"))?;
                let entries = ctx.range(&arg(args, 0)?, &arg(args, 1)?, limit)?;
                let mut out = Vec::new();
                for (key, value) in entries {
                    out.extend_from_slice(key.as_bytes());
                    out.push(b'=');
                    out.extend_from_slice(&value);
                    out.push(b';');
                }
                Ok(out)
            }
            "move" => {
                let from = arg(args, 0)?;
                let to = arg(args, 1)?;
                let value = ctx
                    .get(&from)?
                    .ok_or_else(|| ContractError::not_found("no such key"))?;
                ctx.get(&to)?;
                ctx.delete(&from)?;
                ctx.put(&to, &value)?;
                Ok(Vec::new())
            }
            "emit" => {
                ctx.emit_event(&arg(args, 0)?, b"payload")?;
                Ok(Vec::new())
            }
            "fail" => Err(ContractError::conflict("wrong state")),
            _ => Err(ContractError::bad_request("unknown function")),
        }
    }
}

/// An envelope writing `writes` into `namespace`, endorsed by `endorsers`, signed by
/// `creator`: a transaction as a (possibly dishonest) client assembles it.
pub fn transaction(
    signed: &SignedProposal,
    creator: &Member,
    rw_set: netsettle_protocol::ReadWriteSet,
    endorsers: &[&Member],
) -> Envelope {
    use netsettle_protocol::{
        ContractAction, Endorsement, ProposalResponsePayload, Response, Transaction,
    };
    let response = ProposalResponsePayload {
        proposal_hash: signed.proposal.hash().unwrap(),
        action: ContractAction {
            contract: signed.proposal.contract.clone(),
            rw_set,
            response: Response {
                status: 200,
                message: String::new(),
                payload: Vec::new(),
            },
            events: Vec::new(),
        },
    };
    let endorsements = endorsers
        .iter()
        .map(|member| Endorsement::sign(&member.key, member.identity(), &response).unwrap())
        .collect();
    let payload = Payload::Transaction(Box::new(Transaction {
        proposal: signed.proposal.clone(),
        response,
        endorsements,
    }));
    Envelope::sign(&creator.key, payload).unwrap()
}

/// A read-write set of one namespace with only writes (`None` deletes).
pub fn writes(
    namespace: &str,
    entries: &[(&str, Option<&str>)],
) -> netsettle_protocol::ReadWriteSet {
    use netsettle_protocol::{KvWrite, NamespaceReadWriteSet, ReadWriteSet};
    ReadWriteSet {
        namespaces: vec![NamespaceReadWriteSet {
            namespace: namespace.to_owned(),
            reads: Vec::new(),
            range_queries: Vec::new(),
            writes: entries
                .iter()
                .map(|(key, value)| KvWrite {
                    key: (*key).to_owned(),
                    value: value.map(|value| value.as_bytes().to_vec()),
                })
                .collect(),
        }],
    }
}

/// A running peer service on `dir`, signing as `member`, with the kv contract installed
/// when `with_kv`; returns the handle and the sender of its block channel.
pub fn start_peer(
    net: &Network,
    member: &Member,
    dir: &std::path::Path,
    with_kv: bool,
) -> (
    netsettle_peer::service::PeerHandle,
    tokio::sync::mpsc::Sender<Block>,
) {
    use netsettle_peer::endorser::Endorser;
    use netsettle_peer::lifecycle::ContractRegistry;
    use netsettle_peer::service::{self, PeerParts};
    use netsettle_peer::validator::Validator;
    let ledger = Arc::new(Ledger::open(dir).unwrap());
    let mut registry = ContractRegistry::new();
    if with_kv {
        registry.install(Arc::new(KvContract)).unwrap();
    }
    let endorser = Endorser::new(member.key.clone(), member.identity(), Arc::new(registry));
    let (blocks, receiver) = tokio::sync::mpsc::channel(netsettle_peer::limits::BLOCK_QUEUE_MAX);
    let validator = Validator::new(netsettle_smcrypto::BatchVerifier::with_available_parallelism());
    let handle = service::spawn(PeerParts {
        ledger,
        genesis: net.genesis(),
        endorser,
        validator,
        blocks: receiver,
    })
    .unwrap();
    (handle, blocks)
}

/// A chain of `n` blocks after genesis, each with one (unendorsed, hence invalid but
/// committable) transaction, signed by `signer`.
pub fn chain(net: &Network, signer: &Member, n: u64) -> Vec<Block> {
    let mut blocks = vec![net.genesis()];
    for seed in 1..=n {
        let signed = proposal(&net.unicom_client, seed, "kv", "put", &[]);
        let envelope = transaction(
            &signed,
            &net.unicom_client,
            writes("kv", &[("k", Some("v"))]),
            &[&net.unicom_peer],
        );
        let previous = blocks.last().unwrap();
        let mut block = Block::new(seed, previous.hash(), vec![envelope], 0).unwrap();
        block.sign(&signer.key, signer.identity()).unwrap();
        blocks.push(block);
    }
    blocks
}
