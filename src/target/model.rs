//! The validated target: endpoints by role, how each store is read,
//! credentials, and the limits every check runs under. Built only by
//! `resolve` from a target file and the environment; after that nothing
//! re-reads the environment or re-parses a URL.
//!
//! Uses: secrets (a [`Secret`] is masked wherever pillars prints).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::env::Env;

/// The roles whose URLs the harness reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Store {
    Tempo,
    Loki,
    Mimir,
    Pyroscope,
}

impl Store {
    pub const ALL: [Store; 4] = [Store::Tempo, Store::Loki, Store::Mimir, Store::Pyroscope];

    pub const fn as_str(self) -> &'static str {
        match self {
            Store::Tempo => "tempo",
            Store::Loki => "loki",
            Store::Mimir => "mimir",
            Store::Pyroscope => "pyroscope",
        }
    }
}

/// OTLP signals, each with its own ingest endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Traces,
    Metrics,
    Logs,
}

impl Signal {
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    const fn index(self) -> usize {
        self as usize
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }

    /// The OpenTelemetry exporter variable that chooses this signal's
    /// protocol (`grpc`, `http/protobuf`, `http/json`).
    pub const fn protocol_env_var(self) -> &'static str {
        match self {
            Signal::Traces => "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            Signal::Metrics => "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
            Signal::Logs => "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
        }
    }

    pub const fn path(self) -> &'static str {
        match self {
            Signal::Traces => "v1/traces",
            Signal::Metrics => "v1/metrics",
            Signal::Logs => "v1/logs",
        }
    }

    /// The OpenTelemetry exporter variable whose headers replace
    /// `OTEL_EXPORTER_OTLP_HEADERS` for this signal.
    pub const fn headers_env_var(self) -> &'static str {
        match self {
            Signal::Traces => "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            Signal::Metrics => "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
            Signal::Logs => "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
        }
    }

    /// The OpenTelemetry exporter variable that overrides this signal's
    /// endpoint, used as it is.
    pub const fn env_var(self) -> &'static str {
        match self {
            Signal::Traces => "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            Signal::Metrics => "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            Signal::Logs => "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
        }
    }

    /// The target file's key for this signal's endpoint.
    pub const fn key(self) -> &'static str {
        match self {
            Signal::Traces => "ingest.otlp_traces",
            Signal::Metrics => "ingest.otlp_metrics",
            Signal::Logs => "ingest.otlp_logs",
        }
    }
}

/// How OTLP reaches the collector: protobuf over HTTP/1.1 (`/v1/<signal>`,
/// port 4318 by convention) or the gRPC export services over HTTP/2 (port
/// 4317).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    Http,
    Grpc,
}

impl Transport {
    pub const ALL: [Transport; 2] = [Transport::Http, Transport::Grpc];

    pub const fn as_str(self) -> &'static str {
        match self {
            Transport::Http => "http",
            Transport::Grpc => "grpc",
        }
    }

    /// As messages name it.
    pub const fn label(self) -> &'static str {
        match self {
            Transport::Http => "OTLP/HTTP",
            Transport::Grpc => "OTLP/gRPC",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One value per OTLP signal.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PerSignal<T>(pub [T; 3]);

impl<T> PerSignal<T> {
    pub fn of(&self, signal: Signal) -> &T {
        &self.0[signal.index()]
    }
}

/// Whether gRPC exports are gzip-compressed (`OTEL_EXPORTER_OTLP_COMPRESSION`,
/// gzip unless it says `none`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    None,
    #[default]
    Gzip,
}

/// A header sent with every OTLP export (`OTEL_EXPORTER_OTLP_HEADERS`):
/// its value is a secret, as exporters carry API keys there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpHeader {
    pub name: String,
    pub value: Secret,
}

/// A secret read from the environment. Its value never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A secret, registered so it is masked in everything pillars prints
    /// or writes.
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        crate::secrets::register(&value);
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How requests to a read endpoint authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Bearer(Secret),
    Basic { user: String, password: Secret },
}

/// How a store is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadPath {
    /// Straight to the store's own HTTP API.
    Direct,
    /// Through Grafana's datasource proxy for the datasource with this uid.
    GrafanaProxy { uid: String },
}

/// One store's read endpoint: the base URL every API path is joined to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadEndpoint {
    pub base: Url,
    pub path: ReadPath,
    pub credential: Option<Credential>,
}

/// Grafana itself, when the target has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grafana {
    pub url: Url,
    pub datasources: BTreeMap<Store, String>,
    pub credential: Option<Credential>,
}

/// Which kind of target this is; reports always say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetKind {
    /// The embedded reference stack, in this process.
    Sim,
    /// A target file (including the built-in `compose` and `aws` files).
    File(PathBuf),
}

