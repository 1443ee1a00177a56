//! Every size and count limit of the settlement contract, in one place, checked before
//! anything is allocated for the input it bounds. The relations that keep arithmetic and
//! chain messages safe are asserted at compile time below.

use netsettle_protocol::limits::{
    ARGS_BYTES_MAX, ENVELOPE_TIME_SKEW_SECS_MAX, EVENT_PAYLOAD_BYTES_MAX,
    RESPONSE_PAYLOAD_BYTES_MAX, RW_SET_ENTRIES_MAX, VALUE_BYTES_MAX,
};
use netsettle_smcrypto::GCM_TAG_BYTES;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// Lines in one report. A carrier pair's month has tens of thousands of settlement items.
/// The bound is set by the reconciling reveal: it writes every reconciled line (about 160
/// bytes each as stored) in one transaction, and two 100,000-line reports with no line in
/// common (200,000 lines, about 32 MiB of pages) still fit the peer simulator's write
/// budget (`netsettle_contract::limits::SIMULATION_WRITE_BYTES_MAX`, 36 MiB).
pub const REPORT_LINES_MAX: usize = 100_000;
/// Bytes of one report's text (CSV or canonical form). A canonical line is under 100
/// bytes, so a full report fits with room for long tokens.
pub const REPORT_BYTES_MAX: usize = 16 * MIB;
/// Bytes of one uploaded ciphertext: the canonical report plus the SM4-GCM tag.
pub const CIPHERTEXT_BYTES_MAX: usize = REPORT_BYTES_MAX + GCM_TAG_BYTES;
/// Bytes of a settlement item, unit or local network area name (UTF-8, NFC): room for
/// 21 CJK characters, or 64 ASCII ones.
pub const TOKEN_BYTES_MAX: usize = 64;
/// Characters of such a name: `国内长途话音` is 6 characters, 18 bytes.
pub const TOKEN_CHARS_MAX: usize = 32;
/// Bytes of an MSP id in an agreement.
pub const MSP_ID_BYTES_MAX: usize = 128;
/// Largest amount of one line: 10^13 fen (100 billion CNY), far above any real line, and
/// small enough that a whole report's total cannot overflow `i64` (asserted below).
pub const AMOUNT_FEN_MAX: u64 = 10_000_000_000_000;
/// Largest quantity of one line (minutes, messages, MB, circuit-months).
pub const QUANTITY_MAX: u64 = 1_000_000_000_000_000;
/// Largest rate, in millionths of a yuan per unit (10^6 CNY per unit).
pub const RATE_MICROS_MAX: u64 = 1_000_000_000_000;
/// Digits after the decimal point of a rate: rates are integer millionths of a yuan.
pub const RATE_DECIMALS: u32 = 6;
/// How far the chain lets a transaction's timestamp (the proposal time, chosen by the
/// client) be from the ordering service's clock when it is ordered: the orderers' bound,
/// `protocol::limits::ENVELOPE_TIME_SKEW_SECS_MAX`, in milliseconds (orderers refuse a
/// back-dated, forward-dated or held envelope outside it). The contract only sees the
/// proposal time, so it judges every deadline with a margin of twice this bound
/// ([`DEADLINE_MARGIN_MS_DEFAULT`]).
pub const TX_TIME_BOUND_MS: u64 = ENVELOPE_TIME_SKEW_SECS_MAX * 1000;
/// The margin an agreement adds to every deadline unless it names its own
/// (`Agreement::clock_margin_ms`): twice [`TX_TIME_BOUND_MS`]. A back-dated first upload
/// moves a deadline at most one bound earlier and a forward-dated reset is at most one
/// bound ahead of the orderers' clock, so a reset accepted at `deadline + 2 × bound` (by
/// its own timestamp) is ordered no earlier than the real deadline.
pub const DEADLINE_MARGIN_MS_DEFAULT: u64 = 2 * TX_TIME_BOUND_MS;
/// Rounds a carrier may fail (withhold its key, upload nothing, or upload a report that
/// does not open) before it is in default for the period: the round it failed and one
/// more to open its committed report with a fresh key.
pub const FAULTS_TO_DEFAULT: u32 = 2;
/// Faults recorded in one period record: each closed round records at least one, and
/// both carriers are in default after [`FAULTS_TO_DEFAULT`] each, so a period never holds
/// more.
pub const FAULTS_MAX: usize = 2 * FAULTS_TO_DEFAULT as usize;
/// Bytes of a dispute, adjustment or rejection reason.
pub const REASON_BYTES_MAX: usize = 1024;
/// Bytes of one JSON request argument (every function's first argument).
pub const REQUEST_BYTES_MAX: usize = 64 * KIB;
/// Adjustments proposed, or decisions taken, in one bulk transaction
/// (`adjust_propose_many`, `adjust_decide_many`): a month's correction file is hundreds
/// of lines; each entry writes its adjustment, its line's page and its line's history.
pub const BULK_ADJUSTMENTS_MAX: usize = 1_000;
/// Bytes of a bulk request: [`BULK_ADJUSTMENTS_MAX`] entries with reasons at their
/// limit and room for the JSON around them.
pub const BULK_REQUEST_BYTES_MAX: usize = BULK_ADJUSTMENTS_MAX * (REASON_BYTES_MAX + 256);
/// Adjustments one file of them may hold (`adjustments_file`): the contract's own limit on
/// a period's adjustments is far higher, but a file of more is a mistake to stop early.
pub const ADJUSTMENTS_FILE_MAX: usize = 10_000;
/// Bytes of an adjustments file: [`ADJUSTMENTS_FILE_MAX`] rows with reasons at their
/// limit and a few dozen bytes of figures each.
pub const ADJUSTMENTS_FILE_BYTES_MAX: usize = ADJUSTMENTS_FILE_MAX * (REASON_BYTES_MAX + 64);
/// Bytes of the acting user a gateway names (`on_behalf_of`).
pub const ACTING_USER_BYTES_MAX: usize = 128;
/// Bytes of a payment reference (a bank transfer id).
pub const PAYMENT_REFERENCE_BYTES_MAX: usize = 128;
/// Entries kept in one line's history: reconciliation, then a few disputes and
/// adjustment rounds. Past the limit the line refuses further disputes and adjustments
/// (409): a line argued over 64 times needs people, not another transaction, and the
/// bound keeps a history read one value.
pub const LINE_HISTORY_MAX: usize = 64;
/// Periods one `periods_list` query returns (ten years of months).
pub const QUERY_PERIODS_MAX: usize = 120;

