//! The staff console's period pages against a real consortium: five Raft orderers and two
//! peers per carrier as real `netsettle` processes behind both DMZ forwarders (loopback
//! slot 22), a month uploaded and revealed through the typed SDK, and Unicom's console
//! (`netsettle_console::Console`, in this process) on 127.0.0.1:0 read with a real HTTP
//! client. Every figure the pages show is checked against the SDK's own views:
//!
//! - the period page: `#status` (phase, round, whose move, totals), `#lines` (one row per
//!   line, `disputed` where the contract says so, both carriers' amounts and their
//!   difference), `#items` (per item and payer), the `#chart` bars (each carrier's figures
//!   summed by item and direction); the search (`q`) and the open-lines filter (`open=1`);
//! - the timeline: one `li[data-tx]` per audit entry, with the block the SDK's answer
//!   named for the transaction;
//! - refusals that change nothing: no session (to the login form), an unknown period
//!   path (404), an over-long search (400), the export before the period is final (409
//!   with the contract's reason); a POST without or with a wrong CSRF token (403),
//!   another role's step (403, and its form absent), a step the contract refuses (an
//!   `error` flash with its reason);
//! - Unicom's peer0 delivers its notices to Unicom's console's hook (`[notices]` webhook,
//!   the console trusting the peer's signing certificate): once the month is closed the
//!   notices page holds each kind Unicom's staff are told of, each notice once;
//! - the rest of the month through both carriers' consoles (Mobile's a `netsettle console
//!   run` process, its config beside the consortium and its hashes from `netsettle
//!   console hash-password`, stopped with SIGTERM at the end): a dispute, one adjustment
//!   through the single form (its own side's decision refused, Mobile's rejection with a
//!   reason), Unicom's adjustments for every open line uploaded as a file, Mobile's
//!   settlement user accepting them all, both confirmations, the CSV export identical to
//!   the SDK's, both finance approvals, the payer's payment and the payee's
//!   acknowledgement, the periods page in review and closed; every step recorded on the
//!   chain on behalf of the console user.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use hyper::StatusCode;
use netsettle_console::{Console, ConsoleConfig, PRE_COOKIE, SESSION_COOKIE, hash_password};
use netsettle_settlement::agreement::{Agreement, Side};
use netsettle_settlement::reconcile::{LineStatus, ReconciledLine};
use netsettle_settlement::units::Period;
use netsettle_settlement::workflow::Phase;
use netsettle_testkit::process::{ADMIN_M, ADMIN_U, Netsettle, ORDERERS, PEERS, Process, REPO};
use netsettle_testkit::sdk::SdkUser;

/// The binary under test.
const NETSETTLE: Netsettle = Netsettle(env!("CARGO_BIN_EXE_netsettle"));

/// This file's loopback range: 127.22.x.x.
const SLOT: u8 = 22;

const SETTLEMENT_U: &str = "crypto/unicom/users/settlement@unicom.example";
const SETTLEMENT_M: &str = "crypto/mobile/users/settlement@mobile.example";
const FINANCE_U: &str = "crypto/unicom/users/finance@unicom.example";
/// Unicom's console: in Unicom's range of this file's slot, where its peer0 sends notices.
const CONSOLE_U: &str = "127.22.1.40:18080";
/// Unicom's peer0's signing certificate: the notices' signer.
const PEER0_U_SIGNER: &str = "crypto/unicom/peers/peer0.unicom.example/msp/signcerts/cert.pem";

/// How long the node's notices may take to reach the console.
const NOTICE_WAIT_MAX: Duration = Duration::from_secs(60);

fn period() -> Period {
    "2026-10".parse().unwrap()
}

fn csv(carrier: &str) -> Vec<u8> {
    std::fs::read(format!("{REPO}/tests/data/settlement/demo-{carrier}.csv")).unwrap()
}

/// The agreement, both uploads and both reveals: the period in review, its lines
/// reconciled. Returns Unicom's upload's transaction id (hex) and block.
async fn month_to_review(dir: &Path, unicom: &SdkUser, mobile: &SdkUser) -> (String, u64) {
    let admin_u = SdkUser::connect(dir, ADMIN_U[1], ADMIN_U[3]).await;
    let admin_m = SdkUser::connect(dir, ADMIN_M[1], ADMIN_M[3]).await;
    let text = std::fs::read(format!("{REPO}/tests/data/settlement/agreement.json")).unwrap();
    let terms: Agreement = serde_json::from_slice(&text).unwrap();
    let proposed = admin_u.sdk().propose_agreement(&terms).await.unwrap();
    admin_m
        .sdk()
        .accept_agreement(proposed.answer.digest)
        .await
        .unwrap();
    let upload = unicom
        .sdk()
        .upload_csv(period(), &csv("UnicomMSP"), &unicom.keys)
        .await
        .unwrap();
    mobile
        .sdk()
        .upload_csv(period(), &csv("MobileMSP"), &mobile.keys)
        .await
        .unwrap();
    unicom.sdk().reveal(period(), &unicom.keys).await.unwrap();
    let second = mobile.sdk().reveal(period(), &mobile.keys).await.unwrap();
    assert_eq!(second.answer.phase, Phase::Reviewing);
    (hex::encode(upload.tx_id.0.0), upload.block)
}

