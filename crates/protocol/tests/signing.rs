//! Signatures and derived ids: each signed object verifies with its signer's key, fails
//! with another key, and fails after any single byte of its encoding is flipped; the
//! transaction id and block hash are the documented SM3 digests.

use netsettle_protocol::domain;
use netsettle_protocol::limits::CODEC_VERSION;
use netsettle_protocol::{
    Block, ConfigSignature, ConfigUpdate, ContractAction, ContractId, DeliverRequest, Endorsement,
    Envelope, Header, Identity, KvRead, KvWrite, NamespaceReadWriteSet, Nonce, Payload, Proposal,
    ProposalResponse, ProposalResponsePayload, ProtocolError, ReadWriteSet, Response, SeekPosition,
    SignedDeliverRequest, SignedProposal, Timestamp, Transaction, TxId, ValidationCode, Version,
    Wire, decode, encode,
};
use netsettle_smcrypto::{CryptoError, Hash, PrivateKey, sm3};
use netsettle_testkit::arbitrary::{sample_config, sample_identity};

fn header(creator: Identity, nonce_byte: u8) -> Header {
    Header {
        channel: "settlement".to_owned(),
        creator,
        nonce: Nonce([nonce_byte; 24]),
        timestamp: Timestamp {
            unix_time_ms: 1_793_000_000_000,
        },
    }
}

fn proposal(creator: Identity) -> Proposal {
    Proposal {
        header: header(creator, 9),
        contract: ContractId {
            name: "settlement".to_owned(),
            version: "1.0".to_owned(),
        },
        function: "UploadReport".to_owned(),
        args: vec![b"2026-10".to_vec(), vec![0x5a; 100]],
    }
}

fn action() -> ContractAction {
    ContractAction {
        contract: ContractId {
            name: "settlement".to_owned(),
            version: "1.0".to_owned(),
        },
        rw_set: ReadWriteSet {
            namespaces: vec![NamespaceReadWriteSet {
                namespace: "settlement".to_owned(),
                reads: vec![KvRead {
                    key: "period/2026-10".to_owned(),
                    version: Some(Version { block: 3, tx: 1 }),
                }],
                range_queries: Vec::new(),
                writes: vec![
                    KvWrite {
                        key: "report/2026-10/UnicomMSP".to_owned(),
                        value: Some(vec![0xc1; 48]),
                    },
                    // The proposal's second argument, stored as it came: the envelope
                    // names it instead of repeating it, and the flip tests tamper with that
                    // reference too.
                    KvWrite {
                        key: "report/2026-10/UnicomMSP/sealed".to_owned(),
                        value: Some(vec![0x5a; 100]),
                    },
                ],
            }],
        },
        response: Response {
            status: Response::OK,
            message: String::new(),
            payload: Vec::new(),
        },
        events: Vec::new(),
    }
}

/// Two carriers' endorsing peers and a client, with keys.
struct Parties {
    client_key: PrivateKey,
    client: Identity,
    peers: Vec<(PrivateKey, Identity)>,
}

fn parties() -> Parties {
    Parties {
        client_key: PrivateKey::generate(),
        client: sample_identity("UnicomMSP"),
        peers: vec![
            (PrivateKey::generate(), sample_identity("UnicomMSP")),
            (PrivateKey::generate(), sample_identity("MobileMSP")),
        ],
    }
}

/// The whole execute phase: sign, endorse twice, assemble, sign the envelope.
fn endorsed_envelope(parties: &Parties) -> Envelope {
    let signed =
        SignedProposal::sign(&parties.client_key, proposal(parties.client.clone())).unwrap();
    endorse_and_wrap(parties, signed.proposal, action())
}

/// Both peers endorse `action` as the answer to `proposal`; the client assembles and signs
/// the envelope.
fn endorse_and_wrap(parties: &Parties, proposal: Proposal, action: ContractAction) -> Envelope {
    let payload = ProposalResponsePayload {
        proposal_hash: proposal.hash().unwrap(),
        action,
    };
    let endorsements = parties
        .peers
        .iter()
        .map(|(key, identity)| Endorsement::sign(key, identity.clone(), &payload).unwrap())
        .collect();
    let transaction = Transaction {
        proposal,
        response: payload,
        endorsements,
    };
    Envelope::sign(
        &parties.client_key,
        Payload::Transaction(Box::new(transaction)),
    )
    .unwrap()
}

