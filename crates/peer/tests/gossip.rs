//! The acceptance rules for gossiped blocks (`netsettle_peer::gossip::judge`) and the
//! buffer for blocks from the future, table-driven: each case is a receiver at some
//! height, the bytes a peer sent, and the verdict written out.

use netsettle_msp::ChannelState;
use netsettle_peer::gossip::{FutureBlocks, Intake, Route, Tip, judge};
use netsettle_peer::limits::FUTURE_BLOCKS_MAX;
use netsettle_peer::service::PeerHandle;
use netsettle_protocol::limits::BLOCK_BYTES_MAX;
use netsettle_protocol::{Block, encode};
use netsettle_smcrypto::x509::Role;
use netsettle_testkit::Consortium;
use netsettle_testkit::peer::{chain, start_peer};
use netsettle_testkit::tx::{proposal, transaction, writes};
use tokio::sync::mpsc;

/// A receiver whose ledger holds `chain[..height]`.
fn tip_of(chain: &[Block], height: u64) -> Tip {
    Tip {
        height,
        last_hash: chain[usize::try_from(height).unwrap() - 1].hash(),
    }
}

/// The verdict, as a short text: what the peer would do with the message.
fn check(net: &Consortium, chain: &[Block], height: u64, payload: &[u8]) -> String {
    let channel = ChannelState::new(net.config.clone(), 0).unwrap();
    let committed =
        |number: u64| (number < height).then(|| chain[usize::try_from(number).unwrap()].hash());
    match judge(&channel, tip_of(chain, height), committed, payload) {
        Ok(netsettle_peer::gossip::Judgement::Next(block)) => {
            format!("next {}", block.header.number)
        }
        Ok(netsettle_peer::gossip::Judgement::Duplicate { number }) => {
            format!("duplicate {number}")
        }
        Ok(netsettle_peer::gossip::Judgement::Future(block)) => {
            format!("future {}", block.header.number)
        }
        Ok(netsettle_peer::gossip::Judgement::LaterConfig { number }) => {
            format!("later config {number}")
        }
        Err(refusal) => {
            let text = refusal.to_string();
            let short: String = text.chars().take(60).collect();
            format!("refused: {short}")
        }
    }
}

