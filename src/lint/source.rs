//! The files a lint reads, and places in them. YAML and HCL parsers here
//! keep no positions, so a place is found in the text: the line of a key,
//! searched from the line of the block it belongs to.
//!
//! Uses: textfile (capped reads).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

/// One file's text, as read.
#[derive(Debug)]
pub struct SourceFile {
    /// As the user named it (or found under a directory they named).
    pub path: PathBuf,
    pub text: String,
}

/// A line in a file (1-based).
#[derive(Debug, Clone)]
pub struct At {
    pub source: Arc<SourceFile>,
    pub line: u32,
}

impl Serialize for At {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("At", 2)?;
        st.serialize_field("file", &self.file())?;
        st.serialize_field("line", &self.line)?;
        st.end()
    }
}

impl At {
    pub fn start(source: &Arc<SourceFile>) -> At {
        At {
            source: source.clone(),
            line: 1,
        }
    }

    pub fn line(source: &Arc<SourceFile>, line: u32) -> At {
        At {
            source: source.clone(),
            line: line.max(1),
        }
    }

    /// The file, with `/` separators, as SARIF and the terminal show it.
    pub fn file(&self) -> String {
        self.source.path.to_string_lossy().replace('\\', "/")
    }

    /// The first line at or after this one that contains `needle`; this
    /// line when none does.
    pub fn find(&self, needle: &str) -> At {
        self.find_opt(needle).unwrap_or_else(|| self.clone())
    }

    pub fn find_opt(&self, needle: &str) -> Option<At> {
        self.source
            .text
            .lines()
            .enumerate()
            .skip((self.line as usize).saturating_sub(1))
            .find(|(_, l)| l.contains(needle))
            .map(|(i, _)| At::line(&self.source, i as u32 + 1))
    }

    /// Like [`At::find_any`], but only up to line `end` (exclusive): a key
    /// of one datasource is never found in the next one.
    pub fn find_within(&self, needles: &[&str], end: u32) -> At {
        needles
            .iter()
            .find_map(|n| self.find_opt(n).filter(|at| at.line < end))
            .unwrap_or_else(|| self.clone())
    }

    /// Like [`At::find`], trying each needle in turn.
    pub fn find_any(&self, needles: &[&str]) -> At {
        needles
            .iter()
            .find_map(|n| self.find_opt(n))
            .unwrap_or_else(|| self.clone())
    }

    pub fn path(&self) -> &Path {
        &self.source.path
    }
}

/// Why a lint could not read its input: exit 2, nothing was judged.
#[derive(Debug, thiserror::Error)]
pub enum LintError {
    #[error("cannot read `{}`: {source}; pass files or directories pillars can read", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: crate::textfile::TextFileError,
    },
    #[error("cannot list `{}`: {source}", path.display())]
    List {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: {problem}; fix the file's syntax (or leave it out of the paths)", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        problem: String,
    },
    #[error("`{}` holds no file pillars lint reads (Compose, Alloy, Grafana provisioning, Terraform, CI workflows)", .0.display())]
    NothingToLint(PathBuf),
}

impl At {
    /// Another line of the same file.
    pub fn line_of(&self, line: u32) -> At {
        At::line(&self.source, line)
    }
}
