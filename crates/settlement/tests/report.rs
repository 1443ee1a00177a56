//! Report parsing, table-driven: each case is CSV text and the error it must give (or
//! `ok`), so the rules of the documented format are listed in one place.

mod common;

use common::{UNICOM, period};
use netsettle_settlement::limits::{REPORT_BYTES_MAX, REPORT_LINES_MAX};
use netsettle_settlement::report::Report;

const HEADER: &str = "item,direction,area,quantity,unit,rate,amount_fen\n";

/// Parses `body` after the header and returns `ok` or the error message.
fn check(body: &str) -> String {
    match Report::from_csv(period(), UNICOM, format!("{HEADER}{body}").as_bytes()) {
        Ok(report) => format!("ok {}", report.lines().len()),
        Err(error) => error.to_string(),
    }
}

#[test]
fn csv_rules() {
    let cases: &[(&str, &str)] = &[
        ("voice,payable,0571,1,minute,0.06,6\n", "ok 1"),
        (
            "voice,payable,0571,1,minute,0.06,6\r\nsms,receivable,010,2,message,0.03,6\r\n",
            "ok 2",
        ),
        ("# comment\n\nvoice,payable,0571,1,minute,0.06,6\n", "ok 1"),
        ("", "ok 0"),
        (
            "voice,payable,0571,1,minute,0.06,-6\n",
            "line 2: amount_fen \"-6\" is negative",
        ),
        (
            "voice,payable,0571,-1,minute,0.06,6\n",
            "line 2: quantity \"-1\" is negative",
        ),
        (
            "voice,payable,0571,1,minute,0.06,10000000000001\n",
            "line 2: amount_fen \"10000000000001\" is over its maximum 10000000000000",
        ),
        (
            "voice,payable,0571,1,minute,0.06,99999999999999999999999\n",
            "line 2: amount_fen \"99999999999999999999999\" is not a whole number",
        ),
        (
            "voice,payable,0571,1,minute,0.06,6.5\n",
            "line 2: amount_fen \"6.5\" is not a whole number",
        ),
        (
            "voice,payable,0571,1,minute,0.06,06\n",
            "line 2: amount_fen \"06\" is not a whole number",
        ),
        (
            "voice,payable,0571,1,minute,0.0000001,6\n",
            "line 2: rate \"0.0000001\" is not a decimal with at most 6 decimals",
        ),
        (
            "voice,payable,0571,1,minute,0.06\n",
            "line 2: missing field amount_fen",
        ),
        (
            "voice,payable,0571,1,minute,0.06,6,7\n",
            "line 2: more than 7 fields",
        ),
        (
            "voice,outbound,0571,1,minute,0.06,6\n",
            "line 2: direction \"outbound\" is neither payable nor receivable",
        ),
        // Names may hold inner spaces (`IP 长途`); see tests/names.rs for UTF-8 names.
        ("vo ice,payable,0571,1,minute,0.06,6\n", "ok 1"),
        (
            "\"voice\",payable,0571,1,minute,0.06,6\n",
            "line 2: name \"\\\"voice\\\"\" holds '\"' (U+0022): no control, format or replacement characters, commas or quotes",
        ),
        (
            "voice,payable,0571,1,minute,0.06,6\nvoice,payable,0571,2,minute,0.06,12\n",
            "duplicate line key (voice, payable, 0571)",
        ),
        (
            "voice,payable,0571,1,minute,0.06,6\nvoice,receivable,0571,2,minute,0.06,12\n",
            "ok 2",
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(check(body), *expected, "{body:?}");
    }
}

#[test]
fn header_utf8_and_size_rules() {
    let parse = |bytes: &[u8]| {
        Report::from_csv(period(), UNICOM, bytes)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    assert_eq!(
        parse(b"item,quantity\n"),
        Err(
            "line 1: expected the header \"item,direction,area,quantity,unit,rate,amount_fen\""
                .into()
        )
    );
    assert_eq!(parse(b""), Err("line 1: no header line".into()));
    assert_eq!(parse(b"\xff\xfe"), Err("report is not UTF-8 text".into()));
    let huge = vec![b'#'; REPORT_BYTES_MAX + 1];
    assert_eq!(
        parse(&huge),
        Err(format!(
            "report is {} bytes, at most {REPORT_BYTES_MAX} allowed",
            REPORT_BYTES_MAX + 1
        ))
    );
    let mut many = String::from(HEADER);
    for idx in 0..=REPORT_LINES_MAX {
        many.push_str(&format!("v,payable,{idx},1,m,1,1\n"));
    }
    assert_eq!(
        parse(many.as_bytes()),
        Err(format!("report has more than {REPORT_LINES_MAX} lines"))
    );
}

#[test]
fn canonical_text_is_exact() {
    let report = Report::from_csv(
        period(),
        UNICOM,
        format!(
            "{HEADER}sms,receivable,010,2,message,0.03,6\nvoice,payable,0571,1,minute,0.06,6\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let canonical = String::from_utf8(report.to_canonical()).unwrap();
    assert_eq!(
        canonical,
        "#netsettle-report v1\n#period 2026-10\n#carrier UnicomMSP\nitem,direction,area,quantity,unit,rate,amount_fen\n\
         sms,receivable,010,2,message,0.030000,6\nvoice,payable,0571,1,minute,0.060000,6\n"
    );
    // Loose forms of the same report are refused as canonical text.
    for loose in [
        canonical.replace("0.030000", "0.03"),
        canonical.replace('\n', "\r\n"),
        canonical.replace("#carrier UnicomMSP\n", "#carrier UnicomMSP\n# note\n"),
        format!("{canonical}\n"),
    ] {
        assert!(
            Report::from_canonical(loose.as_bytes()).is_err(),
            "{loose:?}"
        );
    }
    let json = String::from_utf8(report.to_json()).unwrap();
    assert!(json.contains(r#""rate":"0.030000""#), "{json}");
    assert!(
        Report::from_json(
            json.replace("\"amount_fen\":6", "\"amount_fen\":-6")
                .as_bytes()
        )
        .is_err()
    );
}
