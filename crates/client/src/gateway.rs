//! The client's connection to the consortium: endorse at peers, broadcast to orderers,
//! wait for the commit, over `netsettle-net` (libp2p over SM-TLS, the client's own TLS
//! certificate).

use std::time::Duration;

use netsettle_net::{NetConfig, NetHandle, Network, NodeId};
use netsettle_protocol::{
    BroadcastResponse, BroadcastStatus, ContractId, ENDORSE_SERVICE, EndorseReply, Envelope,
    ProposalResponse, Response, SignedProposal, TX_STATUS_SERVICE, TxId, TxStatus, TxStatusRequest,
    ValidationCode, decode, encode,
};

use crate::{ClientError, Signer, assemble};

/// The orderers' broadcast service (see `netsettle_orderer::net`).
const BROADCAST_SERVICE: &str = "orderer-broadcast";
/// How long one status request may wait at the peer.
const STATUS_WAIT: Duration = Duration::from_secs(10);
/// Attempts at broadcasting while the ordering service has no leader.
const BROADCAST_ATTEMPTS_MAX: u32 = 20;
/// First pause between broadcast attempts; doubles up to one second.
const BROADCAST_BACKOFF_MIN: Duration = Duration::from_millis(100);

/// A node the client talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The node's organisation.
    pub msp_id: String,
    /// Its network id.
    pub node_id: NodeId,
}

/// Whom the gateway talks to: endorsing peers and orderers.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The client's network (its TLS identity, the channel trust, known addresses).
    pub net: NetConfig,
    /// The channel.
    pub channel: String,
    /// Peers that endorse, one or more per organisation.
    pub peers: Vec<Endpoint>,
    /// Orderers, tried in order.
    pub orderers: Vec<Endpoint>,
}

/// A transaction that went through ordering and validation.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The transaction id.
    pub tx_id: TxId,
    /// The block holding it.
    pub block: u64,
    /// The validation code every peer gives it.
    pub code: ValidationCode,
    /// The contract's answer at endorsement.
    pub response: Response,
}

/// A connected client.
pub struct Gateway {
    network: Network,
    net: NetHandle,
    config: GatewayConfig,
}

impl Gateway {
    /// Starts the client's network endpoint.
    pub async fn connect(config: GatewayConfig) -> Result<Gateway, ClientError> {
        let network = Network::start(config.net.clone()).await?;
        let net = network.handle();
        Ok(Gateway {
            network,
            net,
            config,
        })
    }

    /// Closes the connections.
    pub async fn close(self) {
        self.network.shutdown().await;
    }

    /// One endorsing peer per organisation (the first listed of each).
    pub fn endorsers(&self) -> Vec<Endpoint> {
        let mut chosen: Vec<Endpoint> = Vec::new();
        for peer in &self.config.peers {
            if !chosen.iter().any(|other| other.msp_id == peer.msp_id) {
                chosen.push(peer.clone());
            }
        }
        chosen
    }

    /// Asks `peer` to endorse `proposal`.
    pub async fn endorse(
        &self,
        peer: &Endpoint,
        proposal: &SignedProposal,
    ) -> Result<ProposalResponse, ClientError> {
        let bytes = self
            .net
            .request(peer.node_id, ENDORSE_SERVICE, encode(proposal)?)
            .await?;
        match decode::<EndorseReply>(&bytes)? {
            EndorseReply::Endorsed(response) => Ok(*response),
            EndorseReply::Refused { status, message } => Err(ClientError::Endorsement {
                peer: peer.msp_id.clone(),
                status,
                message,
            }),
        }
    }

