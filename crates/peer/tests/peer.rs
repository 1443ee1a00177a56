//! The endorser, validator, committer and lifecycle over a real tempdir ledger and real
//! SM2 certificates of both carriers. Each scenario submits envelopes as one block and
//! compares the codes the validator set, rendered as text.

use std::sync::Arc;

use netsettle_msp::ChannelState;
use netsettle_peer::endorser::Endorser;
use netsettle_peer::events::BlockEvent;
use netsettle_peer::lifecycle::LIFECYCLE_NAMESPACE;
use netsettle_peer::lifecycle::{ContractDefinition, ContractRegistry};
use netsettle_peer::validator::{ValidatedBlock, Validator, check_block_time};
use netsettle_peer::{EndorseError, LedgerView, ProposalRejected, committer};
use netsettle_protocol::{
    Block, Endorsement, Envelope, Payload, Policy, Principal, ProposalResponse, Role,
    SignaturePolicy, SignedProposal, Timestamp, Transaction, encode,
};
use netsettle_smcrypto::BatchVerifier;
use netsettle_testkit::peer::{KV_DIGEST_SEED, KvContract, TempLedger};
use netsettle_testkit::pki::NOW_MS;
use netsettle_testkit::tx::{header, proposal, proposal_at, transaction, writes};
use netsettle_testkit::{Consortium, Member};

struct Harness {
    net: Consortium,
    temp: TempLedger,
    channel: ChannelState,
    validator: Validator,
    endorsers: [Endorser; 2],
    last: Block,
    seed: u64,
}

fn both_peers_policy() -> Policy {
    let peer = |msp_id: &str| {
        SignaturePolicy::SignedBy(Principal {
            msp_id: msp_id.to_owned(),
            role: Role::Peer,
        })
    };
    Policy::Signature(SignaturePolicy::And(vec![
        peer("UnicomMSP"),
        peer("MobileMSP"),
    ]))
}

fn kv_definition() -> ContractDefinition {
    ContractDefinition {
        name: "kv".to_owned(),
        version: "1.0".to_owned(),
        sequence: 1,
        endorsement_policy: both_peers_policy(),
        package_digest: netsettle_smcrypto::sm3(KV_DIGEST_SEED),
    }
}

impl Harness {
    /// Genesis committed; no contract defined yet.
    fn bare() -> Self {
        let net = Consortium::new();
        let temp = TempLedger::new();
        let validator = Validator::new(BatchVerifier::with_available_parallelism());
        let genesis = net.genesis.clone();
        let (validated, channel) = validator.validate_genesis(&genesis).unwrap();
        committer::commit(&temp.ledger, &validated).unwrap();
        let mut registry = ContractRegistry::new();
        registry.install(Arc::new(KvContract)).unwrap();
        let registry = Arc::new(registry);
        let endorser = |member: &Member| {
            Endorser::new(
                Arc::new(member.key.clone()),
                member.identity(),
                Arc::clone(&registry),
            )
        };
        let endorsers = [endorser(&net.unicom_peer), endorser(&net.mobile_peer)];
        // The validator is Unicom's peer's: it need not verify what endorser 0 signed.
        let validator = validator.trusting_own(endorsers[0].own_endorsements());
        Harness {
            net,
            temp,
            channel,
            validator,
            endorsers,
            last: validated.block,
            seed: 1_000,
        }
    }

    /// Genesis, then the kv contract approved by both carriers and committed, then
    /// a=1, b=2 written by a valid transaction.
    fn new() -> Self {
        let mut h = Self::bare();
        let definition = encode(&kv_definition()).unwrap();
        let admins = [h.net.unicom_admin.clone(), h.net.mobile_admin.clone()];
        let approvals: Vec<Envelope> = admins
            .iter()
            .map(|admin| {
                h.invoke(
                    admin,
                    LIFECYCLE_NAMESPACE,
                    "approve",
                    &[&definition],
                    &[0, 1],
                )
            })
            .collect();
        assert_eq!(h.submit(approvals), "VALID VALID");
        let admin = h.net.unicom_admin.clone();
        let commit = h.invoke(
            &admin,
            LIFECYCLE_NAMESPACE,
            "commit",
            &[&definition],
            &[0, 1],
        );
        assert_eq!(h.submit(vec![commit]), "VALID");
        let client = h.net.unicom_client.clone();
        let a = h.invoke(&client, "kv", "put", &[b"a", b"1"], &[0, 1]);
        let b = h.invoke(&client, "kv", "put", &[b"b", b"2"], &[0, 1]);
        assert_eq!(h.submit(vec![a, b]), "VALID VALID");
        h
    }

