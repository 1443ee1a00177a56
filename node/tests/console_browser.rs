//! The staff console in a real browser: headless Chromium (Debian's `chromium`, driven
//! through chromedriver and the WebDriver client `fantoccini`) against `netsettle console`
//! processes, one per carrier, on a real consortium (five Raft orderers, two peers per
//! carrier behind both DMZ forwarders, loopback slot 21).
//!
//! - each carrier's settlement and finance users log in through the login form and see
//!   the periods page under their own name and role, and log out; a wrong password is
//!   refused on the login page, with no session after it;
//! - the month's reports are uploaded and revealed with the settlement CLI, and after each
//!   step both consoles' periods table `#periods` shows the period with the phase and
//!   whose move that `netsettle settlement status --output json` reads from the ledger;
//! - the review through the consoles' forms: Mobile disputes a line (`#dispute`) and
//!   uploads three adjustments as a file (`#adjust-file`), Unicom accepts them all
//!   (`#decide`) and proposes two one by one (`#adjust`), Mobile rejects one with a reason
//!   and accepts the one proposed again; both confirm (`#confirm`), both finance users
//!   approve (`#approve`), the payer's records the payment (`#pay`), the payee's
//!   acknowledges it (`#ack`) and the period closes; after each step the `ok` flash and
//!   the ledger (CLI `status`/`lines`);
//! - `#lines` (rows, `disputed`, both carriers' amounts) and the `#chart` bars (amount per
//!   item, carrier and direction) on both consoles against the CLI's `lines`, before and
//!   after the review; `#timeline` against the CLI's `history` (transactions in order,
//!   step, carrier, CN, and the console user each step after the reveals was signed for);
//! - role separation: a finance user's period page has no settlement form and a dispute
//!   POSTed from their browser with a valid CSRF token is refused (403) with the lines
//!   unchanged; a settlement user's has no `#approve`, `#pay`, `#ack` and a forged
//!   approval is refused (403) with the period unchanged.
//!
//! Chromedriver, Chromium, the consoles and the consortium are killed and their
//! directories removed when the test ends, whether it passes or not.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use netsettle_testkit::browser::{Carrier, Chromedriver, ConsoleProcess, StaffUser};
use netsettle_testkit::process::{ADMIN_M, ADMIN_U, Netsettle, ORDERERS, PEERS, REPO};
use serde_json::Value;

/// The binary under test.
const NETSETTLE: Netsettle = Netsettle(env!("CARGO_BIN_EXE_netsettle"));

/// This file's loopback range: 127.21.x.x.
const SLOT: u8 = 21;

const PERIOD: &str = "2026-10";

/// Bound on the browser part of the test (the consortium's start-up has its own).
const BROWSER_MAX: Duration = Duration::from_secs(150);

/// How long a page may take to load after a form is submitted.
const PAGE_MAX: Duration = Duration::from_secs(20);

/// How long a console may lag behind the CLI's view of the ledger (another peer of the
/// same carrier may commit a block a moment later); reaching it fails the test.
const CONVERGE_MAX: Duration = Duration::from_secs(20);

/// Unicom's staff: settlement, finance.
const USERS_U: [StaffUser; 2] = [
    StaffUser {
        name: "li.wei",
        password: "unicom settlement pass",
        role: "settlement",
    },
    StaffUser {
        name: "zhao.min",
        password: "unicom finance pass",
        role: "finance",
    },
];

/// Mobile's staff: settlement, finance.
const USERS_M: [StaffUser; 2] = [
    StaffUser {
        name: "chen.jing",
        password: "mobile settlement pass",
        role: "settlement",
    },
    StaffUser {
        name: "wang.fang",
        password: "mobile finance pass",
        role: "finance",
    },
];

/// A carrier's console and its staff.
struct Desk<'a> {
    carrier: Carrier,
    console: &'a ConsoleProcess,
    users: &'a [StaffUser; 2],
}

