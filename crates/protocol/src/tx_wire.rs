//! The encoding of a [`Transaction`]: its endorsed result with every written value that
//! repeats one of the proposal's arguments sent as that argument's index instead of in
//! full.
//!
//! # Why
//!
//! A contract often stores an argument as it came: `upload` puts the sealed report, the
//! largest part of a settlement transaction, under its key. The proposal carries it as an
//! argument and the endorsed write set carries it again, so every envelope held it twice:
//! on every link to and between the orderers, in every Raft log and block store, in every
//! hash of the envelope (the e2e bench measured ~0.25 ms of CPU per KiB per transaction
//! across the consortium). Sent as a reference, the value crosses each of those once.
//!
//! # What stays the same
//!
//! Only the bytes of a `Transaction` change; the value in memory is the full one. What
//! endorsers sign is `encode(ProposalResponsePayload)`, the full result (that type keeps
//! its own encoding), and a validator checks their signatures over the result as decoded
//! here, with every reference resolved. So a reference the endorsers did not mean resolves
//! to a result they did not sign, and the transaction is invalid like any tampered one.
//!
//! # Canonical form
//!
//! Writes are taken in order (namespaces, then keys, as the write set is sorted). A
//! written value equal to an argument is sent as the index of the first argument with
//! those bytes, unless an earlier write already named that argument; every other value is
//! sent in full. Decoding refuses every other form (a value sent in full that should have
//! been named, a reference to a later duplicate or to an argument already named, an index
//! past the arguments), so each transaction has one encoding and `encode(decode(b)) == b`
//! holds as for every message ([`crate::codec`]). A written value is `0` (delete),
//! `1 ‖ bytes` (the only form before references existed) or `2 ‖ u32 index`.
//!
//! # Limit
//!
//! References expand on decoding. Each argument is named at most once, so the values they
//! expand to add up to no more than the arguments themselves: a transaction takes at most
//! twice its encoded size in memory, as before (an envelope naming one large argument
//! many times could otherwise make every node that decodes a block allocate many times
//! the block).

use std::collections::{HashMap, HashSet};

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeTuple as _, Serializer};
use serde::{Deserialize, Serialize};

use netsettle_smcrypto::Hash;

use crate::codec::bytes::{ByteBuf, BytesRef};
use crate::envelope::Transaction;
use crate::header::ContractId;
use crate::proposal::{
    ContractAction, ContractEvent, Endorsement, Proposal, ProposalResponsePayload, Response,
};
use crate::rwset::{KvRead, KvWrite, NamespaceReadWriteSet, RangeQueryRead, ReadWriteSet};

/// Tag of a deleted key.
const TAG_DELETE: u8 = 0;
/// Tag of a value sent in full.
const TAG_BYTES: u8 = 1;
/// Tag of a value that is the proposal argument at the index that follows.
const TAG_ARGUMENT: u8 = 2;

impl Serialize for Transaction {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let action = &self.response.action;
        let written = action
            .rw_set
            .namespaces
            .iter()
            .flat_map(|namespace| &namespace.writes)
            .filter_map(|write| write.value.as_ref().map(Vec::len));
        let mut args = Arguments::new(&self.proposal.args, written);
        let namespaces = action
            .rw_set
            .namespaces
            .iter()
            .map(|namespace| NamespaceOut {
                namespace: &namespace.namespace,
                reads: &namespace.reads,
                range_queries: &namespace.range_queries,
                writes: namespace
                    .writes
                    .iter()
                    .map(|write| WriteOut {
                        key: &write.key,
                        value: ValueOut::of(write.value.as_deref(), &mut args),
                    })
                    .collect(),
            })
            .collect();
        TransactionOut {
            proposal: &self.proposal,
            response: ResponseOut {
                proposal_hash: &self.response.proposal_hash,
                action: ActionOut {
                    contract: &action.contract,
                    rw_set: RwSetOut { namespaces },
                    response: &action.response,
                    events: &action.events,
                },
            },
            endorsements: &self.endorsements,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Transaction {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = TransactionIn::deserialize(deserializer)?;
        wire.resolve().map_err(de::Error::custom)
    }
}

// What is sent, borrowed from the transaction. Field order and types mirror the owned
// types (`ProposalResponsePayload`, `ContractAction`, `ReadWriteSet`,
// `NamespaceReadWriteSet`, `KvWrite`), which is what bincode's layout depends on; only a
// write's value differs.

#[derive(Serialize)]
struct TransactionOut<'a> {
    proposal: &'a Proposal,
    response: ResponseOut<'a>,
    endorsements: &'a [Endorsement],
}

#[derive(Serialize)]
struct ResponseOut<'a> {
    proposal_hash: &'a Hash,
    action: ActionOut<'a>,
}

