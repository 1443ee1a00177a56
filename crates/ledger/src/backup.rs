//! [`backup`] and [`restore`]: a consistent copy of a ledger a node may be writing, and
//! putting such a copy in place of a node's ledger, behind `netsettle ledger
//! backup|restore`.
//!
//! # How a running ledger is copied, and why this way
//!
//! RocksDB lets one process open a database read-write. The running node holds that
//! handle, so a backup opens the ledger as a RocksDB **secondary instance**: a read-only
//! follower built for a second process beside a live primary. At open it reads the
//! primary's MANIFEST and replays its WAL up to the last complete record, and its view
//! then stays fixed until `try_catch_up_with_primary`, which the backup never calls. Every
//! ledger write is one `WriteBatch`, one WAL record, so that view ends at a block boundary:
//! the chain record, the blocks, the indexes and the state savepoint agree. The backup
//! then copies every column family through that view, entry by entry, into a fresh
//! database under `--out`, flushes it and closes it.
//!
//! The alternatives, and why not:
//!
//! - A RocksDB checkpoint (hard links to the live table files plus a copied MANIFEST and
//!   WAL) is the cheapest copy, but it needs the read-write handle: it must stop file
//!   deletions in the primary while it links, and secondary and read-only instances
//!   refuse that (`NotSupported`). Taking it from the running node means an admin request
//!   into the node and a backup that can only be written on the node's own filesystem.
//! - Linking and copying the files from outside races the node's compactions, which
//!   rewrite the MANIFEST and delete table files while the copy runs.
//!
//! The copy costs a rewrite of the ledger (minutes for years of blocks, blocks being
//! large values kept in blob files) but needs nothing from the node, works the same on a
//! stopped node, and yields a compacted, self-contained database.
//!
//! A secondary can still fail to read a table file a compaction deleted after the
//! open; it is opened with `max_open_files = -1`, so every table file's descriptor is held
//! from the open and a deleted file stays readable. Blob files (the blocks) are never
//! deleted: blocks are never overwritten and blob garbage collection is off. Whatever
//! still goes wrong is caught: the copy must pass the full [`verify`] before it counts,
//! or the attempt is discarded and a fresh view taken, [`BACKUP_ATTEMPTS_MAX`] times.
//!
//! # Layout of a backup
//!
//! `--out` holds `ledger/` (the copied database, openable like any ledger) and
//! [`MANIFEST_FILE`], written last, so a directory without it is not a backup. The
//! manifest names the channel, the height and last block hash, when and from where the
//! copy was taken. `--out` must not exist: a backup never overwrites anything.
//!
//! # Restore
//!
//! [`restore`] copies the backup's database next to the target, runs the full [`verify`]
//! on that copy and checks it against the manifest, and only then moves the target aside
//! (renamed to `<target>.before-restore-<unix secs>`, never deleted) and renames the copy
//! into place. A target that holds anything is refused unless `force` is set.
//!
//! An orderer keeps a Raft store beside its ledger. That is never backed up or restored:
//! a consenter brought back with an old Raft store would have forgotten the votes it cast
//! and the entries it acknowledged since, and could vote twice in one term or help elect a
//! leader missing committed entries. So restoring an orderer also moves its Raft store
//! aside and leaves it empty: the orderer comes back like a wiped one, with the blocks of
//! the backup, and learns the Raft log from the other consenters.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use netsettle_smcrypto::Hash;

use crate::error::LedgerError;
use crate::ledger::Ledger;
use crate::limits::{BACKUP_ATTEMPTS_MAX, BACKUP_MANIFEST_BYTES_MAX};
use crate::store::{Access, Column, Store};
use crate::verify::{Fault, VerifyReport, verify};

/// Name of the manifest file in a backup directory.
pub const MANIFEST_FILE: &str = "backup.manifest";

/// Name of the database directory in a backup directory.
pub const LEDGER_DIR: &str = "ledger";

/// First line of every manifest: the format and its version.
const MANIFEST_MAGIC: &str = "netsettle-ledger-backup 1";

/// Where the secondary instance keeps its info log while the copy runs; removed after.
const SECONDARY_DIR: &str = ".secondary";

