//! The service shell with both carriers' peers, each on its own tempdir ledger, fed the
//! same blocks: lifecycle, endorsement through the handles, events, equal ledgers, and a
//! restart that resumes from the ledger.

use std::path::Path;
use std::sync::Arc;

use netsettle_ledger::Ledger;
use netsettle_peer::lifecycle::ContractDefinition;
use netsettle_peer::lifecycle::LIFECYCLE_NAMESPACE;
use netsettle_peer::service::PeerHandle;
use netsettle_protocol::{
    Block, Envelope, Payload, Policy, Principal, Role, SignaturePolicy, SignedProposal,
    Transaction, ValidationCode, encode,
};
use netsettle_testkit::peer::{KV_DIGEST_SEED, start_peer};
use netsettle_testkit::pki::NOW_MS;
use netsettle_testkit::tx::proposal;
use netsettle_testkit::{Consortium, Member};
use tokio::sync::mpsc;

struct Peer {
    handle: PeerHandle,
    blocks: mpsc::Sender<Block>,
}

fn start(net: &Consortium, member: &Member, dir: &Path) -> Peer {
    let (handle, blocks) = start_peer(net, member, dir, true);
    Peer { handle, blocks }
}

struct Running {
    net: Consortium,
    peers: Vec<Peer>,
    last: Block,
    seed: u64,
}

impl Running {
    async fn endorse(&self, creator: &Member, signed: &SignedProposal) -> Envelope {
        let mut responses = Vec::new();
        for peer in &self.peers {
            responses.push(
                peer.handle
                    .endorse_at(signed.clone(), NOW_MS)
                    .await
                    .unwrap(),
            );
        }
        let tx = Transaction {
            proposal: signed.proposal.clone(),
            response: responses[0].payload.clone(),
            endorsements: responses.iter().map(|r| r.endorsement.clone()).collect(),
        };
        Envelope::sign(&creator.key, Payload::Transaction(Box::new(tx))).unwrap()
    }

    async fn invoke(
        &mut self,
        creator: &Member,
        contract: &str,
        function: &str,
        args: &[&[u8]],
    ) -> Envelope {
        self.seed += 1;
        let signed = proposal(creator, self.seed, contract, function, args);
        self.endorse(creator, &signed).await
    }

    /// Orders `envelopes` into the next block and waits until every peer committed it.
    async fn order(&mut self, envelopes: Vec<Envelope>) {
        let block = self.net.block(&self.last, envelopes);
        for peer in &self.peers {
            peer.blocks.send(block.clone()).await.unwrap();
        }
        for peer in &self.peers {
            assert!(peer.handle.wait_for_height(block.header.number + 1).await);
        }
        self.last = block;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_carriers_commit_the_same_ledger_and_survive_a_restart() {
    let net = Consortium::new();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let peers = vec![
        start(&net, &net.unicom_peer, dirs[0].path()),
        start(&net, &net.mobile_peer, dirs[1].path()),
    ];
    assert_eq!(peers[0].handle.height(), 1);
    let mut events = peers[1].handle.subscribe();
    let last = net.genesis.clone();
    let mut c = Running {
        net,
        peers,
        last,
        seed: 0,
    };

    let peer = |msp_id: &str| {
        SignaturePolicy::SignedBy(Principal {
            msp_id: msp_id.to_owned(),
            role: Role::Peer,
        })
    };
    let definition = encode(&ContractDefinition {
        name: "kv".to_owned(),
        version: "1.0".to_owned(),
        sequence: 1,
        endorsement_policy: Policy::Signature(SignaturePolicy::And(vec![
            peer("UnicomMSP"),
            peer("MobileMSP"),
        ])),
        package_digest: netsettle_smcrypto::sm3(KV_DIGEST_SEED),
    })
    .unwrap();
    let (unicom_admin, mobile_admin) = (c.net.unicom_admin.clone(), c.net.mobile_admin.clone());
    let approve_u = c
        .invoke(
            &unicom_admin,
            LIFECYCLE_NAMESPACE,
            "approve",
            &[&definition],
        )
        .await;
    let approve_m = c
        .invoke(
            &mobile_admin,
            LIFECYCLE_NAMESPACE,
            "approve",
            &[&definition],
        )
        .await;
    c.order(vec![approve_u, approve_m]).await;
    let commit = c
        .invoke(&mobile_admin, LIFECYCLE_NAMESPACE, "commit", &[&definition])
        .await;
    c.order(vec![commit]).await;
    let client = c.net.unicom_client.clone();
    let put = c
        .invoke(&client, "kv", "put", &[b"2026-10", b"agreed"])
        .await;
    let put_id = put.tx_id();
    c.order(vec![put.clone(), put]).await;

    let mut seen = Vec::new();
    while seen.len() < 3 {
        let event = events.recv().await.unwrap();
        let codes: Vec<&str> = event.txs.iter().map(|tx| tx.code.as_str()).collect();
        seen.push(format!("{}: {}", event.number, codes.join(" ")));
    }
    assert_eq!(
        seen,
        ["1: VALID VALID", "2: VALID", "3: VALID DUPLICATE_TXID"]
    );

    // Both carriers' ledgers agree block by block and on the world state.
    let ledgers: Vec<Arc<Ledger>> = c
        .peers
        .iter()
        .map(|p| Arc::clone(p.handle.ledger()))
        .collect();
    assert_eq!(
        ledgers[0].chain_info().unwrap(),
        ledgers[1].chain_info().unwrap()
    );
    assert_eq!(
        ledgers[0].state_digest().unwrap(),
        ledgers[1].state_digest().unwrap()
    );
    let committed = ledgers[1].transaction(&put_id).unwrap().unwrap();
    assert_eq!(committed.code, ValidationCode::Valid);
    drop(ledgers);

    // Stop: closing the block channel ends the committer; then restart on the same dirs.
    let handles: Vec<PeerHandle> = c.peers.drain(..).map(|peer| peer.handle).collect();
    for handle in &handles {
        handle.join().await.unwrap();
    }
    drop(handles);
    c.peers = vec![
        start(&c.net, &c.net.unicom_peer, dirs[0].path()),
        start(&c.net, &c.net.mobile_peer, dirs[1].path()),
    ];
    assert_eq!(c.peers[0].handle.height(), 4);
    assert_eq!(c.peers[1].handle.channel().config.channel, "settlement");
    let mobile_client = c.net.mobile_client.clone();
    c.seed += 1;
    let get = proposal(&mobile_client, c.seed, "kv", "get", &[b"2026-10"]);
    let response = c.peers[0].handle.endorse_at(get, NOW_MS).await.unwrap();
    assert_eq!(response.payload.action.response.payload, b"agreed");
    let put = c
        .invoke(&mobile_client, "kv", "put", &[b"2026-11", b"open"])
        .await;
    c.order(vec![put]).await;
    assert_eq!(c.peers[1].handle.height(), 5);
}
