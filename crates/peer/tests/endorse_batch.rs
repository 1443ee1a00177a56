//! `peer-endorse-batch` on a real peer over the real network (127.0.18.x): every
//! proposal of a batch is checked, simulated and answered exactly as `peer-endorse`
//! answers it alone (a malformed one, a forged signature, a revoked creator and a
//! contract without a definition among good ones spoil nothing for the others), in the batch's order;
//! an empty batch, one over the count limit and bytes that are no batch are refused as a
//! whole. Every wait is on a response; a deadline only marks failure.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use netsettle_net::{NetError, Network, NodeId};
use netsettle_peer::lifecycle::{ContractDefinition, LIFECYCLE_NAMESPACE};
use netsettle_protocol::limits::ENDORSE_BATCH_PROPOSALS_MAX;
use netsettle_protocol::{
    ENDORSE_BATCH_SERVICE, ENDORSE_SERVICE, EndorseBatch, EndorseBatchReply, EndorseReply, Policy,
    Principal, Role, SignaturePolicy, SignedProposal, decode, encode,
};
use netsettle_testkit::peer::{KV_DIGEST_SEED, NetPeer, member_net_config};
use netsettle_testkit::tx::proposal_at;
use netsettle_testkit::{Consortium, Member};

const DEADLINE: Duration = Duration::from_secs(60);

fn now_ms() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u64::try_from(since.as_millis()).unwrap()
}

fn put(creator: &Member, seed: u64, key: &str) -> SignedProposal {
    proposal_at(
        creator,
        seed,
        "kv",
        "put",
        &[key.as_bytes(), b"value"],
        now_ms(),
    )
}

/// `admin` approves a definition of `kv` (the built-in lifecycle needs none itself).
fn approve(admin: &Member, seed: u64) -> SignedProposal {
    let definition = encode(&ContractDefinition {
        name: "kv".to_owned(),
        version: "1.0".to_owned(),
        sequence: 1,
        endorsement_policy: Policy::Signature(SignaturePolicy::SignedBy(Principal {
            msp_id: "UnicomMSP".to_owned(),
            role: Role::Peer,
        })),
        package_digest: netsettle_smcrypto::sm3(KV_DIGEST_SEED),
    })
    .unwrap();
    proposal_at(
        admin,
        seed,
        LIFECYCLE_NAMESPACE,
        "approve",
        &[&definition],
        now_ms(),
    )
}

async fn ask(
    client: &Network,
    peer: NodeId,
    service: &'static str,
    payload: Vec<u8>,
) -> Result<Vec<u8>, NetError> {
    tokio::time::timeout(DEADLINE, client.handle().request(peer, service, payload))
        .await
        .expect("an answer within the deadline")
}

/// What an answer says, without what differs between two signings of one endorsement
/// (the signature's randomness): endorsed with this payload, or refused with this status
/// and message.
fn gist(reply: &EndorseReply) -> String {
    match reply {
        EndorseReply::Endorsed(response) => format!(
            "endorsed by {} of {:?}",
            response.endorsement.endorser.msp_id,
            encode(&response.payload).unwrap()
        ),
        EndorseReply::Refused { status, message } => format!("refused {status}: {message}"),
    }
}

