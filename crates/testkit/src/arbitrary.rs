//! Proptest strategies for every protocol message (structurally valid, not verifying:
//! round trips and decoders do not verify), and hand-built examples with made-up
//! certificates for tests that need a message's shape, not its trust.

use std::collections::BTreeSet;

use netsettle_protocol::{
    BatchPolicy, Block, BlockHeader, BlockMetadata, BroadcastResponse, BroadcastStatus,
    ChannelConfig, ChannelPolicies, ConfigEnvelope, ConfigSignature, ConfigUpdate,
    ConfigUpdateEnvelope, Consenter, ContractAction, ContractEvent, ContractId, CryptoPolicy,
    DeliverRequest, DeliverResponse, DeliverStatus, Endorsement, Endpoint, Envelope, Header,
    Identity, ImplicitMetaPolicy, ImplicitMetaRule, KvRead, KvWrite, NamespaceReadWriteSet, Nonce,
    OrdererConfig, OrdererSignature, OrgConfig, OrgPolicies, Payload, Policy, Principal, Proposal,
    ProposalResponse, ProposalResponsePayload, RangeQueryRead, ReadWriteSet, Response, Role,
    RoleOus, SeekPosition, SignaturePolicy, SignedDeliverRequest, SignedProposal, Timestamp,
    Transaction, ValidationCode, Version,
};
use netsettle_smcrypto::{Hash, Signature};
use proptest::collection::{btree_map, btree_set, vec};
use proptest::prelude::*;

pub fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_.-]{0,11}"
}

pub fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=max)
}

pub fn hash() -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>().prop_map(Hash)
}

/// A well-formed DER signature (not one that verifies: round trips do not verify).
pub fn signature() -> impl Strategy<Value = Signature> {
    (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_filter_map("r, s in range", |(r, s)| {
        let mut raw = [0u8; 64];
        raw[..32].copy_from_slice(&r);
        raw[32..].copy_from_slice(&s);
        Signature::from_raw(&raw).ok()
    })
}

pub fn identity() -> impl Strategy<Value = Identity> {
    ("[A-Z][a-zA-Z]{0,8}MSP", vec(any::<u8>(), 1..64))
        .prop_map(|(msp_id, cert_der)| Identity { msp_id, cert_der })
}

pub fn header() -> impl Strategy<Value = Header> {
    (name(), identity(), any::<[u8; 24]>(), any::<u64>()).prop_map(
        |(channel, creator, nonce, ms)| Header {
            channel,
            creator,
            nonce: Nonce(nonce),
            timestamp: Timestamp { unix_time_ms: ms },
        },
    )
}

pub fn contract_id() -> impl Strategy<Value = ContractId> {
    (name(), "[0-9]{1,2}\\.[0-9]{1,2}").prop_map(|(name, version)| ContractId { name, version })
}

pub fn proposal() -> impl Strategy<Value = Proposal> {
    (header(), contract_id(), name(), vec(bytes(40), 0..5)).prop_map(
        |(header, contract, function, args)| Proposal {
            header,
            contract,
            function,
            args,
        },
    )
}

pub fn signed_proposal() -> impl Strategy<Value = SignedProposal> {
    (proposal(), signature()).prop_map(|(proposal, signature)| SignedProposal {
        proposal,
        signature,
    })
}

pub fn version() -> impl Strategy<Value = Version> {
    (any::<u64>(), any::<u32>()).prop_map(|(block, tx)| Version { block, tx })
}

fn reads() -> impl Strategy<Value = Vec<KvRead>> {
    btree_map(name(), proptest::option::of(version()), 0..5).prop_map(|map| {
        map.into_iter()
            .map(|(key, version)| KvRead { key, version })
            .collect()
    })
}

fn writes() -> impl Strategy<Value = Vec<KvWrite>> {
    btree_map(name(), proptest::option::of(bytes(32)), 0..5).prop_map(|map| {
        map.into_iter()
            .map(|(key, value)| KvWrite { key, value })
            .collect()
    })
}

fn range_query() -> impl Strategy<Value = RangeQueryRead> {
    (name(), name(), any::<bool>(), reads()).prop_map(|(start_key, end_key, exhausted, reads)| {
        RangeQueryRead {
            start_key,
            end_key,
            exhausted,
            reads,
        }
    })
}

pub fn rw_set() -> impl Strategy<Value = ReadWriteSet> {
    btree_map(name(), (reads(), vec(range_query(), 0..2), writes()), 0..3).prop_map(|map| {
        ReadWriteSet {
            namespaces: map
                .into_iter()
                .map(
                    |(namespace, (reads, range_queries, writes))| NamespaceReadWriteSet {
                        namespace,
                        reads,
                        range_queries,
                        writes,
                    },
                )
                .collect(),
        }
    })
}

pub fn contract_action() -> impl Strategy<Value = ContractAction> {
    (
        contract_id(),
        rw_set(),
        (any::<u32>(), "[ -~]{0,20}", bytes(32)),
        vec((name(), bytes(16)), 0..3),
    )
        .prop_map(
            |(contract, rw_set, (status, message, payload), events)| ContractAction {
                contract,
                rw_set,
                response: Response {
                    status,
                    message,
                    payload,
                },
                events: events
                    .into_iter()
                    .map(|(name, payload)| ContractEvent { name, payload })
                    .collect(),
            },
        )
}

pub fn response_payload() -> impl Strategy<Value = ProposalResponsePayload> {
    (hash(), contract_action()).prop_map(|(proposal_hash, action)| ProposalResponsePayload {
        proposal_hash,
        action,
    })
}

pub fn endorsement() -> impl Strategy<Value = Endorsement> {
    (identity(), signature()).prop_map(|(endorser, signature)| Endorsement {
        endorser,
        signature,
    })
}

pub fn proposal_response() -> impl Strategy<Value = ProposalResponse> {
    (response_payload(), endorsement()).prop_map(|(payload, endorsement)| ProposalResponse {
        payload,
        endorsement,
    })
}

pub fn transaction() -> impl Strategy<Value = Transaction> {
    (proposal(), response_payload(), vec(endorsement(), 1..3)).prop_map(
        |(proposal, response, endorsements)| Transaction {
            proposal,
            response,
            endorsements,
        },
    )
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![
        Just(Role::Member),
        Just(Role::Admin),
        Just(Role::Client),
        Just(Role::Peer),
        Just(Role::Orderer),
    ]
}

fn signature_policy() -> impl Strategy<Value = SignaturePolicy> {
    let leaf = ("[A-Z][a-z]{0,6}MSP", role())
        .prop_map(|(msp_id, role)| SignaturePolicy::SignedBy(Principal { msp_id, role }));
    leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            vec(inner.clone(), 1..3).prop_map(SignaturePolicy::And),
            vec(inner.clone(), 1..3).prop_map(SignaturePolicy::Or),
            vec(inner, 1..4).prop_flat_map(|rules| {
                let len = u32::try_from(rules.len()).unwrap_or(1);
                (1..=len).prop_map(move |n| SignaturePolicy::OutOf {
                    n,
                    rules: rules.clone(),
                })
            }),
        ]
    })
}

