//! The client's connection to the consortium: endorse at peers, broadcast to orderers,
//! wait for the commit, over `netsettle-net` (libp2p over SM-TLS, the client's own TLS
//! certificate).

use std::future::Future;
use std::path::Path;

use futures::TryStreamExt as _;
use futures::stream::FuturesOrdered;

use netsettle_net::{NetConfig, NetError, NetHandle, Network, NodeId};
use netsettle_protocol::{
    BroadcastResponse, BroadcastStatus, ConfigUpdateEnvelope, ContractEvent, ContractId,
    DELIVER_SERVICE, DeliverBatch, EndorseReply, Envelope, Payload, ProposalResponse, Response,
    SignedProposal, TX_STATUS_SERVICE, TxId, TxStatus, TxStatusRequest, ValidationCode, decode,
    encode,
};

use crate::limits::{
    BROADCAST_ATTEMPTS_MAX, BROADCAST_BACKOFF_MAX, BROADCAST_BACKOFF_MIN, STATUS_REQUESTS_MAX,
    STATUS_WAIT,
};
use crate::status::{StatusCoalescer, WaitFailure};
use crate::{
    BroadcastCoalescer, ClientError, CoalescerStats, ConnectionProfile, EndorseCoalescer,
    OrdererPreference, Signer, assemble, assemble_verified,
};

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
    /// The events the contract emitted (they count only when `code` is valid).
    pub events: Vec<ContractEvent>,
}

/// A config update in force: ordered into a config block of its own and committed by
/// the submitting carrier's peers.
#[derive(Debug, Clone)]
pub struct ConfigCommitted {
    /// The configuration sequence now in force.
    pub sequence: u64,
    /// The config transaction the orderers made from the update, when they named it.
    pub config_tx: Option<TxId>,
    /// Each of the carrier's peers that committed it, with the block holding it.
    pub peers: Vec<(Endpoint, u64)>,
}

/// A connected client.
pub struct Gateway {
    network: Network,
    net: NetHandle,
    config: GatewayConfig,
    /// Which orderer broadcasts try first (the leader the orderers name).
    preference: OrdererPreference,
    /// Sends broadcasts, batching those that queue up for one orderer.
    broadcasts: BroadcastCoalescer,
    /// Whether broadcasts go through the coalescer's batches (the default) or each in a
    /// request of its own.
    broadcast_batching: bool,
    /// Sends proposals for endorsement, batching those that queue up for one peer.
    endorsements: EndorseCoalescer,
    /// Whether endorsements go through `endorsements`' batches (the default) or each in
    /// a request of its own.
    endorse_batching: bool,
    /// Waits for commits, gathering those at one peer into few long polls.
    statuses: StatusCoalescer,
    /// Whether commit waits go through `statuses` (the default) or each in requests of
    /// its own.
    status_batching: bool,
    /// Whether `submit` verifies the endorsements' signatures itself
    /// ([`crate::assemble_verified`]) instead of leaving them to the committing peers.
    verify_endorsements: bool,
}

impl Gateway {
    /// Starts the client's network endpoint.
    pub async fn connect(config: GatewayConfig) -> Result<Gateway, ClientError> {
        let network = Network::start(config.net.clone()).await?;
        let net = network.handle();
        Ok(Gateway {
            network,
            broadcasts: BroadcastCoalescer::new(net.clone()),
            statuses: StatusCoalescer::new(net.clone()),
            endorsements: EndorseCoalescer::new(net.clone()),
            net,
            config,
            preference: OrdererPreference::new(),
            verify_endorsements: false,
            broadcast_batching: true,
            status_batching: true,
            endorse_batching: true,
        })
    }

    /// Whether broadcasts that queue up for one orderer go as batch requests (on by
    /// default; [`BroadcastCoalescer`]) or each envelope in a request of its own with no
    /// cap on requests in flight but the network's ([`BroadcastCoalescer::send_alone`]).
    /// What the orderers accept is the same either way; the benches turn batching off to
    /// measure what it changes.
    pub fn set_broadcast_batching(&mut self, batching: bool) {
        self.broadcast_batching = batching;
    }

