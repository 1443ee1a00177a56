//! `settlement watch`: the settlement contract's events as their blocks commit, from a
//! block height or after the cursor of the last event seen, through the SDK's event
//! stream (only valid transactions' events, in chain order). One line an event: a table
//! row, or with `--output json` one JSON object a line, each with its cursor, so a script
//! that stopped resumes with `--after CURSOR` and misses nothing.

use anyhow::{Context as _, Result};
use netsettle_client::{ChainEvent, EventCursor};
use netsettle_settlement::contract::CONTRACT_NAME;
use serde_json::Value;

use super::client::Failure;
use super::render::{Printer, cell};
use super::staff::{WatchArgs, with_staff};

pub async fn run(args: &WatchArgs) -> Result<()> {
    let cursor = args
        .after
        .as_deref()
        .map(|text| {
            text.parse::<EventCursor>()
                .with_context(|| format!("--after {text:?}: expected BLOCK-TX-EVENT"))
        })
        .transpose()?;
    with_staff(&args.staff, async |staff, printer| {
        let mut stream = staff.events(args.from, cursor)?;
        let mut seen: u64 = 0;
        while args.count.is_none_or(|count| seen < count) {
            let event = stream
                .next()
                .await
                .map_err(|error| Failure::of("watch", error))?;
            let ChainEvent::Contract(event) = event else {
                continue;
            };
            if event.contract.name != CONTRACT_NAME {
                continue;
            }
            let tx_id = event.tx_id.to_string();
            show(printer, event.cursor(), &tx_id, &event.name, &event.payload);
            seen = seen.saturating_add(1);
        }
        Ok(())
    })
    .await
}

fn show(printer: Printer, cursor: EventCursor, tx_id: &str, name: &str, payload: &[u8]) {
    // Every settlement event's payload is JSON; anything else is shown as hex.
    let payload: Value =
        serde_json::from_slice(payload).unwrap_or_else(|_| Value::String(hex::encode(payload)));
    let json = serde_json::json!({
        "cursor": cursor.to_string(), "block": cursor.block, "tx_id": tx_id,
        "name": name, "payload": payload,
    });
    printer.show(&json, || {
        let period = payload.get("period").map_or_else(String::new, cell);
        let by = ["by", "carrier"]
            .iter()
            .find_map(|key| payload.get(*key))
            .map_or_else(String::new, cell);
        format!(
            "{:<10} {:<22} {:<8} {:<10} tx {}\n",
            cursor.to_string(),
            name,
            period,
            by,
            tx_id
        )
    });
}