/// Why a backup or a restore failed. A failed backup leaves no `--out`; a failed restore
/// leaves the target as it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// The backup directory already exists; a backup never overwrites.
    #[error("{} already exists; a backup never overwrites, name a new directory", path.display())]
    OutExists {
        /// The `--out` directory.
        path: PathBuf,
    },
    /// The restore target holds data and `force` was not given.
    #[error("{} is not empty; pass --force to move it aside and restore", path.display())]
    TargetNotEmpty {
        /// The non-empty directory.
        path: PathBuf,
    },
    /// A staging copy from an interrupted restore is in the way; nothing was changed.
    #[error("{} is left from an interrupted restore; remove it and retry", path.display())]
    StagingExists {
        /// The staging directory beside the target.
        path: PathBuf,
    },
    /// A file operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Opening or reading a ledger failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The ledger has no blocks, so there is no channel to back up.
    #[error("ledger {} has no blocks", path.display())]
    EmptyLedger {
        /// The ledger directory.
        path: PathBuf,
    },
    /// The copy (or the backup being restored) fails `verify`.
    #[error("ledger {} fails verification: {fault}", path.display())]
    Unverified {
        /// The ledger that failed.
        path: PathBuf,
        /// Its first fault.
        fault: Fault,
    },
    /// The manifest is missing or malformed: the directory is not a complete backup.
    #[error("backup manifest {}: {what}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// The manifest and the backed-up ledger disagree (one of them was altered).
    #[error("backup manifest says {what}, the ledger disagrees")]
    ManifestMismatch {
        /// What disagrees.
        what: String,
    },
}

/// What a backup holds, as written in its manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupManifest {
    /// The channel, from the genesis block's configuration.
    pub channel: String,
    /// Blocks in the backup.
    pub height: u64,
    /// Header hash of its last block.
    pub last_hash: Hash,
    /// When the copy was taken, seconds since the Unix epoch.
    pub created_unix_secs: u64,
    /// The ledger directory it was copied from.
    pub source: PathBuf,
}

/// What [`restore`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restored {
    /// The backup's manifest (checked against the restored ledger).
    pub manifest: BackupManifest,
    /// Where previous contents were moved: the old ledger, an orderer's old Raft store.
    pub moved_aside: Vec<PathBuf>,
}

/// Copies the ledger at `source` (which a running node may hold open) into a new
/// directory `out`, verifies the copy and writes the manifest. See the module docs.
pub fn backup(source: &Path, out: &Path) -> Result<BackupManifest, BackupError> {
    match std::fs::create_dir(out) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(BackupError::OutExists {
                path: out.to_path_buf(),
            });
        }
        Err(source) => return Err(io("creating", out, source)),
    }
    let outcome = backup_into(source, out);
    if outcome.is_err() {
        // Only what this call created: `out` did not exist before it.
        let _ = std::fs::remove_dir_all(out);
    }
    outcome
}

