//! Assembling endorsed transactions: the checks that stop a doomed transaction before it
//! costs a trip through ordering, and the envelope the orderers receive.

use netsettle_client::{ClientError, Signer, assemble, assemble_verified};
use netsettle_protocol::{
    ContractAction, ContractEvent, ContractId, Endorsement, Identity, KvWrite,
    NamespaceReadWriteSet, Nonce, Payload, ProposalResponse, ProposalResponsePayload, ReadWriteSet,
    Response, SignedProposal, Timestamp,
};
use netsettle_smcrypto::PrivateKey;
use netsettle_smcrypto::x509::{self, CertificateParams, Role, SubjectName};

const NOW: i64 = 1_790_000_000;

fn member(name: &str, msp_id: &str, role: Role) -> (PrivateKey, Identity) {
    let key = PrivateKey::generate();
    let params = CertificateParams::end_entity(
        SubjectName {
            common_name: name.to_owned(),
            organization: Some(msp_id.to_owned()),
            organizational_units: Vec::new(),
            country: None,
        },
        role,
        NOW - 60,
        NOW + 86_400,
    )
    .unwrap();
    let cert = x509::self_signed(&params, &key).unwrap();
    let identity = Identity {
        msp_id: msp_id.to_owned(),
        cert_der: cert.der().to_vec(),
    };
    (key, identity)
}

fn contract() -> ContractId {
    ContractId {
        name: "settlement".into(),
        version: "1.0".into(),
    }
}

fn proposal(client: &Signer) -> SignedProposal {
    client
        .propose_at(
            "settlement",
            contract(),
            "upload",
            vec![b"2026-10".to_vec()],
            Nonce([7; 24]),
            Timestamp {
                unix_time_ms: 1_790_000_000_000,
            },
        )
        .unwrap()
}

fn action(value: &[u8], status: u32) -> ContractAction {
    ContractAction {
        contract: contract(),
        rw_set: ReadWriteSet {
            namespaces: vec![NamespaceReadWriteSet {
                namespace: "settlement".into(),
                reads: Vec::new(),
                range_queries: Vec::new(),
                writes: vec![KvWrite {
                    key: "report".into(),
                    value: Some(value.to_vec()),
                }],
            }],
        },
        response: Response {
            status,
            message: String::new(),
            payload: Vec::new(),
        },
        events: vec![ContractEvent {
            name: "ReportUploaded".into(),
            payload: Vec::new(),
        }],
    }
}

fn endorse(
    peer: &(PrivateKey, Identity),
    proposal: &SignedProposal,
    action: ContractAction,
) -> ProposalResponse {
    let payload = ProposalResponsePayload {
        proposal_hash: proposal.proposal.hash().unwrap(),
        action,
    };
    let endorsement = Endorsement::sign(&peer.0, peer.1.clone(), &payload).unwrap();
    ProposalResponse {
        payload,
        endorsement,
    }
}

struct World {
    client: Signer,
    unicom_peer: (PrivateKey, Identity),
    mobile_peer: (PrivateKey, Identity),
}

fn world() -> World {
    let (key, identity) = member("settlement@unicom.example", "UnicomMSP", Role::Client);
    World {
        client: Signer::new(key, identity),
        unicom_peer: member("peer0.unicom.example", "UnicomMSP", Role::Peer),
        mobile_peer: member("peer0.mobile.example", "MobileMSP", Role::Peer),
    }
}

#[test]
fn two_agreeing_endorsements_make_a_signed_envelope() {
    let w = world();
    let signed = proposal(&w.client);
    let responses = vec![
        endorse(&w.unicom_peer, &signed, action(b"v", 200)),
        endorse(&w.mobile_peer, &signed, action(b"v", 200)),
    ];
    let endorsed = assemble(&w.client, &signed, responses).unwrap();
    assert_eq!(endorsed.response.status, 200);
    assert_eq!(endorsed.envelope.tx_id(), signed.tx_id());
    let client_cert = x509::Certificate::from_der(&w.client.identity().cert_der).unwrap();
    endorsed.envelope.verify(client_cert.public_key()).unwrap();
    let Payload::Transaction(transaction) = &endorsed.envelope.payload else {
        panic!("not a transaction");
    };
    assert_eq!(transaction.endorsements.len(), 2);
    for (index, peer) in [&w.unicom_peer, &w.mobile_peer].into_iter().enumerate() {
        let cert = x509::Certificate::from_der(&peer.1.cert_der).unwrap();
        transaction
            .verify_endorsement(index, cert.public_key())
            .unwrap();
    }
    // The envelope survives the wire codec unchanged.
    let bytes = netsettle_protocol::encode(&endorsed.envelope).unwrap();
    assert_eq!(
        netsettle_protocol::decode::<netsettle_protocol::Envelope>(&bytes).unwrap(),
        endorsed.envelope
    );
}

