//! The peers' validation codes with real processes: five Raft orderers and two peers per
//! carrier behind both DMZ forwarders (loopback slot 8), the test itself a client through
//! `netsettle_client` over real sockets and the CLI for what operators do. Every case
//! reads the code each of the four peers recorded (`peer-tx-status`) and checks that
//! state did not change:
//!
//! - endorsed by both carriers → VALID; by one only → ENDORSEMENT_POLICY_FAILURE;
//! - a write changed after endorsement and the envelope re-signed → BAD_SIGNATURE;
//! - two accepts endorsed against the same state, ordered together → VALID then
//!   MVCC_READ_CONFLICT;
//! - an envelope broadcast again → every orderer refuses it; one sent to two orderers at
//!   once → ordered once, both acknowledged (the orderers drop the later copy when they
//!   apply it; one slipping into a block would be DUPLICATE_TXID: the ledgers are scanned
//!   at the end);
//! - a CRL revoking a client's signing certificate, signed by both carriers' admins and
//!   submitted to the orderers (`configtx submit`) → in force at every peer; the client is
//!   refused at endorsement, and its envelope endorsed before the revocation is refused by
//!   every orderer and never committed;
//! - the settlement definition upgraded to sequence 2 (one carrier's endorsement
//!   suffices) through the CLI, after an approval with a wrong sequence was refused.

use std::path::Path;

use netsettle_client::{ClientError, Endorsed, Endpoint, Gateway, Signer, assemble};
use netsettle_protocol::{ContractId, Payload, TxId, ValidationCode};
use netsettle_testkit::process::{ADMIN_M, ADMIN_U, Consortium, Netsettle, ORDERERS, PEERS, REPO};

/// The binary under test.
const NETSETTLE: Netsettle = Netsettle(env!("CARGO_BIN_EXE_netsettle"));

/// This file's loopback range: 127.8.x.x.
const SLOT: u8 = 8;

const SETTLEMENT_U: &str = "crypto/unicom/users/settlement@unicom.example";
const FINANCE_U: &str = "crypto/unicom/users/finance@unicom.example";

/// A client of one carrier.
struct Client {
    gateway: Gateway,
    signer: Signer,
}

impl Client {
    async fn connect(dir: &Path, profile: &str, identity: &str) -> Client {
        let (gateway, signer) = Gateway::from_profile(&dir.join(profile), &dir.join(identity))
            .await
            .expect("client connects");
        Client { gateway, signer }
    }

    /// A proposal for the settlement contract, endorsed at `peers` and assembled.
    async fn endorsed(&self, peers: &[Endpoint], function: &str, args: Vec<Vec<u8>>) -> Endorsed {
        let proposal = self
            .signer
            .propose(self.gateway.channel(), settlement(), function, args)
            .unwrap();
        let mut responses = Vec::new();
        for peer in peers {
            responses.push(self.gateway.endorse(peer, &proposal).await.unwrap());
        }
        assemble(&self.signer, &proposal, responses).unwrap()
    }

    /// The code every peer gives `tx_id` (all must agree), and the block holding it.
    async fn code_everywhere(&self, tx_id: &TxId) -> (u64, ValidationCode) {
        let mut seen = Vec::new();
        for peer in self.gateway.peers() {
            seen.push(self.gateway.wait_committed(peer, tx_id).await.unwrap());
        }
        assert!(
            seen.windows(2).all(|pair| pair[0] == pair[1]),
            "peers disagree on {tx_id}: {seen:?}"
        );
        seen[0]
    }

    /// `function(arg)` answered by every peer; they must agree.
    async fn query_everywhere(&self, function: &str, arg: &str) -> String {
        let proposal = self
            .signer
            .propose(
                self.gateway.channel(),
                settlement(),
                function,
                vec![arg.as_bytes().to_vec()],
            )
            .unwrap();
        let mut answers = Vec::new();
        for peer in self.gateway.peers() {
            let response = self.gateway.endorse(peer, &proposal).await.unwrap();
            answers.push(String::from_utf8(response.payload.action.response.payload).unwrap());
        }
        assert!(
            answers.windows(2).all(|pair| pair[0] == pair[1]),
            "{answers:?}"
        );
        answers.swap_remove(0)
    }
}

fn settlement() -> ContractId {
    ContractId {
        name: "settlement".to_owned(),
        version: "1.0".to_owned(),
    }
}

