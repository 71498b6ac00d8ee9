//! `lint.json`, the one record of a lint: the files read and the findings,
//! versioned. The terminal table, JUnit, HTML and SARIF render from it.
//!
//! Uses: lint::{finding, load, rules}.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::lint::finding::{Finding, Rule, Severity};
use crate::lint::load;
use crate::lint::rules::{self, Options};
use crate::lint::source::LintError;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Serialize)]
pub struct LintReport {
    pub schema_version: u32,
    /// The paths as given.
    pub paths: Vec<PathBuf>,
    /// Every file read into the model.
    pub files: Vec<PathBuf>,
    pub rules: Vec<RuleEntry>,
    pub findings: Vec<Finding>,
    pub errors: usize,
    pub warnings: usize,
}

#[derive(Debug, Serialize)]
pub struct RuleEntry {
    pub id: Rule,
    pub severity: Severity,
    pub summary: &'static str,
}

impl LintReport {
    /// Reads `paths` (and the scenarios under `scenarios`) and checks
    /// every rule on them.
    pub fn of(paths: &[PathBuf], scenarios: Option<&Path>, options: &Options) -> Result<LintReport, LintError> {
        let loaded = load::load(paths, scenarios)?;
        let findings = rules::check(&loaded.deployment, options);
        Ok(LintReport::new(paths.to_vec(), loaded.files, findings))
    }

    pub fn new(paths: Vec<PathBuf>, files: Vec<PathBuf>, findings: Vec<Finding>) -> LintReport {
        let count = |s| findings.iter().filter(|f| f.severity == s).count();
        LintReport {
            schema_version: SCHEMA_VERSION,
            paths,
            files,
            rules: Rule::ALL
                .iter()
                .map(|&id| RuleEntry {
                    id,
                    severity: id.severity(),
                    summary: id.summary(),
                })
                .collect(),
            errors: count(Severity::Error),
            warnings: count(Severity::Warning),
            findings,
        }
    }

    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a lint report serializes") + "\n"
    }
}
