//! Reports: `run.json` is the source of truth; `junit.xml`, `report.html`
//! and the terminal summary render from it and nothing else.

pub mod chart;
pub mod dir;
pub mod html;
pub mod junit;
pub mod load_html;
pub mod model;
pub mod terminal;

pub use dir::{ReportDir, ReportError};
pub use model::{CheckReport, RunReport, TargetReport, Totals};
