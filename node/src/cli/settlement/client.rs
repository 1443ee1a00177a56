//! The staff commands' connection: the caller's gateway and signer, and the settlement
//! contract's functions called with their typed requests. Failures are sorted into the
//! kinds a script acts on differently, each with its own exit status:
//!
//! | exit | failure |
//! |---|---|
//! | 1 | anything local: a bad file or argument, a missing key, a wrong answer |
//! | 3 | the contract refused the call (its status: 400 bad request, 403 not allowed, 404 unknown, 409 wrong phase or stale, 413 too large); nothing changed |
//! | 4 | the consortium could not be reached, or the transaction did not commit in time |
//! | 5 | the transaction was ordered but committed invalid (e.g. a concurrent change); nothing changed |

use std::fmt;

use anyhow::{Context as _, Result};
use netsettle_client::{ClientError, Gateway, Signer};
use netsettle_protocol::{ContractId, TxId, ValidationCode};
use serde_json::Value;

use crate::shared::{ClientArgs, connect};

/// A failure of a call that the exit status tells apart.
#[derive(Debug)]
pub enum Failure {
    /// The contract refused the call.
    Refused {
        function: String,
        status: u32,
        message: String,
    },
    /// The consortium could not be reached or did not commit in time.
    Unreachable { function: String, reason: String },
    /// Committed with a validation code other than VALID.
    Invalid {
        function: String,
        tx_id: TxId,
        code: ValidationCode,
    },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Refused {
                function,
                status,
                message,
            } => write!(f, "{function} refused ({status}): {message}"),
            Failure::Unreachable { function, reason } => {
                write!(f, "{function}: the consortium did not answer: {reason}")
            }
            Failure::Invalid {
                function,
                tx_id,
                code,
            } => write!(
                f,
                "{function}: transaction {tx_id} was committed as {}, it changed nothing",
                code.as_str()
            ),
        }
    }
}

impl std::error::Error for Failure {}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Refused { .. } => 3,
            Failure::Unreachable { .. } => 4,
            Failure::Invalid { .. } => 5,
        }
    }

    /// Sorts a gateway error of a call to `function`.
    pub fn of(function: &str, error: ClientError) -> anyhow::Error {
        let function = function.to_owned();
        match error {
            ClientError::Endorsement {
                status, message, ..
            } => Failure::Refused {
                function,
                status,
                message,
            }
            .into(),
            ClientError::Refused {
                status, message, ..
            }
            | ClientError::Contract {
                status, message, ..
            } => Failure::Refused {
                function,
                status,
                message,
            }
            .into(),
            error @ (ClientError::Net(_)
            | ClientError::OrgUnreachable { .. }
            | ClientError::NotCommitted
            | ClientError::Broadcast { .. }
            | ClientError::Events(_)) => Failure::Unreachable {
                function,
                reason: error.to_string(),
            }
            .into(),
            other => anyhow::Error::new(other).context(function),
        }
    }
}

/// The exit status for an error that ends a command: a [`Failure`]'s own, else 1.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<Failure>())
        .map_or(1, Failure::exit_code)
}

/// A committed settlement transaction.
#[derive(Debug)]
pub struct Submitted {
    pub tx_id: TxId,
    pub block: u64,
    /// The contract's answer (JSON).
    pub answer: Value,
}

impl Submitted {
    /// The answer with the transaction's id and block, as `--output json` prints it.
    pub fn json(&self) -> Value {
        serde_json::json!({
            "tx_id": self.tx_id.to_string(),
            "block": self.block,
            "result": self.answer,
        })
    }
}

/// A staff member connected to the consortium.
pub struct Staff {
    gateway: Gateway,
    signer: Signer,
}

impl Staff {
    pub async fn connect(args: &ClientArgs) -> Result<Staff> {
        // Loading the profile and identity and starting the endpoint dial nobody yet: a
        // failure here is a local one (a missing file, a wrong key).
        let (gateway, signer) = connect(args).await?;
        Ok(Staff { gateway, signer })
    }

    /// The SDK's typed settlement calls on this connection (upload and reveal, with the
    /// SDK's key store).
    pub fn sdk(&self) -> netsettle_client::Settlement<'_> {
        netsettle_client::Settlement::new(&self.gateway, &self.signer)
    }

    /// The caller's carrier.
    pub fn msp_id(&self) -> &str {
        &self.signer.identity().msp_id
    }

    pub async fn close(self) {
        self.gateway.close().await;
    }

    /// Endorses `function(request, extra...)` at both carriers, orders it and waits for
    /// the commit; fails unless it committed VALID.
    pub async fn submit<T: serde::Serialize>(
        &self,
        function: &str,
        request: &T,
        extra: Vec<Vec<u8>>,
    ) -> Result<Submitted> {
        let mut args = vec![serde_json::to_vec(request).context("encoding the request")?];
        args.extend(extra);
        let committed = self
            .gateway
            .submit(&self.signer, settlement_id(), function, args)
            .await
            .map_err(|error| Failure::of(function, error))?;
        if committed.code != ValidationCode::Valid {
            return Err(Failure::Invalid {
                function: function.to_owned(),
                tx_id: committed.tx_id,
                code: committed.code,
            }
            .into());
        }
        Ok(Submitted {
            tx_id: committed.tx_id,
            block: committed.block,
            answer: json_answer(function, &committed.response.payload)?,
        })
    }

    /// The chain's events from block `from`, or after `cursor` (as a previous `watch`
    /// printed it).
    pub fn events(
        &self,
        from: u64,
        cursor: Option<netsettle_client::EventCursor>,
    ) -> Result<netsettle_client::EventStream<'_>> {
        let stream = match cursor {
            Some(cursor) => self.gateway.events_after(&self.signer, cursor),
            None => self.gateway.events(&self.signer, from),
        };
        stream.map_err(|error| Failure::of("watch", error))
    }

    /// Runs a query on a peer of the caller's carrier; its raw answer.
    pub async fn query_bytes<T: serde::Serialize>(
        &self,
        function: &str,
        request: &T,
    ) -> Result<Vec<u8>> {
        let args = vec![serde_json::to_vec(request).context("encoding the request")?];
        let response = self
            .gateway
            .evaluate(&self.signer, settlement_id(), function, args)
            .await
            .map_err(|error| Failure::of(function, error))?;
        Ok(response.payload)
    }

    /// Runs a query; its JSON answer.
    pub async fn query<T: serde::Serialize>(&self, function: &str, request: &T) -> Result<Value> {
        let payload = self.query_bytes(function, request).await?;
        json_answer(function, &payload)
    }
}

fn json_answer(function: &str, payload: &[u8]) -> Result<Value> {
    if payload.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(payload).with_context(|| format!("{function}: the answer is not JSON"))
}

fn settlement_id() -> ContractId {
    ContractId {
        name: netsettle_settlement::contract::CONTRACT_NAME.to_owned(),
        version: netsettle_settlement::contract::CONTRACT_VERSION.to_owned(),
    }
}