#[test]
fn doomed_transactions_are_stopped_with_the_reason() {
    let w = world();
    let signed = proposal(&w.client);
    let other = w
        .client
        .propose_at(
            "settlement",
            contract(),
            "upload",
            vec![b"2026-11".to_vec()],
            Nonce([8; 24]),
            Timestamp { unix_time_ms: 1 },
        )
        .unwrap();
    let good = endorse(&w.unicom_peer, &signed, action(b"v", 200));

    let check =
        |responses: Vec<ProposalResponse>| assemble(&w.client, &signed, responses).unwrap_err();
    assert!(matches!(check(Vec::new()), ClientError::NoEndorsements));
    assert!(matches!(
        check(vec![
            good.clone(),
            endorse(&w.mobile_peer, &other, action(b"v", 200))
        ]),
        ClientError::WrongProposal { index: 1 }
    ));
    assert!(matches!(
        check(vec![
            good.clone(),
            endorse(&w.mobile_peer, &signed, action(b"w", 200))
        ]),
        ClientError::Mismatch {
            index: 1,
            what: "read-write set"
        }
    ));
    assert!(matches!(
        check(vec![endorse(&w.mobile_peer, &signed, action(b"v", 409))]),
        ClientError::Refused {
            index: 0,
            status: 409,
            ..
        }
    ));
    assert!(matches!(
        check(vec![good.clone(), good.clone()]),
        ClientError::DuplicateEndorser { index: 1 }
    ));
    // A response whose payload differs only in the response message: another payload.
    assert!(matches!(
        check(vec![good.clone(), {
            let mut edited = endorse(&w.mobile_peer, &signed, action(b"v", 200));
            edited.payload.action.response.message = "edited".into();
            edited
        }]),
        ClientError::Mismatch {
            index: 1,
            what: "response"
        }
    ));
}

/// Responses altered after signing: identical payloads, signatures over other bytes.
fn forged(w: &World, signed: &SignedProposal) -> Vec<ProposalResponse> {
    let mut unicom = endorse(&w.unicom_peer, signed, action(b"v", 200));
    let mut mobile = endorse(&w.mobile_peer, signed, action(b"v", 200));
    unicom.payload.action.response.message = "edited".into();
    mobile.payload.action.response.message = "edited".into();
    vec![unicom, mobile]
}

#[test]
fn bad_endorsement_signatures_are_left_to_the_committing_peers_unless_asked_to_verify() {
    let w = world();
    let signed = proposal(&w.client);
    // Assembled as they are: every committing peer verifies endorsements and marks such a
    // transaction BAD_SIGNATURE (crates/peer/tests/peer.rs,
    // `a_rw_set_tampered_after_endorsement_is_a_bad_signature`).
    let endorsed = assemble(&w.client, &signed, forged(&w, &signed)).unwrap();
    let Payload::Transaction(transaction) = &endorsed.envelope.payload else {
        panic!("not a transaction");
    };
    assert_eq!(transaction.response.action.response.message, "edited");
    let cert = x509::Certificate::from_der(&w.unicom_peer.1.cert_der).unwrap();
    assert!(
        transaction
            .verify_endorsement(0, cert.public_key())
            .is_err()
    );

    // Verified on request: refused, naming the first that fails.
    assert!(matches!(
        assemble_verified(&w.client, &signed, forged(&w, &signed)),
        Err(ClientError::BadEndorsement { index: 0, .. })
    ));
    let honest = vec![
        endorse(&w.unicom_peer, &signed, action(b"v", 200)),
        endorse(&w.mobile_peer, &signed, action(b"v", 200)),
    ];
    assemble_verified(&w.client, &signed, honest).unwrap();
    // An endorser certificate that does not parse is refused too.
    let mut garbled = endorse(&w.mobile_peer, &signed, action(b"v", 200));
    garbled.endorsement.endorser.cert_der = vec![0x30, 0x00];
    assert!(matches!(
        assemble_verified(&w.client, &signed, vec![garbled]),
        Err(ClientError::BadEndorsement { index: 0, .. })
    ));
}
