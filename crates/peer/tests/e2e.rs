//! Execute–order–validate end to end in one process: five Raft orderers (three of
//! Unicom's, two of Mobile's) on RocksDB connected by an in-memory transport, and both
//! carriers' endorsing peers pulling blocks with the deliver client. The contract is
//! approved by both carriers' admins and committed; transactions endorsed by both commit
//! VALID on both peers, one endorsed by Mobile's peer alone is ENDORSEMENT_POLICY_FAILURE
//! everywhere, and both peers end with the orderers' block hashes and one state digest.
//!
//! The orderers judge envelope times against the wall clock, so this test signs with it;
//! the fixtures' certificates are valid ten years either side of the fixed `NOW`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use netsettle_orderer::OrdererService;
use netsettle_peer::deliver::{self, BlockSource, DeliverConfig};
use netsettle_peer::lifecycle::ContractDefinition;
use netsettle_peer::lifecycle::LIFECYCLE_NAMESPACE;
use netsettle_peer::service::PeerHandle;
use netsettle_protocol::{
    BatchPolicy, Block, Envelope, Payload, Policy, Principal, Role, SignaturePolicy, Transaction,
    encode,
};
use netsettle_testkit::ordering::{Routes, service_config};
use netsettle_testkit::peer::{KV_DIGEST_SEED, start_peer};
use netsettle_testkit::tx::proposal_at;
use netsettle_testkit::{Consortium, Member};
use tokio::sync::watch;

/// Marks failure only; every wait ends on the event itself.
const DEADLINE: Duration = Duration::from_secs(120);

/// The deliver side: endpoint `i` is consenter `i + 1`; an empty answer waits for the
/// orderer's height to pass `start` (a long poll).
struct OrdererBlocks(Routes);

impl BlockSource for OrdererBlocks {
    fn n_endpoints(&self) -> usize {
        5
    }

    async fn fetch(&self, endpoint: usize, start: u64, max: usize) -> Result<Vec<Block>, String> {
        let id = u64::try_from(endpoint).unwrap() + 1;
        let handle = self.0.handle(id).ok_or("orderer down")?;
        let mut height = handle.height();
        height
            .wait_for(|height| *height > start)
            .await
            .map_err(|_| "orderer stopped")?;
        let end = start + u64::try_from(max).unwrap();
        handle.blocks(start, end).map_err(|e| e.to_string())
    }
}

fn now_ms() -> u64 {
    let elapsed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u64::try_from(elapsed.as_millis()).unwrap()
}

struct Chain {
    net: Consortium,
    orderers: Routes,
    peers: Vec<PeerHandle>,
    events: Vec<tokio::sync::broadcast::Receiver<Arc<netsettle_peer::events::BlockEvent>>>,
    seen: Vec<HashMap<netsettle_protocol::TxId, String>>,
    seed: u64,
}

impl Chain {
    /// Endorses on the peers at `endorsers` and assembles the envelope.
    async fn endorse(
        &mut self,
        creator: &Member,
        contract: &str,
        function: &str,
        args: &[&[u8]],
        endorsers: &[usize],
    ) -> Envelope {
        self.seed += 1;
        let signed = proposal_at(creator, self.seed, contract, function, args, now_ms());
        let mut responses = Vec::new();
        for index in endorsers {
            responses.push(self.peers[*index].endorse(signed.clone()).await.unwrap());
        }
        let tx = Transaction {
            proposal: signed.proposal.clone(),
            response: responses[0].payload.clone(),
            endorsements: responses.iter().map(|r| r.endorsement.clone()).collect(),
        };
        Envelope::sign(&creator.key, Payload::Transaction(Box::new(tx))).unwrap()
    }

    /// Broadcasts through the leader, retrying while it is being elected.
    async fn broadcast(&self, envelope: Envelope) {
        loop {
            let leader = *self.orderers.handle(1).unwrap().leader().borrow();
            if let Some(handle) = self.orderers.handle(leader) {
                match handle.broadcast(envelope.clone()).await {
                    Ok(_) => return,
                    Err(error) => eprintln!("broadcast via {leader}: {error}"),
                }
            }
            let mut leaders = self.orderers.handle(1).unwrap().leader();
            let _ = tokio::time::timeout(Duration::from_millis(200), leaders.changed()).await;
        }
    }

