//! Committed state in memory: a [`StateRead`] over `BTreeMap`s that runs a contract
//! through the same [`Simulator`] a peer endorses with and applies the writes of each
//! successful call as a block of its own.
//!
//! Contract tests drive whole workflows through it, and the settlement audit replays a
//! channel's committed transactions on it to re-derive their results. Since the simulator
//! is the peer's, a contract sees here exactly what it sees on a peer: read-your-writes,
//! range reads that skip composite keys, the simulation limits, history of committed
//! writes with their versions. What it leaves out is the peer's business: no signatures,
//! no endorsement policy, no MVCC (calls run one after another, so no read is ever
//! stale), and a failed call simply leaves nothing behind.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use netsettle_protocol::{
    HistoryEntry, KeyError, Page, ReadWriteSet, StateEntry, TxId, Version, VersionedValue,
    check_key, check_namespace, in_simple_range,
};
use netsettle_smcrypto::Hash;

use crate::contract::{Contract, ContractError};
use crate::limits::{HISTORY_ENTRIES_MAX, RANGE_ENTRIES_MAX};
use crate::simulator::{Invocation, Simulation, Simulator};
use crate::state::StateRead;

/// Why [`MemoryState`] refused a read: the same refusals a ledger makes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryStateError {
    /// A namespace or key breaks the protocol's key rules.
    #[error("invalid key: {0}")]
    Key(#[from] KeyError),
    /// A query asked for no entries or more than one page may hold.
    #[error("a page of {requested} entries is outside 1..={max}")]
    PageTooLarge {
        /// Entries asked for.
        requested: usize,
        /// The most one page may hold.
        max: usize,
    },
}

/// What one successful call produced and where it was committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    /// The response payload.
    pub payload: Vec<u8>,
    /// The read–write set and events the simulator recorded.
    pub simulation: Simulation,
    /// The block (and transaction 0) the writes were committed at.
    pub version: Version,
}

impl Execution {
    /// Bytes of the keys and values the call wrote: what its write set adds to a block.
    pub fn written_bytes(&self) -> usize {
        self.simulation
            .rw_set
            .namespaces
            .iter()
            .flat_map(|namespace| &namespace.writes)
            .map(|write| {
                write
                    .key
                    .len()
                    .saturating_add(write.value.as_ref().map_or(0, Vec::len))
            })
            .fold(0, usize::saturating_add)
    }
}

/// Committed state, key history and transaction ids, one block per committed call.
#[derive(Debug, Clone, Default)]
pub struct MemoryState {
    /// Namespace → key → value and version.
    state: BTreeMap<String, BTreeMap<String, VersionedValue>>,
    /// (namespace, key) → committed writes, oldest first.
    history: BTreeMap<(String, String), Vec<HistoryEntry>>,
    transactions: BTreeSet<TxId>,
    height: u64,
}

impl MemoryState {
    /// An empty state at height 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Blocks committed so far.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// The committed value and version of `key` in `namespace`.
    pub fn value(&self, namespace: &str, key: &str) -> Option<&VersionedValue> {
        self.state.get(namespace)?.get(key)
    }

    /// Total bytes of keys and values in the state.
    pub fn state_bytes(&self) -> usize {
        self.state
            .values()
            .flat_map(BTreeMap::iter)
            .map(|(key, value)| key.len().saturating_add(value.value.len()))
            .fold(0, usize::saturating_add)
    }

    /// Simulates `function` with `args` as `invocation` and, if the contract succeeds,
    /// commits its writes as the next block. A failed call changes nothing.
    pub fn execute(
        &mut self,
        contract: &dyn Contract,
        invocation: &Invocation,
        function: &str,
        args: &[Vec<u8>],
    ) -> Result<Execution, ContractError> {
        let (payload, simulation) = self.simulate(contract, invocation, function, args)?;
        let version = self.commit(invocation.tx_id, &simulation.rw_set);
        Ok(Execution {
            payload,
            simulation,
            version,
        })
    }

    /// Simulates `function` with `args` as `invocation` and commits nothing (a query).
    pub fn query(
        &self,
        contract: &dyn Contract,
        invocation: &Invocation,
        function: &str,
        args: &[Vec<u8>],
    ) -> Result<Vec<u8>, ContractError> {
        Ok(self.simulate(contract, invocation, function, args)?.0)
    }

