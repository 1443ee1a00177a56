//! A harness that drives the settlement contract through the peer's simulator over
//! in-memory state (`MemoryState`) with the two carriers' identities, so each test reads
//! as the workflow it checks.

#![allow(dead_code)]

use netsettle_contract::{Contract, Creator, Invocation, MemoryState};
use netsettle_protocol::{Role, Timestamp, TxId};
use netsettle_settlement::agreement::Agreement;
use netsettle_settlement::contract::CONTRACT_NAME;
use netsettle_settlement::contract::SettlementContract;
use netsettle_settlement::limits::DEADLINE_MARGIN_MS_DEFAULT;
use netsettle_settlement::report::Report;
use netsettle_settlement::sample::{SampleSpec, generate_pair};
use netsettle_settlement::seal::{Opening, SALT_BYTES, reveal_args, seal_report};
use netsettle_settlement::units::Period;
use netsettle_smcrypto::{Sm4Key, sm3};
use serde_json::{Value, json};

pub const UNICOM: &str = "UnicomMSP";
pub const MOBILE: &str = "MobileMSP";
pub const DAY_MS: u64 = 86_400_000;

pub fn period() -> Period {
    "2026-10".parse().unwrap()
}

pub fn agreement() -> Agreement {
    Agreement {
        party_a: UNICOM.into(),
        party_b: MOBILE.into(),
        currency: "CNY".into(),
        tolerance_fen: 100,
        tolerance_bp: 10,
        reveal_window_ms: 7 * DAY_MS,
        clock_margin_ms: DEADLINE_MARGIN_MS_DEFAULT,
        upload_deadline_day: None,
    }
}

pub fn who(msp_id: &str, role: Role) -> Creator {
    let common_name = format!("{role:?}@{msp_id}").to_lowercase();
    Creator {
        msp_id: msp_id.into(),
        role,
        fingerprint: sm3(common_name.as_bytes()),
        common_name,
        attributes: Default::default(),
    }
}

/// A client certificate of `msp_id`'s finance department (`department=finance`).
pub fn finance(msp_id: &str) -> Creator {
    let mut creator = who(msp_id, Role::Client);
    creator.common_name = format!("finance@{msp_id}").to_lowercase();
    creator.fingerprint = sm3(creator.common_name.as_bytes());
    creator
        .attributes
        .insert("department".into(), "finance".into());
    creator
}

pub fn client(msp_id: &str) -> Creator {
    who(msp_id, Role::Client)
}

pub fn admin(msp_id: &str) -> Creator {
    who(msp_id, Role::Admin)
}

/// A failed call: status and message.
#[derive(Debug)]
pub struct Refusal {
    pub status: u32,
    pub message: String,
}

pub struct Harness {
    pub ledger: MemoryState,
    pub now_ms: u64,
    pub events: Vec<(String, Value)>,
    calls: u64,
}

impl Harness {
    pub fn new() -> Self {
        Self {
            ledger: MemoryState::new(),
            now_ms: 1_793_000_000_000,
            events: Vec::new(),
            calls: 0,
        }
    }

    /// The small pair uploaded and revealed: the period in review.
    pub fn reconciled() -> Self {
        let mut harness = Self::with_agreement();
        let (unicom, mobile) = small_reports();
        harness.upload(UNICOM, &unicom, &key(1)).unwrap();
        harness.upload(MOBILE, &mobile, &key(2)).unwrap();
        harness.reveal(UNICOM, &key(1)).unwrap();
        harness.reveal(MOBILE, &key(2)).unwrap();
        harness
    }

    /// A harness with the agreement in force.
    pub fn with_agreement() -> Self {
        let mut harness = Self::new();
        let digest =
            harness.ok(&admin(UNICOM), "agreement_propose", json!(agreement()))["digest"].clone();
        harness.ok(
            &admin(MOBILE),
            "agreement_accept",
            json!({ "digest": digest }),
        );
        harness
    }

    fn invocation(&mut self, creator: &Creator) -> Invocation {
        self.calls += 1;
        Invocation {
            channel: "settlement".into(),
            namespace: CONTRACT_NAME.into(),
            creator: creator.clone(),
            tx_id: TxId(sm3(&self.calls.to_le_bytes())),
            timestamp: Timestamp {
                unix_time_ms: self.now_ms,
            },
        }
    }

    /// Runs a transaction with raw arguments; the state is unchanged when it fails.
    pub fn call_raw(
        &mut self,
        creator: &Creator,
        function: &str,
        args: &[Vec<u8>],
    ) -> Result<Vec<u8>, Refusal> {
        let invocation = self.invocation(creator);
        let before = self.ledger.state_bytes();
        let height = self.ledger.height();
        match self
            .ledger
            .execute(&SettlementContract, &invocation, function, args)
        {
            Ok(outcome) => {
                for event in outcome.simulation.events {
                    self.events
                        .push((event.name, serde_json::from_slice(&event.payload).unwrap()));
                }
                Ok(outcome.payload)
            }
            Err(error) => {
                assert_eq!(
                    self.ledger.state_bytes(),
                    before,
                    "a refused call changed state"
                );
                assert_eq!(self.ledger.height(), height);
                Err(Refusal {
                    status: error.status(),
                    message: error.to_string(),
                })
            }
        }
    }

