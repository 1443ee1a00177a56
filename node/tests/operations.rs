//! The operations listener on a real consortium (five Raft orderers, two peers per
//! carrier, both DMZ forwarders; loopback slot 23), every orderer and peer with
//! `[operations]`: `/healthz`, `/readyz` before and after the Raft leader is known,
//! `/metrics` as Prometheus text whose values agree with the nodes (ledger height, Raft
//! leader, transactions by validation code, certificate expiry), JSON log lines, the
//! expiry warning for certificates Unicom's CA issued for 20 days, and bad input (a malformed `[operations]` section, unknown
//! routes, requests with bodies, oversize request heads).

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use netsettle_testkit::WAIT_MAX;
use netsettle_testkit::orderers::Client;
use netsettle_testkit::process::{
    Forwarder, NODE_READY, Netsettle, ORDERERS, PEERS, Process, REPO,
};
use serde_json::Value;

/// The binary under test.
const NETSETTLE: Netsettle = Netsettle(env!("CARGO_BIN_EXE_netsettle"));

/// This file's loopback range: 127.23.x.x.
const SLOT: u8 = 23;

/// The peer that logs JSON; like every Unicom node, its certificates expire within
/// [`CERT_DAYS`], inside the default warning threshold (30 days).
const JSON_PEER: &str = "unicommsp-peer0";
/// How long Unicom's CA makes its members' certificates valid in this test.
const CERT_DAYS: u32 = 20;
/// The peer running the notifier, whose outbox depth `/metrics` shows.
const NOTICES_PEER: &str = "unicommsp-peer1";

/// Pace of polling rounds while waiting for a state (the deadline marks failure).
const POLL_PACE: Duration = Duration::from_millis(100);

