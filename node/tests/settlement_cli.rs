//! A settlement month through the staff commands only (`netsettle settlement …`, never
//! `tx invoke`), on a real consortium: five Raft orderers and two peers per carrier
//! behind both DMZ forwarders, loopback slot 19.
//!
//! The admins agree terms with an upload deadline (the 5th of the following month), so
//! both uploads for 2026-10 are late and `status` says so; Unicom's `reveal --auto` waits
//! for Mobile's upload and reveals by itself; each carrier reviews, disputes, adjusts
//! (Mobile from a bulk file), accepts the other's adjustments (`--all-pending`, ids) and
//! rejects one; `confirm` finds the current version; the carriers' exports are
//! byte-identical; the audit replay from a peer's ledger re-derives the final data. Every
//! command runs with `--output json` and the test parses it; every refusal is checked for
//! its exit status, its one-line reason and that nothing changed.

use std::path::Path;
use std::process::{Command, Stdio};

use netsettle_testkit::process::{
    ADMIN_M, ADMIN_U, Netsettle, ORDERERS, PEERS, REPO, STAFF_M, STAFF_U,
};
use serde_json::Value;

/// The binary under test.
const NETSETTLE: Netsettle = Netsettle(env!("CARGO_BIN_EXE_netsettle"));

/// This file's loopback range: 127.19.x.x.
const SLOT: u8 = 19;

const PERIOD: &str = "2026-10";

/// Settlement staff of each carrier.
const UNICOM: [&str; 4] = STAFF_U;
const MOBILE: [&str; 4] = STAFF_M;

/// The exit status of a contract refusal.
const EXIT_REFUSED: i32 = 3;

/// `netsettle settlement COMMAND WHO --output json EXTRA…`, which must succeed; its
/// stdout parsed (it must be one JSON document and nothing else).
fn settle(dir: &Path, command: &str, who: &[&str], extra: &[&str]) -> Value {
    let mut args = vec!["settlement", command];
    args.extend(who);
    args.extend(["--output", "json"]);
    args.extend(extra);
    let stdout = NETSETTLE.ok(dir, &args);
    serde_json::from_str(&stdout).unwrap_or_else(|error| {
        panic!("{command}: stdout is not one JSON document ({error}): {stdout}")
    })
}

/// `netsettle settlement COMMAND WHO EXTRA…`, which must fail with exit status `code`
/// and a one-line reason on stderr, printing nothing on stdout; the reason.
fn refused(dir: &Path, code: i32, command: &str, who: &[&str], extra: &[&str]) -> String {
    let mut args = vec!["settlement", command];
    args.extend(who);
    args.extend(["--output", "json"]);
    args.extend(extra);
    let output = NETSETTLE.run(dir, &args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(code),
        "{command} {extra:?}: {stderr}"
    );
    assert!(
        output.stdout.is_empty(),
        "{command} printed on stdout on failure"
    );
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("error: "))
        .collect();
    assert_eq!(lines.len(), 1, "{command}: not one error line: {stderr}");
    lines[0].to_owned()
}

fn status(dir: &Path, who: &[&str]) -> Value {
    settle(dir, "status", who, &["--period", PERIOD])
}

/// The agreement of the demo with an upload deadline on the 5th of the following month.
fn agree(dir: &Path) {
    let demo: Value = serde_json::from_slice(
        &std::fs::read(format!("{REPO}/tests/data/settlement/agreement.json")).unwrap(),
    )
    .unwrap();
    let mut terms = demo.as_object().unwrap().clone();
    terms.insert("upload_deadline_day".into(), 5.into());
    std::fs::write(dir.join("agreement.json"), Value::from(terms).to_string()).unwrap();
    // Settlement staff may not propose terms: refused, and nothing is pending after.
    let propose_as_staff = [&["propose"][..], &UNICOM[..]].concat();
    let reason = refused(
        dir,
        EXIT_REFUSED,
        "agreement",
        &propose_as_staff,
        &["--file", "agreement.json"],
    );
    assert!(reason.contains("403"), "{reason}");
    let proposed = settle(
        dir,
        "agreement",
        &[&["propose"][..], &ADMIN_U[..]].concat(),
        &["--file", "agreement.json"],
    );
    let digest = proposed["result"]["digest"].as_str().unwrap().to_owned();
    let accepted = settle(
        dir,
        "agreement",
        &[&["accept"][..], &ADMIN_M[..]].concat(),
        &[],
    );
    assert_eq!(accepted["result"]["version"], 1, "{accepted}");
    let shown = settle(
        dir,
        "agreement",
        &[&["show"][..], &ADMIN_U[..]].concat(),
        &[],
    );
    assert_eq!(shown["agreement"]["agreement"]["upload_deadline_day"], 5);
    assert!(
        shown["proposal"].is_null(),
        "{digest} still pending: {shown}"
    );
}