/// The test agreement with another tolerance: each proposal writes different bytes.
fn agreement(tolerance_fen: u64) -> Vec<Vec<u8>> {
    let text =
        std::fs::read_to_string(format!("{REPO}/tests/data/settlement/agreement.json")).unwrap();
    let mut agreement: serde_json::Value = serde_json::from_str(&text).unwrap();
    agreement["tolerance_fen"] = tolerance_fen.into();
    vec![agreement.to_string().into_bytes()]
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

/// Each peer's data directory (`data/DIR`), in the order of `common::PEERS`.
const PEER_DATA: [&str; 4] = [
    "peer0.unicom.example",
    "peer1.unicom.example",
    "peer0.mobile.example",
    "peer1.mobile.example",
];

#[test]
fn peers_record_each_failure_code_and_follow_config_and_definition_updates() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let Consortium {
        peers,
        orderers,
        dmz: _dmz,
    } = NETSETTLE.start_consortium(dir, SLOT, &ORDERERS, &PEERS);
    NETSETTLE.define_settlement(dir);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let unicom = runtime.block_on(Client::connect(dir, ADMIN_U[1], ADMIN_U[3]));
    let mobile = runtime.block_on(Client::connect(dir, ADMIN_M[1], ADMIN_M[3]));
    let settlement_u = runtime.block_on(Client::connect(dir, ADMIN_U[1], SETTLEMENT_U));
    let finance_u = runtime.block_on(Client::connect(dir, ADMIN_U[1], FINANCE_U));

    let first = runtime.block_on(codes_of_endorsement_and_order(&unicom, &mobile));
    // Endorsed before the revocation, broadcast after it.
    let late = runtime.block_on(async {
        let both = settlement_u.gateway.endorsers();
        settlement_u
            .endorsed(&both, "upload", upload_args(dir))
            .await
    });
    let crl = revoke_settlement_client(dir);
    let duplicate = runtime.block_on(async {
        let duplicate = replays_are_refused(&unicom, &first).await;
        revoked_client_is_refused(&settlement_u, &finance_u, &late).await;
        duplicate
    });
    // What an operator preparing the next update reads: a running peer's ledger.
    let live = json(&NETSETTLE.ok(
        dir,
        &[
            "configtx",
            "inspect",
            "--from-ledger",
            "data/peer0.mobile.example/ledger",
        ],
    ));
    assert_eq!(live["sequence"], 1);
    assert_eq!(unicom_crls(&live), crl);
    definition_sequence_two(dir);
    runtime.block_on(async {
        // Under sequence 2 one carrier's endorsement suffices.
        let own = &unicom.gateway.endorsers()[..1];
        let endorsed = unicom
            .endorsed(own, "agreement_propose", agreement(500))
            .await;
        unicom.gateway.broadcast(&endorsed.envelope).await.unwrap();
        let (_, code) = unicom.code_everywhere(&endorsed.envelope.tx_id()).await;
        assert_eq!(code, ValidationCode::Valid);
        for client in [unicom, mobile, settlement_u, finance_u] {
            client.gateway.close().await;
        }
    });

    for peer in peers {
        peer.stop();
    }
    drop(orderers);
    for (name, data) in PEERS.iter().zip(PEER_DATA) {
        let ledger = dir.join(format!("data/{data}/ledger"));
        let config = json(&NETSETTLE.ok(
            dir,
            &[
                "configtx",
                "inspect",
                "--from-ledger",
                ledger.to_str().unwrap(),
            ],
        ));
        assert_eq!(config["sequence"], 1, "{name}");
        assert_eq!(unicom_crls(&config), crl, "{name}");
        let ledger = netsettle_ledger::Ledger::open_read_only(&ledger).unwrap();
        assert_eq!(
            occurrences(&ledger, &duplicate),
            vec![ValidationCode::Valid]
        );
        assert_eq!(occurrences(&ledger, &late.envelope.tx_id()), vec![]);
    }
}

/// Runs `lifecycle FUNCTION ARGS… EXTRA…` for each step; each must commit VALID.
fn lifecycle(dir: &Path, steps: &[(&str, [&str; 4])], extra: &[&str]) {
    for (function, client) in steps {
        let mut call = vec!["lifecycle", function];
        call.extend(client);
        call.extend(extra);
        let output = NETSETTLE.ok(dir, &call);
        assert!(output.contains("code=VALID"), "{output}");
    }
}

