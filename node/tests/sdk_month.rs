//! A settlement month through the typed Rust SDK (`netsettle_client::Settlement`) against
//! real processes: five Raft orderers and two peers per carrier behind both DMZ
//! forwarders (loopback slot 17), the test a client of each carrier over real sockets.
//!
//! - the agreement (with an upload deadline long past) proposed and accepted by the
//!   admins; the proposer's own acceptance refused (403);
//! - both reports sealed and uploaded through `upload_csv` (keys in each user's key store,
//!   0600 files), one a GBK file, the other UTF-8 with a byte-order mark, each shown
//!   late; a UTF-16 file refused on the client; the reveals find their keys themselves,
//!   Unicom's waiting (`reveal_when_ready`) while Mobile uploads;
//! - refusals with the contract's status and no change: another carrier's report, a
//!   reveal before both uploads (409), a reveal with no key kept, an adjustment decided by
//!   its proposer (403), a stale confirmation (409);
//! - a dispute, an adjustment rejected and re-proposed, the other open lines adjusted in
//!   one transaction and accepted in one, a line's history, both confirmations, the final
//!   data, both carriers' exports byte-identical, the audit trail;
//! - finance: approval refused for settlement staff (403), accepted for both finance
//!   departments; payment by the payer's finance refused for the payee (403) and for
//!   another amount (409); acknowledgement by the payee's finance closes the period; the
//!   period list shows it closed;
//! - the event stream from height 0 holds exactly the events of every submitted call, in
//!   order, with one block event per block; resumed after a contract event's cursor and
//!   after a block's, it yields exactly the rest; with every orderer stopped it ends with
//!   an error.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use netsettle_client::settlement::Submitted;
use netsettle_client::{ChainEvent, ClientError, EventCursor, EventStream, KeyStore};
use netsettle_protocol::TxId;
use netsettle_settlement::agreement::{Agreement, Side};
use netsettle_settlement::api::{AdjustmentEntry, ExportFormat};
use netsettle_settlement::history::LineEventKind;
use netsettle_settlement::reconcile::LineStatus;
use netsettle_settlement::report::SourceEncoding;
use netsettle_settlement::units::Period;
use netsettle_settlement::workflow::Phase;
use netsettle_testkit::process::{ADMIN_M, ADMIN_U, Consortium, Netsettle, ORDERERS, PEERS, REPO};
use netsettle_testkit::sdk::SdkUser;

/// The binary under test.
const NETSETTLE: Netsettle = Netsettle(env!("CARGO_BIN_EXE_netsettle"));

/// This file's loopback range: 127.17.x.x.
const SLOT: u8 = 17;

const SETTLEMENT_U: &str = "crypto/unicom/users/settlement@unicom.example";
const SETTLEMENT_M: &str = "crypto/mobile/users/settlement@mobile.example";
const FINANCE_U: &str = "crypto/unicom/users/finance@unicom.example";
const FINANCE_M: &str = "crypto/mobile/users/finance@mobile.example";

/// Every submitted call's settlement events, in submission order.
#[derive(Default)]
struct Log(Vec<(TxId, String)>);

impl Log {
    fn add<T>(&mut self, submitted: &Submitted<T>) {
        for event in &submitted.events {
            self.0.push((submitted.tx_id, event.name.clone()));
        }
    }
}

fn period() -> Period {
    "2026-10".parse().unwrap()
}

fn csv(carrier: &str) -> Vec<u8> {
    std::fs::read(format!("{REPO}/tests/data/settlement/demo-{carrier}.csv")).unwrap()
}

#[test]
fn a_month_through_the_typed_sdk_and_its_event_stream() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut consortium = NETSETTLE.start_consortium(dir, SLOT, &ORDERERS, &PEERS);
    NETSETTLE.define_settlement(dir);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let unicom = SdkUser::connect(dir, ADMIN_U[1], SETTLEMENT_U).await;
        let mobile = SdkUser::connect(dir, ADMIN_M[1], SETTLEMENT_M).await;
        let mut log = Log::default();
        agreement(dir, &mut log).await;
        uploads(&unicom, &mobile, &mut log).await;
        reveals(dir, &mobile, &mut log).await;
        let open = review(&unicom, &mobile, &mut log).await;
        adjustments(&unicom, &mobile, &open, &mut log).await;
        final_and_exports(&unicom, &mobile, &mut log).await;
        finance(dir, &unicom, &mut log).await;
        let full = events_match_the_calls(&unicom, &log).await;
        resumes_without_gaps(&unicom, &full).await;
        ends_on_disconnect(&unicom, &mut consortium).await;
    });
}