    fn next_seed(&mut self) -> u64 {
        self.seed += 1;
        self.seed
    }

    fn sign(
        &mut self,
        creator: &Member,
        contract: &str,
        function: &str,
        args: &[&[u8]],
    ) -> SignedProposal {
        let seed = self.next_seed();
        proposal(creator, seed, contract, function, args)
    }

    fn endorse(
        &self,
        endorser: usize,
        signed: &SignedProposal,
    ) -> Result<ProposalResponse, EndorseError> {
        let view = LedgerView::new(&self.temp.ledger).unwrap();
        self.endorsers[endorser].endorse(&self.channel.msps, &view, signed, NOW_MS)
    }

    /// Endorses with `endorsers` (indices) and assembles the envelope as a client does.
    fn assemble(&self, creator: &Member, signed: &SignedProposal, endorsers: &[usize]) -> Envelope {
        let responses: Vec<ProposalResponse> = endorsers
            .iter()
            .map(|index| self.endorse(*index, signed).unwrap())
            .collect();
        let first = responses.first().unwrap();
        for response in &responses {
            assert_eq!(response.payload, first.payload, "endorsers disagree");
        }
        let tx = Transaction {
            proposal: signed.proposal.clone(),
            response: first.payload.clone(),
            endorsements: responses.iter().map(|r| r.endorsement.clone()).collect(),
        };
        Envelope::sign(&creator.key, Payload::Transaction(Box::new(tx))).unwrap()
    }

    fn invoke(
        &mut self,
        creator: &Member,
        contract: &str,
        function: &str,
        args: &[&[u8]],
        endorsers: &[usize],
    ) -> Envelope {
        let signed = self.sign(creator, contract, function, args);
        self.assemble(creator, &signed, endorsers)
    }

    fn validate(&self, envelopes: Vec<Envelope>) -> ValidatedBlock {
        let block = self.net.block(&self.last, envelopes);
        let view = LedgerView::new(&self.temp.ledger).unwrap();
        self.validator
            .validate_block(&self.channel, &view, &block)
            .unwrap()
    }

    /// Validates and commits `envelopes` as the next block; the codes, space-separated.
    fn submit(&mut self, envelopes: Vec<Envelope>) -> String {
        let validated = self.validate(envelopes);
        committer::commit(&self.temp.ledger, &validated).unwrap();
        self.last = validated.block.clone();
        render(&validated)
    }

    fn value(&self, key: &str) -> Option<String> {
        self.temp
            .ledger
            .state("kv", key)
            .unwrap()
            .map(|v| String::from_utf8(v.value).unwrap())
    }
}

fn render(validated: &ValidatedBlock) -> String {
    let codes: Vec<&str> = validated
        .block
        .metadata
        .validation_codes
        .iter()
        .map(|code| code.as_str())
        .collect();
    codes.join(" ")
}

#[test]
fn endorsed_by_both_carriers_commits_valid() {
    let mut h = Harness::new();
    let client = h.net.mobile_client.clone();
    let tx = h.invoke(&client, "kv", "put", &[b"c", b"3"], &[0, 1]);
    assert_eq!(h.submit(vec![tx]), "VALID");
    assert_eq!(h.value("c").as_deref(), Some("3"));
    assert_eq!(h.temp.ledger.chain_info().unwrap().height, 5);
}

#[test]
fn endorsed_by_one_carrier_fails_the_policy() {
    let mut h = Harness::new();
    let client = h.net.unicom_client.clone();
    let unicom_only = h.invoke(&client, "kv", "put", &[b"c", b"3"], &[0]);
    let mobile_only = h.invoke(&client, "kv", "put", &[b"d", b"4"], &[1]);
    let twice = h.invoke(&client, "kv", "put", &[b"e", b"5"], &[0, 0]);
    assert_eq!(
        h.submit(vec![unicom_only, mobile_only, twice]),
        "ENDORSEMENT_POLICY_FAILURE ENDORSEMENT_POLICY_FAILURE ENDORSEMENT_POLICY_FAILURE"
    );
    assert_eq!(h.value("c"), None);
}

