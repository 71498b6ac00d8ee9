//! `pillars lint`: the correlation and routing mistakes of a deployment,
//! found in its files before anything runs. [`load`] reads Compose, Alloy,
//! Grafana provisioning, Terraform, CI workflows, dependency manifests and
//! scenarios into one [`model::Deployment`]; [`rules`] check it; the
//! [`report::LintReport`] renders as a terminal table, `lint.json`, JUnit,
//! HTML and SARIF.
//!
//! Uses: textfile, load::scenario, correlation::links, query::loki,
//! report::junit (escaping).

pub mod alloy;
pub mod finding;
pub mod load;
pub mod model;
pub mod pipeline;
pub mod render;
pub mod report;
pub mod rules;
pub mod sarif;
pub mod source;
pub mod terraform;
pub mod yaml;

pub use finding::{Finding, Rule, Severity};
pub use report::LintReport;
pub use rules::Options;
pub use source::LintError;