async fn agreement(dir: &Path, log: &mut Log) {
    let admin_u = SdkUser::connect(dir, ADMIN_U[1], ADMIN_U[3]).await;
    let admin_m = SdkUser::connect(dir, ADMIN_M[1], ADMIN_M[3]).await;
    let text = std::fs::read(format!("{REPO}/tests/data/settlement/agreement.json")).unwrap();
    let mut terms: Agreement = serde_json::from_slice(&text).unwrap();
    // Due 2026-11-05: long past, so both uploads are late.
    terms.upload_deadline_day = Some(5);
    let proposed = admin_u.sdk().propose_agreement(&terms).await.unwrap();
    log.add(&proposed);
    let digest = proposed.answer.digest;
    let own = admin_u.sdk().accept_agreement(digest).await.unwrap_err();
    assert_eq!(own.status(), Some(403), "{own}");
    let accepted = admin_m.sdk().accept_agreement(digest).await.unwrap();
    log.add(&accepted);
    assert_eq!(accepted.answer.agreement, terms);
    let view = admin_m.sdk().agreement().await.unwrap();
    assert_eq!(view.agreement.unwrap().version, 1);
    assert!(view.proposal.is_none());
}

async fn uploads(unicom: &SdkUser, mobile: &SdkUser, log: &mut Log) {
    // Before any upload: no record, both carriers to upload.
    let fresh = unicom.sdk().status(period()).await.unwrap();
    assert!(!fresh.recorded && fresh.state.is_none());
    assert_eq!(fresh.status.whose_move.len(), 2);
    assert!(matches!(fresh.record(), Err(ClientError::Request(_))));
    // Mobile's report through Unicom's client: refused before anything is sealed.
    let foreign =
        netsettle_settlement::report::Report::from_csv(period(), "MobileMSP", &csv("MobileMSP"))
            .unwrap();
    let refused = unicom
        .sdk()
        .upload(&foreign, &unicom.keys)
        .await
        .unwrap_err();
    assert!(matches!(refused, ClientError::Request(_)), "{refused}");
    // A UTF-16 file (Excel's "Unicode text"): refused on the client, naming the encoding.
    let mut utf16 = b"\xff\xfe".to_vec();
    utf16.extend(csv("UnicomMSP").iter().flat_map(|byte| [*byte, 0]));
    let refused = unicom
        .sdk()
        .upload_csv(period(), &utf16, &unicom.keys)
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, ClientError::Report(_)) && refused.to_string().contains("UTF-16"),
        "{refused}"
    );
    assert!(!unicom.sdk().status(period()).await.unwrap().recorded);

    // Unicom's billing export comes out of Excel as GBK (its comment names the carrier in
    // Chinese), Mobile's as UTF-8 with a byte-order mark; both are converted here.
    let mut gbk = b"# \xd6\xd0\xb9\xfa\xc1\xaa\xcd\xa8 2026-10\n".to_vec();
    gbk.extend(csv("UnicomMSP"));
    let upload = unicom
        .sdk()
        .upload_csv(period(), &gbk, &unicom.keys)
        .await
        .unwrap();
    assert_eq!(upload.answer.source_encoding, Some(SourceEncoding::Gbk));
    log.add(&upload);
    assert_eq!(
        (upload.answer.round, upload.answer.phase),
        (0, Phase::Uploading)
    );
    assert!(upload.answer.late && upload.answer.late_by_ms.is_some());
    let key_file = unicom.keys.path("settlement", period(), 0).unwrap();
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    let early = unicom
        .sdk()
        .reveal(period(), &unicom.keys)
        .await
        .unwrap_err();
    assert_eq!(early.status(), Some(409), "{early}");
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend(csv("MobileMSP"));
    // Unicom waits for Mobile's upload and reveals at once.
    let (unicom_sdk, mobile_sdk) = (unicom.sdk(), mobile.sdk());
    let (revealed, upload) = tokio::join!(
        unicom_sdk.reveal_when_ready(period(), &unicom.keys),
        mobile_sdk.upload_csv(period(), &bom, &mobile.keys)
    );
    let (revealed, upload) = (revealed.unwrap(), upload.unwrap());
    log.add(&upload);
    log.add(&revealed);
    assert_eq!(upload.answer.source_encoding, Some(SourceEncoding::Utf8Bom));
    assert_eq!(upload.answer.phase, Phase::Revealing);
    assert!(revealed.block > upload.block);
    assert_eq!(revealed.answer.phase, Phase::Revealing);
}

