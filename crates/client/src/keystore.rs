//! The local key store: the SM4 key and commitment salt of every report a carrier
//! uploaded, kept on its own machine until the reveal.
//!
//! A directory (by default `<identity>/keys/`, next to the user's signing key) holding one
//! file per (channel, period, round): `<channel>--<period>--r<round>.keys`. A file lists
//! the openings sealed for that round, newest last (a carrier may seal again in the same
//! round when a submission failed; the reveal picks the one whose key commitment is on the
//! chain). Each line is `<key hex> <salt hex>`, after a format line.
//!
//! Protection is the file system's: the directory is created with mode 0700 and each file
//! with 0600 (created with that mode, never chmod-ed afterwards, so there is no moment in
//! which another user could open it); a directory or file with any group or other
//! permission bit is refused with an error naming it, as `ssh` refuses a private key, so
//! a key store copied around carelessly is noticed. Writes go to a temporary file in the
//! same directory, are synced, renamed over the old file, and the directory is synced: a
//! crash leaves the old file or the new one, never half of one. Keys are never printed
//! (the [`Opening`] `Debug` hides them) and never logged.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use netsettle_settlement::seal::{Opening, SALT_BYTES, key_commitment, opening_from_bytes};
use netsettle_settlement::units::Period;
use netsettle_smcrypto::SM4_KEY_BYTES;
use zeroize::Zeroizing;

use crate::limits::{KEYSTORE_FILE_BYTES_MAX, KEYSTORE_OPENINGS_MAX};

/// First line of every key file.
const FORMAT_LINE: &str = "netsettle-keys v1";
/// Name of the key directory inside an identity directory.
pub const KEYS_DIR: &str = "keys";

/// Why the key store refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyStoreError {
    /// The file system failed.
    #[error("key store {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// A directory or file is open to other users (or is not a plain file/directory).
    #[error(
        "key store {path}: mode {mode:o} is open to other users; keys must be private \
         (directory 0700, files 0600)"
    )]
    Permissions {
        /// The file or directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A path is a symbolic link or not the kind of entry expected.
    #[error("key store {path}: {what}")]
    NotPlain {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        what: &'static str,
    },
    /// A key file is not in the key store's format.
    #[error("key store {path}: line {line}: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A channel name that cannot be part of a file name.
    #[error("channel name {0:?} cannot name a key file (letters, digits, '.', '_', '-' only)")]
    BadChannel(String),
    /// The round's file already holds as many openings as it may.
    #[error("key store {path}: already {max} keys for this round")]
    Full {
        /// The file.
        path: PathBuf,
        /// The limit.
        max: usize,
    },
}

/// A key directory; see the module documentation.
#[derive(Debug, Clone)]
pub struct KeyStore {
    dir: PathBuf,
}

