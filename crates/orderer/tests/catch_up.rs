//! Blocks fetched from another orderer for catch-up must carry a valid signature of a
//! consenter of the configuration in force: unsigned blocks, blocks signed by a
//! non-orderer, by an orderer that is not a consenter, or with a broken signature are
//! refused and nothing is written; good blocks from another consenter are taken.

mod support;

use netsettle_msp::ChannelState;
use netsettle_orderer::{ChainTip, verify_fetched_block};
use netsettle_protocol::{BatchPolicy, Block};
use netsettle_testkit::{Consortium, Member};
use support::Cluster;

/// A cluster of five consenters (and one spare orderer, id 6) with a few blocks cut.
fn cluster_with_blocks() -> Cluster {
    let mut cluster = Cluster::new(
        Consortium::with_orderers(5, 1, BatchPolicy::default()),
        31,
        20,
    );
    let leader = cluster.elect();
    let client = cluster.consortium.mobile_client.clone();
    for seq in 0..120 {
        let envelope = cluster.consortium.ordering_envelope(&client, seq, 32);
        cluster.broadcast(leader, envelope);
    }
    assert!(cluster.run_until(50, |c| c.all_at_least(4)));
    cluster
}

fn resigned(block: &Block, by: &Member) -> Block {
    let mut block = block.clone();
    block.metadata.signatures.clear();
    block.sign(&by.key, by.identity()).unwrap();
    block
}

/// The verdict on block 1 of the cluster's chain after `tamper`, as text.
fn check(cluster: &Cluster, tamper: impl FnOnce(&mut Block)) -> String {
    let blocks = cluster.chain(1).blocks();
    let state = ChannelState::new(cluster.consortium.config.clone(), 0).unwrap();
    let tip = ChainTip {
        height: 1,
        last_hash: blocks[0].hash(),
    };
    let mut block = blocks[1].clone();
    tamper(&mut block);
    match verify_fetched_block(&state, tip, &block) {
        Ok(()) => "ok".to_owned(),
        Err(error) => error.to_string(),
    }
}

#[test]
fn fetched_blocks_need_a_consenter_signature() {
    let cluster = cluster_with_blocks();
    let consortium = &cluster.consortium;
    assert_eq!(check(&cluster, |_| {}), "ok");
    // Any consenter's signature will do, not only the one that wrote the block.
    let other = consortium.orderers[3].clone();
    assert_eq!(check(&cluster, |b| *b = resigned(b, &other)), "ok");

    assert_eq!(
        check(&cluster, |b| b.metadata.signatures.clear()),
        "fetched block 1 carries no orderer signature"
    );
    let client = consortium.unicom_client.clone();
    let verdict = check(&cluster, |b| *b = resigned(b, &client));
    assert!(
        verdict.starts_with("fetched block 1 has no valid consenter signature")
            && verdict.contains("is not an orderer"),
        "{verdict}"
    );
    // Orderer 6 has a valid orderer certificate but is not a consenter of this config.
    let spare = consortium.orderers[5].clone();
    let verdict = check(&cluster, |b| *b = resigned(b, &spare));
    assert!(
        verdict.contains("is not a consenter of config 0"),
        "{verdict}"
    );
    // A consenter's identity with another consenter's signature bytes.
    let forged = resigned(&cluster.chain(1).blocks()[2], &other);
    let verdict = check(&cluster, |b| {
        *b = resigned(b, &other);
        b.metadata.signatures[0].signature = forged.metadata.signatures[0].signature.clone();
    });
    assert!(verdict.contains("consenter 4:"), "{verdict}");
    // Changed contents: the data hash no longer matches.
    let verdict = check(&cluster, |b| b.data.swap(0, 1));
    assert_eq!(
        verdict,
        "fetched block 1: data does not match the header's data hash"
    );
}

#[test]
fn a_lagging_orderer_refuses_badly_signed_blocks_and_writes_nothing() {
    let mut cluster = Cluster::new(
        Consortium::with_orderers(5, 1, BatchPolicy::default()),
        32,
        20,
    );
    let leader = cluster.elect();
    let lagging = cluster.ids().into_iter().find(|id| *id != leader).unwrap();
    cluster.stop(lagging);
    let client = cluster.consortium.unicom_client.clone();
    for seq in 0..300 {
        let envelope = cluster.consortium.ordering_envelope(&client, seq, 32);
        cluster.broadcast(leader, envelope);
    }
    assert!(cluster.run_until(100, |c| c.all_at_least(7)));
    assert!(cluster.core(leader).store().snapshot_index() > 200);

    // Every orderer it asks sends blocks re-signed by a spare, non-consenter orderer.
    let spare = cluster.consortium.orderers[5].clone();
    cluster.set_block_filter(Some(Box::new(move |blocks: Vec<Block>| {
        blocks.iter().map(|block| resigned(block, &spare)).collect()
    })));
    cluster.restart(lagging);
    let before = cluster.height(lagging);
    assert!(!cluster.run_until(60, |c| c.height(lagging) > before));
    assert!(cluster.core(lagging).is_catching_up());

    // An honest orderer again: it catches up.
    cluster.set_block_filter(None);
    let target = cluster.height(leader);
    assert!(cluster.run_until(100, |c| c.height(lagging) >= target));
    assert!(!cluster.core(lagging).is_catching_up());
    cluster.assert_consistent();
}