fn backup_into(source: &Path, out: &Path) -> Result<BackupManifest, BackupError> {
    let ledger_dir = out.join(LEDGER_DIR);
    let mut attempt = 1;
    let report = loop {
        let outcome = copy_once(source, out, &ledger_dir).and_then(|()| verified(&ledger_dir));
        match outcome {
            Ok(report) => break report,
            Err(_) if attempt < BACKUP_ATTEMPTS_MAX => {
                remove_if_present(&ledger_dir)?;
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    };
    let channel = channel_of(&ledger_dir)?;
    let manifest = BackupManifest {
        channel,
        height: report.chain.height,
        last_hash: report.chain.current_hash.ok_or(BackupError::EmptyLedger {
            path: source.to_path_buf(),
        })?,
        created_unix_secs: unix_secs_now(),
        source: std::path::absolute(source).unwrap_or_else(|_| source.to_path_buf()),
    };
    write_manifest(&out.join(MANIFEST_FILE), &manifest)?;
    Ok(manifest)
}

/// One attempt: a secondary view of `source`, copied column by column into `target`.
fn copy_once(source: &Path, out: &Path, target: &Path) -> Result<(), BackupError> {
    let secondary_dir = out.join(SECONDARY_DIR);
    let copied = (|| {
        let view = Store::open_secondary(source, &secondary_dir)?;
        let copy = Store::open(target, Access::ReadWrite)?;
        for column in Column::ALL {
            view.copy_column(column, &copy)?;
        }
        copy.flush()?;
        Ok::<_, LedgerError>(())
    })();
    remove_if_present(&secondary_dir)?;
    Ok(copied?)
}

/// Runs the full `verify` on the ledger at `path`; any fault is an error.
fn verified(path: &Path) -> Result<VerifyReport, BackupError> {
    let report = verify(path)?;
    if let Some(fault) = report.fault {
        return Err(BackupError::Unverified {
            path: path.to_path_buf(),
            fault,
        });
    }
    if report.chain.height == 0 {
        return Err(BackupError::EmptyLedger {
            path: path.to_path_buf(),
        });
    }
    Ok(report)
}

/// The channel named by the genesis block of the ledger at `path`.
fn channel_of(path: &Path) -> Result<String, BackupError> {
    let ledger = Ledger::open_read_only(path)?;
    let genesis = ledger.block(0)?.ok_or(BackupError::EmptyLedger {
        path: path.to_path_buf(),
    })?;
    // `verify` already refused a genesis block without a configuration.
    Ok(genesis
        .config()
        .map(|config| config.channel.clone())
        .unwrap_or_default())
}

/// Options of [`restore`].
#[derive(Clone, Debug, Default)]
pub struct RestoreOptions {
    /// Move a non-empty target (and Raft store) aside instead of refusing.
    pub force: bool,
    /// An orderer's Raft store, to be left empty (see the module docs); `None` for a peer.
    pub raft_dir: Option<PathBuf>,
}

/// Puts the backup at `from` in place of the ledger at `target`. See the module docs.
pub fn restore(
    from: &Path,
    target: &Path,
    options: &RestoreOptions,
) -> Result<Restored, BackupError> {
    let manifest = read_manifest(&from.join(MANIFEST_FILE))?;
    let mut occupied = vec![target];
    occupied.extend(options.raft_dir.as_deref());
    for dir in &occupied {
        if !options.force && !is_empty_or_absent(dir)? {
            return Err(BackupError::TargetNotEmpty {
                path: dir.to_path_buf(),
            });
        }
    }
    // A wiped node may have lost its whole data directory.
    if let Some(parent) = target
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|e| io("creating", parent, e))?;
    }
    // The copy is checked, not the backup: what is checked is what goes in place.
    let staging = sibling(target, "restoring")?;
    if staging.exists() {
        return Err(BackupError::StagingExists { path: staging });
    }
    let checked = copy_dir(&from.join(LEDGER_DIR), &staging)
        .and_then(|()| check_against_manifest(&staging, &manifest));
    if let Err(error) = checked {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(error);
    }
    let stamp = unix_secs_now();
    let mut moved_aside = Vec::new();
    for dir in occupied {
        if !is_empty_or_absent(dir)? {
            let aside = sibling(dir, &format!("before-restore-{stamp}"))?;
            std::fs::rename(dir, &aside).map_err(|e| io("moving aside", dir, e))?;
            moved_aside.push(aside);
        }
    }
    remove_if_present(target)?;
    std::fs::rename(&staging, target).map_err(|e| io("moving into place", target, e))?;
    Ok(Restored {
        manifest,
        moved_aside,
    })
}

/// Full `verify` of the ledger at `path`, and its tip and channel equal to the manifest's.
fn check_against_manifest(path: &Path, manifest: &BackupManifest) -> Result<(), BackupError> {
    let report = verified(path)?;
    if report.chain.height != manifest.height {
        return Err(BackupError::ManifestMismatch {
            what: format!(
                "height {} (the ledger has {})",
                manifest.height, report.chain.height
            ),
        });
    }
    if report.chain.current_hash != Some(manifest.last_hash) {
        return Err(BackupError::ManifestMismatch {
            what: format!("last block hash {}", manifest.last_hash),
        });
    }
    let channel = channel_of(path)?;
    if channel != manifest.channel {
        return Err(BackupError::ManifestMismatch {
            what: format!("channel {:?} (the ledger is {channel:?})", manifest.channel),
        });
    }
    Ok(())
}