#[test]
fn a_rw_set_tampered_after_endorsement_is_a_bad_signature() {
    let mut h = Harness::new();
    let client = h.net.unicom_client.clone();
    let envelope = h.invoke(&client, "kv", "put", &[b"c", b"3"], &[0, 1]);
    let Payload::Transaction(mut tx) = envelope.payload else {
        unreachable!()
    };
    tx.response.action.rw_set = writes("kv", &[("c", Some("3000"))]);
    // The client re-signs its envelope; only the endorsements are now over other bytes.
    let tampered = Envelope::sign(&client.key, Payload::Transaction(tx)).unwrap();
    assert_eq!(h.submit(vec![tampered]), "BAD_SIGNATURE");
    assert_eq!(h.value("c"), None);
}

#[test]
fn the_peers_own_endorsement_is_taken_without_verifying_it_again() {
    let mut h = Harness::new();
    let own = h.endorsers[0].own_endorsements();
    let before = own.hits();
    let client = h.net.mobile_client.clone();
    let tx = h.invoke(&client, "kv", "put", &[b"c", b"3"], &[0, 1]);
    assert_eq!(h.submit(vec![tx]), "VALID");
    assert_eq!(own.hits(), before + 1);
    assert_eq!(h.value("c").as_deref(), Some("3"));
}

#[test]
fn a_validated_block_names_each_transaction_id_in_block_order() {
    let mut h = Harness::new();
    let client = h.net.unicom_client.clone();
    let envelopes = vec![
        h.invoke(&client, "kv", "put", &[b"c", b"3"], &[0, 1]),
        h.invoke(&client, "kv", "put", &[b"d", b"4"], &[0]),
    ];
    let expected: Vec<_> = envelopes.iter().map(Envelope::tx_id).collect();
    let validated = h.validate(envelopes);
    assert_eq!(validated.tx_ids, expected);
    let verdicts: Vec<_> = validated.verdicts().into_iter().map(|(id, _)| id).collect();
    assert_eq!(verdicts, expected);
}

#[test]
fn a_forged_endorsement_under_the_peers_own_name_is_still_refused() {
    let mut h = Harness::new();
    let own = h.endorsers[0].own_endorsements();
    let client = h.net.unicom_client.clone();
    let envelope = h.invoke(&client, "kv", "put", &[b"c", b"3"], &[0, 1]);
    let Payload::Transaction(tx) = envelope.payload else {
        unreachable!()
    };
    let tx = *tx;
    let before = own.hits();
    // Another signature under this peer's identity over the bytes it signed (made with
    // another key): not the recorded one, so verified, and it fails.
    let mut forged_signature = tx.clone();
    forged_signature.endorsements[0] = Endorsement::sign(
        &h.net.mobile_peer.key,
        h.net.unicom_peer.identity(),
        &forged_signature.response,
    )
    .unwrap();
    // The recorded signature over other bytes: verified, and it fails.
    let mut other_payload = tx.clone();
    other_payload.response.action.rw_set = writes("kv", &[("c", Some("3000"))]);
    other_payload.endorsements.truncate(1);
    // The genuine transaction first (the forged copies share its id): it alone is taken
    // from the cache.
    let block = [tx, forged_signature, other_payload]
        .map(|tx| Envelope::sign(&client.key, Payload::Transaction(Box::new(tx))).unwrap());
    assert_eq!(
        h.submit(block.to_vec()),
        "VALID BAD_SIGNATURE BAD_SIGNATURE"
    );
    assert_eq!(own.hits(), before + 1);
    assert_eq!(h.value("c").as_deref(), Some("3"));
}

#[test]
fn an_envelope_not_signed_by_its_creator_is_a_bad_signature() {
    let mut h = Harness::new();
    let client = h.net.unicom_client.clone();
    let envelope = h.invoke(&client, "kv", "put", &[b"c", b"3"], &[0, 1]);
    let forged = Envelope::sign(&h.net.mobile_client.key, envelope.payload).unwrap();
    assert_eq!(h.submit(vec![forged]), "BAD_SIGNATURE");
}

