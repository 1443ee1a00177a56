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
//! leader; the caller watches the status until the new leader shows. The messages are
//! `netsettle_protocol`'s.
//!
//! # Who may move leadership
//!
//! Only an admin of the carrier whose orderer leads now, asking that leader itself. The
//! leader's carrier holds leadership by election, so the other carrier cannot take it
//! from it by asking (it would otherwise grab the leader's power to order first and to
//! delay, for free); the leader's own carrier may hand it to any voter, its own or the
//! other carrier's (before maintenance, say), since it gives away only what it holds.
//! Followers refuse (the CLI asks every orderer in turn, so it reaches the leader), and
//! no orderer forwards a transfer over Raft: the core drops `MsgTransferLeader` from the
//! network and takes `MsgTimeoutNow` only from its leader. Both carriers' signatures
//! for every move were the alternative; it adds a second round trip for a routine
//! operation without protecting anything the rule above leaves open. Every request is
//! logged with the caller's certificate subject and organisation.

use netsettle_net::{InboundRequest, NetError, NetHandle, RemotePeer};
use netsettle_protocol::{AdminReply, AdminRequest, ORDERER_ADMIN_SERVICE, Role, decode, encode};
use tokio::task::JoinHandle;

use crate::service::OrdererHandle;

/// How the leader's refusal of an admin of another carrier begins: clients stop asking.
pub const NOT_ALLOWED: &str = "not allowed:";

/// Serves `orderer-admin` to the channel's admins until the network stops.
pub fn serve(net: &NetHandle, orderer: &OrdererHandle) -> Result<JoinHandle<()>, NetError> {
    let mut requests = net.serve(ORDERER_ADMIN_SERVICE, &[Role::Admin])?;
    let orderer = orderer.clone();
    Ok(tokio::spawn(async move {
        while let Some(request) = requests.recv().await {
            answer(&orderer, request).await;
        }
    }))
}

/// The answer to `caller`'s request (also what tests call without a network).
pub fn handle(orderer: &OrdererHandle, caller: &RemotePeer, request: &AdminRequest) -> AdminReply {
    let status = orderer.status().borrow().clone();
    match request {
        AdminRequest::Status => {
            tracing::debug!(caller = %caller.subject, msp_id = %caller.msp_id, "admin status");
            AdminReply::Status(status)
        }
        AdminRequest::TransferLeader { to } => {
            let reply = transfer_leader(orderer, &status, caller, *to);
            match &reply {
                AdminReply::Refused(reason) => tracing::warn!(
                    caller = %caller.subject,
                    msp_id = %caller.msp_id,
                    to,
                    leader = status.leader_id,
                    %reason,
                    "admin leader transfer refused"
                ),
                _ => tracing::info!(
                    caller = %caller.subject,
                    msp_id = %caller.msp_id,
                    to,
                    leader = status.leader_id,
                    "admin leader transfer requested"
                ),
            }
            reply
        }
        // A request a newer client knows and this orderer does not.
        _ => AdminReply::Refused("request not supported by this orderer".to_owned()),
    }
}

fn transfer_leader(
    orderer: &OrdererHandle,
    status: &netsettle_protocol::OrdererStatus,
    caller: &RemotePeer,
    to: u64,
) -> AdminReply {
    if !status.voters.contains(&to) {
        return AdminReply::Refused(format!(
            "consenter {to} is not a Raft voter (voters {:?})",
            status.voters
        ));
    }
    if status.leader_id == 0 {
        return AdminReply::Refused("no Raft leader now; retry shortly".to_owned());
    }
    if status.leader_id != status.consenter_id {
        return AdminReply::Refused(format!(
            "consenter {} does not lead (consenter {} does); ask the leader",
            status.consenter_id, status.leader_id
        ));
    }
    let channel = orderer.channel();
    let leader_msp = channel
        .config
        .orderer
        .consenters
        .iter()
        .find(|consenter| consenter.id == status.leader_id)
        .map(|consenter| consenter.msp_id.as_str());
    if leader_msp != Some(caller.msp_id.as_str()) {
        return AdminReply::Refused(format!(
            "{NOT_ALLOWED} only an admin of {}, whose orderer {} leads, may move leadership",
            leader_msp.unwrap_or("the leader's organisation"),
            status.leader_id
        ));
    }
    if status.leader_id == to {
        return AdminReply::TransferRequested {
            leader: status.leader_id,
        };
    }
    match orderer.transfer_leader(to) {
        Ok(()) => AdminReply::TransferRequested {
            leader: status.leader_id,
        },
        Err(error) => AdminReply::Refused(error.to_string()),
    }
}

async fn answer(orderer: &OrdererHandle, request: InboundRequest) {
    let reply = match decode::<AdminRequest>(&request.payload) {
        Ok(admin_request) => handle(orderer, &request.from, &admin_request),
        Err(error) => AdminReply::Refused(error.to_string()),
    };
    let _ = match encode(&reply) {
        Ok(bytes) => request.respond(bytes).await,
        Err(error) => request.refuse(error.to_string()).await,
    };
}