pub fn policy() -> impl Strategy<Value = Policy> {
    let rule = prop_oneof![
        Just(ImplicitMetaRule::Any),
        Just(ImplicitMetaRule::All),
        Just(ImplicitMetaRule::Majority),
    ];
    prop_oneof![
        signature_policy().prop_map(Policy::Signature),
        (rule, "[A-Z][a-z]{1,10}").prop_map(|(rule, sub_policy)| Policy::ImplicitMeta(
            ImplicitMetaPolicy { rule, sub_policy }
        )),
    ]
}

fn endpoint() -> impl Strategy<Value = Endpoint> {
    (name(), any::<u16>()).prop_map(|(host, port)| Endpoint { host, port })
}

fn org(msp_id: String) -> impl Strategy<Value = OrgConfig> {
    (
        vec(vec(any::<u8>(), 1..32), 1..3),
        vec(vec(any::<u8>(), 1..32), 0..2),
        vec(vec(any::<u8>(), 1..32), 0..2),
        vec(endpoint(), 0..3),
        vec(endpoint(), 0..3),
        (policy(), policy(), policy(), policy()),
    )
        .prop_map(
            move |(
                roots,
                intermediates,
                crls,
                anchor_peers,
                orderer_endpoints,
                (readers, writers, admins, endorsement),
            )| {
                OrgConfig {
                    msp_id: msp_id.clone(),
                    root_certs_der: roots.clone(),
                    intermediate_certs_der: intermediates,
                    crls_der: crls,
                    tls_root_certs_der: roots,
                    role_ous: RoleOus::default(),
                    anchor_peers,
                    orderer_endpoints,
                    policies: OrgPolicies {
                        readers,
                        writers,
                        admins,
                        endorsement,
                    },
                }
            },
        )
}

