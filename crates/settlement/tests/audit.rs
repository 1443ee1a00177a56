//! The settlement month as a chain of blocks, then audited: every call is simulated by the
//! peer's simulator over the committed state (`MemoryState`), its read–write set is
//! wrapped in a (singly endorsed) transaction and cut into its own block, and its writes
//! are committed. The export query reads the block number from the committed key
//! history, as on a real peer; the audit replays the blocks' valid settlement
//! transactions and must re-derive the final data on the chain.
//!
//! Signatures and the endorsement policy are the peer's business and are not checked
//! here; the certificates are placeholders. The same simulator over a RocksDB snapshot is
//! the peer's test (`crates/peer/tests/simulator.rs` runs every scenario on both).

mod common;

use common::{
    MOBILE, UNICOM, admin, agreement, client, key, nonce_for, opening, period, small_reports,
};
use netsettle_contract::{
    Contract, ContractError, Creator, Invocation, MemoryState, Simulation, Simulator,
};
use netsettle_protocol::Role;
use netsettle_protocol::{
    Block, ContractAction, ContractId, Endorsement, Envelope, Header, Identity, Nonce, Payload,
    Proposal, ProposalResponsePayload, Response, SignedProposal, Timestamp, Transaction,
    ValidationCode,
};
use netsettle_settlement::contract::SettlementContract;
use netsettle_settlement::replay::{RecordedCall, final_data, replay};
use netsettle_settlement::seal::{reveal_args, seal_report};
use netsettle_smcrypto::{PrivateKey, sm3};
use serde_json::{Value, json};

struct Chain {
    state: MemoryState,
    blocks: Vec<Block>,
    key: PrivateKey,
    seed: u64,
    now_ms: u64,
}

impl Chain {
    fn new() -> Self {
        Chain {
            state: MemoryState::new(),
            blocks: Vec::new(),
            key: PrivateKey::generate(),
            seed: 0,
            now_ms: 1_793_000_000_000,
        }
    }

    fn identity(creator: &Creator) -> Identity {
        Identity {
            msp_id: creator.msp_id.clone(),
            cert_der: creator.common_name.as_bytes().to_vec(),
        }
    }

    fn proposal(&mut self, creator: &Creator, function: &str, args: &[Vec<u8>]) -> Proposal {
        self.seed += 1;
        let mut nonce = [0u8; 24];
        nonce.copy_from_slice(&sm3(&self.seed.to_le_bytes()).0[..24]);
        Proposal {
            header: Header {
                channel: "settlement".into(),
                creator: Self::identity(creator),
                nonce: Nonce(nonce),
                timestamp: Timestamp {
                    unix_time_ms: self.now_ms,
                },
            },
            contract: SettlementContract.id(),
            function: function.into(),
            args: args.to_vec(),
        }
    }

    fn simulate(
        &self,
        proposal: &Proposal,
        creator: &Creator,
    ) -> Result<(Vec<u8>, Simulation), ContractError> {
        let invocation = Invocation {
            channel: "settlement".into(),
            namespace: "settlement".into(),
            tx_id: proposal.tx_id(),
            timestamp: proposal.header.timestamp,
            creator: creator.clone(),
        };
        let mut simulator = Simulator::new(&self.state, invocation);
        let payload =
            SettlementContract.invoke(&mut simulator, &proposal.function, &proposal.args)?;
        Ok((payload, simulator.finish()))
    }

    /// Simulates, then commits the result as the next block; returns the response.
    fn call(
        &mut self,
        creator: &Creator,
        function: &str,
        args: &[Vec<u8>],
    ) -> Result<Vec<u8>, ContractError> {
        let proposal = self.proposal(creator, function, args);
        let (payload, simulation) = self.simulate(&proposal, creator)?;
        let version = self.state.commit(proposal.tx_id(), &simulation.rw_set);
        let response = ProposalResponsePayload {
            proposal_hash: proposal.hash().unwrap(),
            action: ContractAction {
                contract: ContractId {
                    ..proposal.contract.clone()
                },
                rw_set: simulation.rw_set,
                response: Response {
                    status: 200,
                    message: String::new(),
                    payload: payload.clone(),
                },
                events: simulation.events,
            },
        };
        let endorser = Identity {
            msp_id: UNICOM.into(),
            cert_der: b"peer0.unicom".to_vec(),
        };
        let endorsement = Endorsement::sign(&self.key, endorser, &response).unwrap();
        let signed = SignedProposal::sign(&self.key, proposal).unwrap();
        let transaction = Transaction {
            proposal: signed.proposal,
            response,
            endorsements: vec![endorsement],
        };
        let envelope =
            Envelope::sign(&self.key, Payload::Transaction(Box::new(transaction))).unwrap();
        let (number, previous_hash) = match self.blocks.last() {
            Some(block) => (block.header.number + 1, block.hash()),
            None => (0, netsettle_smcrypto::Hash::default()),
        };
        // The state committed the writes at the block this transaction goes into.
        assert_eq!((version.block, version.tx), (number, 0));
        let mut block = Block::new(number, previous_hash, vec![envelope], 0).unwrap();
        block.metadata.validation_codes = vec![ValidationCode::Valid];
        self.blocks.push(block);
        Ok(payload)
    }