#[test]
fn a_consortium_shows_health_readiness_metrics_and_json_logs() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let unicom_spec = std::fs::read_to_string(format!("{REPO}/configs/unicom.toml")).unwrap();
    assert!(unicom_spec.contains("\ncert_days = 365\n"), "{unicom_spec}");
    let unicom_spec = unicom_spec.replace(
        "\ncert_days = 365\n",
        &format!("\ncert_days = {CERT_DAYS}\n"),
    );
    std::fs::write(dir.join("unicom.toml"), unicom_spec).unwrap();
    NETSETTLE.consortium_with_unicom_spec(dir, dir.join("unicom.toml").to_str().unwrap());
    NETSETTLE.render_layout(dir, SLOT, "");
    // The rendered configs have `[operations]`: configs/local.toml names the listeners.
    for name in ORDERERS.iter().chain(&PEERS) {
        let path = config_path(dir, name);
        let mut config = std::fs::read_to_string(&path).unwrap();
        assert!(config.contains("\n[operations]\nlisten = "), "{config}");
        if *name == NOTICES_PEER {
            // A recipient nobody listens for: the outbox depth is what matters here.
            config.push_str(&format!(
                "\n[notices]\n[[notices.recipients]]\nname = \"desk\"\nroles = [\"settlement\"]\n\
                 periods = \"all\"\nchannel = \"webhook\"\nurl = \"http://127.{SLOT}.250.9:9/hooks\"\n"
            ));
        }
        if *name == JSON_PEER {
            config.push_str("\n[log]\nformat = \"json\"\n");
        }
        std::fs::write(&path, config).unwrap();
    }
    let _dmz = Forwarder::both(dir);

    // One orderer of five: running, but no Raft leader and nobody to talk to.
    let first = NETSETTLE.start_node(dir, ORDERERS[0]);
    let first_ops = operations_address(&first);
    assert_eq!(get(first_ops, "/healthz").0, 200);
    let (status, body) = get(first_ops, "/readyz");
    assert_eq!(status, 503, "{body}");
    let not_ready: Value = serde_json::from_str(&body).unwrap();
    assert!(not_ready["not_ready"]["raft_leader"].is_string(), "{body}");
    assert_eq!(not_ready["ready"], false, "{body}");
    refuses_bad_requests(first_ops);

    let mut orderers = vec![first];
    orderers.extend(
        ORDERERS[1..]
            .iter()
            .map(|name| NETSETTLE.start_node(dir, name)),
    );
    let stderr_path = dir.join("json-peer.stderr");
    let mut peers = Vec::new();
    for name in PEERS {
        peers.push(if name == JSON_PEER {
            start_logging_node(&config_path(dir, name), &stderr_path)
        } else {
            NETSETTLE.start_node(dir, name)
        });
    }
    let orderer_ops: Vec<SocketAddr> = orderers.iter().map(operations_address).collect();
    let peer_ops: Vec<SocketAddr> = peers.iter().map(operations_address).collect();
    for address in orderer_ops.iter().chain(&peer_ops) {
        wait_until("every node ready", || get(*address, "/readyz").0 == 200);
    }

    // The Raft leader the metrics name is one, and the same on every orderer.
    let mut leaders = Vec::new();
    wait_until("the orderers agree on a leader in /metrics", || {
        leaders = orderer_ops
            .iter()
            .map(|address| value(&scrape(*address), "netsettle_raft_leader", &[]))
            .collect();
        leaders[0] > 0.0 && leaders.iter().all(|leader| *leader == leaders[0])
    });

    // Valid transactions (the lifecycle: three) and an invalid one (an endorsement the
    // admin signed itself) move the counters of the peer's validation codes.
    let peer = peer_ops[0];
    let before = scrape(peer);
    NETSETTLE.define_settlement(dir);
    let client = Client::connect(dir);
    let invalid = client.submit_blocking(&client.envelope(0));
    client.close();
    let invalid_before = invalid_count(&before);
    wait_until("the invalid transaction is counted", || {
        invalid_count(&scrape(peer)) > invalid_before
    });
    let after = scrape(peer);
    let valid = |samples: &Samples| {
        value_or_zero(
            samples,
            "netsettle_peer_transactions_total",
            &[("code", "VALID")],
        )
    };
    assert!(valid(&after) >= valid(&before) + 3.0, "{after:?}");

    // Endorsements (one per carrier per transaction), commit times, batch sizes, Raft.
    let peer_scrapes: Vec<Samples> = peer_ops.iter().map(|address| scrape(*address)).collect();
    let sum = |name: &str, labels: &[(&str, &str)]| -> f64 {
        peer_scrapes
            .iter()
            .map(|samples| value(samples, name, labels))
            .sum()
    };
    let endorsed = sum("netsettle_peer_endorsements_total", &[("result", "ok")]);
    assert!(endorsed >= 6.0, "{endorsed}");
    // Endorsing peers take their own endorsements back without verifying them again.
    wait_until("an endorsing peer trusts its own endorsements", || {
        peer_ops
            .iter()
            .map(|address| {
                value_or_zero(
                    &scrape(*address),
                    "netsettle_peer_own_endorsements_trusted_total",
                    &[],
                )
            })
            .sum::<f64>()
            >= 1.0
    });
    let timed = sum("netsettle_peer_endorsement_seconds_count", &[]);
    let failed = sum("netsettle_peer_endorsements_total", &[("result", "failed")]);
    assert_eq!(timed, endorsed + failed);
    assert!(
        value(&after, "netsettle_peer_block_commit_seconds_count", &[]) >= 4.0,
        "{after:?}"
    );
    assert!(
        value(
            &after,
            "netsettle_peer_block_commit_seconds_bucket",
            &[("le", "+Inf")]
        ) >= 4.0
    );
    // The four transactions were ordered; orderer0's follower observes their blocks.
    let mut orderer = Samples::new();
    wait_until("orderer0 observes its batches", || {
        orderer = scrape(orderer_ops[0]);
        value(&orderer, "netsettle_orderer_batch_envelopes_sum", &[]) >= 4.0
    });
    assert!(
        value(&orderer, "netsettle_raft_commit_index", &[])
            >= value(&orderer, "netsettle_raft_applied_index", &[])
    );
    assert!(value(&orderer, "netsettle_raft_term", &[]) >= 1.0);
    value(&orderer, "netsettle_raft_proposals_failed_total", &[]);
    // Batches show up once clients coalesce broadcasts; the counter is always there.
    value(&orderer, "netsettle_orderer_broadcast_batches_total", &[]);
    // Every broadcast was checked at the orderer it reached, in batches of one or more.
    let (checks, batches) = orderer_ops
        .iter()
        .map(|address| {
            let samples = scrape(*address);
            (
                value(&samples, "netsettle_orderer_envelope_checks_total", &[]),
                value(
                    &samples,
                    "netsettle_orderer_envelope_check_batches_total",
                    &[],
                ),
            )
        })
        .fold((0.0, 0.0), |(checks, batches), (c, b)| {
            (checks + c, batches + b)
        });
    assert!(checks >= 4.0, "{checks}");
    assert!(
        (1.0..=checks).contains(&batches),
        "{batches} batches, {checks} checks"
    );
    let handshakes: f64 = orderer_ops
        .iter()
        .map(|address| value(&scrape(*address), "netsettle_net_tls_handshakes_total", &[]))
        .sum();
    assert!(handshakes >= 4.0, "{handshakes}");
    // Connected to the four other orderers (and the peers that fetch blocks from it).
    wait_until("orderer0 connected to the four other orderers", || {
        let links = sum_of(
            &scrape(orderer_ops[0]),
            "netsettle_net_connections",
            &[("role", "orderer")],
        );
        links == 4.0
    });

    // Bytes that are no TLS handshake, sent to an orderer's node port: refused, counted.
    let inbound = [("direction", "inbound")];
    let refused_before = sum_of(
        &scrape(orderer_ops[1]),
        "netsettle_net_tls_handshake_failures_total",
        &inbound,
    );
    let p2p: SocketAddr = orderers[1].field("p2p").parse().unwrap();
    let mut stranger = TcpStream::connect(p2p).unwrap();
    stranger
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    drop(stranger);
    wait_until("the refused connection is counted", || {
        sum_of(
            &scrape(orderer_ops[1]),
            "netsettle_net_tls_handshake_failures_total",
            &inbound,
        ) > refused_before
    });

    // The notifier's outbox, on the peer that runs it only (nothing to notify yet).
    for state in ["pending", "sent", "failed"] {
        let depth = value(
            &peer_scrapes[1],
            "netsettle_notices_outbox_entries",
            &[("state", state)],
        );
        assert_eq!(depth, 0.0, "{state}");
    }
    assert!(
        !peer_scrapes[0]
            .keys()
            .any(|(name, _)| name == "netsettle_notices_outbox_entries")
    );

    // Certificate expiry: both of the node's certificates, CERT_DAYS left; Unicom's
    // orderer0 also runs Unicom's CA, whose own certificate lasts ten years.
    for kind in ["signing", "tls"] {
        let days = value(
            &after,
            "netsettle_certificate_expiry_days",
            &[("certificate", kind)],
        );
        let expected = f64::from(CERT_DAYS);
        assert!(
            (expected - 1.0..=expected).contains(&days),
            "{kind}: {days}"
        );
    }
    let ca_days = value(
        &orderer,
        "netsettle_certificate_expiry_days",
        &[("certificate", "ca")],
    );
    assert!(ca_days > 3000.0, "{ca_days}");

    // The ledger height metric is the peer's real height: stop it and read its ledger.
    let metric_height = value(
        &scrape(peer),
        "netsettle_ledger_height",
        &[("role", "peer")],
    );
    let mut peers = peers.into_iter();
    peers.next().unwrap().stop();
    let ledger = data_dir(dir, JSON_PEER).join("ledger");
    let verified = NETSETTLE.ok(
        dir,
        &["ledger", "verify", "--path", ledger.to_str().unwrap()],
    );
    let height: f64 = verified
        .lines()
        .find_map(|line| line.strip_prefix("height "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(metric_height, height, "{verified}");

    json_logs_name_the_node_and_warn(dir, &stderr_path, &invalid.tx_id.to_string());
    drop(peers);
    drop(orderers);
}

/// Every line the JSON peer wrote parses as JSON naming the node, channel and role; the
/// invalid transaction is logged with its id and block number; both certificates got
/// the expiry warning.
fn json_logs_name_the_node_and_warn(dir: &Path, stderr_path: &Path, invalid_tx_id: &str) {
    let config: toml::Value =
        toml::from_str(&std::fs::read_to_string(config_path(dir, JSON_PEER)).unwrap()).unwrap();
    let node_name = config["name"].as_str().unwrap();
    let text = std::fs::read_to_string(stderr_path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}")))
        .collect();
    assert!(!lines.is_empty());
    for line in &lines {
        assert_eq!(line["node"], node_name, "{line}");
        assert_eq!(line["channel"], "settlement", "{line}");
        assert!(line["role"].is_string(), "{line}");
    }
    let invalid = lines
        .iter()
        .find(|line| line["fields"]["tx_id"] == invalid_tx_id)
        .unwrap_or_else(|| panic!("no log line for {invalid_tx_id}:\n{text}"));
    assert_eq!(invalid["role"], "peer", "{invalid}");
    assert!(
        invalid["fields"]["number"]
            .as_u64()
            .is_some_and(|number| number > 0),
        "{invalid}"
    );
    for kind in ["signing", "tls"] {
        assert!(
            lines.iter().any(|line| line["level"] == "WARN"
                && line["fields"]["message"] == "certificate expires soon"
                && line["fields"]["certificate"] == kind),
            "no expiry warning for the {kind} certificate:\n{text}"
        );
    }
    assert!(lines.iter().any(|line| line["role"] == "peer"));
    assert!(lines.iter().any(|line| line["role"] == "network"));
}

/// Unknown routes are 404, a request with a body 413, a request head beyond hyper's
/// buffer is refused; the listener still answers afterwards.
fn refuses_bad_requests(address: SocketAddr) {
    assert_eq!(get(address, "/nope").0, 404);
    assert_eq!(get(address, "/metrics/../admin").0, 404);
    let post =
        "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
    assert_eq!(status_of(&exchange(address, post.as_bytes())), 413);
    let chunked = "GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n";
    assert_eq!(status_of(&exchange(address, chunked.as_bytes())), 413);
    let huge = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let answer = exchange(address, huge.as_bytes());
    assert!(answer.is_empty() || status_of(&answer) == 431, "{answer}");
    assert_eq!(get(address, "/healthz").0, 200);
}

fn config_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("nodes/{name}.toml"))
}

