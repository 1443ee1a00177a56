//! The codec's promises, message by message: every value round-trips, re-encoding what was
//! decoded gives back the same bytes, and hostile bytes (random, truncated, padded,
//! mis-versioned, oversized, deeply nested) yield a clear error and never a panic.

use std::fmt::Debug;

use netsettle_protocol::limits::{CODEC_VERSION, POLICY_DEPTH_MAX};
use netsettle_protocol::{
    Block, BlockHeader, BlockMetadata, BroadcastResponse, BroadcastStatus, ChannelConfig,
    CodecError, ConfigUpdate, DeliverRequest, DeliverResponse, Envelope, Identity, InvalidMessage,
    Payload, Proposal, ProposalResponse, ProposalResponsePayload, SignedDeliverRequest,
    SignedProposal, ValidationCode, Wire, decode, encode,
};
use netsettle_smcrypto::{Hash, sm3};
use netsettle_testkit::arbitrary::*;
use proptest::prelude::*;

/// The one caller of encode/decode in the round-trip tests: the value comes back equal,
/// and its bytes are a fixed point of decode-then-encode.
fn check_round_trip<T: Wire + PartialEq + Debug>(value: &T) -> Result<(), TestCaseError> {
    let bytes = encode(value).map_err(|e| TestCaseError::fail(format!("encode: {e}")))?;
    prop_assert_eq!(bytes.first(), Some(&CODEC_VERSION));
    let back: T = decode(&bytes).map_err(|e| TestCaseError::fail(format!("decode: {e}")))?;
    prop_assert_eq!(&back, value);
    prop_assert_eq!(encode(&back).ok(), Some(bytes));
    Ok(())
}

/// Decoding arbitrary bytes as `T` must not panic; if it happens to succeed, the input
/// must have been canonical.
fn check_arbitrary<T: Wire>(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(value) = decode::<T>(bytes) {
        let again = encode(&value).map_err(|e| TestCaseError::fail(format!("re-encode: {e}")))?;
        prop_assert_eq!(again.as_slice(), bytes);
    }
    Ok(())
}

