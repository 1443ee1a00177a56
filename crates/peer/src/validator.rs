//! The block validator: a pure function of the channel in force, the committed state
//! before the block, and the block, returning the block with one validation code per
//! transaction (what `Ledger::commit_block` applies) and any new channel configuration.
//!
//! Block-level failures (wrong number, broken hash chain, bad data hash, no valid orderer
//! signature) reject the whole block: nothing of it may be committed. Transaction-level
//! failures become codes; invalid transactions stay in the block and change nothing.
//!
//! Per transaction, in three passes:
//! 1. without signatures, in any order: channel, creator valid at the transaction's time
//!    (chain, expiry, CRL, role) and allowed by the Writers policy, the response answering
//!    the proposal, endorsers valid;
//! 2. every signature of the block (creators' and endorsers') in one parallel batch, except
//!    this peer's own endorsements exactly as its endorser signed them
//!    ([`Validator::trusting_own`], `own_endorsements`);
//! 3. in block order, against the state as updated by the earlier valid transactions of
//!    the same block: duplicate id (ledger and block), contract defined, rw-set rules,
//!    endorsement policy, read versions and range phantoms. A valid transaction's writes
//!    then join the in-block updates.
//!
//! Time comes from the block (the orderers' clock, signed with it) and the transactions'
//! own timestamps, which must be within `ENVELOPE_TIME_SKEW_SECS_MAX` of the block's
//! (`TIMESTAMP_OUT_OF_RANGE` otherwise), so every peer reaches the same codes whenever it
//! validates.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use netsettle_contract::StateRead;
use netsettle_contract::limits::RANGE_ENTRIES_MAX;
use netsettle_ledger::LedgerError;
use netsettle_msp::{ChannelState, MspError, ValidatedIdentity, check_config_update};
use netsettle_protocol::limits::ENVELOPE_TIME_SKEW_SECS_MAX;
use netsettle_protocol::{
    Block, ChannelConfig, ConfigEnvelope, Envelope, Header, Identity, NamespaceReadWriteSet,
    Payload, Policy, RangeQueryRead, Role, Transaction, TxId, ValidationCode, Wire as _, check_key,
    check_write, domain, encode,
};
use netsettle_smcrypto::{BatchVerifier, CryptoError, Signature, VerifyJob};
use tracing::debug;

use crate::lifecycle::{LIFECYCLE_NAMESPACE, decode_definition, definition_key};
use crate::own_endorsements::OwnEndorsements;

/// A block that must not be committed at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlockError {
    /// The block breaks the protocol's limits or is empty.
    #[error("block {number} is malformed: {reason}")]
    Malformed {
        /// Block number.
        number: u64,
        /// What is wrong.
        reason: String,
    },
    /// The block is not the next one.
    #[error("block {number} is not the next block {expected}")]
    WrongNumber {
        /// Block number.
        number: u64,
        /// The state height.
        expected: u64,
    },
    /// The previous hash is not the hash of the last block.
    #[error("block {number} does not link to the last block")]
    WrongPreviousHash {
        /// Block number.
        number: u64,
    },
    /// The data hash is not the Merkle root of the envelopes.
    #[error("block {number} data hash does not match its envelopes")]
    WrongDataHash {
        /// Block number.
        number: u64,
    },
    /// No orderer signature is from a valid orderer of the channel and verifies.
    #[error("block {number} has no valid orderer signature: {reason}")]
    NoOrdererSignature {
        /// Block number.
        number: u64,
        /// Why the signatures present were refused.
        reason: String,
    },
    /// The block's time (the orderers' clock) is before the previous block's.
    #[error("block {number} at {time_ms} ms is before the previous block's time {previous_ms} ms")]
    TimeGoesBack {
        /// Block number.
        number: u64,
        /// Its time, unix milliseconds.
        time_ms: u64,
        /// The previous block's time.
        previous_ms: u64,
    },
    /// The block's time is ahead of this peer's clock by more than
    /// `ENVELOPE_TIME_SKEW_SECS_MAX`: not committed now; it is asked for again later.
    #[error("block {number} at {time_ms} ms is ahead of this peer's clock ({now_ms} ms)")]
    TimeInTheFuture {
        /// Block number.
        number: u64,
        /// Its time, unix milliseconds.
        time_ms: u64,
        /// This peer's clock.
        now_ms: u64,
    },
    /// The genesis block is not a single config envelope that builds valid MSPs.
    #[error("genesis block: {0}")]
    Genesis(String),
    /// Reading the committed state failed.
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// The signature batch was refused (more signatures than one batch holds).
    #[error("signature batch: {0}")]
    Verifier(#[from] CryptoError),
}

