//! Notices: which contract events become notices for which carrier's staff, and how a
//! draft is addressed to a recipient. Data-driven: each case is a transaction's events
//! and the notices each side's node derives from it, one line per notice.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use netsettle_client::notice::verify_notice;
use netsettle_ledger::{Ledger, OutboxEntry, OutboxState};
use netsettle_protocol::{
    Envelope, KvWrite, NamespaceReadWriteSet, Payload, ReadWriteSet, ValidationCode,
};
use netsettle_smcrypto::x509::Role as X509Role;
use netsettle_smcrypto::{PrivateKey, PublicKey};
use netsettle_testkit::block::signed_block;
use netsettle_testkit::tx as testkit_tx;
use netsettle_testkit::{Member, TestOrg};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot, watch};

use netsettle_gateway::notices::config::RetryPolicy;
use netsettle_gateway::notices::notifier::backoff;
use netsettle_gateway::notices::remind::{OpenPeriod, due_period, open_periods, remind};
use netsettle_gateway::notices::sms::{Encoding, SmsTemplate, Values};
use netsettle_gateway::notices::{
    ConfigError, ContractEvent, NoticesConfig, Notifier, Origin, Periods, Recipient, Role,
    Settings, address, derive,
};
use serde_json::{Value, json};

const MOBILE: &str = "MobileMSP";
const UNICOM: &str = "UnicomMSP";

/// One transaction (block 7, transaction 2) emitting `events` in order.
fn tx(events: &[(&str, Value)]) -> Vec<ContractEvent> {
    events
        .iter()
        .zip(0u32..)
        .map(|((name, payload), event_index)| ContractEvent {
            block: 7,
            block_time_ms: 1_790_000_000_000,
            tx_index: 2,
            tx_id: "ab".repeat(32),
            event_index,
            contract: "settlement".to_owned(),
            name: (*name).to_owned(),
            payload: payload.clone(),
        })
        .collect()
}

