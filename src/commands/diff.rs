//! `pillars diff OLD NEW`: two records of one kind side by side, every
//! figure with its change and the regressions marked; exit 1 when anything
//! regressed, so a nightly job can say what changed since yesterday.
//!
//! Uses: report (record, diff), console.

use std::io::Write;
use std::path::PathBuf;

use crate::console::Console;
use crate::error::RunError;
use crate::exit;
use crate::report::{diff, record};

/// Which two records, and how much worse a figure may get.
#[derive(Debug)]
pub struct DiffPlan {
    pub old: PathBuf,
    pub new: PathBuf,
    pub threshold: f64,
}

pub(super) fn run(plan: DiffPlan, console: &mut Console) -> Result<u8, RunError> {
    let (_, old) = record::read(&plan.old)?;
    let (_, new) = record::read(&plan.new)?;
    let diff = diff::diff(&old, &new, plan.threshold).map_err(RunError::Usage)?;
    let _ = write!(console.out, "{}", diff::render(&diff));
    Ok(if diff.regressions() > 0 {
        exit::CHECK_FAILED
    } else {
        exit::OK
    })
}
