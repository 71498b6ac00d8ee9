//! `pillars merge DIR...`: the report directories of a split run's shards
//! (`--shard i/N`) into one `load.json` or `capacity.json` and its
//! `report.html`, with the same summary a whole run prints. The shards'
//! own reports are read, never written.
//!
//! Uses: report (merge, the writer, the terminal summary), console.

use std::io::Write;
use std::path::PathBuf;

use crate::commands::prepared::write_report;
use crate::console::{Console, printable};
use crate::error::RunError;
use crate::exit;
use crate::report::merge::{Merged, merge};
use crate::report::{ReportDir, terminal};

/// Which shards' report directories, into which directory.
#[derive(Debug)]
pub struct MergePlan {
    pub inputs: Vec<PathBuf>,
    /// `None`: `reports/<merged run id>`.
    pub report_dir: Option<PathBuf>,
}

pub(super) fn run(plan: MergePlan, console: &mut Console) -> Result<u8, RunError> {
    let merged = merge(&plan.inputs)?;
    let run_id = match &merged {
        Merged::Load(r) => &r.run_id,
        Merged::Capacity(r) => &r.run_id,
    };
    let report_dir = plan
        .report_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("reports").join(run_id));
    refuse_to_overwrite_an_input(&report_dir, &plan.inputs)?;
    let dir = ReportDir::create(&report_dir)?;
    let code = match &merged {
        Merged::Load(report) => {
            let _ = write!(console.out, "{}", terminal::load(report));
            if report.broken.is_some() {
                exit::CHECK_FAILED
            } else if report.undecided() {
                exit::UNREACHABLE
            } else {
                exit::OK
            }
        }
        Merged::Capacity(report) => {
            for step in &report.steps {
                let _ = writeln!(console.out, "{}", terminal::capacity_step(step));
            }
            let _ = writeln!(console.out, "{}", printable(&report.recommendation));
            exit::OK
        }
    };
    write_report(&dir, merged.report(), console)?;
    Ok(code)
}

/// The merged report must not land on a shard's own.
fn refuse_to_overwrite_an_input(report_dir: &std::path::Path, inputs: &[PathBuf]) -> Result<(), RunError> {
    let Ok(out) = report_dir.canonicalize() else {
        return Ok(());
    };
    for input in inputs {
        let dir = if input.is_dir() {
            input.clone()
        } else {
            input.parent().map(PathBuf::from).unwrap_or_default()
        };
        if dir.canonicalize().is_ok_and(|d| d == out) {
            return Err(RunError::Usage(format!(
                "--report-dir `{}` is where shard `{}` was read from; write the merged report elsewhere",
                report_dir.display(),
                input.display()
            )));
        }
    }
    Ok(())
}