/// Reconciled lines stored under one state key. Pages keep one reconciliation under the
/// read–write set's entry limit and make an adjustment rewrite one page, not the month;
/// 100 lines (about 17 KiB) keep a month's adjustments from dominating the ledger (the
/// bench measured 300 MiB of write sets for 840 adjustments with 1,000-line pages).
pub const PAGE_LINES: usize = 100;
/// Pages of one period: every line of the largest report pair fits.
pub const PAGES_MAX: usize = (2 * REPORT_LINES_MAX).div_ceil(PAGE_LINES);
/// Lines one query returns.
pub const QUERY_LINES_MAX: usize = 1_000;
/// Audit entries one query returns.
pub const QUERY_AUDIT_MAX: usize = 1_000;
/// Line numbers named in one event (the event carries the count when there are more).
pub const EVENT_LINES_MAX: usize = 1_000;
/// Adjustments proposed in one period (every line could be adjusted a few times).
pub const ADJUSTMENTS_MAX: u64 = 1_000_000;
/// Bytes of the stored period record.
pub const PERIOD_STATE_BYTES_MAX: usize = 64 * KIB;
/// Bytes of one stored page of reconciled lines.
pub const PAGE_BYTES_MAX: usize = MIB;
/// Bytes of any other stored record (agreement, adjustment, audit entry, final data).
pub const RECORD_BYTES_MAX: usize = 64 * KIB;

// A bulk transaction's writes (adjustment, page, line history per entry, plus the period
// record, audit entry and the line reads) stay within the read–write set.
const _: () = assert!(4 * BULK_ADJUSTMENTS_MAX + 64 <= RW_SET_ENTRIES_MAX);
const _: () = assert!(BULK_REQUEST_BYTES_MAX <= ARGS_BYTES_MAX);
const _: () = assert!(TOKEN_CHARS_MAX <= TOKEN_BYTES_MAX);
// A whole report's total fits in i64 with room for the difference of two totals.
const _: () =
    assert!((AMOUNT_FEN_MAX as u128) * (REPORT_LINES_MAX as u128) * 2 <= i64::MAX as u128);
// Line arithmetic (quantity times rate) is done in u128 and must not overflow it.
const _: () = assert!(
    (QUANTITY_MAX as u128)
        .checked_mul(RATE_MICROS_MAX as u128)
        .is_some()
);
// The ciphertext travels as one proposal argument and is stored as one state value.
const _: () = assert!(CIPHERTEXT_BYTES_MAX + REQUEST_BYTES_MAX <= ARGS_BYTES_MAX);
const _: () = assert!(CIPHERTEXT_BYTES_MAX <= VALUE_BYTES_MAX);
// A reconciliation writes every page plus a few records in one transaction.
const _: () = assert!(PAGES_MAX + 64 <= RW_SET_ENTRIES_MAX);
const _: () = assert!(PAGE_BYTES_MAX <= VALUE_BYTES_MAX);
// A page of worst-case lines (tokens and reasons at their limits) fits its byte limit.
const _: () =
    assert!(PAGE_LINES * (4 * TOKEN_BYTES_MAX + 2 * REASON_BYTES_MAX + 256) <= PAGE_BYTES_MAX);
// Query answers and events stay within the protocol's response and event limits.
const _: () = assert!(
    QUERY_LINES_MAX * (4 * TOKEN_BYTES_MAX + 2 * REASON_BYTES_MAX + 512)
        <= RESPONSE_PAYLOAD_BYTES_MAX
);
const _: () = assert!(EVENT_LINES_MAX * 32 + 4 * KIB <= EVENT_PAYLOAD_BYTES_MAX);
