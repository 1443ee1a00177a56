//! The structural rules `Wire::check` enforces beyond byte limits: the consortium's sample
//! configuration passes, and each broken rule is refused with the error that names it,
//! both when encoding and when decoding bytes that carry the violation.

use netsettle_protocol::limits::{BLOCK_TX_MAX, ENDORSEMENTS_MAX};
use netsettle_protocol::{
    Block, ChannelConfig, CodecError, ContractAction, ContractId, Endpoint, InvalidMessage, KvRead,
    KvWrite, NamespaceReadWriteSet, Policy, ProposalResponsePayload, ReadWriteSet, Response,
    SignaturePolicy, ValidationCode, Wire, decode, encode,
};
use netsettle_smcrypto::{Hash, sm3};
use netsettle_testkit::arbitrary::{sample_config, sample_identity};

/// The one caller of `Wire::check` here: `value` must be refused with `expected`, by
/// `check` itself and by `encode`.
fn check_refused<T: Wire>(value: &T, expected: InvalidMessage) {
    assert_eq!(value.check(), Err(expected.clone()));
    assert_eq!(
        encode(value),
        Err(CodecError::Invalid {
            what: T::NAME,
            source: expected
        })
    );
}

#[test]
fn sample_consortium_config_is_valid() {
    let config = sample_config();
    assert_eq!(config.check(), Ok(()));
    assert_eq!(config.orderer.consenters.len(), 5);
    assert_eq!(config.orderer.batch.timeout_ms, 1_000);
    assert_eq!(config.orderer.batch.tx_max, 50);
    assert_eq!(config.orderer.batch.absolute_bytes_max, 100 * 1024 * 1024);
    assert_eq!(config.policies.admins, Policy::majority("Admins"));
    assert_eq!(
        decode::<ChannelConfig>(&encode(&config).unwrap()),
        Ok(config)
    );
}

#[test]
fn config_rules() {
    let mut unsorted = sample_config();
    unsorted.orgs.reverse();
    check_refused(
        &unsorted,
        InvalidMessage::NotCanonical {
            what: "organisations",
        },
    );

    let mut stranger = sample_config();
    stranger.orderer.consenters[0].msp_id = "TelecomMSP".to_owned();
    check_refused(
        &stranger,
        InvalidMessage::Inconsistent {
            what: "consenter belongs to no organisation of the channel",
        },
    );

    let mut duplicate_consenter = sample_config();
    duplicate_consenter.orderer.consenters[1].id = 1;
    check_refused(
        &duplicate_consenter,
        InvalidMessage::NotCanonical { what: "consenters" },
    );

    let mut preferred_too_big = sample_config();
    preferred_too_big.orderer.batch.preferred_bytes_max =
        preferred_too_big.orderer.batch.absolute_bytes_max + 1;
    check_refused(
        &preferred_too_big,
        InvalidMessage::Inconsistent {
            what: "batch preferred_bytes_max must be between 1 and absolute_bytes_max",
        },
    );

    let mut too_many_tx = sample_config();
    too_many_tx.orderer.batch.tx_max = u32::try_from(BLOCK_TX_MAX).unwrap() + 1;
    check_refused(
        &too_many_tx,
        InvalidMessage::Inconsistent {
            what: "batch tx_max must be between 1 and BLOCK_TX_MAX",
        },
    );

    let mut bad_threshold = sample_config();
    bad_threshold.orgs[0].policies.endorsement = Policy::Signature(SignaturePolicy::OutOf {
        n: 2,
        rules: vec![SignaturePolicy::And(vec![])],
    });
    check_refused(
        &bad_threshold,
        InvalidMessage::Inconsistent {
            what: "n-out-of threshold must be between 1 and the number of rules",
        },
    );
}

fn action_with(rw_set: ReadWriteSet) -> ProposalResponsePayload {
    ProposalResponsePayload {
        proposal_hash: sm3(b"proposal"),
        action: ContractAction {
            contract: ContractId {
                name: "settlement".to_owned(),
                version: "1.0".to_owned(),
            },
            rw_set,
            response: Response {
                status: Response::OK,
                message: String::new(),
                payload: Vec::new(),
            },
            events: Vec::new(),
        },
    }
}