/// The drafts `own`'s node derives, one line each: `key kind roles period: text`.
fn render(own: &str, events: &[ContractEvent]) -> String {
    derive(own, events)
        .iter()
        .map(|draft| {
            let roles: Vec<&str> = draft.roles.iter().map(|role| role.as_str()).collect();
            format!(
                "{} {} [{}] {}",
                draft.event_key,
                draft.kind,
                roles.join(","),
                draft.text
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Checks what Mobile's and Unicom's nodes derive from one transaction's events.
fn check(events: &[(&str, Value)], mobile: &str, unicom: &str) {
    let events = tx(events);
    let name = events.first().map(|event| event.name.clone());
    assert_eq!(
        render(MOBILE, &events),
        mobile,
        "Mobile's notices for {name:?}"
    );
    assert_eq!(
        render(UNICOM, &events),
        unicom,
        "Unicom's notices for {name:?}"
    );
}

const P: &str = "2026-11";

#[test]
fn uploads_reveal_and_reconciliation() {
    // Mobile uploads first: Unicom's staff are told to upload theirs.
    check(
        &[(
            "ReportUploaded",
            json!({"period": P, "round": 1, "carrier": MOBILE}),
        )],
        "",
        "7-2-0 counterpart_uploaded [settlement] 2026-11: MobileMSP uploaded its report; upload yours",
    );
    // Unicom's upload completes both: one notice, reveal, for both sides.
    check(
        &[
            (
                "ReportUploaded",
                json!({"period": P, "round": 1, "carrier": UNICOM}),
            ),
            ("ReportsUploaded", json!({"period": P, "round": 1})),
        ],
        "7-2-1 reveal_due [settlement] 2026-11: both reports are on the chain; reveal your key",
        "7-2-1 reveal_due [settlement] 2026-11: both reports are on the chain; reveal your key",
    );
    // A reveal alone is no one's move.
    check(
        &[(
            "KeyRevealed",
            json!({"period": P, "round": 1, "carrier": MOBILE}),
        )],
        "",
        "",
    );
    let reconciled = json!({"period": P, "round": 1, "version": 1,
        "summary": {"lines": 120, "agreed": 117, "disputed": 2, "one_sided": 1}});
    let text = "7-2-1 reconciled [settlement] 2026-11: reconciled 120 lines, 3 disputed; review";
    check(
        &[
            ("KeyRevealed", json!({"period": P, "carrier": UNICOM})),
            ("Reconciled", reconciled),
            (
                "LinesDisputed",
                json!({"period": P, "count": 3, "line_nos": [4, 9, 77]}),
            ),
        ],
        text,
        text,
    );
    let clean = json!({"period": P, "summary": {"lines": 5, "disputed": 0, "one_sided": 0}});
    let text = "7-2-0 reconciled [settlement] 2026-11: reconciled 5 lines, none disputed; confirm";
    check(&[("Reconciled", clean)], text, text);
    let default = json!({"period": P, "default": UNICOM, "summary": {"lines": 8}});
    let text =
        "7-2-0 reconciled [settlement] 2026-11: UnicomMSP in default; 8 lines all disputed; review";
    check(&[("Reconciled", default)], text, text);
    let rejected = json!({"period": P, "failure": {"side": "b"}});
    let text = "7-2-0 report_rejected [settlement] 2026-11: a report failed to open against its commitment; see the period";
    check(&[("ReportRejected", rejected)], text, text);
}

#[test]
fn disputes_and_adjustments_reach_the_other_side_only() {
    check(
        &[(
            "LineDisputed",
            json!({"period": P, "line_no": 4, "by": UNICOM}),
        )],
        "7-2-0 line_disputed [settlement] 2026-11: UnicomMSP disputed line 4; review it",
        "",
    );
    let adjustment = json!({"id": 3, "line_no": 9});
    check(
        &[(
            "AdjustmentProposed",
            json!({"period": P, "by": MOBILE, "adjustment": adjustment}),
        )],
        "",
        "7-2-0 adjustment_proposed [settlement] 2026-11: MobileMSP proposed adjustment 3 of line 9; accept or reject",
    );
    check(
        &[(
            "AdjustmentsProposed",
            json!({"period": P, "by": MOBILE, "count": 40}),
        )],
        "",
        "7-2-0 adjustment_proposed [settlement] 2026-11: MobileMSP proposed 40 adjustments; accept or reject",
    );
    check(
        &[(
            "AdjustmentAccepted",
            json!({"period": P, "by": UNICOM, "adjustment": adjustment}),
        )],
        "7-2-0 adjustment_accepted [settlement] 2026-11: UnicomMSP accepted adjustment 3 of line 9",
        "",
    );
    check(
        &[(
            "AdjustmentRejected",
            json!({"period": P, "by": UNICOM, "adjustment": adjustment}),
        )],
        "7-2-0 adjustment_rejected [settlement] 2026-11: UnicomMSP rejected adjustment 3 of line 9",
        "",
    );
    let decided = json!({"period": P, "by": MOBILE, "accepted": [1, 2], "rejected": [3]});
    check(
        &[("AdjustmentsDecided", decided)],
        "",
        "7-2-0 adjustments_decided [settlement] 2026-11: MobileMSP accepted 2 and rejected 1 adjustments",
    );
}

#[test]
fn confirmation_final_and_sign_off() {
    check(
        &[(
            "Confirmed",
            json!({"period": P, "by": MOBILE, "version": 4}),
        )],
        "",
        "7-2-0 counterpart_confirmed [settlement] 2026-11: MobileMSP confirmed the data; review and confirm",
    );
    // The second confirmation reaches final: one notice, final, for both roles.
    let final_data = json!({"period": P, "payer": UNICOM, "payee": MOBILE, "net_amount_fen": 1250});
    let text = "7-2-1 final [settlement,finance] 2026-11: final; UnicomMSP pays MobileMSP 1250 fen; finance approval due";
    check(
        &[
            (
                "Confirmed",
                json!({"period": P, "by": UNICOM, "version": 4}),
            ),
            ("Final", final_data),
        ],
        text,
        text,
    );
    check(
        &[(
            "FinanceApproved",
            json!({"period": P, "by": MOBILE, "both": false}),
        )],
        "",
        "7-2-0 counterpart_approved [finance] 2026-11: MobileMSP finance approved the final data",
    );
    // Only the payee is asked to acknowledge.
    check(
        &[(
            "PaymentRecorded",
            json!({"period": P, "by": UNICOM, "payee": MOBILE}),
        )],
        "7-2-0 payment_recorded [finance] 2026-11: UnicomMSP recorded its payment; acknowledge receipt",
        "",
    );
    check(
        &[
            ("PaymentAcknowledged", json!({"period": P, "by": MOBILE})),
            ("PeriodClosed", json!({"period": P, "by": MOBILE})),
        ],
        "7-2-1 period_closed [settlement,finance] 2026-11: the period is closed",
        "7-2-0 payment_acknowledged [finance] 2026-11: MobileMSP acknowledged your payment\n\
         7-2-1 period_closed [settlement,finance] 2026-11: the period is closed",
    );
    let text =
        "7-2-0 period_reset [settlement] 2026-11: MobileMSP reset the period; round 2 starts";
    check(
        &[(
            "PeriodReset",
            json!({"period": P, "by": MOBILE, "round": 2}),
        )],
        text,
        text,
    );
}

#[test]
fn other_contracts_unknown_events_and_odd_payloads_give_nothing_or_placeholders() {
    let mut events = tx(&[("ReportUploaded", json!({"period": P, "carrier": MOBILE}))]);
    events[0].contract = "other".to_owned();
    assert_eq!(render(UNICOM, &events), "");
    check(&[("AgreementProposed", json!({"period": P}))], "", "");
    // A payload that is not what the contract emits still gives a notice, never a panic.
    check(
        &[("ReportUploaded", Value::Null)],
        "7-2-0 counterpart_uploaded [settlement] ?: ? uploaded its report; upload yours",
        "7-2-0 counterpart_uploaded [settlement] ?: ? uploaded its report; upload yours",
    );
}

fn recipient(name: &str, roles: &[Role], periods: Periods) -> Recipient {
    Recipient {
        name: name.to_owned(),
        roles: roles.iter().copied().collect(),
        periods,
    }
}

#[test]
fn recipients_get_the_drafts_of_their_roles_and_periods_with_stable_ids() {
    let events = tx(&[
        ("Confirmed", json!({"period": P, "by": MOBILE})),
        ("Final", json!({"period": P, "net_amount_fen": 0})),
    ]);
    let upload = tx(&[(
        "ReportUploaded",
        json!({"period": "2026-12", "carrier": MOBILE}),
    )]);
    let mut drafts = derive(UNICOM, &events);
    drafts.extend(derive(UNICOM, &upload));
    let only_november = Periods::Only(BTreeSet::from([P.to_owned()]));
    let desk = recipient("desk", &[Role::Settlement], Periods::All);
    let finance = recipient("cfo", &[Role::Finance], only_november);
    let wanted = |who: &Recipient| -> Vec<&str> {
        drafts
            .iter()
            .filter(|draft| who.wants(draft))
            .map(|draft| draft.kind)
            .collect()
    };
    assert_eq!(wanted(&desk), ["final", "counterpart_uploaded"]);
    assert_eq!(wanted(&finance), ["final"]);

    let notice = address(&drafts[0], &finance, "settlement", UNICOM);
    assert_eq!(notice.id, "7-2-1:cfo");
    assert_eq!(notice.kind, "final");
    assert_eq!(notice.recipient, "cfo");
    assert_eq!(notice.carrier, UNICOM);
    assert_eq!(notice.period.as_deref(), Some(P));
    assert_eq!(notice.block, Some(7));
    assert_eq!(notice.tx_id, Some("ab".repeat(32)));
    assert_eq!(
        notice.text,
        "2026-11: final; nothing to pay; finance approval due"
    );
    // Deriving the same block again gives the same ids.
    let again = derive(UNICOM, &events);
    assert_eq!(address(&again[0], &finance, "settlement", UNICOM), notice);
}

// ---------------------------------------------------------------------------------------
// Configuration.

fn settings(config: Value) -> Result<Settings, ConfigError> {
    let config: NoticesConfig = serde_json::from_value(config).expect("the shape parses");
    config.validate()
}

fn webhook(name: &str, roles: &[&str], url: &str) -> Value {
    json!({"name": name, "roles": roles, "periods": "all", "channel": "webhook", "url": url})
}

#[test]
fn bad_configs_are_refused_with_the_reason() {
    let ok = webhook("desk", &["settlement"], "http://127.0.0.1:9/hooks");
    assert!(settings(json!({"recipients": [ok.clone()]})).is_ok());
    let with = |change: Value| {
        let mut recipient = ok.clone();
        for (key, value) in change.as_object().unwrap() {
            recipient[key] = value.clone();
        }
        settings(json!({ "recipients": [recipient] })).unwrap_err()
    };
    let cases: Vec<(ConfigError, &str)> = vec![
        (with(json!({"channel": "fax"})), "unknown channel \"fax\" (webhook or sms)"),
        (with(json!({"url": "https://127.0.0.1/x"})), "https is not supported yet"),
        (with(json!({"url": "ftp://127.0.0.1/x"})), "not an http:// URL"),
        (with(json!({"url": "http:///x"})), "no host"),
        (with(json!({"url": "http://127.0.0.1:99999/"})), "the port is not a number"),
        (with(json!({"roles": ["boss"]})), "role \"boss\" is not settlement or finance"),
        (with(json!({"roles": []})), "role \"\" is not settlement or finance"),
        (with(json!({"periods": "some"})), "periods \"some\""),
        (with(json!({"periods": ["2026-13"]})), "periods \"2026-13\""),
        (with(json!({"name": "a b"})), "recipient name \"a b\""),
        (with(json!({"phones": ["1"]})), "are for sms recipients"),
        (with(json!({"channel": "sms", "encoding": "form", "body": "x={text}"})), "phone numbers"),
        (
            with(json!({"channel": "sms", "phones": ["1"], "encoding": "form", "body": " "})),
            "sms body template is empty",
        ),
        (
            with(json!({"channel": "sms", "phones": ["1"], "encoding": "xml", "body": "x"})),
            "sms encoding \"xml\" is not form or json",
        ),
        (
            with(json!({"channel": "sms", "phones": ["1"], "encoding": "form", "body": "m={msg}"})),
            "placeholder {msg} is unknown",
        ),
        (
            with(json!({"channel": "sms", "phones": ["1"], "encoding": "json", "body": "{\"m\":{text}}"})),
            "does not give JSON",
        ),
        (
            with(json!({"channel": "sms", "phones": ["1"], "encoding": "form", "body": "x", "method": "DELETE"})),
            "sms method \"DELETE\"",
        ),
        (
            with(json!({"channel": "sms", "phones": ["1"], "encoding": "form", "body": "x", "headers": {"Host": "evil"}})),
            "sms header \"Host\"",
        ),
        (settings(json!({"recipients": []})).unwrap_err(), "0 recipients"),
        (settings(json!({"recipients": [ok, ok]})).unwrap_err(), "recipient name \"desk\""),
        (
            settings(json!({"recipients": [webhook("a", &["finance"], "http://h/")], "attempts_max": 0})).unwrap_err(),
            "attempts_max = 0 is outside 1..=1000",
        ),
        (
            settings(json!({"recipients": [webhook("a", &["finance"], "http://h/")], "backoff_initial_ms": 500, "backoff_max_ms": 100})).unwrap_err(),
            "backoff_max_ms = 100 is outside 500..=3600000",
        ),
    ];
    for (error, expected) in cases {
        let text = error.to_string();
        assert!(text.contains(expected), "{text:?} should say {expected:?}");
    }
    // Unknown keys are refused by the shape itself.
    let unknown = json!({"recipients": [], "retries": 3});
    let error = serde_json::from_value::<NoticesConfig>(unknown).unwrap_err();
    assert!(
        error.to_string().contains("unknown field `retries`"),
        "{error}"
    );
    let mut odd = webhook("a", &["finance"], "http://h/");
    odd["secret"] = json!("x");
    let error = serde_json::from_value::<NoticesConfig>(json!({"recipients": [odd]})).unwrap_err();
    assert!(
        error.to_string().contains("unknown field `secret`"),
        "{error}"
    );
}

#[test]
fn sms_templates_escape_each_value_for_where_it_lands() {
    let values = Values {
        phone: "+8613800000000,13900000000",
        text: "2026-11: \"Mobile\" uploaded & more\nnext",
        id: "7-2-0:desk",
        period: "2026-11",
        kind: "counterpart_uploaded",
    };
    let headers = BTreeMap::from([("X-Api-Key".to_owned(), "k1".to_owned())]);
    let form = SmsTemplate::new(
        "POST",
        &headers,
        Encoding::Form,
        "to={phone}&msg={text}&ref={id}",
        "/send?kind={kind}",
    )
    .unwrap();
    assert_eq!(
        form.body(&values),
        "to=%2B8613800000000%2C13900000000&msg=2026-11%3A+%22Mobile%22+uploaded+%26+more%0Anext&ref=7-2-0%3Adesk"
    );
    assert_eq!(form.path(&values), "/send?kind=counterpart_uploaded");
    assert_eq!(
        form.headers(),
        [
            ("x-api-key".to_owned(), "k1".to_owned()),
            (
                "content-type".to_owned(),
                "application/x-www-form-urlencoded; charset=utf-8".to_owned()
            ),
        ]
    );
    let json_body = "{\"mobiles\":\"{phone}\",\"content\":\"{text}\",\"period\":\"{period}\"}";
    let json = SmsTemplate::new(
        "PUT",
        &BTreeMap::new(),
        Encoding::Json,
        json_body,
        "/api/sms",
    )
    .unwrap();
    let body: Value = serde_json::from_str(&json.body(&values)).unwrap();
    assert_eq!(body["content"], values.text);
    assert_eq!(body["mobiles"], values.phone);
    assert_eq!(json.method(), "PUT");
    // Braces that are no placeholder stay literal; a GET may have no body.
    let get = SmsTemplate::new(
        "GET",
        &BTreeMap::new(),
        Encoding::Form,
        "",
        "/s?t={text}&x={}",
    )
    .unwrap();
    assert_eq!(get.path(&values).split('&').nth(1), Some("x={}"));
    assert!(get.headers().is_empty());
}

#[test]
fn backoff_doubles_is_capped_and_jittered_within_half() {
    let retry = RetryPolicy {
        attempts_max: 10,
        age_max: Duration::from_secs(60),
        backoff_initial: Duration::from_millis(1_000),
        backoff_max: Duration::from_millis(600_000),
    };
    for (attempts, full_ms) in [
        (1u32, 1_000u64),
        (2, 2_000),
        (3, 4_000),
        (10, 512_000),
        (11, 600_000),
        (40, 600_000),
    ] {
        let delay = backoff(&retry, attempts, "7-2-0:desk");
        let ms = u64::try_from(delay.as_millis()).unwrap();
        assert!(
            ms >= full_ms / 2 && ms <= full_ms,
            "attempt {attempts}: {ms} ms"
        );
    }
    let spread: BTreeSet<Duration> = (0..20)
        .map(|n| backoff(&retry, 5, &format!("{n}-0-0:desk")))
        .collect();
    assert!(spread.len() > 10, "ids spread their retries: {spread:?}");
    assert_eq!(backoff(&retry, 5, "x"), backoff(&retry, 5, "x"));
}

// ---------------------------------------------------------------------------------------
// Delivery, against local sinks on 127.0.0.1.

/// A webhook and SMS sink: verifies each notice's signature, answers 503 to the first
/// `fail_next` requests and holds the first `hold_next` past the attempt timeout, and
/// records what it accepted (2xx), in order.
struct SinkState {
    trusted: Vec<PublicKey>,
    fail_next: AtomicUsize,
    hold_next: AtomicUsize,
    accepted: Mutex<Vec<String>>,
    sms: Mutex<Vec<(String, String)>>,
    refused: AtomicUsize,
    changed: Notify,
}

struct Sink {
    state: Arc<SinkState>,
    address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

async fn hook(State(state): State<Arc<SinkState>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if take_one(&state.hold_next) {
        // Beyond the notifier's attempt timeout: it gives up and retries.
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    if take_one(&state.fail_next) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let now = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    match verify_notice(&state.trusted, header, &body, now) {
        Ok(notice) => {
            state.accepted.lock().unwrap().push(notice.id);
            state.changed.notify_waiters();
            StatusCode::NO_CONTENT
        }
        Err(_) => {
            state.refused.fetch_add(1, Ordering::SeqCst);
            StatusCode::BAD_REQUEST
        }
    }
}

async fn sms(
    State(state): State<Arc<SinkState>>,
    uri: axum::http::Uri,
    body: String,
) -> StatusCode {
    let path = uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    state.sms.lock().unwrap().push((path, body));
    state.changed.notify_waiters();
    StatusCode::OK
}

fn take_one(counter: &AtomicUsize) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

impl Sink {
    async fn start(trusted: PublicKey) -> Sink {
        let state = Arc::new(SinkState {
            trusted: vec![trusted],
            fail_next: AtomicUsize::new(0),
            hold_next: AtomicUsize::new(0),
            accepted: Mutex::new(Vec::new()),
            sms: Mutex::new(Vec::new()),
            refused: AtomicUsize::new(0),
            changed: Notify::new(),
        });
        Sink::serve(state, "127.0.0.1:0".parse().unwrap()).await
    }

    async fn serve(state: Arc<SinkState>, address: SocketAddr) -> Sink {
        let listener = TcpListener::bind(address).await.unwrap();
        let address = listener.local_addr().unwrap();
        let router = axum::Router::new()
            .route("/hooks/notices", post(hook))
            .route("/sms/{*rest}", post(sms).put(sms))
            .with_state(Arc::clone(&state));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Sink {
            state,
            address,
            stop: Some(stop),
            task,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/hooks/notices", self.address)
    }

    /// Stops listening; [`Sink::restart`] comes back on the same port.
    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.unwrap();
    }

    async fn restart(self) -> Sink {
        Sink::serve(Arc::clone(&self.state), self.address).await
    }

    fn accepted(&self) -> Vec<String> {
        self.state.accepted.lock().unwrap().clone()
    }

    /// Waits until `ids` were all accepted (the deadline only marks failure).
    async fn wait_for(&self, ids: &[&str]) {
        let all = || {
            let accepted = self.accepted();
            ids.iter().all(|id| accepted.iter().any(|got| got == id))
        };
        tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let changed = self.state.changed.notified();
                if all() {
                    return;
                }
                changed.await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{ids:?} not all accepted; got {:?}", self.accepted()));
    }
}

/// Asserts every accepted id was accepted once.
fn assert_once(accepted: &[String]) {
    let distinct: BTreeSet<&String> = accepted.iter().collect();
    assert_eq!(distinct.len(), accepted.len(), "duplicates in {accepted:?}");
}

/// A ledger the test commits settlement blocks to, and the height a peer would publish.
struct World {
    dir: tempfile::TempDir,
    ledger: Option<Arc<Ledger>>,
    orderer: Member,
    client: Member,
    heights: watch::Sender<u64>,
    node_key: PrivateKey,
}

impl World {
    fn new() -> World {
        let org = TestOrg::new(MOBILE);
        let dir = tempfile::tempdir().unwrap();
        World {
            ledger: Some(Arc::new(Ledger::open(dir.path()).unwrap())),
            dir,
            orderer: org.member("orderer0", X509Role::Orderer),
            client: org.member("client", X509Role::Client),
            heights: watch::channel(0).0,
            node_key: PrivateKey::generate(),
        }
    }

    fn ledger(&self) -> &Arc<Ledger> {
        self.ledger.as_ref().unwrap()
    }

    /// Closes the ledger (every other handle must be gone) and opens it again.
    fn reopen(&mut self) {
        let ledger = self.ledger.take().unwrap();
        assert_eq!(
            Arc::strong_count(&ledger),
            1,
            "the notifier's handle is gone"
        );
        drop(ledger);
        self.ledger = Some(Arc::new(Ledger::open(self.dir.path()).unwrap()));
    }

    /// Commits a block of one settlement transaction emitting `events`.
    fn commit(&self, events: &[(&str, Value)]) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        self.commit_at(events, u64::try_from(now.as_millis()).unwrap());
    }

    /// [`World::commit`] of a block made at `unix_time_ms`.
    fn commit_at(&self, events: &[(&str, Value)], unix_time_ms: u64) {
        self.commit_with(events, ReadWriteSet::default(), unix_time_ms);
    }

    /// Commits a block of one settlement transaction writing `key` = `value` in the
    /// contract's namespace.
    fn commit_state(&self, key: &str, value: Vec<u8>) {
        let writes = ReadWriteSet {
            namespaces: vec![NamespaceReadWriteSet {
                namespace: "settlement".to_owned(),
                reads: Vec::new(),
                range_queries: Vec::new(),
                writes: vec![KvWrite {
                    key: key.to_owned(),
                    value: Some(value),
                }],
            }],
        };
        self.commit_with(&[], writes, NOW_MS);
    }

    fn commit_with(&self, events: &[(&str, Value)], writes: ReadWriteSet, unix_time_ms: u64) {
        let info = self.ledger().chain_info().unwrap();
        let seed = info.height + 1;
        let signed =
            testkit_tx::proposal_at(&self.client, seed, "settlement", "step", &[], unix_time_ms);
        let mut envelope =
            testkit_tx::transaction(&signed.proposal, &self.client, writes, &[&self.client]);
        if let Payload::Transaction(tx) = &mut envelope.payload {
            tx.response.action.events = events
                .iter()
                .map(|(name, payload)| netsettle_protocol::ContractEvent {
                    name: (*name).to_owned(),
                    payload: serde_json::to_vec(payload).unwrap(),
                })
                .collect();
        }
        let envelope = Envelope::sign(&self.client.key, envelope.payload).unwrap();
        let mut block = signed_block(
            &self.orderer,
            info.height,
            info.current_hash.unwrap_or_default(),
            vec![envelope],
            0,
        );
        block.metadata.validation_codes = vec![ValidationCode::Valid];
        let after = self.ledger().commit_block(&block).unwrap();
        self.heights.send_replace(after.height);
    }

    /// Starts a notifier for Unicom's staff; its shutdown switch and task.
    fn notifier(&self, settings: Settings) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
        let origin = Origin {
            carrier: UNICOM.to_owned(),
            channel: "settlement".to_owned(),
        };
        let notifier = Notifier::new(
            Arc::clone(self.ledger()),
            settings,
            self.node_key.clone(),
            origin,
        );
        let (stop, stopped) = watch::channel(false);
        let heights = self.heights.subscribe();
        let task = tokio::spawn(async move { notifier.run(heights, stopped).await.unwrap() });
        (stop, task)
    }

    /// Waits until the outbox cursor reaches `height`.
    async fn wait_cursor(&self, height: u64) {
        tokio::time::timeout(Duration::from_secs(30), async {
            while self.ledger().outbox().cursor().unwrap() < Some(height) {
                // The outbox has no change feed; look again shortly.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("the cursor never reached {height}"));
    }

    /// Waits until the outbox entry `id` satisfies `done`.
    async fn wait_entry(&self, id: &str, done: impl Fn(&OutboxEntry) -> bool) -> OutboxEntry {
        tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let entries = self.ledger().outbox().list(None, 0, 1_000).unwrap();
                if let Some(entry) = entries
                    .into_iter()
                    .find(|entry| entry.id == id && done(entry))
                {
                    return entry;
                }
                // The outbox has no change feed; look again shortly.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("outbox entry {id} never reached the state waited for"))
    }
}

fn fast(recipients: Value, extra: Value) -> Settings {
    let mut config = json!({
        "recipients": recipients,
        "backoff_initial_ms": 20,
        "backoff_max_ms": 200,
        "attempt_timeout_ms": 300,
        "attempts_max": 1000,
    });
    for (key, value) in extra.as_object().unwrap() {
        config[key] = value.clone();
    }
    settings(config).unwrap()
}

const UPLOAD: &str = "ReportUploaded";

#[tokio::test]
async fn every_notice_arrives_once_through_failures_delays_a_sink_restart_and_a_notifier_restart() {
    let mut world = World::new();
    let mut sink = Sink::start(world.node_key.public_key().clone()).await;
    sink.state.fail_next.store(3, Ordering::SeqCst);
    sink.state.hold_next.store(1, Ordering::SeqCst);
    let recipients = json!([
        webhook("desk", &["settlement"], &sink.url()),
        webhook("cfo", &["finance"], &sink.url()),
    ]);
    let (stop, task) = world.notifier(fast(recipients.clone(), json!({})));

    world.commit(&[(UPLOAD, json!({"period": P, "carrier": MOBILE}))]);
    world.commit(&[
        (UPLOAD, json!({"period": P, "carrier": UNICOM})),
        ("ReportsUploaded", json!({"period": P})),
    ]);
    // Unicom's own upload alone: no notice.
    world.commit(&[(UPLOAD, json!({"period": "2026-12", "carrier": UNICOM}))]);
    world.commit(&[("Reconciled", json!({"period": P, "summary": {"lines": 3}}))]);
    sink.wait_for(&["0-0-0:desk", "1-0-1:desk", "3-0-0:desk"])
        .await;

    // The sink goes away; a notice made meanwhile fails, then arrives after its return.
    sink.stop().await;
    world.commit(&[("Confirmed", json!({"period": P, "by": MOBILE}))]);
    world
        .wait_entry("4-0-0:desk", |entry| entry.attempts >= 1)
        .await;
    let sink = sink.restart().await;
    sink.wait_for(&["4-0-0:desk"]).await;

    // The notifier stops and its ledger closes; blocks commit meanwhile; a new one over
    // the reopened directory picks up from its cursor.
    stop.send_replace(true);
    task.await.unwrap();
    world.commit(&[
        ("Confirmed", json!({"period": P, "by": UNICOM})),
        (
            "Final",
            json!({"period": P, "payer": UNICOM, "payee": MOBILE, "net_amount_fen": 9}),
        ),
    ]);
    world.reopen();
    let (stop, task) = world.notifier(fast(recipients, json!({})));
    world
        .heights
        .send_replace(world.ledger().chain_info().unwrap().height);
    sink.wait_for(&["5-0-1:desk", "5-0-1:cfo"]).await;
    stop.send_replace(true);
    task.await.unwrap();

    let accepted = sink.accepted();
    assert_once(&accepted);
    assert_eq!(accepted.len(), 6, "{accepted:?}");
    assert_eq!(sink.state.refused.load(Ordering::SeqCst), 0);
    let entries = world.ledger().outbox().list(None, 0, 100).unwrap();
    assert_eq!(entries.len(), 6);
    assert!(entries.iter().all(|entry| entry.state == OutboxState::Sent));
    let retried: Vec<&str> = entries
        .iter()
        .filter(|entry| entry.attempts > 1)
        .map(|entry| entry.id.as_str())
        .collect();
    assert!(
        retried.len() >= 2,
        "failures and the hold were retried: {retried:?}"
    );
}

#[tokio::test]
async fn a_dead_endpoint_does_not_delay_the_others_and_shutdown_does_not_wait_for_it() {
    let world = World::new();
    let sink = Sink::start(world.node_key.public_key().clone()).await;
    // Accepts connections and never answers.
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_url = format!("http://{}/hooks/notices", dead.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = dead.accept().await {
            open.push(stream);
        }
    });
    let recipients = json!([
        webhook("dead", &["settlement"], &dead_url),
        webhook("desk", &["settlement"], &sink.url()),
    ]);
    // An attempt to the dead endpoint takes its full minute; the test's deadline is 30 s.
    let (stop, task) = world.notifier(fast(
        recipients,
        json!({"attempt_timeout_ms": 60_000, "in_flight_max": 2, "in_flight_per_recipient_max": 1}),
    ));
    for _ in 0..4 {
        world.commit(&[(UPLOAD, json!({"period": P, "carrier": MOBILE}))]);
    }
    sink.wait_for(&["0-0-0:desk", "1-0-0:desk", "2-0-0:desk", "3-0-0:desk"])
        .await;
    let dead_entry = world.wait_entry("0-0-0:dead", |_| true).await;
    assert_eq!(dead_entry.state, OutboxState::Pending);
    stop.send_replace(true);
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("shutdown waits a short grace, not the attempt timeout")
        .unwrap();
    held.abort();
}

#[tokio::test]
async fn an_endpoint_that_closes_right_after_answering_gets_each_notice_once() {
    let world = World::new();
    // Answers 204 with `Connection: close` and closes, as a minimal HTTP/1.0-style
    // server would; counts the requests.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/notices", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&requests);
    let server = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            // The head, then as many body bytes as it announces.
            loop {
                let n = stream.read(&mut buffer).await.unwrap();
                request.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length: usize = text
                        .lines()
                        .find_map(|line| line.strip_prefix("content-length: "))
                        .map_or(0, |value| value.trim().parse().unwrap());
                    if request.len() >= end + 4 + length || n == 0 {
                        break;
                    }
                }
            }
            counted.fetch_add(1, Ordering::SeqCst);
            let answer = b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n";
            stream.write_all(answer).await.unwrap();
            stream.shutdown().await.unwrap();
        }
    });
    let (stop, task) = world.notifier(fast(
        json!([webhook("desk", &["settlement"], &url)]),
        json!({}),
    ));
    for _ in 0..3 {
        world.commit(&[(UPLOAD, json!({"period": P, "carrier": MOBILE}))]);
    }
    for id in ["0-0-0:desk", "1-0-0:desk", "2-0-0:desk"] {
        let sent = world
            .wait_entry(id, |entry| entry.state == OutboxState::Sent)
            .await;
        assert_eq!(sent.attempts, 1, "{sent:?}");
    }
    assert_eq!(requests.load(Ordering::SeqCst), 3);
    stop.send_replace(true);
    task.await.unwrap();
    server.abort();
}

#[tokio::test]
async fn an_unreachable_recipient_fails_after_its_attempts_and_sms_goes_out_by_template() {
    let world = World::new();
    let sink = Sink::start(world.node_key.public_key().clone()).await;
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_url = format!("http://{}/hooks/notices", closed.local_addr().unwrap());
    drop(closed);
    let sms_recipient = json!({
        "name": "cfo-sms", "roles": ["finance"], "periods": [P], "channel": "sms",
        "url": format!("http://{}/sms/send?ref={{id}}", sink.address),
        "phones": ["13800000000", "+8613900000000"], "encoding": "json",
        "body": "{\"mobiles\":\"{phone}\",\"content\":\"{text}\"}",
    });
    let recipients = json!([webhook("gone", &["settlement"], &closed_url), sms_recipient]);
    let (stop, task) = world.notifier(fast(recipients, json!({"attempts_max": 3})));
    world.commit(&[(
        "PaymentRecorded",
        json!({"period": P, "by": MOBILE, "payee": UNICOM}),
    )]);
    world.commit(&[(UPLOAD, json!({"period": P, "carrier": MOBILE}))]);
    // A block from two days ago (older than `age_max_secs`) gives no notice.
    let old =
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap() - Duration::from_secs(2 * 86_400);
    world.commit_at(
        &[(UPLOAD, json!({"period": P, "carrier": MOBILE}))],
        u64::try_from(old.as_millis()).unwrap(),
    );

    let failed = world
        .wait_entry("1-0-0:gone", |entry| entry.state == OutboxState::Failed)
        .await;
    assert_eq!(failed.attempts, 3);
    assert!(failed.last_error.unwrap().contains("connect"));
    let sent = world
        .wait_entry("0-0-0:cfo-sms", |entry| entry.state == OutboxState::Sent)
        .await;
    assert_eq!(sent.attempts, 1);
    let sms = sink.state.sms.lock().unwrap().clone();
    assert_eq!(sms.len(), 1);
    assert_eq!(sms[0].0, "/sms/send?ref=0-0-0%3Acfo-sms");
    let body: Value = serde_json::from_str(&sms[0].1).unwrap();
    assert_eq!(body["mobiles"], "13800000000,+8613900000000");
    assert_eq!(
        body["content"],
        "2026-11: MobileMSP recorded its payment; acknowledge receipt"
    );
    world.wait_cursor(3).await;
    let ids: Vec<String> = world
        .ledger()
        .outbox()
        .list(None, 0, 100)
        .unwrap()
        .into_iter()
        .map(|entry| entry.id)
        .collect();
    assert_eq!(
        ids,
        ["0-0-0:cfo-sms", "1-0-0:gone"],
        "no notice of the old block"
    );
    stop.send_replace(true);
    task.await.unwrap();
}

// ---------------------------------------------------------------------------------------
// Deadline reminders.

const HOUR_MS: u64 = 3_600_000;
const NOW_MS: u64 = 1_800_000_000_000;

/// A period whose sides (Unicom is A, Mobile B) have `actions` pending, with deadlines
/// `hours` from [`NOW_MS`] (upload, reveal).
fn open_period(
    actions: [Option<&str>; 2],
    upload_in_h: Option<i64>,
    reveal_in_h: Option<i64>,
) -> OpenPeriod {
    let at = |hours: Option<i64>| {
        hours.map(|h| i64::try_from(NOW_MS).unwrap() + h * i64::try_from(HOUR_MS).unwrap())
    };
    let side = |side: &str, carrier: &str, action: Option<&str>| {
        json!({"side": side, "carrier": carrier, "action": action, "since_ms": null,
               "since_tx": null, "uploaded_at_ms": null, "late": false, "late_by_ms": null})
    };
    let status = json!({
        "phase": "Revealing", "whose_move": [], "upload_deadline_ms": at(upload_in_h),
        "reveal_deadline_ms": at(reveal_in_h), "closable_after_ms": null,
        "sides": [side("A", UNICOM, actions[0]), side("B", MOBILE, actions[1])],
    });
    OpenPeriod {
        period: P.to_owned(),
        round: 1,
        status: serde_json::from_value(status).unwrap(),
    }
}

/// `own`'s reminders, one line each: `key kind text`.
fn reminders(own: &str, open: &OpenPeriod, before_h: &[u64]) -> String {
    let before: Vec<Duration> = before_h
        .iter()
        .map(|h| Duration::from_secs(h * 3_600))
        .collect();
    remind(own, open, NOW_MS, &before)
        .iter()
        .map(|draft| format!("{} {} {}", draft.event_key, draft.kind, draft.text))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn reminders_name_the_most_urgent_threshold_crossed_and_the_passed_deadline_once() {
    let reveal = |hours: i64| open_period([Some("Reveal"), None], None, Some(hours));
    let before = [24, 72];
    assert_eq!(reminders(UNICOM, &reveal(100), &before), "");
    assert_eq!(
        reminders(UNICOM, &reveal(50), &before),
        "remind-2026-11-r1-UnicomMSP-72h deadline_near 2026-11: reveal your key; the deadline is in 50 h"
    );
    assert_eq!(
        reminders(UNICOM, &reveal(10), &before),
        "remind-2026-11-r1-UnicomMSP-24h deadline_near 2026-11: reveal your key; the deadline is in 10 h"
    );
    // The other side hears nothing until Unicom is late.
    assert_eq!(reminders(MOBILE, &reveal(10), &before), "");
    assert_eq!(
        reminders(UNICOM, &reveal(-2), &before),
        "remind-2026-11-r1-UnicomMSP-passed deadline_passed 2026-11: the deadline passed 2 h ago; reveal your key now"
    );
    assert_eq!(
        reminders(MOBILE, &reveal(-2), &before),
        "remind-2026-11-r1-UnicomMSP-late counterpart_late 2026-11: UnicomMSP is late: the deadline to reveal its key passed 2 h ago"
    );
    // No thresholds: only the passed deadline.
    assert_eq!(reminders(UNICOM, &reveal(1), &[]), "");
    assert!(reminders(UNICOM, &reveal(-1), &[]).contains("deadline_passed"));

    // Both to upload: each node reminds its own staff only.
    let both = open_period([Some("Upload"), Some("Upload")], Some(20), None);
    assert_eq!(
        reminders(MOBILE, &both, &before),
        "remind-2026-11-r1-MobileMSP-24h deadline_near 2026-11: upload your report; the deadline is in 20 h"
    );
    assert!(reminders(UNICOM, &both, &before).starts_with("remind-2026-11-r1-UnicomMSP-24h"));
    // Moves without a deadline, and deadlines not agreed, remind nobody.
    let confirm = open_period([Some("Confirm"), Some("Decide")], Some(-5), Some(-5));
    assert_eq!(reminders(UNICOM, &confirm, &before), "");
    let undated = open_period([Some("Upload"), None], None, None);
    assert_eq!(reminders(UNICOM, &undated, &before), "");
    // Reminders go to settlement staff, as notices with no block.
    let drafts = remind(UNICOM, &reveal(10), NOW_MS, &[Duration::from_secs(86_400)]);
    assert_eq!(drafts[0].roles, &[Role::Settlement]);
    assert_eq!((drafts[0].block, drafts[0].tx_id.clone()), (None, None));
    let desk = recipient("desk", &[Role::Settlement], Periods::All);
    assert_eq!(
        address(&drafts[0], &desk, "settlement", UNICOM).id,
        "remind-2026-11-r1-UnicomMSP-24h:desk"
    );
}

#[test]
fn the_period_due_is_reminded_before_anyone_uploads_and_not_once_it_has_a_record() {
    // The month before, Beijing time: 2026-11-30 16:30 UTC is already December there.
    let due = |ms: u64| due_period(ms).map(|period| period.to_string());
    assert_eq!(due(1_796_056_200_000).as_deref(), Some("2026-11"));
    assert_eq!(due(1_796_052_600_000).as_deref(), Some("2026-10"));
    assert_eq!(due(1_799_971_200_000).as_deref(), Some("2026-12"));

    let world = World::new();
    let at = 1_796_731_200_000; // 2026-12-08 12:00 UTC
    let before = [
        Duration::from_secs(24 * 3600),
        Duration::from_secs(72 * 3600),
    ];
    let drafts_at = |now_ms: u64| -> Vec<String> {
        open_periods(world.ledger(), now_ms)
            .unwrap()
            .iter()
            .flat_map(|open| remind(UNICOM, open, now_ms, &before))
            .map(|draft| format!("{} {} {}", draft.event_key, draft.kind, draft.text))
            .collect()
    };
    // No agreement yet: nothing to remind of.
    assert!(drafts_at(at).is_empty());
    let agreement = |deadline_day: Option<u8>| {
        let record: netsettle_settlement::store::AgreementRecord = serde_json::from_value(json!({
            "agreement": {
                "party_a": UNICOM, "party_b": MOBILE, "currency": "CNY",
                "tolerance_fen": 100, "tolerance_bp": 10, "reveal_window_ms": 86_400_000,
                "clock_margin_ms": 300_000, "upload_deadline_day": deadline_day,
            },
            "version": 1, "proposed_by": UNICOM, "accepted_by": MOBILE,
            "tx_id": "00".repeat(32),
        }))
        .unwrap();
        netsettle_protocol::encode(&record).unwrap()
    };
    let agreement_key = netsettle_settlement::store::agreement_key().unwrap();
    // An agreement without an upload deadline: nobody is due by a date.
    world.commit_state(&agreement_key, agreement(None));
    assert!(drafts_at(at).is_empty());
    // Due by 2026-12-10 24:00 Beijing (16:00 UTC): 52 h left at `at`.
    world.commit_state(&agreement_key, agreement(Some(10)));
    assert_eq!(
        drafts_at(at),
        [
            "remind-2026-11-r0-UnicomMSP-72h deadline_near 2026-11: upload your report; the deadline is in 52 h"
        ]
    );
    // A day after the deadline both are late; Unicom's staff hear of their own and of Mobile's.
    let late = drafts_at(1_796_990_400_000);
    assert_eq!(late.len(), 2, "{late:?}");
    assert!(late[0].contains("deadline_passed"), "{late:?}");
    assert!(
        late[1].contains("counterpart_late 2026-11: MobileMSP is late"),
        "{late:?}"
    );
    // Once the period has a record, the reminders come from it (and this one is final).
    let period = netsettle_settlement::units::Period::new(2026, 11).unwrap();
    let mut state = netsettle_settlement::workflow::PeriodState::open(
        period,
        serde_json::from_value(json!({
            "party_a": UNICOM, "party_b": MOBILE, "currency": "CNY", "tolerance_fen": 100,
            "tolerance_bp": 10, "reveal_window_ms": 86_400_000, "clock_margin_ms": 300_000,
            "upload_deadline_day": 10,
        }))
        .unwrap(),
        1,
    );
    state.phase = netsettle_settlement::workflow::Phase::Closed;
    world.commit_state(
        &netsettle_settlement::store::period_key(period).unwrap(),
        netsettle_protocol::encode(&state).unwrap(),
    );
    assert!(drafts_at(at).is_empty());
}
