//! Reports in carriers' real formats (issue 16): item, area and unit names in UTF-8
//! (Chinese service names), NFC-normalised so a commitment names one report whichever
//! way the name was typed, through seal → reveal → reconcile → export; and the client's
//! decoding of billing exports (UTF-8 with or without BOM, GBK) with a clear error, at a
//! byte offset, for anything else.

mod common;

use common::*;
use netsettle_settlement::ReportError;
use netsettle_settlement::report::{Report, SourceEncoding, decode_report_bytes};
use serde_json::json;

const HEADER: &str = "item,direction,area,quantity,unit,rate,amount_fen\n";

fn parse(carrier: &str, body: &str) -> Result<Report, ReportError> {
    Report::from_csv(period(), carrier, format!("{HEADER}{body}").as_bytes())
}

#[test]
fn name_rules() {
    let ok = |body: &str| {
        parse(UNICOM, body)
            .map(|report| report.lines().len())
            .map_err(|e| e.to_string())
    };
    let cases: &[(&str, Result<usize, &str>)] = &[
        ("国内长途话音,payable,北京,1000,分钟,0.06,6000\n", Ok(1)),
        ("IP 长途,payable,0571,1,分钟,0.06,6\n", Ok(1)),
        // 32 characters (96 bytes) is over the byte bound; 21 CJK characters fit.
        (
            &format!("{},payable,北京,1,分钟,1,100\n", "话".repeat(21)),
            Ok(1),
        ),
        (
            &format!("{},payable,北京,1,分钟,1,100\n", "话".repeat(22)),
            Err("over 64 bytes or 32 characters"),
        ),
        (
            &format!("{},payable,北京,1,分钟,1,100\n", "v".repeat(33)),
            Err("over 64 bytes or 32 characters"),
        ),
        ("话音\u{200B},payable,北京,1,分钟,1,100\n", Err("U+200B")),
        ("话音\u{FEFF},payable,北京,1,分钟,1,100\n", Err("U+FEFF")),
        ("话音,payable,北京\u{7},1,分钟,1,100\n", Err("U+0007")),
        ("话音,payable,北京,1,分钟\u{FFFD},1,100\n", Err("U+FFFD")),
        ("话音 ,payable,北京,1,分钟,1,100\n", Err("white space")),
        ("话音,payable, 北京,1,分钟,1,100\n", Err("white space")),
        (
            "\u{3000}话音,payable,北京,1,分钟,1,100\n",
            Err("white space"),
        ),
    ];
    for (body, expected) in cases {
        match (ok(body), expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, *want, "{body}"),
            (Err(got), Err(want)) => assert!(got.contains(want), "{body}: {got}"),
            (got, want) => panic!("{body}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn names_are_nfc_normalised_so_commitments_are_stable() {
    // "Café" typed with a combining accent (NFD) and precomposed (NFC) is one name.
    let decomposed = parse(UNICOM, "cafe\u{301},payable,北京,1,分钟,1,100\n").unwrap();
    let composed = parse(UNICOM, "caf\u{E9},payable,北京,1,分钟,1,100\n").unwrap();
    assert_eq!(decomposed, composed);
    assert_eq!(decomposed.to_canonical(), composed.to_canonical());
    assert_eq!(decomposed.lines()[0].item.as_str(), "caf\u{E9}");
    // Canonical text in another normal form is not canonical: one commitment, one text.
    let canonical = String::from_utf8(composed.to_canonical()).unwrap();
    let denormalised = canonical.replace('\u{E9}', "e\u{301}");
    assert!(matches!(
        Report::from_canonical(denormalised.as_bytes()),
        Err(ReportError::NotCanonical)
    ));
    assert_eq!(
        Report::from_canonical(canonical.as_bytes()).unwrap(),
        composed
    );
    // JSON names are normalised too.
    let json = String::from_utf8(composed.to_json())
        .unwrap()
        .replace('\u{E9}', "e\u{301}");
    assert!(json.contains("e\u{301}"));
    assert_eq!(Report::from_json(json.as_bytes()).unwrap(), composed);
}

#[test]
fn chinese_names_go_through_seal_reveal_reconcile_and_export() {
    let unicom = parse(
        UNICOM,
        "国内长途话音,payable,北京,120000,分钟,0.06,720000\n\
        短信,receivable,上海,50000,条,0.03,150000\n\
        IP 长途,payable,广州,1000,分钟,0.1,10000\n",
    )
    .unwrap();
    let mobile = parse(
        MOBILE,
        "国内长途话音,receivable,北京,120000,分钟,0.06,720000\n\
        短信,payable,上海,50000,条,0.03,150000\n\
        IP 长途,receivable,广州,1200,分钟,0.1,12000\n",
    )
    .unwrap();
    let mut h = Harness::with_agreement();
    h.upload(UNICOM, &unicom, &key(1)).unwrap();
    h.upload(MOBILE, &mobile, &key(2)).unwrap();
    h.reveal(UNICOM, &key(1)).unwrap();
    let reconciled = h.reveal(MOBILE, &key(2)).unwrap();
    assert_eq!(reconciled["summary"]["lines"], 3);
    assert_eq!(reconciled["summary"]["disputed"], 1);
    let lines = h.query(
        &client(UNICOM),
        "lines_get",
        json!({ "period": "2026-10", "limit": 10 }),
    );
    let items: Vec<&str> = lines["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["key"]["item"].as_str().unwrap())
        .collect();
    // Byte order of the UTF-8 names.
    assert_eq!(items, ["IP 长途", "国内长途话音", "短信"]);
    h.ok(&client(UNICOM), "adjust_propose", json!({ "period": "2026-10", "line_no": 0, "quantity": 1100, "amount_fen": 11000, "reason": "按话单核对" }));
    h.ok(
        &client(MOBILE),
        "adjust_accept",
        json!({ "period": "2026-10", "adjustment_id": 0 }),
    );
    let version = h.period_state()["version"].clone();
    h.ok(
        &client(UNICOM),
        "confirm",
        json!({ "period": "2026-10", "version": version }),
    );
    h.ok(
        &client(MOBILE),
        "confirm",
        json!({ "period": "2026-10", "version": version }),
    );
    let csv = h.query(
        &client(MOBILE),
        "export",
        json!({ "period": "2026-10", "format": "csv", "limit": 10 }),
    );
    let csv = csv.as_str().unwrap();
    assert!(
        csv.contains(
            "1,国内长途话音,北京,UnicomMSP,MobileMSP,agreed,分钟,120000,720000,720000,720000\n"
        ),
        "{csv}"
    );
    assert!(
        csv.contains("2,短信,上海,MobileMSP,UnicomMSP,agreed,条,50000,150000,150000,150000\n"),
        "{csv}"
    );
}

#[test]
fn billing_exports_decode_from_utf8_bom_and_gbk() {
    let text = format!("{HEADER}国内长途话音,payable,北京,1000,分钟,0.06,6000\n");
    let (decoded, encoding) = decode_report_bytes(text.as_bytes()).unwrap();
    assert_eq!(
        (decoded.as_str(), encoding),
        (text.as_str(), SourceEncoding::Utf8)
    );

    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(text.as_bytes());
    let (decoded, encoding) = decode_report_bytes(&bom).unwrap();
    assert_eq!(
        (decoded.as_str(), encoding),
        (text.as_str(), SourceEncoding::Utf8Bom)
    );
    // A parser handed the BOM directly skips it too.
    assert_eq!(
        Report::from_csv(period(), UNICOM, &bom)
            .unwrap()
            .lines()
            .len(),
        1
    );

    let (gbk, _, unmappable) = encoding_rs::GBK.encode(&text);
    assert!(!unmappable);
    assert!(
        core::str::from_utf8(&gbk).is_err(),
        "GBK bytes of Chinese names are not UTF-8"
    );
    let (decoded, encoding) = decode_report_bytes(&gbk).unwrap();
    assert_eq!(
        (decoded.as_str(), encoding),
        (text.as_str(), SourceEncoding::Gbk)
    );
    let report = Report::from_csv(period(), UNICOM, decoded.as_bytes()).unwrap();
    assert_eq!(report.lines()[0].item.as_str(), "国内长途话音");
}

#[test]
fn anything_else_is_refused_at_a_byte_offset() {
    let text = format!("{HEADER}话音,payable,北京,1,分钟,1,100\n");
    let utf16le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let mut with_bom = b"\xFF\xFE".to_vec();
    with_bom.extend_from_slice(&utf16le);
    let mut broken_gbk = encoding_rs::GBK.encode(&text).0.into_owned();
    let at = broken_gbk.len() - 3;
    broken_gbk.insert(at, 0xFF);
    let mut broken_bom = b"\xEF\xBB\xBFitem".to_vec();
    broken_bom.push(0xC3);
    let cases: Vec<(Vec<u8>, usize, &str)> = vec![
        (with_bom, 0, "UTF-16"),
        (utf16le, 1, "control byte 0x00"),
        (vec![0x7F, b'E', b'L', b'F', 2, 1], 0, "control byte 0x7F"),
        (broken_gbk, at, "neither UTF-8"),
        (broken_bom, 7, "after a UTF-8 byte-order mark"),
    ];
    for (bytes, offset, needle) in cases {
        match decode_report_bytes(&bytes) {
            Err(ReportError::Encoding {
                offset: got,
                reason,
            }) => {
                assert_eq!(got, offset, "{reason}");
                assert!(reason.contains(needle), "{reason}");
            }
            other => panic!("{needle}: {other:?}"),
        }
    }
}