fn data_dir(dir: &Path, name: &str) -> PathBuf {
    let config: toml::Value =
        toml::from_str(&std::fs::read_to_string(config_path(dir, name)).unwrap()).unwrap();
    dir.join("nodes").join(config["data_dir"].as_str().unwrap())
}

/// Starts a node whose stderr (its log) goes to `stderr_path`, at info level.
fn start_logging_node(config: &Path, stderr_path: &Path) -> Process {
    let mut command = NETSETTLE.command();
    command
        .arg("node")
        .arg("--config")
        .arg(config)
        .env("NETSETTLE_LOG", "info")
        .stderr(Stdio::from(std::fs::File::create(stderr_path).unwrap()));
    Process::start(command, NODE_READY)
}

fn operations_address(node: &Process) -> SocketAddr {
    node.field("operations").parse().unwrap()
}

/// Polls `done` until it holds; panics with `what` after `WAIT_MAX`.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT_MAX;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {WAIT_MAX:?}");
        std::thread::sleep(POLL_PACE);
    }
}

/// Sends `request` and reads the whole answer (the request asks to close).
fn exchange(address: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(WAIT_MAX)).unwrap();
    // The server may answer and close before it read everything we send.
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

fn status_of(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"))
}

/// GET `path`: the status and the body.
fn get(address: SocketAddr, path: &str) -> (u16, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: ops\r\nConnection: close\r\n\r\n");
    let answer = exchange(address, request.as_bytes());
    let body = answer
        .split_once("\r\n\r\n")
        .map_or("", |(_, body)| body)
        .to_owned();
    (status_of(&answer), body)
}