/// VALID, ENDORSEMENT_POLICY_FAILURE, BAD_SIGNATURE and MVCC_READ_CONFLICT; returns the
/// first (valid) envelope.
async fn codes_of_endorsement_and_order(unicom: &Client, mobile: &Client) -> Endorsed {
    let both = unicom.gateway.endorsers();
    assert_eq!(both.len(), 2, "one endorser per carrier");

    // Endorsed by both carriers' peers: valid at every peer.
    let valid = unicom
        .endorsed(&both, "agreement_propose", agreement(100))
        .await;
    unicom.gateway.broadcast(&valid.envelope).await.unwrap();
    let (_, code) = unicom.code_everywhere(&valid.envelope.tx_id()).await;
    assert_eq!(code, ValidationCode::Valid);
    let proposed = unicom.query_everywhere("agreement_get", "").await;
    let digest = json(&proposed)["proposal"]["digest"].clone();
    assert!(digest.is_string(), "{proposed}");

    // Endorsed by Unicom's peer only.
    let one = unicom
        .endorsed(&both[..1], "agreement_propose", agreement(200))
        .await;
    unicom.gateway.broadcast(&one.envelope).await.unwrap();
    let (_, code) = unicom.code_everywhere(&one.envelope.tx_id()).await;
    assert_eq!(code, ValidationCode::EndorsementPolicyFailure);
    assert_eq!(unicom.query_everywhere("agreement_get", "").await, proposed);

    // A write changed after endorsement; the client re-signs its envelope, so only the
    // endorsements are over other bytes.
    let honest = unicom
        .endorsed(&both, "agreement_propose", agreement(300))
        .await;
    let Payload::Transaction(mut tx) = honest.envelope.payload else {
        panic!("a transaction envelope");
    };
    let write = tx
        .response
        .action
        .rw_set
        .namespaces
        .iter_mut()
        .flat_map(|namespace| namespace.writes.iter_mut())
        .next()
        .expect("agreement_propose writes");
    write.value = Some(b"tampered".to_vec());
    let tampered = unicom
        .signer
        .sign_envelope(Payload::Transaction(tx))
        .unwrap();
    unicom.gateway.broadcast(&tampered).await.unwrap();
    let (_, code) = unicom.code_everywhere(&tampered.tx_id()).await;
    assert_eq!(code, ValidationCode::BadSignature);
    assert_eq!(unicom.query_everywhere("agreement_get", "").await, proposed);

    // Two accepts endorsed against the same state (both read the pending proposal at the
    // same version), broadcast together.
    let accept = vec![
        serde_json::json!({ "digest": digest })
            .to_string()
            .into_bytes(),
    ];
    let a = mobile
        .endorsed(&both, "agreement_accept", accept.clone())
        .await;
    let b = mobile.endorsed(&both, "agreement_accept", accept).await;
    let (sent_a, sent_b) = tokio::join!(
        mobile.gateway.broadcast(&a.envelope),
        mobile.gateway.broadcast(&b.envelope)
    );
    sent_a.unwrap();
    sent_b.unwrap();
    let outcome_a = mobile.code_everywhere(&a.envelope.tx_id()).await;
    let outcome_b = mobile.code_everywhere(&b.envelope.tx_id()).await;
    let (won, lost) = if outcome_a.1 == ValidationCode::Valid {
        (outcome_a, outcome_b)
    } else {
        (outcome_b, outcome_a)
    };
    assert_eq!(won.1, ValidationCode::Valid);
    assert_eq!(lost.1, ValidationCode::MvccReadConflict);
    assert!(
        lost.0 >= won.0,
        "the conflicting accept is ordered after: {won:?} {lost:?}"
    );
    eprintln!(
        "accepts: valid in block {}, conflict in block {}",
        won.0, lost.0
    );
    let accepted = json(&mobile.query_everywhere("agreement_get", "").await);
    assert_eq!(accepted["agreement"]["version"], 1, "{accepted}");
    assert_eq!(
        accepted["agreement"]["accepted_by"], "MobileMSP",
        "{accepted}"
    );
    assert!(accepted["proposal"].is_null(), "{accepted}");
    valid
}

/// The arguments of an upload of Unicom's demo report for 2026-10.
fn upload_args(dir: &Path) -> Vec<Vec<u8>> {
    NETSETTLE.ok(
        dir,
        &[
            "settlement",
            "report",
            "encrypt",
            "--period",
            "2026-10",
            "--carrier",
            "UnicomMSP",
            "--csv",
            &format!("{REPO}/tests/data/settlement/demo-UnicomMSP.csv"),
            "--out-dir",
            "upload-unicom",
        ],
    );
    vec![
        std::fs::read(dir.join("upload-unicom/request.json")).unwrap(),
        std::fs::read(dir.join("upload-unicom/ciphertext.bin")).unwrap(),
    ]
}