/// `netsettle settlement COMMAND WHO --output json EXTRA…`, which must succeed; its stdout
/// parsed.
fn settle(dir: &Path, command: &str, who: &[String], extra: &[&str]) -> Value {
    let mut args = vec!["settlement", command];
    args.extend(who.iter().map(String::as_str));
    args.extend(["--output", "json"]);
    args.extend(extra);
    let stdout = NETSETTLE.ok(dir, &args);
    serde_json::from_str(&stdout)
        .unwrap_or_else(|error| panic!("{command}: not one JSON document ({error}): {stdout}"))
}

/// The period's phase (lower case, as the console names it) and whose move, as the CLI
/// reads them for `carrier`'s settlement staff.
fn ledger_view(dir: &Path, carrier: Carrier) -> (String, String) {
    let status = settle(
        dir,
        "status",
        &carrier.cli("settlement"),
        &["--period", PERIOD],
    );
    let phase = status["status"]["phase"]
        .as_str()
        .unwrap_or_else(|| panic!("no phase: {status}"))
        .to_lowercase();
    let whose: Vec<&str> = status["status"]["whose_move"]
        .as_array()
        .unwrap_or_else(|| panic!("no whose_move: {status}"))
        .iter()
        .map(|side| side.as_str().expect("an MSP id"))
        .collect();
    (phase, whose.join(", "))
}

/// The demo's agreement, proposed by Unicom's admin and accepted by Mobile's.
fn agree(dir: &Path) {
    let agreement = format!("{REPO}/tests/data/settlement/agreement.json");
    let propose = [&["propose"][..], &ADMIN_U[..]].concat();
    let propose: Vec<String> = propose.iter().map(|s| s.to_string()).collect();
    settle(dir, "agreement", &propose, &["--file", &agreement]);
    let accept = [&["accept"][..], &ADMIN_M[..]].concat();
    let accept: Vec<String> = accept.iter().map(|s| s.to_string()).collect();
    let accepted = settle(dir, "agreement", &accept, &[]);
    assert_eq!(accepted["result"]["version"], 1, "{accepted}");
}

/// `carrier`'s demo report for the period, uploaded by its settlement staff.
fn upload(dir: &Path, carrier: Carrier) {
    let csv = format!("{REPO}/tests/data/settlement/demo-{}.csv", carrier.msp_id());
    settle(
        dir,
        "upload",
        &carrier.cli("settlement"),
        &["--period", PERIOD, "--csv", &csv],
    );
}

fn reveal(dir: &Path, carrier: Carrier) {
    settle(
        dir,
        "reveal",
        &carrier.cli("settlement"),
        &["--period", PERIOD],
    );
}

/// A WebDriver session on headless Chromium with the launcher's arguments.
async fn browser(driver: &Chromedriver) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": driver.chromium(),
            "args": driver.chromium_args(),
        }),
    );
    let client = ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url())
        .await
        .expect("a WebDriver session on headless Chromium");
    client
        .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
            Some(Duration::from_secs(20)),
            Some(Duration::from_secs(20)),
            Some(Duration::ZERO),
        ))
        .await
        .expect("timeouts set");
    client
}

async fn text(client: &Client, css: &str) -> String {
    let element = client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|error| panic!("no {css} on the page: {error}"));
    element.text().await.expect("the element's text")
}

async fn present(client: &Client, css: &str) -> bool {
    !client
        .find_all(Locator::Css(css))
        .await
        .expect("find_all")
        .is_empty()
}

/// Fills and submits the login form `#login`.
async fn submit_login(client: &Client, console: &ConsoleProcess, name: &str, password: &str) {
    client
        .goto(&format!("{}/login", console.url))
        .await
        .expect("the login page loads");
    for (field, value) in [("name", name), ("password", password)] {
        client
            .find(Locator::Css(&format!("#login input[name={field}]")))
            .await
            .unwrap_or_else(|error| panic!("no {field} input in #login: {error}"))
            .send_keys(value)
            .await
            .unwrap_or_else(|error| panic!("{field} not typed: {error}"));
    }
    // Either the periods page (with the user bar) or the login page with an error.
    submit(client, "#login", "#user, #flash").await;
}