/// One sample: metric name and labels → value.
type Samples = BTreeMap<(String, BTreeMap<String, String>), f64>;

/// Scrapes `/metrics` and parses it as Prometheus/OpenMetrics text.
fn scrape(address: SocketAddr) -> Samples {
    let (status, body) = get(address, "/metrics");
    assert_eq!(status, 200, "{body}");
    parse_exposition(&body)
}

/// A strict reading of the text exposition format: every sample belongs to a family
/// declared by a `# TYPE` line before it, names and label values are well formed, every
/// value is a number, and the text ends with `# EOF`.
fn parse_exposition(text: &str) -> Samples {
    let mut samples = Samples::new();
    let mut families: Vec<String> = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line == "# EOF" {
            assert!(lines.peek().is_none(), "text after # EOF");
            return samples;
        }
        if let Some(comment) = line.strip_prefix("# ") {
            let mut parts = comment.splitn(3, ' ');
            let kind = parts.next().unwrap();
            let name = parts.next().unwrap();
            assert!(valid_name(name), "{line}");
            if kind == "TYPE" {
                let metric_type = parts.next().unwrap();
                assert!(
                    ["counter", "gauge", "histogram", "info", "unknown"].contains(&metric_type),
                    "{line}"
                );
                families.push(name.to_owned());
            } else {
                assert!(["HELP", "UNIT"].contains(&kind), "{line}");
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {line}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}').unwrap())),
            None => (series, BTreeMap::new()),
        };
        assert!(valid_name(name), "{line}");
        assert!(
            families
                .iter()
                .any(|family| name.starts_with(family.as_str())),
            "sample before its # TYPE: {line}"
        );
        samples.insert((name.to_owned(), labels), value);
    }
    panic!("no # EOF at the end:\n{text}");
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("{text}"));
        assert!(valid_name(key), "{text}");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => value.push(chars.next().unwrap().1),
                Some((index, '"')) => break index,
                Some((_, c)) => value.push(c),
                None => panic!("unterminated label value: {text}"),
            }
        };
        labels.insert(key.to_owned(), value);
        rest = after[end + 1..].trim_start_matches(',');
    }
    labels
}