/// Flips each byte of `value`'s encoding in turn; whenever the result still decodes,
/// `verifies` must say no. Returns how many flipped copies decoded, so callers can make
/// sure the check was not vacuous.
fn check_every_flip<T: Wire>(value: &T, verifies: impl Fn(&T) -> bool) -> usize {
    let bytes = encode(value).unwrap();
    let mut decoded = 0;
    for at in 0..bytes.len() {
        let mut flipped = bytes.clone();
        flipped[at] ^= 0x01;
        if let Ok(tampered) = decode::<T>(&flipped) {
            decoded += 1;
            assert!(
                !verifies(&tampered),
                "flipping byte {at} of {} still verifies",
                T::NAME
            );
        }
    }
    decoded
}

#[test]
fn signed_proposal_verifies_and_detects_tampering() {
    let key = PrivateKey::generate();
    let signed = SignedProposal::sign(&key, proposal(sample_identity("UnicomMSP"))).unwrap();
    assert_eq!(signed.verify(key.public_key()), Ok(()));
    assert!(matches!(
        signed.verify(PrivateKey::generate().public_key()),
        Err(ProtocolError::Signature {
            what: "proposal",
            source: CryptoError::BadSignature
        })
    ));
    let decoded = check_every_flip(&signed, |tampered| {
        tampered.verify(key.public_key()).is_ok()
    });
    assert!(decoded > 100, "only {decoded} flipped copies decoded");
}

#[test]
fn signature_covers_the_domain_tag() {
    // A signature over the bare encoding (no tag) must not pass as a proposal signature.
    let key = PrivateKey::generate();
    let proposal = proposal(sample_identity("UnicomMSP"));
    let untagged = SignedProposal {
        signature: key.sign(&encode(&proposal).unwrap()),
        proposal: proposal.clone(),
    };
    assert!(untagged.verify(key.public_key()).is_err());
    let mut tagged_bytes = domain::PROPOSAL.to_vec();
    tagged_bytes.extend_from_slice(&encode(&proposal).unwrap());
    let tagged = SignedProposal {
        signature: key.sign(&tagged_bytes),
        proposal,
    };
    assert_eq!(tagged.verify(key.public_key()), Ok(()));
}

#[test]
fn endorsed_envelope_verifies_and_detects_tampering() {
    let parties = parties();
    let envelope = endorsed_envelope(&parties);
    assert_eq!(envelope.verify(parties.client_key.public_key()), Ok(()));
    let Payload::Transaction(transaction) = &envelope.payload else {
        panic!("built a transaction");
    };
    for (index, (key, _)) in parties.peers.iter().enumerate() {
        assert_eq!(
            transaction.verify_endorsement(index, key.public_key()),
            Ok(())
        );
    }
    assert!(matches!(
        transaction.verify_endorsement(0, parties.peers[1].0.public_key()),
        Err(ProtocolError::Signature {
            what: "endorsement",
            ..
        })
    ));
    assert!(matches!(
        transaction.verify_endorsement(2, parties.peers[0].0.public_key()),
        Err(ProtocolError::NoSuchEntry { index: 2, .. })
    ));

    let all_verify = |tampered: &Envelope| {
        let Payload::Transaction(transaction) = &tampered.payload else {
            return false;
        };
        tampered.verify(parties.client_key.public_key()).is_ok()
            && parties.peers.iter().enumerate().all(|(index, (key, _))| {
                transaction
                    .verify_endorsement(index, key.public_key())
                    .is_ok()
            })
    };
    let decoded = check_every_flip(&envelope, all_verify);
    assert!(decoded > 100, "only {decoded} flipped copies decoded");
}

#[test]
fn endorsement_of_another_proposal_is_refused() {
    let parties = parties();
    let (peer_key, peer) = &parties.peers[0];
    let payload = ProposalResponsePayload {
        proposal_hash: sm3(b"some other proposal"),
        action: action(),
    };
    let response = ProposalResponse {
        endorsement: Endorsement::sign(peer_key, peer.clone(), &payload).unwrap(),
        payload,
    };
    let ours = proposal(parties.client.clone());
    assert!(matches!(
        response.verify(&ours, peer_key.public_key()),
        Err(ProtocolError::ProposalHashMismatch { .. })
    ));
    let honest = ProposalResponsePayload {
        proposal_hash: ours.hash().unwrap(),
        action: action(),
    };
    let response = ProposalResponse {
        endorsement: Endorsement::sign(peer_key, peer.clone(), &honest).unwrap(),
        payload: honest,
    };
    assert_eq!(response.verify(&ours, peer_key.public_key()), Ok(()));
    let decoded = check_every_flip(&response, |tampered| {
        tampered.verify(&ours, peer_key.public_key()).is_ok()
    });
    assert!(decoded > 100, "only {decoded} flipped copies decoded");
}