/// A validated block: the block with its codes set, ready for `Ledger::commit_block`.
#[derive(Debug, Clone)]
pub struct ValidatedBlock {
    /// The block, `metadata.validation_codes` set (one per envelope).
    pub block: Block,
    /// The configuration a valid config transaction put in force.
    pub new_config: Option<ChannelConfig>,
    /// Each envelope's transaction id, in block order, derived once during validation.
    pub tx_ids: Vec<TxId>,
}

impl ValidatedBlock {
    /// `(tx id, code)` per envelope, in block order.
    pub fn verdicts(&self) -> Vec<(TxId, ValidationCode)> {
        self.tx_ids
            .iter()
            .zip(&self.block.metadata.validation_codes)
            .map(|(tx_id, code)| (*tx_id, *code))
            .collect()
    }
}

/// The validator: the signature thread pool size, and the endorsements its own peer
/// signed, which it need not verify.
#[derive(Debug, Clone)]
pub struct Validator {
    verifier: BatchVerifier,
    own: Option<Arc<OwnEndorsements>>,
}

/// One signature to check, with the identity that made it.
struct SignatureCheck<'b> {
    message: Vec<u8>,
    signer: ValidatedIdentity,
    signature: &'b Signature,
    /// This peer's own endorsement, exactly as it signed it: verified already.
    own: bool,
}

/// What pass 1 decided about one envelope.
enum Plan<'b> {
    Rejected(ValidationCode),
    Endorsed {
        tx: &'b Transaction,
        creator: Box<SignatureCheck<'b>>,
        endorsements: Vec<SignatureCheck<'b>>,
    },
    Config {
        config: Box<ChannelConfig>,
        creator: Box<SignatureCheck<'b>>,
    },
}

/// Writes of valid transactions earlier in the block: namespace → key → value.
type Updates = BTreeMap<String, BTreeMap<String, Option<Vec<u8>>>>;

impl Validator {
    /// A validator checking signatures with `verifier`.
    pub fn new(verifier: BatchVerifier) -> Self {
        Validator {
            verifier,
            own: None,
        }
    }

    /// The same validator, taking the endorsements in `own` (its peer's endorser's, see
    /// [`crate::endorser::Endorser::own_endorsements`]) as verified when a block carries
    /// one exactly as signed; every other signature is verified as before.
    pub fn trusting_own(self, own: Arc<OwnEndorsements>) -> Self {
        Validator {
            own: Some(own),
            ..self
        }
    }

    /// Validates the genesis block: one config envelope, which becomes the channel in
    /// force, signed by an orderer of that config. The config is the trust anchor a peer
    /// joins with, so its content is taken as given.
    pub fn validate_genesis(
        &self,
        block: &Block,
    ) -> Result<(ValidatedBlock, ChannelState), BlockError> {
        let genesis = |reason: &str| BlockError::Genesis(reason.to_owned());
        check_block_shape(block)?;
        if block.header.number != 0 || block.header.previous_hash != Default::default() {
            return Err(genesis("not block 0"));
        }
        let [envelope] = block.data.as_slice() else {
            return Err(genesis("it must hold exactly one envelope"));
        };
        let Some(config) = block.config() else {
            return Err(genesis("its envelope is not a config"));
        };
        let channel = ChannelState::new(config.clone(), 0)
            .map_err(|error| BlockError::Genesis(error.to_string()))?;
        check_orderer_signature(&channel, block)?;
        let at = unix_seconds(envelope.header());
        let creator = channel
            .msps
            .validate(&envelope.header().creator, at)
            .map_err(|error| BlockError::Genesis(error.to_string()))?;
        if creator.role != Role::Orderer || envelope.verify(creator.cert.public_key()).is_err() {
            return Err(genesis("the config envelope is not signed by an orderer"));
        }
        let mut validated = block.clone();
        validated.metadata.validation_codes = vec![ValidationCode::Valid];
        Ok((
            ValidatedBlock {
                block: validated,
                new_config: Some(config.clone()),
                tx_ids: vec![envelope.tx_id()],
            },
            channel,
        ))
    }