// The console crate's test HTTP client (one request per connection, bounded in time).
#[path = "../../crates/console/tests/common/mod.rs"]
mod common;

use common::{Answer, exchange};

async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: &str,
    body: Vec<u8>,
) -> Answer {
    let form = "application/x-www-form-urlencoded";
    request_typed(addr, method, path, cookie, form, body).await
}

async fn request_typed(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Answer {
    let mut headers = vec![("content-type", content_type.to_owned())];
    if !cookie.is_empty() {
        headers.push(("cookie", cookie.to_owned()));
    }
    exchange(addr, method, path, &headers, body).await
}

/// Unicom's console, in this process, on the address its peer0's notices go to, trusting
/// that peer's signing certificate; users `alice` (settlement) and `frank` (finance), each
/// with the password `{name}'s password`.
async fn start_console(dir: &Path) -> Console {
    let settlement = hash_password(b"alice's password").unwrap();
    let finance = hash_password(b"frank's password").unwrap();
    let text = format!(
        r#"listen = "{CONSOLE_U}"
profile = "{profile}"
settlement_identity = "{settlement_identity}"
finance_identity = "{finance_identity}"
notice_signers = ["{signer}"]
[[users]]
name = "alice"
password_hash = "{settlement}"
role = "settlement"
[[users]]
name = "frank"
password_hash = "{finance}"
role = "finance"
"#,
        profile = dir.join(ADMIN_U[1]).display(),
        settlement_identity = dir.join(SETTLEMENT_U).display(),
        finance_identity = dir.join(FINANCE_U).display(),
        signer = dir.join(PEER0_U_SIGNER).display(),
    );
    Console::start(ConsoleConfig::parse(&text).unwrap())
        .await
        .unwrap()
}

/// Adds a `[notices]` webhook recipient `console` (every role and period) to Unicom's
/// peer0, delivering to Unicom's console, retrying quickly and long enough for the
/// console to come up.
fn configure_notices(dir: &Path) {
    let path = dir.join("nodes/unicommsp-peer0.toml");
    let mut config = std::fs::read_to_string(&path).unwrap();
    config.push_str(&format!(
        "\n[notices]\nbackoff_initial_ms = 100\nbackoff_max_ms = 500\nattempts_max = 1000\n\
         [[notices.recipients]]\nname = \"console\"\nroles = [\"settlement\", \"finance\"]\n\
         periods = \"all\"\nchannel = \"webhook\"\nurl = \"http://{CONSOLE_U}/hooks/notices\"\n"
    ));
    std::fs::write(path, config).unwrap();
}

/// `password`'s argon2id hash from `netsettle console hash-password` (read from stdin).
fn hash_with_cli(password: &str) -> String {
    let mut child = NETSETTLE
        .command()
        .args(["console", "hash-password"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{password}\n").as_bytes()).unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Mobile's console as the demo runs it: `netsettle console run --config` with a config
/// beside the consortium (paths relative to it), users `bob` (settlement) and `fiona`
/// (finance), hashes from `netsettle console hash-password`; the process past its
/// readiness line and the address it printed.
fn console_process(dir: &Path) -> (Process, SocketAddr) {
    let text = format!(
        r#"listen = "127.0.0.1:0"
profile = "clients/mobilemsp.toml"
settlement_identity = "crypto/mobile/users/settlement@mobile.example"
finance_identity = "crypto/mobile/users/finance@mobile.example"
notice_signers = [
  "crypto/mobile/peers/peer0.mobile.example/msp/signcerts/cert.pem",
  "crypto/mobile/peers/peer1.mobile.example/msp/signcerts/cert.pem",
]
[[users]]
name = "bob"
password_hash = "{}"
role = "settlement"
[[users]]
name = "fiona"
password_hash = "{}"
role = "finance"
"#,
        hash_with_cli("bob's password"),
        hash_with_cli("fiona's password"),
    );
    std::fs::write(dir.join("console-mobile.toml"), text).unwrap();
    let mut command = NETSETTLE.command();
    command
        .args(["console", "run", "--config", "console-mobile.toml"])
        .current_dir(dir);
    let process = Process::start(command, "console listening on ");
    let addr = process
        .ready
        .strip_prefix("console listening on http://")
        .expect("plain HTTP on loopback")
        .parse()
        .unwrap();
    (process, addr)
}

/// Logs `name` in (password `{name}'s password`); the session cookie (`name=value`).
async fn log_in(addr: SocketAddr, name: &str) -> String {
    let password = format!("{name}'s password");
    let password = password.as_str();
    let form_page = request(addr, "GET", "/login", "", Vec::new()).await;
    let pre = form_page
        .cookie_pair(PRE_COOKIE)
        .expect("pre-session cookie");
    let body = serde_urlencoded::to_string([
        ("csrf", form_page.csrf().as_str()),
        ("name", name),
        ("password", password),
    ])
    .unwrap();
    let answer = request(addr, "POST", "/login", &pre, body.into_bytes()).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    answer.cookie_pair(SESSION_COOKIE).expect("session cookie")
}

/// The element starting with `<{tag} {attribute}` up to its closing tag.
fn element<'a>(body: &'a str, tag: &str, attribute: &str) -> Option<&'a str> {
    let start = body.find(&format!("<{tag} {attribute}"))?;
    let end = body[start..].find(&format!("</{tag}>"))?;
    Some(&body[start..start + end])
}

/// Every element `<{tag} {prefix}…` in `body`.
fn elements<'a>(body: &'a str, tag: &str, prefix: &str) -> Vec<&'a str> {
    let open = format!("<{tag} {prefix}");
    let close = format!("</{tag}>");
    body.match_indices(&open)
        .filter_map(|(start, _)| {
            let end = body[start..].find(&close)?;
            Some(&body[start..start + end])
        })
        .collect()
}

