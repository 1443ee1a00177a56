//! The local key store of report openings: for each carrier and period, the commitment
//! salt (the same in every round of the period) and every SM4 key it sealed a report
//! under, with that key's commitment, so `reveal` picks the key whose commitment is the
//! one on the chain. One JSON file per carrier and period, 0600, in a 0700 directory;
//! written whole to a temporary file and renamed, so a crash leaves the old file or the
//! new one, never half of one. The secrets reach no command line, environment variable
//! or terminal.
//!
//! The store lives in the caller's identity directory (`settlement-keys/`), which already
//! holds its private signing key, unless `--key-store` names another directory.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use netsettle_settlement::api::{Digest, HexBytes};
use netsettle_settlement::seal::{Opening, SALT_BYTES, key_commitment, opening_from_bytes};
use netsettle_settlement::units::Period;

/// A key store file is a few hundred bytes a round; far below this.
const KEY_FILE_BYTES_MAX: usize = 1024 * 1024;
/// Keys kept per period: one a round, and a round ends only at a deadline.
const KEYS_PER_PERIOD_MAX: usize = 1_000;

/// One key a report of the period was sealed under.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct SealedKey {
    key: HexBytes<16>,
    key_commitment: Digest,
    plaintext_commitment: Digest,
}

/// What the store holds for one carrier and period.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct PeriodKeys {
    period: Period,
    carrier: String,
    salt: HexBytes<SALT_BYTES>,
    keys: Vec<SealedKey>,
}

/// A directory of key files.
#[derive(Debug, Clone)]
pub struct KeyStore {
    dir: PathBuf,
}

impl KeyStore {
    /// `dir`, or `identity/settlement-keys`.
    pub fn new(dir: Option<&Path>, identity: &Path) -> KeyStore {
        KeyStore {
            dir: dir.map_or_else(|| identity.join("settlement-keys"), Path::to_path_buf),
        }
    }

    fn path(&self, carrier: &str, period: Period) -> PathBuf {
        self.dir.join(format!("{carrier}-{period}.json"))
    }

    fn load(&self, carrier: &str, period: Period) -> Result<Option<PeriodKeys>> {
        let path = self.path(carrier, period);
        if !path.exists() {
            return Ok(None);
        }
        let bytes = crate::shared::read_bounded(&path, KEY_FILE_BYTES_MAX)?;
        let keys: PeriodKeys = serde_json::from_slice(&bytes)
            .with_context(|| format!("key store file {} is damaged", path.display()))?;
        if keys.period != period || keys.carrier != carrier {
            bail!("key store file {} names another period", path.display());
        }
        Ok(Some(keys))
    }

    /// The salt already used for the period, if any: a later round must reuse it.
    pub fn salt(&self, carrier: &str, period: Period) -> Result<Option<[u8; SALT_BYTES]>> {
        Ok(self.load(carrier, period)?.map(|keys| keys.salt.0))
    }

    /// Records a sealing's opening before its upload is sent, so no uploaded report is
    /// ever without its key.
    pub fn save(
        &self,
        carrier: &str,
        period: Period,
        opening: &Opening,
        plaintext_commitment: Digest,
    ) -> Result<()> {
        let salt = HexBytes(opening.salt);
        let mut keys = match self.load(carrier, period)? {
            Some(keys) if keys.salt != salt => {
                bail!("the key store holds another salt for {carrier} {period}")
            }
            Some(keys) => keys,
            None => PeriodKeys {
                period,
                carrier: carrier.to_owned(),
                salt,
                keys: Vec::new(),
            },
        };
        if keys.keys.len() >= KEYS_PER_PERIOD_MAX {
            bail!("the key store holds {KEYS_PER_PERIOD_MAX} keys for {carrier} {period} already");
        }
        keys.keys.push(SealedKey {
            key: HexBytes(*opening.key.as_bytes()),
            key_commitment: key_commitment(opening.key.as_bytes(), &opening.salt).into(),
            plaintext_commitment,
        });
        self.write(&self.path(carrier, period), &keys)
    }

    /// The opening whose key commitment is `commitment` (the one on the chain).
    pub fn opening(&self, carrier: &str, period: Period, commitment: &Digest) -> Result<Opening> {
        let path = self.path(carrier, period);
        let keys = self.load(carrier, period)?.with_context(|| {
            format!(
                "no key for {carrier} {period} in the key store {} (was the report uploaded from here?)",
                self.dir.display()
            )
        })?;
        let sealed = keys
            .keys
            .iter()
            .find(|sealed| sealed.key_commitment == *commitment)
            .with_context(|| {
                format!(
                    "{} holds no key matching the uploaded commitment {commitment}",
                    path.display()
                )
            })?;
        Ok(opening_from_bytes(&sealed.key.0, &keys.salt.0)?)
    }

    fn write(&self, path: &Path, keys: &PeriodKeys) -> Result<()> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .with_context(|| format!("creating the key store {}", self.dir.display()))?;
        let temporary = path.with_extension("json.tmp");
        // A leftover from a crash is ours to replace.
        let _ = std::fs::remove_file(&temporary);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)
            .with_context(|| format!("creating {}", temporary.display()))?;
        file.write_all(&serde_json::to_vec_pretty(keys)?)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("writing {}", temporary.display()))?;
        std::fs::rename(&temporary, path)
            .with_context(|| format!("replacing {}", path.display()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use netsettle_settlement::seal::{Opening, key_from_bytes};

    use super::*;

    fn opening(key: u8, salt: u8) -> Opening {
        Opening {
            key: key_from_bytes(&[key; 16]).expect("a key"),
            salt: [salt; SALT_BYTES],
        }
    }

    #[test]
    fn keeps_every_key_of_a_period_private_and_finds_the_committed_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = KeyStore::new(Some(&dir.path().join("keys")), dir.path());
        let period: Period = "2026-10".parse().expect("period");
        assert!(store.salt("UnicomMSP", period).expect("load").is_none());
        for key in [1, 2] {
            store
                .save("UnicomMSP", period, &opening(key, 7), HexBytes([0; 32]))
                .expect("save");
        }
        assert_eq!(
            store.salt("UnicomMSP", period).expect("load"),
            Some([7; 16])
        );
        let second: Digest = key_commitment(&[2; 16], &[7; 16]).into();
        let found = store.opening("UnicomMSP", period, &second).expect("found");
        assert_eq!(found.key.as_bytes(), &[2; 16]);
        let mode = |path: &Path| std::fs::metadata(path).expect("meta").permissions().mode();
        assert_eq!(mode(&dir.path().join("keys")) & 0o777, 0o700);
        assert_eq!(
            mode(&dir.path().join("keys/UnicomMSP-2026-10.json")) & 0o777,
            0o600
        );
        // Another salt for the same period is refused, the file unchanged.
        let error = store
            .save("UnicomMSP", period, &opening(3, 8), HexBytes([0; 32]))
            .expect_err("another salt");
        assert!(error.to_string().contains("another salt"), "{error}");
        let unknown = HexBytes([9; 32]);
        let error = store
            .opening("UnicomMSP", period, &unknown)
            .expect_err("unknown commitment");
        assert!(error.to_string().contains("no key matching"), "{error}");
        let error = store
            .opening("MobileMSP", period, &second)
            .expect_err("no file");
        assert!(
            error.to_string().contains("no key for MobileMSP"),
            "{error}"
        );
    }
}
