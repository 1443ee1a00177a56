//! Why a settlement call failed. Every variant maps to one HTTP-style status of the
//! contract response ([`SettleError::status`]); a failed call writes nothing.

/// A report that cannot be accepted: bad CSV or canonical text, duplicate line keys,
/// numbers out of range. Found on the client before upload and again on chain after the
/// reveal (where it is attributed to the uploader).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The text is longer than [`crate::limits::REPORT_BYTES_MAX`].
    #[error("report is {actual} bytes, at most {max} allowed")]
    TooLarge {
        /// The limit.
        max: usize,
        /// The size found.
        actual: usize,
    },
    /// More lines than [`crate::limits::REPORT_LINES_MAX`].
    #[error("report has more than {max} lines")]
    TooManyLines {
        /// The limit.
        max: usize,
    },
    /// The text is not UTF-8.
    #[error("report is not UTF-8 text")]
    NotUtf8,
    /// The file is not UTF-8 (with or without a byte-order mark) or GBK text
    /// ([`crate::report::decode_report_bytes`]).
    #[error("report file is not UTF-8 or GBK text: at byte {offset}, {reason}")]
    Encoding {
        /// The byte offset that gave it away.
        offset: usize,
        /// What was found.
        reason: String,
    },
    /// A line of the text is malformed.
    #[error("line {line_no}: {reason}")]
    Syntax {
        /// 1-based line number in the text.
        line_no: usize,
        /// What is wrong.
        reason: String,
    },
    /// Two lines share (item, direction, area).
    #[error("duplicate line key {0}")]
    DuplicateLine(String),
    /// The bytes parse but are not the canonical encoding of what they contain.
    #[error("report text is not in canonical form")]
    NotCanonical,
    /// The report names another period or carrier than the upload it came in.
    #[error("report is for {found}, expected {expected}")]
    WrongHeader {
        /// What the upload said.
        expected: String,
        /// What the report said.
        found: String,
    },
}

/// The caller may not take this step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccessError {
    /// The caller's organisation is not a party to the agreement, or is the wrong party
    /// for this step (e.g. accepting its own adjustment).
    #[error("wrong carrier: {0}")]
    WrongCarrier(String),
    /// The caller's certificate role may not take this step.
    #[error("wrong role: {0}")]
    WrongRole(String),
    /// The caller's department (its certificate's `department` attribute) may not take
    /// this step: finance staff approve, pay and acknowledge and nothing else; settlement
    /// staff may not do those.
    #[error("wrong department: {0}")]
    WrongDepartment(String),
}

/// The step does not fit the state of the period, adjustment or agreement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The period is in a phase where this step is not allowed.
    #[error("period {period} is {phase}; {step} is not allowed")]
    WrongPhase {
        /// The period.
        period: String,
        /// Its phase.
        phase: &'static str,
        /// The step tried.
        step: &'static str,
    },
    /// The counterparty has uploaded, so this carrier's upload is final for the round.
    #[error("the counterparty has already uploaded; the report can no longer be replaced")]
    CounterpartyUploaded,
    /// A key was revealed before both reports were on the chain.
    #[error("both reports must be uploaded before a key is revealed")]
    RevealBeforeUploads,
    /// This carrier has already revealed its key in this round.
    #[error("the key was already revealed")]
    AlreadyRevealed,
    /// A confirmation named a data version that is no longer current.
    #[error("version {given} is stale; the current version is {current}")]
    StaleVersion {
        /// The version confirmed.
        given: u64,
        /// The current version.
        current: u64,
    },
    /// Lines are still disputed or adjustments still pending.
    #[error("{disputed} lines are disputed and {pending} adjustments pending")]
    Unresolved {
        /// Lines in dispute.
        disputed: u64,
        /// Adjustments awaiting a decision.
        pending: u64,
    },
    /// The period's data is final and immutable.
    #[error("period {0} is final and can no longer change")]
    Final(String),
    /// A reset was asked for before the reveal deadline plus the clock margin.
    #[error(
        "the reveal deadline {deadline_ms} ms plus the clock margin {margin_ms} ms has not passed (now {now_ms} ms)"
    )]
    DeadlineNotPassed {
        /// Deadline, ms since the epoch.
        deadline_ms: u64,
        /// The agreement's clock margin.
        margin_ms: u64,
        /// The proposal's time.
        now_ms: u64,
    },
    /// The upload's plaintext commitment differs from the one this carrier is bound to
    /// since both reports were first on the chain.
    #[error(
        "the report is bound to plaintext commitment {committed}: upload the same report under the same salt (a fresh key is fine)"
    )]
    CommitmentBinding {
        /// The binding commitment.
        committed: crate::api::Digest,
    },
    /// The carrier is in default for this period and can no longer upload or reveal.
    #[error("in default: {0}")]
    InDefault(String),
    /// The carrier's report already opened in an earlier round; it stands.
    #[error("the report already opened and stands for the period")]
    ReportOpened,
    /// The line already has an adjustment awaiting a decision.
    #[error("line {0} already has a pending adjustment")]
    AdjustmentPending(u64),
    /// The adjustment was already decided.
    #[error("adjustment {0} is already decided")]
    AdjustmentDecided(u64),
    /// No agreement proposal is pending, or the one pending differs from the one accepted.
    #[error("agreement proposal mismatch: {0}")]
    AgreementMismatch(String),
    /// A count limit of the period was reached.
    #[error("a count limit was reached: {0}")]
    LimitReached(&'static str),
    /// The period is closed: approved, paid and acknowledged; nothing changes it.
    #[error("period {0} is closed and can no longer change")]
    Closed(String),
    /// This carrier's finance department already approved the final data.
    #[error("{0} already approved the final data")]
    AlreadyApproved(String),
    /// The payment can be recorded only once both finance departments approved.
    #[error("the final data still awaits the approval of {0}")]
    AwaitingApproval(String),
    /// A payment is already recorded for the period.
    #[error("payment {0:?} is already recorded")]
    AlreadyPaid(String),
    /// The amount paid is not the net amount of the final data.
    #[error("the net amount due is {expected} fen; {given} fen was given")]
    PaymentAmount {
        /// The net amount of the final data.
        expected: u64,
        /// The amount in the request.
        given: u64,
    },
    /// The final data nets to zero: there is no payment to record.
    #[error("the final data nets to zero: there is nothing to pay")]
    NothingToPay,
    /// No payment is recorded yet, so there is nothing to acknowledge.
    #[error("no payment is recorded yet")]
    NoPayment,
    /// The acknowledgement names another payment than the one recorded.
    #[error("the recorded payment has reference {recorded:?}")]
    ReferenceMismatch {
        /// The recorded reference.
        recorded: String,
    },
    /// The line's history is full ([`crate::limits::LINE_HISTORY_MAX`] entries).
    #[error("line {0} has reached its history limit; settle it off chain")]
    HistoryFull(u64),
}