/// Submits form `form` and waits for the page it leads to, which shows `shows` (an
/// element the form's own page does not have).
async fn submit(client: &Client, form: &str, shows: &str) {
    client
        .form(Locator::Css(form))
        .await
        .unwrap_or_else(|error| panic!("no form {form}: {error}"))
        .submit()
        .await
        .unwrap_or_else(|error| panic!("{form} not submitted: {error}"));
    client
        .wait()
        .at_most(PAGE_MAX)
        .for_element(Locator::Css(shows))
        .await
        .unwrap_or_else(|error| panic!("after {form}: no {shows}: {error}"));
}

/// Logs `user` in and checks the periods page greets them under their name and role.
async fn login(client: &Client, console: &ConsoleProcess, user: &StaffUser) {
    submit_login(client, console, user.name, user.password).await;
    let url = client.current_url().await.expect("the current URL");
    assert_eq!(
        url.path(),
        "/",
        "{} not sent to the periods page",
        user.name
    );
    assert!(present(client, "#periods").await, "no #periods table");
    assert_eq!(
        text(client, "#user").await,
        format!("{} ({})", user.name, user.role)
    );
}

/// A wrong password: the login page again with the error, and no session after it.
async fn login_refused(client: &Client, console: &ConsoleProcess, user: &StaffUser) {
    submit_login(client, console, user.name, "not the password").await;
    assert!(
        present(client, "#login").await,
        "the login form is gone: {}",
        client.source().await.unwrap_or_default()
    );
    assert!(present(client, "#flash.error").await, "no error flash");
    assert_eq!(text(client, "#flash").await, "wrong name or password");
    client
        .goto(&format!("{}/", console.url))
        .await
        .expect("the periods page loads");
    let url = client.current_url().await.expect("the current URL");
    assert_eq!(url.path(), "/login", "a refused login opened a session");
}

/// Submits the logout form in the page header; the periods page then asks for a login.
async fn logout(client: &Client, console: &ConsoleProcess) {
    submit(client, "#logout", "#login").await;
    client
        .goto(&format!("{}/", console.url))
        .await
        .expect("the periods page loads");
    let url = client.current_url().await.expect("the current URL");
    assert_eq!(url.path(), "/login", "the session outlived its logout");
}

/// The period's row in `#periods`: phase and whose move, or `None` without a row.
async fn console_view(client: &Client, console: &ConsoleProcess) -> Option<(String, String)> {
    client
        .goto(&format!("{}/", console.url))
        .await
        .expect("the periods page loads");
    let row = format!("#periods tr[data-period=\"{PERIOD}\"]");
    if !present(client, &row).await {
        return None;
    }
    let phase = text(client, &format!("{row} td.phase")).await;
    let whose = text(client, &format!("{row} td.whose-move")).await;
    Some((phase, whose))
}

/// Both consoles' `#periods` show what the ledger holds (read through the CLI) and
/// `phase`; a console may lag behind its carrier's other peer for at most
/// [`CONVERGE_MAX`].
async fn periods_match(client: &Client, dir: &Path, desks: &[Desk<'_>], phase: &str) {
    for desk in desks {
        let deadline = Instant::now() + CONVERGE_MAX;
        loop {
            let ledger = tokio::task::block_in_place(|| ledger_view(dir, desk.carrier));
            let shown = console_view(client, desk.console).await;
            if shown.as_ref() == Some(&ledger) && ledger.0 == phase {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} console shows {shown:?}, the ledger {ledger:?}, expected phase {phase}",
                desk.carrier.msp_id()
            );
        }
    }
}