impl KeyStore {
    /// Opens the key directory `dir`, creating it (mode 0700, parents as needed) if it
    /// does not exist; refuses one open to other users.
    pub fn open(dir: &Path) -> Result<KeyStore, KeyStoreError> {
        match std::fs::symlink_metadata(dir) {
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(io_at(dir))?;
            }
            Err(error) => return Err(io_at(dir)(error)),
        }
        let meta = std::fs::symlink_metadata(dir).map_err(io_at(dir))?;
        if !meta.is_dir() {
            return Err(KeyStoreError::NotPlain {
                path: dir.to_path_buf(),
                what: "not a directory (symbolic links are refused)",
            });
        }
        check_private(dir, meta.mode())?;
        Ok(KeyStore {
            dir: dir.to_path_buf(),
        })
    }

    /// The key store of the user whose identity directory is `identity`:
    /// `<identity>/keys/`.
    pub fn for_identity(identity: &Path) -> Result<KeyStore, KeyStoreError> {
        KeyStore::open(&identity.join(KEYS_DIR))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of (`channel`, `period`, `round`).
    pub fn path(
        &self,
        channel: &str,
        period: Period,
        round: u32,
    ) -> Result<PathBuf, KeyStoreError> {
        let plain = !channel.is_empty()
            && channel.len() <= 128
            && channel
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            && !channel.starts_with('.');
        if !plain {
            return Err(KeyStoreError::BadChannel(channel.to_owned()));
        }
        Ok(self.dir.join(format!("{channel}--{period}--r{round}.keys")))
    }

    /// Adds `opening` to the round's file (atomically: the file is replaced whole).
    pub fn put(
        &self,
        channel: &str,
        period: Period,
        round: u32,
        opening: &Opening,
    ) -> Result<(), KeyStoreError> {
        let path = self.path(channel, period, round)?;
        let mut openings = self.read(&path)?;
        if openings.len() >= KEYSTORE_OPENINGS_MAX {
            return Err(KeyStoreError::Full {
                path,
                max: KEYSTORE_OPENINGS_MAX,
            });
        }
        openings.push(opening.clone());
        let mut text = Zeroizing::new(String::from(FORMAT_LINE));
        text.push('\n');
        for opening in &openings {
            text.push_str(&hex::encode(opening.key.as_bytes()));
            text.push(' ');
            text.push_str(&hex::encode(opening.salt));
            text.push('\n');
        }
        self.write_atomic(&path, text.as_bytes())
    }

    /// Every opening kept for the round, oldest first (none if the file does not exist).
    pub fn openings(
        &self,
        channel: &str,
        period: Period,
        round: u32,
    ) -> Result<Vec<Opening>, KeyStoreError> {
        self.read(&self.path(channel, period, round)?)
    }

    /// The opening of the round whose key commitment is `commitment` (the one the
    /// chain recorded for the upload), if kept.
    pub fn find(
        &self,
        channel: &str,
        period: Period,
        round: u32,
        commitment: &[u8; 32],
    ) -> Result<Option<Opening>, KeyStoreError> {
        Ok(self
            .openings(channel, period, round)?
            .into_iter()
            .find(|opening| key_commitment(opening.key.as_bytes(), &opening.salt).0 == *commitment))
    }

    /// The salt of the period's earliest kept round up to `round`: a later round must
    /// seal the same report under the same salt.
    pub fn salt(
        &self,
        channel: &str,
        period: Period,
        round: u32,
    ) -> Result<Option<[u8; SALT_BYTES]>, KeyStoreError> {
        for earlier in 0..=round {
            if let Some(opening) = self.openings(channel, period, earlier)?.first() {
                return Ok(Some(opening.salt));
            }
        }
        Ok(None)
    }

    /// Reads a key file: checks it is a private plain file, then parses it.
    fn read(&self, path: &Path) -> Result<Vec<Opening>, KeyStoreError> {
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
        {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(io_at(path)(error)),
        };
        let meta = file.metadata().map_err(io_at(path))?;
        if !meta.is_file() {
            return Err(KeyStoreError::NotPlain {
                path: path.to_path_buf(),
                what: "not a plain file",
            });
        }
        check_private(path, meta.mode())?;
        let limit = u64::try_from(KEYSTORE_FILE_BYTES_MAX)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let mut bytes = Zeroizing::new(Vec::new());
        file.take(limit)
            .read_to_end(&mut bytes)
            .map_err(io_at(path))?;
        if bytes.len() > KEYSTORE_FILE_BYTES_MAX {
            return Err(malformed(path, 0, "larger than a key file can be"));
        }
        parse(path, &bytes)
    }

    /// Writes `bytes` to `path` through a private temporary file, synced and renamed.
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), KeyStoreError> {
        let mut nonce = [0u8; 8];
        netsettle_smcrypto::random_bytes(&mut nonce).map_err(|error| KeyStoreError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(error.to_string()),
        })?;
        let temp = self.dir.join(format!(".tmp-{}", hex::encode(nonce)));
        let written = (|| -> std::io::Result<()> {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&temp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            std::fs::rename(&temp, path)?;
            File::open(&self.dir)?.sync_all()
        })();
        if written.is_err() {
            // Best effort: a leftover temporary file holds a key; do not leave it.
            let _ = std::fs::remove_file(&temp);
        }
        written.map_err(io_at(path))
    }
}

/// Refuses a mode with any group or other bit.
fn check_private(path: &Path, mode: u32) -> Result<(), KeyStoreError> {
    if mode & 0o077 != 0 {
        return Err(KeyStoreError::Permissions {
            path: path.to_path_buf(),
            mode: mode & 0o7777,
        });
    }
    Ok(())
}

fn io_at(path: &Path) -> impl Fn(std::io::Error) -> KeyStoreError + '_ {
    move |source| KeyStoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn malformed(path: &Path, line: usize, reason: &'static str) -> KeyStoreError {
    KeyStoreError::Malformed {
        path: path.to_path_buf(),
        line,
        reason,
    }
}