#[test]
fn gossiped_blocks_are_judged_before_they_are_forwarded_or_committed() {
    let net = Consortium::new();
    let good = chain(&net, net.orderer(), 6);
    // The same positions signed by a client, not an orderer.
    let forged = chain(&net, &net.unicom_client, 6);
    // A competing chain an orderer signed: same numbers, other contents.
    let other = {
        let signed = proposal(&net.mobile_client, 99, "kv", "put", &[]);
        let envelope = transaction(
            &signed.proposal,
            &net.mobile_client,
            writes("kv", &[("k", Some("w"))]),
            &[&net.mobile_peer],
        );
        let mut block = Block::new(2, good[1].hash(), vec![envelope], 0).unwrap();
        block
            .sign(&net.orderer().key, net.orderer().identity())
            .unwrap();
        block
    };
    let mut tampered = good[3].clone();
    tampered.data.clear();
    tampered.data.push(other.data[0].clone());
    let mut broken_link = Block::new(3, other.hash(), good[3].data.clone(), 0).unwrap();
    broken_link
        .sign(&net.orderer().key, net.orderer().identity())
        .unwrap();
    // Signed by someone this config does not name as an orderer, but claiming a config
    // from block 4 on: perhaps a consenter added there.
    let mut later_config = Block::new(5, good[4].hash(), good[5].data.clone(), 4).unwrap();
    later_config
        .sign(&net.unicom_client.key, net.unicom_client.identity())
        .unwrap();
    // Unicom's CA mints an orderer-role certificate that no consenter has: a forged next
    // block signed with it, and the real next block re-signed with it.
    let orderer9 = net.unicom.member("orderer9", Role::Orderer);
    let forged_by_orderer9 = chain(&net, &orderer9, 6);
    let mut resigned = good[3].clone();
    resigned.metadata.signatures.clear();
    resigned.sign(&orderer9.key, orderer9.identity()).unwrap();
    let bytes = |block: &Block| encode(block).unwrap();

    let oversize = format!("refused: {} bytes, over the", BLOCK_BYTES_MAX + 1);
    let cases: Vec<(&str, u64, Vec<u8>, &str)> = vec![
        ("the next block", 3, bytes(&good[3]), "next 3"),
        ("already committed", 3, bytes(&good[1]), "duplicate 1"),
        ("two ahead", 3, bytes(&good[5]), "future 5"),
        (
            "signed by a client",
            3,
            bytes(&forged[3]),
            "refused: block 3 has no valid orderer signature",
        ),
        (
            "signed by a minted orderer9 that is no consenter",
            3,
            bytes(&forged_by_orderer9[3]),
            "refused: block 3 has no valid orderer signature",
        ),
        (
            "the real block, signed only by orderer9",
            3,
            bytes(&resigned),
            "refused: block 3 has no valid orderer signature",
        ),
        (
            "signed by a client, from the future",
            3,
            bytes(&forged[5]),
            "refused: block 5 has no valid orderer signature",
        ),
        (
            "unknown signer, later config",
            3,
            bytes(&later_config),
            "later config 5",
        ),
        (
            "envelopes swapped after signing",
            3,
            bytes(&tampered),
            "refused: block 3 data hash does not match its envelopes",
        ),
        (
            "links to a block we do not have",
            3,
            bytes(&broken_link),
            "refused: block 3 does not link to the last committed block",
        ),
        (
            "another block under a committed number",
            3,
            bytes(&other),
            "refused: block 2 differs from the committed block 2",
        ),
        (
            // The header matches the committed block: dropped as a copy without checking
            // its envelopes (it is never forwarded or committed).
            "a committed block's header over other envelopes",
            5,
            bytes(&tampered),
            "duplicate 3",
        ),
        (
            "a client-signed block under a committed number",
            5,
            bytes(&forged[2]),
            "refused: block 2 has no valid orderer signature",
        ),
        (
            "not a block",
            3,
            b"\x01garbage".to_vec(),
            "refused: not a block: ",
        ),
        (
            "over the block size limit",
            3,
            vec![0u8; BLOCK_BYTES_MAX + 1],
            &oversize,
        ),
    ];
    for (what, height, payload, expected) in cases {
        let verdict = check(&net, &good, height, &payload);
        assert!(
            verdict.starts_with(expected),
            "{what}: expected {expected:?}, got {verdict:?}"
        );
    }
}

#[test]
fn future_blocks_wait_in_a_bounded_buffer_until_the_gap_closes() {
    let net = Consortium::new();
    let good = chain(&net, net.orderer(), 8);
    let mut future = FutureBlocks::new();
    // Arrivals out of order, one twice.
    for number in [5usize, 4, 7, 4] {
        future.insert(good[number].clone(), 100);
    }
    assert_eq!(future.len(), 3);
    assert_eq!(future.first_number(), Some(4));
    // At height 3 nothing continues the chain yet.
    assert!(future.take_ready(tip_of(&good, 3)).is_empty());
    // Block 3 arrived by state transfer: 4 and 5 follow; 7 still waits for 6.
    let ready: Vec<u64> = future
        .take_ready(tip_of(&good, 4))
        .iter()
        .map(|block| block.header.number)
        .collect();
    assert_eq!(ready, vec![4, 5]);
    assert_eq!(future.first_number(), Some(7));
    // The ledger passed it some other way: dropped.
    assert!(future.take_ready(tip_of(&good, 8)).is_empty());
    assert!(future.is_empty());
}