    fn json(&mut self, creator: &Creator, function: &str, request: Value) -> Value {
        let payload = self
            .call(creator, function, &[serde_json::to_vec(&request).unwrap()])
            .unwrap_or_else(|error| panic!("{function}: {error}"));
        serde_json::from_slice(&payload).unwrap()
    }

    fn query(&mut self, creator: &Creator, function: &str, request: Value) -> Vec<u8> {
        let proposal = self.proposal(creator, function, &[serde_json::to_vec(&request).unwrap()]);
        let (payload, simulation) = self.simulate(&proposal, creator).unwrap();
        assert!(
            simulation
                .rw_set
                .namespaces
                .iter()
                .all(|ns| ns.writes.is_empty()),
            "a query wrote"
        );
        payload
    }
}

#[test]
fn a_month_in_blocks_replays_to_the_final_data_on_the_chain() {
    let mut chain = Chain::new();
    let digest =
        chain.json(&admin(UNICOM), "agreement_propose", json!(agreement()))["digest"].clone();
    chain.json(
        &admin(MOBILE),
        "agreement_accept",
        json!({ "digest": digest }),
    );
    let (unicom, mobile) = small_reports();
    chain
        .call(
            &client(UNICOM),
            "upload",
            &seal_report(&unicom, &opening(UNICOM, &key(1)), nonce_for(UNICOM)).upload_args(),
        )
        .unwrap();
    chain
        .call(
            &client(MOBILE),
            "upload",
            &seal_report(&mobile, &opening(MOBILE, &key(2)), nonce_for(MOBILE)).upload_args(),
        )
        .unwrap();
    // A refused call is an error response: nothing to commit.
    let refusal = chain.call(
        &client(UNICOM),
        "upload",
        &seal_report(&unicom, &opening(UNICOM, &key(3)), nonce_for(UNICOM)).upload_args(),
    );
    assert_eq!(refusal.unwrap_err().status(), 409);
    chain
        .call(
            &client(UNICOM),
            "reveal",
            &reveal_args(period(), &opening(UNICOM, &key(1))),
        )
        .unwrap();
    let reconciled: Value = serde_json::from_slice(
        &chain
            .call(
                &client(MOBILE),
                "reveal",
                &reveal_args(period(), &opening(MOBILE, &key(2))),
            )
            .unwrap(),
    )
    .unwrap();
    assert_eq!(reconciled["summary"]["lines"], 5);
    for (line_no, amount) in [(0, 945_000), (1, 600_000), (2, 10_000)] {
        let request = json!({ "period": "2026-10", "line_no": line_no, "quantity": 1, "amount_fen": amount, "reason": "agreed by phone" });
        let id = chain.json(&client(UNICOM), "adjust_propose", request)["adjustment"]["id"].clone();
        chain.json(
            &client(MOBILE),
            "adjust_accept",
            json!({ "period": "2026-10", "adjustment_id": id }),
        );
    }
    chain.json(
        &client(UNICOM),
        "confirm",
        json!({ "period": "2026-10", "version": 4 }),
    );
    let done = chain.json(
        &client(MOBILE),
        "confirm",
        json!({ "period": "2026-10", "version": 4 }),
    );
    assert_eq!(done["phase"], "Final");
    let final_block = chain.blocks.last().unwrap().header.number;

    let request = json!({ "period": "2026-10", "format": "csv", "limit": 1000 });
    let from_unicom = chain.query(&client(UNICOM), "export", request.clone());
    let from_mobile = chain.query(&client(MOBILE), "export", request);
    assert_eq!(from_unicom, from_mobile);
    let csv = String::from_utf8(from_unicom).unwrap();
    assert!(
        csv.contains(&format!("#block {final_block}\n#tx_index 0\n")),
        "{csv}"
    );
    let located: Value = serde_json::from_slice(&chain.query(
        &client(MOBILE),
        "final_get",
        json!({ "period": "2026-10" }),
    ))
    .unwrap();
    assert_eq!(located["location"]["block"], final_block);
    assert_eq!(located["data"]["tx_id"], located["location"]["tx_id"]);

    // Audit: replaying the committed valid transactions re-derives the same final data.
    let replayed = replay(recorded_calls(&chain.blocks)).unwrap();
    let rederived = final_data(&replayed, period()).unwrap();
    assert_eq!(serde_json::to_value(&rederived).unwrap(), located["data"]);
}

/// The valid settlement transactions of `blocks`, with their creators as the harness
/// made them (role and name are in the placeholder certificate).
fn recorded_calls(blocks: &[Block]) -> Vec<RecordedCall> {
    let mut calls = Vec::new();
    for block in blocks {
        for (envelope, code) in block.data.iter().zip(&block.metadata.validation_codes) {
            let Payload::Transaction(tx) = &envelope.payload else {
                continue;
            };
            if *code != ValidationCode::Valid || tx.response.action.contract.name != "settlement" {
                continue;
            }
            let identity = &tx.proposal.header.creator;
            let common_name = String::from_utf8(identity.cert_der.clone()).unwrap();
            let role = if common_name.starts_with("admin@") {
                Role::Admin
            } else {
                Role::Client
            };
            calls.push(RecordedCall {
                creator: common::who(&identity.msp_id, role),
                tx_id: tx.proposal.tx_id(),
                timestamp: tx.proposal.header.timestamp,
                function: tx.proposal.function.clone(),
                args: tx.proposal.args.clone(),
            });
        }
    }
    calls
}
