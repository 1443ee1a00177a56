//! The loop across processes: clients submit 10,000 transactions while the test
//! repeatedly kills the current Raft leader (found through the status service) and
//! restarts it once a new leader is elected. Every acknowledged transaction is in exactly
//! one block, none twice, and all five orderers end with the same block hashes. Five
//! orderer processes (no peers), loopback slot 5 with ports of its own.
//!
//! `ORDERER_KILL_LOOP_TXS` changes the count (for a quick run by hand).

use netsettle_testkit::orderers::{
    Client, Load, Orderers, assert_exactly_once, with_orderer_option,
};
use netsettle_testkit::process::Netsettle;

/// The binary under test.
const NETSETTLE: Netsettle = Netsettle(env!("CARGO_BIN_EXE_netsettle"));

const TRANSACTIONS_DEFAULT: usize = 10_000;
/// Leader kills spread over the run.
const KILLS: u64 = 8;
/// Broadcasts waiting for their answer at once.
const IN_FLIGHT: usize = 400;

#[test]
fn ten_thousand_transactions_through_repeated_leader_kills() {
    let count = std::env::var("ORDERER_KILL_LOOP_TXS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(TRANSACTIONS_DEFAULT);
    let started = std::time::Instant::now();
    // 50 ms ticks: elections after 0.5-1 s, so the kills cost less of the run (the batch
    // timeout stays 1 s; it is counted in ticks of whatever length).
    let mut orderers = Orderers::start(NETSETTLE, 5, "4", with_orderer_option("tick_ms", "50"));
    let client = Client::connect(orderers.path());
    let mut leader = client.wait_leader(None);

    // Ordering is bound by latency (each broadcast waits for its entry to commit), so
    // many are in flight; the client's network keeps at most 64 on the wire per orderer.
    let mut load = Load::start(&client, count, IN_FLIGHT, 128);
    let step = u64::try_from(count).unwrap() / (KILLS + 1);
    for round in 1..=KILLS {
        load.wait_landed(&client, step * round);
        orderers.kill(leader);
        let next = client.wait_leader(Some(leader));
        orderers.restart(leader);
        eprintln!(
            "kill {round}: leader {leader} killed at {} landed, {next} leads; {:?}",
            load.landed(),
            started.elapsed()
        );
        leader = next;
    }
    let outcomes = load.finish(&client);
    let ids = orderers.ids();
    client.wait_settled(&ids);
    Client::close(client);
    orderers.stop_all();
    eprintln!("{count} transactions in {:?}", started.elapsed());

    assert_eq!(outcomes.len(), count);
    assert_exactly_once(&outcomes, &orderers.chain_tx_ids(leader));
    orderers.assert_same_blocks(leader);
}
