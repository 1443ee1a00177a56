//! The settlement round is fair, against real processes: five Raft orderers, each
//! carrier's endorsing peer, both DMZ forwarders (loopback slot 13: 127.13.x.y). Mobile is
//! the dishonest carrier: its nodes run the stock binary, its settlement client is
//! scripted to cheat; Unicom's client plays by the rules. Routes, one period each:
//!
//! - 2026-01, withhold after seeing the key: Mobile tests a guess against Unicom's public
//!   commitment (no match: it is salted), sees Unicom's key, withholds its own, tries to
//!   replace its report and to close the round early (refused), closes it after the
//!   deadline, uploads a report shaded towards Unicom's figures (refused: its commitment
//!   binds), and ends up with exactly the honest reconciliation.
//! - 2026-02, the fast route: Mobile uploads a report that will not open, reveals, and
//!   resets at once (refused); after the deadline its shaded re-upload is refused, it
//!   cannot open what it committed, and it ends in default: only Unicom's figures, every
//!   line disputed, nothing settled without Unicom's consent.
//! - 2026-03, choosing its own clock: a back-dated first upload and a forward-dated reset
//!   (each by most of the chain's timestamp bound) cannot end the round early.
//!
//! Waits are on events: readiness lines and commits (the client waits for both endorsers
//! to commit). The one wait on the clock is for a round's deadline, which is wall-clock
//! time by definition. Every process is killed and reaped on drop.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use netsettle_client::{ClientError, Gateway, Signer, assemble};
use netsettle_protocol::limits::NONCE_BYTES;
use netsettle_protocol::{ContractId, Nonce, Timestamp, ValidationCode};
use netsettle_settlement::agreement::Agreement;
use netsettle_settlement::limits::{DEADLINE_MARGIN_MS_DEFAULT, TX_TIME_BOUND_MS};
use netsettle_settlement::reconcile::reconcile;
use netsettle_settlement::report::Report;
use netsettle_settlement::seal::{
    Opening, SealedReport, plaintext_commitment, reseal_report_fresh, reveal_args,
    seal_report_fresh,
};
use netsettle_smcrypto::sm3;
use netsettle_testkit::process::{ADMIN_M, ADMIN_U, Consortium, Netsettle, ORDERERS};
use serde_json::{Value, json};

/// The binary under test.
const NETSETTLE: Netsettle = Netsettle(env!("CARGO_BIN_EXE_netsettle"));
/// This file's loopback range: 127.13.x.y.
const SLOT: u8 = 13;
/// The two endorsing peers (the settlement policy needs both carriers).
const PEERS: [&str; 2] = ["unicommsp-peer0", "mobilemsp-peer0"];
/// Short rounds for the routes that need a round to close: long enough for the test to
/// try closing early, short enough to wait for.
const WINDOW_MS: u64 = 25_000;
const MARGIN_MS: u64 = 5_000;
/// How far Mobile moves its timestamps: 90 % of the chain's bound, so its envelopes are
/// still endorsed, ordered and valid (the rest covers the trip to the orderers and the
/// block cut).
const SKEW_MS: u64 = TX_TIME_BOUND_MS - TX_TIME_BOUND_MS / 10;

const UNICOM: &str = "UnicomMSP";
const MOBILE: &str = "MobileMSP";
const SETTLEMENT_U: &str = "crypto/unicom/users/settlement@unicom.example";
const SETTLEMENT_M: &str = "crypto/mobile/users/settlement@mobile.example";

const UNICOM_CSV: &str = "item,direction,area,quantity,unit,rate,amount_fen\n\
    voice,payable,0571,120000,minute,0.06,720000\n\
    sms,receivable,010,50000,message,0.03,150000\n\
    data,payable,021,9000000,MB,0.001,900000\n";
const MOBILE_CSV: &str = "item,direction,area,quantity,unit,rate,amount_fen\n\
    voice,receivable,0571,120000,minute,0.06,720000\n\
    sms,payable,010,50010,message,0.03,150030\n\
    data,receivable,021,9900000,MB,0.001,990000\n";