    /// Commits the writes of `rw_set` as transaction 0 of the next block and records
    /// `tx_id`; returns that version. The set comes from a [`Simulator`] over this state,
    /// so its keys already meet the key rules.
    pub fn commit(&mut self, tx_id: TxId, rw_set: &ReadWriteSet) -> Version {
        let version = Version {
            block: self.height,
            tx: 0,
        };
        for namespace in &rw_set.namespaces {
            let state = self.state.entry(namespace.namespace.clone()).or_default();
            for write in &namespace.writes {
                self.history
                    .entry((namespace.namespace.clone(), write.key.clone()))
                    .or_default()
                    .push(HistoryEntry {
                        version,
                        tx_id,
                        value: write.value.clone(),
                    });
                match &write.value {
                    Some(value) => state.insert(
                        write.key.clone(),
                        VersionedValue {
                            value: value.clone(),
                            version,
                        },
                    ),
                    None => state.remove(&write.key),
                };
            }
        }
        self.transactions.insert(tx_id);
        self.height = self.height.saturating_add(1);
        version
    }

    fn simulate(
        &self,
        contract: &dyn Contract,
        invocation: &Invocation,
        function: &str,
        args: &[Vec<u8>],
    ) -> Result<(Vec<u8>, Simulation), ContractError> {
        let mut simulator = Simulator::new(self, invocation.clone());
        let payload = contract.invoke(&mut simulator, function, args)?;
        Ok((payload, simulator.finish()))
    }
}

fn check_page(limit: usize, max: usize) -> Result<(), MemoryStateError> {
    if limit == 0 || limit > max {
        return Err(MemoryStateError::PageTooLarge {
            requested: limit,
            max,
        });
    }
    Ok(())
}

impl StateRead for MemoryState {
    type Error = MemoryStateError;

    fn state_height(&self) -> u64 {
        self.height
    }

    /// There are no blocks, only their writes.
    fn last_block_hash(&self) -> Option<Hash> {
        None
    }

    fn state(&self, namespace: &str, key: &str) -> Result<Option<VersionedValue>, Self::Error> {
        check_namespace(namespace)?;
        check_key(key.as_bytes())?;
        Ok(self.value(namespace, key).cloned())
    }

    fn state_range(
        &self,
        namespace: &str,
        start: &str,
        end: &str,
        limit: usize,
    ) -> Result<Page<StateEntry, String>, Self::Error> {
        check_page(limit, RANGE_ENTRIES_MAX)?;
        check_namespace(namespace)?;
        for bound in [start, end].into_iter().filter(|bound| !bound.is_empty()) {
            check_key(bound.as_bytes())?;
        }
        let entries: Vec<StateEntry> = self
            .state
            .get(namespace)
            .into_iter()
            .flat_map(|keys| keys.range::<str, _>((Bound::Included(start), Bound::Unbounded)))
            .skip_while(|(key, _)| !in_simple_range(key, start, end))
            .take_while(|(key, _)| in_simple_range(key, start, end))
            .take(limit)
            .map(|(key, value)| StateEntry {
                key: key.clone(),
                value: value.clone(),
            })
            .collect();
        Ok(Page::of(entries, limit, |entry| entry.key.clone()))
    }

    fn history(
        &self,
        namespace: &str,
        key: &str,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, Self::Error> {
        check_page(limit, HISTORY_ENTRIES_MAX)?;
        check_namespace(namespace)?;
        check_key(key.as_bytes())?;
        Ok(self
            .history
            .get(&(namespace.to_owned(), key.to_owned()))
            .map(|entries| entries.iter().take(limit).cloned().collect())
            .unwrap_or_default())
    }

    fn contains_transaction(&self, tx_id: &TxId) -> Result<bool, Self::Error> {
        Ok(self.transactions.contains(tx_id))
    }
}

#[cfg(test)]
mod tests {
    use netsettle_protocol::{Role, Timestamp};
    use netsettle_smcrypto::sm3;

    use super::*;
    use crate::contract::{Context, Creator};