#[test]
fn config_signature_verifies_and_detects_tampering() {
    let admin_key = PrivateKey::generate();
    let mut config = sample_config();
    config.sequence = 1;
    let update = ConfigUpdate {
        channel: "settlement".to_owned(),
        config,
    };
    let approval =
        ConfigSignature::sign(&admin_key, sample_identity("UnicomMSP"), &update).unwrap();
    assert_eq!(approval.verify(&update, admin_key.public_key()), Ok(()));
    let decoded = check_every_flip(&update, |tampered| {
        approval.verify(tampered, admin_key.public_key()).is_ok()
    });
    assert!(decoded > 50, "only {decoded} flipped copies decoded");
}

#[test]
fn block_signature_covers_header_and_last_config_but_not_validation_codes() {
    let parties = parties();
    let orderer_key = PrivateKey::generate();
    let mut block = Block::new(
        1,
        sm3(b"genesis header"),
        vec![endorsed_envelope(&parties), endorsed_envelope(&parties)],
        0,
    )
    .unwrap();
    block
        .sign(&orderer_key, sample_identity("UnicomMSP"))
        .unwrap();
    assert_eq!(block.verify_data_hash(), Ok(()));
    assert_eq!(block.verify_signature(0, orderer_key.public_key()), Ok(()));

    // Any flipped byte breaks the orderer signature, the data hash, or an envelope
    // signature, except in the validation codes and the signature list, which nothing
    // covers (checked below).
    let intact = |tampered: &Block| {
        tampered
            .verify_signature(0, orderer_key.public_key())
            .is_ok()
            && tampered.verify_data_hash().is_ok()
            && tampered
                .data
                .iter()
                .all(|envelope| envelope.verify(parties.client_key.public_key()).is_ok())
    };
    let decoded = check_every_flip(&block, intact);
    assert!(decoded > 100, "only {decoded} flipped copies decoded");

    let mut moved_config = block.clone();
    moved_config.metadata.last_config_index = 1;
    assert!(
        moved_config
            .verify_signature(0, orderer_key.public_key())
            .is_err()
    );

    let mut validated = block.clone();
    validated.metadata.validation_codes =
        vec![ValidationCode::Valid, ValidationCode::MvccReadConflict];
    assert_eq!(
        validated.verify_signature(0, orderer_key.public_key()),
        Ok(())
    );
    assert_eq!(validated.hash(), block.hash());
    assert_eq!(
        validated.validation_code(1),
        Some(ValidationCode::MvccReadConflict)
    );
}

#[test]
fn deliver_request_verifies_and_detects_tampering() {
    let key = PrivateKey::generate();
    let request = DeliverRequest {
        channel: "settlement".to_owned(),
        requester: sample_identity("MobileMSP"),
        nonce: Nonce([3; 24]),
        timestamp: Timestamp { unix_time_ms: 5 },
        start: SeekPosition::Specified(10),
        stop: None,
    };
    let signed = SignedDeliverRequest::sign(&key, request).unwrap();
    assert_eq!(signed.verify(key.public_key()), Ok(()));
    let decoded = check_every_flip(&signed, |tampered| {
        tampered.verify(key.public_key()).is_ok()
    });
    assert!(decoded > 20, "only {decoded} flipped copies decoded");
}

#[test]
fn tx_id_is_sm3_of_nonce_and_encoded_creator() {
    let creator = sample_identity("UnicomMSP");
    let nonce = Nonce([0x42; 24]);
    let mut preimage = nonce.0.to_vec();
    preimage.extend_from_slice(&encode_identity(&creator));
    assert_eq!(TxId::derive(&nonce, &creator), TxId(sm3(&preimage)));

    // Same creator, other nonce, or same nonce, other creator: another id.
    assert_ne!(
        TxId::derive(&Nonce([0x43; 24]), &creator),
        TxId::derive(&nonce, &creator)
    );
    assert_ne!(
        TxId::derive(&nonce, &sample_identity("MobileMSP")),
        TxId::derive(&nonce, &creator)
    );

    // Every carrier of the header reports the same id, and it prints as 64 hex digits.
    let parties = parties();
    let envelope = endorsed_envelope(&parties);
    let id = proposal(parties.client.clone()).tx_id();
    assert_eq!(envelope.tx_id(), id);
    assert_eq!(id.to_string().len(), 64);
    assert_eq!(id.to_string().parse::<TxId>(), Ok(id));
}