/// Unicom's bad uploads are refused before anything is sent, and no period opens.
fn bad_uploads(dir: &Path) {
    std::fs::write(dir.join("latin1.csv"), b"item,direction\n\xff\xfe\x00bad\n").unwrap();
    let reason = refused(
        dir,
        1,
        "upload",
        &UNICOM,
        &["--period", PERIOD, "--csv", "latin1.csv"],
    );
    assert!(reason.contains("latin1.csv"), "{reason}");
    std::fs::write(
        dir.join("short.csv"),
        "item,direction,area\nvoice,payable,0571\n",
    )
    .unwrap();
    let reason = refused(
        dir,
        1,
        "upload",
        &UNICOM,
        &["--period", PERIOD, "--csv", "short.csv"],
    );
    assert!(reason.contains("short.csv"), "{reason}");
    // Nothing was recorded: the period has no record, and its lines do not exist.
    assert_eq!(status(dir, &UNICOM)["recorded"], false);
    let reason = refused(dir, EXIT_REFUSED, "lines", &UNICOM, &["--period", PERIOD]);
    assert!(reason.contains("404"), "{reason}");
    let keys = dir.join("crypto/unicom/users/settlement@unicom.example/keys");
    let kept = std::fs::read_dir(&keys).map_or(0, |entries| entries.count());
    assert_eq!(kept, 0, "a refused upload kept a key");
}

/// Both uploads (late), Unicom's reveal waiting for Mobile's upload, Mobile's reveal.
fn upload_and_reveal(dir: &Path) {
    let csv = |msp: &str| format!("{REPO}/tests/data/settlement/demo-{msp}.csv");
    let uploaded = settle(
        dir,
        "upload",
        &UNICOM,
        &["--period", PERIOD, "--csv", &csv("UnicomMSP")],
    );
    assert_eq!(uploaded["result"]["phase"], "Uploading", "{uploaded}");
    // The key is in the SDK's key store, private, and nowhere in the output.
    let keys = dir.join("crypto/unicom/users/settlement@unicom.example/keys");
    let files: Vec<_> = std::fs::read_dir(&keys)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let key_file = &files[0];
    let kept = std::fs::read_to_string(key_file).unwrap();
    let key_hex = kept.lines().nth(1).unwrap().split(' ').next().unwrap();
    assert_eq!(key_hex.len(), 32, "{kept}");
    assert!(!uploaded.to_string().contains(key_hex));
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(&keys).unwrap().permissions().mode() & 0o777,
        0o700
    );
    // Past the 5th of November: late, and `status` says so while Mobile's is missing too.
    let record = status(dir, &MOBILE);
    let sides = &record["status"]["sides"];
    assert_eq!(sides[0]["carrier"], "UnicomMSP");
    assert_eq!(sides[0]["late"], true, "{record}");
    assert!(sides[0]["late_by_ms"].as_u64().unwrap() > 0);
    assert_eq!(
        record["status"]["whose_move"],
        serde_json::json!(["MobileMSP"])
    );
    let table = NETSETTLE.ok(
        dir,
        &[
            &["settlement", "status"][..],
            &UNICOM[..],
            &["--period", PERIOD],
        ]
        .concat(),
    );
    assert!(table.contains("LATE by"), "{table}");
    assert!(
        table.contains("upload due") && table.contains("2026-11-06 00:00:00 +08:00"),
        "{table}"
    );

    // Unicom's reveal runs by itself once both reports are in.
    let mut auto = Command::new(NETSETTLE.0);
    auto.args([
        "settlement",
        "reveal",
        "--auto",
        "--output",
        "json",
        "--period",
        PERIOD,
    ])
    .args(UNICOM)
    .current_dir(dir)
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let auto = auto.spawn().unwrap();
    // Mobile's report comes out of Excel as UTF-8 with a byte-order mark.
    let mut bom = "\u{feff}".as_bytes().to_vec();
    bom.extend(std::fs::read(csv("MobileMSP")).unwrap());
    std::fs::write(dir.join("mobile-bom.csv"), bom).unwrap();
    settle(
        dir,
        "upload",
        &MOBILE,
        &["--period", PERIOD, "--csv", "mobile-bom.csv"],
    );
    let output = auto.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let revealed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(revealed["result"]["phase"], "Revealing", "{revealed}");
    // A second reveal of the same key is refused; the period is unchanged.
    let before = status(dir, &UNICOM);
    let reason = refused(dir, EXIT_REFUSED, "reveal", &UNICOM, &["--period", PERIOD]);
    assert!(reason.contains("409") || reason.contains("400"), "{reason}");
    assert_eq!(status(dir, &UNICOM)["state"], before["state"]);
    let reconciled = settle(dir, "reveal", &MOBILE, &["--period", PERIOD]);
    assert_eq!(reconciled["result"]["phase"], "Reviewing", "{reconciled}");
}