#[test]
fn a_full_buffer_keeps_the_nearest_blocks() {
    let net = Consortium::new();
    let good = chain(&net, net.orderer(), 2);
    let mut future = FutureBlocks::new();
    // Same block under many numbers is enough to fill it; contents do not matter here.
    let numbered = |number: u64| {
        let mut block = good[1].clone();
        block.header.number = number;
        block
    };
    let max = u64::try_from(FUTURE_BLOCKS_MAX).unwrap();
    for number in 10..10 + max {
        assert!(future.insert(numbered(number), 1));
    }
    assert_eq!(future.len(), FUTURE_BLOCKS_MAX);
    // Further ahead than everything kept: refused.
    assert!(!future.insert(numbered(10 + max), 1));
    // Nearer: kept, the furthest gives way.
    assert!(future.insert(numbered(5), 1));
    assert_eq!(future.len(), FUTURE_BLOCKS_MAX);
    assert_eq!(future.first_number(), Some(5));
    // Bytes are bounded too: one block of the largest size pushes out the others.
    assert!(future.insert(numbered(4), BLOCK_BYTES_MAX));
    assert_eq!(future.len(), 1);
    assert!(!future.insert(numbered(3), BLOCK_BYTES_MAX + 1));
}

/// Commits `block` through the peer's queue as the node's gossip loop does, then the
/// buffered blocks it releases; the numbers committed, and which of them the peer would
/// publish.
async fn commit(
    peer: &PeerHandle,
    queue: &mpsc::Sender<Block>,
    intake: &mut Intake,
    block: Block,
) -> Vec<String> {
    let mut done = Vec::new();
    let mut pending = vec![block];
    while let Some(block) = pending.pop() {
        let number = block.header.number;
        queue.send(block).await.unwrap();
        assert!(peer.wait_for_height(number + 1).await);
        let publish = if intake.committed(number) {
            " publish"
        } else {
            ""
        };
        done.push(format!("{number}{publish}"));
        let mut ready = intake.ready(peer.tip().unwrap());
        ready.reverse();
        pending.extend(ready);
    }
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossiped_blocks_reach_the_committer_in_order_and_once() {
    let net = Consortium::new();
    let good = chain(&net, net.orderer(), 7);
    let dir = tempfile::tempdir().unwrap();
    let (peer, queue) = start_peer(&net, &net.unicom_peer, dir.path(), false);
    let mut intake = Intake::new();
    let mut log = Vec::new();
    for number in [3usize, 2, 1, 1, 6, 4, 5] {
        let bytes = encode(&good[number]).unwrap();
        let ledger = peer.ledger();
        let committed_hash = |n| ledger.block(n).ok().flatten().map(|b: Block| b.hash());
        let judged = judge(&peer.channel(), peer.tip().unwrap(), committed_hash, &bytes);
        let entry = match intake.route(judged, bytes.len()) {
            Route::Commit(block) => {
                let done = commit(&peer, &queue, &mut intake, *block).await;
                format!("{number}: commit {}", done.join(", "))
            }
            Route::Accept => format!("{number}: accept"),
            Route::AcceptBehind => format!("{number}: keep, behind"),
            Route::Behind => format!("{number}: behind"),
            Route::Report(refusal) => format!("{number}: report {refusal}"),
        };
        log.push(entry);
    }
    // Block 7 arrives from an orderer: committed, then published for the other peers.
    let from_orderer = commit(&peer, &queue, &mut intake, good[7].clone()).await;
    log.push(format!("7 by deliver: commit {}", from_orderer.join(", ")));
    assert_eq!(
        log,
        [
            "3: keep, behind",
            "2: keep, behind",
            "1: commit 1, 2, 3",
            "1: accept",
            "6: keep, behind",
            "4: commit 4",
            "5: commit 5, 6",
            "7 by deliver: commit 7 publish",
        ]
    );
    assert_eq!(peer.height(), 8);
    assert_eq!(
        peer.ledger().block(7).unwrap().unwrap().hash(),
        good[7].hash()
    );
}