    /// Whether proposals that queue up for one peer go as batch requests (on by default;
    /// [`EndorseCoalescer`], `peer-endorse-batch`) or each in a `peer-endorse` request of
    /// its own. The peer endorses each proposal of a batch as if it had come alone; the
    /// benches turn batching off to measure what it changes.
    pub fn set_endorse_batching(&mut self, batching: bool) {
        self.endorse_batching = batching;
    }

    /// Whether commit waits at one peer go as one long poll for them all (on by default;
    /// `peer-tx-status-batch`, answered as soon as one of them commits) or each in
    /// `peer-tx-status` requests of its own. What a wait returns is the same either way;
    /// the benches turn batching off to measure what it changes.
    pub fn set_status_batching(&mut self, batching: bool) {
        self.status_batching = batching;
    }

    /// Makes [`Gateway::submit`] verify every endorsement's SM2 signature before
    /// broadcasting ([`crate::assemble_verified`]): a bad endorsement is then refused as
    /// [`ClientError::BadEndorsement`] instead of being committed as `BAD_SIGNATURE`. Off
    /// by default (see [`assemble`] for why the committing peers' check suffices).
    pub fn set_verify_endorsements(&mut self, verify: bool) {
        self.verify_endorsements = verify;
    }

    /// Connects as the user whose identity directory is `identity`, through the
    /// connection profile at `profile`; the user signs as a member of the profile's
    /// organisation.
    pub async fn from_profile(
        profile: &Path,
        identity: &Path,
    ) -> Result<(Gateway, Signer), ClientError> {
        let profile = ConnectionProfile::load(profile)?;
        let signer = profile.signer(identity)?;
        let gateway = Gateway::connect(profile.gateway_config(identity)?).await?;
        Ok((gateway, signer))
    }

    /// Closes the connections.
    pub async fn close(self) {
        self.network.shutdown().await;
    }

    /// The network handle, for the event stream's own requests.
    pub(crate) fn net_handle(&self) -> &NetHandle {
        &self.net
    }

    /// The channel.
    pub fn channel(&self) -> &str {
        &self.config.channel
    }

    /// Every peer the gateway knows, own carrier's first.
    pub fn peers(&self) -> &[Endpoint] {
        &self.config.peers
    }

    /// Every orderer the gateway knows, in the profile's order (broadcasts try the leader
    /// the orderers named first, then this order).
    pub fn orderers(&self) -> &[Endpoint] {
        &self.config.orderers
    }

    /// The orderer the last broadcast answer named the Raft leader (one of the profile's),
    /// which the next broadcast tries first; `None` while no answer named one, and the
    /// profile's order holds.
    pub fn preferred_orderer(&self) -> Option<&Endpoint> {
        self.preference.leader(&self.config.orderers)
    }

    /// One endorsing peer per organisation: the first listed of each, the one
    /// [`Gateway::endorse_all`] asks first.
    pub fn endorsers(&self) -> Vec<Endpoint> {
        by_organisation(&self.config.peers)
            .into_iter()
            .filter_map(|(_, peers)| peers.first().map(|peer| (*peer).clone()))
            .collect()
    }

