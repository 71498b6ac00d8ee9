//! Why a target could not be loaded. Every message names the file and
//! key, what was wrong and the fix.
//!
//! Uses: textfile.

use std::path::PathBuf;

/// Why a target could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("cannot read target file `{}`; pass `sim`, `compose`, `aws` or the path of a target TOML file", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: crate::textfile::TextFileError,
    },
    #[error("target file `{path}` is not a valid target: {message}")]
    Parse { path: String, message: String },
    #[error("target file `{origin}`: `{key}` {problem}; {fix}")]
    Invalid {
        origin: String,
        key: String,
        problem: String,
        fix: String,
    },
}
