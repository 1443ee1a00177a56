//! The deliver client fails over from a dead orderer and from one serving blocks the
//! committer refuses, to one serving the real chain; then a second peer catches up from
//! the first peer's ledger (state transfer) with no orderer at all.

use std::time::Duration;

use netsettle_peer::deliver::{self, BlockSource, DeliverConfig};
use netsettle_peer::service::PeerHandle;
use netsettle_protocol::Block;
use netsettle_testkit::Consortium;
use netsettle_testkit::peer::{chain, start_peer};
use tokio::sync::watch;

/// Endpoint behaviours of a fake block source.
enum Endpoint {
    Down,
    Serves(Vec<Block>),
    /// Another peer's ledger.
    Peer(PeerHandle),
}

struct FakeSource {
    endpoints: Vec<Endpoint>,
}

impl BlockSource for FakeSource {
    fn n_endpoints(&self) -> usize {
        self.endpoints.len()
    }

    async fn fetch(&self, endpoint: usize, start: u64, max: usize) -> Result<Vec<Block>, String> {
        let blocks = match self.endpoints.get(endpoint) {
            Some(Endpoint::Serves(blocks)) => blocks
                .iter()
                .filter(|block| block.header.number >= start)
                .take(max)
                .cloned()
                .collect(),
            Some(Endpoint::Peer(peer)) => peer.blocks_from(start).map_err(|e| e.to_string())?,
            Some(Endpoint::Down) | None => return Err("connection refused".to_owned()),
        };
        if blocks.is_empty() {
            // A long poll with nothing new: wait until the client gives up on us.
            std::future::pending::<()>().await;
        }
        Ok(blocks)
    }
}

fn quick() -> DeliverConfig {
    DeliverConfig {
        backoff_min: Duration::from_millis(1),
        backoff_max: Duration::from_millis(20),
        progress_timeout: Duration::from_secs(30),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_over_to_a_good_orderer_then_transfers_state_between_peers() {
    let net = Consortium::new();
    let good = chain(&net, net.orderer(), 20);
    let forged = chain(&net, &net.unicom_client, 20);
    let dir = tempfile::tempdir().unwrap();
    let (peer, blocks) = start_peer(&net, &net.unicom_peer, dir.path(), false);
    let (stop, shutdown) = watch::channel(false);
    let source = FakeSource {
        endpoints: vec![
            Endpoint::Down,
            Endpoint::Serves(forged),
            Endpoint::Serves(good.clone()),
        ],
    };
    let task = tokio::spawn(deliver::run(
        source,
        quick(),
        peer.clone(),
        blocks,
        shutdown.clone(),
    ));
    let reached = tokio::time::timeout(Duration::from_secs(60), peer.wait_for_height(21)).await;
    assert_eq!(reached.ok(), Some(true));
    assert!(
        *peer.refusals().borrow() >= 1,
        "the forged blocks were refused"
    );
    let last = peer.ledger().block(20).unwrap().unwrap();
    assert_eq!(last.hash(), good[20].hash());

    // A second peer that never reaches an orderer catches up from the first.
    let dir2 = tempfile::tempdir().unwrap();
    let (late, late_blocks) = start_peer(&net, &net.unicom_peer, dir2.path(), false);
    let source = FakeSource {
        endpoints: vec![Endpoint::Down, Endpoint::Peer(peer.clone())],
    };
    let task2 = tokio::spawn(deliver::run(
        source,
        quick(),
        late.clone(),
        late_blocks,
        shutdown,
    ));
    let reached = tokio::time::timeout(Duration::from_secs(60), late.wait_for_height(21)).await;
    assert_eq!(reached.ok(), Some(true));
    assert_eq!(
        late.ledger().state_digest().unwrap(),
        peer.ledger().state_digest().unwrap()
    );
    stop.send(true).unwrap();
    task.await.unwrap();
    task2.await.unwrap();
}