pub fn channel_config() -> impl Strategy<Value = ChannelConfig> {
    let msp_ids: BTreeSet<String> = ["MobileMSP", "UnicomMSP"]
        .into_iter()
        .map(String::from)
        .collect();
    let orgs = msp_ids.into_iter().map(org).collect::<Vec<_>>();
    (
        name(),
        any::<u64>(),
        orgs,
        btree_set(1u64..100, 1..6),
        (1u64..10_000, 1u32..=1_000, 1u64..=1_000_000),
        btree_set(name(), 0..3),
    )
        .prop_map(
            |(channel, sequence, orgs, ids, (timeout_ms, tx_max, bytes_max), capabilities)| {
                let consenters = ids
                    .into_iter()
                    .map(|id| Consenter {
                        id,
                        msp_id: if id % 2 == 0 {
                            "MobileMSP"
                        } else {
                            "UnicomMSP"
                        }
                        .to_owned(),
                        endpoint: Endpoint {
                            host: format!("orderer{id}.example"),
                            port: 7050,
                        },
                        tls_cert_der: vec![0x30, 0x82, 0x01],
                    })
                    .collect();
                ChannelConfig {
                    channel,
                    sequence,
                    orgs,
                    orderer: OrdererConfig {
                        consenters,
                        batch: BatchPolicy {
                            timeout_ms,
                            tx_max,
                            absolute_bytes_max: bytes_max,
                            preferred_bytes_max: bytes_max / 2 + 1,
                        },
                    },
                    policies: ChannelPolicies::default(),
                    crypto: CryptoPolicy::default(),
                    capabilities: capabilities.into_iter().collect(),
                }
            },
        )
}

pub fn config_update() -> impl Strategy<Value = ConfigUpdate> {
    channel_config().prop_map(|config| ConfigUpdate {
        channel: config.channel.clone(),
        config,
    })
}

fn config_update_envelope() -> impl Strategy<Value = ConfigUpdateEnvelope> {
    (config_update(), vec((identity(), signature()), 0..3)).prop_map(|(update, signatures)| {
        ConfigUpdateEnvelope {
            update,
            signatures: signatures
                .into_iter()
                .map(|(signer, signature)| ConfigSignature { signer, signature })
                .collect(),
        }
    })
}

pub fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        transaction().prop_map(|transaction| Payload::Transaction(Box::new(transaction))),
        (header(), config_update_envelope()).prop_map(|(header, update)| Payload::ConfigUpdate {
            header,
            update: Box::new(update),
        }),
        (
            header(),
            channel_config(),
            proptest::option::of(config_update_envelope())
        )
            .prop_map(|(header, config, last_update)| Payload::Config {
                header,
                config: Box::new(ConfigEnvelope {
                    config,
                    last_update
                }),
            }),
    ]
}

pub fn envelope() -> impl Strategy<Value = Envelope> {
    (payload(), signature()).prop_map(|(payload, signature)| Envelope { payload, signature })
}

pub fn validation_code() -> impl Strategy<Value = ValidationCode> {
    proptest::sample::select(ValidationCode::ALL)
}

pub fn block_header() -> impl Strategy<Value = BlockHeader> {
    (any::<u64>(), hash(), hash(), any::<u64>()).prop_map(
        |(number, previous_hash, data_hash, unix_time_ms)| BlockHeader {
            number,
            previous_hash,
            data_hash,
            timestamp: Timestamp { unix_time_ms },
        },
    )
}

pub fn block_metadata() -> impl Strategy<Value = BlockMetadata> {
    (
        vec((identity(), signature()), 0..3),
        any::<u64>(),
        vec(validation_code(), 0..5),
    )
        .prop_map(
            |(signatures, last_config_index, validation_codes)| BlockMetadata {
                signatures: signatures
                    .into_iter()
                    .map(|(signer, signature)| OrdererSignature { signer, signature })
                    .collect(),
                last_config_index,
                validation_codes,
            },
        )
}

/// A block whose metadata is consistent with its data (codes absent or one per envelope,
/// last config index not after the block).
pub fn block() -> impl Strategy<Value = Block> {
    (
        block_header(),
        vec(envelope(), 0..3),
        block_metadata(),
        any::<bool>(),
    )
        .prop_flat_map(|(header, data, metadata, validated)| {
            let n_envelopes = data.len();
            let codes = if validated { n_envelopes } else { 0 };
            (vec(validation_code(), codes..=codes), 0..=header.number).prop_map(
                move |(validation_codes, last_config_index)| Block {
                    header,
                    data: data.clone(),
                    metadata: BlockMetadata {
                        validation_codes,
                        last_config_index,
                        ..metadata.clone()
                    },
                },
            )
        })
}

