//! The embedded reference stack of pillars: an in-process test double on
//! loopback ports that speaks the HTTP shapes of the real components for
//! the calls the harness makes (`shared/reference/api/`), with visibility
//! delays and one fault knob per checked property. It is never presented
//! as the real stack: banners and reports name it.
//!
//! It is written from the components' contracts and shares no codec,
//! client or type with the harness it tests, so a mistake mirrored on both
//! sides cannot pass: this crate does not depend on `pillars`.

mod app;
pub mod cadvisor;
mod collector;
mod collector_grpc;
pub mod dashboards;
mod faro;
pub mod faro_lines;
pub mod faults;
pub mod generator;
mod go;
pub mod grafana;
mod grafana_pyroscope;
mod grafana_query;
pub mod ids;
pub mod lang;
pub mod logs;
mod loki;
pub mod loki_exporter;
mod loki_metric;
pub mod metrics;
mod mimir;
pub mod node_exporter;
mod otlp_body;
pub mod pprof;
pub mod profiles;
pub mod provisioning;
mod pyroscope;
pub mod ruler;
mod ruler_api;
mod stack;
mod state;
mod tempo;
pub mod traces;
pub mod variants;

pub use faro::FaroSettings;
pub use faults::{FaultError, Faults};
pub use grafana::{GrafanaAuth, OrgRole};
pub use ruler::{RuleFile, RuleTiming};
pub use stack::{DEFAULT_GRAFANA_SUB_PATH, SimError, SimOptions, SimStack};
pub use variants::{LogExport, VariantError, Variants};
