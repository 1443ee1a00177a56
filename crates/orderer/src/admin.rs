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

use netsettle_net::{InboundRequest, NetError, NetHandle};
use netsettle_protocol::{AdminReply, AdminRequest, ORDERER_ADMIN_SERVICE, Role, decode, encode};
use tokio::task::JoinHandle;

use crate::service::OrdererHandle;

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
        // A request a newer client knows and this orderer does not.
        _ => AdminReply::Refused("request not supported by this orderer".to_owned()),
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