/// Disputes, adjustments (one file of Mobile's, Unicom's one by one), decisions.
fn review(dir: &Path) {
    let open = settle(dir, "lines", &UNICOM, &["--period", PERIOD, "--open"]);
    let open_lines: Vec<u64> = open["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line["line_no"].as_u64().unwrap())
        .collect();
    assert_eq!(open_lines, vec![3, 4, 8, 11], "{open}");
    settle(
        dir,
        "dispute",
        &MOBILE,
        &[
            "--period",
            PERIOD,
            "--line",
            "2",
            "--reason",
            "outage window counted twice",
        ],
    );
    let reason = refused(
        dir,
        EXIT_REFUSED,
        "dispute",
        &MOBILE,
        &[
            "--period",
            PERIOD,
            "--line",
            "999",
            "--reason",
            "no such line",
        ],
    );
    assert!(reason.contains("404"), "{reason}");

    std::fs::write(
        dir.join("mobile-adjustments.csv"),
        "line_no,quantity,amount_fen,reason\n\
         2,87000000,8700000,1000000 MB of the outage window removed\n\
         3,12,1440000,circuit 13 was cancelled on 2026-10-01\n\
         8,90000,810000,toll-free traffic Mobile did not report\n",
    )
    .unwrap();
    let proposed = settle(
        dir,
        "adjust",
        &MOBILE,
        &["--period", PERIOD, "--file", "mobile-adjustments.csv"],
    );
    assert_eq!(
        proposed["proposed"][0]["result"]["count"], 3,
        "one transaction for the file: {proposed}"
    );
    // A bad file is refused whole before anything is sent.
    std::fs::write(
        dir.join("bad-adjustments.csv"),
        "11,441000,3087000,ok\n4,sixty,600000,bad\n",
    )
    .unwrap();
    let reason = refused(
        dir,
        1,
        "adjust",
        &UNICOM,
        &["--period", PERIOD, "--file", "bad-adjustments.csv"],
    );
    assert!(reason.contains("bad-adjustments.csv: line 2"), "{reason}");
    assert_eq!(status(dir, &UNICOM)["state"]["pending_adjustments"], 3);

    let accepted = settle(
        dir,
        "accept",
        &UNICOM,
        &["--period", PERIOD, "--all-pending"],
    );
    assert_eq!(accepted["ids"].as_array().unwrap().len(), 3, "{accepted}");
    for (line, quantity, amount, why) in [
        (
            "11",
            "441000",
            "3087000",
            "Mobile's CDRs include the 10-17 gap",
        ),
        ("4", "60000", "600000", "MMS traffic Unicom did not report"),
    ] {
        settle(
            dir,
            "adjust",
            &UNICOM,
            &[
                "--period",
                PERIOD,
                "--line",
                line,
                "--quantity",
                quantity,
                "--amount-fen",
                amount,
                "--reason",
                why,
            ],
        );
    }
    // Mobile rejects line 11's (a rejection needs a reason), Unicom proposes it again.
    let pending: Vec<(u64, u64)> = settle(dir, "lines", &MOBILE, &["--period", PERIOD])["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|line| {
            Some((
                line["line_no"].as_u64()?,
                line["pending_adjustment"].as_u64()?,
            ))
        })
        .collect();
    assert_eq!(
        pending.iter().map(|(line, _)| *line).collect::<Vec<_>>(),
        vec![4, 11]
    );
    let line_11 = pending[1].1.to_string();
    let reason = refused(
        dir,
        1,
        "reject",
        &MOBILE,
        &["--period", PERIOD, "--id", &line_11],
    );
    assert!(reason.contains("--reason"), "{reason}");
    let rejected = settle(
        dir,
        "reject",
        &MOBILE,
        &[
            "--period",
            PERIOD,
            "--id",
            &line_11,
            "--reason",
            "the gap is on Unicom's side",
        ],
    );
    assert_eq!(
        rejected["decided"][0]["result"]["rejected"][0], pending[1].1,
        "{rejected}"
    );
    // Unicom cannot decide its own adjustment: refused, still pending.
    let line_4 = pending[0].1.to_string();
    let reason = refused(
        dir,
        EXIT_REFUSED,
        "accept",
        &UNICOM,
        &["--period", PERIOD, "--id", &line_4],
    );
    assert!(
        reason.contains("adjust_decide_many refused (40"),
        "{reason}"
    );
    settle(
        dir,
        "adjust",
        &UNICOM,
        &[
            "--period",
            PERIOD,
            "--line",
            "11",
            "--quantity",
            "441000",
            "--amount-fen",
            "3087000",
            "--reason",
            "CDRs of 10-17 attached",
        ],
    );
    let accepted = settle(
        dir,
        "accept",
        &MOBILE,
        &["--period", PERIOD, "--all-pending"],
    );
    assert_eq!(accepted["ids"].as_array().unwrap().len(), 2, "{accepted}");
    let open = settle(dir, "lines", &MOBILE, &["--period", PERIOD, "--open"]);
    assert_eq!(open["lines"], serde_json::json!([]), "{open}");
}

