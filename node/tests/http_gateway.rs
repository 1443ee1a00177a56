//! A settlement month through the HTTP gateway, with real processes: five Raft orderers
//! and two peers per carrier behind both DMZ forwarders (loopback slot 18), Unicom's
//! peer0 serving the gateway. The test is an HTTPS client over SM-TLS (hyper over our
//! rustls provider, a user's certificate as client certificate):
//!
//! - both carriers' admins agree on the terms caller-signed (endorse → sign the returned
//!   bytes → submit), Mobile's admin through Unicom's gateway;
//! - Unicom's settlement system drives its side gateway-signed (`POST
//!   /v1/settlement/{function}`, its user recorded as `on_behalf_of`), Mobile's users
//!   caller-signed (its confirm through `prepare`: JSON in, nothing but SM2 signatures
//!   made here, as a Java system would); a disputed line is adjusted and accepted, both confirm, the period is
//!   final and the export has every line;
//! - Mobile's certificate is refused on the gateway-signed route (403) and nothing
//!   changes;
//! - an SSE client follows the events from block 0, is disconnected halfway, resumes with
//!   `Last-Event-ID`, and has in the end exactly the contract events the ledger holds, in
//!   order.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::body::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use netsettle_client::Signer;
use netsettle_msp::IdentityLayout;
use netsettle_protocol::{ContractId, Identity, encode};
use netsettle_settlement::report::Report;
use netsettle_settlement::seal::{reveal_args, seal_report_fresh};
use netsettle_smcrypto::PrivateKey;
use netsettle_smcrypto::x509::Certificate;
use netsettle_smtls::{TlsIdentity, TrustAnchors};
use netsettle_testkit::WAIT_MAX;
use netsettle_testkit::process::{Netsettle, ORDERERS};
use rustls::ClientConfig;
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// The binary under test.
const NETSETTLE: Netsettle = Netsettle(env!("CARGO_BIN_EXE_netsettle"));

/// This file's loopback range: 127.18.x.x.
const SLOT: u8 = 18;

const PERIOD: &str = "2026-11";
const GATEWAY_PEER: &str = "unicommsp-peer0";
const ADMIN_U: &str = "crypto/unicom/users/admin@unicom.example";
const ADMIN_M: &str = "crypto/mobile/users/admin@mobile.example";
const SETTLEMENT_U: &str = "crypto/unicom/users/settlement@unicom.example";
const FINANCE_U: &str = "crypto/unicom/users/finance@unicom.example";
const SETTLEMENT_M: &str = "crypto/mobile/users/settlement@mobile.example";
const FINANCE_M: &str = "crypto/mobile/users/finance@mobile.example";

const REPORT_U: &str = "item,direction,area,quantity,unit,rate,amount_fen
voice_local,payable,0571,1000000,minute,0.06,6000000
sms_p2p,receivable,0571,2000000,message,0.03,6000000
data_5g,payable,0571,50000000,MB,0.001,5000000
";
/// Mobile's mirror of Unicom's report, except for the 5G data volume.
const REPORT_M: &str = "item,direction,area,quantity,unit,rate,amount_fen
voice_local,receivable,0571,1000000,minute,0.06,6000000
sms_p2p,payable,0571,2000000,message,0.03,6000000
data_5g,receivable,0571,60000000,MB,0.001,6000000
";

fn settlement() -> ContractId {
    ContractId {
        name: "settlement".to_owned(),
        version: "1.0".to_owned(),
    }
}

/// A user's HTTPS connection settings: its signing certificate as client certificate,
/// both carriers' CAs as roots; and its key and identity for caller-signed work.
struct User {
    config: Arc<ClientConfig>,
    address: SocketAddr,
    key: PrivateKey,
    identity: Identity,
    /// The signing certificate, for `prepare`.
    cert_pem: String,
}