    /// Validates `block` as the next block on top of `state` under `channel`.
    pub fn validate_block<S: StateRead<Error = LedgerError> + ?Sized>(
        &self,
        channel: &ChannelState,
        state: &S,
        block: &Block,
    ) -> Result<ValidatedBlock, BlockError> {
        check_block_shape(block)?;
        check_chain(state, block)?;
        check_orderer_signature(channel, block)?;
        // Each id once: it hashes the creator's certificate.
        let tx_ids: Vec<TxId> = block.data.iter().map(Envelope::tx_id).collect();
        let plans: Vec<Plan<'_>> = block
            .data
            .iter()
            .zip(&tx_ids)
            .map(|(envelope, tx_id)| plan(channel, envelope, tx_id, block, self.own.as_deref()))
            .collect();
        let signatures_ok = self.verify_signatures(&plans)?;
        let mut updates = Updates::new();
        let mut seen = BTreeSet::new();
        let mut codes = Vec::with_capacity(plans.len());
        let mut new_config = None;
        for (((envelope, tx_id), plan), signatures_ok) in block
            .data
            .iter()
            .zip(&tx_ids)
            .zip(&plans)
            .zip(signatures_ok)
        {
            let tx_id = *tx_id;
            let first_in_block = seen.insert(tx_id);
            let code = match plan {
                Plan::Rejected(code) => *code,
                _ if !signatures_ok => ValidationCode::BadSignature,
                _ if !first_in_block || state.contains_transaction(&tx_id)? => {
                    ValidationCode::DuplicateTxId
                }
                Plan::Endorsed {
                    tx, endorsements, ..
                } => {
                    let endorsers: Vec<ValidatedIdentity> = endorsements
                        .iter()
                        .map(|check| check.signer.clone())
                        .collect();
                    check_endorsed(channel, state, &updates, tx, &endorsers)?
                }
                Plan::Config { config, .. } => {
                    new_config = Some(ChannelConfig::clone(config));
                    ValidationCode::Valid
                }
            };
            if code.is_valid()
                && let Payload::Transaction(tx) = &envelope.payload
            {
                apply_writes(&mut updates, tx);
            }
            debug!(block = block.header.number, %tx_id, %code, "validated");
            codes.push(code);
        }
        let mut validated = block.clone();
        validated.metadata.validation_codes = codes;
        Ok(ValidatedBlock {
            block: validated,
            new_config,
            tx_ids,
        })
    }

    /// Pass 2: every signature of the block in one batch; per plan, whether all of its
    /// signatures verified.
    fn verify_signatures(&self, plans: &[Plan<'_>]) -> Result<Vec<bool>, BlockError> {
        let mut jobs = Vec::new();
        let mut owners = Vec::new();
        for (index, plan) in plans.iter().enumerate() {
            let checks: Vec<&SignatureCheck<'_>> = match plan {
                Plan::Rejected(_) => Vec::new(),
                Plan::Endorsed {
                    creator,
                    endorsements,
                    ..
                } => core::iter::once(&**creator).chain(endorsements).collect(),
                Plan::Config { creator, .. } => vec![&**creator],
            };
            for check in checks.into_iter().filter(|check| !check.own) {
                jobs.push(VerifyJob {
                    public_key: check.signer.cert.public_key(),
                    message: &check.message,
                    signature: check.signature,
                });
                owners.push(index);
            }
        }
        let results = self.verifier.verify(&jobs)?;
        let mut ok = vec![true; plans.len()];
        for (owner, result) in owners.into_iter().zip(results) {
            if result.is_err()
                && let Some(slot) = ok.get_mut(owner)
            {
                *slot = false;
            }
        }
        Ok(ok)
    }
}

pub(crate) fn check_block_shape(block: &Block) -> Result<(), BlockError> {
    let number = block.header.number;
    block.check().map_err(|error| BlockError::Malformed {
        number,
        reason: error.to_string(),
    })?;
    if block.data.is_empty() {
        return Err(BlockError::Malformed {
            number,
            reason: "a block holds at least one envelope".to_owned(),
        });
    }
    block
        .verify_data_hash()
        .map_err(|_| BlockError::WrongDataHash { number })
}