#[derive(Serialize)]
struct ActionOut<'a> {
    contract: &'a ContractId,
    rw_set: RwSetOut<'a>,
    response: &'a Response,
    events: &'a [ContractEvent],
}

#[derive(Serialize)]
struct RwSetOut<'a> {
    namespaces: Vec<NamespaceOut<'a>>,
}

#[derive(Serialize)]
struct NamespaceOut<'a> {
    namespace: &'a str,
    reads: &'a [KvRead],
    range_queries: &'a [RangeQueryRead],
    writes: Vec<WriteOut<'a>>,
}

#[derive(Serialize)]
struct WriteOut<'a> {
    key: &'a str,
    value: ValueOut<'a>,
}

enum ValueOut<'a> {
    Delete,
    Bytes(&'a [u8]),
    Argument(u32),
}

impl<'a> ValueOut<'a> {
    /// The canonical form of a written value: the first argument equal to it if no
    /// earlier write named that argument, else the value itself.
    fn of(value: Option<&'a [u8]>, args: &mut Arguments<'_>) -> Self {
        let Some(value) = value else {
            return ValueOut::Delete;
        };
        let argument = args
            .first_equal(value)
            .and_then(|index| Some((index, u32::try_from(index).ok()?)));
        match argument {
            Some((index, wire_index)) if args.take(index) => ValueOut::Argument(wire_index),
            _ => ValueOut::Bytes(value),
        }
    }
}

impl Serialize for ValueOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // A tuple carries no length in bincode: the tag, then what the tag announces.
        match self {
            ValueOut::Delete => {
                let mut tuple = serializer.serialize_tuple(1)?;
                tuple.serialize_element(&TAG_DELETE)?;
                tuple.end()
            }
            ValueOut::Bytes(bytes) => {
                let mut tuple = serializer.serialize_tuple(2)?;
                tuple.serialize_element(&TAG_BYTES)?;
                tuple.serialize_element(&BytesRef(bytes))?;
                tuple.end()
            }
            ValueOut::Argument(index) => {
                let mut tuple = serializer.serialize_tuple(2)?;
                tuple.serialize_element(&TAG_ARGUMENT)?;
                tuple.serialize_element(index)?;
                tuple.end()
            }
        }
    }
}

/// A proposal's arguments, found by their bytes, and which an earlier write named.
/// Looking a value up hashes it once, so checking a transaction costs time in proportion
/// to its bytes, however many arguments and writes it has. Only arguments as long as some
/// written value can equal one, so only those are hashed, and a value no argument is as
/// long as is not hashed at all (most transactions write no argument).
struct Arguments<'a> {
    args: &'a [Vec<u8>],
    /// The first index of each distinct argument as long as some written value.
    first_index: HashMap<&'a [u8], usize>,
    /// The lengths of the arguments in `first_index`.
    indexed_lengths: HashSet<usize>,
    named: Vec<bool>,
}

impl<'a> Arguments<'a> {
    /// `args`, to be compared with values of the `written` lengths (and no others).
    fn new(args: &'a [Vec<u8>], written: impl Iterator<Item = usize>) -> Self {
        let written: HashSet<usize> = written.collect();
        let mut first_index = HashMap::new();
        let mut indexed_lengths = HashSet::new();
        for (index, arg) in args.iter().enumerate() {
            if written.contains(&arg.len()) {
                first_index.entry(arg.as_slice()).or_insert(index);
                indexed_lengths.insert(arg.len());
            }
        }
        Arguments {
            args,
            first_index,
            indexed_lengths,
            named: vec![false; args.len()],
        }
    }

    fn get(&self, index: usize) -> Option<&'a [u8]> {
        self.args.get(index).map(Vec::as_slice)
    }

    /// The first argument with exactly these bytes (`value` has one of the written
    /// lengths the arguments were built for).
    fn first_equal(&self, value: &[u8]) -> Option<usize> {
        if !self.indexed_lengths.contains(&value.len()) {
            return None;
        }
        self.first_index.get(value).copied()
    }

    fn is_named(&self, index: usize) -> bool {
        self.named.get(index).copied().unwrap_or(false)
    }

    /// Marks argument `index` as named; false if it was already (or does not exist).
    fn take(&mut self, index: usize) -> bool {
        match self.named.get_mut(index) {
            Some(named) if !*named => {
                *named = true;
                true
            }
            _ => false,
        }
    }
}

// What arrives, owned, before the references are resolved.

#[derive(Deserialize)]
struct TransactionIn {
    proposal: Proposal,
    response: ResponseIn,
    endorsements: Vec<Endorsement>,
}

#[derive(Deserialize)]
struct ResponseIn {
    proposal_hash: Hash,
    action: ActionIn,
}

#[derive(Deserialize)]
struct ActionIn {
    contract: ContractId,
    rw_set: RwSetIn,
    response: Response,
    events: Vec<ContractEvent>,
}

