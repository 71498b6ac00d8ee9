//! Reports: one model per kind of run — `run.json` for verify,
//! `load.json` for load, `capacity.json` for capacity — each the source of
//! truth its other outputs (terminal summary, JUnit, HTML) render from, and
//! one writer, [`ReportDir`], for all of them; `merge` puts the records of
//! a run's shards back into one.
//!
//! Reports read outcomes (of checks, load runs and searches); nothing below
//! imports them.

pub mod canary;
pub mod capacity;
pub mod chart;
pub mod diff;
pub mod dir;
pub mod html;
pub mod junit;
pub mod load;
pub mod load_html;
pub mod merge;
pub mod record;
pub mod run;
pub mod terminal;
pub mod waterfall;

use crate::ids::Seed;
use crate::load::shard::Shard;

pub use capacity::CapacityReport;
pub use dir::{ReportDir, ReportError};
pub use load::LoadReport;
pub use run::{CheckReport, RunReport, TargetReport, Totals};

/// Which run a record is of: its seed, its id, and its shard of a split
/// run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOf {
    pub seed: Seed,
    pub run_id: String,
    pub shard: Option<Shard>,
}

/// A finished run's record, whichever command made it.
#[derive(Debug, Clone, Copy)]
pub enum Report<'a> {
    Run(&'a RunReport),
    Load(&'a LoadReport),
    Capacity(&'a CapacityReport),
    Canary(&'a canary::CanaryReport),
}

impl Report<'_> {
    /// The files this report is written as, the JSON record first, each
    /// with its text.
    pub fn files(self) -> Vec<(&'static str, String)> {
        match self {
            Report::Run(r) => vec![
                (dir::RUN_JSON, json(r)),
                (dir::JUNIT_XML, junit::render(r)),
                (dir::REPORT_HTML, html::render(r)),
            ],
            Report::Load(r) => vec![(dir::LOAD_JSON, json(r)), (dir::REPORT_HTML, load_html::render_load(r))],
            Report::Capacity(r) => vec![
                (dir::CAPACITY_JSON, json(r)),
                (dir::REPORT_HTML, load_html::render_capacity(r)),
            ],
            Report::Canary(r) => vec![(dir::CANARY_JSON, json(r))],
        }
    }
}

fn json(record: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(record).expect("reports hold only JSON-representable values")
}