pub fn broadcast_response() -> impl Strategy<Value = BroadcastResponse> {
    let status = prop_oneof![
        Just(BroadcastStatus::Success),
        Just(BroadcastStatus::BadRequest),
        Just(BroadcastStatus::Forbidden),
        Just(BroadcastStatus::NotFound),
        Just(BroadcastStatus::RequestEntityTooLarge),
        Just(BroadcastStatus::ServiceUnavailable),
        Just(BroadcastStatus::InternalServerError),
    ];
    let leader = proptest::option::of("[1-9A-HJ-NP-Za-km-z]{52}");
    (status, "[ -~]{0,40}", leader).prop_map(|(status, info, leader)| BroadcastResponse {
        status,
        info,
        leader,
    })
}

fn seek_position() -> impl Strategy<Value = SeekPosition> {
    prop_oneof![
        Just(SeekPosition::Oldest),
        Just(SeekPosition::Newest),
        any::<u64>().prop_map(SeekPosition::Specified),
    ]
}

pub fn deliver_request() -> impl Strategy<Value = DeliverRequest> {
    (
        name(),
        identity(),
        any::<[u8; 24]>(),
        any::<u64>(),
        seek_position(),
        proptest::option::of(seek_position()),
    )
        .prop_map(
            |(channel, requester, nonce, ms, start, stop)| DeliverRequest {
                channel,
                requester,
                nonce: Nonce(nonce),
                timestamp: Timestamp { unix_time_ms: ms },
                start,
                stop,
            },
        )
}

pub fn signed_deliver_request() -> impl Strategy<Value = SignedDeliverRequest> {
    (deliver_request(), signature())
        .prop_map(|(request, signature)| SignedDeliverRequest { request, signature })
}

pub fn deliver_response() -> impl Strategy<Value = DeliverResponse> {
    let status = prop_oneof![
        Just(DeliverStatus::Success),
        Just(DeliverStatus::BadRequest),
        Just(DeliverStatus::Forbidden),
        Just(DeliverStatus::NotFound),
        Just(DeliverStatus::ServiceUnavailable),
    ];
    prop_oneof![
        block().prop_map(DeliverResponse::Block),
        status.prop_map(DeliverResponse::Status),
    ]
}

/// An identity with a fixed made-up certificate, for hand-built examples.
pub fn sample_identity(msp_id: &str) -> Identity {
    Identity {
        msp_id: msp_id.to_owned(),
        cert_der: vec![0x30, 0x82, 0x01, 0x0a, 0x02, 0x01],
    }
}

/// A realistic channel configuration for the two carriers: 5 consenters (3 Unicom,
/// 2 Mobile), default batch, policies and crypto.
pub fn sample_config() -> ChannelConfig {
    let org = |msp_id: &str| OrgConfig {
        msp_id: msp_id.to_owned(),
        root_certs_der: vec![vec![0x30, 0x82, 0x02]],
        intermediate_certs_der: Vec::new(),
        crls_der: Vec::new(),
        tls_root_certs_der: vec![vec![0x30, 0x82, 0x03]],
        role_ous: RoleOus::default(),
        anchor_peers: vec![Endpoint {
            host: format!("peer0.{}.example", msp_id.to_lowercase()),
            port: 7051,
        }],
        orderer_endpoints: Vec::new(),
        policies: OrgPolicies {
            readers: Policy::signed_by(msp_id, Role::Member),
            writers: Policy::signed_by(msp_id, Role::Member),
            admins: Policy::signed_by(msp_id, Role::Admin),
            endorsement: Policy::signed_by(msp_id, Role::Peer),
        },
    };
    let consenters = (1..=5u64)
        .map(|id| Consenter {
            id,
            msp_id: if id <= 3 { "UnicomMSP" } else { "MobileMSP" }.to_owned(),
            endpoint: Endpoint {
                host: format!("orderer{id}.example"),
                port: 7050,
            },
            tls_cert_der: vec![0x30, 0x82, 0x04],
        })
        .collect();
    ChannelConfig {
        channel: "settlement".to_owned(),
        sequence: 0,
        orgs: vec![org("MobileMSP"), org("UnicomMSP")],
        orderer: OrdererConfig {
            consenters,
            batch: BatchPolicy::default(),
        },
        policies: ChannelPolicies::default(),
        crypto: CryptoPolicy::default(),
        capabilities: vec!["V1_0".to_owned()],
    }
}