/// Mobile's report after seeing Unicom's: the SMS line it pays shaded 130 fen down
/// (still within tolerance, so it would settle at 149,950 instead of 150,015) and the
/// disputed data line copied from Unicom's figures.
const MOBILE_SHADED_CSV: &str = "item,direction,area,quantity,unit,rate,amount_fen\n\
    voice,receivable,0571,120000,minute,0.06,720000\n\
    sms,payable,010,49970,message,0.03,149900\n\
    data,receivable,021,9000000,MB,0.001,900000\n";

fn settlement() -> ContractId {
    ContractId {
        name: "settlement".to_owned(),
        version: "1.0".to_owned(),
    }
}

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn report(period: &str, carrier: &str, csv: &str) -> Report {
    Report::from_csv(period.parse().unwrap(), carrier, csv.as_bytes()).unwrap()
}

/// One carrier's client through its connection profile.
struct Carrier {
    gateway: Gateway,
    signer: Signer,
}

/// What the chain made of a call: refused at endorsement (the contract's status), or
/// committed with a validation code and the contract's answer.
#[derive(Debug)]
enum Outcome {
    Refused(u32, String),
    Committed(ValidationCode, Value),
}

impl Outcome {
    fn valid(self) -> Value {
        match self {
            Outcome::Committed(ValidationCode::Valid, value) => value,
            other => panic!("expected a valid transaction, got {other:?}"),
        }
    }

    fn refused(self, status: u32, needle: &str) {
        match self {
            Outcome::Refused(got, message) => {
                assert_eq!(got, status, "{message}");
                assert!(message.contains(needle), "{message:?} lacks {needle:?}");
            }
            other => panic!("expected a refusal ({status}, {needle}), got {other:?}"),
        }
    }
}

impl Carrier {
    async fn connect(dir: &Path, profile: &str, identity: &str) -> Carrier {
        let (gateway, signer) = Gateway::from_profile(&dir.join(profile), &dir.join(identity))
            .await
            .expect("client connects");
        Carrier { gateway, signer }
    }

    /// Runs `function(args)` through endorsement, ordering and commit at both endorsers,
    /// with the proposal time `at_ms` (the client's choice).
    async fn call_at(&self, function: &str, args: Vec<Vec<u8>>, at_ms: u64) -> Outcome {
        let mut nonce = [0u8; NONCE_BYTES];
        netsettle_smcrypto::random_bytes(&mut nonce).unwrap();
        let proposal = self
            .signer
            .propose_at(
                self.gateway.channel(),
                settlement(),
                function,
                args,
                Nonce(nonce),
                Timestamp {
                    unix_time_ms: at_ms,
                },
            )
            .unwrap();
        let mut responses = Vec::new();
        for peer in self.gateway.endorsers() {
            match self.gateway.endorse(&peer, &proposal).await {
                Ok(response) => responses.push(response),
                Err(ClientError::Endorsement {
                    status, message, ..
                }) => return Outcome::Refused(status, message),
                Err(error) => panic!("endorsing {function}: {error}"),
            }
        }
        let endorsed = assemble(&self.signer, &proposal, responses).unwrap();
        self.gateway.broadcast(&endorsed.envelope).await.unwrap();
        let mut code = None;
        for peer in self.gateway.endorsers() {
            let (_, seen) = self
                .gateway
                .wait_committed(&peer, &proposal.tx_id())
                .await
                .unwrap();
            assert!(code.is_none_or(|code| code == seen), "peers disagree");
            code = Some(seen);
        }
        let answer = serde_json::from_slice(&endorsed.response.payload).unwrap_or(Value::Null);
        Outcome::Committed(code.unwrap(), answer)
    }

    async fn call(&self, function: &str, args: Vec<Vec<u8>>) -> Outcome {
        self.call_at(function, args, now_ms()).await
    }

    async fn json(&self, function: &str, request: Value) -> Outcome {
        self.call(function, vec![request.to_string().into_bytes()])
            .await
    }

    async fn upload(&self, sealed: &SealedReport) -> Outcome {
        self.call("upload", sealed.upload_args()).await
    }

    async fn reveal(&self, period: &str, opening: &Opening) -> Outcome {
        self.call("reveal", reveal_args(period.parse().unwrap(), opening))
            .await
    }