async fn reveals(dir: &Path, mobile: &SdkUser, log: &mut Log) {
    // A key store without Mobile's key: a clear refusal, nothing submitted.
    let empty = KeyStore::open(&dir.join("empty-keys")).unwrap();
    let missing = mobile.sdk().reveal(period(), &empty).await.unwrap_err();
    assert!(
        matches!(&missing, ClientError::Request(reason) if reason.contains("no key")),
        "{missing}"
    );
    let status = mobile.sdk().status(period()).await.unwrap();
    assert_eq!(status.record().unwrap().phase, Phase::Revealing);
    assert!(status.status.sides.iter().all(|side| side.late));

    let second = mobile.sdk().reveal(period(), &mobile.keys).await.unwrap();
    log.add(&second);
    assert_eq!(second.answer.phase, Phase::Reviewing);
    assert!(second.event("Reconciled").is_some());
}

/// A dispute of an agreed line; the figures Unicom proposes for every open line.
async fn review(unicom: &SdkUser, mobile: &SdkUser, log: &mut Log) -> Vec<AdjustmentEntry> {
    let all = unicom.sdk().lines(period(), false).await.unwrap();
    let summary = unicom
        .sdk()
        .status(period())
        .await
        .unwrap()
        .state
        .unwrap()
        .summary;
    assert_eq!(all.lines.len() as u64, summary.lines);
    let agreed = all
        .lines
        .iter()
        .find(|line| line.status == LineStatus::Agreed)
        .expect("an agreed line");
    let disputed = mobile
        .sdk()
        .dispute(period(), agreed.line_no, "counted the outage window twice")
        .await
        .unwrap();
    log.add(&disputed);
    assert_eq!(disputed.answer.line_no, agreed.line_no);

    let open = mobile.sdk().lines(period(), true).await.unwrap().lines;
    assert!(open.len() >= 2, "the demo reports leave several lines open");
    assert!(open.iter().any(|line| line.line_no == agreed.line_no));
    let entries: Vec<AdjustmentEntry> = open
        .iter()
        .map(|line| {
            let figures = line.a.as_ref().or(line.b.as_ref()).unwrap();
            AdjustmentEntry {
                line_no: line.line_no,
                quantity: figures.quantity,
                amount_fen: figures.amount_fen,
                reason: "settled at Unicom's figures".into(),
                attachment_sm3: None,
            }
        })
        .collect();
    entries
}

async fn adjustments(
    unicom: &SdkUser,
    mobile: &SdkUser,
    entries: &[AdjustmentEntry],
    log: &mut Log,
) {
    // The first line one at a time: rejected, proposed again, accepted.
    let proposed = unicom.sdk().adjust(period(), &entries[0]).await.unwrap();
    log.add(&proposed);
    let id = proposed.answer.adjustment.id;
    let own = unicom.sdk().accept(period(), id).await.unwrap_err();
    assert_eq!(own.status(), Some(403), "{own}");
    let rejected = mobile
        .sdk()
        .reject(period(), id, "wrong quantity")
        .await
        .unwrap();
    log.add(&rejected);
    let proposed = unicom.sdk().adjust(period(), &entries[0]).await.unwrap();
    log.add(&proposed);
    let accepted = mobile
        .sdk()
        .accept(period(), proposed.answer.adjustment.id)
        .await
        .unwrap();
    log.add(&accepted);
    // The rest in bulk: one transaction each way.
    let bulk = unicom
        .sdk()
        .adjust_many(period(), entries[1..].to_vec())
        .await
        .unwrap();
    log.add(&bulk);
    assert_eq!(bulk.answer.count as usize, entries.len() - 1);
    let decided = mobile
        .sdk()
        .decide_many(period(), bulk.answer.adjustment_ids.clone(), Vec::new())
        .await
        .unwrap();
    log.add(&decided);
    assert_eq!(decided.answer.accepted, bulk.answer.adjustment_ids);
    assert!(
        unicom
            .sdk()
            .lines(period(), true)
            .await
            .unwrap()
            .lines
            .is_empty()
    );

    let history = mobile
        .sdk()
        .history(period(), entries[0].line_no)
        .await
        .unwrap();
    let kinds: Vec<&LineEventKind> = history
        .entries
        .iter()
        .map(|entry| &entry.event.event)
        .collect();
    assert!(
        matches!(kinds.first(), Some(LineEventKind::Reconciled { .. })),
        "{kinds:?}"
    );
    assert!(
        kinds
            .iter()
            .any(|kind| matches!(kind, LineEventKind::AdjustmentRejected { .. }))
    );
    assert!(
        matches!(kinds.last(), Some(LineEventKind::AdjustmentAccepted { .. })),
        "{kinds:?}"
    );
    let located = history.entries.last().unwrap().location.unwrap();
    assert_eq!(located.block, accepted.block);
}