fn check_chain<S: StateRead<Error = LedgerError> + ?Sized>(
    state: &S,
    block: &Block,
) -> Result<(), BlockError> {
    let number = block.header.number;
    let expected = state.state_height();
    if number != expected {
        return Err(BlockError::WrongNumber { number, expected });
    }
    if Some(block.header.previous_hash) != state.last_block_hash() {
        return Err(BlockError::WrongPreviousHash { number });
    }
    Ok(())
}

/// At least one orderer signature must be a consenter's of the configuration in force and
/// verify (`msp::verify_consenter_signature`, as the orderers judge catch-up blocks): an
/// orderer-role certificate a carrier mints is no consenter. Certificates are judged at
/// the block's time (the orderers' clock, covered by the signature), never a client's.
pub(crate) fn check_orderer_signature(
    channel: &ChannelState,
    block: &Block,
) -> Result<(), BlockError> {
    let at = i64::try_from(block.header.timestamp.unix_time_ms / 1000).unwrap_or(i64::MAX);
    netsettle_msp::verify_consenter_signature(channel, block, at)
        .map(|_| ())
        .map_err(|error| BlockError::NoOrdererSignature {
            number: block.header.number,
            reason: error.to_string(),
        })
}

/// Checks a block's time against the previous block's (never backwards) and against the
/// committing peer's clock `now_ms` (not further ahead than `ENVELOPE_TIME_SKEW_SECS_MAX`,
/// so a leader's clock far ahead cannot end deadlines early). The shell calls it before
/// [`Validator::validate_block`]; the clock makes it the only time-dependent check, and a
/// block it refuses for being early is committed once the clock catches up.
pub fn check_block_time(previous_ms: u64, block: &Block, now_ms: u64) -> Result<(), BlockError> {
    let number = block.header.number;
    let time_ms = block.header.timestamp.unix_time_ms;
    if time_ms < previous_ms {
        return Err(BlockError::TimeGoesBack {
            number,
            time_ms,
            previous_ms,
        });
    }
    let ahead_ms_max = ENVELOPE_TIME_SKEW_SECS_MAX.saturating_mul(1000);
    if time_ms > now_ms.saturating_add(ahead_ms_max) {
        return Err(BlockError::TimeInTheFuture {
            number,
            time_ms,
            now_ms,
        });
    }
    Ok(())
}

/// Whether the transaction's timestamp (its client's clock) is within
/// `ENVELOPE_TIME_SKEW_SECS_MAX` of its block's time (the orderers' clock): what makes
/// the proposal time a contract judges by trustworthy to that bound, whichever orderer
/// ordered it and however long the envelope was held.
fn within_time_bound(header: &Header, block: &Block) -> bool {
    let skew_ms_max = ENVELOPE_TIME_SKEW_SECS_MAX.saturating_mul(1000);
    header
        .timestamp
        .unix_time_ms
        .abs_diff(block.header.timestamp.unix_time_ms)
        <= skew_ms_max
}

/// The transaction's time in unix seconds, for certificate validity.
fn unix_seconds(header: &Header) -> i64 {
    i64::try_from(header.timestamp.unix_time_ms / 1000).unwrap_or(i64::MAX)
}

/// The code for an identity the MSPs refused.
fn identity_code(error: &MspError) -> ValidationCode {
    match error {
        MspError::Expired { .. } | MspError::NotYetValid { .. } => ValidationCode::ExpiredCert,
        MspError::Revoked { .. } => ValidationCode::RevokedCert,
        _ => ValidationCode::BadCreator,
    }
}

