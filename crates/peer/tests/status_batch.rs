//! `peer-tx-status-batch` on a real peer over the real network (127.0.17.x): one long
//! poll for many commit waits. It answers at once when one of its transactions is
//! already committed, otherwise when the first block holding one of them commits, each
//! transaction's own status in the order asked; it refuses malformed, empty and oversize
//! requests with nothing changed, and admits only a few polls per caller. Every wait is
//! on a response or an event; a deadline only marks failure.

use std::time::Duration;

use netsettle_net::{NetError, Network, NodeId};
use netsettle_peer::limits::STATUS_BATCHES_OPEN_PER_NODE_MAX;
use netsettle_protocol::limits::TX_STATUS_BATCH_IDS_MAX;
use netsettle_protocol::{
    TX_STATUS_BATCH_SERVICE, TxId, TxStatus, TxStatusBatch, TxStatusBatchRequest, ValidationCode,
    decode, encode,
};
use netsettle_testkit::Consortium;
use netsettle_testkit::peer::{NetPeer, chain, member_net_config};

const DEADLINE: Duration = Duration::from_secs(60);

fn never(n: u16) -> TxId {
    let [high, low] = n.to_be_bytes();
    TxId(netsettle_smcrypto::sm3(&[high, low, 0xee]))
}

/// A request's bytes put together by hand (version byte, id count, ids, wait; fixed-width
/// little-endian integers), past the encoder's own checks, to send what a hostile client
/// would. Checked against the encoder on a valid request first.
fn raw_request(tx_ids: &[TxId], wait_ms: u64) -> Vec<u8> {
    let build = |tx_ids: &[TxId]| {
        let one = encode(&TxStatusBatchRequest {
            tx_ids: vec![never(0)],
            wait_ms,
        })
        .unwrap();
        let id_bytes = one.len() - 1 - 8 - 8;
        let mut bytes = vec![one[0]];
        bytes.extend(u64::try_from(tx_ids.len()).unwrap().to_le_bytes());
        for tx_id in tx_ids {
            let encoded = encode(&TxStatusBatchRequest {
                tx_ids: vec![*tx_id],
                wait_ms,
            })
            .unwrap();
            bytes.extend(&encoded[9..9 + id_bytes]);
        }
        bytes.extend(wait_ms.to_le_bytes());
        bytes
    };
    let valid = [never(7), never(8)];
    let expected = encode(&TxStatusBatchRequest {
        tx_ids: valid.to_vec(),
        wait_ms,
    })
    .unwrap();
    assert_eq!(
        build(&valid),
        expected,
        "the hand-made encoding is the encoder's"
    );
    build(tx_ids)
}

async fn ask(client: &Network, peer: NodeId, payload: Vec<u8>) -> Result<Vec<u8>, NetError> {
    tokio::time::timeout(
        DEADLINE,
        client
            .handle()
            .request(peer, TX_STATUS_BATCH_SERVICE, payload),
    )
    .await
    .expect("an answer within the deadline")
}

fn statuses(answer: &[u8]) -> Vec<TxStatus> {
    decode::<TxStatusBatch>(answer).unwrap().statuses
}