/// Revokes the signing certificate of Unicom's settlement client at Unicom's CA, puts
/// the CRL in force through the orderers (refused with one carrier's signature, accepted
/// with both) and returns the CRL list the update carries for UnicomMSP.
fn revoke_settlement_client(dir: &Path) -> serde_json::Value {
    let serial = netsettle_smcrypto::x509::Certificate::read_pem_file(
        &dir.join(format!("{SETTLEMENT_U}/msp/signcerts/cert.pem")),
    )
    .unwrap()
    .serial_hex();
    let ca = [
        "--ca",
        "127.8.1.1:7054",
        "--ca-cert",
        "crypto/unicom/ca/ca.pem",
        "--server-name",
        "ca.unicom.example",
        "--identity",
        ADMIN_U[3],
    ];
    let mut revoke = vec!["ca", "revoke"];
    revoke.extend(ca);
    revoke.extend(["--serial", &serial, "--reason", "keyCompromise"]);
    NETSETTLE.ok(dir, &revoke);
    NETSETTLE.unicom_crl_update(dir, &ca);
    sign_update(dir, "unicom", "UnicomMSP");
    let mut submit = vec!["configtx", "submit"];
    submit.extend(ADMIN_U);
    submit.extend(["--update", "crl-update.json"]);
    let refused = NETSETTLE.fails(dir, &submit);
    assert!(
        refused.contains("config update rejected") && refused.contains("Admins"),
        "{refused}"
    );
    sign_update(dir, "mobile", "MobileMSP");
    let submitted = NETSETTLE.ok(dir, &submit);
    assert!(submitted.contains("config sequence 1"), "{submitted}");
    eprintln!("configtx submit: {submitted}");
    let update = json(&std::fs::read_to_string(dir.join("crl-update.json")).unwrap());
    let crls = unicom_crls(&update["update"]["config"]);
    // The new CRL replaces the one Unicom's CA issued at bootstrap (same issuer).
    let genesis = json(&NETSETTLE.ok(dir, &["configtx", "inspect", "--block", "genesis.block"]));
    let before = unicom_crls(&genesis);
    assert_eq!(before.as_array().unwrap().len(), 1, "{before}");
    assert_eq!(crls.as_array().unwrap().len(), 1, "{crls}");
    assert_ne!(crls, before);
    crls
}

/// UnicomMSP's CRLs in a configuration (JSON, as `configtx inspect` prints it).
fn unicom_crls(config: &serde_json::Value) -> serde_json::Value {
    let orgs = config["orgs"].as_array().unwrap();
    let unicom = orgs
        .iter()
        .find(|org| org["msp_id"] == "UnicomMSP")
        .unwrap();
    unicom["crls_der"].clone()
}

fn sign_update(dir: &Path, carrier: &str, msp_id: &str) {
    let admin = format!("crypto/{carrier}/users/admin@{carrier}.example/msp");
    NETSETTLE.ok(
        dir,
        &[
            "configtx",
            "sign",
            "--update",
            "crl-update.json",
            "--signer-key",
            &format!("{admin}/keystore/key.pem"),
            "--signer-cert",
            &format!("{admin}/signcerts/cert.pem"),
            "--signer-msp",
            msp_id,
        ],
    );
}

/// The first envelope again at every orderer: refused as a duplicate. A new one sent to
/// two orderers (one per carrier) at once: ordered once. Also the barrier that proves
/// every peer has the config block cut before it. Returns the new one's id.
async fn replays_are_refused(unicom: &Client, first: &Endorsed) -> TxId {
    refused_by_every_orderer(unicom, first, "BadRequest", "already ordered").await;
    let both = unicom.gateway.endorsers();
    let twice = unicom
        .endorsed(&both, "agreement_propose", agreement(400))
        .await;
    let orderers = unicom.gateway.orderers();
    let unicom_orderer = &orderers[0];
    let mobile_orderer = orderers
        .iter()
        .find(|orderer| orderer.msp_id != unicom_orderer.msp_id)
        .unwrap();
    let (a, b) = tokio::join!(
        unicom.gateway.broadcast_to(unicom_orderer, &twice.envelope),
        unicom.gateway.broadcast_to(mobile_orderer, &twice.envelope)
    );
    // Each orderer acknowledges once the id is ordered, whichever copy landed first, or
    // refuses the copy it sees as a duplicate; the ledgers hold it once (checked at the
    // end).
    for outcome in [&a, &b] {
        assert!(
            match outcome {
                Ok(()) => true,
                Err(ClientError::Broadcast { info, .. }) => info.contains("already ordered"),
                Err(_) => false,
            },
            "{a:?} {b:?}"
        );
    }
    assert!(a.is_ok() || b.is_ok(), "{a:?} {b:?}");
    let (_, code) = unicom.code_everywhere(&twice.envelope.tx_id()).await;
    assert_eq!(code, ValidationCode::Valid);
    twice.envelope.tx_id()
}

