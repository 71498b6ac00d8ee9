//! `pillars lint PATH...`: the deployment's files checked against the
//! lint rules; the findings printed (a table, JSON, SARIF or JUnit) and,
//! with a report directory, written as lint.json, lint.sarif, junit.xml
//! and report.html. Exit 0 clean, 1 findings, 2 unreadable input.
//!
//! Uses: lint, report::dir (atomic writes), console, exit.

use std::io::Write;
use std::path::PathBuf;

use crate::console::Console;
use crate::error::RunError;
use crate::exit;
use crate::lint::{LintReport, Options, render, sarif};
use crate::report::ReportDir;

/// What stdout shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LintFormat {
    Table,
    Json,
    Sarif,
    Junit,
}

#[derive(Debug)]
pub struct LintPlan {
    pub paths: Vec<PathBuf>,
    pub scenarios: Option<PathBuf>,
    pub format: LintFormat,
    pub report_dir: Option<PathBuf>,
    pub options: Options,
}

pub(super) fn run(plan: LintPlan, console: &mut Console) -> Result<u8, RunError> {
    // A bad --report-dir fails before any file is read.
    let dir = plan.report_dir.as_deref().map(ReportDir::create).transpose()?;
    let report = LintReport::of(&plan.paths, plan.scenarios.as_deref(), &plan.options)
        .map_err(|e| RunError::Usage(e.to_string()))?;
    if let Some(dir) = dir {
        let files = [
            ("lint.json", report.to_json()),
            ("lint.sarif", sarif::render(&report)),
            (crate::report::dir::JUNIT_XML, render::junit(&report)),
            (crate::report::dir::REPORT_HTML, render::html(&report)),
        ];
        for (name, text) in files {
            crate::report::dir::write_atomic(&dir.path().join(name), &text)?;
        }
    }
    let text = match plan.format {
        LintFormat::Table => render::terminal(&report),
        LintFormat::Json => report.to_json(),
        LintFormat::Sarif => sarif::render(&report),
        LintFormat::Junit => render::junit(&report),
    };
    let _ = write!(console.out, "{text}");
    Ok(if report.is_clean() {
        exit::OK
    } else {
        exit::CHECK_FAILED
    })
}
