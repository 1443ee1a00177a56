//! `settlement audit`: re-derive a period's final data from a peer's ledger, opened
//! read-only, and compare it with the committed record. Every valid settlement
//! transaction is replayed through the contract with its creator validated as the
//! committing peers did; a progress bar follows the blocks, then the replay.

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use netsettle_ledger::Ledger;
use netsettle_protocol::{Payload, ValidationCode};
use netsettle_settlement::contract::CONTRACT_NAME;
use netsettle_settlement::replay::{RecordedCall, final_data, replay};
use netsettle_settlement::units::Period;

use super::render::{Printer, fields};

pub fn run(ledger_dir: &Path, period: Period, printer: Printer) -> Result<()> {
    let ledger = Ledger::open_read_only(ledger_dir)
        .with_context(|| format!("opening {}", ledger_dir.display()))?;
    let height = ledger.chain_info()?.height;
    let bar = printer.progress(height, "blocks");
    let calls = recorded_calls(&ledger, height, &|| bar.inc(1))?;
    bar.finish_and_clear();
    let n_calls = calls.len();
    let bar = printer.progress(u64::try_from(n_calls)?, "replay");
    let replayed = replay(calls.into_iter().inspect(|_| bar.inc(1)))?;
    bar.finish_and_clear();
    let rederived = final_data(&replayed, period).with_context(|| {
        format!("period {period} is not final after replaying {n_calls} transactions")
    })?;
    let key = netsettle_settlement::store::final_key(period)?;
    let committed = ledger
        .state(CONTRACT_NAME, &key)?
        .with_context(|| format!("no final data for {period} on the ledger"))?;
    if netsettle_protocol::encode(&rederived)? != committed.value {
        bail!("MISMATCH: the committed final data of {period} differs from the re-derived one");
    }
    let json = serde_json::json!({
        "period": period, "blocks": height, "transactions": n_calls,
        "data_sm3": rederived.data_sm3, "net_amount_fen": rederived.net_amount_fen,
        "identical": true, "committed_at": committed.version.to_string(),
    });
    printer.show(&json, || {
        fields(&[
            (
                "replayed",
                format!("{n_calls} settlement transactions from {height} blocks"),
            ),
            (
                "re-derived",
                format!(
                    "data_sm3 {} net {} fen",
                    rederived.data_sm3, rederived.net_amount_fen
                ),
            ),
            (
                "committed",
                format!("identical (written at {})", committed.version),
            ),
        ])
    });
    Ok(())
}

/// Every valid settlement call in blocks `0..height`, its creator as the contract saw it:
/// validated by the MSPs of the config in force at its block, at the transaction's time.
fn recorded_calls(ledger: &Ledger, height: u64, tick: &dyn Fn()) -> Result<Vec<RecordedCall>> {
    let mut calls = Vec::new();
    let mut msps = None;
    for number in 0..height {
        let block = ledger
            .block(number)?
            .with_context(|| format!("block {number} missing"))?;
        if let Some(config) = block.config() {
            msps = Some(
                netsettle_msp::ChannelMsps::from_config(config)
                    .with_context(|| format!("the config in block {number}"))?,
            );
        }
        let msps = msps
            .as_ref()
            .with_context(|| format!("block {number} precedes any config block"))?;
        for (envelope, code) in block.data.iter().zip(&block.metadata.validation_codes) {
            let Payload::Transaction(tx) = &envelope.payload else {
                continue;
            };
            if *code != ValidationCode::Valid || tx.proposal.contract.name != CONTRACT_NAME {
                continue;
            }
            let header = &tx.proposal.header;
            let at_unix = i64::try_from(header.timestamp.unix_time_ms / 1000).unwrap_or(i64::MAX);
            let creator = msps
                .validate(&header.creator, at_unix)
                .with_context(|| format!("the creator of a valid transaction in block {number}"))?;
            calls.push(RecordedCall {
                creator: netsettle_peer::endorser::contract_creator(&creator),
                tx_id: tx.proposal.tx_id(),
                timestamp: tx.proposal.header.timestamp,
                function: tx.proposal.function.clone(),
                args: tx.proposal.args.clone(),
            });
        }
        tick();
    }
    Ok(calls)
}
