//! The correlation checks: one request followed across tiers and pillars,
//! along exactly the links Grafana shows a person — trace across tiers,
//! exemplar → trace, trace → logs, trace → profile — built from the
//! datasources' own correlation settings.

pub mod exemplar_to_trace;
pub mod links;
pub mod session;
pub mod settings;
pub mod trace_across_tiers;
pub mod trace_to_logs;
pub mod trace_to_profile;