/// `endorsed` broadcast to each orderer once: each answers `status`, explaining with
/// `reason`.
async fn refused_by_every_orderer(
    client: &Client,
    endorsed: &Endorsed,
    status: &str,
    reason: &str,
) {
    for orderer in client.gateway.orderers() {
        let refused = client
            .gateway
            .broadcast_to(orderer, &endorsed.envelope)
            .await
            .unwrap_err();
        assert!(
            matches!(&refused, ClientError::Broadcast { status: got, info }
                if got == status && info.contains(reason)),
            "{refused}"
        );
    }
}

/// With the CRL in force at every peer: the revoked client's new proposal is refused by
/// every peer, its envelope endorsed before the revocation by every orderer, and nothing
/// of it is on the ledger.
async fn revoked_client_is_refused(revoked: &Client, finance: &Client, late: &Endorsed) {
    let proposal = revoked
        .signer
        .propose(
            revoked.gateway.channel(),
            settlement(),
            "agreement_get",
            vec![vec![]],
        )
        .unwrap();
    for peer in revoked.gateway.peers() {
        let refused = revoked.gateway.endorse(peer, &proposal).await.unwrap_err();
        assert!(
            matches!(&refused, ClientError::Endorsement { status: 403, message, .. }
                if message.contains("revoked")),
            "{refused}"
        );
    }
    refused_by_every_orderer(revoked, late, "Forbidden", "revoked").await;
    // The upload never happened: no peer has a record of the period (its status is the
    // one it starts with, both carriers to upload).
    let period = finance
        .signer
        .propose(
            finance.gateway.channel(),
            settlement(),
            "period_get",
            vec![br#"{"period":"2026-10"}"#.to_vec()],
        )
        .unwrap();
    for peer in finance.gateway.peers() {
        let answer = finance.gateway.endorse(peer, &period).await.unwrap();
        let response = answer.payload.action.response;
        assert_eq!(response.status, 200, "{response:?}");
        let state: serde_json::Value = serde_json::from_slice(&response.payload).unwrap();
        assert_eq!(state["recorded"], false, "{state}");
    }
}

/// An approval with a wrong sequence is refused; sequence 2 (any one carrier's peer may
/// endorse) is approved by both and committed through the CLI.
fn definition_sequence_two(dir: &Path) {
    let mut wrong = vec!["lifecycle", "approve"];
    wrong.extend(ADMIN_M);
    wrong.extend(["--sequence", "3", "--endorsement", "any"]);
    let refused = NETSETTLE.fails(dir, &wrong);
    assert!(refused.contains("must have sequence 2, not 3"), "{refused}");
    lifecycle(
        dir,
        &[
            ("approve", ADMIN_U),
            ("approve", ADMIN_M),
            ("commit", ADMIN_U),
        ],
        &["--sequence", "2", "--endorsement", "any"],
    );
    let mut query = vec!["lifecycle", "query"];
    query.extend(ADMIN_M);
    let definition = NETSETTLE.ok(dir, &query);
    assert!(
        definition.contains("sequence 2") && definition.contains("Or("),
        "{definition}"
    );
}

/// The codes of every envelope with id `tx_id` in `ledger`, in chain order.
fn occurrences(ledger: &netsettle_ledger::Ledger, tx_id: &TxId) -> Vec<ValidationCode> {
    let height = ledger.chain_info().unwrap().height;
    let mut codes = Vec::new();
    for number in 0..height {
        let block = ledger.block(number).unwrap().unwrap();
        for (envelope, code) in block.data.iter().zip(&block.metadata.validation_codes) {
            if envelope.tx_id() == *tx_id {
                codes.push(*code);
            }
        }
    }
    codes
}
