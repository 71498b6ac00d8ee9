//! Reading the files a user hands pillars — target files, scenarios,
//! Grafana provisioning files, the records `pillars merge` combines — with
//! limits: a regular file only (a FIFO, `/dev/zero` or a directory is
//! refused at once instead of hanging or filling memory), and at most
//! [`MAX_BYTES`] ([`MAX_RECORD_BYTES`] for a record).
//!
//! Uses: nothing else in the crate.

use std::io::Read;
use std::path::Path;

/// The largest input file pillars reads.
pub const MAX_BYTES: u64 = 1024 * 1024;
/// The largest report record (`load.json`, `capacity.json`) pillars reads:
/// hours of timeline fit well within it.
pub const MAX_RECORD_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum TextFileError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("it is {0}, not a regular file")]
    NotRegular(&'static str),
    #[error("it is over {} KiB; pillars reads files of at most that size here", .0 / 1024)]
    TooLarge(u64),
    #[error("it is not UTF-8 text")]
    NotText,
}

/// The text of a regular file of at most [`MAX_BYTES`].
pub fn read(path: &Path) -> Result<String, TextFileError> {
    read_at_most(path, MAX_BYTES)
}

/// The text of a regular file of at most `max` bytes.
pub fn read_at_most(path: &Path, max: u64) -> Result<String, TextFileError> {
    // Look before opening: opening a FIFO for reading blocks until a
    // writer comes.
    let kind = std::fs::metadata(path)?.file_type();
    if !kind.is_file() {
        return Err(TextFileError::NotRegular(kind_name(&kind)));
    }
    let mut file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    (&mut file).take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(TextFileError::TooLarge(max));
    }
    String::from_utf8(bytes).map_err(|_| TextFileError::NotText)
}

fn kind_name(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_small_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("ok.toml");
        std::fs::write(&ok, "name = \"x\"\n").unwrap();
        assert_eq!(read(&ok).unwrap(), "name = \"x\"\n");
        let big = dir.path().join("big.toml");
        std::fs::write(&big, vec![b'#'; MAX_BYTES as usize + 1]).unwrap();
        assert!(matches!(read(&big), Err(TextFileError::TooLarge(MAX_BYTES))));
        assert!(matches!(
            read(Path::new("/dev/zero")),
            Err(TextFileError::NotRegular("a character device"))
        ));
        assert!(matches!(
            read(dir.path()),
            Err(TextFileError::NotRegular("a directory"))
        ));
        let fifo = dir.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        assert!(matches!(read(&fifo), Err(TextFileError::NotRegular("a FIFO"))));
    }
}
