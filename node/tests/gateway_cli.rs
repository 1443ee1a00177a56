//! `netsettle gateway call` against a real gateway (Unicom's peer0 of the local
//! consortium on loopback slot 29, the settlement contract defined): a good call prints
//! the status line and the pretty JSON; a client certificate from a CA outside the
//! channel is refused in the handshake; a 404 and the gateway's 400 for a bad body exit
//! non-zero with the gateway's message; a body that is not JSON is refused before
//! anything is sent; `--events` prints the awaited number of Server-Sent Events.

use std::path::Path;

use netsettle_testkit::process::{Netsettle, ORDERERS};
use serde_json::Value;

/// The binary under test.
const NETSETTLE: Netsettle = Netsettle(env!("CARGO_BIN_EXE_netsettle"));

/// This file's loopback range: 127.29.x.x.
const SLOT: u8 = 29;

const GATEWAY_PEER: &str = "unicommsp-peer0";
const SERVER_NAME: &str = "peer0.unicom.example";
const SETTLEMENT_U: &str = "crypto/unicom/users/settlement@unicom.example";
const FINANCE_U: &str = "crypto/unicom/users/finance@unicom.example";
const SETTLEMENT_M: &str = "crypto/mobile/users/settlement@mobile.example";

/// Appends `[gateway]` to Unicom's peer0 config, listening on a free port of its host.
fn enable_gateway(dir: &Path) {
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
}

/// `gateway call` arguments for `identity` at `address`, then `extra`.
fn call_args<'a>(address: &'a str, identity: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "gateway",
        "call",
        "--gateway",
        address,
        "--identity",
        identity,
        "--server-name",
        SERVER_NAME,
        "--timeout",
        "60",
    ];
    args.extend(extra);
    args
}

/// The JSON after the status line of a good call's output.
fn json_after_status(stdout: &str) -> Value {
    let (status, body) = stdout.split_once('\n').unwrap();
    assert_eq!(status, "HTTP 200 OK", "{stdout}");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn gateway_call_answers_refuses_and_follows_events() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let others = ["unicommsp-peer1", "mobilemsp-peer0", "mobilemsp-peer1"];
    let _consortium = NETSETTLE.start_consortium(dir, SLOT, &ORDERERS, &others);
    enable_gateway(dir);
    let gateway_peer = NETSETTLE.start_node(dir, GATEWAY_PEER);
    let address = gateway_peer.field("gateway");
    NETSETTLE.define_settlement(dir);

    // A good call: the caller as the gateway sees it, pretty-printed.
    let out = NETSETTLE.ok(dir, &call_args(&address, SETTLEMENT_U, &["/v1/identity"]));
    let me = json_after_status(&out);
    assert_eq!(me["msp_id"], "UnicomMSP", "{out}");
    assert_eq!(me["attributes"]["department"], "settlement", "{out}");
    assert!(out.contains("\n  \""), "pretty JSON: {out}");
    let out = NETSETTLE.ok(
        dir,
        &call_args(&address, SETTLEMENT_U, &["/v1/settlement/periods"]),
    );
    assert!(json_after_status(&out)["periods"].is_array(), "{out}");

    // The other carrier's user (trusting Unicom's root for the gateway's certificate)
    // on a settlement view: the gateway's 403, one line.
    let unicom_root = dir.join(SETTLEMENT_U).join("tls/ca.pem");
    let unicom_root = unicom_root.to_str().unwrap();
    let err = NETSETTLE.fails(
        dir,
        &call_args(
            &address,
            SETTLEMENT_M,
            &["--ca", unicom_root, "/v1/settlement/periods"],
        ),
    );
    assert!(err.contains("HTTP 403 Forbidden"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // A certificate from a CA outside the channel (another consortium's, same names):
    // the handshake is refused.
    let stranger = tempfile::tempdir().unwrap();
    NETSETTLE.consortium(stranger.path());
    let stranger_id = stranger.path().join(SETTLEMENT_U);
    let err = NETSETTLE.fails(
        dir,
        &call_args(
            &address,
            stranger_id.to_str().unwrap(),
            &["--ca", unicom_root, "/v1/identity"],
        ),
    );
    // TLS 1.3: the server judges the client certificate after the client's last flight,
    // so the client learns it from the alert on its first read.
    assert!(
        err.starts_with("error: ") && err.contains("fatal alert: CertificateUnknown"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // Not found: a route that does not exist, and a block beyond the chain.
    let err = NETSETTLE.fails(dir, &call_args(&address, SETTLEMENT_U, &["/v1/nothing"]));
    assert!(err.contains("HTTP 404 Not Found"), "{err}");
    let err = NETSETTLE.fails(
        dir,
        &call_args(&address, SETTLEMENT_U, &["/v1/blocks/999999"]),
    );
    assert!(err.contains("HTTP 404 Not Found"), "{err}");

    // Bad bodies: JSON the gateway refuses (400, nothing committed), and text that is
    // not JSON, refused before anything is sent.
    let height = |dir: &Path| {
        json_after_status(&NETSETTLE.ok(dir, &call_args(&address, SETTLEMENT_U, &["/v1/chain"])))
            ["height"]
            .clone()
    };
    let before = height(dir);
    let err = NETSETTLE.fails(
        dir,
        &call_args(
            &address,
            SETTLEMENT_U,
            &[
                "--method",
                "POST",
                "--body",
                r#"{"request": "not an object"}"#,
                "/v1/settlement/dispute",
            ],
        ),
    );
    assert!(err.contains("HTTP 400 Bad Request"), "{err}");
    assert_eq!(height(dir), before);
    let body_file = dir.join("body.json");
    std::fs::write(&body_file, "{ not json").unwrap();
    let at_file = format!("@{}", body_file.display());
    let err = NETSETTLE.fails(
        dir,
        &call_args(
            &address,
            SETTLEMENT_U,
            &[
                "--method",
                "POST",
                "--body",
                &at_file,
                "/v1/settlement/dispute",
            ],
        ),
    );
    assert!(err.contains("the body is not JSON"), "{err}");
    assert_eq!(height(dir), before);

    // Events: the first two of the ledger, one line each.
    let out = NETSETTLE.ok(
        dir,
        &call_args(
            &address,
            SETTLEMENT_U,
            &["--events", "2", "/v1/events?from=0"],
        ),
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0], "HTTP 200 OK");
    assert!(lines[1].starts_with("0-"), "{out}");
}
