//! The report directory: created, and proven writable, before any check
//! runs, so a bad `--report-dir` fails in the first second; written once at
//! the end, `run.json` first. Every report file is written whole to a new
//! temporary file beside it and renamed into place, so a reader never sees
//! a half-written or empty file and a symlink at the report's path is
//! replaced, never written through. Secrets are masked on the way out.
//!
//! Uses: report (the files of each report), secrets.

use std::fs;
use std::path::{Path, PathBuf};

use crate::report::Report;

pub const RUN_JSON: &str = "run.json";
pub const LOAD_JSON: &str = "load.json";
pub const CAPACITY_JSON: &str = "capacity.json";
pub const CANARY_JSON: &str = "canary.json";
pub const JUNIT_XML: &str = "junit.xml";
pub const REPORT_HTML: &str = "report.html";

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot create report file `{}`; pass a writable --report-dir", path.display())]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write report file `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Clone)]
pub struct ReportDir {
    dir: PathBuf,
}

impl ReportDir {
    /// Creates the directory and proves a file can be written in it.
    pub fn create(dir: &Path) -> Result<ReportDir, ReportError> {
        prepare(dir)?;
        Ok(ReportDir { dir: dir.to_owned() })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Writes `report`'s files, its JSON record first; returns their paths.
    pub fn write(&self, report: Report<'_>) -> Result<Vec<PathBuf>, ReportError> {
        report
            .files()
            .into_iter()
            .map(|(name, text)| {
                let path = self.dir.join(name);
                write_atomic(&path, &text)?;
                Ok(path)
            })
            .collect()
    }
}

/// Creates `dir` and writes, then removes, a probe file in it.
fn prepare(dir: &Path) -> Result<(), ReportError> {
    let create = |source| ReportError::Create {
        path: dir.to_owned(),
        source,
    };
    fs::create_dir_all(dir).map_err(create)?;
    let probe = dir.join(format!(".pillars-probe-{}", std::process::id()));
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|source| ReportError::Create {
            path: probe.clone(),
            source,
        })?;
    let _ = fs::remove_file(&probe);
    Ok(())
}

/// Writes `text`, secrets masked, to a new temporary file beside `path`
/// and renames it over `path`.
pub(crate) fn write_atomic(path: &Path, text: &str) -> Result<(), ReportError> {
    use std::io::Write as _;
    let failed = |source| ReportError::Write {
        path: path.to_owned(),
        source,
    };
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let _ = fs::remove_file(&temp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)
        .map_err(failed)?;
    let written = file
        .write_all(crate::secrets::redact(text).as_bytes())
        .and_then(|()| file.sync_all());
    drop(file);
    if let Err(e) = written.and_then(|()| fs::rename(&temp, path)) {
        let _ = fs::remove_file(&temp);
        return Err(failed(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_replace_a_symlink_instead_of_writing_through_it() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere.txt");
        fs::write(&elsewhere, "keep me").unwrap();
        let report = dir.path().join("run.json");
        std::os::unix::fs::symlink(&elsewhere, &report).unwrap();
        write_atomic(&report, "{}").unwrap();
        assert_eq!(fs::read_to_string(&elsewhere).unwrap(), "keep me");
        assert_eq!(fs::read_to_string(&report).unwrap(), "{}");
        assert!(!fs::symlink_metadata(&report).unwrap().file_type().is_symlink());
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }
}