/// The value of `name="…"` in `fragment`.
fn attribute<'a>(fragment: &'a str, name: &str) -> Option<&'a str> {
    let marker = format!("{name}=\"");
    let start = fragment.find(&marker)? + marker.len();
    let end = fragment[start..].find('"')?;
    Some(&fragment[start..start + end])
}

/// The `data-fen` of the cell of class `class` in `row`.
fn fen(row: &str, class: &str) -> Option<u64> {
    let cell = element(row, "td", &format!("class=\"{class}\""))?;
    attribute(cell, "data-fen")?.parse().ok()
}

fn carrier(agreement: &Agreement, side: Side) -> &str {
    match side {
        Side::A => &agreement.party_a,
        Side::B => &agreement.party_b,
    }
}

#[test]
fn the_period_pages_show_what_the_ledger_holds() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    NETSETTLE.consortium(dir);
    NETSETTLE.render_layout(dir, SLOT, "");
    configure_notices(dir);
    let _consortium = NETSETTLE.start_nodes(dir, &ORDERERS, &PEERS);
    NETSETTLE.define_settlement(dir);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let console = start_console(dir).await;
        let addr = console.local_addr();
        let unicom = SdkUser::connect(dir, ADMIN_U[1], SETTLEMENT_U).await;
        let mobile = SdkUser::connect(dir, ADMIN_M[1], SETTLEMENT_M).await;
        let (upload_tx, upload_block) = month_to_review(dir, &unicom, &mobile).await;
        let alice = log_in(addr, "alice").await;
        refusals(addr, &alice).await;
        period_page(addr, &alice, &unicom).await;
        filters(addr, &alice, &unicom).await;
        timeline(addr, &alice, &unicom, &upload_tx, upload_block).await;
        let (mobile_console, mobile_addr) = console_process(dir);
        let consoles = Consoles {
            unicom: addr,
            mobile: mobile_addr,
            alice,
            frank: log_in(addr, "frank").await,
            bob: log_in(mobile_addr, "bob").await,
            fiona: log_in(mobile_addr, "fiona").await,
        };
        refused_steps(&consoles, &unicom).await;
        review_steps(&consoles, &unicom).await;
        finance_steps(&consoles, &unicom).await;
        notices_from_the_node(addr, &consoles.alice).await;
        mobile_console.stop();
        console.shutdown().await;
    });
}

async fn refusals(addr: SocketAddr, session: &str) {
    let anonymous = request(addr, "GET", "/periods/2026-10", "", Vec::new()).await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert_eq!(anonymous.headers["location"], "/login");
    let bad = request(addr, "GET", "/periods/2026-13", session, Vec::new()).await;
    assert_eq!(bad.status, StatusCode::NOT_FOUND, "{}", bad.body);
    assert!(bad.body.contains("id=\"error\""));
    let long = format!("/periods/2026-10?q={}", "x".repeat(200));
    let long = request(addr, "GET", &long, session, Vec::new()).await;
    assert_eq!(long.status, StatusCode::BAD_REQUEST, "{}", long.body);
    // Not final yet: the contract refuses the export and the page says why.
    let export = request(
        addr,
        "GET",
        "/periods/2026-10/export.csv",
        session,
        Vec::new(),
    )
    .await;
    assert_eq!(export.status, StatusCode::CONFLICT, "{}", export.body);
    assert!(export.body.contains("id=\"error\""), "{}", export.body);
}