/// Every proper prefix of a valid encoding fails with an error that says the input ended
/// early (or that a length prefix points past it).
fn check_truncations<T: Wire + Debug>(value: &T) -> Result<(), TestCaseError> {
    let bytes = encode(value).map_err(|e| TestCaseError::fail(format!("encode: {e}")))?;
    for len in 0..bytes.len() {
        let error = decode::<T>(&bytes[..len]).err();
        let clear = matches!(
            error,
            Some(
                CodecError::Empty { .. }
                    | CodecError::Truncated { .. }
                    | CodecError::LengthOutOfRange { .. }
            )
        );
        prop_assert!(clear, "prefix of {} bytes: {:?}", len, error);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn proposal_round_trips(value in proposal()) { check_round_trip(&value)?; }

    #[test]
    fn signed_proposal_round_trips(value in signed_proposal()) { check_round_trip(&value)?; }

    #[test]
    fn response_payload_round_trips(value in response_payload()) { check_round_trip(&value)?; }

    #[test]
    fn proposal_response_round_trips(value in proposal_response()) { check_round_trip(&value)?; }

    #[test]
    fn payload_round_trips(value in payload()) { check_round_trip(&value)?; }

    #[test]
    fn envelope_round_trips(value in envelope()) { check_round_trip(&value)?; }

    #[test]
    fn channel_config_round_trips(value in channel_config()) { check_round_trip(&value)?; }

    #[test]
    fn config_update_round_trips(value in config_update()) { check_round_trip(&value)?; }

    #[test]
    fn block_header_round_trips(value in block_header()) { check_round_trip(&value)?; }

    #[test]
    fn block_metadata_round_trips(value in block_metadata()) { check_round_trip(&value)?; }

    #[test]
    fn block_round_trips(value in block()) { check_round_trip(&value)?; }

    #[test]
    fn broadcast_response_round_trips(value in broadcast_response()) { check_round_trip(&value)?; }

    #[test]
    fn deliver_request_round_trips(value in deliver_request()) { check_round_trip(&value)?; }

    #[test]
    fn signed_deliver_request_round_trips(value in signed_deliver_request()) { check_round_trip(&value)?; }

    #[test]
    fn deliver_response_round_trips(value in deliver_response()) { check_round_trip(&value)?; }

    #[test]
    fn validation_code_byte_round_trips(code in validation_code()) {
        prop_assert_eq!(ValidationCode::try_from(code.to_byte()), Ok(code));
    }

    #[test]
    fn truncated_envelopes_fail_clearly(value in envelope()) { check_truncations(&value)?; }

    #[test]
    fn truncated_blocks_fail_clearly(value in block()) { check_truncations(&value)?; }

    #[test]
    fn truncated_signed_proposals_fail_clearly(value in signed_proposal()) { check_truncations(&value)?; }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
        // Behind a valid version byte, so the decoders get past the first check.
        let mut bytes = vec![CODEC_VERSION];
        bytes.extend_from_slice(&tail);
        check_arbitrary::<Proposal>(&bytes)?;
        check_arbitrary::<SignedProposal>(&bytes)?;
        check_arbitrary::<ProposalResponsePayload>(&bytes)?;
        check_arbitrary::<ProposalResponse>(&bytes)?;
        check_arbitrary::<Payload>(&bytes)?;
        check_arbitrary::<Envelope>(&bytes)?;
        check_arbitrary::<ChannelConfig>(&bytes)?;
        check_arbitrary::<ConfigUpdate>(&bytes)?;
        check_arbitrary::<BlockHeader>(&bytes)?;
        check_arbitrary::<BlockMetadata>(&bytes)?;
        check_arbitrary::<Block>(&bytes)?;
        check_arbitrary::<BroadcastResponse>(&bytes)?;
        check_arbitrary::<DeliverRequest>(&bytes)?;
        check_arbitrary::<SignedDeliverRequest>(&bytes)?;
        check_arbitrary::<DeliverResponse>(&bytes)?;
        check_arbitrary::<Block>(&tail)?;
    }

    #[test]
    fn mutated_envelopes_never_panic(
        value in envelope(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
    ) {
        let mut bytes = encode(&value).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (index, mask) in flips {
            let at = index.index(bytes.len());
            bytes[at] ^= mask;
        }
        check_arbitrary::<Envelope>(&bytes)?;
    }
}

#[test]
fn trailing_bytes_are_rejected() {
    let mut bytes = encode(&BroadcastResponse {
        status: BroadcastStatus::Success,
        info: String::new(),
        leader: None,
    })
    .unwrap();
    bytes.push(0);
    assert_eq!(
        decode::<BroadcastResponse>(&bytes),
        Err(CodecError::TrailingBytes {
            what: "broadcast response",
            count: 1
        })
    );
    // A fixed-size message with a byte too many is already over its limit.
    let mut header = encode(&sample_header()).unwrap();
    header.push(0);
    assert!(matches!(
        decode::<BlockHeader>(&header),
        Err(CodecError::TooLarge { .. })
    ));
}

#[test]
fn unknown_version_is_rejected() {
    let mut bytes = encode(&sample_header()).unwrap();
    bytes[0] = 2;
    assert_eq!(
        decode::<BlockHeader>(&bytes),
        Err(CodecError::UnknownVersion {
            what: "block header",
            version: 2
        })
    );
    assert_eq!(
        decode::<BlockHeader>(&[]),
        Err(CodecError::Empty {
            what: "block header"
        })
    );
}

#[test]
fn oversized_input_is_rejected_before_decoding() {
    // A valid response padded past the limit: the outer length check fires first.
    let mut bytes = encode(&BroadcastResponse {
        status: BroadcastStatus::Success,
        info: String::new(),
        leader: None,
    })
    .unwrap();
    bytes.resize(BroadcastResponse::BYTES_MAX + 1, 0);
    assert_eq!(
        decode::<BroadcastResponse>(&bytes),
        Err(CodecError::TooLarge {
            what: "broadcast response",
            max: BroadcastResponse::BYTES_MAX,
            actual: BroadcastResponse::BYTES_MAX + 1
        })
    );
}

#[test]
fn huge_length_prefix_fails_without_allocating() {
    // Version, then a Proposal whose channel name claims 2^62 bytes: the decoder must refuse
    // the claim instead of trying to allocate it.
    let mut bytes = vec![CODEC_VERSION];
    bytes.extend_from_slice(&(1u64 << 62).to_le_bytes());
    bytes.extend_from_slice(b"settlement");
    assert_eq!(
        decode::<Proposal>(&bytes),
        Err(CodecError::LengthOutOfRange { what: "proposal" })
    );
}

#[test]
fn oversized_field_is_rejected_on_encode_and_decode() {
    let response = BroadcastResponse {
        status: BroadcastStatus::BadRequest,
        info: "x".repeat(5_000),
        leader: None,
    };
    let expected = InvalidMessage::TooLong {
        what: "broadcast info",
        max: 4_096,
        actual: 5_000,
    };
    assert_eq!(
        encode(&response),
        Err(CodecError::Invalid {
            what: "broadcast response",
            source: expected.clone()
        })
    );
    // Hand-built bytes with the same oversized field are refused by decode too.
    let mut bytes = vec![CODEC_VERSION];
    bytes.extend_from_slice(&1u32.to_le_bytes()); // BadRequest
    bytes.extend_from_slice(&5_000u64.to_le_bytes());
    bytes.extend_from_slice(&[b'x'; 5_000]);
    bytes.push(0); // no leader hint
    assert_eq!(
        decode::<BroadcastResponse>(&bytes),
        Err(CodecError::Invalid {
            what: "broadcast response",
            source: expected
        })
    );
}

#[test]
fn invalid_tags_are_malformed() {
    // BroadcastStatus has 7 variants; tag 7 names none.
    let mut bytes = vec![CODEC_VERSION];
    bytes.extend_from_slice(&7u32.to_le_bytes());
    bytes.extend_from_slice(&0u64.to_le_bytes());
    assert!(matches!(
        decode::<BroadcastResponse>(&bytes),
        Err(CodecError::Malformed { .. })
    ));
    // A validation code byte that names no code.
    let mut metadata = encode(&BlockMetadata {
        signatures: Vec::new(),
        last_config_index: 0,
        validation_codes: vec![ValidationCode::Valid],
    })
    .unwrap();
    let last = metadata.len() - 1;
    metadata[last] = 200;
    assert!(matches!(
        decode::<BlockMetadata>(&metadata),
        Err(CodecError::Malformed { .. })
    ));
}

/// The wire format, pinned byte for byte: version 1, little-endian fixed-width integers,
/// 8-byte length prefixes. A change here breaks every stored ledger.
#[test]
fn encoding_is_pinned() {
    let header = BlockHeader {
        number: 2,
        previous_hash: Hash([0x11; 32]),
        data_hash: Hash([0x22; 32]),
        timestamp: netsettle_protocol::Timestamp { unix_time_ms: 3 },
    };
    let mut expected = vec![0x01, 2, 0, 0, 0, 0, 0, 0, 0];
    expected.extend_from_slice(&[0x11; 32]);
    expected.extend_from_slice(&[0x22; 32]);
    expected.extend_from_slice(&[3, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(encode(&header).unwrap(), expected);
    assert_eq!(header.hash(), sm3(&expected));

    let request = DeliverRequest {
        channel: "c".to_owned(),
        requester: Identity {
            msp_id: "M".to_owned(),
            cert_der: vec![0xab],
        },
        nonce: netsettle_protocol::Nonce([7; 24]),
        timestamp: netsettle_protocol::Timestamp { unix_time_ms: 1 },
        start: netsettle_protocol::SeekPosition::Specified(5),
        stop: None,
    };
    let mut expected = vec![0x01];
    expected.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, b'c']);
    expected.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, b'M']);
    expected.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0xab]);
    expected.extend_from_slice(&[7; 24]);
    expected.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
    expected.extend_from_slice(&[2, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0]);
    expected.push(0);
    assert_eq!(encode(&request).unwrap(), expected);
}

