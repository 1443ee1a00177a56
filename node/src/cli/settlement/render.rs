//! What the settlement commands print: a readable table for people, or with `--output
//! json` one JSON document on stdout for scripts (the contract's own answer, with the
//! transaction's id and block where one was committed), and nothing else on stdout, so a
//! script can parse it whole. Progress bars draw on stderr, and only on a terminal.

use std::fmt::Write as _;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned text for people.
    #[default]
    Table,
    /// One JSON document on stdout, for scripts.
    Json,
}

/// The `--output` option every settlement command takes.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct OutputArgs {
    /// `table` for people, `json` for scripts (one document on stdout, nothing else).
    #[arg(long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

impl OutputArgs {
    pub fn printer(self) -> Printer {
        Printer {
            format: self.output,
        }
    }
}

/// Prints results in the chosen format.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    format: OutputFormat,
}

impl Printer {
    /// Prints `json` as one line in JSON mode, else the text `table` renders.
    pub fn show(&self, json: &Value, table: impl FnOnce() -> String) {
        match self.format {
            OutputFormat::Json => println!("{json}"),
            OutputFormat::Table => print!("{}", table()),
        }
    }

    /// Progress on a long step: `len` units, drawn on stderr when it is a terminal.
    pub fn progress(&self, len: u64, what: &'static str) -> ProgressBar {
        let bar = ProgressBar::new(len);
        // The template is a constant; should it ever fail to parse, the default style is
        // still a progress bar.
        if let Ok(style) =
            ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} {elapsed_precise}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what);
        bar
    }
}

/// Columns of text aligned by display width (Chinese service names are two columns a
/// character).
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Table {
            rows: vec![header.iter().map(|cell| (*cell).to_owned()).collect()],
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Rows below the header.
    pub fn n_rows(&self) -> usize {
        self.rows.len().saturating_sub(1)
    }

    pub fn render(&self) -> String {
        let n_columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0usize; n_columns];
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(text_width(cell));
            }
        }
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (idx, cell) in row.iter().enumerate() {
                let width = widths.get(idx).copied().unwrap_or(0);
                line.push_str(cell);
                if idx + 1 < row.len() {
                    line.push_str(&" ".repeat(width.saturating_sub(text_width(cell)) + 2));
                }
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
        out
    }
}

/// Display width: CJK and other wide characters take two columns.
fn text_width(text: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(text)
}

/// `label  value` lines, labels aligned.
pub fn fields(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (label, value) in rows {
        let _ = writeln!(out, "{label:<width$}  {value}");
    }
    out
}

/// A JSON value as a table cell: strings bare, null as `-`, the rest as JSON.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// An enum's variant name: a unit variant is a string, a variant with data an object of
/// one key.
pub fn variant(value: &Value) -> String {
    match value {
        Value::Object(map) if map.len() == 1 => map.keys().next().cloned().unwrap_or_default(),
        other => cell(other),
    }
}

/// `value[path...]` as a cell.
pub fn at(value: &Value, path: &[&str]) -> String {
    cell(get(value, path))
}

/// `value[path...]`, `null` where missing.
pub fn get<'a>(value: &'a Value, path: &[&str]) -> &'a Value {
    path.iter()
        .try_fold(value, |value, key| value.get(key))
        .unwrap_or(&Value::Null)
}

/// An array of objects as a table, one column per key of scalar value (in the order first
/// seen): for answers whose shape the command does not know field by field.
pub fn objects_table(items: &[Value]) -> String {
    let mut keys: Vec<String> = Vec::new();
    for item in items {
        if let Value::Object(map) = item {
            for (key, value) in map {
                if !value.is_object() && !value.is_array() && !keys.contains(key) {
                    keys.push(key.clone());
                }
            }
        }
    }
    let header: Vec<&str> = keys.iter().map(String::as_str).collect();
    let mut table = Table::new(&header);
    for item in items {
        table.row(keys.iter().map(|key| at(item, &[key])).collect());
    }
    table.render()
}

/// Fen as yuan with two decimals, for people (JSON keeps the integer fen).
pub fn yuan(fen: &Value) -> String {
    match fen.as_u64() {
        Some(fen) => format!("{}.{:02}", fen / 100, fen % 100),
        None => cell(fen),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_by_display_width() {
        let mut table = Table::new(&["item", "yuan"]);
        table.row(vec!["语音".to_owned(), yuan(&Value::from(7_500_000u64))]);
        table.row(vec!["voice_local".to_owned(), yuan(&Value::from(5u64))]);
        assert_eq!(
            table.render(),
            "item         yuan\n语音         75000.00\nvoice_local  0.05\n"
        );
    }
}