async fn period_page(addr: SocketAddr, session: &str, unicom: &SdkUser) {
    let view = unicom.sdk().status(period()).await.unwrap();
    let state = view.state.as_ref().unwrap();
    let lines = unicom.sdk().lines(period(), false).await.unwrap().lines;
    let page = request(addr, "GET", "/periods/2026-10", session, Vec::new()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.headers["cache-control"], "no-store");

    let status = element(&page.body, "section", "id=\"status\"").expect("#status");
    assert!(
        status.contains("<dd class=\"phase\">reviewing</dd>"),
        "{status}"
    );
    assert!(status.contains(&format!("<dd class=\"round\">{}</dd>", state.round)));
    assert!(status.contains(&format!("data-lines=\"{}\"", state.summary.lines)));
    let whose = view.status.whose_move.join(", ");
    assert!(status.contains(&format!("<dd class=\"whose-move\">{whose}</dd>")));

    let table = element(&page.body, "table", "id=\"lines\"").expect("#lines");
    let rows = elements(table, "tr", "data-line=");
    assert_eq!(rows.len(), lines.len());
    assert!(lines.iter().any(|l| l.status == LineStatus::Disputed));
    for line in &lines {
        let row = element(table, "tr", &format!("data-line=\"{}\"", line.line_no)).unwrap();
        let disputed = line.status == LineStatus::Disputed;
        assert_eq!(row.contains("class=\"disputed"), disputed, "{row}");
        assert_eq!(fen(row, "a-amount"), line.a.as_ref().map(|f| f.amount_fen));
        assert_eq!(fen(row, "b-amount"), line.b.as_ref().map(|f| f.amount_fen));
        let difference = element(row, "td", "class=\"difference\"").unwrap();
        let expected = match (&line.a, &line.b) {
            (Some(a), Some(b)) => Some(i128::from(a.amount_fen) - i128::from(b.amount_fen)),
            _ => None,
        };
        let shown = attribute(difference, "data-fen").map(|v| v.parse::<i128>().unwrap());
        assert_eq!(shown, expected, "{row}");
    }
    items(&page.body, &lines, &state.agreement);
    chart(&page.body, &lines, &state.agreement);
    periods_row(addr, session, unicom, "reviewing").await;
}

