//! `netsettle`: the one binary. `netsettle node --config FILE` runs the roles a config
//! enables; the other subcommands are the operator's tools. This file is the edge where
//! library errors become `anyhow` reports and exit codes.

use clap::Parser as _;

mod ca_cmd;
mod cli;
mod configtx_cmd;
mod crypto_cmd;
mod layout_cmd;
mod ledger_cmd;
mod net_cmd;
mod node_cmd;
mod node_config;
mod peer_role;
mod tls_cmd;

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NETSETTLE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
