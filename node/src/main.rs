//! `netsettle`: the one binary. `netsettle node --config FILE` runs the roles a config
//! enables; the other subcommands are the operator's tools. This file is the edge where
//! library errors become `anyhow` reports and exit codes.

use clap::Parser as _;

mod cli;
mod logging;
mod runtime;
mod shared;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    // Long-running processes log their progress; one-shot tools only warnings.
    let default_filter = if args.is_long_running() {
        "info"
    } else {
        "warn"
    };
    let log_settings = args
        .node_config()
        .map(runtime::config::NodeConfig::log_settings)
        .unwrap_or_default();
    logging::init(default_filter, log_settings);
    match cli::run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // One line: the chain of causes joined, so scripts and logs keep it whole.
            eprintln!("error: {}", format!("{error:#}").replace('\n', " "));
            std::process::ExitCode::from(cli::exit_code(&error))
        }
    }
}