    /// Waits until every peer committed the transaction; returns its codes, one per peer.
    /// Events of other transactions are kept, since one block may settle several.
    async fn outcome(&mut self, envelope: &Envelope) -> Vec<String> {
        let tx_id = envelope.tx_id();
        let mut codes = Vec::new();
        for (receiver, seen) in self.events.iter_mut().zip(&mut self.seen) {
            while !seen.contains_key(&tx_id) {
                let event = receiver.recv().await.unwrap();
                for tx in &event.txs {
                    seen.insert(tx.tx_id, tx.code.to_string());
                }
            }
            codes.push(seen[&tx_id].clone());
        }
        codes
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_orderers_two_carriers_execute_order_validate() {
    tokio::time::timeout(DEADLINE, run())
        .await
        .expect("end to end within the deadline");
}

async fn run() {
    let batch = BatchPolicy {
        timeout_ms: 100,
        ..BatchPolicy::default()
    };
    let net = Consortium::with_batch(batch);
    let dirs: Vec<tempfile::TempDir> = (0..7).map(|_| tempfile::tempdir().unwrap()).collect();
    let orderers = Routes::default();
    for id in 1..=5u64 {
        let dir = dirs[usize::try_from(id).unwrap()].path();
        let handle =
            OrdererService::spawn(service_config(&net, id, dir, 20), orderers.transport()).unwrap();
        orderers.insert(id, handle);
    }
    let (stop, shutdown) = watch::channel(false);
    let mut peers = Vec::new();
    let mut deliverers = Vec::new();
    for (member, dir) in [(&net.unicom_peer, &dirs[0]), (&net.mobile_peer, &dirs[6])] {
        let (handle, blocks) = start_peer(&net, member, dir.path(), true);
        let source = OrdererBlocks(orderers.clone());
        let config = DeliverConfig::default();
        deliverers.push(tokio::spawn(deliver::run(
            source,
            config,
            handle.clone(),
            blocks,
            shutdown.clone(),
        )));
        peers.push(handle);
    }
    let events: Vec<_> = peers.iter().map(PeerHandle::subscribe).collect();
    let mut chain = Chain {
        net,
        orderers: orderers.clone(),
        peers,
        events,
        seen: vec![HashMap::new(), HashMap::new()],
        seed: 0,
    };

    // Lifecycle: both admins approve, one commits.
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
    let admins = [
        chain.net.unicom_admin.clone(),
        chain.net.mobile_admin.clone(),
    ];
    let mut last = None;
    for admin in &admins {
        let approve = chain
            .endorse(
                admin,
                LIFECYCLE_NAMESPACE,
                "approve",
                &[&definition],
                &[0, 1],
            )
            .await;
        chain.broadcast(approve.clone()).await;
        last = Some(approve);
    }
    assert_eq!(chain.outcome(&last.unwrap()).await, ["VALID", "VALID"]);
    let commit = chain
        .endorse(
            &admins[1],
            LIFECYCLE_NAMESPACE,
            "commit",
            &[&definition],
            &[0, 1],
        )
        .await;
    chain.broadcast(commit.clone()).await;
    assert_eq!(chain.outcome(&commit).await, ["VALID", "VALID"]);

    // Both carriers endorse: VALID everywhere. Mobile alone: a policy failure everywhere.
    let client = chain.net.mobile_client.clone();
    let both = chain
        .endorse(&client, "kv", "put", &[b"2026-10", b"final"], &[0, 1])
        .await;
    let alone = chain
        .endorse(&client, "kv", "put", &[b"2026-11", b"draft"], &[1])
        .await;
    chain.broadcast(both.clone()).await;
    chain.broadcast(alone.clone()).await;
    assert_eq!(chain.outcome(&both).await, ["VALID", "VALID"]);
    assert_eq!(
        chain.outcome(&alone).await,
        ["ENDORSEMENT_POLICY_FAILURE", "ENDORSEMENT_POLICY_FAILURE"]
    );

    // Same blocks as the orderers, same world state on both carriers' peers.
    let height = chain.peers[0].height();
    assert!(chain.peers[1].wait_for_height(height).await);
    let orderer = chain.orderers.handle(3).unwrap();
    assert!(orderer.height().wait_for(|h| *h >= height).await.is_ok());
    let ordered = orderer.blocks(0, height).unwrap();
    for peer in &chain.peers {
        for block in &ordered {
            let committed = peer.ledger().block(block.header.number).unwrap().unwrap();
            assert_eq!(committed.hash(), block.hash());
        }
    }
    let digests: Vec<_> = chain
        .peers
        .iter()
        .map(|p| p.ledger().state_digest().unwrap())
        .collect();
    assert_eq!(digests[0], digests[1]);

    stop.send(true).unwrap();
    for task in deliverers {
        task.await.unwrap();
    }
    for id in 1..=5 {
        chain.orderers.handle(id).unwrap().shutdown().await;
    }
}