    async fn reset(&self, period: &str) -> Outcome {
        self.json("reset", json!({ "period": period })).await
    }

    /// The period record as this carrier's own peer answers it.
    async fn period(&self, period: &str) -> Value {
        let response = self
            .gateway
            .evaluate(
                &self.signer,
                settlement(),
                "period_get",
                vec![json!({ "period": period }).to_string().into_bytes()],
            )
            .await
            .unwrap();
        assert_eq!(response.status, 200, "{response:?}");
        serde_json::from_slice(&response.payload).unwrap()
    }

    /// Waits for the wall clock to pass the round's closing time (deadline plus margin):
    /// the event is the time itself.
    async fn wait_closable(&self, period: &str) {
        let closable = self.period(period).await["closable_after_ms"]
            .as_u64()
            .expect("the round has started");
        let wait = closable.saturating_add(200).saturating_sub(now_ms());
        assert!(
            wait <= WINDOW_MS + MARGIN_MS + 1_000,
            "a round closes within its window"
        );
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }
}

/// An agreement between the carriers with the given window and margin, proposed by
/// Unicom's admin and accepted by Mobile's.
async fn agree(admin_u: &Carrier, admin_m: &Carrier, window_ms: u64, margin_ms: u64) -> Agreement {
    let agreement = Agreement {
        party_a: UNICOM.into(),
        party_b: MOBILE.into(),
        currency: "CNY".into(),
        tolerance_fen: 100,
        tolerance_bp: 10,
        reveal_window_ms: window_ms,
        clock_margin_ms: margin_ms,
        upload_deadline_day: None,
    };
    let proposed = admin_u
        .json("agreement_propose", json!(agreement))
        .await
        .valid();
    admin_m
        .json("agreement_accept", json!({ "digest": proposed["digest"] }))
        .await
        .valid();
    agreement
}

#[test]
fn a_dishonest_carrier_gains_nothing_from_any_settlement_route() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let Consortium {
        peers,
        orderers,
        dmz,
    } = NETSETTLE.start_consortium(dir, SLOT, &ORDERERS, &PEERS);
    NETSETTLE.define_settlement(dir);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let admin_u = Carrier::connect(dir, ADMIN_U[1], ADMIN_U[3]).await;
        let admin_m = Carrier::connect(dir, ADMIN_M[1], ADMIN_M[3]).await;
        let unicom = Carrier::connect(dir, ADMIN_U[1], SETTLEMENT_U).await;
        let mobile = Carrier::connect(dir, ADMIN_M[1], SETTLEMENT_M).await;
        let short = agree(&admin_u, &admin_m, WINDOW_MS, MARGIN_MS).await;
        // Both short periods open under the short agreement; their rounds run side by
        // side so their deadlines pass together.
        let withheld = WithholdRoute::open(&unicom, &mobile, "2026-01").await;
        let fast = FastRoute::open(&unicom, &mobile, "2026-02").await;
        withheld
            .withhold_then_reupload(&unicom, &mobile, &short)
            .await;
        fast.default_in_the_end(&unicom, &mobile).await;
        agree(
            &admin_u,
            &admin_m,
            TX_TIME_BOUND_MS,
            DEADLINE_MARGIN_MS_DEFAULT,
        )
        .await;
        clock_route(&unicom, &mobile, "2026-03").await;
        for carrier in [admin_u, admin_m, unicom, mobile] {
            carrier.gateway.close().await;
        }
    });

    for peer in peers {
        peer.stop();
    }
    drop(orderers);
    drop(dmz);
    honest_ledgers_verify_and_agree(dir);
}

/// Route 2026-01: see the key, withhold, try to re-upload a shaded report.
struct WithholdRoute {
    period: &'static str,
    unicom: Report,
    mobile: Report,
    mobile_salt: [u8; 16],
}

