//! Bounded reads of whole files: the one implementation every netsettle crate uses to read
//! a file it then parses (keys, certificates, profiles, configs, blocks, reports). A file
//! over its limit is refused after reading at most one byte past the limit, so a huge or
//! endless file (a device, a FIFO) never fills memory.

use std::io::Read as _;
use std::path::Path;

use crate::CryptoError;

/// Reads all of `path`, refusing it when it holds more than `bytes_max` bytes.
pub fn read_file_bounded(path: &Path, bytes_max: usize) -> Result<Vec<u8>, CryptoError> {
    let io_error = |err: std::io::Error| CryptoError::Io {
        path: path.to_path_buf(),
        kind: err.kind(),
    };
    let file = std::fs::File::open(path).map_err(io_error)?;
    // One byte past the limit tells "exactly at the limit" from "over it".
    let limit = u64::try_from(bytes_max)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let mut bytes = Vec::new();
    file.take(limit).read_to_end(&mut bytes).map_err(io_error)?;
    if bytes.len() > bytes_max {
        return Err(CryptoError::FileTooLarge {
            path: path.to_path_buf(),
            bytes_max,
        });
    }
    Ok(bytes)
}

/// Reads all of `path` as UTF-8 text, refusing it when it holds more than `bytes_max`
/// bytes.
pub fn read_text_file_bounded(path: &Path, bytes_max: usize) -> Result<String, CryptoError> {
    let bytes = read_file_bounded(path, bytes_max)?;
    String::from_utf8(bytes).map_err(|_| CryptoError::Io {
        path: path.to_path_buf(),
        kind: std::io::ErrorKind::InvalidData,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_up_to_the_limit_are_read_and_larger_ones_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        std::fs::write(&path, b"0123456789").unwrap();
        assert_eq!(read_file_bounded(&path, 10).unwrap(), b"0123456789");
        assert_eq!(read_text_file_bounded(&path, 10).unwrap(), "0123456789");
        assert_eq!(
            read_file_bounded(&path, 9),
            Err(CryptoError::FileTooLarge {
                path: path.clone(),
                bytes_max: 9
            })
        );
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert_eq!(
            read_text_file_bounded(&path, 10),
            Err(CryptoError::Io {
                path: path.clone(),
                kind: std::io::ErrorKind::InvalidData
            })
        );
        let missing = dir.path().join("missing");
        assert_eq!(
            read_file_bounded(&missing, 10),
            Err(CryptoError::Io {
                path: missing,
                kind: std::io::ErrorKind::NotFound
            })
        );
    }

    #[test]
    fn an_endless_file_is_refused_without_reading_it_all() {
        let refused = read_file_bounded(Path::new("/dev/zero"), 1024);
        assert!(matches!(
            refused,
            Err(CryptoError::FileTooLarge {
                bytes_max: 1024,
                ..
            })
        ));
    }
}