#[test]
fn deeply_nested_policy_is_refused_while_decoding() {
    // Exactly at the limit decodes; one more level, or a hostile 100 000, is refused by the
    // depth guard before the stack could overflow.
    assert!(decode::<ChannelConfig>(&config_with_nested_readers(POLICY_DEPTH_MAX)).is_ok());
    for depth in [POLICY_DEPTH_MAX + 1, 100_000] {
        match decode::<ChannelConfig>(&config_with_nested_readers(depth)) {
            Err(CodecError::Malformed { reason, .. }) => {
                assert!(reason.contains("nested"), "{reason}")
            }
            other => panic!("depth {depth}: expected a nesting error, got {other:?}"),
        }
    }
}

#[test]
fn over_deep_policy_is_refused_on_encode() {
    use netsettle_protocol::{Policy, Principal, Role, SignaturePolicy};
    let mut policy = SignaturePolicy::SignedBy(Principal {
        msp_id: "MobileMSP".to_owned(),
        role: Role::Member,
    });
    for _ in 0..POLICY_DEPTH_MAX {
        policy = SignaturePolicy::And(vec![policy]);
    }
    let mut config = sample_config();
    config.orgs[0].policies.readers = Policy::Signature(policy);
    assert!(matches!(
        encode(&config),
        Err(CodecError::Invalid {
            source: InvalidMessage::TooMany {
                what: "signature policy depth",
                ..
            },
            ..
        })
    ));
}

/// The sample config's encoding with its first Readers policy (`SignedBy(MobileMSP
/// member)`) wrapped in `depth - 1` single-rule `And`s, spliced in by hand because
/// `encode` would refuse to write an over-deep policy.
fn config_with_nested_readers(depth: usize) -> Vec<u8> {
    let valid = encode(&sample_config()).unwrap();
    let mut signed_by = Vec::new();
    signed_by.extend_from_slice(&0u32.to_le_bytes()); // Policy::Signature
    signed_by.extend_from_slice(&0u32.to_le_bytes()); // SignaturePolicy::SignedBy
    signed_by.extend_from_slice(&9u64.to_le_bytes());
    signed_by.extend_from_slice(b"MobileMSP");
    signed_by.extend_from_slice(&0u32.to_le_bytes()); // Role::Member
    let at =
        find(&valid, &signed_by).expect("the sample's first policy is SignedBy(MobileMSP member)");
    let after_policy_tag = at + 4;
    let mut bytes = valid[..after_policy_tag].to_vec();
    for _ in 1..depth {
        bytes.extend_from_slice(&1u32.to_le_bytes()); // SignaturePolicy::And
        bytes.extend_from_slice(&1u64.to_le_bytes()); // with one rule
    }
    bytes.extend_from_slice(&valid[after_policy_tag..]);
    bytes
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn sample_header() -> BlockHeader {
    BlockHeader {
        number: 7,
        previous_hash: sm3(b"previous"),
        data_hash: sm3(b"data"),
        timestamp: netsettle_protocol::Timestamp {
            unix_time_ms: 1_795_000_000_000,
        },
    }
}