fn namespace(reads: &[&str], writes: &[&str]) -> NamespaceReadWriteSet {
    NamespaceReadWriteSet {
        namespace: "settlement".to_owned(),
        reads: reads
            .iter()
            .map(|key| KvRead {
                key: (*key).to_owned(),
                version: None,
            })
            .collect(),
        range_queries: Vec::new(),
        writes: writes
            .iter()
            .map(|key| KvWrite {
                key: (*key).to_owned(),
                value: None,
            })
            .collect(),
    }
}

#[test]
fn rw_set_must_be_canonical() {
    let sorted = action_with(ReadWriteSet {
        namespaces: vec![namespace(&["a", "b"], &["a", "c"])],
    });
    assert_eq!(sorted.check(), Ok(()));

    let duplicate_write = action_with(ReadWriteSet {
        namespaces: vec![namespace(&[], &["k", "k"])],
    });
    check_refused(
        &duplicate_write,
        InvalidMessage::NotCanonical {
            what: "rw-set writes",
        },
    );

    let unsorted_reads = action_with(ReadWriteSet {
        namespaces: vec![namespace(&["b", "a"], &[])],
    });
    check_refused(
        &unsorted_reads,
        InvalidMessage::NotCanonical {
            what: "rw-set reads",
        },
    );

    let twice_the_namespace = action_with(ReadWriteSet {
        namespaces: vec![namespace(&[], &[]), namespace(&[], &[])],
    });
    check_refused(
        &twice_the_namespace,
        InvalidMessage::NotCanonical {
            what: "rw-set namespaces",
        },
    );

    let long_key = "k".repeat(4_097);
    let too_long = action_with(ReadWriteSet {
        namespaces: vec![namespace(&[], &[long_key.as_str()])],
    });
    check_refused(
        &too_long,
        InvalidMessage::TooLong {
            what: "write key",
            max: 4_096,
            actual: 4_097,
        },
    );
}

