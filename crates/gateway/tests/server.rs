//! The gateway in process over real sockets: a peer on a temporary ledger, the server on
//! 127.0.0.1:0, HTTPS clients over SM-TLS with the consortium's certificates. Checks
//! authentication at the handshake and after it, the limits, clear JSON errors that
//! change nothing, ledger views and the event stream's resumption.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use netsettle_client::Signer;
use netsettle_gateway::{Backend, GatewayLimits, Signers};
use netsettle_peer::service::PeerHandle;
use netsettle_protocol::{Block, ContractId};
use netsettle_smcrypto::x509::Role;
use netsettle_smtls::{Sm2ServerVerifier, TlsIdentity};
use netsettle_testkit::peer::{chain, start_peer};
use netsettle_testkit::pki::{Member, anchors, no_revocation};
use netsettle_testkit::{Consortium, WAIT_MAX};
use rustls::ClientConfig;
use serde_json::Value;
use tokio::sync::{mpsc, watch};

struct Fixture {
    net: Consortium,
    peer: PeerHandle,
    blocks: mpsc::Sender<Block>,
    address: SocketAddr,
    _stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

async fn start(limits: GatewayLimits) -> Fixture {
    let net = Consortium::new();
    let dir = tempfile::tempdir().unwrap();
    let (peer, blocks) = start_peer(&net, &net.unicom_peer, dir.path(), true);
    let client = &net.unicom_client;
    let backend = Backend {
        peer: peer.clone(),
        client: None,
        signers: Signers {
            settlement: Signer::new(client.key.clone(), client.identity()),
            finance: None,
        },
        contract: ContractId {
            name: "kv".to_owned(),
            version: "1.0".to_owned(),
        },
    };
    let (stop, shutdown) = watch::channel(false);
    let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let running = netsettle_gateway::start(
        listen,
        net.unicom_peer.tls_identity(),
        backend,
        limits,
        shutdown,
    )
    .await
    .expect("the gateway starts");
    Fixture {
        address: running.local_addr,
        net,
        peer,
        blocks,
        _stop: stop,
        _dir: dir,
    }
}

fn client_config(fixture: &Fixture, member: Option<&Member>) -> Arc<ClientConfig> {
    let trust = anchors(&[&fixture.net.unicom, &fixture.net.mobile]);
    match member {
        Some(member) => netsettle_smtls::client_config(
            &TlsIdentity::new(vec![member.cert.clone()], member.key.clone()).unwrap(),
            &trust,
            no_revocation(),
        )
        .unwrap(),
        None => Arc::new(
            ClientConfig::builder_with_provider(netsettle_smtls::provider_arc())
                .with_protocol_versions(&[&rustls::version::TLS13])
                .unwrap()
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Sm2ServerVerifier::new(
                    trust,
                    no_revocation(),
                )))
                .with_no_client_auth(),
        ),
    }
}

/// An error with its chain of causes, so a failure says why.
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// An HTTP/1.1 connection to the gateway over SM-TLS.
struct Connection {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Connection {
    async fn open(fixture: &Fixture, member: Option<&Member>) -> Result<Connection, String> {
        let config = client_config(fixture, member);
        let tls = netsettle_smtls::connect(&config, fixture.address, "127.0.0.1")
            .await
            .map_err(|error| error.to_string())?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|error| error.to_string())?;
        tokio::spawn(connection);
        Ok(Connection { sender })
    }

    async fn send(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> Result<hyper::Response<hyper::body::Incoming>, String> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "127.0.0.1");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::copy_from_slice(body)))
            .unwrap();
        // hyper takes a second request on a connection only once its dispatcher has
        // finished the first and asked for more: wait for that (or for the
        // connection's end) instead of racing it.
        self.sender
            .ready()
            .await
            .map_err(|error| describe(&error))?;
        self.sender
            .send_request(request)
            .await
            .map_err(|error| describe(&error))
    }

    async fn json(
        &mut self,
        method: &str,
        path: &str,
        body: &str,
    ) -> Result<(StatusCode, Value), String> {
        let response = self
            .send(
                method,
                path,
                body.as_bytes(),
                &[("content-type", "application/json")],
            )
            .await?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        let value = serde_json::from_slice(&bytes).map_err(|e| format!("{e}: {bytes:?}"))?;
        Ok((status, value))
    }
}