/// Why a settlement call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettleError {
    /// A malformed report (status 400).
    #[error(transparent)]
    Report(#[from] ReportError),
    /// Wrong carrier or role (status 403).
    #[error(transparent)]
    Access(#[from] AccessError),
    /// Wrong state for the step (status 409).
    #[error(transparent)]
    State(#[from] StateError),
    /// A malformed argument (status 400).
    #[error("bad argument: {0}")]
    BadArgument(String),
    /// A revealed key does not match the commitment made at upload (status 400).
    #[error("the key does not match its commitment")]
    KeyMismatch,
    /// An argument is over its size limit (status 413).
    #[error("{what} is {actual} bytes, at most {max} allowed")]
    TooLarge {
        /// Which argument.
        what: &'static str,
        /// Its limit.
        max: usize,
        /// Its size.
        actual: usize,
    },
    /// A list of the request has more entries than its limit (status 413).
    #[error("{what}: {actual} entries, at most {max} allowed in one transaction")]
    TooMany {
        /// Which list.
        what: &'static str,
        /// Its limit.
        max: usize,
        /// Its length.
        actual: usize,
    },
    /// The period, line, adjustment or agreement does not exist (status 404).
    #[error("not found: {0}")]
    NotFound(String),
    /// Amount arithmetic left its range (status 400: the inputs were out of range).
    #[error("amount arithmetic overflowed in {0}")]
    Overflow(&'static str),
    /// The peer failed to read or write state (status 500).
    #[error("state access failed: {0}")]
    Storage(String),
    /// The context refused a state access (a read–write set limit) or failed; the status
    /// is the context's.
    #[error(transparent)]
    Context(netsettle_contract::ContractError),
    /// A stored record does not decode: the ledger is damaged (status 500).
    #[error("stored {0} is corrupt")]
    Corrupt(&'static str),
    /// One entry of a bulk request failed, refusing the whole request (the status is the
    /// entry's).
    #[error("{list}[{index}]: {source}")]
    InEntry {
        /// Which list of the request.
        list: &'static str,
        /// The entry's index in it, from 0.
        index: usize,
        /// Why it failed.
        source: Box<SettleError>,
    },
}

impl SettleError {
    /// The HTTP-style status of the contract response.
    pub fn status(&self) -> u32 {
        match self {
            Self::Report(_) | Self::BadArgument(_) | Self::KeyMismatch | Self::Overflow(_) => 400,
            Self::Access(_) => 403,
            Self::NotFound(_) => 404,
            Self::State(_) => 409,
            Self::TooLarge { .. } | Self::TooMany { .. } => 413,
            Self::Context(error) => error.status(),
            Self::InEntry { source, .. } => source.status(),
            Self::Storage(_) | Self::Corrupt(_) => 500,
        }
    }

    pub(crate) fn bad(message: impl Into<String>) -> Self {
        Self::BadArgument(message.into())
    }

    /// This error as the failure of entry `index` of the bulk list `list`.
    pub fn in_entry(self, list: &'static str, index: usize) -> Self {
        Self::InEntry {
            list,
            index,
            source: Box::new(self),
        }
    }
}
