//! Where the stack lives: endpoints by role, the read path, credentials and
//! limits, loaded once from a TOML file plus environment overrides and
//! validated before anything is sent; and the choice of target a run makes.
//!
//! Roles follow `shared/DESIGN.md` § Targets. Per-signal OTLP endpoints
//! follow the OpenTelemetry exporter conventions: `OTEL_EXPORTER_OTLP_ENDPOINT`
//! is a base URL to which `/v1/<signal>` is appended, while
//! `OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT` is used as it is. Reads go straight
//! to a store when the file names its URL, otherwise through Grafana's
//! datasource proxy (`/api/datasources/proxy/uid/<uid>`, see
//! `shared/reference/api/02-grafana-http-api.md`).
//!
//! Secrets never appear in a target file: it names environment variables, and
//! their values are read from the [`Env`] snapshot, once, into
//! [`Credential`]s that neither print nor serialize.
//!
//! - `model`: the validated [`Target`] and its parts;
//! - `file`: the file as written (the raw TOML schema) and its defaults;
//! - `resolve`: file + environment → [`Target`], section by section;
//! - `choice`: [`TargetChoice`] (`sim`, `compose`, `aws` or a path) and
//!   opening it;
//! - `error`: [`TargetError`].
//!
//! Uses: env, textfile, secrets; `choice` also stack::sim, the gate to the
//! reference stack (which turns the target file it prints into a
//! [`Target`] with `resolve`).

mod choice;
mod error;
mod file;
mod model;
mod resolve;
#[cfg(test)]
mod tests;

pub use crate::env::Env;
pub use choice::{AWS_TARGET_COMMAND, AWS_TARGET_FILE, COMPOSE_TARGET_FILE, OpenError, Opened, TargetChoice};
pub use error::TargetError;
pub use file::{DEFAULT_BACKEND_SERVICE, DEFAULT_FRONTEND_SERVICE};
pub use model::{
    Alerts, Compression, Credential, DEFAULT_ALERT_GROUPS, Dashboards, Grafana, Limits, OtlpHeader, PanelRef,
    PerSignal, ProvisioningFile, ReadEndpoint, ReadPath, Secret, Signal, Store, Target, TargetKind, Transport, Tunnel,
    join_path,
};