async fn final_and_exports(unicom: &SdkUser, mobile: &SdkUser, log: &mut Log) {
    let version = unicom
        .sdk()
        .status(period())
        .await
        .unwrap()
        .state
        .unwrap()
        .version;
    let stale = unicom
        .sdk()
        .confirm_version(period(), version - 1)
        .await
        .unwrap_err();
    assert_eq!(stale.status(), Some(409), "{stale}");
    let first = unicom.sdk().confirm(period()).await.unwrap();
    log.add(&first);
    assert!(first.answer.final_data.is_none());
    let second = mobile.sdk().confirm(period()).await.unwrap();
    log.add(&second);
    let data = second.answer.final_data.expect("final");
    let view = unicom.sdk().final_data(period()).await.unwrap();
    assert_eq!(view.data, data);
    assert_eq!(view.location.block, second.block);

    let csv_u = unicom
        .sdk()
        .export(period(), ExportFormat::Csv)
        .await
        .unwrap();
    let csv_m = mobile
        .sdk()
        .export(period(), ExportFormat::Csv)
        .await
        .unwrap();
    assert_eq!(csv_u, csv_m);
    let rows = String::from_utf8(csv_u).unwrap();
    let table = rows.lines().filter(|row| !row.starts_with('#')).count();
    assert_eq!(table as u64, data.lines + 1, "header and one row per line");
    let json = mobile
        .sdk()
        .export(period(), ExportFormat::Json)
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(json["lines"].as_array().unwrap().len() as u64, data.lines);

    let trail = unicom.sdk().audit_trail(period()).await.unwrap();
    let steps: Vec<&str> = trail.iter().map(|entry| entry.step.as_str()).collect();
    assert_eq!(steps.first(), Some(&"upload"));
    assert_eq!(steps.last(), Some(&"confirm"));
    assert!(trail.windows(2).all(|pair| pair[1].seq == pair[0].seq + 1));
}

/// Reads `stream` until the settlement contract's `PeriodClosed` event, checking block
/// events come one per block in order; every event read.
async fn until_closed(stream: &mut EventStream<'_>) -> Vec<ChainEvent> {
    let mut seen = Vec::new();
    loop {
        let event = stream.next().await.expect("the stream goes on");
        if let (ChainEvent::Block(block), Some(ChainEvent::Block(previous))) = (
            &event,
            seen.iter()
                .rev()
                .find(|event| matches!(event, ChainEvent::Block(_))),
        ) {
            assert_eq!(block.number, previous.number + 1);
        }
        let last = matches!(&event, ChainEvent::Contract(event) if event.name == "PeriodClosed");
        seen.push(event);
        if last {
            return seen;
        }
    }
}