/// Pass 1 for one envelope.
fn plan<'b>(
    channel: &ChannelState,
    envelope: &'b Envelope,
    tx_id: &TxId,
    block: &Block,
    own: Option<&OwnEndorsements>,
) -> Plan<'b> {
    let n_envelopes = block.data.len();
    let header = envelope.header();
    if header.channel != channel.config.channel {
        return Plan::Rejected(ValidationCode::WrongChannel);
    }
    if !within_time_bound(header, block) {
        return Plan::Rejected(ValidationCode::TimestampOutOfRange);
    }
    let at = unix_seconds(header);
    let creator = match channel.msps.validate(&header.creator, at) {
        Ok(creator) => creator,
        Err(error) => return Plan::Rejected(identity_code(&error)),
    };
    let Ok(message) = signed_message(domain::ENVELOPE, &envelope.payload, None) else {
        return Plan::Rejected(ValidationCode::BadPayload);
    };
    let creator = SignatureCheck {
        message,
        signer: creator,
        signature: &envelope.signature,
        own: false,
    };
    match &envelope.payload {
        Payload::Transaction(tx) => {
            let own = own.map(|own| (own, tx_id));
            plan_transaction(channel, tx, creator, at, own)
        }
        Payload::Config { config, .. } => plan_config(channel, config, creator, n_envelopes, at),
        // Orderers turn updates into config envelopes; an update in a block is a bug.
        Payload::ConfigUpdate { .. } => Plan::Rejected(ValidationCode::InvalidConfig),
    }
}

fn plan_transaction<'b>(
    channel: &ChannelState,
    tx: &'b Transaction,
    creator: SignatureCheck<'b>,
    at: i64,
    own: Option<(&OwnEndorsements, &TxId)>,
) -> Plan<'b> {
    let msps = &channel.msps;
    let writers = &channel.config.policies.writers;
    if msps
        .evaluate(writers, std::slice::from_ref(&creator.signer))
        .is_err()
    {
        return Plan::Rejected(ValidationCode::BadCreator);
    }
    let answers_proposal = tx
        .proposal
        .hash()
        .is_ok_and(|hash| hash == tx.response.proposal_hash);
    if !answers_proposal || tx.response.action.contract != tx.proposal.contract {
        return Plan::Rejected(ValidationCode::BadPayload);
    }
    if tx.response.action.response.status >= netsettle_protocol::Response::ERROR_THRESHOLD {
        return Plan::Rejected(ValidationCode::ContractError);
    }
    let mut endorsements = Vec::with_capacity(tx.endorsements.len());
    for endorsement in &tx.endorsements {
        // An endorser the channel does not accept simply does not count towards the
        // policy, as in Fabric.
        let Ok(signer) = msps.validate(&endorsement.endorser, at) else {
            continue;
        };
        let Ok(message) = signed_message(
            domain::ENDORSEMENT,
            &tx.response,
            Some(&endorsement.endorser),
        ) else {
            return Plan::Rejected(ValidationCode::BadPayload);
        };
        let own = own.is_some_and(|(own, tx_id)| {
            own.is_own(
                tx_id,
                &endorsement.endorser,
                &message,
                &endorsement.signature,
            )
        });
        endorsements.push(SignatureCheck {
            message,
            signer,
            signature: &endorsement.signature,
            own,
        });
    }
    Plan::Endorsed {
        tx,
        creator: Box::new(creator),
        endorsements,
    }
}

fn plan_config<'b>(
    channel: &ChannelState,
    config: &ConfigEnvelope,
    creator: SignatureCheck<'b>,
    n_envelopes: usize,
    at: i64,
) -> Plan<'b> {
    let Some(update) = &config.last_update else {
        return Plan::Rejected(ValidationCode::InvalidConfig);
    };
    if n_envelopes != 1 || creator.signer.role != Role::Orderer {
        return Plan::Rejected(ValidationCode::InvalidConfig);
    }
    match check_config_update(&channel.config, &channel.msps, update, at) {
        Ok(accepted) if accepted.config == config.config => Plan::Config {
            config: Box::new(accepted.config),
            creator: Box::new(creator),
        },
        Ok(_) => Plan::Rejected(ValidationCode::InvalidConfig),
        Err(error) => {
            debug!(%error, "config update refused");
            Plan::Rejected(ValidationCode::InvalidConfig)
        }
    }
}