/// Reads and checks the manifest of the backup at `from`, without verifying its ledger.
pub fn read_backup_manifest(from: &Path) -> Result<BackupManifest, BackupError> {
    read_manifest(&from.join(MANIFEST_FILE))
}

fn write_manifest(path: &Path, manifest: &BackupManifest) -> Result<(), BackupError> {
    let source = manifest.source.to_string_lossy();
    let text = format!(
        "{MANIFEST_MAGIC}\nchannel {}\nheight {}\nlast_hash {}\ncreated_unix_secs {}\nsource {}\n",
        manifest.channel,
        manifest.height,
        manifest.last_hash,
        manifest.created_unix_secs,
        // One line per field: a line break in the path would end the field early.
        source.replace(['\n', '\r'], "?"),
    );
    let mut file = std::fs::File::create_new(path).map_err(|e| io("creating", path, e))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| io("writing", path, e))
}

fn read_manifest(path: &Path) -> Result<BackupManifest, BackupError> {
    let malformed = |what: String| BackupError::Manifest {
        path: path.to_path_buf(),
        what,
    };
    let size = std::fs::metadata(path)
        .map_err(|e| io("reading", path, e))?
        .len();
    if usize::try_from(size).map_or(true, |size| size > BACKUP_MANIFEST_BYTES_MAX) {
        return Err(malformed(format!("{size} bytes, more than any manifest")));
    }
    let text = std::fs::read_to_string(path).map_err(|e| io("reading", path, e))?;
    let mut lines = text.lines();
    if lines.next() != Some(MANIFEST_MAGIC) {
        return Err(malformed(format!("does not start with {MANIFEST_MAGIC:?}")));
    }
    let mut field = |name: &str| {
        lines
            .next()
            .and_then(|line| line.strip_prefix(name))
            .and_then(|rest| rest.strip_prefix(' '))
            .ok_or_else(|| malformed(format!("missing field {name}")))
    };
    let channel = field("channel")?.to_owned();
    let height = field("height")?;
    let last_hash = field("last_hash")?;
    let created = field("created_unix_secs")?;
    let source = field("source")?;
    Ok(BackupManifest {
        channel,
        height: height
            .parse()
            .map_err(|_| malformed(format!("height {height:?}")))?,
        last_hash: last_hash
            .parse()
            .map_err(|_| malformed(format!("last_hash {last_hash:?}")))?,
        created_unix_secs: created
            .parse()
            .map_err(|_| malformed(format!("created_unix_secs {created:?}")))?,
        source: PathBuf::from(source),
    })
}

/// Copies the regular files of `from` (a closed RocksDB directory, which is flat) into a
/// new directory `to`, each synced, then the directory itself.
fn copy_dir(from: &Path, to: &Path) -> Result<(), BackupError> {
    std::fs::create_dir(to).map_err(|e| io("creating", to, e))?;
    let entries = std::fs::read_dir(from).map_err(|e| io("reading", from, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io("reading", from, e))?;
        let kind = entry
            .file_type()
            .map_err(|e| io("reading", &entry.path(), e))?;
        if !kind.is_file() {
            continue;
        }
        let target = to.join(entry.file_name());
        std::fs::copy(entry.path(), &target).map_err(|e| io("copying to", &target, e))?;
        std::fs::File::open(&target)
            .and_then(|file| file.sync_all())
            .map_err(|e| io("syncing", &target, e))?;
    }
    std::fs::File::open(to)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| io("syncing", to, e))
}

fn is_empty_or_absent(dir: &Path) -> Result<bool, BackupError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(error) => Err(io("reading", dir, error)),
    }
}

fn remove_if_present(dir: &Path) -> Result<(), BackupError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(io("removing", dir, error)),
    }
}

/// `<dir>.<suffix>` beside `dir`.
fn sibling(dir: &Path, suffix: &str) -> Result<PathBuf, BackupError> {
    let name = dir.file_name().ok_or_else(|| BackupError::Io {
        what: "naming a directory beside",
        path: dir.to_path_buf(),
        source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
    })?;
    let mut name = name.to_os_string();
    name.push(".");
    name.push(suffix);
    Ok(dir.with_file_name(name))
}

fn unix_secs_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or_default()
}

fn io(what: &'static str, path: &Path, source: std::io::Error) -> BackupError {
    BackupError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}
