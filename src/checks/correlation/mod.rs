//! The correlation checks: one request followed across tiers and pillars,
//! along exactly the links Grafana shows a person — trace across tiers,
//! exemplar → trace, trace → logs, trace → profile, and the whole walk from
//! an alert to a profile — built from the datasources' own correlation
//! settings. What they share is the
//! `correlation` module.

pub mod exemplar_to_trace;
pub(crate) mod investigation;
pub(crate) mod trace_across_tiers;
pub mod trace_to_logs;
pub(crate) mod trace_to_profile;
