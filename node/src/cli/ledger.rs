//! `netsettle ledger verify|compare`: the operator's checks of ledger directories. Both
//! open the ledgers read-only, so they can run beside a node that holds them open. Any
//! fault or difference becomes an error, so the exit status is non-zero. `verify` shows a
//! progress bar over the blocks on a terminal.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};

/// Ledger inspection.
#[derive(Debug, clap::Subcommand)]
pub enum LedgerCommand {
    /// Walk every block (hash chain, data hashes, orderer signatures against the channel
    /// configuration in force, indexes) and recompute the world state; print the first
    /// bad block and why.
    Verify {
        /// Ledger directory.
        #[arg(long)]
        path: PathBuf,
    },
    /// Report the first height at which two ledgers differ (blocks, then world state).
    Compare {
        /// First ledger directory.
        a: PathBuf,
        /// Second ledger directory.
        b: PathBuf,
    },
}

pub fn run(command: LedgerCommand) -> Result<()> {
    match command {
        LedgerCommand::Verify { path } => verify(&path),
        LedgerCommand::Compare { a, b } => compare(&a, &b),
    }
}

fn verify(path: &std::path::Path) -> Result<()> {
    // Drawn on stderr and only on a terminal: scripts reading stdout see the same lines.
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} {elapsed_precise}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message("blocks");
    let report = netsettle_ledger::verify_with_progress(path, &|checked, height| {
        bar.set_length(height);
        bar.set_position(checked);
    });
    bar.finish_and_clear();
    let report = report.with_context(|| format!("opening ledger {}", path.display()))?;
    println!("height {}", report.chain.height);
    if let Some(hash) = report.chain.current_hash {
        println!("current hash {hash}");
    }
    println!("state height {}", report.state.height);
    println!("state digest {}", report.state_digest);
    println!(
        "checked {} blocks, {} transactions",
        report.blocks_checked, report.transactions
    );
    if let Some(fault) = report.fault {
        bail!("ledger {} is faulty: {fault}", path.display());
    }
    println!("ok");
    Ok(())
}

fn compare(a: &std::path::Path, b: &std::path::Path) -> Result<()> {
    let comparison = netsettle_ledger::compare(a, b)
        .with_context(|| format!("comparing {} and {}", a.display(), b.display()))?;
    println!("height A {}", comparison.height_a);
    println!("height B {}", comparison.height_b);
    if let Some(difference) = comparison.difference {
        bail!("{difference}");
    }
    println!("identical");
    Ok(())
}