    /// Runs `ask` at the first of `peers` (all of organisation `org`, in the profile's
    /// order) that can be reached: the peer and its answer. A peer that cannot be reached
    /// (connection refused, not connected within the net's dial time, handshake refused)
    /// is passed over; any other outcome, a refusal included, is that peer's answer and
    /// ends the search. At most one attempt per peer, each with its own timeouts.
    pub(crate) async fn at_first_reachable<T, F, Fut>(
        &self,
        org: &str,
        peers: &[&Endpoint],
        ask: F,
    ) -> Result<(Endpoint, T), ClientError>
    where
        F: Fn(Endpoint) -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        let mut last = String::from("the profile lists none");
        for peer in peers {
            match ask((*peer).clone()).await {
                Err(ClientError::Net(error @ NetError::Unreachable { .. })) => {
                    tracing::warn!(org, %error, "peer unreachable, trying the next");
                    last = error.to_string();
                }
                answer => return answer.map(|value| ((*peer).clone(), value)),
            }
        }
        Err(ClientError::OrgUnreachable {
            org: org.to_owned(),
            tried: peers.len(),
            last,
        })
    }

    /// Asks `peer` to endorse `proposal`. The endorsement must name an endorser of
    /// `peer`'s organisation ([`ClientError::WrongEndorser`] otherwise): the signature
    /// itself is left to the committing peers (see [`assemble`]).
    pub async fn endorse(
        &self,
        peer: &Endpoint,
        proposal: &SignedProposal,
    ) -> Result<ProposalResponse, ClientError> {
        let bytes = encode(proposal)?;
        let reply = if self.endorse_batching {
            self.endorsements.send(peer.node_id, bytes).await?
        } else {
            self.endorsements.send_alone(peer.node_id, bytes).await?
        };
        match reply {
            EndorseReply::Endorsed(response) => {
                let endorser = &response.endorsement.endorser.msp_id;
                if *endorser != peer.msp_id {
                    return Err(ClientError::WrongEndorser {
                        asked: peer.msp_id.clone(),
                        endorser: endorser.clone(),
                    });
                }
                Ok(*response)
            }
            EndorseReply::Refused { status, message } => Err(ClientError::Endorsement {
                peer: peer.msp_id.clone(),
                status,
                message,
            }),
        }
    }

    /// Asks one peer of every organisation of `peers` to endorse `proposal`, all
    /// organisations at once (one round trip instead of one per carrier): within an
    /// organisation its peers in the order of `peers`, the next only when one cannot be
    /// reached ([`ClientError::OrgUnreachable`] when none can); a refusal is the answer.
    /// The endorsers with their responses, one per organisation in the order each first
    /// appears in `peers`, or the error of the first organisation in that order that
    /// failed, as asking one after the other would give (and no later than that would).
    pub async fn endorse_all(
        &self,
        peers: &[Endpoint],
        proposal: &SignedProposal,
    ) -> Result<Vec<(Endpoint, ProposalResponse)>, ClientError> {
        // In organisation order, all polled at once; the first failure in that order ends
        // it.
        let asked: FuturesOrdered<_> = by_organisation(peers)
            .into_iter()
            .map(|(org, peers)| async move {
                self.at_first_reachable(org, &peers, |peer| async move {
                    self.endorse(&peer, proposal).await
                })
                .await
            })
            .collect();
        asked.try_collect().await
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
        // The signer's own organisation's peers, else the first organisation's: the first
        // of them that can be reached.
        let organisations = by_organisation(&self.config.peers);
        let own = signer.identity().msp_id.as_str();
        let (org, peers) = organisations
            .iter()
            .find(|(org, _)| *org == own)
            .or_else(|| organisations.first())
            .ok_or(ClientError::NoEndorsements)?;
        let proposal = &proposal;
        let (_, response) = self
            .at_first_reachable(org, peers, |peer| async move {
                self.endorse(&peer, proposal).await
            })
            .await?;
        Ok(response.payload.action.response)
    }

    /// Endorses at one reachable peer of every organisation (see
    /// [`Gateway::endorse_all`]), orders, and waits until every endorser committed the
    /// transaction.
    pub async fn submit(
        &self,
        signer: &Signer,
        contract: ContractId,
        function: &str,
        args: Vec<Vec<u8>>,
    ) -> Result<Committed, ClientError> {
        let proposal = signer.propose(&self.config.channel, contract, function, args)?;
        let (endorsers, responses): (Vec<Endpoint>, Vec<ProposalResponse>) = self
            .endorse_all(&self.config.peers, &proposal)
            .await?
            .into_iter()
            .unzip();
        let endorsed = if self.verify_endorsements {
            assemble_verified(signer, &proposal, responses)?
        } else {
            assemble(signer, &proposal, responses)?
        };
        self.broadcast(&endorsed.envelope).await?;
        // Wait for every endorser, not just one: the caller's next transaction is endorsed
        // at all of them and must see this one's writes (read-your-writes across
        // carriers). Validation is deterministic, so they all give the same code. They
        // were reachable a moment ago; one that has gone since fails the wait.
        let tx_id = proposal.tx_id();
        let (block, code) = self.wait_committed_all(&endorsers, &tx_id).await?;
        let events = match &endorsed.envelope.payload {
            Payload::Transaction(tx) => tx.response.action.events.clone(),
            _ => Vec::new(),
        };
        Ok(Committed {
            tx_id,
            block,
            code,
            response: endorsed.response,
            events,
        })
    }

    /// Sends `envelope` to the orderers until one accepts it; retries while the ordering
    /// service has no leader or an orderer cannot be reached. A retry the orderers refuse
    /// as already ordered means an earlier attempt landed after all (the orderer stopped
    /// waiting for it): that counts as accepted, as the orderers intend.
    pub async fn broadcast(&self, envelope: &Envelope) -> Result<(), ClientError> {
        self.broadcast_landed(envelope).await.map(|_| ())
    }

    /// [`Gateway::broadcast`], returning the id of the transaction that landed when the
    /// orderer names it (for a config update: the config transaction it made).
    async fn broadcast_landed(&self, envelope: &Envelope) -> Result<Option<TxId>, ClientError> {
        let bytes = encode(envelope)?;
        let tx_id = envelope.tx_id();
        let mut backoff = BROADCAST_BACKOFF_MIN;
        let mut last = String::from("no orderer configured");
        let mut retrying = false;
        for attempt in 0..BROADCAST_ATTEMPTS_MAX {
            let orderers = &self.config.orderers;
            for orderer in self
                .preference
                .order(orderers)
                .iter()
                .filter_map(|i| orderers.get(*i))
            {
                let answer = match self.broadcast_once(orderer, bytes.clone()).await {
                    Ok(response) => {
                        self.preference.answered(
                            orderers,
                            orderer.node_id,
                            response.leader.as_deref(),
                        );
                        classify(response, &tx_id, retrying)
                    }
                    Err(ClientError::Net(error)) => {
                        self.preference.unreachable(orderer.node_id);
                        Answer::Retry(error.to_string())
                    }
                    Err(error) => return Err(error),
                };
                match answer {
                    Answer::Retry(reason) => {
                        last = reason;
                        retrying = true;
                    }
                    Answer::Done(outcome) => {
                        self.preference.broadcast_done();
                        return outcome;
                    }
                }
            }
            tracing::debug!(attempt, %last, "broadcast not accepted yet");
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2).min(BROADCAST_BACKOFF_MAX);
        }
        self.preference.broadcast_done();
        Err(ClientError::Broadcast {
            status: format!("{:?}", BroadcastStatus::ServiceUnavailable),
            info: last,
        })
    }

    /// Sends `envelope` to one orderer, once: its verdict, without retries (e.g. to see
    /// how each orderer treats a replayed envelope).
    pub async fn broadcast_to(
        &self,
        orderer: &Endpoint,
        envelope: &Envelope,
    ) -> Result<(), ClientError> {
        verdict(self.broadcast_once(orderer, encode(envelope)?).await?).map(|_| ())
    }

    /// One envelope to one orderer, alone or in a batch with others queued for it
    /// ([`BroadcastCoalescer`]): the orderer's answer to it, or why none came.
    async fn broadcast_once(
        &self,
        orderer: &Endpoint,
        bytes: Vec<u8>,
    ) -> Result<BroadcastResponse, ClientError> {
        if self.broadcast_batching {
            self.broadcasts.send(orderer.node_id, bytes).await
        } else {
            self.broadcasts.send_alone(orderer.node_id, bytes).await
        }
    }

    /// What the gateway's broadcasts took so far: envelopes, single and batch requests.
    pub fn broadcast_stats(&self) -> CoalescerStats {
        self.broadcasts.stats()
    }

    /// Submits a config update that carries the admins' approvals: signs it as
    /// `signer` (who needs only the channel's Writers policy), broadcasts it, and waits
    /// until every peer of the signer's organisation committed the config block the
    /// orderers made from it. A refusal (missing approvals, stale sequence, a policy the
    /// approvals do not satisfy) comes back as [`ClientError::Broadcast`] with the
    /// orderer's reason.
    ///
    /// When the orderer does not name the config transaction it made, the update is
    /// known to be ordered (it is acknowledged only once its config block is cut) but its
    /// commit at the peers is not confirmed: `config_tx` is `None`, `peers` empty.
    pub async fn submit_config(
        &self,
        signer: &Signer,
        update: ConfigUpdateEnvelope,
    ) -> Result<ConfigCommitted, ClientError> {
        let sequence = update.update.config.sequence;
        let envelope = signer.config_update_envelope(&self.config.channel, update)?;
        let Some(config_tx) = self.broadcast_landed(&envelope).await? else {
            return Ok(ConfigCommitted {
                sequence,
                config_tx: None,
                peers: Vec::new(),
            });
        };
        let own_peers = self
            .config
            .peers
            .iter()
            .filter(|peer| peer.msp_id == signer.identity().msp_id);
        let mut peers = Vec::new();
        for peer in own_peers {
            let (block, code) = self.wait_committed(peer, &config_tx).await?;
            if code != ValidationCode::Valid {
                return Err(ClientError::ConfigNotInForce {
                    tx_id: config_tx,
                    peer: peer.msp_id.clone(),
                    code,
                });
            }
            peers.push((peer.clone(), block));
        }
        Ok(ConfigCommitted {
            sequence,
            config_tx: Some(config_tx),
            peers,
        })
    }

    /// The next blocks from `start` (up to `stop`, inclusive) from `orderer` through signed
    /// delivery (`orderer-deliver`, Readers policy); an empty batch without a status means
    /// no new block was cut during the orderer's long poll.
    pub async fn deliver(
        &self,
        signer: &Signer,
        orderer: &Endpoint,
        start: u64,
        stop: Option<u64>,
    ) -> Result<DeliverBatch, ClientError> {
        let request = signer.deliver_request(&self.config.channel, start, stop)?;
        let bytes = self
            .net
            .request(orderer.node_id, DELIVER_SERVICE, encode(&request)?)
            .await?;
        Ok(decode(&bytes)?)
    }

    /// Waits until every peer of `peers` has committed `tx_id`, all at once: the first
    /// peer's block and validation code, or the error of the first of `peers` that
    /// failed, as waiting on one after the other would give ([`ClientError::NoEndorsements`]
    /// when `peers` is empty).
    pub async fn wait_committed_all(
        &self,
        peers: &[Endpoint],
        tx_id: &TxId,
    ) -> Result<(u64, ValidationCode), ClientError> {
        let waits: FuturesOrdered<_> = peers
            .iter()
            .map(|peer| self.wait_committed(peer, tx_id))
            .collect();
        let statuses: Vec<(u64, ValidationCode)> = waits.try_collect().await?;
        statuses
            .into_iter()
            .next()
            .ok_or(ClientError::NoEndorsements)
    }

    /// Waits until the first reachable peer of organisation `org` among the profile's has
    /// committed `tx_id` (see [`Gateway::endorse_all`] for "reachable"): the peer, its
    /// block and validation code.
    pub async fn wait_committed_at_org(
        &self,
        org: &str,
        tx_id: &TxId,
    ) -> Result<(Endpoint, (u64, ValidationCode)), ClientError> {
        let peers: Vec<&Endpoint> = self
            .config
            .peers
            .iter()
            .filter(|peer| peer.msp_id == org)
            .collect();
        self.at_first_reachable(org, &peers, |peer| async move {
            self.wait_committed(&peer, tx_id).await
        })
        .await
    }

    /// Waits until `peer` has committed `tx_id`; its block and validation code. The
    /// gateway's waits at one peer share long polls (see
    /// [`Gateway::set_status_batching`]); a peer without that service is asked one
    /// request per transaction.
    pub async fn wait_committed(
        &self,
        peer: &Endpoint,
        tx_id: &TxId,
    ) -> Result<(u64, ValidationCode), ClientError> {
        if self.status_batching && !self.statuses.singles_only(peer.node_id) {
            match self.statuses.wait(peer.node_id, *tx_id).await {
                Ok(commit) => return Ok(commit),
                Err(WaitFailure::NoBatchService(_)) => {}
                Err(failure) => return Err(failure.into()),
            }
        }
        self.wait_committed_alone(peer, tx_id).await
    }

    /// Waits until `peer` has committed `tx_id` with `peer-tx-status` requests of its own.
    async fn wait_committed_alone(
        &self,
        peer: &Endpoint,
        tx_id: &TxId,
    ) -> Result<(u64, ValidationCode), ClientError> {
        let request = TxStatusRequest {
            tx_id: *tx_id,
            wait_ms: u64::try_from(STATUS_WAIT.as_millis()).unwrap_or(u64::MAX),
        };
        for _ in 0..STATUS_REQUESTS_MAX {
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

/// `peers` grouped by organisation: each organisation once, in the order it first
/// appears, with its peers in their order.
fn by_organisation(peers: &[Endpoint]) -> Vec<(&str, Vec<&Endpoint>)> {
    let mut groups: Vec<(&str, Vec<&Endpoint>)> = Vec::new();
    for peer in peers {
        match groups.iter_mut().find(|(org, _)| *org == peer.msp_id) {
            Some((_, members)) => members.push(peer),
            None => groups.push((&peer.msp_id, vec![peer])),
        }
    }
    groups
}

/// What to do with an orderer's answer to a broadcast.
#[derive(Debug)]
enum Answer {
    /// Try again (another orderer, or later): the ordering service is unavailable.
    Retry(String),
    /// The broadcast's outcome.
    Done(Result<Option<TxId>, ClientError>),
}

/// Sorts an orderer's answer to the broadcast of `tx_id`. After an attempt that may have
/// landed (`retrying`: an orderer was unavailable or the network failed), a refusal of
/// `tx_id` as already ordered means an earlier attempt did land: success, not an error.
fn classify(response: BroadcastResponse, tx_id: &TxId, retrying: bool) -> Answer {
    match response.status {
        BroadcastStatus::ServiceUnavailable => Answer::Retry(response.info),
        BroadcastStatus::BadRequest if retrying && response.info.contains(&tx_id.to_string()) => {
            tracing::debug!(%tx_id, "an earlier broadcast attempt landed");
            Answer::Done(Ok(None))
        }
        _ => Answer::Done(verdict(response)),
    }
}

/// An orderer's answer as a result: on success, the transaction it names as landed (its
/// info's last word), if any.
fn verdict(response: BroadcastResponse) -> Result<Option<TxId>, ClientError> {
    match response.status {
        BroadcastStatus::Success => Ok(response
            .info
            .split_whitespace()
            .last()
            .and_then(|word| word.parse().ok())),
        status => Err(ClientError::Broadcast {
            status: format!("{status:?}"),
            info: response.info,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: BroadcastStatus, info: &str) -> BroadcastResponse {
        BroadcastResponse {
            status,
            info: info.to_owned(),
            leader: None,
        }
    }

    #[test]
    fn a_success_may_name_the_landed_transaction() {
        let tx_id = TxId(netsettle_smcrypto::sm3(b"config"));
        let named = verdict(reply(
            BroadcastStatus::Success,
            &format!("config tx {tx_id}"),
        ));
        assert_eq!(named.unwrap(), Some(tx_id));
        assert_eq!(verdict(reply(BroadcastStatus::Success, "")).unwrap(), None);
        assert_eq!(
            verdict(reply(BroadcastStatus::Success, "ordered")).unwrap(),
            None
        );
    }

    #[test]
    fn a_duplicate_after_a_retry_means_an_earlier_attempt_landed() {
        let tx_id = TxId(netsettle_smcrypto::sm3(b"tx"));
        let duplicate = || {
            reply(
                BroadcastStatus::BadRequest,
                &format!("transaction {tx_id} is already ordered or being ordered"),
            )
        };
        assert!(matches!(
            classify(duplicate(), &tx_id, true),
            Answer::Done(Ok(None))
        ));
        // On the first attempt it is a replay.
        assert!(matches!(
            classify(duplicate(), &tx_id, false),
            Answer::Done(Err(ClientError::Broadcast { .. }))
        ));
        // Another transaction's id, or another refusal, stays an error.
        let other = TxId(netsettle_smcrypto::sm3(b"other"));
        assert!(matches!(
            classify(duplicate(), &other, true),
            Answer::Done(Err(ClientError::Broadcast { .. }))
        ));
        assert!(matches!(
            classify(reply(BroadcastStatus::ServiceUnavailable, "no leader"), &tx_id, false),
            Answer::Retry(reason) if reason == "no leader"
        ));
    }

    #[test]
    fn a_refusal_keeps_the_orderers_status_and_reason() {
        let refused = verdict(reply(
            BroadcastStatus::BadRequest,
            "config update rejected: channel Admins",
        ))
        .unwrap_err();
        assert!(
            matches!(&refused, ClientError::Broadcast { status, info }
                if status == "BadRequest" && info.contains("Admins")),
            "{refused}"
        );
    }
}
