//! The native contract interface.
//!
//! A contract is Rust code compiled into the `netsettle` binary. The endorser calls
//! [`Contract::invoke`] with a [`Context`] that records every read and write into the
//! read–write set of the proposal; nothing a contract does reaches the world state until
//! its transaction is ordered, validated and committed.
//!
//! Contracts must be deterministic, because two carriers' peers run the same call and
//! their results must be byte-identical for the endorsement policy to be met: no clocks
//! (use [`Context::timestamp`], the proposal's time), no randomness, no floating point, no
//! I/O, and `BTreeMap` rather than `HashMap` for anything iterated into an output.

use std::collections::BTreeMap;

use netsettle_protocol::{ContractId, HistoryEntry, Role, Timestamp, TxId};
use netsettle_smcrypto::Hash;

/// A native contract. Implementations are stateless values; all state lives behind the
/// [`Context`].
pub trait Contract: Send + Sync + 'static {
    /// The contract's name and version as the lifecycle defines it on the channel.
    fn id(&self) -> ContractId;

    /// The digest that identifies this build of the contract: `install` records it and
    /// `approve` names it, so both carriers can see they run the same code. Derive it from
    /// something that changes whenever the contract's behaviour does (e.g. SM3 of the
    /// name, version and a code revision string).
    fn package_digest(&self) -> Hash;

    /// Runs `function` with `args`. The returned bytes become the response payload
    /// (status 200); an error becomes a response with its status and message, and the
    /// endorser signs nothing.
    fn invoke(
        &self,
        ctx: &mut dyn Context,
        function: &str,
        args: &[Vec<u8>],
    ) -> Result<Vec<u8>, ContractError>;
}

/// Who submitted the proposal, as the channel's MSPs validated it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creator {
    /// The organisation, e.g. `UnicomMSP`.
    pub msp_id: String,
    /// The role from the certificate's OU.
    pub role: Role,
    /// The certificate's subject common name, e.g. `settlement@unicom.example.com`.
    pub common_name: String,
    /// SM3 of the certificate DER.
    pub fingerprint: Hash,
    /// The certificate's `key=value` attributes (subject OUs such as
    /// `department=finance`), as the MSP parsed them from the validated certificate.
    pub attributes: BTreeMap<String, String>,
}

/// What a contract can see and do while it runs. Keys live in the contract's own
/// namespace; composite keys (see [`composite_key`]) are ordinary keys built from parts.
///
/// Reads see the committed state as of the start of the simulation plus this
/// invocation's own writes (read-your-writes).
pub trait Context {
    /// The channel the proposal is for.
    fn channel(&self) -> &str;
    /// The transaction id of the proposal.
    fn tx_id(&self) -> &TxId;
    /// The proposal's timestamp: the only clock a contract may read.
    fn timestamp(&self) -> Timestamp;
    /// The validated creator of the proposal.
    fn creator(&self) -> &Creator;

    /// Reads a key; `None` when it does not exist.
    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, ContractError>;
    /// Writes a key.
    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), ContractError>;
    /// Deletes a key (a no-op write if it does not exist).
    fn delete(&mut self, key: &str) -> Result<(), ContractError>;
    /// Keys in `[start_key, end_key)` in key order (empty `end_key`: to the end of the
    /// namespace), at most `limit` of them.
    fn range(
        &mut self,
        start_key: &str,
        end_key: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, ContractError>;
    /// Committed writes to `key`, oldest first, at most `limit`. History reads are not
    /// protected by MVCC (as in Fabric); use them for audit trails, not for decisions.
    fn history(&mut self, key: &str, limit: usize) -> Result<Vec<HistoryEntry>, ContractError>;
    /// Emits an event, delivered to subscribers once the transaction commits valid.
    fn emit_event(&mut self, name: &str, payload: &[u8]) -> Result<(), ContractError>;
}

/// The separator between the parts of a composite key (Fabric's layout; the protocol's
/// [`netsettle_protocol::COMPOSITE_KEY_SEPARATOR`] as a `char`).
const COMPOSITE_KEY_SEPARATOR: char = netsettle_protocol::COMPOSITE_KEY_SEPARATOR as char;