#[test]
fn two_reads_of_the_same_version_in_one_block_conflict() {
    let mut h = Harness::new();
    let client = h.net.unicom_client.clone();
    let first = h.invoke(&client, "kv", "move", &[b"a", b"x"], &[0, 1]);
    let second = h.invoke(&client, "kv", "move", &[b"a", b"y"], &[0, 1]);
    assert_eq!(h.submit(vec![first, second]), "VALID MVCC_READ_CONFLICT");
    assert_eq!(h.value("a"), None);
    assert_eq!(h.value("x").as_deref(), Some("1"));
    assert_eq!(h.value("y"), None);
}

#[test]
fn a_read_made_stale_by_an_earlier_block_conflicts() {
    let mut h = Harness::new();
    let client = h.net.unicom_client.clone();
    let stale = h.invoke(&client, "kv", "move", &[b"a", b"y"], &[0, 1]);
    let first = h.invoke(&client, "kv", "put", &[b"a", b"9"], &[0, 1]);
    assert_eq!(h.submit(vec![first]), "VALID");
    assert_eq!(h.submit(vec![stale]), "MVCC_READ_CONFLICT");
}

#[test]
fn a_key_inserted_into_a_scanned_range_is_a_phantom() {
    let mut h = Harness::new();
    let client = h.net.unicom_client.clone();
    let scan = h.invoke(&client, "kv", "range", &[b"", b"", b"10"], &[0, 1]);
    let insert = h.invoke(&client, "kv", "put", &[b"aa", b"7"], &[0, 1]);
    let scan_again = h.invoke(&client, "kv", "range", &[b"", b"", b"10"], &[0, 1]);
    assert_eq!(h.submit(vec![insert, scan]), "VALID PHANTOM_READ_CONFLICT");
    assert_eq!(h.submit(vec![scan_again]), "PHANTOM_READ_CONFLICT");
    let fresh = h.invoke(&client, "kv", "range", &[b"", b"", b"10"], &[0, 1]);
    assert_eq!(h.submit(vec![fresh]), "VALID");
}

#[test]
fn a_replayed_envelope_is_a_duplicate() {
    let mut h = Harness::new();
    let client = h.net.unicom_client.clone();
    let tx = h.invoke(&client, "kv", "put", &[b"c", b"3"], &[0, 1]);
    assert_eq!(
        h.submit(vec![tx.clone(), tx.clone()]),
        "VALID DUPLICATE_TXID"
    );
    assert_eq!(h.submit(vec![tx]), "DUPLICATE_TXID");
}

#[test]
fn the_endorser_refuses_a_replayed_proposal() {
    let mut h = Harness::new();
    let client = h.net.unicom_client.clone();
    let signed = h.sign(&client, "kv", "put", &[b"c", b"3"]);
    let tx = h.assemble(&client, &signed, &[0, 1]);
    assert_eq!(h.submit(vec![tx]), "VALID");
    let error = h.endorse(0, &signed).unwrap_err();
    assert!(
        matches!(
            error,
            EndorseError::Rejected(ProposalRejected::DuplicateTxId(_))
        ),
        "{error}"
    );
}

#[test]
fn a_revoked_client_is_refused_by_endorsers_and_validators() {
    let mut h = Harness::new();
    let revoked = h.net.revoked_client.clone();
    let signed = h.sign(&revoked, "kv", "put", &[b"c", b"3"]);
    let error = h.endorse(0, &signed).unwrap_err();
    assert!(
        matches!(error, EndorseError::Rejected(ProposalRejected::Creator(_))),
        "{error}"
    );
    // Peers that (wrongly) endorsed it anyway do not get it committed.
    let peers = [&h.net.unicom_peer, &h.net.mobile_peer];
    let forged = transaction(
        &signed.proposal,
        &revoked,
        writes("kv", &[("c", Some("3"))]),
        &peers,
    );
    assert_eq!(h.submit(vec![forged]), "REVOKED_CERT");
}