/// The sum of every sample of `name` whose labels include `labels`.
fn sum_of(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|((sample, sample_labels), _)| {
            sample == name
                && labels
                    .iter()
                    .all(|(key, value)| sample_labels.get(*key).map(String::as_str) == Some(*value))
        })
        .map(|(_, value)| value)
        .sum()
}

fn value_or_zero(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .find(|((sample, sample_labels), _)| {
            sample == name
                && labels
                    .iter()
                    .all(|(key, value)| sample_labels.get(*key).map(String::as_str) == Some(*value))
        })
        .map_or(0.0, |(_, value)| *value)
}

fn value(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    assert!(
        samples.keys().any(|(sample, _)| sample == name),
        "no {name} in {samples:#?}"
    );
    value_or_zero(samples, name, labels)
}

/// Transactions counted with any code but VALID.
fn invalid_count(samples: &Samples) -> f64 {
    samples
        .iter()
        .filter(|((name, labels), _)| {
            name == "netsettle_peer_transactions_total"
                && labels.get("code").is_some_and(|code| code != "VALID")
        })
        .map(|(_, value)| value)
        .sum()
}

/// A malformed `[operations]` section stops the node before it starts, saying why.
#[test]
fn a_malformed_operations_section_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let base = format!(
        "name = \"peer0.unicom.example\"\ndata_dir = \"data\"\n[identity]\nmsp_id = \"UnicomMSP\"\n\
         dir = \"crypto\"\n[channel]\nname = \"settlement\"\ngenesis = \"{REPO}/none.block\"\n"
    );
    for (section, expected) in [
        ("[operations]\nlisten = \"127.23.250.2\"\n", "listen"),
        (
            "[operations]\nlisten = \"127.23.250.2:0\"\nport = 9\n",
            "port",
        ),
        (
            "[operations]\nlisten = \"127.23.250.2:0\"\ncert_expiry_warn_days = 0\n",
            "cert_expiry_warn_days",
        ),
        ("[operations]\n", "listen"),
        ("[log]\nformat = \"xml\"\n", "xml"),
    ] {
        let path = dir.join("node.toml");
        std::fs::write(&path, format!("{base}{section}")).unwrap();
        let stderr = NETSETTLE.fails(dir, &["node", "--config", path.to_str().unwrap()]);
        assert!(
            stderr.contains("node config") && stderr.contains(expected),
            "{section}: {stderr}"
        );
    }
}