fn refused(answer: &Result<Vec<u8>, NetError>, words: &str) -> bool {
    matches!(answer, Err(NetError::Refused { reason, .. }) if reason.contains(words))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_poll_answers_many_waits_at_the_first_commit() {
    let consortium = Consortium::new();
    let dir = tempfile::tempdir().unwrap();
    let served = NetPeer::start(
        &consortium,
        &consortium.unicom_peer,
        dir.path(),
        false,
        "127.0.17.1:0",
    )
    .await;
    let (peer, blocks, peer_net) = (&served.peer, &served.blocks, &served.net);
    let mut client_config = member_net_config(
        &consortium.mobile_client,
        &consortium.config,
        "127.0.17.2:0",
    );
    // This client tests the peer's bound, so its own must not stop it first.
    client_config.limits.streams_per_node_max = STATUS_BATCHES_OPEN_PER_NODE_MAX + 8;
    client_config.known_peers = vec![(peer_net.node_id(), peer_net.listen_addr())];
    let client = Network::start(client_config).await.unwrap();
    let to = peer_net.node_id();

    // Bad requests are refused: malformed bytes, no id, too many ids.
    let garbage = ask(&client, to, vec![0xff; 40]).await;
    assert!(
        matches!(garbage, Err(NetError::Refused { .. })),
        "{garbage:?}"
    );
    let empty = ask(&client, to, raw_request(&[], 0)).await;
    assert!(refused(&empty, "empty"), "{empty:?}");
    let ids: Vec<TxId> = (0..=u16::try_from(TX_STATUS_BATCH_IDS_MAX).unwrap())
        .map(never)
        .collect();
    let oversize = ask(&client, to, raw_request(&ids, 0)).await;
    assert!(refused(&oversize, "entries"), "{oversize:?}");
    // A full batch is fine: none committed, nothing to wait for.
    let ids: Vec<TxId> = (0..u16::try_from(TX_STATUS_BATCH_IDS_MAX).unwrap())
        .map(never)
        .collect();
    let answer = ask(&client, to, raw_request(&ids, 0)).await.unwrap();
    let answered = statuses(&answer);
    assert_eq!(answered.len(), TX_STATUS_BATCH_IDS_MAX);
    assert!(
        answered
            .iter()
            .all(|status| matches!(status, TxStatus::NotCommitted { height: 1 }))
    );

    // A poll for two transactions that never commit and one that will: it waits, and
    // the block holding the one answers it, each in its place.
    let blocks_to_come = chain(&consortium, consortium.orderer(), 2);
    let tx_of = |number: usize| blocks_to_come[number].data[0].tx_id();
    let (first, second) = (tx_of(1), tx_of(2));
    let waiting = ask(
        &client,
        to,
        encode(&TxStatusBatchRequest {
            tx_ids: vec![never(1), first, never(2)],
            wait_ms: 30_000,
        })
        .unwrap(),
    );
    let commit = async {
        blocks.send(blocks_to_come[1].clone()).await.unwrap();
        assert!(peer.wait_for_height(2).await);
    };
    let (answer, ()) = tokio::join!(waiting, commit);
    let answered = statuses(&answer.unwrap());
    assert!(matches!(answered[0], TxStatus::NotCommitted { .. }));
    // Endorsed by Unicom's peer alone: committed, and marked invalid by the policy.
    assert!(matches!(
        answered[1],
        TxStatus::Committed { block: 1, tx: 0, code } if code != ValidationCode::Valid
    ));
    assert!(matches!(answered[2], TxStatus::NotCommitted { .. }));

    // Already committed: answered at once, whatever the wait asked for; a repeated id is
    // answered at each of its places.
    blocks.send(blocks_to_come[2].clone()).await.unwrap();
    assert!(peer.wait_for_height(3).await);
    let answer = ask(
        &client,
        to,
        encode(&TxStatusBatchRequest {
            tx_ids: vec![second, never(3), first, second],
            wait_ms: 30_000,
        })
        .unwrap(),
    )
    .await
    .unwrap();
    let answered = statuses(&answer);
    assert!(matches!(answered[0], TxStatus::Committed { block: 2, .. }));
    assert!(matches!(answered[1], TxStatus::NotCommitted { height: 3 }));
    assert!(matches!(answered[2], TxStatus::Committed { block: 1, .. }));
    assert_eq!(answered[3], answered[0]);

    // One caller holds at most its share of waiting polls; the next is told the service
    // is busy, and nothing else changed (a quick poll is answered once the others end).
    let mut polls = tokio::task::JoinSet::new();
    let held = u16::try_from(STATUS_BATCHES_OPEN_PER_NODE_MAX).unwrap();
    for n in 0..=held {
        let handle = client.handle();
        polls.spawn(async move {
            let request = TxStatusBatchRequest {
                tx_ids: vec![never(100 + n)],
                wait_ms: 30_000,
            };
            handle
                .request(to, TX_STATUS_BATCH_SERVICE, encode(&request).unwrap())
                .await
        });
    }
    let busy = tokio::time::timeout(DEADLINE, polls.join_next())
        .await
        .expect("a refusal within the deadline")
        .unwrap()
        .unwrap();
    assert!(refused(&busy, "busy"), "{busy:?}");
    polls.abort_all();

    client.shutdown().await;
    served.stop().await;
}