impl WithholdRoute {
    async fn open(unicom: &Carrier, mobile: &Carrier, period: &'static str) -> WithholdRoute {
        let report_u = report(period, UNICOM, UNICOM_CSV);
        let report_m = report(period, MOBILE, MOBILE_CSV);
        let (sealed_u, opening_u) = seal_report_fresh(&report_u).unwrap();
        unicom.upload(&sealed_u).await.valid();
        // Mobile's best guess at Unicom's report is the report itself: without the salt
        // it cannot be tested against the public commitment.
        let state = mobile.period(period).await;
        let committed = state["state"]["a"]["upload"]["plaintext_commitment"]
            .as_str()
            .unwrap()
            .to_owned();
        let canonical = report_u.to_canonical();
        assert_ne!(
            sm3(&canonical).to_hex(),
            committed,
            "a bare digest of the report"
        );
        assert_ne!(
            plaintext_commitment(&[0u8; 16], &canonical).to_hex(),
            committed
        );
        let (sealed_m, opening_m) = seal_report_fresh(&report_m).unwrap();
        mobile.upload(&sealed_m).await.valid();
        // Unicom reveals; Mobile has now seen Unicom's key and report, and withholds.
        unicom.reveal(period, &opening_u).await.valid();
        let shaded = report(period, MOBILE, MOBILE_SHADED_CSV);
        let (sealed_shaded, _) = seal_report_fresh(&shaded).unwrap();
        mobile
            .upload(&sealed_shaded)
            .await
            .refused(409, "counterparty");
        mobile.reset(period).await.refused(409, "deadline");
        WithholdRoute {
            period,
            unicom: report_u,
            mobile: report_m,
            mobile_salt: opening_m.salt,
        }
    }

    async fn withhold_then_reupload(&self, unicom: &Carrier, mobile: &Carrier, terms: &Agreement) {
        let period = self.period;
        mobile.wait_closable(period).await;
        let closed = mobile.reset(period).await.valid();
        assert_eq!(closed["faults"][0]["carrier"], MOBILE, "{closed}");
        assert_eq!(closed["faults"][0]["kind"], "Withheld", "{closed}");
        // A shaded report, under its old salt or a new one: the commitment binds.
        let shaded = report(period, MOBILE, MOBILE_SHADED_CSV);
        let (resealed, _) = reseal_report_fresh(&shaded, self.mobile_salt).unwrap();
        mobile
            .upload(&resealed)
            .await
            .refused(409, "bound to plaintext commitment");
        let (fresh, _) = seal_report_fresh(&shaded).unwrap();
        mobile
            .upload(&fresh)
            .await
            .refused(409, "bound to plaintext commitment");
        // All Mobile can do is open the report it committed to, under a fresh key.
        let (honest, opening) = reseal_report_fresh(&self.mobile, self.mobile_salt).unwrap();
        mobile.upload(&honest).await.valid();
        let done = mobile.reveal(period, &opening).await.valid();
        assert_eq!(done["phase"], "Reviewing", "{done}");
        let expected = reconcile(terms, &self.unicom, &self.mobile).unwrap();
        assert_eq!(done["summary"]["settled"], json!(expected.summary.settled));
        let state = unicom.period(period).await;
        assert_eq!(
            state["state"]["summary"]["settled"],
            done["summary"]["settled"]
        );
    }
}

/// Route 2026-02: an unopenable report, a reveal and an immediate reset.
struct FastRoute {
    period: &'static str,
}

impl FastRoute {
    async fn open(unicom: &Carrier, mobile: &Carrier, period: &'static str) -> FastRoute {
        let report_u = report(period, UNICOM, UNICOM_CSV);
        let (sealed_u, opening_u) = seal_report_fresh(&report_u).unwrap();
        unicom.upload(&sealed_u).await.valid();
        // Mobile's upload commits to a report, but its ciphertext is garbage.
        let report_m = report(period, MOBILE, MOBILE_CSV);
        let (mut sealed_m, opening_m) = seal_report_fresh(&report_m).unwrap();
        for byte in &mut sealed_m.ciphertext {
            *byte ^= 0x5a;
        }
        // It commits to a report it cannot produce: a random plaintext commitment.
        sealed_m.plaintext_commitment = sm3(&opening_m.salt);
        mobile.upload(&sealed_m).await.valid();
        unicom.reveal(period, &opening_u).await.valid();
        let failed = mobile.reveal(period, &opening_m).await.valid();
        assert_eq!(failed["phase"], "Failed", "{failed}");
        assert_eq!(failed["failure"]["carrier"], MOBILE, "{failed}");
        mobile.reset(period).await.refused(409, "deadline");
        FastRoute { period }
    }