/// `tag ‖ encode(value)` and, for endorsements, `‖ bincode(signer)`: the bytes the
/// protocol's signatures cover (see the table in `netsettle_protocol`). Built here so the
/// whole block's signatures can go to one parallel batch; a test pins it to the
/// protocol's own `verify`.
pub(crate) fn signed_message<T: netsettle_protocol::Wire>(
    tag: &[u8],
    value: &T,
    signer: Option<&Identity>,
) -> Result<Vec<u8>, netsettle_protocol::CodecError> {
    let encoded = encode(value)?;
    let mut out = Vec::with_capacity(tag.len() + encoded.len() + 64);
    out.extend_from_slice(tag);
    out.extend_from_slice(&encoded);
    if let Some(signer) = signer {
        // bincode with fixed-width little-endian lengths: each field as u64 length, bytes.
        for field in [signer.msp_id.as_bytes(), signer.cert_der.as_slice()] {
            let len = u64::try_from(field.len()).unwrap_or(u64::MAX);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(field);
        }
    }
    Ok(out)
}

/// Pass 3 for an endorsed transaction whose signatures all verified.
fn check_endorsed<S: StateRead<Error = LedgerError> + ?Sized>(
    channel: &ChannelState,
    state: &S,
    updates: &Updates,
    tx: &Transaction,
    endorsers: &[ValidatedIdentity],
) -> Result<ValidationCode, BlockError> {
    let contract = &tx.proposal.contract;
    let policy = match endorsement_policy(channel, state, updates, contract)? {
        Ok(policy) => policy,
        Err(code) => return Ok(code),
    };
    if let Some(code) = check_rw_set_rules(&contract.name, tx) {
        return Ok(code);
    }
    if let Err(error) = channel.msps.evaluate(&policy, endorsers) {
        debug!(%error, "endorsement policy not satisfied");
        return Ok(ValidationCode::EndorsementPolicyFailure);
    }
    for namespace in &tx.response.action.rw_set.namespaces {
        if let Some(code) = check_reads(state, updates, namespace)? {
            return Ok(code);
        }
    }
    Ok(ValidationCode::Valid)
}

/// The endorsement policy of the contract, from its definition as of this point in the
/// block; `Err(code)` when the contract or version is not defined.
fn endorsement_policy<S: StateRead<Error = LedgerError> + ?Sized>(
    channel: &ChannelState,
    state: &S,
    updates: &Updates,
    contract: &netsettle_protocol::ContractId,
) -> Result<Result<Policy, ValidationCode>, BlockError> {
    if contract.name == LIFECYCLE_NAMESPACE {
        return Ok(Ok(channel.config.policies.endorsement.clone()));
    }
    let Ok(key) = definition_key(&contract.name) else {
        return Ok(Err(ValidationCode::UnknownContract));
    };
    let bytes = match updates.get(LIFECYCLE_NAMESPACE).and_then(|ns| ns.get(&key)) {
        Some(value) => value.clone(),
        None => state
            .state(LIFECYCLE_NAMESPACE, &key)?
            .map(|versioned| versioned.value),
    };
    let Some(definition) = bytes.and_then(|bytes| decode_definition(&bytes).ok()) else {
        return Ok(Err(ValidationCode::UnknownContract));
    };
    if definition.version != contract.version {
        return Ok(Err(ValidationCode::UnknownContract));
    }
    Ok(Ok(definition.endorsement_policy))
}

/// A transaction touches only its contract's namespace, and every write is one the
/// ledger can store.
fn check_rw_set_rules(contract: &str, tx: &Transaction) -> Option<ValidationCode> {
    for namespace in &tx.response.action.rw_set.namespaces {
        if namespace.namespace != contract {
            return Some(ValidationCode::BadRwSet);
        }
        let reads_ok = namespace
            .reads
            .iter()
            .all(|read| check_key(read.key.as_bytes()).is_ok());
        let writes_ok = namespace
            .writes
            .iter()
            .all(|write| check_write(&namespace.namespace, &write.key).is_ok());
        if !reads_ok || !writes_ok {
            return Some(ValidationCode::BadRwSet);
        }
    }
    None
}

/// MVCC: every point read saw the version still in force, and every range would return
/// the same keys now. `None` when all reads hold.
fn check_reads<S: StateRead<Error = LedgerError> + ?Sized>(
    state: &S,
    updates: &Updates,
    namespace: &NamespaceReadWriteSet,
) -> Result<Option<ValidationCode>, BlockError> {
    let ns_updates = updates.get(&namespace.namespace);
    for read in &namespace.reads {
        if ns_updates.is_some_and(|keys| keys.contains_key(&read.key)) {
            return Ok(Some(ValidationCode::MvccReadConflict));
        }
        let current = state
            .state(&namespace.namespace, &read.key)?
            .map(|value| value.version);
        if current != read.version {
            return Ok(Some(ValidationCode::MvccReadConflict));
        }
    }
    for range in &namespace.range_queries {
        if let Some(code) = check_range(state, ns_updates, &namespace.namespace, range)? {
            return Ok(Some(code));
        }
    }
    Ok(None)
}

