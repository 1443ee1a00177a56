//! File helpers shared by the registry, the CA directory and identity directories: bounded
//! reads, and writes that are atomic (temporary file, fsync, rename, fsync of the directory)
//! so a crash leaves either the old or the new contents, never a torn file.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use netsettle_smcrypto::{CryptoError, PrivateKey};

use crate::CaError;

/// Mode of files holding secrets (private keys, the registry with secret digests).
pub(crate) const SECRET_FILE_MODE: u32 = 0o600;
/// Mode of public files (certificates, CRLs).
pub(crate) const PUBLIC_FILE_MODE: u32 = 0o644;

/// Read a whole file as UTF-8, refusing files over `max_bytes`.
pub(crate) fn read_text_limited(path: &Path, max_bytes: u64) -> Result<String, CaError> {
    let bytes_max = usize::try_from(max_bytes).unwrap_or(usize::MAX);
    netsettle_smcrypto::read_text_file_bounded(path, bytes_max).map_err(|error| match error {
        CryptoError::FileTooLarge { .. } => CaError::FileTooLarge {
            path: path.to_owned(),
            max_bytes,
        },
        CryptoError::Io { kind, .. } => CaError::io(path)(std::io::Error::from(kind)),
        other => CaError::io(path)(std::io::Error::other(other)),
    })
}

/// Replace `path` with `bytes` atomically, with the given mode from the first byte on.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CaError> {
    let temporary = temporary_path(path)?;
    let result = write_new(&temporary, bytes, mode).and_then(|()| {
        std::fs::rename(&temporary, path).map_err(CaError::io(path))?;
        sync_parent(path)
    });
    if result.is_err() {
        // Best effort: a leftover temporary file is harmless but untidy.
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// Write a private key atomically with mode 0600, replacing any previous key (re-enrollment
/// rotates keys in place).
pub(crate) fn write_key_atomic(path: &Path, key: &PrivateKey) -> Result<(), CaError> {
    write_atomic(path, key.to_pkcs8_pem().as_bytes(), SECRET_FILE_MODE)
}

/// Create `dir` and its parents.
pub(crate) fn create_dir(dir: &Path) -> Result<(), CaError> {
    std::fs::create_dir_all(dir).map_err(CaError::io(dir))
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CaError> {
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(CaError::io(path))?;
    file.write_all(bytes).map_err(CaError::io(path))?;
    file.sync_all().map_err(CaError::io(path))
}

fn temporary_path(path: &Path) -> Result<PathBuf, CaError> {
    let Some(name) = path.file_name() else {
        return Err(CaError::invalid(
            "path",
            format!("{} has no file name", path.display()),
        ));
    };
    let mut temporary = name.to_os_string();
    temporary.push(".tmp");
    Ok(path.with_file_name(temporary))
}

/// fsync the directory holding `path`, so the rename itself survives a crash.
fn sync_parent(path: &Path) -> Result<(), CaError> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let dir = std::fs::File::open(parent).map_err(CaError::io(parent))?;
    dir.sync_all().map_err(CaError::io(parent))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn atomic_write_replaces_and_keeps_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.toml");
        write_atomic(&path, b"one", SECRET_FILE_MODE).unwrap();
        write_atomic(&path, b"two", SECRET_FILE_MODE).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!dir.path().join("registry.toml.tmp").exists());
    }

    #[test]
    fn oversized_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        std::fs::write(&path, vec![b'a'; 11]).unwrap();
        assert!(matches!(
            read_text_limited(&path, 10),
            Err(CaError::FileTooLarge { max_bytes: 10, .. })
        ));
        assert_eq!(read_text_limited(&path, 11).unwrap().len(), 11);
    }
}