fn confirm_and_export(dir: &Path) {
    settle(dir, "confirm", &UNICOM, &["--period", PERIOD]);
    let confirmed = settle(dir, "confirm", &MOBILE, &["--period", PERIOD]);
    assert_eq!(confirmed["result"]["phase"], "Final", "{confirmed}");
    let reason = refused(
        dir,
        EXIT_REFUSED,
        "dispute",
        &MOBILE,
        &["--period", PERIOD, "--line", "1", "--reason", "too late"],
    );
    assert!(reason.contains("409"), "{reason}");
    for (who, out) in [
        (&UNICOM, "export-unicom.csv"),
        (&MOBILE, "export-mobile.csv"),
    ] {
        let written = settle(
            dir,
            "export",
            who,
            &["--period", PERIOD, "--format", "csv", "--out", out],
        );
        assert_eq!(
            written["bytes"].as_u64().unwrap(),
            std::fs::metadata(dir.join(out)).unwrap().len()
        );
    }
    assert_eq!(
        std::fs::read(dir.join("export-unicom.csv")).unwrap(),
        std::fs::read(dir.join("export-mobile.csv")).unwrap()
    );
    settle(
        dir,
        "export",
        &UNICOM,
        &[
            "--period",
            PERIOD,
            "--format",
            "json",
            "--out",
            "export.json",
        ],
    );
    let export: Value =
        serde_json::from_slice(&std::fs::read(dir.join("export.json")).unwrap()).unwrap();
    assert_eq!(export["lines"].as_array().unwrap().len(), 12);
    // An existing file is not overwritten.
    let reason = refused(
        dir,
        1,
        "export",
        &UNICOM,
        &[
            "--period",
            PERIOD,
            "--format",
            "csv",
            "--out",
            "export-unicom.csv",
        ],
    );
    assert!(reason.contains("export-unicom.csv"), "{reason}");
    let trail = settle(dir, "history", &MOBILE, &["--period", PERIOD]);
    let steps: Vec<&str> = trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps.first(), Some(&"upload"));
    assert_eq!(
        steps.iter().filter(|step| **step == "confirm").count(),
        2,
        "{steps:?}"
    );
    let line = settle(
        dir,
        "history",
        &UNICOM,
        &["--period", PERIOD, "--line", "11"],
    );
    assert!(line["entries"].as_array().unwrap().len() >= 3, "{line}");
}