/// Limits and deadlines that apply to every check against this target.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// p99 write-to-queryable latency a pillar must stay under.
    pub ingest_slo: Duration,
    /// How long to poll before an item is suspected missing.
    pub wait: Duration,
    /// How long to keep confirming before it is declared missing.
    pub max_wait: Duration,
    /// Earliest time after a write at which a TraceQL search can find it
    /// (Tempo searches only flushed traces: idle period plus a flush tick).
    pub search_ready_after: Duration,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
    /// Memory the instance leaves for containers.
    pub memory_budget_bytes: Option<u64>,
    /// Share (0–1) of sent items each pillar must read back.
    pub completeness: f64,
    /// Share (0–1) of each container's memory limit, and of the budget,
    /// that must stay free.
    pub memory_headroom: f64,
    /// How long `alerts.fire` may wait for an alert to fire and resolve;
    /// unset, it checks only that the expression crosses its threshold.
    pub alert_wait: Option<Duration>,
}

impl Limits {
    /// Multiplies every deadline, for slow machines (`PILLARS_TIMEOUT_SCALE`).
    pub fn scaled(mut self, scale: f64) -> Self {
        self.wait = self.wait.mul_f64(scale);
        self.max_wait = self.max_wait.mul_f64(scale);
        self.search_ready_after = self.search_ready_after.mul_f64(scale);
        self.request_timeout = self.request_timeout.mul_f64(scale);
        self.alert_wait = self.alert_wait.map(|w| w.mul_f64(scale));
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            ingest_slo: Duration::from_secs(30),
            wait: Duration::from_secs(60),
            max_wait: Duration::from_secs(90),
            search_ready_after: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            memory_budget_bytes: None,
            completeness: 1.0,
            memory_headroom: 0.15,
            alert_wait: None,
        }
    }
}

/// A dashboard panel by the titles a person sees.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PanelRef {
    pub dashboard: String,
    pub panel: String,
}

impl std::fmt::Display for PanelRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} / {}", self.dashboard, self.panel)
    }
}

/// `[dashboards]`: what `dashboards.have_data` expects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dashboards {
    /// Panels that may show nothing on this deployment (memory profiles a
    /// Python app cannot send): listed, never failed.
    pub expected_empty: Vec<PanelRef>,
}

/// `[alerts]`: the rules `alerts.fire` expects and how it makes them fire.
#[derive(Debug, Clone, PartialEq)]
pub struct Alerts {
    /// Rule groups the ruler must have loaded.
    pub groups: Vec<String>,
    /// The fast-burn alert an error burst drives.
    pub error_alert: String,
    /// The fast-burn alert a latency burst drives.
    pub latency_alert: String,
    /// The app path (with its query) that answers 5xx.
    pub error_path: String,
    /// The app path that answers slowly.
    pub slow_path: String,
    /// Requests of each burst.
    pub burst_requests: u32,
}

/// The rule groups `compose/mimir/rules` ships.
pub const DEFAULT_ALERT_GROUPS: [&str; 3] = [
    "durable-code-slo-recording",
    "durable-code-slo-alerts",
    "durable-code-symptoms",
];

impl Default for Alerts {
    fn default() -> Self {
        Alerts {
            groups: DEFAULT_ALERT_GROUPS.map(str::to_owned).to_vec(),
            error_alert: "BackendAvailabilityFastBurn".into(),
            latency_alert: "BackendLatencyFastBurn".into(),
            error_path: "/api/error?ratio=1".into(),
            slow_path: "/api/delay/slow".into(),
            burst_requests: 20,
        }
    }
}

/// A Grafana datasource provisioning file, and the environment its
/// `$NAME` references expand from when it is read (Grafana expands its
/// own; the harness's, as it was when the target was loaded, stands in).
#[derive(Debug, Clone, PartialEq)]
pub struct ProvisioningFile {
    pub path: PathBuf,
    pub env: Env,
}

/// An AWS Systems Manager port forward to an instance: `aws ssm
/// start-session` with the `AWS-StartPortForwardingSession` document, from
/// `127.0.0.1:<local_port>` to the instance's `<remote_port>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Tunnel {
    pub instance_id: String,
    pub remote_port: u16,
    pub local_port: u16,
    /// `--region`, when not the AWS CLI's default.
    pub region: Option<String>,
    /// `--profile`, when not the AWS CLI's default.
    pub profile: Option<String>,
    /// How long the local port has to start accepting.
    pub ready_within: Duration,
}