#[test]
fn decode_refuses_what_encode_would_not_write() {
    // Swap two sorted writes inside valid bytes: the bytes decode structurally, and the
    // check turns them down, so no node accepts a second encoding of the same rw-set.
    let valid = encode(&action_with(ReadWriteSet {
        namespaces: vec![namespace(&[], &["a", "b"])],
    }))
    .unwrap();
    // Each write is: key length (u64 LE), key, option tag 0 (a delete).
    let writes = [
        1, 0, 0, 0, 0, 0, 0, 0, b'a', 0, 1, 0, 0, 0, 0, 0, 0, 0, b'b', 0,
    ];
    let at = find(&valid, &writes).unwrap();
    let mut swapped = valid.clone();
    swapped[at + 8] = b'b';
    swapped[at + 18] = b'a';
    assert_eq!(
        decode::<ProposalResponsePayload>(&swapped),
        Err(CodecError::Invalid {
            what: "proposal response payload",
            source: InvalidMessage::NotCanonical {
                what: "rw-set writes"
            }
        })
    );
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[test]
fn block_rules() {
    let block = Block::new(3, Hash::default(), Vec::new(), 0).unwrap();
    assert_eq!(block.check(), Ok(()));

    let mut codes_without_envelopes = block.clone();
    codes_without_envelopes.metadata.validation_codes = vec![ValidationCode::Valid];
    check_refused(
        &codes_without_envelopes,
        InvalidMessage::Inconsistent {
            what: "validation codes must be absent or one per envelope",
        },
    );

    let mut config_from_the_future = block.clone();
    config_from_the_future.metadata.last_config_index = 4;
    check_refused(
        &config_from_the_future,
        InvalidMessage::Inconsistent {
            what: "last config index is after the block",
        },
    );
}

#[test]
fn transaction_needs_endorsements_within_limit() {
    use netsettle_protocol::{
        Endorsement, Header, Nonce, Payload, Proposal, Timestamp, Transaction,
    };
    let response = action_with(ReadWriteSet::default());
    let endorsement = Endorsement {
        endorser: sample_identity("UnicomMSP"),
        signature: netsettle_smcrypto::PrivateKey::generate().sign(b"x"),
    };
    let transaction = |n: usize| {
        Payload::Transaction(Box::new(Transaction {
            proposal: Proposal {
                header: Header {
                    channel: "settlement".to_owned(),
                    creator: sample_identity("UnicomMSP"),
                    nonce: Nonce([1; 24]),
                    timestamp: Timestamp { unix_time_ms: 0 },
                },
                contract: response.action.contract.clone(),
                function: "Confirm".to_owned(),
                args: Vec::new(),
            },
            response: response.clone(),
            endorsements: vec![endorsement.clone(); n],
        }))
    };
    assert_eq!(transaction(2).check(), Ok(()));
    check_refused(
        &transaction(0),
        InvalidMessage::Empty {
            what: "endorsements",
        },
    );
    check_refused(
        &transaction(ENDORSEMENTS_MAX + 1),
        InvalidMessage::TooMany {
            what: "endorsements",
            max: ENDORSEMENTS_MAX,
            actual: ENDORSEMENTS_MAX + 1,
        },
    );
}

#[test]
fn large_transactions_fit_and_round_trip() {
    // Megabyte-sized arguments and values pass the upper steps of the decoder's
    // allocation-cap ladder, and a block of such envelopes decodes whole.
    use netsettle_protocol::{
        Endorsement, Envelope, Header, Nonce, Payload, Proposal, Timestamp, Transaction,
    };
    let key = netsettle_smcrypto::PrivateKey::generate();
    let report = vec![0xa5; 6 * 1024 * 1024];
    // Stored value and argument differ: an equal one would travel once, as a reference.
    let stored = vec![0x5a; 6 * 1024 * 1024];
    let mut payload = action_with(ReadWriteSet::default());
    payload
        .action
        .rw_set
        .namespaces
        .push(NamespaceReadWriteSet {
            writes: vec![KvWrite {
                key: "report/2026-10/UnicomMSP".to_owned(),
                value: Some(stored),
            }],
            ..namespace(&[], &[])
        });
    let envelope = |nonce: u8| {
        let transaction = Transaction {
            proposal: Proposal {
                header: Header {
                    channel: "settlement".to_owned(),
                    creator: sample_identity("UnicomMSP"),
                    nonce: Nonce([nonce; 24]),
                    timestamp: Timestamp { unix_time_ms: 0 },
                },
                contract: payload.action.contract.clone(),
                function: "UploadReport".to_owned(),
                args: vec![b"2026-10".to_vec(), report.clone()],
            },
            response: payload.clone(),
            endorsements: vec![
                Endorsement::sign(&key, sample_identity("UnicomMSP"), &payload).unwrap(),
            ],
        };
        Envelope::sign(&key, Payload::Transaction(Box::new(transaction))).unwrap()
    };
    let block = Block::new(
        1,
        Hash::default(),
        vec![envelope(1), envelope(2), envelope(3)],
        0,
    )
    .unwrap();
    let bytes = encode(&block).unwrap();
    assert!(bytes.len() > 36 * 1024 * 1024, "{} bytes", bytes.len());
    let back: Block = decode(&bytes).unwrap();
    assert_eq!(back.verify_data_hash(), Ok(()));
    assert_eq!(back, block);
}

#[test]
fn endpoints_parse_from_host_and_port() {
    let parsed: Endpoint = "peer0.unicom.example:7051".parse().unwrap();
    assert_eq!(
        parsed,
        Endpoint {
            host: "peer0.unicom.example".to_owned(),
            port: 7051
        }
    );
    let ipv6: Endpoint = "::1:7050".parse().unwrap();
    assert_eq!((ipv6.host.as_str(), ipv6.port), ("::1", 7050));
    let not_host_port = InvalidMessage::Inconsistent {
        what: "endpoint is not host:port",
    };
    assert_eq!("localhost".parse::<Endpoint>(), Err(not_host_port));
    let bad_port = InvalidMessage::Inconsistent {
        what: "endpoint port is not a number from 0 to 65535",
    };
    assert_eq!("host:70000".parse::<Endpoint>(), Err(bad_port.clone()));
    assert_eq!("host:".parse::<Endpoint>(), Err(bad_port));
    assert_eq!(
        ":7050".parse::<Endpoint>(),
        Err(InvalidMessage::Empty {
            what: "endpoint host"
        })
    );
}
