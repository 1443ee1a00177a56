//! An in-memory ledger for the contract: committed state, key history and one block per
//! successful call. Tests drive the whole workflow through it, and the audit replay
//! re-runs a period's transactions through it to re-derive the final data.
//!
//! It mirrors what the peer's simulator promises a contract (read-your-writes, history
//! of committed writes, events) but is not the peer: no MVCC, no endorsement, and a
//! failed call simply discards its writes.

use std::collections::BTreeMap;

use netsettle_peer::{Context, Contract, ContractError, Creator, KeyModification};
use netsettle_protocol::{Timestamp, TxId, Version};

/// One call: who, which transaction, when.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The channel.
    pub channel: String,
    /// The validated creator.
    pub creator: Creator,
    /// The transaction id.
    pub tx_id: TxId,
    /// The proposal time.
    pub timestamp: Timestamp,
}

/// What a successful call produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The response payload.
    pub payload: Vec<u8>,
    /// Events, in emission order.
    pub events: Vec<(String, Vec<u8>)>,
    /// Where the call was committed.
    pub version: Version,
    /// Bytes of keys and values the call wrote (its write set).
    pub written_bytes: usize,
}

/// Committed state and history.
#[derive(Debug, Clone, Default)]
pub struct MemoryLedger {
    state: BTreeMap<String, Vec<u8>>,
    history: BTreeMap<String, Vec<KeyModification>>,
    height: u64,
}

impl MemoryLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Blocks committed so far.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// Committed value of `key`.
    pub fn value(&self, key: &str) -> Option<&[u8]> {
        self.state.get(key).map(Vec::as_slice)
    }

    /// Total bytes of keys and values in the world state.
    pub fn state_bytes(&self) -> usize {
        self.state
            .iter()
            .map(|(key, value)| key.len().saturating_add(value.len()))
            .sum()
    }

    /// Runs `function` and, if it succeeds, commits its writes as the next block.
    pub fn execute(
        &mut self,
        contract: &dyn Contract,
        invocation: &Invocation,
        function: &str,
        args: &[Vec<u8>],
    ) -> Result<Outcome, ContractError> {
        let mut tx = MemoryTx {
            ledger: self,
            invocation,
            writes: BTreeMap::new(),
            events: Vec::new(),
        };
        let payload = contract.invoke(&mut tx, function, args)?;
        let MemoryTx { writes, events, .. } = tx;
        let written_bytes = writes
            .iter()
            .map(|(key, value)| key.len().saturating_add(value.as_ref().map_or(0, Vec::len)))
            .sum();
        let version = Version {
            block: self.height,
            tx: 0,
        };
        for (key, value) in writes {
            let modification = KeyModification {
                version,
                tx_id: invocation.tx_id,
                value: value.clone(),
            };
            self.history
                .entry(key.clone())
                .or_default()
                .push(modification);
            match value {
                Some(value) => self.state.insert(key, value),
                None => self.state.remove(&key),
            };
        }
        self.height = self.height.saturating_add(1);
        Ok(Outcome {
            payload,
            events,
            version,
            written_bytes,
        })
    }

    /// Runs a query: like [`MemoryLedger::execute`] but commits nothing.
    pub fn query(
        &self,
        contract: &dyn Contract,
        invocation: &Invocation,
        function: &str,
        args: &[Vec<u8>],
    ) -> Result<Vec<u8>, ContractError> {
        let mut tx = MemoryTx {
            ledger: self,
            invocation,
            writes: BTreeMap::new(),
            events: Vec::new(),
        };
        contract.invoke(&mut tx, function, args)
    }
}

struct MemoryTx<'l> {
    ledger: &'l MemoryLedger,
    invocation: &'l Invocation,
    writes: BTreeMap<String, Option<Vec<u8>>>,
    events: Vec<(String, Vec<u8>)>,
}

impl Context for MemoryTx<'_> {
    fn channel(&self) -> &str {
        &self.invocation.channel
    }

    fn tx_id(&self) -> &TxId {
        &self.invocation.tx_id
    }

    fn timestamp(&self) -> Timestamp {
        self.invocation.timestamp
    }

    fn creator(&self) -> &Creator {
        &self.invocation.creator
    }

    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, ContractError> {
        Ok(match self.writes.get(key) {
            Some(write) => write.clone(),
            None => self.ledger.state.get(key).cloned(),
        })
    }

    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), ContractError> {
        self.writes.insert(key.to_owned(), Some(value.to_vec()));
        Ok(())
    }

    fn delete(&mut self, key: &str) -> Result<(), ContractError> {
        self.writes.insert(key.to_owned(), None);
        Ok(())
    }

    fn range(
        &mut self,
        start_key: &str,
        end_key: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, ContractError> {
        let in_range = |key: &str| key >= start_key && (end_key.is_empty() || key < end_key);
        let mut merged: BTreeMap<String, Option<Vec<u8>>> = self
            .ledger
            .state
            .iter()
            .filter(|(key, _)| in_range(key))
            .map(|(key, value)| (key.clone(), Some(value.clone())))
            .collect();
        for (key, write) in self.writes.iter().filter(|(key, _)| in_range(key)) {
            merged.insert(key.clone(), write.clone());
        }
        Ok(merged
            .into_iter()
            .filter_map(|(key, value)| value.map(|value| (key, value)))
            .take(limit)
            .collect())
    }

    fn history(&mut self, key: &str, limit: usize) -> Result<Vec<KeyModification>, ContractError> {
        Ok(self
            .ledger
            .history
            .get(key)
            .map(|writes| writes.iter().take(limit).cloned().collect())
            .unwrap_or_default())
    }

    fn emit_event(&mut self, name: &str, payload: &[u8]) -> Result<(), ContractError> {
        self.events.push((name.to_owned(), payload.to_vec()));
        Ok(())
    }
}