    async fn default_in_the_end(&self, unicom: &Carrier, mobile: &Carrier) {
        let period = self.period;
        let shaded = report(period, MOBILE, MOBILE_SHADED_CSV);
        mobile.wait_closable(period).await;
        let closed = mobile.reset(period).await.valid();
        assert_eq!(closed["round"], 1, "{closed}");
        assert_eq!(closed["faults"][0]["carrier"], MOBILE, "{closed}");
        let (sealed, _) = seal_report_fresh(&shaded).unwrap();
        mobile
            .upload(&sealed)
            .await
            .refused(409, "bound to plaintext commitment");
        mobile.reset(period).await.refused(409, "deadline");
        unicom.wait_closable(period).await;
        let resolved = unicom.reset(period).await.valid();
        assert_eq!(resolved["phase"], "Reviewing", "{resolved}");
        assert_eq!(resolved["default"], MOBILE, "{resolved}");
        // Only Unicom's figures, every line disputed, nothing settled.
        assert_eq!(resolved["summary"]["disputed"], 3, "{resolved}");
        assert_eq!(
            resolved["summary"]["settled"],
            json!({ "a_pays_fen": 0, "b_pays_fen": 0 })
        );
        mobile.upload(&sealed).await.refused(409, "in default");
        mobile
            .json("confirm", json!({ "period": period, "version": 1 }))
            .await
            .refused(409, "disputed");
    }
}

/// Route 2026-03: Mobile back-dates the first upload and forward-dates the reset.
async fn clock_route(unicom: &Carrier, mobile: &Carrier, period: &str) {
    let report_u = report(period, UNICOM, UNICOM_CSV);
    let report_m = report(period, MOBILE, MOBILE_CSV);
    let (sealed_m, _) = seal_report_fresh(&report_m).unwrap();
    mobile
        .call_at("upload", sealed_m.upload_args(), now_ms() - SKEW_MS)
        .await
        .valid();
    let (sealed_u, opening_u) = seal_report_fresh(&report_u).unwrap();
    unicom.upload(&sealed_u).await.valid();
    unicom.reveal(period, &opening_u).await.valid();
    // Without the margin, the back-dated deadline would already be behind the
    // forward-dated reset.
    let reset = vec![json!({ "period": period }).to_string().into_bytes()];
    match mobile.call_at("reset", reset, now_ms() + SKEW_MS).await {
        Outcome::Refused(status, message) => {
            assert_eq!(status, 409, "{message}");
            assert!(message.contains("deadline"), "{message}");
        }
        // The chain may refuse the forward-dated envelope itself.
        Outcome::Committed(code, answer) => {
            assert_ne!(code, ValidationCode::Valid, "{answer}");
        }
    }
    let state = unicom.period(period).await;
    assert_eq!(state["state"]["round"], 0, "{state}");
    assert_eq!(state["state"]["phase"], "Revealing", "{state}");
}

/// Unicom's ledgers (peer and orderers) verify; Unicom's peer holds the same chain as
/// Mobile's, and Unicom's orderers agree with each other.
fn honest_ledgers_verify_and_agree(dir: &Path) {
    let ledgers = [
        "data/peer0.unicom.example/ledger",
        "data/orderer0.unicom.example/orderer/ledger",
        "data/orderer1.unicom.example/orderer/ledger",
        "data/orderer2.unicom.example/orderer/ledger",
    ];
    for ledger in ledgers {
        NETSETTLE.ok(dir, &["ledger", "verify", "--path", ledger]);
    }
    for (first, second) in [
        (ledgers[0], "data/peer0.mobile.example/ledger"),
        (ledgers[1], ledgers[2]),
        (ledgers[1], ledgers[3]),
    ] {
        let compared = NETSETTLE.ok(dir, &["ledger", "compare", first, second]);
        assert!(
            compared.contains("identical"),
            "{first} vs {second}: {compared}"
        );
    }
}