/// `encode(identity)` written out by hand: version, then each field with an 8-byte
/// little-endian length.
fn encode_identity(identity: &Identity) -> Vec<u8> {
    let mut out = vec![CODEC_VERSION];
    out.extend_from_slice(&u64::try_from(identity.msp_id.len()).unwrap().to_le_bytes());
    out.extend_from_slice(identity.msp_id.as_bytes());
    out.extend_from_slice(
        &u64::try_from(identity.cert_der.len())
            .unwrap()
            .to_le_bytes(),
    );
    out.extend_from_slice(&identity.cert_der);
    out
}

#[test]
fn block_hash_chains_headers() {
    let genesis = Block::new(0, Hash::default(), Vec::new(), 0).unwrap();
    let next = Block::new(1, genesis.hash(), Vec::new(), 0).unwrap();
    assert_eq!(
        next.header.previous_hash,
        sm3(&encode(&genesis.header).unwrap())
    );
    // An empty block's data hash is SM3 of nothing (see `merkle`).
    assert_eq!(genesis.header.data_hash, sm3(b""));
}

/// How often `needle` occurs in `haystack`.
fn occurrences(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|window| *window == needle)
        .count()
}

/// An envelope whose only write stores `value` under `WIRE_KEY`, for proposal `args`. Its
/// endorsements are real, so a decoded copy can be checked like any transaction.
fn envelope_writing(parties: &Parties, args: Vec<Vec<u8>>, value: Vec<u8>) -> Envelope {
    envelope_with_writes(parties, args, vec![(WIRE_KEY, value)])
}

/// An envelope for proposal `args` whose writes are `writes` (keys sorted).
fn envelope_with_writes(
    parties: &Parties,
    args: Vec<Vec<u8>>,
    writes: Vec<(&str, Vec<u8>)>,
) -> Envelope {
    let mut proposal = proposal(parties.client.clone());
    proposal.args = args;
    let mut action = action();
    action.rw_set.namespaces[0].writes = writes
        .into_iter()
        .map(|(key, value)| KvWrite {
            key: key.to_owned(),
            value: Some(value),
        })
        .collect();
    endorse_and_wrap(parties, proposal, action)
}

const WIRE_KEY: &str = "wire/only-write";

/// Where the encoded value of the write under `WIRE_KEY` starts (its tag byte).
fn value_tag_at(bytes: &[u8]) -> usize {
    value_tag_of(bytes, WIRE_KEY)
}

/// Where the encoded value of the write under `key` starts (its tag byte).
fn value_tag_of(bytes: &[u8], key: &str) -> usize {
    let key = key.as_bytes();
    let at = bytes
        .windows(key.len())
        .position(|window| window == key)
        .expect("the key is in the encoding");
    at + key.len()
}

fn refused(bytes: &[u8]) -> String {
    match decode::<Envelope>(bytes) {
        Ok(_) => panic!("a non-canonical transaction decoded"),
        Err(error) => error.to_string(),
    }
}

/// `bytes` with byte `at` set to `byte` must fail to decode, saying `expected`.
fn refused_with_byte(bytes: &[u8], at: usize, byte: u8, expected: &str) {
    let mut patched = bytes.to_vec();
    patched[at] = byte;
    let error = refused(&patched);
    assert!(error.contains(expected), "{error}");
}