#[derive(Deserialize)]
struct RwSetIn {
    namespaces: Vec<NamespaceIn>,
}

#[derive(Deserialize)]
struct NamespaceIn {
    namespace: String,
    reads: Vec<KvRead>,
    range_queries: Vec<RangeQueryRead>,
    writes: Vec<WriteIn>,
}

#[derive(Deserialize)]
struct WriteIn {
    key: String,
    value: ValueIn,
}

enum ValueIn {
    Delete,
    Bytes(Vec<u8>),
    Argument(u32),
}

impl<'de> Deserialize<'de> for ValueIn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_tuple(2, ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = ValueIn;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a written value: 0 (delete), 1 and bytes, or 2 and an argument index")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ValueIn, A::Error> {
        let tag: u8 = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        match tag {
            TAG_DELETE => Ok(ValueIn::Delete),
            TAG_BYTES => {
                let bytes: ByteBuf = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                Ok(ValueIn::Bytes(bytes.0))
            }
            TAG_ARGUMENT => {
                let index: u32 = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                Ok(ValueIn::Argument(index))
            }
            other => Err(de::Error::invalid_value(
                de::Unexpected::Unsigned(u64::from(other)),
                &self,
            )),
        }
    }
}

/// Why a transaction's written values were refused.
#[derive(Debug, thiserror::Error)]
enum ResolveError {
    #[error("write of {key:?} names argument {index}, but the proposal has {count}")]
    NoSuchArgument {
        key: String,
        index: u32,
        count: usize,
    },
    #[error(
        "write of {key:?} names argument {index}, which repeats argument {first}: not canonical"
    )]
    NotFirstArgument {
        key: String,
        index: u32,
        first: usize,
    },
    #[error(
        "write of {key:?} repeats argument {index} in full instead of naming it: not canonical"
    )]
    RepeatsArgument { key: String, index: usize },
    #[error("write of {key:?} names argument {index}, which an earlier write named")]
    NamedTwice { key: String, index: u32 },
}

impl TransactionIn {
    fn resolve(self) -> Result<Transaction, ResolveError> {
        let TransactionIn {
            proposal,
            response,
            endorsements,
        } = self;
        let ResponseIn {
            proposal_hash,
            action,
        } = response;
        let written = action
            .rw_set
            .namespaces
            .iter()
            .flat_map(|namespace| &namespace.writes)
            .filter_map(|write| match &write.value {
                ValueIn::Delete => None,
                ValueIn::Bytes(bytes) => Some(bytes.len()),
                ValueIn::Argument(index) => usize::try_from(*index)
                    .ok()
                    .and_then(|index| proposal.args.get(index))
                    .map(Vec::len),
            });
        let mut args = Arguments::new(&proposal.args, written);
        let mut namespaces = Vec::with_capacity(action.rw_set.namespaces.len());
        for namespace in action.rw_set.namespaces {
            let mut writes = Vec::with_capacity(namespace.writes.len());
            for write in namespace.writes {
                let value = resolve_value(&write.key, write.value, &mut args)?;
                writes.push(KvWrite {
                    key: write.key,
                    value,
                });
            }
            namespaces.push(NamespaceReadWriteSet {
                namespace: namespace.namespace,
                reads: namespace.reads,
                range_queries: namespace.range_queries,
                writes,
            });
        }
        Ok(Transaction {
            proposal,
            response: ProposalResponsePayload {
                proposal_hash,
                action: ContractAction {
                    contract: action.contract,
                    rw_set: ReadWriteSet { namespaces },
                    response: action.response,
                    events: action.events,
                },
            },
            endorsements,
        })
    }
}

/// The full value of one write, refusing every form but the canonical one.
fn resolve_value(
    key: &str,
    value: ValueIn,
    args: &mut Arguments<'_>,
) -> Result<Option<Vec<u8>>, ResolveError> {
    match value {
        ValueIn::Delete => Ok(None),
        ValueIn::Bytes(bytes) => match args.first_equal(&bytes) {
            Some(index) if !args.is_named(index) => Err(ResolveError::RepeatsArgument {
                key: key.to_owned(),
                index,
            }),
            _ => Ok(Some(bytes)),
        },
        ValueIn::Argument(index) => {
            let no_such = || ResolveError::NoSuchArgument {
                key: key.to_owned(),
                index,
                count: args.args.len(),
            };
            let position = usize::try_from(index).map_err(|_| no_such())?;
            let arg = args.get(position).ok_or_else(no_such)?;
            match args.first_equal(arg) {
                Some(first) if first < position => Err(ResolveError::NotFirstArgument {
                    key: key.to_owned(),
                    index,
                    first,
                }),
                _ if !args.take(position) => Err(ResolveError::NamedTwice {
                    key: key.to_owned(),
                    index,
                }),
                _ => Ok(Some(arg.to_vec())),
            }
        }
    }
}
