//! The simulator: the [`Context`] a contract runs in while a peer endorses a proposal, and
//! when [`MemoryState`](crate::MemoryState) runs it in tests and the audit replay.
//!
//! It reads committed state through a [`StateRead`] view fixed at one height and records
//! what the contract did as a canonical read–write set: point reads with the version seen
//! (the first read of a key; later reads see the same snapshot), writes and deletes (the
//! last one per key wins), and range scans with every committed key they returned. Reads
//! see the invocation's own writes (read-your-writes); a key read only after this
//! invocation wrote it records no read, since its value did not come from the ledger.
//! Maps are `BTreeMap`s, so the set comes out sorted by key as the protocol requires and
//! two honest endorsers produce byte-identical results.
//!
//! Simulation never writes state: [`StateRead`] has no write method, and the recorded set
//! only reaches the ledger once its transaction is ordered, validated and committed.

use std::collections::BTreeMap;
use std::ops::Bound;

use netsettle_protocol::limits::{EVENT_PAYLOAD_BYTES_MAX, NAME_BYTES_MAX, VALUE_BYTES_MAX};
use netsettle_protocol::{
    ContractEvent, HistoryEntry, KvRead, KvWrite, NamespaceReadWriteSet, RangeQueryRead,
    ReadWriteSet, Timestamp, TxId, Version, check_key, in_simple_range,
};

use crate::contract::{Context, ContractError, Creator};
use crate::limits::{
    HISTORY_ENTRIES_MAX, RANGE_ENTRIES_MAX, SIMULATION_ENTRIES_MAX, SIMULATION_EVENTS_MAX,
    SIMULATION_RANGE_QUERIES_MAX, SIMULATION_WRITE_BYTES_MAX,
};
use crate::state::StateRead;

/// Who runs what, where: the parts of a proposal a contract may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The channel.
    pub channel: String,
    /// The namespace the contract reads and writes (its name).
    pub namespace: String,
    /// The proposal's transaction id.
    pub tx_id: TxId,
    /// The proposal's timestamp.
    pub timestamp: Timestamp,
    /// The validated creator.
    pub creator: Creator,
}

/// What one simulation produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Simulation {
    /// The canonical read–write set.
    pub rw_set: ReadWriteSet,
    /// Events emitted, in order.
    pub events: Vec<ContractEvent>,
}

/// A [`Context`] over committed state that records the read–write set.
pub struct Simulator<'s, S: StateRead + ?Sized> {
    state: &'s S,
    invocation: Invocation,
    reads: BTreeMap<String, Option<Version>>,
    writes: BTreeMap<String, Option<Vec<u8>>>,
    range_queries: Vec<RangeQueryRead>,
    events: Vec<ContractEvent>,
    /// Reads, writes, range reads and range queries recorded, against
    /// [`SIMULATION_ENTRIES_MAX`].
    entries: usize,
    /// Bytes of values currently written, against [`SIMULATION_WRITE_BYTES_MAX`].
    write_bytes: usize,
}

impl<S: StateRead + ?Sized> core::fmt::Debug for Simulator<'_, S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Simulator")
            .field("invocation", &self.invocation)
            .field("entries", &self.entries)
            .finish_non_exhaustive()
    }
}

impl<'s, S: StateRead + ?Sized> Simulator<'s, S> {
    /// A simulator reading `state` for `invocation`.
    pub fn new(state: &'s S, invocation: Invocation) -> Self {
        Simulator {
            state,
            invocation,
            reads: BTreeMap::new(),
            writes: BTreeMap::new(),
            range_queries: Vec::new(),
            events: Vec::new(),
            entries: 0,
            write_bytes: 0,
        }
    }

    /// The read–write set and events recorded so far.
    pub fn finish(self) -> Simulation {
        let namespace = NamespaceReadWriteSet {
            namespace: self.invocation.namespace,
            reads: self
                .reads
                .into_iter()
                .map(|(key, version)| KvRead { key, version })
                .collect(),
            range_queries: self.range_queries,
            writes: self
                .writes
                .into_iter()
                .map(|(key, value)| KvWrite { key, value })
                .collect(),
        };
        let touched = !(namespace.reads.is_empty()
            && namespace.writes.is_empty()
            && namespace.range_queries.is_empty());
        Simulation {
            rw_set: ReadWriteSet {
                namespaces: if touched { vec![namespace] } else { Vec::new() },
            },
            events: self.events,
        }
    }

    fn count_entries(&mut self, n: usize) -> Result<(), ContractError> {
        let entries = self.entries.saturating_add(n);
        if entries > SIMULATION_ENTRIES_MAX {
            return Err(ContractError::State(format!(
                "the read-write set would exceed {SIMULATION_ENTRIES_MAX} entries"
            )));
        }
        self.entries = entries;
        Ok(())
    }

    fn record_write(&mut self, key: &str, value: Option<Vec<u8>>) -> Result<(), ContractError> {
        check_key(key.as_bytes()).map_err(|error| ContractError::bad_request(error.to_string()))?;
        let new_len = value.as_ref().map_or(0, Vec::len);
        if new_len > VALUE_BYTES_MAX {
            return Err(ContractError::too_large(format!(
                "a value may hold at most {VALUE_BYTES_MAX} bytes"
            )));
        }
        let old_len = match self.writes.get(key) {
            Some(old) => old.as_ref().map_or(0, Vec::len),
            None => {
                self.count_entries(1)?;
                0
            }
        };
        let write_bytes = self
            .write_bytes
            .saturating_sub(old_len)
            .saturating_add(new_len);
        if write_bytes > SIMULATION_WRITE_BYTES_MAX {
            return Err(ContractError::too_large(format!(
                "one transaction may write at most {SIMULATION_WRITE_BYTES_MAX} bytes"
            )));
        }
        self.write_bytes = write_bytes;
        self.writes.insert(key.to_owned(), value);
        Ok(())
    }