    /// Writes `args[0]` = `args[1]` and answers with a range over every simple key and
    /// the history of `args[0]`; `fail` writes and then refuses.
    struct Kv;

    impl Contract for Kv {
        fn id(&self) -> netsettle_protocol::ContractId {
            netsettle_protocol::ContractId {
                name: "kv".into(),
                version: "1".into(),
            }
        }

        fn package_digest(&self) -> Hash {
            sm3(b"kv")
        }

        fn invoke(
            &self,
            ctx: &mut dyn Context,
            function: &str,
            args: &[Vec<u8>],
        ) -> Result<Vec<u8>, ContractError> {
            let [key, value] = args else {
                return Err(ContractError::bad_request("two arguments"));
            };
            let key = String::from_utf8(key.clone())
                .map_err(|_| ContractError::bad_request("utf-8 key"))?;
            ctx.put(&key, value)?;
            if function == "fail" {
                return Err(ContractError::conflict("refused after writing"));
            }
            let keys: Vec<String> = ctx.range("", "", 10)?.into_iter().map(|(k, _)| k).collect();
            let versions: Vec<String> = ctx
                .history(&key, 10)?
                .iter()
                .map(|entry| entry.version.to_string())
                .collect();
            Ok(format!("{} | {}", keys.join(","), versions.join(",")).into_bytes())
        }
    }

    fn invocation(n: u8) -> Invocation {
        Invocation {
            channel: "ch".into(),
            namespace: "kv".into(),
            tx_id: TxId(sm3(&[n])),
            timestamp: Timestamp { unix_time_ms: 1 },
            creator: Creator {
                msp_id: "UnicomMSP".into(),
                role: Role::Client,
                common_name: "client".into(),
                fingerprint: sm3(b"client"),
                attributes: Default::default(),
            },
        }
    }

    fn call(state: &mut MemoryState, n: u8, function: &str, key: &str) -> Result<String, u32> {
        let args = [key.as_bytes().to_vec(), vec![n]];
        state
            .execute(&Kv, &invocation(n), function, &args)
            .map(|execution| String::from_utf8(execution.payload).unwrap())
            .map_err(|error| error.status())
    }

    #[test]
    fn calls_commit_one_block_each_and_see_their_own_writes() {
        let mut state = MemoryState::new();
        assert_eq!(call(&mut state, 1, "put", "b").unwrap(), "b | ");
        // History lists committed writes only; the range sees the own write of `a`.
        assert_eq!(call(&mut state, 2, "put", "a").unwrap(), "a,b | ");
        assert_eq!(call(&mut state, 3, "put", "b").unwrap(), "a,b | 0:0");
        assert_eq!(state.height(), 3);
        let b = state.value("kv", "b").unwrap();
        assert_eq!((b.value.as_slice(), b.version.block), (&[3u8][..], 2));
        assert!(state.contains_transaction(&TxId(sm3(&[2]))).unwrap());
    }

    #[test]
    fn a_failed_call_leaves_nothing_behind() {
        let mut state = MemoryState::new();
        call(&mut state, 1, "put", "a").unwrap();
        assert_eq!(call(&mut state, 2, "fail", "z"), Err(409));
        assert_eq!(state.height(), 1);
        assert_eq!(state.value("kv", "z"), None);
        assert_eq!(state.state_bytes(), 2);
    }

    #[test]
    fn ranges_skip_composite_keys_and_page_like_a_ledger() {
        let mut state = MemoryState::new();
        for (n, key) in [(1, "a"), (2, "b"), (3, "c"), (4, "\u{0}t\u{0}x\u{0}")] {
            call(&mut state, n, "put", key).unwrap();
        }
        let page = state.state_range("kv", "", "", 2).unwrap();
        let keys: Vec<&str> = page.entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!((keys, page.next.as_deref()), (vec!["a", "b"], Some("b")));
        let page = state.state_range("kv", "b", "", 5).unwrap();
        assert_eq!((page.entries.len(), page.next), (2, None));
        assert!(matches!(
            state.state_range("kv", "", "", 0),
            Err(MemoryStateError::PageTooLarge { .. })
        ));
        assert!(matches!(
            state.state("", "a"),
            Err(MemoryStateError::Key(KeyError::EmptyNamespace))
        ));
    }
}
