//! Notices on a real consortium (five Raft orderers, two peers per carrier, both DMZ
//! forwarders; loopback slot 20): Unicom's peer0 has a `[notices]` webhook recipient, a
//! sink in this test that checks each notice's signature against the peer's signing
//! certificate. Mobile uploads (Unicom's staff: upload yours); Unicom's peer0 is stopped
//! with SIGTERM; Unicom uploads meanwhile (reveal); the peer restarts, catches up and
//! sends what it missed, and its reminder timer finds the reveal deadline within the
//! configured 200 hours (deadline near); both reveal (reconciled). Each notice arrives exactly once, and
//! `netsettle notices list`, beside the running node, shows them sent.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use netsettle_client::notice::{Notice, verify_notice};
use netsettle_testkit::process::{
    ADMIN_M, ADMIN_U, Netsettle, ORDERERS, PEERS, REPO, STAFF_M, STAFF_U, load_member,
};
use serde_json::Value;

/// The binary under test.
const NETSETTLE: Netsettle = Netsettle(env!("CARGO_BIN_EXE_netsettle"));

/// This file's loopback range: 127.20.x.x.
const SLOT: u8 = 20;

const PERIOD: &str = "2026-10";

const UNICOM: [&str; 4] = STAFF_U;
const MOBILE: [&str; 4] = STAFF_M;

const NOTIFIED_PEER: &str = "unicommsp-peer0";

/// How long a notice may take to arrive.
const NOTICE_WAIT_MAX: Duration = Duration::from_secs(60);

fn settle(dir: &Path, command: &str, who: &[&str], extra: &[&str]) -> Value {
    let mut args = vec!["settlement", command];
    args.extend(who);
    args.extend(["--output", "json"]);
    args.extend(extra);
    let stdout = NETSETTLE.ok(dir, &args);
    serde_json::from_str(&stdout).unwrap_or_else(|error| panic!("{command}: {error}: {stdout}"))
}

/// What the sink accepted: each notice whose signature verified, answered 204.
type Accepted = mpsc::Sender<Notice>;

async fn hook(
    State((trusted, accepted)): State<(netsettle_smcrypto::PublicKey, Accepted)>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let now_ms = i64::try_from(now.as_millis()).unwrap();
    match verify_notice(std::slice::from_ref(&trusted), header, &body, now_ms) {
        Ok(notice) => {
            let _ = accepted.send(notice);
            StatusCode::NO_CONTENT
        }
        Err(_) => StatusCode::UNAUTHORIZED,
    }
}

/// Starts the sink on 127.0.0.1 in a thread of its own; its address.
fn start_sink(trusted: netsettle_smcrypto::PublicKey, accepted: Accepted) -> SocketAddr {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let address = listener.local_addr().unwrap();
    let router = axum::Router::new()
        .route("/hooks/notices", axum::routing::post(hook))
        .with_state((trusted, accepted));
    // The thread ends with the test process.
    std::thread::spawn(move || {
        runtime.block_on(async move { axum::serve(listener, router).await.unwrap() });
    });
    address
}

/// Adds the `[notices]` section to the notified peer's config; its signing key's
/// public half, which the sink trusts.
fn configure_notices(dir: &Path, sink: SocketAddr) {
    let path = dir.join(format!("nodes/{NOTIFIED_PEER}.toml"));
    let mut config = std::fs::read_to_string(&path).unwrap();
    config.push_str(&format!(
        "\n[notices]\nbackoff_initial_ms = 100\nbackoff_max_ms = 1000\n\
         reminder_hours = [200]\nreminder_check_secs = 1\n\
         [[notices.recipients]]\nname = \"desk\"\nroles = [\"settlement\", \"finance\"]\n\
         periods = \"all\"\nchannel = \"webhook\"\nurl = \"http://{sink}/hooks/notices\"\n"
    ));
    std::fs::write(path, config).unwrap();
}

fn peer_signing_key(dir: &Path) -> netsettle_smcrypto::PublicKey {
    let path = dir.join(format!("nodes/{NOTIFIED_PEER}.toml"));
    let config: toml::Value = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let identity = config["identity"]["dir"].as_str().unwrap();
    let member = load_member(&path.parent().unwrap().join(identity), "UnicomMSP");
    member.key.public_key().clone()
}

/// Waits for the next `n` notices (the deadline only marks failure).
fn next_notices(accepted: &mpsc::Receiver<Notice>, n: usize) -> Vec<Notice> {
    let deadline = Instant::now() + NOTICE_WAIT_MAX;
    (0..n)
        .map(|_| {
            let left = deadline.saturating_duration_since(Instant::now());
            accepted
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("a notice did not arrive within {NOTICE_WAIT_MAX:?}"))
        })
        .collect()
}

