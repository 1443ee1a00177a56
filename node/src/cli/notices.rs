//! `netsettle notices list`: the delivery state of a node's notices, read from the
//! outbox in its peer ledger. It opens the ledger read-only, so it runs beside the node
//! that holds it open, and changes nothing. Any failure is a one-line error and a
//! non-zero exit.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use netsettle_client::notice::Notice;
use netsettle_ledger::{Ledger, OutboxEntry, OutboxState};
use serde_json::json;

use crate::runtime::config::NodeConfig;

/// Notices of a node's staff.
#[derive(Debug, clap::Subcommand)]
pub enum NoticesCommand {
    /// List the notices in a node's outbox, oldest first: id, recipient, kind, period,
    /// state, attempts, last error, next attempt.
    List {
        /// The node configuration file (its data directory holds the peer ledger).
        #[arg(long)]
        config: PathBuf,
        /// `table` for people, `json` for scripts (one document on stdout).
        #[arg(long, value_enum, default_value_t)]
        output: Format,
        /// Only notices in this state.
        #[arg(long, value_enum)]
        state: Option<StateFilter>,
    },
}

/// How the list is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Aligned text for people.
    #[default]
    Table,
    /// One JSON array on stdout.
    Json,
}

/// A delivery state to filter on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StateFilter {
    /// Not delivered yet.
    Pending,
    /// Delivered.
    Sent,
    /// Given up on.
    Failed,
}

/// Entries read per page; the outbox holds at most `OUTBOX_ENTRIES_MAX`.
const PAGE: usize = 1_000;

pub fn run(command: NoticesCommand) -> Result<()> {
    match command {
        NoticesCommand::List {
            config,
            output,
            state,
        } => list(&config, output, state),
    }
}

fn list(config: &Path, output: Format, state: Option<StateFilter>) -> Result<()> {
    let config = NodeConfig::load(config)?;
    if config.peer.is_none() {
        bail!(
            "node {} runs no peer role: it keeps no notices",
            config.name
        );
    }
    let path = config.data_dir.join("ledger");
    let ledger = Ledger::open_read_only(&path)
        .with_context(|| format!("opening the ledger {} read-only", path.display()))?;
    let state = state.map(|state| match state {
        StateFilter::Pending => OutboxState::Pending,
        StateFilter::Sent => OutboxState::Sent,
        StateFilter::Failed => OutboxState::Failed,
    });
    let mut entries = Vec::new();
    let mut from = 0u64;
    loop {
        let page = ledger
            .outbox()
            .list(None, from, PAGE)
            .context("reading the outbox")?;
        let Some(last) = page.last().map(|entry| entry.seq) else {
            break;
        };
        entries.extend(
            page.into_iter()
                .filter(|entry| state.is_none_or(|state| state == entry.state)),
        );
        from = last.saturating_add(1);
    }
    match output {
        Format::Json => print_json(&entries),
        Format::Table => print_table(&entries),
    }
}

fn notice_of(entry: &OutboxEntry) -> Option<Notice> {
    serde_json::from_slice(&entry.payload).ok()
}

fn print_json(entries: &[OutboxEntry]) -> Result<()> {
    let rows: Vec<serde_json::Value> = entries
        .iter()
        .map(|entry| {
            let notice = notice_of(entry);
            json!({
                "seq": entry.seq,
                "id": entry.id,
                "recipient": notice.as_ref().map(|n| n.recipient.clone()),
                "kind": notice.as_ref().map(|n| n.kind.clone()),
                "period": notice.as_ref().and_then(|n| n.period.clone()),
                "text": notice.as_ref().map(|n| n.text.clone()),
                "state": entry.state.as_str(),
                "attempts": entry.attempts,
                "created_ms": entry.created_ms,
                "next_attempt_ms": (entry.state == OutboxState::Pending).then_some(entry.next_attempt_ms),
                "finished_ms": (entry.state != OutboxState::Pending).then_some(entry.next_attempt_ms),
                "last_error": entry.last_error,
            })
        })
        .collect();
    println!("{}", serde_json::to_string_pretty(&rows)?);
    Ok(())
}

fn print_table(entries: &[OutboxEntry]) -> Result<()> {
    let mut rows = vec![[
        "ID".to_owned(),
        "RECIPIENT".to_owned(),
        "KIND".to_owned(),
        "PERIOD".to_owned(),
        "STATE".to_owned(),
        "ATTEMPTS".to_owned(),
        "NEXT ATTEMPT".to_owned(),
        "LAST ERROR".to_owned(),
    ]];
    for entry in entries {
        let notice = notice_of(entry);
        let field = |get: fn(&Notice) -> Option<String>| {
            notice
                .as_ref()
                .and_then(get)
                .unwrap_or_else(|| "-".to_owned())
        };
        let next = match entry.state {
            OutboxState::Pending => utc(entry.next_attempt_ms),
            _ => "-".to_owned(),
        };
        rows.push([
            entry.id.clone(),
            field(|n| Some(n.recipient.clone())),
            field(|n| Some(n.kind.clone())),
            field(|n| n.period.clone()),
            entry.state.as_str().to_owned(),
            entry.attempts.to_string(),
            next,
            entry.last_error.clone().unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    let mut widths = [0usize; 8];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", cells.join("  ").trim_end());
    }
    if entries.is_empty() {
        println!("(no notices)");
    }
    Ok(())
}

/// `unix_ms` as `YYYY-MM-DDTHH:MM:SSZ` (the civil-from-days algorithm: days since
/// 1970-01-01 to a proleptic Gregorian date).
fn utc(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1_000);
    let days = secs.div_euclid(86_400);
    let second_of_day = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3_600,
        second_of_day % 3_600 / 60,
        second_of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_796_000_000_123), "2026-11-30T00:53:20Z");
    }
}
