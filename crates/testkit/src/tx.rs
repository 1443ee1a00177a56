//! Signed messages as clients, peers and admins make them: headers, proposals, endorsed
//! transactions (honest or not: the caller picks rw-set and endorsers), the envelope for
//! ordering only, config envelopes and config updates.

use netsettle_protocol::limits::NONCE_BYTES;
use netsettle_protocol::{
    ChannelConfig, ConfigEnvelope, ConfigSignature, ConfigUpdate, ConfigUpdateEnvelope,
    ContractAction, ContractId, Endorsement, Envelope, Header, Identity, KvWrite,
    NamespaceReadWriteSet, Nonce, Payload, Proposal, ProposalResponsePayload, ReadWriteSet,
    Response, SignedProposal, Timestamp, Transaction,
};
use netsettle_smcrypto::sm3;

use crate::channel::CHANNEL;
use crate::pki::{Member, NOW_MS};

/// A header from `creator` at [`NOW_MS`] whose nonce is derived from `seed`: distinct
/// seeds give distinct transaction ids, the same seed the same one.
pub fn header(creator: &Identity, seed: u64) -> Header {
    header_at(creator, seed, NOW_MS)
}

/// [`header`] at `unix_time_ms`.
pub fn header_at(creator: &Identity, seed: u64, unix_time_ms: u64) -> Header {
    let digest = sm3(&seed.to_le_bytes());
    let mut nonce = [0u8; NONCE_BYTES];
    for (byte, digest_byte) in nonce.iter_mut().zip(digest.as_bytes()) {
        *byte = *digest_byte;
    }
    Header {
        channel: CHANNEL.to_owned(),
        creator: creator.clone(),
        nonce: Nonce(nonce),
        timestamp: Timestamp { unix_time_ms },
    }
}

/// A header with a random nonce at the wall-clock time: for services that judge
/// envelope times against their own clock.
pub fn fresh_header(creator: &Identity) -> Header {
    let mut nonce = [0u8; NONCE_BYTES];
    netsettle_smcrypto::random_bytes(&mut nonce).expect("the system RNG works");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis();
    Header {
        channel: CHANNEL.to_owned(),
        creator: creator.clone(),
        nonce: Nonce(nonce),
        timestamp: Timestamp {
            unix_time_ms: u64::try_from(now_ms).expect("milliseconds fit u64"),
        },
    }
}

/// `creator` proposes `contract.function(args)` (version 1.0) at [`NOW_MS`].
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
        header: header_at(&creator.identity(), seed, unix_time_ms),
        contract: ContractId {
            name: contract.to_owned(),
            version: "1.0".to_owned(),
        },
        function: function.to_owned(),
        args: args.iter().map(|arg| arg.to_vec()).collect(),
    };
    SignedProposal::sign(&creator.key, proposal).expect("proposal signs")
}

/// An envelope of `proposal` with `rw_set` as its (status 200) result, endorsed by
/// `endorsers` and signed by `creator`: a transaction as a (possibly dishonest) client
/// assembles it.
pub fn transaction(
    proposal: &Proposal,
    creator: &Member,
    rw_set: ReadWriteSet,
    endorsers: &[&Member],
) -> Envelope {
    let response = ProposalResponsePayload {
        proposal_hash: proposal.hash().expect("proposal hashes"),
        action: ContractAction {
            contract: proposal.contract.clone(),
            rw_set,
            response: Response {
                status: Response::OK,
                message: String::new(),
                payload: Vec::new(),
            },
            events: Vec::new(),
        },
    };
    let endorsements = endorsers
        .iter()
        .map(|member| {
            Endorsement::sign(&member.key, member.identity(), &response).expect("endorses")
        })
        .collect();
    let payload = Payload::Transaction(Box::new(Transaction {
        proposal: proposal.clone(),
        response,
        endorsements,
    }));
    Envelope::sign(&creator.key, payload).expect("envelope signs")
}

/// The envelope for ordering only: a transaction under `header` with an empty rw-set and
/// `pad_bytes` of argument. Orderers check the creator, its signature and the Writers
/// policy; endorsements are the peers' business, so `endorser`'s stands in.
pub fn ordering_envelope(
    client: &Member,
    endorser: &Member,
    header: Header,
    pad_bytes: usize,
) -> Envelope {
    let proposal = Proposal {
        header,
        contract: ContractId {
            name: CHANNEL.to_owned(),
            version: "1.0".to_owned(),
        },
        function: "ordering_test".to_owned(),
        args: vec![vec![0x5a; pad_bytes]],
    };
    let empty = ReadWriteSet {
        namespaces: Vec::new(),
    };
    transaction(&proposal, client, empty, &[endorser])
}

/// A read-write set of one namespace with only writes (`None` deletes).
pub fn writes(namespace: &str, entries: &[(&str, Option<&str>)]) -> ReadWriteSet {
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

/// A config envelope putting `config` in force, signed by `orderer`.
pub fn config_envelope(orderer: &Member, seed: u64, config: ChannelConfig) -> Envelope {
    let payload = Payload::Config {
        header: header(&orderer.identity(), seed),
        config: Box::new(ConfigEnvelope {
            config,
            last_update: None,
        }),
    };
    Envelope::sign(&orderer.key, payload).expect("config envelope signs")
}

/// A config update to `config`, signed by `approvers` and submitted by `submitter`,
/// unique by `seed`.
pub fn config_update(
    config: ChannelConfig,
    approvers: &[&Member],
    submitter: &Member,
    seed: u64,
) -> Envelope {
    let header = header(&submitter.identity(), seed);
    config_update_under(config, approvers, submitter, header)
}

/// [`config_update`] under a given header (e.g. a [`fresh_header`]).
pub fn config_update_under(
    config: ChannelConfig,
    approvers: &[&Member],
    submitter: &Member,
    header: Header,
) -> Envelope {
    let update = ConfigUpdate {
        channel: config.channel.clone(),
        config,
    };
    let signatures = approvers
        .iter()
        .map(|admin| {
            ConfigSignature::sign(&admin.key, admin.identity(), &update).expect("approval signs")
        })
        .collect();
    Envelope::sign(
        &submitter.key,
        Payload::ConfigUpdate {
            header,
            update: Box::new(ConfigUpdateEnvelope { update, signatures }),
        },
    )
    .expect("config update signs")
}