/// Every user of both carriers logs in and out; a wrong password is refused.
async fn logins(client: &Client, desks: &[Desk<'_>]) {
    for desk in desks {
        login_refused(client, desk.console, &desk.users[0]).await;
        for user in desk.users {
            login(client, desk.console, user).await;
            logout(client, desk.console).await;
        }
    }
}

/// The uploads and reveals through the CLI, each step checked on both consoles, whose
/// settlement users stay logged in (the consoles are on different hosts, so the browser
/// keeps a session cookie for each).
async fn month_start(client: &Client, dir: &Path, desks: &[Desk<'_>]) {
    for desk in desks {
        login(client, desk.console, &desk.users[0]).await;
        assert_eq!(console_view(client, desk.console).await, None);
    }
    tokio::task::block_in_place(|| upload(dir, Carrier::Unicom));
    periods_match(client, dir, desks, "uploading").await;
    tokio::task::block_in_place(|| upload(dir, Carrier::Mobile));
    periods_match(client, dir, desks, "revealing").await;
    tokio::task::block_in_place(|| reveal(dir, Carrier::Unicom));
    periods_match(client, dir, desks, "revealing").await;
    tokio::task::block_in_place(|| reveal(dir, Carrier::Mobile));
    periods_match(client, dir, desks, "reviewing").await;
}

/// The period page of a console.
async fn period_page(client: &Client, console: &ConsoleProcess) {
    client
        .goto(&format!("{}/periods/{PERIOD}", console.url))
        .await
        .expect("the period page loads");
}

/// Fills the action form `#step` on the period page (text inputs and selects by name),
/// submits it and expects the `ok` flash; its text.
async fn act(
    client: &Client,
    console: &ConsoleProcess,
    step: &str,
    fields: &[(&str, &str)],
) -> String {
    period_page(client, console).await;
    let form = client
        .form(Locator::Css(&format!("#{step}")))
        .await
        .unwrap_or_else(|error| panic!("no #{step} form: {error}"));
    for (name, value) in fields {
        form.set_by_name(name, value)
            .await
            .unwrap_or_else(|error| panic!("#{step} {name}: {error}"));
    }
    submit(client, &format!("#{step}"), "#flash").await;
    flash_ok(client, step).await
}

/// The `#flash` after an action, which must be `ok`; its text.
async fn flash_ok(client: &Client, step: &str) -> String {
    let flash = client
        .find(Locator::Css("#flash"))
        .await
        .unwrap_or_else(|error| panic!("{step}: no #flash: {error}"));
    let class = flash.attr("class").await.expect("the flash's class");
    let text = flash.text().await.expect("the flash's text");
    assert_eq!(class.as_deref(), Some("ok"), "{step}: {text}");
    text
}

/// Logs out whoever is logged in on `console` (if anyone), then logs `user` in.
async fn switch_to(client: &Client, console: &ConsoleProcess, user: &StaffUser) {
    client
        .goto(&format!("{}/", console.url))
        .await
        .expect("the periods page loads");
    if present(client, "#logout").await {
        logout(client, console).await;
    }
    login(client, console, user).await;
}

/// A POST the page's own form would not send: `step` with the session's CSRF token,
/// from the logged-in user's browser; the HTTP status it got.
async fn forged_post(client: &Client, console: &ConsoleProcess, step: &str) -> u64 {
    period_page(client, console).await;
    let csrf = client
        .find(Locator::Css("#logout input[name=csrf]"))
        .await
        .expect("the session's CSRF token")
        .attr("value")
        .await
        .expect("its value")
        .expect("a token");
    let script = "const [url, body, done] = arguments;\
                  fetch(url, {method: 'POST', body: new URLSearchParams(body), redirect: 'manual'})\
                  .then(r => done(r.status), e => done(String(e)));";
    let answer = client
        .execute_async(
            script,
            vec![
                Value::from(format!("/periods/{PERIOD}/{step}")),
                serde_json::json!({ "csrf": csrf, "reason": "forged", "line": "1" }),
            ],
        )
        .await
        .expect("the script runs");
    answer
        .as_u64()
        .unwrap_or_else(|| panic!("the forged {step} did not answer: {answer}"))
}

/// The CLI's `lines` for the period, read as `carrier`'s settlement staff.
fn ledger_lines(dir: &Path, carrier: Carrier) -> Vec<Value> {
    let lines = settle(
        dir,
        "lines",
        &carrier.cli("settlement"),
        &["--period", PERIOD],
    );
    lines["lines"]
        .as_array()
        .unwrap_or_else(|| panic!("no lines: {lines}"))
        .clone()
}

/// `#lines` holds one row per ledger line, `disputed` exactly where the ledger says so,
/// both carriers' amounts as the ledger has them.
async fn lines_match(client: &Client, console: &ConsoleProcess, lines: &[Value]) {
    period_page(client, console).await;
    let rows = client
        .find_all(Locator::Css("#lines tbody tr[data-line]"))
        .await
        .expect("the #lines rows");
    assert_eq!(rows.len(), lines.len(), "#lines rows");
    for line in lines {
        let number = line["line_no"].as_u64().expect("line_no");
        let row = format!("#lines tr[data-line=\"{number}\"]");
        let class = client
            .find(Locator::Css(&row))
            .await
            .unwrap_or_else(|error| panic!("no {row}: {error}"))
            .attr("class")
            .await
            .expect("the row's class")
            .unwrap_or_default();
        let disputed = line["status"] == "Disputed";
        assert_eq!(
            class.split(' ').any(|c| c == "disputed"),
            disputed,
            "line {number}: class {class:?}, ledger {line}"
        );
        for (side, cell) in [("a", "a-amount"), ("b", "b-amount")] {
            let shown = fen_of(client, &format!("{row} td.{cell}")).await;
            let ledger = line[side]["amount_fen"].as_u64();
            assert_eq!(shown, ledger, "line {number} {cell}");
        }
    }
}

/// The `data-fen` of the cell `css`, `None` where the cell has none.
async fn fen_of(client: &Client, css: &str) -> Option<u64> {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|error| panic!("no {css}: {error}"))
        .attr("data-fen")
        .await
        .expect("data-fen")
        .map(|fen| fen.parse().expect("data-fen is a number"))
}

/// The chart's bars equal each carrier's ledger amounts summed by item and direction.
async fn chart_matches(client: &Client, console: &ConsoleProcess, lines: &[Value]) {
    let msp = |side: &str| match side {
        "A" => Carrier::Unicom.msp_id(),
        _ => Carrier::Mobile.msp_id(),
    };
    let mut expected: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    for line in lines {
        let payer = line["key"]["payer"].as_str().expect("the payer side");
        let item = line["key"]["item"].as_str().expect("the item").to_owned();
        for side in ["A", "B"] {
            let Some(fen) = line[side.to_lowercase()]["amount_fen"].as_u64() else {
                continue;
            };
            let direction = if payer == side {
                "payable"
            } else {
                "receivable"
            };
            let bar = expected
                .entry((item.clone(), msp(side).to_owned(), direction.to_owned()))
                .or_default();
            *bar += fen;
        }
    }
    period_page(client, console).await;
    let mut shown = BTreeMap::new();
    for bar in client
        .find_all(Locator::Css("#chart rect.bar"))
        .await
        .expect("the chart's bars")
    {
        let attr = |name: &'static str| {
            let bar = bar.clone();
            async move {
                bar.attr(name)
                    .await
                    .expect("a bar attribute")
                    .unwrap_or_else(|| panic!("a bar without {name}"))
            }
        };
        let key = (
            attr("data-item").await,
            attr("data-carrier").await,
            attr("data-direction").await,
        );
        let amount: u64 = attr("data-amount").await.parse().expect("data-amount");
        assert!(shown.insert(key, amount).is_none(), "a bar twice");
    }
    assert_eq!(shown, expected, "#chart against the ledger");
}