/// A validated target. After loading nothing re-reads the environment or
/// re-parses a URL.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub name: String,
    pub kind: TargetKind,
    pub description: Option<String>,
    pub otlp_traces: Option<Url>,
    pub otlp_metrics: Option<Url>,
    pub otlp_logs: Option<Url>,
    /// Each signal's OTLP/gRPC endpoint (`ingest.otlp_grpc`, or the
    /// exporter variables when they choose `grpc`).
    pub otlp_grpc: PerSignal<Option<Url>>,
    /// The transport each signal's exporter is configured with, as the
    /// deployment's backend sends it: what round trips and load use unless
    /// told otherwise.
    pub otlp_protocol: PerSignal<Transport>,
    /// Headers every OTLP export carries, over either transport.
    /// Each signal's export headers: its own variable's, else the general one's.
    pub otlp_headers: PerSignal<Vec<OtlpHeader>>,
    pub otlp_compression: Compression,
    pub faro: Option<Url>,
    pub pyroscope_ingest: Option<Url>,
    pub app: Option<Url>,
    /// `service.name` of the frontend (Faro `app` label and trace service):
    /// `[app] frontend_service`, by default the deployment's
    /// ([`DEFAULT_FRONTEND_SERVICE`](super::DEFAULT_FRONTEND_SERVICE)).
    pub frontend_service: String,
    /// `service.name` of the backend tier: `[app] backend_service`, by
    /// default the deployment's
    /// ([`DEFAULT_BACKEND_SERVICE`](super::DEFAULT_BACKEND_SERVICE)).
    pub backend_service: String,
    pub grafana: Option<Grafana>,
    /// A Grafana datasource provisioning file, for the correlation settings
    /// when the target has no Grafana to ask.
    pub provisioning: Option<ProvisioningFile>,
    pub reads: BTreeMap<Store, ReadEndpoint>,
    pub limits: Limits,
    /// A port forward to open before the run (`[tunnel]`), and close after.
    pub tunnel: Option<Tunnel>,
    /// The Docker engine that runs a file target's containers, when not
    /// the default socket (`DOCKER_HOST`): where container memory is read
    /// when Mimir has no cAdvisor series.
    pub docker_host: Option<String>,
    pub dashboards: Dashboards,
    pub alerts: Alerts,
}

impl Target {
    pub fn otlp(&self, signal: Signal) -> Option<&Url> {
        match signal {
            Signal::Traces => self.otlp_traces.as_ref(),
            Signal::Metrics => self.otlp_metrics.as_ref(),
            Signal::Logs => self.otlp_logs.as_ref(),
        }
    }

    /// One signal's endpoint over one transport.
    pub fn otlp_over(&self, signal: Signal, transport: Transport) -> Option<&Url> {
        match transport {
            Transport::Http => self.otlp(signal),
            Transport::Grpc => self.otlp_grpc.of(signal).as_ref(),
        }
    }

    /// The transports the target names an endpoint for, for `signal`.
    pub fn transports(&self, signal: Signal) -> Vec<Transport> {
        Transport::ALL
            .into_iter()
            .filter(|t| self.otlp_over(signal, *t).is_some())
            .collect()
    }

    pub fn read(&self, store: Store) -> Option<&ReadEndpoint> {
        self.reads.get(&store)
    }

    /// Endpoints by role, for reports and banners: no credentials.
    pub fn endpoints(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let mut put = |role: &str, url: Option<&Url>| {
            if let Some(url) = url {
                out.insert(role.to_owned(), url.to_string());
            }
        };
        put("otlp_traces", self.otlp_traces.as_ref());
        put("otlp_metrics", self.otlp_metrics.as_ref());
        put("otlp_logs", self.otlp_logs.as_ref());
        let grpc = &self.otlp_grpc.0;
        if grpc.iter().all(|u| u == &grpc[0]) {
            put("otlp_grpc", grpc[0].as_ref());
        } else {
            for signal in Signal::ALL {
                put(
                    &format!("otlp_grpc_{}", signal.as_str()),
                    self.otlp_grpc.of(signal).as_ref(),
                );
            }
        }
        put("faro", self.faro.as_ref());
        put("pyroscope_ingest", self.pyroscope_ingest.as_ref());
        put("app", self.app.as_ref());
        put("grafana", self.grafana.as_ref().map(|g| &g.url));
        for (store, read) in &self.reads {
            put(&format!("read.{}", store.as_str()), Some(&read.base));
        }
        out
    }
}

/// Appends a path to a base URL, keeping the base's own path (Grafana under
/// `/grafana`, a collector behind a prefix).
pub fn join_path(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!("{}/{}", base.path().trim_end_matches('/'), path.trim_start_matches('/'));
    url.set_path(&joined);
    url
}