#[test]
fn written_argument_travels_once_and_its_endorsements_still_verify() {
    let parties = parties();
    let sealed: Vec<u8> = (0..2048u32).map(|i| (i * 7 % 251) as u8).collect();
    let envelope = envelope_writing(
        &parties,
        vec![b"{\"period\":\"2026-10\"}".to_vec(), sealed.clone()],
        sealed.clone(),
    );
    let bytes = encode(&envelope).unwrap();
    assert_eq!(occurrences(&bytes, &sealed), 1, "the argument travels once");
    let tag_at = value_tag_at(&bytes);
    assert_eq!(
        bytes[tag_at..tag_at + 5],
        [2, 1, 0, 0, 0],
        "written as argument 1"
    );

    let decoded: Envelope = decode(&bytes).unwrap();
    assert_eq!(decoded, envelope, "the value is whole again in memory");
    assert_eq!(encode(&decoded).unwrap(), bytes, "and encodes the same");
    assert_eq!(decoded.verify(parties.client_key.public_key()), Ok(()));
    let Payload::Transaction(transaction) = &decoded.payload else {
        panic!("built a transaction");
    };
    for (index, (key, _)) in parties.peers.iter().enumerate() {
        assert_eq!(
            transaction.verify_endorsement(index, key.public_key()),
            Ok(())
        );
    }

    // A value that only resembles an argument travels in full.
    let mut other = sealed.clone();
    other[0] ^= 1;
    let different = envelope_writing(
        &parties,
        vec![b"{}".to_vec(), sealed.clone()],
        other.clone(),
    );
    let bytes = encode(&different).unwrap();
    assert_eq!(occurrences(&bytes, &other), 1);
    assert_eq!(occurrences(&bytes, &sealed), 1);
    assert_eq!(bytes[value_tag_at(&bytes)], 1, "written in full");
}

#[test]
fn non_canonical_written_values_are_refused() {
    let parties = parties();
    let twice = vec![0x77; 64];
    let args = vec![b"2026-10".to_vec(), twice.clone(), twice.clone()];
    let bytes = encode(&envelope_writing(&parties, args.clone(), twice.clone())).unwrap();
    let tag_at = value_tag_at(&bytes);
    assert_eq!(
        bytes[tag_at..tag_at + 5],
        [2, 1, 0, 0, 0],
        "names the first equal argument"
    );

    let later_duplicate = "repeats argument 1: not canonical";
    refused_with_byte(&bytes, tag_at + 1, 2, later_duplicate);
    let past_the_end = "names argument 3, but the proposal has 3";
    refused_with_byte(&bytes, tag_at + 1, 3, past_the_end);
    refused_with_byte(&bytes, tag_at, 3, "expected a written value");

    // The value in full although it equals an argument: build a value one byte off, then
    // make it equal in the encoding.
    let mut almost = twice.clone();
    almost[63] = 0x78;
    let bytes = encode(&envelope_writing(&parties, args, almost.clone())).unwrap();
    let at = bytes
        .windows(almost.len())
        .position(|window| window == almost.as_slice())
        .unwrap();
    let in_full = "repeats argument 1 in full instead of naming it";
    refused_with_byte(&bytes, at + 63, 0x77, in_full);
}

#[test]
fn an_argument_is_named_once_so_decoding_cannot_multiply_it() {
    let parties = parties();
    let sealed = vec![0x33; 4096];
    // Two writes of the same argument: the first names it, the second carries it in full,
    // so a transaction never expands to more than its arguments twice over.
    let twice = envelope_with_writes(
        &parties,
        vec![sealed.clone()],
        vec![("wire/a", sealed.clone()), ("wire/b", sealed.clone())],
    );
    let bytes = encode(&twice).unwrap();
    assert_eq!(occurrences(&bytes, &sealed), 2);
    assert_eq!(bytes[value_tag_of(&bytes, "wire/a")], 2, "named");
    assert_eq!(bytes[value_tag_of(&bytes, "wire/b")], 1, "in full");
    assert_eq!(decode::<Envelope>(&bytes).unwrap(), twice);

    // Naming it in the second write as well is refused: spliced into an envelope whose
    // second write was small (bincode has no outer byte lengths to adjust).
    let small = vec![0x09; 8];
    let bytes = encode(&envelope_with_writes(
        &parties,
        vec![sealed.clone()],
        vec![("wire/a", sealed.clone()), ("wire/b", small)],
    ))
    .unwrap();
    let at = value_tag_of(&bytes, "wire/b");
    assert_eq!(
        bytes[at..at + 17],
        [[1, 8, 0, 0, 0, 0, 0, 0, 0].as_slice(), &[0x09; 8]].concat()
    );
    let mut named_twice = bytes[..at].to_vec();
    named_twice.extend_from_slice(&[2, 0, 0, 0, 0]);
    named_twice.extend_from_slice(&bytes[at + 17..]);
    let error = refused(&named_twice);
    assert!(
        error.contains("names argument 0, which an earlier write named"),
        "{error}"
    );
}