/// Unicom's settlement staff through a copy of its profile that lists its peer1 first:
/// clients endorse at the first listed peer of each carrier.
fn unicom_via_peer1(dir: &Path) -> [&'static str; 4] {
    let profile = "clients/unicommsp-peer1.toml";
    let text = std::fs::read_to_string(dir.join("clients/unicommsp.toml")).unwrap();
    let mut value: toml::Value = toml::from_str(&text).unwrap();
    let peers = value["peers"].as_array_mut().unwrap();
    assert_eq!(peers[0]["msp_id"].as_str(), Some("UnicomMSP"));
    assert_eq!(peers[1]["msp_id"].as_str(), Some("UnicomMSP"));
    peers.swap(0, 1);
    std::fs::write(dir.join(profile), toml::to_string(&value).unwrap()).unwrap();
    ["--profile", profile, "--identity", UNICOM[3]]
}

fn agree(dir: &Path) {
    let agreement = format!("{REPO}/tests/data/settlement/agreement.json");
    settle(
        dir,
        "agreement",
        &[&["propose"][..], &ADMIN_U[..]].concat(),
        &["--file", &agreement],
    );
    settle(
        dir,
        "agreement",
        &[&["accept"][..], &ADMIN_M[..]].concat(),
        &[],
    );
}

fn upload(dir: &Path, who: &[&str], msp: &str) {
    let csv = format!("{REPO}/tests/data/settlement/demo-{msp}.csv");
    settle(dir, "upload", who, &["--period", PERIOD, "--csv", &csv]);
}

#[test]
fn notices_arrive_once_signed_across_a_restart_of_the_notifying_peer() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    NETSETTLE.consortium(dir);
    NETSETTLE.render_layout(dir, SLOT, "");
    let (accepted_tx, accepted) = mpsc::channel();
    let sink = start_sink(peer_signing_key(dir), accepted_tx);
    configure_notices(dir, sink);
    let mut consortium = NETSETTLE.start_nodes(dir, &ORDERERS, &PEERS);
    let notified = PEERS
        .iter()
        .position(|name| *name == NOTIFIED_PEER)
        .unwrap();
    assert_eq!(consortium.peers[notified].field("notices"), "1");
    NETSETTLE.define_settlement(dir);
    agree(dir);

    upload(dir, &MOBILE, "MobileMSP");
    let first = next_notices(&accepted, 1);
    assert_eq!(first[0].kind, "counterpart_uploaded", "{first:?}");

    // SIGTERM: the node ends cleanly; Unicom's other peer endorses meanwhile.
    consortium.peers.remove(notified).stop();
    upload(dir, &unicom_via_peer1(dir), "UnicomMSP");
    consortium
        .peers
        .insert(notified, NETSETTLE.start_node(dir, NOTIFIED_PEER));
    // The block's notice, and the reminder timer's: the reveal deadline (a week after
    // the round opened) is within the configured 200 hours.
    let mut second = next_notices(&accepted, 2);
    second.sort_by(|a, b| a.kind.cmp(&b.kind));
    assert_eq!(second[0].kind, "deadline_near", "{second:?}");
    assert_eq!(second[1].kind, "reveal_due", "{second:?}");
    assert!(
        second[0].id.starts_with("remind-2026-10-r0-UnicomMSP-200h"),
        "{second:?}"
    );

    settle(dir, "reveal", &UNICOM, &["--period", PERIOD]);
    settle(dir, "reveal", &MOBILE, &["--period", PERIOD]);
    let third = next_notices(&accepted, 1);
    assert_eq!(third[0].kind, "reconciled", "{third:?}");

    let all: Vec<Notice> = [first, second, third].concat();
    assert_eq!(all.len(), 4);
    for notice in &all {
        assert_eq!(notice.carrier, "UnicomMSP");
        assert_eq!(notice.recipient, "desk");
        assert_eq!(notice.period.as_deref(), Some(PERIOD));
        assert!(notice.id.ends_with(":desk"), "{notice:?}");
    }
    // `notices list` beside the running node: the four, sent, once each.
    let config = format!("nodes/{NOTIFIED_PEER}.toml");
    let listed = NETSETTLE.ok(
        dir,
        &["notices", "list", "--config", &config, "--output", "json"],
    );
    let listed: Vec<Value> = serde_json::from_str(&listed).unwrap();
    let mut ids: Vec<&str> = listed
        .iter()
        .map(|row| row["id"].as_str().unwrap())
        .collect();
    let mut sent: Vec<&str> = all.iter().map(|notice| notice.id.as_str()).collect();
    ids.sort_unstable();
    sent.sort_unstable();
    assert_eq!(ids, sent, "{listed:?}");
    assert!(
        listed.iter().all(|row| row["state"] == "sent"),
        "{listed:?}"
    );
    let table = NETSETTLE.ok(
        dir,
        &["notices", "list", "--config", &config, "--state", "pending"],
    );
    assert!(table.contains("(no notices)"), "{table}");
    // Nothing more arrives: no duplicate after the restart.
    consortium.peers.remove(notified).stop();
    assert!(accepted.try_recv().is_err(), "a notice arrived twice");
    // A bad option is refused with a one-line reason.
    let output = NETSETTLE.run(dir, &["notices", "list", "--config", "nodes/nope.toml"]);
    assert!(!output.status.success());
}