impl User {
    fn load(dir: &Path, identity_dir: &str, msp_id: &str, address: SocketAddr) -> User {
        let layout = IdentityLayout::new(&dir.join(identity_dir));
        let (cert, key) = Certificate::read_with_key(&layout.sign_cert(), &layout.sign_key())
            .expect("the user's signing identity");
        let roots = TrustAnchors::from_pem_files(&[
            IdentityLayout::new(&dir.join(ADMIN_U)).msp_ca_cert(),
            IdentityLayout::new(&dir.join(ADMIN_M)).msp_ca_cert(),
        ])
        .expect("both carriers' roots");
        let tls = TlsIdentity::new(vec![cert.clone()], key.clone()).expect("TLS identity");
        let config =
            netsettle_smtls::client_config(&tls, &roots, Arc::new(netsettle_smtls::NoRevocation))
                .expect("client config");
        User {
            config,
            address,
            key,
            cert_pem: cert.to_pem(),
            identity: Identity {
                msp_id: msp_id.to_owned(),
                cert_der: cert.der().to_vec(),
            },
        }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> hyper::Response<hyper::body::Incoming> {
        let tls = netsettle_smtls::connect(&self.config, self.address, "peer0.unicom.example")
            .await
            .expect("SM-TLS to the gateway");
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .expect("HTTP/1.1");
        tokio::spawn(connection);
        let bytes = body.map(|body| body.to_string()).unwrap_or_default();
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "peer0.unicom.example")
            .header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(Bytes::from(bytes))).unwrap();
        sender.send_request(request).await.expect("an answer")
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let response = self.send(method, path, body.as_ref(), &[]).await;
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, value)
    }

    async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(method, path, body).await;
        assert_eq!(status, StatusCode::OK, "{method} {path}: {value}");
        value
    }

    /// Caller-signed: the proposal signed here, endorsed by the gateway, the returned
    /// signing bytes signed here, submitted and waited for. The key never leaves.
    async fn caller_signed(&self, function: &str, args: Vec<Vec<u8>>) -> Value {
        let signer = Signer::new(self.key.clone(), self.identity.clone());
        let proposal = signer
            .propose("settlement", settlement(), function, args)
            .unwrap();
        let endorsed = self
            .ok(
                "POST",
                "/v1/proposals/endorse",
                Some(json!({ "proposal": hex::encode(encode(&proposal).unwrap()) })),
            )
            .await;
        self.sign_and_submit(function, &endorsed).await;
        endorsed["response"]["payload"].clone()
    }

    /// Signs an endorsed payload's signing bytes with the caller's own key, submits it and
    /// waits: committed VALID.
    async fn sign_and_submit(&self, function: &str, endorsed: &Value) {
        let signing_bytes = hex::decode(endorsed["signing_bytes"].as_str().unwrap()).unwrap();
        let signature = self.key.sign(&signing_bytes);
        let committed = self
            .ok(
                "POST",
                "/v1/transactions/submit",
                Some(json!({
                    "payload": endorsed["payload"],
                    "signature": hex::encode(signature.as_der()),
                    "wait": true,
                })),
            )
            .await;
        assert_eq!(committed["code"], "VALID", "{function}: {committed}");
        assert_eq!(committed["tx_id"], endorsed["tx_id"]);
    }

    /// Caller-signed without our codec, as a Java system does it: `prepare` from JSON,
    /// then only SM2 signatures over the returned signing bytes (proposal, then
    /// transaction), submitted and waited for.
    async fn prepared_signed(&self, function: &str, args: Value) -> Value {
        let prepared = self
            .ok(
                "POST",
                "/v1/proposals/prepare",
                Some(json!({ "certificate": self.cert_pem, "function": function, "args": args })),
            )
            .await;
        let signing_bytes = hex::decode(prepared["signing_bytes"].as_str().unwrap()).unwrap();
        let signature = self.key.sign(&signing_bytes);
        let endorsed = self
            .ok(
                "POST",
                "/v1/proposals/endorse",
                Some(json!({
                    "proposal": prepared["proposal"],
                    "signature": hex::encode(signature.as_der()),
                })),
            )
            .await;
        assert_eq!(endorsed["tx_id"], prepared["tx_id"]);
        self.sign_and_submit(function, &endorsed).await;
        endorsed["response"]["payload"].clone()
    }

    /// Gateway-signed: `POST /v1/settlement/{function}`.
    async fn gateway_signed(&self, function: &str, body: Value) -> Value {
        let committed = self
            .ok("POST", &format!("/v1/settlement/{function}"), Some(body))
            .await;
        assert_eq!(committed["code"], "VALID", "{function}: {committed}");
        committed
    }

    async fn period(&self) -> Value {
        self.ok("GET", &format!("/v1/settlement/periods/{PERIOD}"), None)
            .await
    }
}

/// One SSE event: id, name, data.
type SseEvent = (String, String, Value);

