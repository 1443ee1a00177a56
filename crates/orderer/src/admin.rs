//! The operator's view of an orderer, over `netsettle-net`: one service, `orderer-admin`,
//! served to the channel's admins only (the network checks the caller's TLS certificate
//! and its role before a request reaches here).
//!
//! | request                      | answer                                                 |
//! |------------------------------|--------------------------------------------------------|
//! | [`AdminRequest::Status`]     | [`AdminReply::Status`]: consenter id, leader, term, height, conf state |
//! | [`AdminRequest::TransferLeader`] | [`AdminReply::TransferRequested`], or `Refused` |
//!
//! A leader transfer is asynchronous in Raft: the answer says it was handed to the
//! leader; the caller watches the status until the new leader shows.

use netsettle_net::{InboundRequest, NetError, NetHandle};
use netsettle_protocol::{InvalidMessage, Role, Wire, decode, encode};
use tokio::task::JoinHandle;

use crate::service::OrdererHandle;

/// The admin service's name.
pub const ADMIN_SERVICE: &str = "orderer-admin";

/// Consenter ids listed in a status answer at most (voters, learners, consenters each).
pub const STATUS_IDS_MAX: usize = 1_024;
/// Bytes of the reason in a refusal.
pub const REFUSAL_BYTES_MAX: usize = 1_024;

/// What an operator asks an orderer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum AdminRequest {
    /// The orderer's Raft and chain state.
    Status,
    /// Hand Raft leadership to consenter `to` (forwarded to the leader).
    TransferLeader {
        /// The consenter id to lead next.
        to: u64,
    },
}

impl Wire for AdminRequest {
    const NAME: &'static str = "orderer admin request";
    const BYTES_MAX: usize = 64;

    fn check(&self) -> Result<(), InvalidMessage> {
        Ok(())
    }
}

/// One orderer's state as it sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrdererStatus {
    /// This orderer's consenter id.
    pub consenter_id: u64,
    /// The Raft leader it knows (0: none).
    pub leader_id: u64,
    /// The Raft term.
    pub term: u64,
    /// Blocks in its chain.
    pub height: u64,
    /// The last Raft log index applied.
    pub applied_index: u64,
    /// The index of its latest Raft snapshot.
    pub snapshot_index: u64,
    /// Raft voters (the applied conf state).
    pub voters: Vec<u64>,
    /// Raft learners.
    pub learners: Vec<u64>,
    /// The consenters of the channel configuration in force.
    pub consenters: Vec<u64>,
    /// The sequence of the configuration in force.
    pub config_sequence: u64,
    /// Whether it is fetching blocks from another orderer before applying more.
    pub catching_up: bool,
    /// Envelopes committed in the Raft log and not yet cut into a block.
    pub pending_envelopes: u64,
}

impl OrdererStatus {
    /// Whether the configuration in force lists this orderer (false once removed).
    pub fn is_consenter(&self) -> bool {
        self.consenters.contains(&self.consenter_id)
    }
}

/// An orderer's answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum AdminReply {
    /// The state asked for.
    Status(OrdererStatus),
    /// The transfer was handed to Raft; `leader` led when it was asked.
    TransferRequested {
        /// The leader at the time.
        leader: u64,
    },
    /// The request cannot be carried out, and why.
    Refused(String),
}

impl Wire for AdminReply {
    const NAME: &'static str = "orderer admin reply";
    const BYTES_MAX: usize = 64 * 1024;

    fn check(&self) -> Result<(), InvalidMessage> {
        match self {
            AdminReply::Status(status) => {
                for (what, ids) in [
                    ("status voters", &status.voters),
                    ("status learners", &status.learners),
                    ("status consenters", &status.consenters),
                ] {
                    if ids.len() > STATUS_IDS_MAX {
                        return Err(InvalidMessage::TooMany {
                            what,
                            max: STATUS_IDS_MAX,
                            actual: ids.len(),
                        });
                    }
                }
                Ok(())
            }
            AdminReply::TransferRequested { .. } => Ok(()),
            AdminReply::Refused(reason) if reason.len() > REFUSAL_BYTES_MAX => {
                Err(InvalidMessage::TooLong {
                    what: "admin refusal",
                    max: REFUSAL_BYTES_MAX,
                    actual: reason.len(),
                })
            }
            AdminReply::Refused(_) => Ok(()),
        }
    }
}

/// Serves `orderer-admin` to the channel's admins until the network stops.
pub fn serve(net: &NetHandle, orderer: &OrdererHandle) -> Result<JoinHandle<()>, NetError> {
    let mut requests = net.serve(ADMIN_SERVICE, &[Role::Admin])?;
    let orderer = orderer.clone();
    Ok(tokio::spawn(async move {
        while let Some(request) = requests.recv().await {
            answer(&orderer, request).await;
        }
    }))
}

/// The answer to one request (also what tests call without a network).
pub fn handle(orderer: &OrdererHandle, request: &AdminRequest) -> AdminReply {
    let status = orderer.status().borrow().clone();
    match request {
        AdminRequest::Status => AdminReply::Status(status),
        AdminRequest::TransferLeader { to } => {
            if !status.voters.contains(to) {
                return AdminReply::Refused(format!(
                    "consenter {to} is not a Raft voter (voters {:?})",
                    status.voters
                ));
            }
            if status.leader_id == 0 {
                return AdminReply::Refused("no Raft leader now; retry shortly".to_owned());
            }
            if status.leader_id == *to {
                return AdminReply::TransferRequested {
                    leader: status.leader_id,
                };
            }
            match orderer.transfer_leader(*to) {
                Ok(()) => AdminReply::TransferRequested {
                    leader: status.leader_id,
                },
                Err(error) => AdminReply::Refused(error.to_string()),
            }
        }
    }
}

async fn answer(orderer: &OrdererHandle, request: InboundRequest) {
    let reply = match decode::<AdminRequest>(&request.payload) {
        Ok(admin_request) => handle(orderer, &admin_request),
        Err(error) => AdminReply::Refused(error.to_string()),
    };
    let _ = match encode(&reply) {
        Ok(bytes) => request.respond(bytes).await,
        Err(error) => request.refuse(error.to_string()).await,
    };
}
