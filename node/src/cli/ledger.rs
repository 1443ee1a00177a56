//! `netsettle ledger verify|compare|backup|restore`: the operator's checks of ledger
//! directories, and their backups. `verify`, `compare` and `backup` open the ledgers
//! read-only, so they can run beside a node that holds them open (see
//! `netsettle_ledger::backup` for how a running ledger is copied consistently). Any
//! fault, difference or refusal becomes an error, so the exit status is non-zero.
//! `verify` shows a progress bar over the blocks on a terminal.

use std::path::{Path, PathBuf};

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
    /// Copy a ledger, consistently even while its node runs, into a new directory with a
    /// manifest (channel, height, last block hash, time, source). The copy is verified
    /// like `verify` before the command succeeds. For an orderer, back up
    /// `DATA/orderer/ledger`: its Raft store is deliberately not part of a backup.
    Backup {
        /// Ledger directory (a peer's `DATA/ledger`, an orderer's `DATA/orderer/ledger`).
        #[arg(long)]
        path: PathBuf,
        /// Backup directory to create; must not exist.
        #[arg(long)]
        out: PathBuf,
    },
    /// Put a backup in place of a stopped node's ledger. The backup is verified like
    /// `verify` first. An orderer's ledger (`DATA/orderer/ledger`) also has its Raft store
    /// (`DATA/orderer/raft`) moved aside, so the orderer rejoins as a wiped consenter.
    Restore {
        /// Backup directory made by `ledger backup`.
        #[arg(long)]
        from: PathBuf,
        /// The node's ledger directory.
        #[arg(long)]
        path: PathBuf,
        /// Move a non-empty ledger directory (and Raft store) aside instead of refusing.
        /// Nothing is deleted: the old contents are renamed `<dir>.before-restore-<secs>`.
        #[arg(long)]
        force: bool,
    },
}

pub fn run(command: LedgerCommand) -> Result<()> {
    match command {
        LedgerCommand::Verify { path } => verify(&path),
        LedgerCommand::Compare { a, b } => compare(&a, &b),
        LedgerCommand::Backup { path, out } => backup(&path, &out),
        LedgerCommand::Restore { from, path, force } => restore(&from, &path, force),
    }
}

fn backup(path: &Path, out: &Path) -> Result<()> {
    let manifest = netsettle_ledger::backup(path, out)
        .with_context(|| format!("backing up ledger {} to {}", path.display(), out.display()))?;
    println!("channel {}", manifest.channel);
    println!("height {}", manifest.height);
    println!("last hash {}", manifest.last_hash);
    println!("backed up to {}", out.display());
    Ok(())
}

fn restore(from: &Path, path: &Path, force: bool) -> Result<()> {
    let raft_dir = orderer_raft_dir(path);
    let options = netsettle_ledger::RestoreOptions {
        force,
        raft_dir: raft_dir.clone(),
    };
    let restored = netsettle_ledger::restore(from, path, &options)
        .with_context(|| format!("restoring {} from {}", path.display(), from.display()))?;
    for aside in &restored.moved_aside {
        println!("moved aside {}", aside.display());
    }
    if let Some(raft_dir) = raft_dir {
        println!(
            "orderer: Raft store {} left empty; the orderer rejoins as a wiped consenter",
            raft_dir.display()
        );
    }
    println!(
        "restored channel {} at height {} (last hash {})",
        restored.manifest.channel, restored.manifest.height, restored.manifest.last_hash
    );
    Ok(())
}

/// The Raft store beside an orderer's ledger: `DATA/orderer/ledger` has `DATA/orderer/raft`
/// (the orderer service's layout). A peer's `DATA/ledger` has none.
fn orderer_raft_dir(ledger_dir: &Path) -> Option<PathBuf> {
    let data = ledger_dir.parent()?;
    let is_orderer = ledger_dir.file_name()? == "ledger" && data.file_name()? == "orderer";
    is_orderer.then(|| data.join("raft"))
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