/// Follows `/v1/events` from block 0 (or after `last_id`), sending each event to `out`
/// until the task is aborted.
async fn follow_events(user: Arc<User>, last_id: Option<String>, out: mpsc::Sender<SseEvent>) {
    let headers: Vec<(&str, &str)> = match &last_id {
        Some(id) => vec![("last-event-id", id.as_str())],
        None => Vec::new(),
    };
    let response = user.send("GET", "/v1/events?from=0", None, &headers).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let mut text = String::new();
    while let Some(Ok(frame)) = body.frame().await {
        let Ok(data) = frame.into_data() else {
            continue;
        };
        text.push_str(std::str::from_utf8(&data).unwrap());
        while let Some(end) = text.find("\n\n") {
            let chunk: String = text.drain(..end + 2).collect();
            let (mut id, mut name, mut data) = (String::new(), String::new(), String::new());
            for line in chunk.lines() {
                if let Some(value) = line.strip_prefix("id:") {
                    id = value.trim().to_owned();
                } else if let Some(value) = line.strip_prefix("event:") {
                    name = value.trim().to_owned();
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.trim());
                }
            }
            if name.is_empty() {
                continue; // a heartbeat comment
            }
            let event = (id, name, serde_json::from_str(&data).unwrap());
            if out.send(event).await.is_err() {
                return;
            }
        }
    }
}

/// Receives events until one named `name` whose data satisfies `matches` has come.
async fn events_until(
    events: &mut mpsc::Receiver<SseEvent>,
    seen: &mut Vec<SseEvent>,
    matches: impl Fn(&SseEvent) -> bool,
) {
    loop {
        let event = tokio::time::timeout(WAIT_MAX, events.recv())
            .await
            .expect("the awaited event within the wait")
            .expect("the stream goes on");
        let done = matches(&event);
        seen.push(event);
        if done {
            return;
        }
    }
}

fn enable_gateway(dir: &Path) -> String {
    let path = dir.join(format!("nodes/{GATEWAY_PEER}.toml"));
    let text = std::fs::read_to_string(&path).unwrap();
    let config: toml::Value = toml::from_str(&text).unwrap();
    let listen = config["network"]["listen"].as_str().unwrap();
    let host = listen.rsplit_once(':').unwrap().0;
    let section = format!(
        "\n[gateway]\nlisten = \"{host}:0\"\nprofile = \"../clients/unicommsp.toml\"\n\
         settlement_identity = \"../{SETTLEMENT_U}\"\nfinance_identity = \"../{FINANCE_U}\"\n"
    );
    std::fs::write(&path, format!("{text}{section}")).unwrap();
    host.to_owned()
}