/// The timeline lists the ledger's audit trail: the same transactions in the same order,
/// each with its step, carrier, and the console user it was signed for.
async fn timeline_matches(client: &Client, dir: &Path, console: &ConsoleProcess) {
    let trail = tokio::task::block_in_place(|| {
        settle(
            dir,
            "history",
            &Carrier::Unicom.cli("settlement"),
            &["--period", PERIOD],
        )
    });
    let entries = trail["entries"].as_array().expect("entries");
    client
        .goto(&format!("{}/periods/{PERIOD}/timeline", console.url))
        .await
        .expect("the timeline loads");
    let items = client
        .find_all(Locator::Css("#timeline li[data-tx]"))
        .await
        .expect("the timeline's entries");
    assert_eq!(items.len(), entries.len(), "timeline entries");
    let mut for_console_users = 0;
    for (item, entry) in items.iter().zip(entries) {
        let tx = item
            .attr("data-tx")
            .await
            .expect("data-tx")
            .unwrap_or_default();
        assert_eq!(Value::from(tx.clone()), entry["tx_id"], "{entry}");
        let shown = |css: &'static str| {
            let item = item.clone();
            let tx = tx.clone();
            async move {
                item.find(Locator::Css(css))
                    .await
                    .unwrap_or_else(|error| panic!("{tx}: no {css}: {error}"))
                    .text()
                    .await
                    .expect("text")
            }
        };
        assert_eq!(shown("span.step").await, entry["step"], "{tx}");
        assert_eq!(shown("span.carrier").await, entry["msp_id"], "{tx}");
        assert_eq!(shown("span.cn").await, entry["common_name"], "{tx}");
        let on_behalf_of = shown("span.on-behalf-of").await;
        assert_eq!(
            on_behalf_of,
            entry["on_behalf_of"].as_str().unwrap_or_default(),
            "{tx}"
        );
        // The uploads and reveals came from the CLI; every step after them from a
        // console, recorded for its user.
        if USERS_U
            .iter()
            .chain(&USERS_M)
            .any(|u| u.name == on_behalf_of)
        {
            for_console_users += 1;
        } else {
            assert_eq!(
                for_console_users, 0,
                "{tx} {on_behalf_of:?} after console steps"
            );
        }
    }
    // At least a transaction each: a dispute, an adjustment file, 3 single adjustments,
    // 3 decisions, 2 confirmations, 2 approvals, the payment, its acknowledgement.
    assert!(
        for_console_users >= 14,
        "{for_console_users} entries for console users"
    );
}

