//! `netsettle console`: the staff web console of one carrier (`netsettle-console`), and
//! the tool that hashes a user's password for its config.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use netsettle_console::{Console, ConsoleConfig, hash_password, limits::PASSWORD_BYTES_MAX};

#[derive(Debug, clap::Subcommand)]
pub enum ConsoleCommand {
    /// Serve the console for browsers (config: listen, [tls] cert and key, profile,
    /// settlement_identity, finance_identity, notice_signers, notices_listen, session
    /// lifetimes, [[users]]); prints `console listening on URL` once ready.
    Run {
        /// The console config file (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// Read a password from stdin (never argv, which other users can list) and print
    /// its argon2id PHC string for a `[[users]]` entry.
    HashPassword,
}

pub fn run(command: ConsoleCommand) -> Result<()> {
    match command {
        ConsoleCommand::Run { config } => serve(&config),
        ConsoleCommand::HashPassword => hash_from_stdin(),
    }
}

fn hash_from_stdin() -> Result<()> {
    let mut input = String::new();
    let limit = u64::try_from(PASSWORD_BYTES_MAX)
        .unwrap_or(u64::MAX)
        .saturating_add(2);
    std::io::stdin()
        .take(limit)
        .read_to_string(&mut input)
        .context("reading the password from stdin")?;
    let password = input.strip_suffix('\n').unwrap_or(&input);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        bail!("empty password on stdin");
    }
    if password.len() > PASSWORD_BYTES_MAX {
        bail!("password longer than {PASSWORD_BYTES_MAX} bytes");
    }
    println!("{}", hash_password(password.as_bytes())?);
    Ok(())
}

fn serve(path: &std::path::Path) -> Result<()> {
    let config = ConsoleConfig::load(path)?;
    let runtime = crate::shared::runtime()?;
    runtime.block_on(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).context("SIGINT handler")?;
        let mut terminate = signal(SignalKind::terminate()).context("SIGTERM handler")?;
        let console = Console::start(config).await?;
        // The readiness line tests and scripts wait for: the scheme and the real address,
        // port included (`console listening on http://127.0.0.1:8080`).
        if let Some(hook) = console.notices_addr() {
            println!("console notices hook on http://{hook}/hooks/notices");
        }
        println!("console listening on {}", console.url());
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        console.shutdown().await;
        Ok(())
    })
}