/// A batch's bytes put together by hand (version byte, count, then each item's length
/// and bytes; fixed-width little-endian integers), past the encoder's checks, as a
/// hostile client would send them. Checked against the encoder on a valid batch first.
fn raw_batch(items: &[Vec<u8>]) -> Vec<u8> {
    let build = |items: &[Vec<u8>]| {
        let version = encode(&EndorseBatch {
            proposals: vec![vec![1]],
        })
        .unwrap()[0];
        let mut bytes = vec![version];
        bytes.extend(u64::try_from(items.len()).unwrap().to_le_bytes());
        for item in items {
            bytes.extend(u64::try_from(item.len()).unwrap().to_le_bytes());
            bytes.extend(item);
        }
        bytes
    };
    let valid = [vec![1, 2], vec![3]];
    let expected = encode(&EndorseBatch {
        proposals: valid.to_vec(),
    })
    .unwrap();
    assert_eq!(
        build(&valid),
        expected,
        "the hand-made encoding is the encoder's"
    );
    build(items)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_proposal_of_a_batch_is_answered_as_if_it_came_alone() {
    let consortium = Consortium::new();
    let dir = tempfile::tempdir().unwrap();
    let served = NetPeer::start(
        &consortium,
        &consortium.unicom_peer,
        dir.path(),
        true,
        "127.0.18.1:0",
    )
    .await;
    let peer_net = &served.net;
    let mut client_config = member_net_config(
        &consortium.mobile_client,
        &consortium.config,
        "127.0.18.2:0",
    );
    client_config.known_peers = vec![(peer_net.node_id(), peer_net.listen_addr())];
    let client = Network::start(client_config).await.unwrap();
    let to = peer_net.node_id();

    let mut forged = put(&consortium.mobile_client, 3, "forged");
    forged.proposal.args[1] = b"another value".to_vec();
    let items: Vec<Vec<u8>> = vec![
        encode(&approve(&consortium.unicom_admin, 1)).unwrap(),
        vec![0xff; 64],
        encode(&forged).unwrap(),
        encode(&put(&consortium.revoked_client, 4, "revoked")).unwrap(),
        encode(&proposal_at(
            &consortium.mobile_client,
            5,
            "kv",
            "no-such-function",
            &[],
            now_ms(),
        ))
        .unwrap(),
        encode(&put(&consortium.unicom_client, 6, "b")).unwrap(),
        encode(&approve(&consortium.mobile_admin, 7)).unwrap(),
    ];
    let answer = ask(
        &client,
        to,
        ENDORSE_BATCH_SERVICE,
        encode(&EndorseBatch {
            proposals: items.clone(),
        })
        .unwrap(),
    )
    .await
    .unwrap();
    let batched = decode::<EndorseBatchReply>(&answer).unwrap().0;
    assert_eq!(batched.len(), items.len());
    for (index, (item, in_batch)) in items.iter().zip(&batched).enumerate() {
        let alone = ask(&client, to, ENDORSE_SERVICE, item.clone())
            .await
            .unwrap();
        let alone = decode::<EndorseReply>(&alone).unwrap();
        assert_eq!(gist(in_batch), gist(&alone), "proposal {index}");
    }
    assert!(matches!(batched[0], EndorseReply::Endorsed(_)));
    assert!(matches!(
        batched[1],
        EndorseReply::Refused { status: 400, .. }
    ));
    assert!(matches!(
        batched[2],
        EndorseReply::Refused { status: 403, .. }
    ));
    assert!(matches!(
        batched[3],
        EndorseReply::Refused { status: 403, .. }
    ));
    // `kv` has no committed definition on this channel.
    assert!(matches!(batched[4], EndorseReply::Refused { .. }));
    assert!(matches!(batched[5], EndorseReply::Refused { .. }));
    assert!(matches!(batched[6], EndorseReply::Endorsed(_)));

    // Refused as a whole: no proposal, one too many, bytes that are no batch.
    let empty = ask(&client, to, ENDORSE_BATCH_SERVICE, raw_batch(&[])).await;
    assert!(
        matches!(&empty, Err(NetError::Refused { reason, .. }) if reason.contains("empty")),
        "{empty:?}"
    );
    let one = encode(&put(&consortium.mobile_client, 7, "c")).unwrap();
    let too_many = vec![one; ENDORSE_BATCH_PROPOSALS_MAX + 1];
    let over = ask(&client, to, ENDORSE_BATCH_SERVICE, raw_batch(&too_many)).await;
    assert!(
        matches!(&over, Err(NetError::Refused { reason, .. }) if reason.contains("entries")),
        "{over:?}"
    );
    let garbage = ask(&client, to, ENDORSE_BATCH_SERVICE, vec![0xff; 40]).await;
    assert!(
        matches!(garbage, Err(NetError::Refused { .. })),
        "{garbage:?}"
    );

    client.shutdown().await;
    served.stop().await;
}