/// Parses a key file: the format line, then `<key hex> <salt hex>` lines.
fn parse(path: &Path, bytes: &[u8]) -> Result<Vec<Opening>, KeyStoreError> {
    let text = std::str::from_utf8(bytes).map_err(|_| malformed(path, 0, "not UTF-8"))?;
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, FORMAT_LINE)) => {}
        _ => return Err(malformed(path, 1, "not a netsettle key file")),
    }
    let mut openings = Vec::new();
    for (index, line) in lines {
        let number = index.saturating_add(1);
        if openings.len() >= KEYSTORE_OPENINGS_MAX {
            return Err(malformed(path, number, "too many keys"));
        }
        let (key_hex, salt_hex) = line
            .split_once(' ')
            .ok_or_else(|| malformed(path, number, "expected `<key hex> <salt hex>`"))?;
        let mut key = Zeroizing::new([0u8; SM4_KEY_BYTES]);
        let mut salt = [0u8; SALT_BYTES];
        hex::decode_to_slice(key_hex, &mut key[..])
            .map_err(|_| malformed(path, number, "key is not 32 hex digits"))?;
        hex::decode_to_slice(salt_hex, &mut salt)
            .map_err(|_| malformed(path, number, "salt is not 32 hex digits"))?;
        let opening = opening_from_bytes(&key, &salt)
            .map_err(|_| malformed(path, number, "not an SM4 key"))?;
        openings.push(opening);
    }
    Ok(openings)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use netsettle_smcrypto::Sm4Key;

    use super::*;

    fn period() -> Period {
        "2026-10".parse().unwrap()
    }

    fn opening(salt: u8) -> Opening {
        Opening {
            key: Sm4Key::generate().unwrap(),
            salt: [salt; SALT_BYTES],
        }
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_directory_and_files_are_created_private_and_survive_a_reopen() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("identity").join(KEYS_DIR);
        let store = KeyStore::open(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let first = opening(1);
        store.put("settlement", period(), 0, &first).unwrap();
        let path = store.path("settlement", period(), 0).unwrap();
        assert_eq!(mode(&path), 0o600);
        // No temporary file left behind.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);

        let reopened = KeyStore::for_identity(&root.path().join("identity")).unwrap();
        let kept = reopened.openings("settlement", period(), 0).unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].key, first.key);
        assert_eq!(kept[0].salt, first.salt);
        let commitment = key_commitment(first.key.as_bytes(), &first.salt).0;
        let found = reopened
            .find("settlement", period(), 0, &commitment)
            .unwrap()
            .unwrap();
        assert_eq!(found.key, first.key);
        assert!(
            reopened
                .find("settlement", period(), 0, &[0; 32])
                .unwrap()
                .is_none()
        );
        // Nothing for another channel, period or round.
        assert!(reopened.openings("other", period(), 0).unwrap().is_empty());
        assert!(
            reopened
                .openings("settlement", period(), 1)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn rounds_are_kept_apart_and_the_salt_comes_from_the_first_round() {
        let root = tempfile::tempdir().unwrap();
        let store = KeyStore::open(&root.path().join("keys")).unwrap();
        assert_eq!(store.salt("ch", period(), 3).unwrap(), None);
        store.put("ch", period(), 0, &opening(7)).unwrap();
        store.put("ch", period(), 0, &opening(7)).unwrap();
        store.put("ch", period(), 2, &opening(7)).unwrap();
        assert_eq!(store.openings("ch", period(), 0).unwrap().len(), 2);
        assert_eq!(store.openings("ch", period(), 1).unwrap().len(), 0);
        assert_eq!(store.openings("ch", period(), 2).unwrap().len(), 1);
        assert_eq!(
            store.salt("ch", period(), 2).unwrap(),
            Some([7; SALT_BYTES])
        );
        assert_eq!(
            store.salt("ch", period(), 0).unwrap(),
            Some([7; SALT_BYTES])
        );
        for _ in 2..KEYSTORE_OPENINGS_MAX {
            store.put("ch", period(), 0, &opening(7)).unwrap();
        }
        let full = store.put("ch", period(), 0, &opening(7)).unwrap_err();
        assert!(matches!(full, KeyStoreError::Full { .. }), "{full}");
        assert_eq!(
            store.openings("ch", period(), 0).unwrap().len(),
            KEYSTORE_OPENINGS_MAX
        );
    }

    #[test]
    fn wider_permissions_are_refused_with_the_path_and_mode() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("keys");
        let store = KeyStore::open(&dir).unwrap();
        store.put("ch", period(), 0, &opening(1)).unwrap();
        let path = store.path("ch", period(), 0).unwrap();

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let refused = store.openings("ch", period(), 0).unwrap_err();
        assert!(
            matches!(&refused, KeyStoreError::Permissions { path: p, mode: 0o640 } if *p == path),
            "{refused}"
        );
        assert!(refused.to_string().contains("0600"), "{refused}");
        // A write is refused too, and leaves the file as it was.
        assert!(store.put("ch", period(), 0, &opening(1)).is_err());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(store.openings("ch", period(), 0).unwrap().len(), 1);

        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let refused = KeyStore::open(&dir).unwrap_err();
        assert!(
            matches!(&refused, KeyStoreError::Permissions { mode: 0o755, .. }),
            "{refused}"
        );
    }

    #[test]
    fn malformed_files_links_and_channel_names_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let store = KeyStore::open(&root.path().join("keys")).unwrap();
        let path = store.path("ch", period(), 0).unwrap();
        let write = |text: &str| {
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&path)
                .unwrap();
            file.write_all(text.as_bytes()).unwrap();
        };
        write("something else\n");
        assert!(matches!(
            store.openings("ch", period(), 0),
            Err(KeyStoreError::Malformed { line: 1, .. })
        ));
        write("netsettle-keys v1\nzz 00\n");
        assert!(matches!(
            store.openings("ch", period(), 0),
            Err(KeyStoreError::Malformed { line: 2, .. })
        ));
        std::fs::remove_file(&path).unwrap();
        let target = root.path().join("elsewhere");
        std::fs::write(&target, "netsettle-keys v1\n").unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(store.openings("ch", period(), 0).is_err());

        for bad in ["", "../x", ".hidden", "a/b", "名字"] {
            assert!(
                matches!(
                    store.path(bad, period(), 0),
                    Err(KeyStoreError::BadChannel(_))
                ),
                "{bad:?}"
            );
        }
    }
}