/// `#periods`: the period's row shows its phase and whose move, as `periods_list` says.
async fn periods_row(addr: SocketAddr, session: &str, unicom: &SdkUser, phase: &str) {
    let rows = unicom.sdk().periods().await.unwrap();
    let page = request(addr, "GET", "/", session, Vec::new()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let table = element(&page.body, "table", "id=\"periods\"").expect("#periods");
    assert_eq!(elements(table, "tr", "data-period=").len(), rows.len());
    let row = element(table, "tr", "data-period=\"2026-10\"").expect("the period's row");
    assert!(
        row.contains(&format!("<td class=\"phase\">{phase}</td>")),
        "{row}"
    );
    let whose = rows[0].whose_move.join(", ");
    assert!(
        row.contains(&format!("<td class=\"whose-move\">{whose}</td>")),
        "{row}"
    );
    // The deadlines as `period_get` has them: shown when set, `-` when not.
    let status = unicom.sdk().status(period()).await.unwrap().status;
    for (class, deadline) in [
        ("upload-deadline", status.upload_deadline_ms),
        ("reveal-deadline", status.reveal_deadline_ms),
    ] {
        let shown = element(row, "span", &format!("class=\"{class}\"")).expect(class);
        assert_eq!(shown.ends_with(">-"), deadline.is_none(), "{row}");
    }
}

/// `#items`: each carrier's amounts summed per item and payer.
fn items(body: &str, lines: &[ReconciledLine], agreement: &Agreement) {
    let mut expected: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for line in lines {
        let key = (
            line.key.item.to_string(),
            carrier(agreement, line.key.payer).to_owned(),
        );
        let sums = expected.entry(key).or_default();
        sums.0 += line.a.as_ref().map_or(0, |f| f.amount_fen);
        sums.1 += line.b.as_ref().map_or(0, |f| f.amount_fen);
    }
    let table = element(body, "table", "id=\"items\"").expect("#items");
    assert_eq!(elements(table, "tr", "data-item=").len(), expected.len());
    for ((item, payer), (a, b)) in expected {
        let selector = format!("data-item=\"{item}\" data-payer=\"{payer}\"");
        let row = element(table, "tr", &selector).expect("an item row");
        assert_eq!(fen(row, "a-amount"), Some(a), "{row}");
        assert_eq!(fen(row, "b-amount"), Some(b), "{row}");
    }
}

/// `#chart`: a bar per item, reporting carrier and direction with that carrier's
/// figures summed.
fn chart(body: &str, lines: &[ReconciledLine], agreement: &Agreement) {
    let mut expected: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    for line in lines {
        for (side, figures) in [(Side::A, &line.a), (Side::B, &line.b)] {
            let Some(figures) = figures else { continue };
            let direction = if line.key.payer == side {
                "payable"
            } else {
                "receivable"
            };
            let key = (
                line.key.item.to_string(),
                carrier(agreement, side).to_owned(),
                direction.to_owned(),
            );
            *expected.entry(key).or_default() += figures.amount_fen;
        }
    }
    let svg = element(body, "svg", "id=\"chart\"").expect("#chart");
    let bars = elements(svg, "rect", "class=\"bar\"");
    assert_eq!(bars.len(), expected.len());
    let shown: BTreeMap<(String, String, String), u64> = bars
        .iter()
        .map(|bar| {
            let key = (
                attribute(bar, "data-item").unwrap().to_owned(),
                attribute(bar, "data-carrier").unwrap().to_owned(),
                attribute(bar, "data-direction").unwrap().to_owned(),
            );
            (key, attribute(bar, "data-amount").unwrap().parse().unwrap())
        })
        .collect();
    assert_eq!(shown, expected);
}

async fn filters(addr: SocketAddr, session: &str, unicom: &SdkUser) {
    let open = unicom.sdk().lines(period(), true).await.unwrap().lines;
    let all = unicom.sdk().lines(period(), false).await.unwrap().lines;
    assert!(!open.is_empty() && open.len() < all.len());
    let page = request(addr, "GET", "/periods/2026-10?open=1", session, Vec::new()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let table = element(&page.body, "table", "id=\"lines\"").unwrap();
    let shown: Vec<u64> = elements(table, "tr", "data-line=")
        .iter()
        .map(|row| attribute(row, "data-line").unwrap().parse().unwrap())
        .collect();
    let expected: Vec<u64> = open.iter().map(|line| line.line_no).collect();
    assert_eq!(shown, expected);

    // The search keeps the lines of one area (areas are digit tokens no other field holds).
    let area = all[0].key.area.to_string();
    let path = format!("/periods/2026-10?q={area}");
    let page = request(addr, "GET", &path, session, Vec::new()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let table = element(&page.body, "table", "id=\"lines\"").unwrap();
    let shown = elements(table, "tr", "data-line=");
    let expected = all
        .iter()
        .filter(|line| line.key.area.to_string().contains(&area))
        .count();
    assert_eq!(shown.len(), expected);
    assert!(shown.iter().all(|row| row.contains(&area)));
}

async fn timeline(addr: SocketAddr, session: &str, unicom: &SdkUser, upload_tx: &str, block: u64) {
    let trail = unicom.sdk().audit_trail(period()).await.unwrap();
    let page = request(
        addr,
        "GET",
        "/periods/2026-10/timeline",
        session,
        Vec::new(),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let list = element(&page.body, "ol", "id=\"timeline\"").expect("#timeline");
    let items = elements(list, "li", "data-tx=");
    assert_eq!(items.len(), trail.len());
    for (item, entry) in items.iter().zip(&trail) {
        assert_eq!(
            attribute(item, "data-tx"),
            Some(entry.tx_id.to_string().as_str())
        );
        assert!(item.contains(&format!("<span class=\"step\">{}</span>", entry.step)));
        assert!(item.contains(&format!("<span class=\"carrier\">{}</span>", entry.msp_id)));
    }
    let upload = element(list, "li", &format!("data-tx=\"{upload_tx}\"")).expect("the upload");
    assert!(
        upload.contains(&format!("<span class=\"block\">{block}</span>")),
        "{upload}"
    );
}

/// Both carriers' consoles and a session of each user.
struct Consoles {
    unicom: SocketAddr,
    mobile: SocketAddr,
    alice: String,
    frank: String,
    bob: String,
    fiona: String,
}

/// The period page as `session` sees it, with its CSRF token.
async fn page_of(addr: SocketAddr, session: &str) -> Answer {
    let page = request(addr, "GET", "/periods/2026-10", session, Vec::new()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page
}

/// POSTs `step` with `fields` (the session's CSRF token added) and follows the redirect;
/// the flash's class and text.
async fn step(
    addr: SocketAddr,
    session: &str,
    step: &str,
    fields: &[(&str, &str)],
) -> (String, String) {
    let csrf = page_of(addr, session).await.csrf();
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    let body = serde_urlencoded::to_string(&all).unwrap().into_bytes();
    let path = format!("/periods/2026-10/{step}");
    let answer = request(addr, "POST", &path, session, body).await;
    assert_eq!(
        answer.status,
        StatusCode::SEE_OTHER,
        "{step}: {}",
        answer.body
    );
    assert_eq!(answer.headers["location"], "/periods/2026-10");
    flash(addr, session).await.expect("a flash after a step")
}

/// The flash on the period page, if any (shown once).
async fn flash(addr: SocketAddr, session: &str) -> Option<(String, String)> {
    let page = page_of(addr, session).await;
    let start = page.body.find("<p id=\"flash\"")?;
    let element = &page.body[start..];
    let end = element.find("</p>")?;
    let element = &element[..end];
    let class = attribute(element, "class")?.to_owned();
    let text = element[element.find('>')? + 1..].to_owned();
    Some((class, text))
}

async fn version(unicom: &SdkUser) -> u64 {
    let view = unicom.sdk().status(period()).await.unwrap();
    view.state.unwrap().version
}

async fn refused_steps(consoles: &Consoles, unicom: &SdkUser) {
    let addr = consoles.unicom;
    let before = version(unicom).await;
    // Each role sees its own forms only.
    let alice_page = page_of(addr, &consoles.alice).await;
    for id in ["dispute", "adjust", "adjust-file", "decide", "confirm"] {
        assert!(
            alice_page.body.contains(&format!("<form id=\"{id}\"")),
            "{id}"
        );
    }
    assert!(!alice_page.body.contains("<form id=\"approve\""));
    let frank_page = page_of(addr, &consoles.frank).await;
    assert!(!frank_page.body.contains("<form id=\"dispute\""));

    // Forged POSTs: another role's step, no or a wrong CSRF token.
    let form = |csrf: &str| {
        let fields = [("csrf", csrf), ("line", "0"), ("reason", "forged")];
        serde_urlencoded::to_string(fields).unwrap().into_bytes()
    };
    let path = "/periods/2026-10/dispute";
    let other_role = request(
        addr,
        "POST",
        path,
        &consoles.frank,
        form(&frank_page.csrf()),
    )
    .await;
    assert_eq!(
        other_role.status,
        StatusCode::FORBIDDEN,
        "{}",
        other_role.body
    );
    let approve = serde_urlencoded::to_string([("csrf", alice_page.csrf())]).unwrap();
    let approve = request(
        addr,
        "POST",
        "/periods/2026-10/approve",
        &consoles.alice,
        approve.into_bytes(),
    )
    .await;
    assert_eq!(approve.status, StatusCode::FORBIDDEN, "{}", approve.body);
    let no_token = serde_urlencoded::to_string([("line", "0"), ("reason", "x")]).unwrap();
    let no_token = request(addr, "POST", path, &consoles.alice, no_token.into_bytes()).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN, "{}", no_token.body);
    let wrong = request(
        addr,
        "POST",
        path,
        &consoles.alice,
        form(&frank_page.csrf()),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{}", wrong.body);
    let anonymous = request(addr, "POST", path, "", form(&alice_page.csrf())).await;
    assert_eq!(
        anonymous.status,
        StatusCode::FORBIDDEN,
        "{}",
        anonymous.body
    );

    // Bad input and a step the contract refuses: an error flash, nothing changed.
    let (class, text) = step(
        addr,
        &consoles.alice,
        "dispute",
        &[("line", "x"), ("reason", "r")],
    )
    .await;
    assert_eq!(class, "error");
    assert!(text.contains("not a whole number"), "{text}");
    let (class, text) = step(
        addr,
        &consoles.alice,
        "dispute",
        &[("line", "99999"), ("reason", "r")],
    )
    .await;
    assert_eq!(class, "error", "{text}");
    assert!(!text.is_empty() && !text.contains('\n'), "{text}");
    assert_eq!(
        flash(addr, &consoles.alice).await,
        None,
        "a flash is shown once"
    );
    assert_eq!(version(unicom).await, before);
}

async fn review_steps(consoles: &Consoles, unicom: &SdkUser) {
    let all = unicom.sdk().lines(period(), false).await.unwrap().lines;
    let agreed = all
        .iter()
        .find(|line| line.status == LineStatus::Agreed)
        .expect("an agreed line");
    let line = agreed.line_no.to_string();
    let (class, text) = step(
        consoles.unicom,
        &consoles.alice,
        "dispute",
        &[("line", &line), ("reason", "counted twice")],
    )
    .await;
    assert_eq!(class, "ok", "{text}");
    let trail = unicom.sdk().audit_trail(period()).await.unwrap();
    let last = trail.last().unwrap();
    assert_eq!(last.step, "dispute");
    assert_eq!(last.on_behalf_of.as_ref().unwrap().to_string(), "alice");
    let page = request(
        consoles.unicom,
        "GET",
        "/periods/2026-10/timeline",
        &consoles.alice,
        Vec::new(),
    )
    .await;
    let item = element(&page.body, "li", &format!("data-tx=\"{}\"", last.tx_id)).unwrap();
    assert!(
        item.contains("<span class=\"on-behalf-of\">alice</span>"),
        "{item}"
    );

    // One adjustment through the single form, rejected by Mobile with a reason; its own
    // side cannot decide it.
    let open = unicom.sdk().lines(period(), true).await.unwrap().lines;
    let first = &open[0];
    let figures = first.a.as_ref().or(first.b.as_ref()).unwrap();
    let fields = [
        ("line", first.line_no.to_string()),
        ("quantity", figures.quantity.to_string()),
        ("amount_fen", figures.amount_fen.to_string()),
        ("reason", "Unicom's count".to_owned()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (class, text) = step(consoles.unicom, &consoles.alice, "adjust", &fields).await;
    assert_eq!(class, "ok", "{text}");
    let id = unicom.sdk().lines(period(), true).await.unwrap().lines[0]
        .pending_adjustment
        .expect("pending");
    assert!(
        text.starts_with(&format!("adjustment {id} proposed")),
        "{text}"
    );
    let own = step(
        consoles.unicom,
        &consoles.alice,
        "decide",
        &[("adjustment", "all"), ("decision", "accept")],
    )
    .await;
    assert_eq!(own.0, "error", "{}", own.1);
    let id = id.to_string();
    let rejected = step(
        consoles.mobile,
        &consoles.bob,
        "decide",
        &[
            ("adjustment", &id),
            ("decision", "reject"),
            ("reason", "count again"),
        ],
    )
    .await;
    assert_eq!(
        rejected,
        ("ok".to_owned(), "1 adjustments rejected".to_owned())
    );

    // Unicom's figures for every open line, as a file.
    let mut file = String::from("line_no,quantity,amount_fen,reason\n");
    for line in &open {
        let figures = line.a.as_ref().or(line.b.as_ref()).unwrap();
        file.push_str(&format!(
            "{},{},{},\"settled at Unicom's figures, per the console\"\n",
            line.line_no, figures.quantity, figures.amount_fen
        ));
    }
    let csrf = page_of(consoles.unicom, &consoles.alice).await.csrf();
    let body = format!(
        "--b0undary\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
         --b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"adjust.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n{file}\r\n--b0undary--\r\n"
    );
    let answer = request_typed(
        consoles.unicom,
        "POST",
        "/periods/2026-10/adjust-file",
        &consoles.alice,
        "multipart/form-data; boundary=b0undary",
        body.into_bytes(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let (class, text) = flash(consoles.unicom, &consoles.alice).await.unwrap();
    assert_eq!(
        (class.as_str(), text),
        ("ok", format!("{} adjustments proposed", open.len()))
    );
    let bob_page = page_of(consoles.mobile, &consoles.bob).await;
    let pending = element(&bob_page.body, "table", "id=\"pending\"").unwrap();
    assert_eq!(
        elements(pending, "tr", "data-adjustment=").len(),
        open.len()
    );

    let decided = step(
        consoles.mobile,
        &consoles.bob,
        "decide",
        &[("adjustment", "all"), ("decision", "accept")],
    )
    .await;
    assert_eq!(decided.0, "ok", "{}", decided.1);
    assert!(
        unicom
            .sdk()
            .lines(period(), true)
            .await
            .unwrap()
            .lines
            .is_empty()
    );
    let confirmed = step(consoles.unicom, &consoles.alice, "confirm", &[]).await;
    assert_eq!(confirmed.0, "ok", "{}", confirmed.1);
    let page = page_of(consoles.unicom, &consoles.alice).await;
    assert!(
        !page.body.contains("<form id=\"confirm\""),
        "confirmed once"
    );
    assert!(
        page_of(consoles.mobile, &consoles.bob)
            .await
            .body
            .contains("<form id=\"confirm\"")
    );
    let confirmed = step(consoles.mobile, &consoles.bob, "confirm", &[]).await;
    assert_eq!(
        confirmed,
        ("ok".to_owned(), "confirmed; the period is final".to_owned())
    );

    let export = request(
        consoles.unicom,
        "GET",
        "/periods/2026-10/export.csv",
        &consoles.frank,
        Vec::new(),
    )
    .await;
    assert_eq!(export.status, StatusCode::OK, "{}", export.body);
    assert!(
        export.headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let expected = unicom
        .sdk()
        .export(period(), netsettle_settlement::api::ExportFormat::Csv)
        .await
        .unwrap();
    assert_eq!(export.body.as_bytes(), expected.as_slice());
}

async fn finance_steps(consoles: &Consoles, unicom: &SdkUser) {
    for (addr, session) in [
        (consoles.unicom, &consoles.frank),
        (consoles.mobile, &consoles.fiona),
    ] {
        let page = page_of(addr, session).await;
        assert!(page.body.contains("<form id=\"approve\""));
        assert!(
            !page.body.contains("<form id=\"pay\""),
            "no payment before both approvals"
        );
        let (class, text) = step(addr, session, "approve", &[]).await;
        assert_eq!(class, "ok", "{text}");
        let page = page_of(addr, session).await;
        assert!(!page.body.contains("<form id=\"approve\""), "approved once");
    }
    let state = unicom.sdk().status(period()).await.unwrap().state.unwrap();
    let net = state.net.expect("a net position");
    let payer = net.payer.expect("someone pays");
    let (payer, payee) = if carrier(&state.agreement, payer) == "UnicomMSP" {
        (
            (consoles.unicom, &consoles.frank),
            (consoles.mobile, &consoles.fiona),
        )
    } else {
        (
            (consoles.mobile, &consoles.fiona),
            (consoles.unicom, &consoles.frank),
        )
    };
    let payee_page = page_of(payee.0, payee.1).await;
    assert!(!payee_page.body.contains("<form id=\"pay\""));
    let pay_form = page_of(payer.0, payer.1).await;
    let form = element(&pay_form.body, "form", "id=\"pay\"").expect("#pay for the payer");
    assert!(
        form.contains(&format!("value=\"{}\"", net.amount_fen)),
        "{form}"
    );
    let amount = net.amount_fen.to_string();
    let paid = step(
        payer.0,
        payer.1,
        "pay",
        &[("reference", "BANK-2026-10"), ("amount_fen", &amount)],
    )
    .await;
    assert_eq!(paid.0, "ok", "{}", paid.1);
    let ack_page = page_of(payee.0, payee.1).await;
    assert!(ack_page.body.contains("<form id=\"ack\""));
    let acked = step(payee.0, payee.1, "ack", &[("reference", "BANK-2026-10")]).await;
    assert_eq!(acked.0, "ok", "{}", acked.1);
    let closed = unicom.sdk().status(period()).await.unwrap();
    assert_eq!(closed.status.phase, Phase::Closed);
    periods_row(consoles.unicom, &consoles.frank, unicom, "closed").await;
    let trail = unicom.sdk().audit_trail(period()).await.unwrap();
    let users: Vec<String> = trail
        .iter()
        .rev()
        .take(4)
        .map(|entry| entry.on_behalf_of.as_ref().unwrap().to_string())
        .collect();
    assert!(
        users.iter().all(|user| user == "frank" || user == "fiona"),
        "{users:?}"
    );
}

/// Unicom's peer0 told Unicom's console of the month as it went: the notices page, once
/// the period's closing notice is in, holds each kind Unicom's staff are told of, once.
async fn notices_from_the_node(addr: SocketAddr, session: &str) {
    let deadline = tokio::time::Instant::now() + NOTICE_WAIT_MAX;
    let page = loop {
        let page = request(addr, "GET", "/notices", session, Vec::new()).await;
        assert_eq!(page.status, StatusCode::OK);
        if page.body.contains("data-kind=\"period_closed\"") {
            break page.body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no period_closed notice within {NOTICE_WAIT_MAX:?}: {}",
            page.body
        );
        // The node's outbox delivers on its own schedule; look again shortly.
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let list = element(&page, "ul", "id=\"notices\"").unwrap();
    let items = elements(list, "li", "data-notice=");
    let ids: std::collections::BTreeSet<&str> = items
        .iter()
        .map(|item| attribute(item, "data-notice").unwrap())
        .collect();
    assert_eq!(ids.len(), items.len(), "each notice once");
    assert!(ids.iter().all(|id| id.ends_with(":console")), "{ids:?}");
    let kinds: std::collections::BTreeSet<&str> = items
        .iter()
        .map(|item| attribute(item, "data-kind").unwrap())
        .collect();
    for kind in [
        "reveal_due",
        "reconciled",
        "adjustments_decided",
        "final",
        "period_closed",
    ] {
        assert!(kinds.contains(kind), "{kind} missing from {kinds:?}");
    }
}