    pub fn call(
        &mut self,
        creator: &Creator,
        function: &str,
        request: Value,
    ) -> Result<Value, Refusal> {
        let payload = self.call_raw(creator, function, &[serde_json::to_vec(&request).unwrap()])?;
        Ok(serde_json::from_slice(&payload).unwrap_or(Value::Null))
    }

    pub fn ok(&mut self, creator: &Creator, function: &str, request: Value) -> Value {
        match self.call(creator, function, request) {
            Ok(value) => value,
            Err(refusal) => panic!("{function} refused: {refusal:?}"),
        }
    }

    /// Asserts the call is refused with `status` and a message containing `needle`.
    pub fn refused(
        &mut self,
        creator: &Creator,
        function: &str,
        request: Value,
        status: u32,
        needle: &str,
    ) {
        match self.call(creator, function, request) {
            Ok(value) => panic!("{function} succeeded: {value}"),
            Err(refusal) => {
                assert_eq!(refusal.status, status, "{refusal:?}");
                assert!(
                    refusal.message.contains(needle),
                    "{:?} lacks {needle:?}",
                    refusal.message
                );
            }
        }
    }

    pub fn query(&self, creator: &Creator, function: &str, request: Value) -> Value {
        let invocation = Invocation {
            channel: "settlement".into(),
            namespace: CONTRACT_NAME.into(),
            creator: creator.clone(),
            tx_id: TxId(sm3(b"query")),
            timestamp: Timestamp {
                unix_time_ms: self.now_ms,
            },
        };
        let payload = self
            .ledger
            .query(
                &SettlementContract,
                &invocation,
                function,
                &[serde_json::to_vec(&request).unwrap()],
            )
            .unwrap_or_else(|error| panic!("{function}: {error}"));
        serde_json::from_slice(&payload)
            .unwrap_or_else(|_| Value::String(String::from_utf8(payload).unwrap()))
    }

    pub fn event_names(&self) -> Vec<&str> {
        self.events.iter().map(|(name, _)| name.as_str()).collect()
    }

    pub fn upload(
        &mut self,
        carrier: &str,
        report: &Report,
        key: &Sm4Key,
    ) -> Result<Vec<u8>, Refusal> {
        let sealed = seal_report(report, &opening(carrier, key), nonce_for(carrier));
        self.call_raw(&client(carrier), "upload", &sealed.upload_args())
    }

    /// Reveals `key` with the carrier's salt ([`salt_for`]).
    pub fn reveal(&mut self, carrier: &str, key: &Sm4Key) -> Result<Value, Refusal> {
        let args = reveal_args(period(), &opening(carrier, key));
        let payload = self.call_raw(&client(carrier), "reveal", &args)?;
        Ok(serde_json::from_slice(&payload).unwrap())
    }

    pub fn period_state(&self) -> Value {
        self.query(
            &client(UNICOM),
            "period_get",
            json!({ "period": "2026-10" }),
        )["state"]
            .clone()
    }

    pub fn contract_digest(&self) -> netsettle_smcrypto::Hash {
        SettlementContract.package_digest()
    }
}

pub fn nonce_for(carrier: &str) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&sm3(carrier.as_bytes()).0[..12]);
    nonce
}

/// The commitment salt the harness uses for `carrier` in every round.
pub fn salt_for(carrier: &str) -> [u8; SALT_BYTES] {
    let mut salt = [0u8; SALT_BYTES];
    salt.copy_from_slice(&sm3(format!("salt {carrier}").as_bytes()).0[..SALT_BYTES]);
    salt
}

/// `key` with the carrier's salt.
pub fn opening(carrier: &str, key: &Sm4Key) -> Opening {
    Opening {
        key: key.clone(),
        salt: salt_for(carrier),
    }
}

pub fn key(byte: u8) -> Sm4Key {
    Sm4Key::from_slice(&[byte; 16]).unwrap()
}

/// A generated pair of reports (Unicom's, Mobile's).
pub fn reports(seed: u64, lines: usize) -> (Report, Report) {
    generate_pair(&SampleSpec::typical(seed, period(), lines), &agreement()).unwrap()
}

/// A small hand-written pair: one agreed line, one within tolerance, one disputed, one
/// one-sided on each side.
pub fn small_reports() -> (Report, Report) {
    let unicom = "item,direction,area,quantity,unit,rate,amount_fen\n\
        voice,payable,0571,120000,minute,0.06,720000\n\
        sms,receivable,010,50000,message,0.03,150000\n\
        data,payable,021,9000000,MB,0.001,900000\n\
        leased_line,payable,0755,2,circuit_month,3000,600000\n";
    let mobile = "item,direction,area,quantity,unit,rate,amount_fen\n\
        voice,receivable,0571,120000,minute,0.06,720000\n\
        sms,payable,010,50010,message,0.03,150030\n\
        data,receivable,021,9900000,MB,0.001,990000\n\
        mms,payable,020,1000,message,0.1,10000\n";
    (
        Report::from_csv(period(), UNICOM, unicom.as_bytes()).unwrap(),
        Report::from_csv(period(), MOBILE, mobile.as_bytes()).unwrap(),
    )
}