#[test]
fn an_empty_key_is_a_bad_rw_set() {
    let mut h = Harness::new();
    let client = h.net.unicom_client.clone();
    let signed = h.sign(&client, "kv", "put", &[b"", b"x"]);
    let error = h.endorse(0, &signed).unwrap_err();
    assert!(
        matches!(error, EndorseError::Contract { status: 400, .. }),
        "{error}"
    );
    let peers = [&h.net.unicom_peer, &h.net.mobile_peer];
    let empty = transaction(
        &signed.proposal,
        &client,
        writes("kv", &[("", Some("x"))]),
        &peers,
    );
    let other_namespace = transaction(
        &signed.proposal,
        &client,
        writes("other", &[("k", Some("x"))]),
        &peers,
    );
    assert_eq!(
        h.submit(vec![empty, other_namespace]),
        "BAD_RWSET DUPLICATE_TXID"
    );
}

#[test]
fn a_write_outside_the_contracts_namespace_is_a_bad_rw_set() {
    let mut h = Harness::new();
    let client = h.net.unicom_client.clone();
    let signed = h.sign(&client, "kv", "put", &[b"k", b"x"]);
    let peers = [&h.net.unicom_peer, &h.net.mobile_peer];
    let sneaky = transaction(
        &signed.proposal,
        &client,
        writes(LIFECYCLE_NAMESPACE, &[("k", Some("x"))]),
        &peers,
    );
    assert_eq!(h.submit(vec![sneaky]), "BAD_RWSET");
}

#[test]
fn an_undefined_contract_is_refused() {
    let mut h = Harness::bare();
    let client = h.net.unicom_client.clone();
    let signed = h.sign(&client, "kv", "put", &[b"c", b"3"]);
    let error = h.endorse(0, &signed).unwrap_err();
    assert!(
        matches!(
            error,
            EndorseError::Rejected(ProposalRejected::UnknownContract { .. })
        ),
        "{error}"
    );
    assert!(
        error.to_string().contains("no committed definition"),
        "{error}"
    );
    let peers = [&h.net.unicom_peer, &h.net.mobile_peer];
    let forged = transaction(
        &signed.proposal,
        &client,
        writes("kv", &[("c", Some("3"))]),
        &peers,
    );
    assert_eq!(h.submit(vec![forged]), "UNKNOWN_CONTRACT");
}