async fn call(
    fixture: &Fixture,
    member: &Member,
    method: &str,
    path: &str,
    body: &str,
) -> (StatusCode, Value) {
    let mut connection = Connection::open(fixture, Some(member))
        .await
        .expect("connects");
    connection.json(method, path, body).await.expect("answers")
}

fn assert_error(answer: &(StatusCode, Value), status: StatusCode, contains: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["code"], status.as_u16(), "{}", answer.1);
    let message = answer.1["error"].as_str().expect("an error message");
    assert!(message.contains(contains), "{message:?} lacks {contains:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_certificate_is_the_callers_identity() {
    let fixture = start(GatewayLimits::default()).await;
    let net = &fixture.net;
    let (status, me) = call(&fixture, &net.unicom_client, "GET", "/v1/identity", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["msp_id"], "UnicomMSP");
    assert_eq!(me["role"], "client");
    assert_eq!(
        me["common_name"],
        net.unicom_client.cert.common_name().unwrap()
    );

    // An attribute OU (as the CA issues department=finance) reaches the handlers.
    let finance = net.unicom.member_with("finance", Role::Client, |params| {
        params.subject.organizational_units = vec!["department=finance".to_owned()];
    });
    let (_, me) = call(&fixture, &finance, "GET", "/v1/identity", "").await;
    assert_eq!(me["attributes"]["department"], "finance", "{me}");

    // Without a client certificate the handshake fails: no request is ever answered.
    let refused = match Connection::open(&fixture, None).await {
        Err(error) => error,
        Ok(mut connection) => connection
            .send("GET", "/v1/identity", b"", &[])
            .await
            .expect_err("no answer without a client certificate"),
    };
    assert!(!refused.is_empty());

    // A certificate the channel's CRL lists is refused at the handshake too.
    let revoked = match Connection::open(&fixture, Some(&net.revoked_client)).await {
        Err(error) => error,
        Ok(mut connection) => connection
            .send("GET", "/v1/identity", b"", &[])
            .await
            .expect_err("no answer for a revoked certificate"),
    };
    assert!(!revoked.is_empty());

    // A CA outside the channel: refused as well.
    let stranger = netsettle_testkit::TestOrg::new("StrangerMSP").member("x", Role::Client);
    let outsider = match Connection::open(&fixture, Some(&stranger)).await {
        Err(error) => error,
        Ok(mut connection) => connection
            .send("GET", "/v1/identity", b"", &[])
            .await
            .expect_err("no answer for a foreign CA"),
    };
    assert!(!outsider.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_signed_calls_are_for_the_own_carriers_client_users_only() {
    let fixture = start(GatewayLimits::default()).await;
    let net = &fixture.net;
    let height = fixture.peer.height();
    let body = r#"{"request": {"period": "2026-11", "line_no": 1, "reason": "x"}}"#;
    let other = call(
        &fixture,
        &net.mobile_client,
        "POST",
        "/v1/settlement/dispute",
        body,
    )
    .await;
    assert_error(&other, StatusCode::FORBIDDEN, "acts for UnicomMSP only");
    let admin = call(
        &fixture,
        &net.unicom_admin,
        "POST",
        "/v1/settlement/dispute",
        body,
    )
    .await;
    assert_error(&admin, StatusCode::FORBIDDEN, "client users");
    let unknown = call(
        &fixture,
        &net.unicom_client,
        "POST",
        "/v1/settlement/agreement_propose",
        body,
    )
    .await;
    assert_error(
        &unknown,
        StatusCode::NOT_FOUND,
        "no gateway-signed function",
    );
    // The settlement views sign with the same identity: the other carrier's users read
    // through their own gateway.
    let view = call(
        &fixture,
        &net.mobile_client,
        "GET",
        "/v1/settlement/periods/2026-11",
        "",
    )
    .await;
    assert_error(&view, StatusCode::FORBIDDEN, "acts for UnicomMSP only");
    // A finance caller with no finance identity configured is refused, not signed for
    // with the settlement identity.
    let finance = net.unicom.member_with("finance", Role::Client, |params| {
        params.subject.organizational_units = vec!["department=finance".to_owned()];
    });
    let refused = call(&fixture, &finance, "POST", "/v1/settlement/approve", body).await;
    assert_error(&refused, StatusCode::FORBIDDEN, "no finance identity");
    assert_eq!(fixture.peer.height(), height, "nothing was committed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_json_errors_and_change_nothing() {
    let limits = GatewayLimits {
        body_bytes_max: 1024,
        ..GatewayLimits::default()
    };
    let fixture = start(limits).await;
    let client = &fixture.net.unicom_client;
    let height = fixture.peer.height();
    let malformed = call(
        &fixture,
        client,
        "POST",
        "/v1/settlement/dispute",
        "{not json",
    )
    .await;
    assert_error(&malformed, StatusCode::BAD_REQUEST, "JSON");
    let unknown_field = call(
        &fixture,
        client,
        "POST",
        "/v1/settlement/dispute",
        r#"{"request": {}, "extra": 1}"#,
    )
    .await;
    assert_error(&unknown_field, StatusCode::BAD_REQUEST, "unknown field");
    let oversize = format!(r#"{{"request": {{"reason": "{}"}}}}"#, "x".repeat(2048));
    let too_large = call(
        &fixture,
        client,
        "POST",
        "/v1/settlement/dispute",
        &oversize,
    )
    .await;
    assert_error(
        &too_large,
        StatusCode::PAYLOAD_TOO_LARGE,
        "larger than 1024 bytes",
    );
    let bad_proposal = call(
        &fixture,
        client,
        "POST",
        "/v1/proposals/evaluate",
        r#"{"proposal": "zz"}"#,
    )
    .await;
    assert_error(&bad_proposal, StatusCode::BAD_REQUEST, "not hex");
    let garbage = call(
        &fixture,
        client,
        "POST",
        "/v1/proposals/evaluate",
        r#"{"proposal": "0102"}"#,
    )
    .await;
    assert_error(&garbage, StatusCode::BAD_REQUEST, "proposal");
    let bad_block = call(&fixture, client, "GET", "/v1/blocks/minus-one", "").await;
    assert_error(&bad_block, StatusCode::BAD_REQUEST, "not a number");
    let no_block = call(&fixture, client, "GET", "/v1/blocks/99", "").await;
    assert_error(&no_block, StatusCode::NOT_FOUND, "no block 99");
    let bad_tx = call(&fixture, client, "GET", "/v1/transactions/abc/status", "").await;
    assert_error(&bad_tx, StatusCode::BAD_REQUEST, "64 hex digits");
    let no_route = call(&fixture, client, "GET", "/v2/anything", "").await;
    assert_error(&no_route, StatusCode::NOT_FOUND, "no such route");
    // A read-only gateway (no client connection) says so for submissions.
    let read_only = call(
        &fixture,
        client,
        "POST",
        "/v1/settlement/dispute",
        r#"{"request": {}}"#,
    )
    .await;
    assert_error(
        &read_only,
        StatusCode::SERVICE_UNAVAILABLE,
        "views and events only",
    );
    assert_eq!(fixture.peer.height(), height, "nothing was committed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_bounded_per_source_address() {
    let limits = GatewayLimits {
        connections_per_address_max: 2,
        ..GatewayLimits::default()
    };
    let fixture = start(limits).await;
    let client = &fixture.net.unicom_client;
    let mut first = Connection::open(&fixture, Some(client)).await.unwrap();
    let mut second = Connection::open(&fixture, Some(client)).await.unwrap();
    // Both are served, so both hold their slots.
    assert_eq!(
        first.json("GET", "/v1/chain", "").await.unwrap().0,
        StatusCode::OK
    );
    assert_eq!(
        second.json("GET", "/v1/chain", "").await.unwrap().0,
        StatusCode::OK
    );
    let third = match Connection::open(&fixture, Some(client)).await {
        Err(error) => error,
        Ok(mut connection) => connection
            .json("GET", "/v1/chain", "")
            .await
            .expect_err("a third connection from the address is closed"),
    };
    assert!(!third.is_empty());
    // The first two still work.
    assert_eq!(
        first.json("GET", "/v1/chain", "").await.unwrap().0,
        StatusCode::OK
    );
}

/// Reads SSE events (id, event name, data) from `body` until `n` have come.
async fn read_events(body: &mut hyper::body::Incoming, n: usize) -> Vec<(String, String, Value)> {
    let mut text = String::new();
    let mut events = Vec::new();
    while events.len() < n {
        let frame = tokio::time::timeout(WAIT_MAX, body.frame())
            .await
            .expect("an event within the wait")
            .expect("the stream goes on")
            .expect("a frame");
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
            if !name.is_empty() {
                events.push((id, name, serde_json::from_str(&data).unwrap()));
            }
        }
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_resumes_after_the_last_event_id() {
    let fixture = start(GatewayLimits::default()).await;
    let net = &fixture.net;
    let blocks = chain(net, net.orderer(), 5);
    for block in &blocks[1..=3] {
        fixture.blocks.send(block.clone()).await.unwrap();
    }
    let mut connection = Connection::open(&fixture, Some(&net.mobile_client))
        .await
        .unwrap();
    let response = connection
        .send("GET", "/v1/events?from=1", b"", &[])
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let first = read_events(&mut body, 3).await;
    let ids: Vec<&str> = first.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(ids, ["1-end", "2-end", "3-end"]);
    assert!(first.iter().all(|(_, name, _)| name == "block"));
    assert_eq!(first[1].2["number"], 2);
    assert_eq!(first[1].2["hash"], blocks[2].hash().to_string());
    drop(body);
    drop(connection);

    // Blocks commit while the subscriber is away; it resumes after "3-end" and gets 4, 5.
    for block in &blocks[4..=5] {
        fixture.blocks.send(block.clone()).await.unwrap();
    }
    let mut connection = Connection::open(&fixture, Some(&net.mobile_client))
        .await
        .unwrap();
    let response = connection
        .send(
            "GET",
            "/v1/events?from=0",
            b"",
            &[("last-event-id", "3-end")],
        )
        .await
        .unwrap();
    let mut body = response.into_body();
    let resumed = read_events(&mut body, 2).await;
    let ids: Vec<&str> = resumed.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(ids, ["4-end", "5-end"]);

    let bad = connection_json(
        &fixture,
        &net.mobile_client,
        "/v1/events",
        &[("last-event-id", "4-x")],
    )
    .await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "BLOCK-TX-EVENT");

    // The block view agrees with the stream.
    let (status, view) = call(&fixture, &net.mobile_client, "GET", "/v1/blocks/4", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["hash"], blocks[4].hash().to_string());
    let tx_id = view["txs"][0]["tx_id"].as_str().unwrap().to_owned();
    let (_, status) = call(
        &fixture,
        &net.mobile_client,
        "GET",
        &format!("/v1/transactions/{tx_id}/status"),
        "",
    )
    .await;
    assert_eq!(status["status"], "committed");
    assert_eq!(status["block"], 4);
    let (_, chain_view) = call(&fixture, &net.mobile_client, "GET", "/v1/chain", "").await;
    assert_eq!(chain_view["height"], 6);
}

async fn connection_json(
    fixture: &Fixture,
    member: &Member,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut connection = Connection::open(fixture, Some(member)).await.unwrap();
    let response = connection.send("GET", path, b"", headers).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

/// `prepare`'s body for the lifecycle's `query` (a contract every channel runs; this
/// test channel defines no other) with `certificate` as the creator.
fn prepare_body(certificate: &Member, args: Value) -> String {
    serde_json::json!({
        "certificate": certificate.cert.to_pem(),
        "contract": { "name": "_lifecycle", "version": "1" },
        "function": "query",
        "args": args,
    })
    .to_string()
}

async fn prepared(fixture: &Fixture, caller: &Member, certificate: &Member) -> (String, Vec<u8>) {
    let (status, prepared) = call(
        fixture,
        caller,
        "POST",
        "/v1/proposals/prepare",
        &prepare_body(certificate, serde_json::json!(["kv"])),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{prepared}");
    let proposal = prepared["proposal"].as_str().unwrap().to_owned();
    let signing_bytes = hex::decode(prepared["signing_bytes"].as_str().unwrap()).unwrap();
    (proposal, signing_bytes)
}

fn signed_body(proposal: &str, signature: &[u8]) -> String {
    serde_json::json!({ "proposal": proposal, "signature": hex::encode(signature) }).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_proposals_are_signed_by_the_caller_alone() {
    use netsettle_protocol::{Proposal, decode, domain, encode};
    let fixture = start(GatewayLimits::default()).await;
    let net = &fixture.net;
    let user = &net.unicom_client;
    let height = fixture.peer.height();

    // The arguments' JSON forms become the bytes the contract reads; the signing bytes
    // are the proposal domain tag and exactly the proposal returned.
    let (status, answer) = call(
        &fixture,
        user,
        "POST",
        "/v1/proposals/prepare",
        &prepare_body(user, serde_json::json!(["k", {"hex": "00ff"}, {"a": 1}, 7])),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let proposal_bytes = hex::decode(answer["proposal"].as_str().unwrap()).unwrap();
    let proposal: Proposal = decode(&proposal_bytes).unwrap();
    assert_eq!(
        proposal.args,
        vec![
            b"k".to_vec(),
            vec![0, 255],
            br#"{"a":1}"#.to_vec(),
            b"7".to_vec()
        ]
    );
    assert_eq!(proposal.header.creator, user.identity());
    assert_eq!(answer["tx_id"], proposal.tx_id().to_string());
    let mut expected = domain::PROPOSAL.to_vec();
    expected.extend_from_slice(&proposal_bytes);
    assert_eq!(answer["signing_bytes"], hex::encode(&expected));

    // Signed as a Java system would (plain SM2 over the signing bytes): the peer checks
    // creator and signature and runs the contract, whose answer comes back (the channel
    // has no definition of kv: its 404).
    let (proposal, signing_bytes) = prepared(&fixture, user, user).await;
    let signature = user.key.sign(&signing_bytes);
    let evaluated = call(
        &fixture,
        user,
        "POST",
        "/v1/proposals/evaluate",
        &signed_body(&proposal, signature.as_der()),
    )
    .await;
    assert_error(&evaluated, StatusCode::NOT_FOUND, "no definition of kv");

    // Another key's signature: refused at evaluate and at endorse.
    let stranger = net.mobile_client.key.sign(&signing_bytes);
    for path in ["/v1/proposals/evaluate", "/v1/proposals/endorse"] {
        let refused = call(
            &fixture,
            user,
            "POST",
            path,
            &signed_body(&proposal, stranger.as_der()),
        )
        .await;
        assert_error(&refused, StatusCode::FORBIDDEN, "does not verify");
    }

    // A proposal changed after signing (another key to read): refused.
    let mut tampered: Proposal = decode(&hex::decode(&proposal).unwrap()).unwrap();
    tampered.args = vec![b"other".to_vec()];
    let tampered = hex::encode(encode(&tampered).unwrap());
    let refused = call(
        &fixture,
        user,
        "POST",
        "/v1/proposals/endorse",
        &signed_body(&tampered, signature.as_der()),
    )
    .await;
    assert_error(&refused, StatusCode::FORBIDDEN, "does not verify");

    // Malformed signatures get clear errors.
    let not_hex = call(
        &fixture,
        user,
        "POST",
        "/v1/proposals/evaluate",
        &serde_json::json!({ "proposal": proposal, "signature": "zz" }).to_string(),
    )
    .await;
    assert_error(&not_hex, StatusCode::BAD_REQUEST, "signature is not hex");
    let not_der = call(
        &fixture,
        user,
        "POST",
        "/v1/proposals/evaluate",
        &signed_body(&proposal, &[1, 2]),
    )
    .await;
    assert_error(&not_der, StatusCode::BAD_REQUEST, "DER");

    // A signing certificate that is not the TLS caller's (another user of the same
    // carrier, or the other carrier's user): refused at prepare.
    let colleague = net.unicom.member("colleague", Role::Client);
    for other in [&colleague, &net.mobile_client] {
        let refused = call(
            &fixture,
            user,
            "POST",
            "/v1/proposals/prepare",
            &prepare_body(other, serde_json::json!(["kv"])),
        )
        .await;
        assert_error(&refused, StatusCode::FORBIDDEN, "is not the caller");
    }
    // A proposal prepared for the colleague (by the colleague) and signed by them is
    // still not this caller's to send.
    let (theirs, their_bytes) = prepared(&fixture, &colleague, &colleague).await;
    let their_signature = colleague.key.sign(&their_bytes);
    let refused = call(
        &fixture,
        user,
        "POST",
        "/v1/proposals/evaluate",
        &signed_body(&theirs, their_signature.as_der()),
    )
    .await;
    assert_error(&refused, StatusCode::FORBIDDEN, "is not the caller");
    let bad_pem = call(
        &fixture,
        user,
        "POST",
        "/v1/proposals/prepare",
        &serde_json::json!({ "certificate": "nope", "function": "query" }).to_string(),
    )
    .await;
    assert_error(&bad_pem, StatusCode::BAD_REQUEST, "certificate");

    // A correctly signed proposal reaches endorse's peers step (this gateway is
    // read-only, so it says so); nothing was committed on any path.
    let endorse = call(
        &fixture,
        user,
        "POST",
        "/v1/proposals/endorse",
        &signed_body(&proposal, signature.as_der()),
    )
    .await;
    assert_error(
        &endorse,
        StatusCode::SERVICE_UNAVAILABLE,
        "views and events only",
    );
    assert_eq!(fixture.peer.height(), height, "nothing was committed");
}

/// Reads until the server closes `stream` (end of stream or a reset), within `WAIT_MAX`;
/// returns what it sent before.
async fn read_until_closed<S: tokio::io::AsyncRead + Unpin>(mut stream: S) -> Vec<u8> {
    use tokio::io::AsyncReadExt as _;
    let mut received = Vec::new();
    let closed = tokio::time::timeout(WAIT_MAX, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the gateway did not close the connection");
    received
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_are_closed_after_the_header_read_timeout() {
    let limits = GatewayLimits {
        // Short next to WAIT_MAX, long enough for a handshake on a loaded machine.
        header_read_timeout: core::time::Duration::from_secs(2),
        ..GatewayLimits::default()
    };
    let fixture = start(limits).await;
    let client = &fixture.net.unicom_client;

    // A TCP connection that never starts the TLS handshake is closed.
    let tcp = tokio::net::TcpStream::connect(fixture.address)
        .await
        .unwrap();
    let sent = read_until_closed(tcp).await;
    assert!(sent.is_empty(), "nothing is sent to a silent client");

    // A TLS connection that never sends request headers is closed as well.
    let config = client_config(&fixture, Some(client));
    let tls = netsettle_smtls::connect(&config, fixture.address, "127.0.0.1")
        .await
        .expect("handshake");
    read_until_closed(tls).await;

    // A client that sends its request in time is served.
    let mut connection = Connection::open(&fixture, Some(client)).await.unwrap();
    let (status, _) = connection.json("GET", "/v1/chain", "").await.unwrap();
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_request_headers_are_refused() {
    let fixture = start(GatewayLimits::default()).await;
    let client = &fixture.net.unicom_client;
    let mut connection = Connection::open(&fixture, Some(client)).await.unwrap();
    let big = "x".repeat(netsettle_gateway::limits::HEADER_BYTES_MAX + 1024);
    let answer = connection
        .send("GET", "/v1/chain", b"", &[("x-padding", big.as_str())])
        .await;
    let response = answer.expect("an answer");
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    // Headers within the limit on a new connection are served.
    let fine = "x".repeat(1024);
    let mut connection = Connection::open(&fixture, Some(client)).await.unwrap();
    let response = connection
        .send("GET", "/v1/chain", b"", &[("x-padding", fine.as_str())])
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
