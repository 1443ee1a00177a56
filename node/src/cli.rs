//! Command-line surface of `netsettle`. Each subcommand parses its arguments and calls
//! into a library crate; no protocol logic lives here.

use anyhow::Result;

/// netsettle: a permissioned settlement chain for two telecom carriers, with SM2/SM3/SM4
/// national cryptography throughout.
#[derive(Debug, clap::Parser)]
#[command(name = "netsettle", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Print the SM3 digest of a file (hex).
    Sm3 {
        /// File to hash.
        path: std::path::PathBuf,
    },
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Sm3 { path } => {
            let bytes = std::fs::read(&path)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
            println!("{}", netsettle_smcrypto::sm3(&bytes));
            Ok(())
        }
    }
}
