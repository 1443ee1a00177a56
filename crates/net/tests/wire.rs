//! The lean wire, counted rather than timed: once a connection is up, a request and its
//! response cost a record or two and as many socket writes each way (a message is one
//! yamux frame, the frames of one turn of the muxer one record), not one record per
//! header field and per yamux header.
//! And large messages, many frames each, cross the write buffer intact.

use netsettle_net::{NetError, Network, NodeId, WireCounts};
use netsettle_protocol::Role as ProtocolRole;
use netsettle_smcrypto::x509::Role;
use netsettle_testkit::WAIT_MAX;
use netsettle_testkit::channel::one_orderer_config;
use netsettle_testkit::net::{net_config, start};
use netsettle_testkit::pki::{TestOrg, now_unix};

/// Requests measured.
const ROUNDS: u64 = 64;
/// Records (and writes) the caller may send per request–response round trip: its
/// stream's protocol, the request and its end of stream, written in one turn of the
/// muxer, leave as one record. Before the wire was lean: 11.
const CALLER_RECORDS_PER_ROUND_MAX: u64 = 1;
/// The same for the server: the protocol confirmation (two frames, written together),
/// then the response and its end of stream (two frames, written together). Before the
/// wire was lean: 11.
const SERVER_RECORDS_PER_ROUND_MAX: u64 = 2;
/// Records of other streams that may fall into the count, whenever they happen: the
/// identify exchange each side starts when the connection opens (at most 6 records a
/// side even frame by frame), the end of the last warm-up stream, a yamux ping and its
/// answer (one each way per 10 s).
const RECORDS_AROUND_MAX: u64 = 10;

fn echo(network: &Network) {
    let mut requests = network
        .handle()
        .serve("echo", &[ProtocolRole::Peer])
        .unwrap();
    tokio::spawn(async move {
        while let Some(request) = requests.recv().await {
            let reply = request.payload.clone();
            let _ = request.respond(reply).await;
        }
    });
}

async fn request(from: &Network, to: NodeId, payload: &[u8]) -> Result<Vec<u8>, NetError> {
    tokio::time::timeout(
        WAIT_MAX,
        from.handle().request(to, "echo", payload.to_vec()),
    )
    .await
    .expect("request within the deadline")
}

fn sent_since(network: &Network, before: WireCounts) -> (u64, u64) {
    let now = network.wire_counts();
    (
        now.tls_records - before.tls_records,
        now.write_calls - before.write_calls,
    )
}

/// A server and a caller connected to it, the server echoing on `echo`.
async fn connected_pair(server_ip: &str, caller_ip: &str) -> (Network, Network) {
    let unicom = TestOrg::at("UnicomMSP", now_unix());
    let mobile = TestOrg::at("MobileMSP", now_unix());
    let config = one_orderer_config(&[&unicom, &mobile]);
    let server = start(
        unicom.member("peer0", Role::Peer).tls_identity(),
        &config,
        &format!("{server_ip}:0"),
    )
    .await;
    let mut caller_config = net_config(
        mobile.member("peer0", Role::Peer).tls_identity(),
        &config,
        &format!("{caller_ip}:0"),
    );
    caller_config.known_peers = vec![(server.node_id(), server.listen_addr())];
    let caller = Network::start(caller_config).await.unwrap();
    echo(&server);
    (server, caller)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_1kib_request_and_its_response_cost_a_few_records_each_way() {
    let (server, caller) = connected_pair("127.0.1.22", "127.0.2.22").await;

    let payload = vec![0x5A; 1024];
    // Connection, handshake and the identify exchange happen before the count starts.
    for _ in 0..4 {
        assert_eq!(
            request(&caller, server.node_id(), &payload).await.unwrap(),
            payload
        );
    }
    let (caller_before, server_before) = (caller.wire_counts(), server.wire_counts());
    for _ in 0..ROUNDS {
        assert_eq!(
            request(&caller, server.node_id(), &payload).await.unwrap(),
            payload
        );
    }
    let (caller_records, caller_writes) = sent_since(&caller, caller_before);
    let (server_records, server_writes) = sent_since(&server, server_before);
    eprintln!(
        "per 1 KiB request over {ROUNDS} rounds: caller sent {caller_records} records in \
         {caller_writes} writes, server sent {server_records} records in {server_writes} writes"
    );
    let caller_max = CALLER_RECORDS_PER_ROUND_MAX * ROUNDS + RECORDS_AROUND_MAX;
    let server_max = SERVER_RECORDS_PER_ROUND_MAX * ROUNDS + RECORDS_AROUND_MAX;
    assert!(
        caller_records <= caller_max,
        "caller sent {caller_records} records"
    );
    assert!(
        caller_writes <= caller_max,
        "caller made {caller_writes} writes"
    );
    assert!(
        server_records <= server_max,
        "server sent {server_records} records"
    );
    assert!(
        server_writes <= server_max,
        "server made {server_writes} writes"
    );
    // Every round trip really went over the wire.
    assert!(caller_records >= ROUNDS && server_records >= ROUNDS);

    caller.shutdown().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_concurrent_messages_cross_intact() {
    let (server, caller) = connected_pair("127.0.1.23", "127.0.2.23").await;
    // Several multi-MiB requests at once, each with its own byte pattern: yamux cuts
    // them into frames and interleaves them, full records go through the write buffer
    // and its pass-through, and windows and sockets fill up (the buffer's unit tests
    // force pushback on every other write); each must arrive whole and in order.
    let requests = (1..=4u32).map(|seed| {
        let payload: Vec<u8> = (0..3 * 1024 * 1024 + 7 * seed)
            .map(|i| (i.wrapping_mul(seed) >> 3).to_le_bytes()[0])
            .collect();
        let handle = caller.handle();
        let to = server.node_id();
        async move {
            let reply = tokio::time::timeout(WAIT_MAX, handle.request(to, "echo", payload.clone()))
                .await
                .expect("request within the deadline")
                .unwrap();
            assert!(reply == payload, "payload {seed} came back altered");
        }
    });
    futures::future::join_all(requests).await;

    caller.shutdown().await;
    server.shutdown().await;
}
