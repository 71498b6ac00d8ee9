//! The report directory: created, with its files, before any check runs, so
//! a bad `--report-dir` fails in the first second; written once at the end,
//! `run.json` first.
//!
//! Uses: report::{model, junit, html}.

use std::fs;
use std::path::{Path, PathBuf};

use crate::report::model::RunReport;
use crate::report::{html, junit};

pub const RUN_JSON: &str = "run.json";
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
    /// Creates the directory and its three files.
    pub fn create(dir: &Path) -> Result<ReportDir, ReportError> {
        fs::create_dir_all(dir).map_err(|source| ReportError::Create {
            path: dir.to_owned(),
            source,
        })?;
        for name in [RUN_JSON, JUNIT_XML, REPORT_HTML] {
            let path = dir.join(name);
            fs::File::create(&path).map_err(|source| ReportError::Create { path, source })?;
        }
        Ok(ReportDir { dir: dir.to_owned() })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Writes `run.json`, then renders the other files from it.
    pub fn write(&self, report: &RunReport) -> Result<(), ReportError> {
        let json = serde_json::to_string_pretty(report).expect("the run report always serializes");
        self.put(RUN_JSON, &json)?;
        self.put(JUNIT_XML, &junit::render(report))?;
        self.put(REPORT_HTML, &html::render(report))
    }

    fn put(&self, name: &str, text: &str) -> Result<(), ReportError> {
        let path = self.dir.join(name);
        fs::write(&path, text).map_err(|source| ReportError::Write { path, source })
    }
}