/// `carrier`'s period status from the CLI (`status.state` holds the contract's record).
fn ledger_status(dir: &Path, carrier: Carrier) -> Value {
    settle(
        dir,
        "status",
        &carrier.cli("settlement"),
        &["--period", PERIOD],
    )
}

/// `#lines` and `#chart` of both consoles against the ledger's lines.
async fn figures_match(client: &Client, dir: &Path, desks: &[Desk<'_>]) {
    for desk in desks {
        let lines = tokio::task::block_in_place(|| ledger_lines(dir, desk.carrier));
        lines_match(client, desk.console, &lines).await;
        chart_matches(client, desk.console, &lines).await;
    }
}

/// The id of the pending adjustment for line `line` in `#pending`.
async fn pending_for(client: &Client, console: &ConsoleProcess, line: u64) -> String {
    period_page(client, console).await;
    client
        .find(Locator::Css(&format!(
            "#pending tr[data-for-line=\"{line}\"]"
        )))
        .await
        .unwrap_or_else(|error| panic!("no pending adjustment for line {line}: {error}"))
        .attr("data-adjustment")
        .await
        .expect("data-adjustment")
        .expect("an adjustment id")
}

/// The review through both consoles' settlement users: Mobile disputes a line and
/// proposes three adjustments as a file, Unicom accepts them all and proposes two one by
/// one, Mobile rejects one (with a reason), Unicom proposes it again, Mobile accepts.
async fn review(client: &Client, dir: &Path, desks: &[Desk<'_>]) {
    let (unicom, mobile) = (desks[0].console, desks[1].console);
    figures_match(client, dir, desks).await;
    let flash = act(
        client,
        mobile,
        "dispute",
        &[("line", "2"), ("reason", "outage window counted twice")],
    )
    .await;
    assert!(flash.starts_with("line 2 disputed"), "{flash}");
    let lines = tokio::task::block_in_place(|| ledger_lines(dir, Carrier::Mobile));
    assert_eq!(lines[2]["status"], "Disputed", "{}", lines[2]);

    let file = dir.join("mobile-adjustments.csv");
    std::fs::write(
        &file,
        "line_no,quantity,amount_fen,reason\n\
         2,87000000,8700000,1000000 MB of the outage window removed\n\
         3,12,1440000,circuit 13 was cancelled on 2026-10-01\n\
         8,90000,810000,toll-free traffic Mobile did not report\n",
    )
    .unwrap();
    period_page(client, mobile).await;
    client
        .find(Locator::Css("#adjust-file input[name=file]"))
        .await
        .expect("the file input of #adjust-file")
        .send_keys(&file.display().to_string())
        .await
        .expect("the file chosen");
    submit(client, "#adjust-file", "#flash").await;
    let flash = flash_ok(client, "adjust-file").await;
    assert_eq!(flash, "3 adjustments proposed");
    let pending = |dir| ledger_status(dir, Carrier::Unicom)["state"]["pending_adjustments"].clone();
    assert_eq!(tokio::task::block_in_place(|| pending(dir)), 3);

    let flash = act(
        client,
        unicom,
        "decide",
        &[("adjustment", "all"), ("decision", "accept")],
    )
    .await;
    assert_eq!(flash, "3 adjustments accepted");
    assert_eq!(tokio::task::block_in_place(|| pending(dir)), 0);
    for (line, quantity, amount, why) in [
        (
            "11",
            "441000",
            "3087000",
            "Mobile's CDRs include the 10-17 gap",
        ),
        ("4", "60000", "600000", "MMS traffic Unicom did not report"),
    ] {
        let fields = [
            ("line", line),
            ("quantity", quantity),
            ("amount_fen", amount),
            ("reason", why),
        ];
        act(client, unicom, "adjust", &fields).await;
    }
    assert_eq!(tokio::task::block_in_place(|| pending(dir)), 2);
    let line_11 = pending_for(client, mobile, 11).await;
    let fields = [
        ("adjustment", line_11.as_str()),
        ("decision", "reject"),
        ("reason", "the gap is on Unicom's side"),
    ];
    let flash = act(client, mobile, "decide", &fields).await;
    assert_eq!(flash, "1 adjustments rejected");
    assert_eq!(tokio::task::block_in_place(|| pending(dir)), 1);
    let fields = [
        ("line", "11"),
        ("quantity", "441000"),
        ("amount_fen", "3087000"),
        ("reason", "CDRs of 10-17 attached"),
    ];
    act(client, unicom, "adjust", &fields).await;
    let flash = act(
        client,
        mobile,
        "decide",
        &[("adjustment", "all"), ("decision", "accept")],
    )
    .await;
    assert_eq!(flash, "2 adjustments accepted");
    let open = tokio::task::block_in_place(|| {
        settle(
            dir,
            "lines",
            &Carrier::Mobile.cli("settlement"),
            &["--period", PERIOD, "--open"],
        )
    });
    assert_eq!(open["lines"], serde_json::json!([]), "{open}");
    figures_match(client, dir, desks).await;
}

/// A finance user sees no settlement forms, and a dispute forged from their browser is
/// refused (403) with nothing changed.
async fn finance_cannot_dispute(client: &Client, dir: &Path, desk: &Desk<'_>) {
    switch_to(client, desk.console, &desk.users[1]).await;
    period_page(client, desk.console).await;
    for form in ["#dispute", "#adjust", "#adjust-file", "#decide", "#confirm"] {
        assert!(!present(client, form).await, "a finance user sees {form}");
    }
    let before = tokio::task::block_in_place(|| ledger_lines(dir, desk.carrier));
    assert_eq!(forged_post(client, desk.console, "dispute").await, 403);
    let after = tokio::task::block_in_place(|| ledger_lines(dir, desk.carrier));
    assert_eq!(before, after, "a refused dispute changed the lines");
}

/// A settlement user sees no finance forms, and an approval forged from their browser is
/// refused (403) with nothing changed.
async fn settlement_cannot_approve(client: &Client, dir: &Path, desk: &Desk<'_>) {
    switch_to(client, desk.console, &desk.users[0]).await;
    period_page(client, desk.console).await;
    for form in ["#approve", "#pay", "#ack"] {
        assert!(
            !present(client, form).await,
            "a settlement user sees {form}"
        );
    }
    let before = tokio::task::block_in_place(|| ledger_status(dir, desk.carrier));
    assert_eq!(forged_post(client, desk.console, "approve").await, 403);
    let after = tokio::task::block_in_place(|| ledger_status(dir, desk.carrier));
    assert_eq!(
        before["state"], after["state"],
        "a refused approval changed the period"
    );
}

/// Both confirmations by settlement staff, both approvals, the payer's payment and the
/// payee's acknowledgement by finance; the period closes.
async fn close(client: &Client, dir: &Path, desks: &[Desk<'_>]) {
    finance_cannot_dispute(client, dir, &desks[0]).await;
    switch_to(client, desks[0].console, &desks[0].users[0]).await;
    for desk in desks {
        act(client, desk.console, "confirm", &[]).await;
    }
    periods_match(client, dir, desks, "final").await;
    settlement_cannot_approve(client, dir, &desks[1]).await;
    for (desk, side) in desks.iter().zip(["a", "b"]) {
        switch_to(client, desk.console, &desk.users[1]).await;
        act(client, desk.console, "approve", &[]).await;
        let status = tokio::task::block_in_place(|| ledger_status(dir, desk.carrier));
        assert!(!status["state"][side]["approval"].is_null(), "{status}");
    }
    let status = tokio::task::block_in_place(|| ledger_status(dir, Carrier::Unicom));
    let (payer, payee) = match status["state"]["net"]["payer"].as_str() {
        Some("A") => (&desks[0], &desks[1]),
        Some("B") => (&desks[1], &desks[0]),
        _ => panic!("no payer: {status}"),
    };
    let reference = "ICBC-2026-11-0001";
    act(client, payer.console, "pay", &[("reference", reference)]).await;
    let status = tokio::task::block_in_place(|| ledger_status(dir, payer.carrier));
    assert_eq!(
        status["state"]["payment"]["reference"], reference,
        "{status}"
    );
    assert_eq!(
        status["state"]["payment"]["amount_fen"], status["state"]["net"]["amount_fen"],
        "{status}"
    );
    act(client, payee.console, "ack", &[]).await;
    periods_match(client, dir, desks, "closed").await;
}

async fn walk(driver: &Chromedriver, dir: &Path, desks: &[Desk<'_>]) {
    let client = browser(driver).await;
    logins(&client, desks).await;
    month_start(&client, dir, desks).await;
    review(&client, dir, desks).await;
    close(&client, dir, desks).await;
    for desk in desks {
        timeline_matches(&client, dir, desk.console).await;
    }
    client.close().await.expect("the WebDriver session ends");
}

#[test]
fn staff_work_a_month_in_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let driver = Chromedriver::start();
    let _consortium = NETSETTLE.start_consortium(dir, SLOT, &ORDERERS, &PEERS);
    NETSETTLE.define_settlement(dir);
    agree(dir);
    let unicom = NETSETTLE.start_console(dir, SLOT, Carrier::Unicom, &USERS_U);
    let mobile = NETSETTLE.start_console(dir, SLOT, Carrier::Mobile, &USERS_M);
    let desks = [
        Desk {
            carrier: Carrier::Unicom,
            console: &unicom,
            users: &USERS_U,
        },
        Desk {
            carrier: Carrier::Mobile,
            console: &mobile,
            users: &USERS_M,
        },
    ];
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(async { tokio::time::timeout(BROWSER_MAX, walk(&driver, dir, &desks)).await })
        .unwrap_or_else(|_| panic!("the browser walk took longer than {BROWSER_MAX:?}"));
}
