//! The settlement contract: two carriers' monthly interconnection settlement, run on the
//! chain.
//!
//! Each carrier encrypts its settlement report with SM4-GCM under a fresh key and uploads
//! the ciphertext with salted SM3 commitments to the key and the plaintext; once both
//! reports are on the chain (and from then on both plaintext commitments bind for the
//! period), each reveals its key and salt; the transaction completing the reveals decrypts
//! both, checks them against their commitments and reconciles them line by line into the
//! quasi-final settlement data. A round that does not complete closes at its deadline plus
//! a clock margin, records who failed it, and the next round accepts only the committed
//! reports; a carrier in default leaves the period to be settled line by line from the
//! other's figures (the fairness rules are in [`workflow`]). Carriers then dispute lines, propose and accept or reject
//! adjustments, and confirm the current data version; when both confirm with nothing in
//! dispute the data becomes final and immutable, ready for the finance export. Each
//! carrier's finance department (a certificate with `department=finance`) then approves
//! it, the payer records the payment of the net amount and the payee acknowledges it: the
//! period is closed. Finance staff take no settlement step and settlement staff no finance
//! step (separation of duties). The agreement may name an upload deadline (a day of the
//! following month, Beijing time); the period status shows whose move it is, since which
//! transaction, and who is late. Report names (items, areas, units) are UTF-8, e.g.
//! `国内长途话音`, NFC-normalised; the client converts GBK and BOM-marked exports first
//! ([`report::decode_report_bytes`]).
//!
//! # Layout
//!
//! A pure deterministic core and a thin adapter (STYLE §3):
//!
//! - [`units`], [`report`]: periods, fixed-point rates, tokens; the report, its CSV, JSON
//!   and canonical text (the CSV format is documented in [`report`]);
//! - [`agreement`]: the parties, tolerance, deadlines and clock margin;
//! - [`adjustments_file`]: the bulk adjustments file staff upload (CLI and console);
//! - [`reconcile`]: line matching, pure;
//! - [`seal`]: client-side sealing (fresh key, SM4-GCM, commitments) and on-chain opening;
//! - [`workflow`]: the period state machine, pure;
//! - [`signoff`]: finance approval, payment and acknowledgement, pure;
//! - [`history`]: the entries of one line's history;
//! - [`finance`]: final data, its SM3 digest, CSV/JSON export;
//! - [`api`]: the JSON request types of every function;
//! - [`store`]: state keys and record encoding over the contract `Context`;
//! - [`contract`]: [`contract::SettlementContract`], the `Contract` adapter;
//! - [`replay`]: re-derivation of the final data from the ledger's transactions (audit),
//!   on `netsettle_contract::MemoryState`: the peer's simulator over state in memory;
//! - [`sample`]: a seeded generator of realistic reports;
//! - [`limits`]: every size and count limit.
//!
//! # Functions
//!
//! Every function takes a JSON object as its first argument and answers JSON (except
//! `export` with `"format": "csv"`). Workflow steps need a certificate with role
//! `client` from one of the two parties; agreement steps need role `admin`. Settlement
//! steps refuse a certificate with `department=finance`; the finance steps (`approve`,
//! `pay`, `ack`) need one. Every workflow request may name `on_behalf_of` (the user an
//! HTTP gateway signs for, [`api::ActingUser`]), recorded in the audit entry and line
//! history next to the signing identity.
//!
//! | function | request (args\[0\]) | effect | events |
//! |---|---|---|---|
//! | `agreement_propose` | an [`agreement::Agreement`] | stores a proposal | `AgreementProposed` |
//! | `agreement_accept` | `{digest}` of the proposal, by the other party's admin | the agreement in force, version +1 | `AgreementAccepted` |
//! | `upload` | [`api::UploadRequest`] `{period, nonce, key_commitment, plaintext_commitment}`; args\[1\] = ciphertext | records the upload (refused if the plaintext commitment differs from a binding one); opens the period on first upload | `ReportUploaded`, `ReportsUploaded` when both are in |
//! | `reveal` | `{period, key, salt}` (hex) | checks the key commitment, opens the caller's report; the second opening reconciles; a report that fails to open puts the period in `Failed`, blaming its uploader (in default at once if its committed plaintext is not a report); a default with the other report open resolves the period | `KeyRevealed`, `Reconciled`, `LinesDisputed`, or `ReportRejected` |
//! | `dispute` | `{period, line_no, reason}` | a settled line becomes disputed; version +1 | `LineDisputed` |
//! | `adjust_propose` | `{period, line_no, quantity, amount_fen, reason, attachment_sm3?}` | a pending adjustment | `AdjustmentProposed` |
//! | `adjust_accept` | `{period, adjustment_id}` by the other party | the line takes the figures; version +1 | `AdjustmentAccepted` |
//! | `adjust_reject` | `{period, adjustment_id, reason}` by the other party | the adjustment is closed | `AdjustmentRejected` |
//! | `adjust_propose_many` | [`api::AdjustManyRequest`] `{period, adjustments: [{line_no, quantity, amount_fen, reason, attachment_sm3?}]}`, at most [`limits::BULK_ADJUSTMENTS_MAX`] | all or nothing: the first bad entry refuses the transaction as `adjustments[i]: …` | `AdjustmentsProposed` |
//! | `adjust_decide_many` | [`api::DecideManyRequest`] `{period, accept: [id], reject: [{adjustment_id, reason}]}` | all or nothing (`accept[i]` / `reject[i]` in the error); each id at most once | `AdjustmentsDecided` |
//! | `confirm` | `{period, version}` | signs off the current version; the second makes the data final | `Confirmed`, `Final` |
//! | `approve` | `{period}` by a party's finance, once, when final | records the approval; the second closes a zero-net period | `FinanceApproved` (+ `PeriodClosed`) |
//! | `pay` | [`api::PayRequest`] `{period, reference, amount_fen, paid_at_ms?}` by the payer's finance after both approvals | `amount_fen` must be the net amount (409 names it) | `PaymentRecorded` |
//! | `ack` | [`api::AckRequest`] `{period, reference}` by the payee's finance | the period is `Closed` | `PaymentAcknowledged`, `PeriodClosed` |
//! | `reset` | `{period}` | after the deadline plus the clock margin: closes the round, records faults, then a new round, a default resolution (review, all lines disputed) or `Defaulted` | `PeriodReset` (+ `Reconciled`) |
//! | `agreement_get` | `{}` | the agreement in force and any proposal | — |
//! | `period_get` | `{period}` | the period record, its reveal deadline, when `reset` may close the round, and its [`workflow::PeriodStatus`] at the query's time: whose move (upload, reveal, decide, resolve, confirm, approve, pay, acknowledge), since when, upload deadline, who is late; for a period with no record but an agreement in force, `recorded: false` and the starting status (both to upload, the deadlines) | — |
//! | `periods_list` | [`api::PeriodsListRequest`] `{from?, limit}` | periods with a record, ascending, at most [`limits::QUERY_PERIODS_MAX`]: phase, whose move, sides (late flags), summary once reconciled, net position and payment; `next` | — |
//! | `line_history` | [`api::LineHistoryRequest`] `{period, line_no}` | the line and its history: the reconciliation (both figures), then disputes and adjustments proposed, accepted, rejected, each with msp, common name, department, `on_behalf_of`, tx id, time and block position; at most [`limits::LINE_HISTORY_MAX`] stored entries | — |
//! | `lines_get` | `{period, from, limit, open_only}` | a page of reconciled lines | — |
//! | `adjustment_get` | `{period, adjustment_id}` | one adjustment | — |
//! | `audit_get` | `{period, from, limit}` | the audit trail: who did what, when, in which tx | — |
//! | `final_get` | `{period}` | the final data and its block number, tx index, tx id | — |
//! | `export` | `{period, format: "csv"\|"json", from, limit}` | the finance export | — |
//!
//! Errors are contract responses that change nothing: 400 malformed request or report,
//! key or salt not matching the key commitment; 403 wrong carrier or role; 404 unknown
//! period, line or adjustment, no agreement; 409 wrong phase, second upload after the
//! counterparty's, an upload off its binding commitment, a carrier in default, reveal
//! before both uploads, reset before the deadline plus margin, stale version, unresolved
//! lines, final or closed period, second approval, payment of another amount than the net,
//! second payment, acknowledgement of another reference, a line's history full; 403 also
//! for the wrong department (finance vs settlement staff) and for pay by the payee or ack
//! by the payer; 413 oversize (bytes or bulk entries).
//!
//! # What it leaves out
//!
//! RocksDB, networking and signatures: the crate depends on the contract interface
//! (`netsettle-contract`), not on the peer; the peer runs the contract over the same
//! simulator the replay uses, and the endorsement policy makes both carriers' peers agree. Key generation happens on the
//! client ([`seal::seal_report_fresh`]); the contract never makes a key. No clocks: the
//! proposal timestamp is the only time; no floats: amounts are integer fen and rates
//! integer millionths of a yuan.

pub mod adjustments_file;
pub mod agreement;
pub mod api;
pub mod contract;
mod error;
pub mod finance;
pub mod history;
pub mod limits;
pub mod reconcile;
pub mod replay;
pub mod report;
pub mod sample;
pub mod seal;
pub mod signoff;
pub mod store;
pub mod units;
pub mod workflow;

pub use error::{AccessError, ReportError, SettleError, StateError};