#[test]
fn a_month_through_the_http_gateway_with_resumable_events() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let others = ["unicommsp-peer1", "mobilemsp-peer0", "mobilemsp-peer1"];
    let _consortium = NETSETTLE.start_consortium(dir, SLOT, &ORDERERS, &others);
    enable_gateway(dir);
    let gateway_peer = NETSETTLE.start_node(dir, GATEWAY_PEER);
    let address: SocketAddr = gateway_peer.field("gateway").parse().unwrap();
    NETSETTLE.define_settlement(dir);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let admin_u = User::load(dir, ADMIN_U, "UnicomMSP", address);
        let admin_m = User::load(dir, ADMIN_M, "MobileMSP", address);
        let settlement_u = User::load(dir, SETTLEMENT_U, "UnicomMSP", address);
        let settlement_m = Arc::new(User::load(dir, SETTLEMENT_M, "MobileMSP", address));
        let me = settlement_u.ok("GET", "/v1/identity", None).await;
        assert_eq!(me["attributes"]["department"], "settlement", "{me}");

        // The SSE client (Mobile's, any member may follow the ledger) from block 0.
        let (events_tx, mut events) = mpsc::channel(1024);
        let follower = tokio::spawn(follow_events(
            Arc::clone(&settlement_m),
            None,
            events_tx.clone(),
        ));
        let mut seen = Vec::new();

        // The terms, caller-signed by both admins.
        let text = std::fs::read_to_string(format!(
            "{}/tests/data/settlement/agreement.json",
            netsettle_testkit::process::REPO
        ))
        .unwrap();
        let proposed = admin_u
            .caller_signed("agreement_propose", vec![text.into_bytes()])
            .await;
        admin_m
            .caller_signed(
                "agreement_accept",
                vec![
                    json!({ "digest": proposed["digest"] })
                        .to_string()
                        .into_bytes(),
                ],
            )
            .await;

        // Uploads: Unicom gateway-signed, Mobile caller-signed.
        let report_u =
            Report::from_csv(PERIOD.parse().unwrap(), "UnicomMSP", REPORT_U.as_bytes()).unwrap();
        let (sealed_u, opening_u) = seal_report_fresh(&report_u).unwrap();
        let upload_args = sealed_u.upload_args();
        let request: Value = serde_json::from_slice(&upload_args[0]).unwrap();
        let uploaded = settlement_u
            .gateway_signed(
                "upload",
                json!({ "request": request, "ciphertext": hex::encode(&upload_args[1]) }),
            )
            .await;
        assert_eq!(uploaded["on_behalf_of"], me["common_name"]);

        // Mobile's certificate on the gateway-signed route: 403, nothing changes.
        let height = admin_m.ok("GET", "/v1/chain", None).await["height"].clone();
        let (status, refused) = settlement_m
            .call(
                "POST",
                "/v1/settlement/dispute",
                Some(json!({ "request": { "period": PERIOD } })),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
        assert_eq!(refused["code"], 403);
        assert_eq!(admin_m.ok("GET", "/v1/chain", None).await["height"], height);

        let report_m =
            Report::from_csv(PERIOD.parse().unwrap(), "MobileMSP", REPORT_M.as_bytes()).unwrap();
        let (sealed_m, opening_m) = seal_report_fresh(&report_m).unwrap();
        settlement_m
            .caller_signed("upload", sealed_m.upload_args())
            .await;

        // Halfway: the SSE client is cut off after the second upload's events; it
        // resumes after the last id it received.
        events_until(&mut events, &mut seen, |(_, name, data)| {
            name == "contract" && data["name"] == "ReportsUploaded"
        })
        .await;
        follower.abort();
        let _ = follower.await;
        while let Ok(event) = events.try_recv() {
            seen.push(event);
        }
        let last_id = seen.last().unwrap().0.clone();
        let follower = tokio::spawn(follow_events(
            Arc::clone(&settlement_m),
            Some(last_id),
            events_tx,
        ));

        // Reveals: Unicom gateway-signed, Mobile caller-signed; the second reconciles.
        let reveal_u: Value =
            serde_json::from_slice(&reveal_args(PERIOD.parse().unwrap(), &opening_u)[0]).unwrap();
        settlement_u
            .gateway_signed("reveal", json!({ "request": reveal_u }))
            .await;
        settlement_m
            .caller_signed("reveal", reveal_args(PERIOD.parse().unwrap(), &opening_m))
            .await;

        // The 5G line is disputed: Unicom adjusts it to Mobile's figures, Mobile accepts.
        let open = settlement_u
            .ok(
                "GET",
                &format!("/v1/settlement/periods/{PERIOD}/lines?open_only=true&limit=10"),
                None,
            )
            .await;
        let lines = open["lines"].as_array().unwrap();
        assert_eq!(lines.len(), 1, "{open}");
        let line_no = lines[0]["line_no"].as_u64().unwrap();
        let proposed = settlement_u
            .gateway_signed(
                "adjust_propose",
                json!({ "request": {
                    "period": PERIOD, "line_no": line_no, "quantity": 60_000_000u64,
                    "amount_fen": 6_000_000u64, "reason": "Mobile's CDRs are complete",
                }}),
            )
            .await;
        let adjustment_id = proposed["response"]["payload"]["adjustment"]["id"].clone();
        settlement_m
            .caller_signed(
                "adjust_accept",
                vec![
                    json!({ "period": PERIOD, "adjustment_id": adjustment_id })
                        .to_string()
                        .into_bytes(),
                ],
            )
            .await;

        // Both confirm the current version; the period is final.
        let version = settlement_u.period().await["state"]["version"].clone();
        settlement_u
            .gateway_signed(
                "confirm",
                json!({ "request": { "period": PERIOD, "version": version } }),
            )
            .await;
        // Mobile confirms through prepare: JSON in, only signatures made here.
        settlement_m
            .prepared_signed(
                "confirm",
                json!([{ "period": PERIOD, "version": version }]),
            )
            .await;
        let final_data = settlement_u
            .ok(
                "GET",
                &format!("/v1/settlement/periods/{PERIOD}/final"),
                None,
            )
            .await;
        assert_eq!(final_data["data"]["lines"], 3, "{final_data}");
        let export = settlement_u
            .ok(
                "GET",
                &format!("/v1/settlement/periods/{PERIOD}/export?format=json"),
                None,
            )
            .await;
        assert_eq!(export["lines"].as_array().unwrap().len(), 3, "{export}");
        let (status, csv) = settlement_u
            .call(
                "GET",
                &format!("/v1/settlement/periods/{PERIOD}/export?format=csv"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            csv.as_str()
                .unwrap()
                .lines()
                .filter(|l| !l.starts_with('#'))
                .count(),
            4
        );
        let audit = settlement_u
            .ok(
                "GET",
                &format!("/v1/settlement/periods/{PERIOD}/audit"),
                None,
            )
            .await;
        let acting = me["common_name"].as_str().unwrap();
        assert!(audit.to_string().contains(acting), "{audit}");
        let history = settlement_u
            .ok(
                "GET",
                &format!("/v1/settlement/periods/{PERIOD}/lines/{line_no}/history"),
                None,
            )
            .await;
        assert!(history.to_string().contains(acting), "{history}");

        // Finance: settlement staff may not approve (the contract's separation of duties,
        // through the gateway's settlement identity); finance approves on both sides,
        // the payer pays, the payee acknowledges.
        let (status, refused) = settlement_u
            .call(
                "POST",
                "/v1/settlement/approve",
                Some(json!({ "request": { "period": PERIOD } })),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
        let finance_u = User::load(dir, FINANCE_U, "UnicomMSP", address);
        let finance_m = User::load(dir, FINANCE_M, "MobileMSP", address);
        let finance_me = finance_u.ok("GET", "/v1/identity", None).await;
        let approved = finance_u
            .gateway_signed("approve", json!({ "request": { "period": PERIOD } }))
            .await;
        assert_eq!(approved["on_behalf_of"], finance_me["common_name"]);
        finance_m
            .caller_signed(
                "approve",
                vec![json!({ "period": PERIOD }).to_string().into_bytes()],
            )
            .await;
        assert_eq!(final_data["data"]["payer"], "UnicomMSP", "{final_data}");
        let net = final_data["data"]["net_amount_fen"].clone();
        let reference = "ICBC-2026-11-0001";
        finance_u
            .gateway_signed(
                "pay",
                json!({ "request": { "period": PERIOD, "reference": reference, "amount_fen": net } }),
            )
            .await;
        finance_m
            .caller_signed(
                "ack",
                vec![json!({ "period": PERIOD, "reference": reference }).to_string().into_bytes()],
            )
            .await;
        let periods = settlement_u.ok("GET", "/v1/settlement/periods", None).await;
        assert!(periods.to_string().contains("Closed"), "{periods}");

        // The resumed stream reaches the Final event; every contract event of the ledger
        // came exactly once, in ledger order.
        events_until(&mut events, &mut seen, |(_, name, data)| {
            name == "contract" && data["name"] == "PeriodClosed"
        })
        .await;
        let height = settlement_u.ok("GET", "/v1/chain", None).await["height"]
            .as_u64()
            .unwrap();
        events_until(&mut events, &mut seen, |(id, name, _)| {
            name == "block" && id == &format!("{}-end", height - 1)
        })
        .await;
        follower.abort();
        let streamed: Vec<(String, String)> = seen
            .iter()
            .filter(|(_, name, _)| name == "contract")
            .map(|(id, _, data)| (id.clone(), data["name"].as_str().unwrap().to_owned()))
            .collect();
        let mut on_ledger = Vec::new();
        for number in 0..height {
            let block = settlement_u
                .ok("GET", &format!("/v1/blocks/{number}"), None)
                .await;
            for tx in block["txs"].as_array().unwrap() {
                if tx["code"] != "VALID" {
                    continue;
                }
                let path = format!("/v1/transactions/{}", tx["tx_id"].as_str().unwrap());
                let details = settlement_u.ok("GET", &path, None).await;
                for (event_index, name) in details["events"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let id = format!("{number}-{}-{event_index}", tx["index"]);
                    on_ledger.push((id, name.as_str().unwrap().to_owned()));
                }
            }
        }
        assert_eq!(streamed, on_ledger);
        let blocks: Vec<&String> = seen
            .iter()
            .filter(|(_, name, _)| name == "block")
            .map(|(id, _, _)| id)
            .collect();
        let expected: Vec<String> = (0..height).map(|n| format!("{n}-end")).collect();
        assert_eq!(blocks, expected.iter().collect::<Vec<_>>());
    });
}