    /// Runs `function(args)` on one peer without ordering anything (a query).
    pub async fn evaluate(
        &self,
        signer: &Signer,
        contract: ContractId,
        function: &str,
        args: Vec<Vec<u8>>,
    ) -> Result<Response, ClientError> {
        let proposal = signer.propose(&self.config.channel, contract, function, args)?;
        let peer = self
            .endorsers()
            .into_iter()
            .find(|peer| peer.msp_id == signer.identity().msp_id)
            .or_else(|| self.config.peers.first().cloned())
            .ok_or(ClientError::NoEndorsements)?;
        let response = self.endorse(&peer, &proposal).await?;
        Ok(response.payload.action.response)
    }

    /// Endorses at one peer of every organisation, orders, and waits until every endorser
    /// committed the transaction.
    pub async fn submit(
        &self,
        signer: &Signer,
        contract: ContractId,
        function: &str,
        args: Vec<Vec<u8>>,
    ) -> Result<Committed, ClientError> {
        let proposal = signer.propose(&self.config.channel, contract, function, args)?;
        let endorsers = self.endorsers();
        let mut responses = Vec::with_capacity(endorsers.len());
        for peer in &endorsers {
            responses.push(self.endorse(peer, &proposal).await?);
        }
        let endorsed = assemble(signer, &proposal, responses)?;
        self.broadcast(&endorsed.envelope).await?;
        // Wait for every endorser, not just one: the caller's next transaction is endorsed
        // at all of them and must see this one's writes (read-your-writes across
        // carriers). Validation is deterministic, so they all give the same code.
        let mut committed = None;
        for peer in &endorsers {
            let status = self.wait_committed(peer, &proposal.tx_id()).await?;
            committed.get_or_insert(status);
        }
        let (block, code) = committed.ok_or(ClientError::NoEndorsements)?;
        Ok(Committed {
            tx_id: proposal.tx_id(),
            block,
            code,
            response: endorsed.response,
        })
    }

    /// Sends `envelope` to the orderers until one accepts it; retries while the ordering
    /// service has no leader.
    pub async fn broadcast(&self, envelope: &Envelope) -> Result<(), ClientError> {
        let bytes = encode(envelope)?;
        let mut backoff = BROADCAST_BACKOFF_MIN;
        let mut last = String::from("no orderer configured");
        for attempt in 0..BROADCAST_ATTEMPTS_MAX {
            for orderer in &self.config.orderers {
                match self
                    .net
                    .request(orderer.node_id, BROADCAST_SERVICE, bytes.clone())
                    .await
                {
                    Ok(reply) => {
                        let response: BroadcastResponse = decode(&reply)?;
                        match response.status {
                            BroadcastStatus::Success => return Ok(()),
                            BroadcastStatus::ServiceUnavailable => last = response.info,
                            status => {
                                return Err(ClientError::Broadcast {
                                    status: format!("{status:?}"),
                                    info: response.info,
                                });
                            }
                        }
                    }
                    Err(error) => last = error.to_string(),
                }
            }
            tracing::debug!(attempt, %last, "broadcast not accepted yet");
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2).min(Duration::from_secs(1));
        }
        Err(ClientError::Broadcast {
            status: "ServiceUnavailable".to_owned(),
            info: last,
        })
    }

    /// Waits until `peer` has committed `tx_id`; its block and validation code.
    pub async fn wait_committed(
        &self,
        peer: &Endpoint,
        tx_id: &TxId,
    ) -> Result<(u64, ValidationCode), ClientError> {
        let request = TxStatusRequest {
            tx_id: *tx_id,
            wait_ms: u64::try_from(STATUS_WAIT.as_millis()).unwrap_or(u64::MAX),
        };
        // A few long waits: ordering takes at most the batch timeout plus a round trip.
        for _ in 0..6 {
            let bytes = self
                .net
                .request(peer.node_id, TX_STATUS_SERVICE, encode(&request)?)
                .await?;
            match decode::<TxStatus>(&bytes)? {
                TxStatus::Committed { block, code, .. } => return Ok((block, code)),
                TxStatus::NotCommitted { .. } => continue,
            }
        }
        Err(ClientError::NotCommitted)
    }
}