fn check_range<S: StateRead<Error = LedgerError> + ?Sized>(
    state: &S,
    ns_updates: Option<&BTreeMap<String, Option<Vec<u8>>>>,
    namespace: &str,
    range: &RangeQueryRead,
) -> Result<Option<ValidationCode>, BlockError> {
    // A range not read to its end covers only up to its last key.
    let last = range.reads.last().map(|read| read.key.as_str());
    let covered_end = if range.exhausted { None } else { last };
    if !range.exhausted && last.is_none() {
        return Ok(Some(ValidationCode::BadRwSet));
    }
    let lower = if range.start_key.is_empty() {
        "\u{1}"
    } else {
        &range.start_key
    };
    let in_range = |key: &str| {
        key >= lower
            && (range.end_key.is_empty() || key < range.end_key.as_str())
            && covered_end.is_none_or(|last| key <= last)
    };
    if ns_updates.is_some_and(|keys| keys.keys().any(|key| in_range(key))) {
        return Ok(Some(ValidationCode::PhantomReadConflict));
    }
    let fetch = range
        .reads
        .len()
        .saturating_add(usize::from(range.exhausted));
    if fetch > RANGE_ENTRIES_MAX {
        return Ok(Some(ValidationCode::BadRwSet));
    }
    let page = match state.state_range(namespace, &range.start_key, &range.end_key, fetch) {
        Ok(page) => page,
        Err(LedgerError::Key(_)) => return Ok(Some(ValidationCode::BadRwSet)),
        Err(error) => return Err(error.into()),
    };
    let same = page.entries.len() == range.reads.len()
        && page.entries.iter().zip(&range.reads).all(|(entry, read)| {
            entry.key == read.key && Some(entry.value.version) == read.version
        });
    Ok((!same).then_some(ValidationCode::PhantomReadConflict))
}

/// Adds a valid transaction's writes to the in-block updates.
fn apply_writes(updates: &mut Updates, tx: &Transaction) {
    for (namespace, write) in tx.response.action.rw_set.writes() {
        updates
            .entry(namespace.to_owned())
            .or_default()
            .insert(write.key.clone(), write.value.clone());
    }
}

#[cfg(test)]
mod tests {
    use netsettle_protocol::{
        ContractAction, ContractId, Endorsement, Identity, ProposalResponsePayload, ReadWriteSet,
        Response,
    };
    use netsettle_smcrypto::{PrivateKey, sm3};

    use super::*;

    /// The batch verifier checks bytes built here; they must be exactly what the
    /// protocol signs, or every endorsement would fail.
    #[test]
    fn signed_messages_match_the_protocol() {
        let key = PrivateKey::generate();
        let endorser = Identity {
            msp_id: "UnicomMSP".to_owned(),
            cert_der: vec![0x30, 0x82, 0x01, 0x02, 7, 7, 7],
        };
        let payload = ProposalResponsePayload {
            proposal_hash: sm3(b"proposal"),
            action: ContractAction {
                contract: ContractId {
                    name: "kv".to_owned(),
                    version: "1.0".to_owned(),
                },
                rw_set: ReadWriteSet::default(),
                response: Response {
                    status: 200,
                    message: String::new(),
                    payload: b"ok".to_vec(),
                },
                events: Vec::new(),
            },
        };
        let endorsement = Endorsement::sign(&key, endorser.clone(), &payload).unwrap();
        let message = signed_message(domain::ENDORSEMENT, &payload, Some(&endorser)).unwrap();
        assert!(
            key.public_key()
                .verify(&message, &endorsement.signature)
                .is_ok()
        );
        let other = Identity {
            msp_id: "MobileMSP".to_owned(),
            ..endorser
        };
        let message = signed_message(domain::ENDORSEMENT, &payload, Some(&other)).unwrap();
        assert!(
            key.public_key()
                .verify(&message, &endorsement.signature)
                .is_err()
        );
    }
}