/// Finance: settlement staff cannot approve, finance can; the payer pays the net amount,
/// the payee acknowledges, the period closes.
fn finance(dir: &Path) {
    let finance_u = [
        "--profile",
        "clients/unicommsp.toml",
        "--identity",
        "crypto/unicom/users/finance@unicom.example",
    ];
    let finance_m = [
        "--profile",
        "clients/mobilemsp.toml",
        "--identity",
        "crypto/mobile/users/finance@mobile.example",
    ];
    let before = status(dir, &UNICOM);
    let reason = refused(dir, EXIT_REFUSED, "approve", &UNICOM, &["--period", PERIOD]);
    assert!(reason.contains("approve refused (403)"), "{reason}");
    assert_eq!(status(dir, &UNICOM)["state"], before["state"]);
    // Finance cannot upload either.
    let csv = format!("{REPO}/tests/data/settlement/demo-UnicomMSP.csv");
    let reason = refused(
        dir,
        EXIT_REFUSED,
        "upload",
        &finance_u,
        &["--period", "2026-11", "--csv", &csv],
    );
    assert!(reason.contains("(403)"), "{reason}");
    settle(dir, "approve", &finance_u, &["--period", PERIOD]);
    settle(dir, "approve", &finance_m, &["--period", PERIOD]);
    let net = status(dir, &UNICOM)["state"]["net"].clone();
    assert_eq!(net["payer"], "B", "Mobile (party B) pays: {net}");
    let amount = net["amount_fen"].as_u64().unwrap().to_string();
    let reason = refused(
        dir,
        EXIT_REFUSED,
        "pay",
        &finance_m,
        &[
            "--period",
            PERIOD,
            "--reference",
            "ICBC-2026-11-0001",
            "--amount",
            "1",
        ],
    );
    assert!(reason.contains("pay refused"), "{reason}");
    settle(
        dir,
        "pay",
        &finance_m,
        &[
            "--period",
            PERIOD,
            "--reference",
            "ICBC-2026-11-0001",
            "--amount",
            &amount,
        ],
    );
    let acked = settle(
        dir,
        "ack",
        &finance_u,
        &["--period", PERIOD, "--reference", "ICBC-2026-11-0001"],
    );
    assert_eq!(status(dir, &MOBILE)["status"]["phase"], "Closed", "{acked}");
    let table = NETSETTLE.ok(
        dir,
        &[
            &["settlement", "status"][..],
            &UNICOM[..],
            &["--period", PERIOD],
        ]
        .concat(),
    );
    assert!(
        table.contains("MobileMSP pays 272330.60 yuan")
            && table.contains("ICBC-2026-11-0001 by MobileMSP"),
        "{table}"
    );
    let periods = settle(dir, "periods", &UNICOM, &[]);
    assert!(periods.to_string().contains("2026-10"), "{periods}");
}

/// `watch` from block 0 sees the month's events in order; resumed after one of them, it
/// sees exactly the rest.
fn watch(dir: &Path) {
    let lines = |extra: &[&str]| -> Vec<Value> {
        let args = [
            &["settlement", "watch", "--output", "json"][..],
            &MOBILE[..],
            extra,
        ]
        .concat();
        NETSETTLE
            .ok(dir, &args)
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    };
    let all = lines(&["--from", "0", "--count", "12"]);
    let names: Vec<&str> = all
        .iter()
        .map(|event| event["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names[..2],
        ["AgreementProposed", "AgreementAccepted"],
        "{names:?}"
    );
    assert!(
        names.contains(&"ReportsUploaded") && names.contains(&"Reconciled"),
        "{names:?}"
    );
    let cursor = all[5]["cursor"].as_str().unwrap();
    let rest = lines(&["--after", cursor, "--count", "6"]);
    assert_eq!(rest[..], all[6..]);
}

#[test]
fn a_month_through_the_settlement_commands() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let _consortium = NETSETTLE.start_consortium(dir, SLOT, &ORDERERS, &PEERS);
    NETSETTLE.define_settlement(dir);
    agree(dir);
    bad_uploads(dir);
    upload_and_reveal(dir);
    review(dir);
    confirm_and_export(dir);
    finance(dir);
    watch(dir);
    // The audit replays the month from Mobile's peer's ledger, beside the running peer.
    let audit = settle(
        dir,
        "audit",
        &[],
        &[
            "--ledger",
            "data/peer0.mobile.example/ledger",
            "--period",
            PERIOD,
        ],
    );
    assert_eq!(audit["identical"], true, "{audit}");
}