async fn finance(dir: &Path, settlement_u: &SdkUser, log: &mut Log) {
    let finance_u = SdkUser::connect(dir, ADMIN_U[1], FINANCE_U).await;
    let finance_m = SdkUser::connect(dir, ADMIN_M[1], FINANCE_M).await;
    let staff = settlement_u.sdk().approve(period()).await.unwrap_err();
    assert_eq!(staff.status(), Some(403), "{staff}");
    let first = finance_u.sdk().approve(period()).await.unwrap();
    log.add(&first);
    assert!(!first.answer.both);
    let second = finance_m.sdk().approve(period()).await.unwrap();
    log.add(&second);
    assert!(second.answer.both);
    let net = second.answer.net.unwrap();
    let (payer, payee) = match net.payer.expect("the demo month has a net payer") {
        Side::A => (&finance_u, &finance_m),
        Side::B => (&finance_m, &finance_u),
    };
    let reference = "BANK-2026-11-0001";
    let by_payee = payee
        .sdk()
        .pay(period(), reference, net.amount_fen, None)
        .await
        .unwrap_err();
    assert_eq!(by_payee.status(), Some(403), "{by_payee}");
    let wrong = payer
        .sdk()
        .pay(period(), reference, net.amount_fen + 1, None)
        .await
        .unwrap_err();
    assert_eq!(wrong.status(), Some(409), "{wrong}");
    let paid = payer
        .sdk()
        .pay(period(), reference, net.amount_fen, Some(1_764_000_000_000))
        .await
        .unwrap();
    log.add(&paid);
    let acked = payee.sdk().ack(period(), reference).await.unwrap();
    log.add(&acked);
    assert_eq!(acked.answer.phase, Some(Phase::Closed));
    let periods = settlement_u.sdk().periods().await.unwrap();
    assert_eq!(periods.len(), 1);
    assert_eq!(periods[0].period, period());
    assert_eq!(periods[0].phase, Phase::Closed);
    assert_eq!(periods[0].payment.as_ref().unwrap().reference, reference);
}

async fn events_match_the_calls(user: &SdkUser, log: &Log) -> Vec<ChainEvent> {
    let mut stream = user.gateway.events(&user.signer, 0).unwrap();
    let full = until_closed(&mut stream).await;
    let settlement: Vec<(TxId, String)> = full
        .iter()
        .filter_map(|event| match event {
            ChainEvent::Contract(event) if event.contract.name == "settlement" => {
                assert!(event.validation.is_valid());
                Some((event.tx_id, event.name.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(settlement, log.0);
    assert!(
        matches!(&full[0], ChainEvent::Block(genesis) if genesis.number == 0 && genesis.config)
    );
    let cursors: Vec<EventCursor> = full.iter().map(ChainEvent::cursor).collect();
    assert!(cursors.windows(2).all(|pair| pair[0] < pair[1]));
    full
}

async fn resumes_without_gaps(user: &SdkUser, full: &[ChainEvent]) {
    let contract_at = full
        .iter()
        .position(|event| matches!(event, ChainEvent::Contract(_)))
        .unwrap()
        + 3;
    let block_at = full
        .iter()
        .rposition(|event| matches!(event, ChainEvent::Block(_)))
        .unwrap();
    for at in [contract_at, block_at] {
        // Through the cursor's text, as an SSE client would hand it back.
        let cursor: EventCursor = full[at].cursor().to_string().parse().unwrap();
        let mut stream = user.gateway.events_after(&user.signer, cursor).unwrap();
        let rest = until_closed(&mut stream).await;
        assert_eq!(rest, full[at + 1..], "resumed after {cursor}");
    }
}

async fn ends_on_disconnect(user: &SdkUser, consortium: &mut Consortium) {
    let height = {
        let trail = user.sdk().audit_trail(period()).await.unwrap();
        let last = trail.last().unwrap().tx_id;
        let mut stream = user.gateway.events(&user.signer, 0).unwrap();
        let mut height = 0;
        while height == 0 {
            if let ChainEvent::Contract(event) = stream.next().await.unwrap()
                && event.tx_id.0.0 == last.0
            {
                height = event.block + 1;
            }
        }
        height
    };
    let mut stream = user.gateway.events(&user.signer, height).unwrap();
    let orderers = std::mem::take(&mut consortium.orderers);
    let (ended, ()) = tokio::join!(stream.next(), async move { drop(orderers) });
    // Either the block after the final one (if it was cut in between), then the end,
    // or the end straight away; the end is an error the caller resumes from.
    let ended = match ended {
        Ok(_) => stream.next().await,
        error => error,
    };
    let error = ended.unwrap_err();
    assert!(stream.next().await.is_err(), "an ended stream stays ended");
    assert_eq!(error.status(), None, "{error}");
}