/// Builds the composite key `0x00 ‖ object_type ‖ 0x00 ‖ attr₁ ‖ 0x00 ‖ …`. Parts must not
/// be empty (except trailing attributes of a prefix) nor contain `0x00`.
pub fn composite_key(object_type: &str, attributes: &[&str]) -> Result<String, ContractError> {
    let mut key = String::new();
    key.push(COMPOSITE_KEY_SEPARATOR);
    for part in core::iter::once(&object_type).chain(attributes) {
        if part.contains(COMPOSITE_KEY_SEPARATOR) {
            return Err(ContractError::bad_request(
                "a composite key part contains the 0x00 separator",
            ));
        }
        key.push_str(part);
        key.push(COMPOSITE_KEY_SEPARATOR);
    }
    if object_type.is_empty() {
        return Err(ContractError::bad_request(
            "a composite key needs an object type",
        ));
    }
    Ok(key)
}

/// Splits a composite key into its object type and attributes; `None` when `key` is not
/// a composite key.
pub fn split_composite_key(key: &str) -> Option<(&str, Vec<&str>)> {
    let body = key
        .strip_prefix(COMPOSITE_KEY_SEPARATOR)?
        .strip_suffix(COMPOSITE_KEY_SEPARATOR)?;
    let mut parts = body.split(COMPOSITE_KEY_SEPARATOR);
    let object_type = parts.next().filter(|part| !part.is_empty())?;
    Some((object_type, parts.collect()))
}

/// The end key of a range scan over every key that starts with `prefix` (the prefix with
/// its last separator bumped to `0x01`).
pub fn prefix_end(prefix: &str) -> String {
    match prefix.strip_suffix(COMPOSITE_KEY_SEPARATOR) {
        Some(stem) => format!("{stem}\u{1}"),
        None => format!("{prefix}\u{10FFFF}"),
    }
}

/// Why a contract call failed. `Rejected` is the caller's fault and carries an
/// HTTP-style status for the response; `State` is a failure of the peer underneath.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContractError {
    /// The call was refused by the contract's rules (status 400–499).
    #[error("{status}: {message}")]
    Rejected {
        /// 400 bad request, 403 forbidden, 404 not found, 409 wrong state, 413 too large.
        status: u32,
        /// What was wrong, for the caller.
        message: String,
    },
    /// Reading or writing state failed, or a limit of the read–write set was reached.
    #[error("state access failed: {0}")]
    State(String),
}

impl ContractError {
    /// 400: malformed arguments.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::rejected(400, message)
    }
    /// 403: wrong carrier or role.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::rejected(403, message)
    }
    /// 404: unknown object.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::rejected(404, message)
    }
    /// 409: the object is in the wrong state for this step.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::rejected(409, message)
    }
    /// 413: an argument is over its size limit.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::rejected(413, message)
    }

    fn rejected(status: u32, message: impl Into<String>) -> Self {
        Self::Rejected {
            status,
            message: message.into(),
        }
    }

    /// The response status this error maps to.
    pub fn status(&self) -> u32 {
        match self {
            Self::Rejected { status, .. } => *status,
            Self::State(_) => 500,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composite_keys_round_trip_and_sort_by_prefix() {
        let key = composite_key("report", &["2026-10", "UnicomMSP"]).unwrap();
        assert_eq!(
            split_composite_key(&key),
            Some(("report", vec!["2026-10", "UnicomMSP"]))
        );
        let prefix = composite_key("report", &["2026-10"]).unwrap();
        assert!(key.starts_with(&prefix));
        let end = prefix_end(&prefix);
        assert!(key.as_str() < end.as_str());
        let other = composite_key("report", &["2026-11", "UnicomMSP"]).unwrap();
        assert!(other.as_str() >= end.as_str());
    }

    #[test]
    fn composite_key_parts_are_checked() {
        assert!(composite_key("", &["a"]).is_err());
        assert!(composite_key("report", &["a\u{0}b"]).is_err());
        assert_eq!(split_composite_key("plain"), None);
    }

    #[test]
    fn errors_map_to_statuses() {
        assert_eq!(ContractError::conflict("wrong state").status(), 409);
        assert_eq!(ContractError::State("disk".into()).status(), 500);
    }
}
