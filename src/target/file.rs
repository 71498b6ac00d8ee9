//! The target file as written (TOML), before validation. Keys are checked
//! strictly (`deny_unknown_fields`) so a typo is an error that names the key
//! instead of a silently ignored line. README § Targets shows every key.
//!
//! Uses: nothing else in the crate.

use std::path::PathBuf;

use serde::Deserialize;

/// `[app] frontend_service` when unset: the deployment's frontend, as its
/// Faro SDK names the app.
pub const DEFAULT_FRONTEND_SERVICE: &str = "durable-code-frontend";
/// `[app] backend_service` when unset: the deployment's backend, as its
/// OpenTelemetry SDK names the service.
pub const DEFAULT_BACKEND_SERVICE: &str = "durable-code-backend";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTarget {
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(default)]
    pub ingest: RawIngest,
    #[serde(default)]
    pub app: RawApp,
    #[serde(default)]
    pub read: RawRead,
    #[serde(default)]
    pub auth: RawAuth,
    #[serde(default)]
    pub limits: RawLimits,
    pub tunnel: Option<RawTunnel>,
    #[serde(default)]
    pub dashboards: RawDashboards,
    #[serde(default)]
    pub alerts: RawAlerts,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIngest {
    pub otlp_http: Option<String>,
    pub otlp_traces: Option<String>,
    pub otlp_metrics: Option<String>,
    pub otlp_logs: Option<String>,
    pub otlp_grpc: Option<String>,
    /// `grpc`, `http/protobuf` or `http/json`, as `OTEL_EXPORTER_OTLP_PROTOCOL`
    /// spells it: how the deployment's backend exports.
    pub otlp_protocol: Option<String>,
    pub faro: Option<String>,
    pub pyroscope: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApp {
    pub base_url: Option<String>,
    #[serde(default = "default_frontend_service")]
    pub frontend_service: String,
    #[serde(default = "default_backend_service")]
    pub backend_service: String,
}

impl Default for RawApp {
    fn default() -> Self {
        RawApp {
            base_url: None,
            frontend_service: default_frontend_service(),
            backend_service: default_backend_service(),
        }
    }
}

fn default_frontend_service() -> String {
    DEFAULT_FRONTEND_SERVICE.to_owned()
}

fn default_backend_service() -> String {
    DEFAULT_BACKEND_SERVICE.to_owned()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRead {
    pub grafana: Option<String>,
    pub tempo: Option<String>,
    pub loki: Option<String>,
    pub mimir: Option<String>,
    pub pyroscope: Option<String>,
    pub provisioning: Option<PathBuf>,
    #[serde(default)]
    pub datasources: RawDatasources,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDatasources {
    pub tempo: Option<String>,
    pub loki: Option<String>,
    pub mimir: Option<String>,
    pub pyroscope: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAuth {
    pub grafana_token_env: Option<String>,
    pub grafana_user_env: Option<String>,
    pub grafana_password_env: Option<String>,
    pub backend_token_env: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    pub ingest_slo: Option<String>,
    pub wait: Option<String>,
    pub max_wait: Option<String>,
    pub search_ready_after: Option<String>,
    pub request_timeout: Option<String>,
    pub memory_budget_mb: Option<u64>,
    pub completeness: Option<f64>,
    pub memory_headroom: Option<f64>,
    pub alert_wait: Option<String>,
}

/// `[dashboards]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDashboards {
    /// `"<dashboard title> / <panel title>"` of panels that may show nothing.
    #[serde(default)]
    pub expected_empty: Vec<String>,
}

/// `[alerts]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlerts {
    pub groups: Option<Vec<String>>,
    pub error_alert: Option<String>,
    pub latency_alert: Option<String>,
    pub error_path: Option<String>,
    pub slow_path: Option<String>,
    pub burst_requests: Option<u32>,
}

/// `[tunnel]`: a port forward pillars opens before the run and closes
/// after it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTunnel {
    pub kind: String,
    pub instance_id: String,
    pub remote_port: u16,
    pub local_port: u16,
    pub region: Option<String>,
    pub profile: Option<String>,
    pub ready_within: Option<String>,
}