#[test]
fn a_definition_needs_both_carriers_admins() {
    let mut h = Harness::bare();
    let definition = encode(&kv_definition()).unwrap();
    let client = h.net.unicom_client.clone();
    let signed = h.sign(&client, LIFECYCLE_NAMESPACE, "approve", &[&definition]);
    let error = h.endorse(0, &signed).unwrap_err();
    assert!(
        matches!(error, EndorseError::Contract { status: 403, .. }),
        "{error}"
    );
    let admin = h.net.unicom_admin.clone();
    let approve = h.invoke(
        &admin,
        LIFECYCLE_NAMESPACE,
        "approve",
        &[&definition],
        &[0, 1],
    );
    assert_eq!(h.submit(vec![approve]), "VALID");
    let signed = h.sign(&admin, LIFECYCLE_NAMESPACE, "commit", &[&definition]);
    let error = h.endorse(0, &signed).unwrap_err();
    assert!(
        matches!(error, EndorseError::Contract { status: 409, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("MobileMSP"), "{error}");
    // A lifecycle transaction endorsed by one carrier fails MAJORITY Endorsement.
    let mobile_admin = h.net.mobile_admin.clone();
    let lone = h.invoke(
        &mobile_admin,
        LIFECYCLE_NAMESPACE,
        "approve",
        &[&definition],
        &[1],
    );
    assert_eq!(h.submit(vec![lone]), "ENDORSEMENT_POLICY_FAILURE");
}

#[test]
fn a_contract_error_gives_no_endorsement() {
    let h = Harness::new();
    let client = h.net.unicom_client.clone();
    let signed = proposal(&client, 7, "kv", "fail", &[]);
    let error = h.endorse(1, &signed).unwrap_err();
    assert!(
        matches!(error, EndorseError::Contract { status: 409, .. }),
        "{error}"
    );
}

#[test]
fn a_proposal_outside_the_time_window_is_refused() {
    let h = Harness::new();
    let client = h.net.unicom_client.clone();
    let signed = proposal(&client, 7, "kv", "get", &[b"a"]);
    let view = LedgerView::new(&h.temp.ledger).unwrap();
    let late = NOW_MS + 60 * 60 * 1000;
    let error = h.endorsers[0]
        .endorse(&h.channel.msps, &view, &signed, late)
        .unwrap_err();
    assert!(
        matches!(
            error,
            EndorseError::Rejected(ProposalRejected::StaleTimestamp { .. })
        ),
        "{error}"
    );
}

#[test]
fn events_report_codes_and_contract_events_of_valid_transactions() {
    let mut h = Harness::new();
    let client = h.net.unicom_client.clone();
    let emit = h.invoke(&client, "kv", "emit", &[b"Uploaded"], &[0, 1]);
    let lone = h.invoke(&client, "kv", "emit", &[b"Lost"], &[0]);
    let validated = h.validate(vec![emit, lone]);
    committer::commit(&h.temp.ledger, &validated).unwrap();
    let event = BlockEvent::from_validated(&validated);
    let rendered: Vec<String> = event
        .txs
        .iter()
        .map(|tx| {
            let names: Vec<&str> = tx.events.iter().map(|e| e.name.as_str()).collect();
            format!("{} {}", tx.code, names.join(","))
        })
        .collect();
    assert_eq!(rendered, ["VALID Uploaded", "ENDORSEMENT_POLICY_FAILURE "]);
}

#[test]
fn a_block_not_signed_by_an_orderer_is_refused_whole() {
    let h = Harness::new();
    let client = h.net.unicom_client.clone();
    let signed = proposal(&client, 7, "kv", "put", &[b"c", b"3"]);
    let tx = h.assemble(&client, &signed, &[0, 1]);
    let mut block = Block::new(h.last.header.number + 1, h.last.hash(), vec![tx], 0).unwrap();
    block.sign(&client.key, client.identity()).unwrap();
    let view = LedgerView::new(&h.temp.ledger).unwrap();
    let error = h
        .validator
        .validate_block(&h.channel, &view, &block)
        .unwrap_err();
    assert!(
        error.to_string().contains("no valid orderer signature"),
        "{error}"
    );
    let mut unlinked = h.net.block(&h.last, block.data.clone());
    unlinked.header.previous_hash = netsettle_smcrypto::Hash::default();
    let error = h
        .validator
        .validate_block(&h.channel, &view, &unlinked)
        .unwrap_err();
    assert!(error.to_string().contains("does not link"), "{error}");
}

#[test]
fn transactions_dated_away_from_their_blocks_time_are_out_of_range() {
    let mut h = Harness::new();
    let client = h.net.unicom_client.clone();
    let skew_ms = netsettle_protocol::limits::ENVELOPE_TIME_SKEW_SECS_MAX * 1000;
    // The endorsers (at NOW_MS) accept all three; the orderers' time decides.
    let mut at = |ms: u64, key: &[u8]| {
        let seed = h.next_seed();
        let signed = proposal_at(&client, seed, "kv", "put", &[key, b"1"], ms);
        h.assemble(&client, &signed, &[0, 1])
    };
    let on_time = at(NOW_MS - skew_ms, b"on-time");
    let back_dated = at(NOW_MS - skew_ms - 60_000, b"back");
    let forward_dated = at(NOW_MS + skew_ms + 60_000, b"forward");
    let orderer = h.net.orderer();
    let mut block = Block::new_at(
        h.last.header.number + 1,
        h.last.hash(),
        vec![on_time, back_dated, forward_dated],
        h.last.metadata.last_config_index,
        Timestamp {
            unix_time_ms: NOW_MS,
        },
    )
    .unwrap();
    block.sign(&orderer.key, orderer.identity()).unwrap();
    let view = LedgerView::new(&h.temp.ledger).unwrap();
    let validated = h
        .validator
        .validate_block(&h.channel, &view, &block)
        .unwrap();
    assert_eq!(
        render(&validated),
        "VALID TIMESTAMP_OUT_OF_RANGE TIMESTAMP_OUT_OF_RANGE"
    );
}

#[test]
fn a_blocks_time_never_goes_back_nor_runs_ahead_of_the_peers_clock() {
    let skew_ms = netsettle_protocol::limits::ENVELOPE_TIME_SKEW_SECS_MAX * 1000;
    let at = |ms: u64| {
        Block::new_at(
            5,
            netsettle_smcrypto::Hash::default(),
            Vec::new(),
            0,
            Timestamp { unix_time_ms: ms },
        )
        .unwrap()
    };
    let now = NOW_MS;
    let verdict = |previous: u64, block: u64| match check_block_time(previous, &at(block), now) {
        Ok(()) => "ok".to_owned(),
        Err(error) => error.to_string(),
    };
    assert_eq!(verdict(now - 10, now - 10), "ok");
    assert_eq!(verdict(now - 10, now + skew_ms), "ok");
    assert!(verdict(now, now - 1).contains("before the previous block"));
    assert!(verdict(now, now + skew_ms + 1).contains("ahead of this peer's clock"));
}

#[test]
fn a_block_signed_by_a_minted_orderer_that_is_no_consenter_is_refused_whole() {
    let h = Harness::new();
    let orderer9 = h
        .net
        .unicom
        .member("orderer9", netsettle_smcrypto::x509::Role::Orderer);
    let client = h.net.unicom_client.clone();
    let signed = proposal(&client, 7, "kv", "put", &[b"c", b"3"]);
    let tx = h.assemble(&client, &signed, &[0, 1]);
    let block = netsettle_testkit::block::next_block(&orderer9, &h.last, vec![tx]);
    let view = LedgerView::new(&h.temp.ledger).unwrap();
    let error = h
        .validator
        .validate_block(&h.channel, &view, &block)
        .unwrap_err();
    assert!(error.to_string().contains("is not a consenter"), "{error}");
}

/// An orderer's config block carrying `update` signed by `admins`.
fn config_block(
    h: &Harness,
    change: impl FnOnce(&mut netsettle_protocol::ChannelConfig),
    admins: &[&Member],
) -> Block {
    use netsettle_protocol::{ConfigEnvelope, ConfigSignature, ConfigUpdate, ConfigUpdateEnvelope};
    let mut config = h.channel.config.clone();
    config.sequence += 1;
    change(&mut config);
    let update = ConfigUpdate {
        channel: "settlement".to_owned(),
        config: config.clone(),
    };
    let signatures = admins
        .iter()
        .map(|admin| ConfigSignature::sign(&admin.key, admin.identity(), &update).unwrap())
        .collect();
    let payload = Payload::Config {
        header: header(&h.net.orderer().identity(), 77),
        config: Box::new(ConfigEnvelope {
            config,
            last_update: Some(ConfigUpdateEnvelope { update, signatures }),
        }),
    };
    let envelope = Envelope::sign(&h.net.orderer().key, payload).unwrap();
    let number = h.last.header.number + 1;
    let mut block = Block::new(number, h.last.hash(), vec![envelope], number).unwrap();
    block
        .sign(&h.net.orderer().key, h.net.orderer().identity())
        .unwrap();
    block
}

#[test]
fn a_config_block_needs_both_carriers_admins() {
    let h = Harness::new();
    let view = LedgerView::new(&h.temp.ledger).unwrap();
    let slower = |config: &mut netsettle_protocol::ChannelConfig| {
        config.orderer.batch.timeout_ms = 2_000;
    };
    let (unicom_admin, mobile_admin) = (&h.net.unicom_admin, &h.net.mobile_admin);
    let both = config_block(&h, slower, &[unicom_admin, mobile_admin]);
    let validated = h
        .validator
        .validate_block(&h.channel, &view, &both)
        .unwrap();
    assert_eq!(render(&validated), "VALID");
    let new_config = validated.new_config.unwrap();
    assert_eq!(new_config.orderer.batch.timeout_ms, 2_000);
    assert_eq!(new_config.sequence, 1);
    let one = config_block(&h, slower, &[unicom_admin]);
    let validated = h.validator.validate_block(&h.channel, &view, &one).unwrap();
    assert_eq!(render(&validated), "INVALID_CONFIG");
    assert!(validated.new_config.is_none());
}