    /// Own writes inside `[start, end)` with the same bounds every state view applies (an
    /// empty start skips composite keys, an empty end is open).
    fn own_writes_in<'w>(
        writes: &'w BTreeMap<String, Option<Vec<u8>>>,
        start: &'w str,
        end: &'w str,
    ) -> impl Iterator<Item = (&'w String, &'w Option<Vec<u8>>)> {
        writes
            .range::<str, _>((Bound::Included(start), Bound::Unbounded))
            .skip_while(move |(key, _)| !in_simple_range(key, start, end))
            .take_while(move |(key, _)| in_simple_range(key, start, end))
    }
}

fn state_error(error: impl std::error::Error) -> ContractError {
    ContractError::State(error.to_string())
}

impl<S: StateRead + ?Sized> Context for Simulator<'_, S> {
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
        if let Some(written) = self.writes.get(key) {
            return Ok(written.clone());
        }
        check_key(key.as_bytes()).map_err(|error| ContractError::bad_request(error.to_string()))?;
        let value = self
            .state
            .state(&self.invocation.namespace, key)
            .map_err(state_error)?;
        if !self.reads.contains_key(key) {
            self.count_entries(1)?;
            self.reads
                .insert(key.to_owned(), value.as_ref().map(|value| value.version));
        }
        Ok(value.map(|value| value.value))
    }

    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), ContractError> {
        self.record_write(key, Some(value.to_vec()))
    }

    fn delete(&mut self, key: &str) -> Result<(), ContractError> {
        self.record_write(key, None)
    }

    fn range(
        &mut self,
        start_key: &str,
        end_key: &str,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, ContractError> {
        if limit == 0 || limit > RANGE_ENTRIES_MAX {
            return Err(ContractError::bad_request(format!(
                "a range may return between 1 and {RANGE_ENTRIES_MAX} entries"
            )));
        }
        if !end_key.is_empty() && end_key < start_key {
            return Err(ContractError::bad_request("range end is before its start"));
        }
        if self.range_queries.len() >= SIMULATION_RANGE_QUERIES_MAX {
            return Err(ContractError::State(format!(
                "one transaction may run at most {SIMULATION_RANGE_QUERIES_MAX} range queries"
            )));
        }
        // Own writes in the range may hide committed keys (deletes) or add keys; fetch
        // enough committed entries that `limit` survive the overlay.
        let n_own = Self::own_writes_in(&self.writes, start_key, end_key).count();
        let fetch = limit.saturating_add(n_own).min(RANGE_ENTRIES_MAX);
        let page = self
            .state
            .state_range(&self.invocation.namespace, start_key, end_key, fetch)
            .map_err(state_error)?;
        self.count_entries(page.entries.len().saturating_add(1))?;
        let exhausted = page.next.is_none();
        let last_fetched = page.entries.last().map(|entry| entry.key.clone());
        let mut merged: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut reads = Vec::with_capacity(page.entries.len());
        for entry in page.entries {
            reads.push(KvRead {
                key: entry.key.clone(),
                version: Some(entry.value.version),
            });
            merged.insert(entry.key, entry.value.value);
        }
        for (key, value) in Self::own_writes_in(&self.writes, start_key, end_key) {
            // Beyond the last committed key fetched, unseen committed keys could sort
            // before an own write, so the overlay stops there.
            if !exhausted && last_fetched.as_ref().is_some_and(|last| key > last) {
                break;
            }
            match value {
                Some(value) => merged.insert(key.clone(), value.clone()),
                None => merged.remove(key),
            };
        }
        self.range_queries.push(RangeQueryRead {
            start_key: start_key.to_owned(),
            end_key: end_key.to_owned(),
            exhausted,
            reads,
        });
        Ok(merged.into_iter().take(limit).collect())
    }

    fn history(&mut self, key: &str, limit: usize) -> Result<Vec<HistoryEntry>, ContractError> {
        if limit == 0 || limit > HISTORY_ENTRIES_MAX {
            return Err(ContractError::bad_request(format!(
                "a history read may return between 1 and {HISTORY_ENTRIES_MAX} entries"
            )));
        }
        check_key(key.as_bytes()).map_err(|error| ContractError::bad_request(error.to_string()))?;
        self.state
            .history(&self.invocation.namespace, key, limit)
            .map_err(state_error)
    }

    fn emit_event(&mut self, name: &str, payload: &[u8]) -> Result<(), ContractError> {
        if name.is_empty() || name.len() > NAME_BYTES_MAX {
            return Err(ContractError::bad_request(format!(
                "an event name must have 1 to {NAME_BYTES_MAX} bytes"
            )));
        }
        if payload.len() > EVENT_PAYLOAD_BYTES_MAX {
            return Err(ContractError::too_large(format!(
                "an event payload may hold at most {EVENT_PAYLOAD_BYTES_MAX} bytes"
            )));
        }
        if self.events.len() >= SIMULATION_EVENTS_MAX {
            return Err(ContractError::State(format!(
                "one transaction may emit at most {SIMULATION_EVENTS_MAX} events"
            )));
        }
        self.events.push(ContractEvent {
            name: name.to_owned(),
            payload: payload.to_vec(),
        });
        Ok(())
    }
}
