//! Where the stack lives: endpoints by role, the read path, credentials and
//! limits, loaded once from a TOML file plus environment overrides and
//! validated before anything is sent.
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
//! their values are read here, once, into [`Credential`]s that neither print
//! nor serialize.
//!
//! Uses: nothing else in the crate.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

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
    pub const fn path(self) -> &'static str {
        match self {
            Signal::Traces => "v1/traces",
            Signal::Metrics => "v1/metrics",
            Signal::Logs => "v1/logs",
        }
    }

    const fn env_var(self) -> &'static str {
        match self {
            Signal::Traces => "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            Signal::Metrics => "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            Signal::Logs => "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
        }
    }

    const fn key(self) -> &'static str {
        match self {
            Signal::Traces => "ingest.otlp_traces",
            Signal::Metrics => "ingest.otlp_metrics",
            Signal::Logs => "ingest.otlp_logs",
        }
    }
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
}

impl Limits {
    /// Multiplies every deadline, for slow machines (`PILLARS_TIMEOUT_SCALE`).
    pub fn scaled(mut self, scale: f64) -> Self {
        self.wait = self.wait.mul_f64(scale);
        self.max_wait = self.max_wait.mul_f64(scale);
        self.search_ready_after = self.search_ready_after.mul_f64(scale);
        self.request_timeout = self.request_timeout.mul_f64(scale);
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
        }
    }
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
    pub faro: Option<Url>,
    pub pyroscope_ingest: Option<Url>,
    pub app: Option<Url>,
    /// `service.name` of the frontend (Faro `app` label and trace service).
    pub frontend_service: String,
    /// `service.name` of the backend tier.
    pub backend_service: String,
    pub grafana: Option<Grafana>,
    /// A Grafana datasource provisioning file, for the correlation settings
    /// when the target has no Grafana to ask.
    pub provisioning: Option<PathBuf>,
    pub reads: BTreeMap<Store, ReadEndpoint>,
    pub limits: Limits,
}

impl Target {
    pub fn otlp(&self, signal: Signal) -> Option<&Url> {
        match signal {
            Signal::Traces => self.otlp_traces.as_ref(),
            Signal::Metrics => self.otlp_metrics.as_ref(),
            Signal::Logs => self.otlp_logs.as_ref(),
        }
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
        put("faro", self.faro.as_ref());
        put("pyroscope_ingest", self.pyroscope_ingest.as_ref());
        put("app", self.app.as_ref());
        put("grafana", self.grafana.as_ref().map(|g| &g.url));
        for (store, read) in &self.reads {
            put(&format!("read.{}", store.as_str()), Some(&read.base));
        }
        out
    }

    /// Loads a target file. `env` is a snapshot of the environment, so tests
    /// can pass their own.
    pub fn from_file(path: &Path, env: &Env) -> Result<Target, TargetError> {
        let text = crate::textfile::read(path).map_err(|source| TargetError::Read {
            path: path.to_owned(),
            source,
        })?;
        Target::from_toml(&text, TargetKind::File(path.to_owned()), env)
    }

    /// Parses and validates a target from TOML text.
    pub fn from_toml(text: &str, kind: TargetKind, env: &Env) -> Result<Target, TargetError> {
        let origin = match &kind {
            TargetKind::File(p) => p.display().to_string(),
            TargetKind::Sim => "the embedded reference stack".to_owned(),
        };
        let raw: RawTarget = toml::from_str(text).map_err(|e| TargetError::Parse {
            path: origin.clone(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        Resolver {
            origin: &origin,
            env,
            apply_env: kind != TargetKind::Sim,
        }
        .resolve(raw, kind.clone())
    }
}

/// A snapshot of the environment variables the target may read.
#[derive(Debug, Clone, Default)]
pub struct Env(BTreeMap<String, String>);

impl Env {
    pub fn from_process() -> Self {
        Env(std::env::vars().collect())
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Env(pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// `PILLARS_TIMEOUT_SCALE`, a positive multiplier for every deadline.
    pub fn timeout_scale(&self) -> Result<f64, TargetError> {
        let Some(text) = self.get("PILLARS_TIMEOUT_SCALE") else {
            return Ok(1.0);
        };
        match text.parse::<f64>() {
            Ok(v) if (0.001..=1000.0).contains(&v) => Ok(v),
            _ => Err(TargetError::Invalid {
                origin: "the environment".into(),
                key: "PILLARS_TIMEOUT_SCALE".into(),
                problem: format!("is {text:?}"),
                fix: "set a number between 0.001 and 1000 such as 2 or 0.5, or unset it".into(),
            }),
        }
    }
}

/// Why a target could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("cannot read target file `{}`; pass `sim`, `compose`, `aws` or the path of a target TOML file", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: crate::textfile::TextFileError,
    },
    #[error("target file `{path}` is not a valid target: {message}")]
    Parse { path: String, message: String },
    #[error("target file `{origin}`: `{key}` {problem}; {fix}")]
    Invalid {
        origin: String,
        key: String,
        problem: String,
        fix: String,
    },
}

// The file as written. Keys are checked strictly (`deny_unknown_fields`) so a
// typo is an error that names the key instead of a silently ignored line.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    ingest: RawIngest,
    #[serde(default)]
    app: RawApp,
    #[serde(default)]
    read: RawRead,
    #[serde(default)]
    auth: RawAuth,
    #[serde(default)]
    limits: RawLimits,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIngest {
    otlp_http: Option<String>,
    otlp_traces: Option<String>,
    otlp_metrics: Option<String>,
    otlp_logs: Option<String>,
    otlp_grpc: Option<String>,
    faro: Option<String>,
    pyroscope: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    base_url: Option<String>,
    frontend_service: Option<String>,
    backend_service: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRead {
    grafana: Option<String>,
    tempo: Option<String>,
    loki: Option<String>,
    mimir: Option<String>,
    pyroscope: Option<String>,
    provisioning: Option<PathBuf>,
    #[serde(default)]
    datasources: RawDatasources,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatasources {
    tempo: Option<String>,
    loki: Option<String>,
    mimir: Option<String>,
    pyroscope: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    grafana_token_env: Option<String>,
    grafana_user_env: Option<String>,
    grafana_password_env: Option<String>,
    backend_token_env: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    ingest_slo: Option<String>,
    wait: Option<String>,
    max_wait: Option<String>,
    search_ready_after: Option<String>,
    request_timeout: Option<String>,
    memory_budget_mb: Option<u64>,
    completeness: Option<f64>,
    memory_headroom: Option<f64>,
}

struct Resolver<'a> {
    origin: &'a str,
    env: &'a Env,
    apply_env: bool,
}

impl Resolver<'_> {
    /// A share between 0 and 1, or `default` when unset.
    fn share(&self, key: &str, value: Option<f64>, default: f64, example: &str) -> Result<f64, TargetError> {
        match value {
            None => Ok(default),
            Some(v) if (0.0..=1.0).contains(&v) => Ok(v),
            Some(v) => Err(self.invalid(
                key,
                format!("is {v}"),
                &format!("use a share between 0 and 1, e.g. {example}"),
            )),
        }
    }

    fn invalid(&self, key: &str, problem: String, fix: &str) -> TargetError {
        TargetError::Invalid {
            origin: self.origin.to_owned(),
            key: key.to_owned(),
            problem,
            fix: fix.to_owned(),
        }
    }

    fn url(&self, key: &str, text: Option<&str>) -> Result<Option<Url>, TargetError> {
        let Some(text) = text else { return Ok(None) };
        let url = Url::parse(text.trim()).map_err(|e| {
            // The text may hold credentials: show only what follows them.
            let shown = match text.rsplit_once('@') {
                Some((_, host)) => format!("***@{host}"),
                None => text.to_owned(),
            };
            self.invalid(
                key,
                format!("is not a URL ({shown:?}: {e})"),
                "write a full URL such as \"http://127.0.0.1:4318\"",
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(self.invalid(key, format!("has scheme `{}`", url.scheme()), "use http:// or https://"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(self.invalid(
                key,
                "carries credentials in the URL".into(),
                "remove them and name environment variables under [auth] instead",
            ));
        }
        Ok(Some(url))
    }

    fn duration(&self, key: &str, text: Option<&str>, default: Duration) -> Result<Duration, TargetError> {
        let Some(text) = text else { return Ok(default) };
        humantime::parse_duration(text.trim()).map_err(|e| {
            self.invalid(
                key,
                format!("is not a duration ({text:?}: {e})"),
                "write a duration such as \"30s\" or \"2m\"",
            )
        })
    }

    fn secret(&self, key: &str, var: Option<&str>) -> Result<Option<Secret>, TargetError> {
        let Some(var) = var else { return Ok(None) };
        match self.env.get(var) {
            Some(value) => Ok(Some(Secret::new(value))),
            None => Err(self.invalid(
                key,
                format!("names the environment variable `{var}`, which is not set"),
                &format!("export {var}=… before running pillars, or remove `{key}`"),
            )),
        }
    }

    /// The endpoint of one OTLP signal: the per-signal environment variable,
    /// then the per-signal key, then the base (environment before file) with
    /// `/v1/<signal>` appended.
    fn otlp(&self, signal: Signal, file_value: Option<&str>, base: Option<&Url>) -> Result<Option<Url>, TargetError> {
        if self.apply_env
            && let Some(v) = self.env.get(signal.env_var())
        {
            return self.url(signal.env_var(), Some(v));
        }
        if let Some(url) = self.url(signal.key(), file_value)? {
            return Ok(Some(url));
        }
        Ok(base.map(|base| join_path(base, signal.path())))
    }

    fn resolve(&self, raw: RawTarget, kind: TargetKind) -> Result<Target, TargetError> {
        // Paths in a target file are relative to the file.
        let kind_dir = match &kind {
            TargetKind::File(path) => path.parent().map(Path::to_path_buf),
            TargetKind::Sim => None,
        };
        let base = match self.env.get("OTEL_EXPORTER_OTLP_ENDPOINT").filter(|_| self.apply_env) {
            Some(v) => self.url("OTEL_EXPORTER_OTLP_ENDPOINT", Some(v))?,
            None => self.url("ingest.otlp_http", raw.ingest.otlp_http.as_deref())?,
        };
        // gRPC is accepted in the file for completeness; the emitters speak
        // OTLP over HTTP.
        self.url("ingest.otlp_grpc", raw.ingest.otlp_grpc.as_deref())?;

        let grafana_credential = match (
            self.secret("auth.grafana_token_env", raw.auth.grafana_token_env.as_deref())?,
            raw.auth.grafana_user_env.as_deref(),
        ) {
            (Some(token), _) => Some(Credential::Bearer(token)),
            (None, Some(user_var)) => {
                let user = self
                    .secret("auth.grafana_user_env", Some(user_var))?
                    .map(|s| s.0)
                    .unwrap_or_default();
                let password = self
                    .secret("auth.grafana_password_env", raw.auth.grafana_password_env.as_deref())?
                    .ok_or_else(|| {
                        self.invalid(
                            "auth.grafana_password_env",
                            "is missing while `auth.grafana_user_env` is set".into(),
                            "name the variable that holds the Grafana password",
                        )
                    })?;
                crate::secrets::register_basic(&user, password.expose());
                Some(Credential::Basic { user, password })
            }
            (None, None) => None,
        };
        let backend_credential = self
            .secret("auth.backend_token_env", raw.auth.backend_token_env.as_deref())?
            .map(Credential::Bearer);

        let grafana = match self.url("read.grafana", raw.read.grafana.as_deref())? {
            Some(url) => {
                let ds = &raw.read.datasources;
                let datasources = Store::ALL
                    .into_iter()
                    .map(|store| {
                        let uid = match store {
                            Store::Tempo => ds.tempo.as_deref(),
                            Store::Loki => ds.loki.as_deref(),
                            Store::Mimir => ds.mimir.as_deref(),
                            Store::Pyroscope => ds.pyroscope.as_deref(),
                        };
                        (store, uid.unwrap_or(store.as_str()).to_owned())
                    })
                    .collect();
                Some(Grafana {
                    url,
                    datasources,
                    credential: grafana_credential,
                })
            }
            None => None,
        };

        let mut reads = BTreeMap::new();
        for store in Store::ALL {
            let direct = match store {
                Store::Tempo => raw.read.tempo.as_deref(),
                Store::Loki => raw.read.loki.as_deref(),
                Store::Mimir => raw.read.mimir.as_deref(),
                Store::Pyroscope => raw.read.pyroscope.as_deref(),
            };
            let key = format!("read.{}", store.as_str());
            let endpoint = if let Some(base) = self.url(&key, direct)? {
                Some(ReadEndpoint {
                    base,
                    path: ReadPath::Direct,
                    credential: backend_credential.clone(),
                })
            } else {
                grafana.as_ref().map(|g| {
                    let uid = g.datasources[&store].clone();
                    ReadEndpoint {
                        base: join_path(&g.url, &format!("api/datasources/proxy/uid/{uid}")),
                        path: ReadPath::GrafanaProxy { uid },
                        credential: g.credential.clone(),
                    }
                })
            };
            if let Some(endpoint) = endpoint {
                reads.insert(store, endpoint);
            }
        }

        let defaults = Limits::default();
        let l = &raw.limits;
        let max_wait = self.duration("limits.max_wait", l.max_wait.as_deref(), defaults.max_wait)?;
        let limits = Limits {
            ingest_slo: self.duration("limits.ingest_slo", l.ingest_slo.as_deref(), defaults.ingest_slo)?,
            wait: self.duration("limits.wait", l.wait.as_deref(), defaults.wait)?,
            max_wait,
            // Unset, it fits inside a short max_wait rather than outlast it.
            search_ready_after: self.duration(
                "limits.search_ready_after",
                l.search_ready_after.as_deref(),
                defaults.search_ready_after.min(max_wait / 2),
            )?,
            request_timeout: self.duration(
                "limits.request_timeout",
                l.request_timeout.as_deref(),
                defaults.request_timeout,
            )?,
            memory_budget_bytes: l
                .memory_budget_mb
                .map(|mb| {
                    mb.checked_mul(1024 * 1024).ok_or_else(|| {
                        self.invalid(
                            "limits.memory_budget_mb",
                            format!("is {mb}"),
                            "use the instance's budget in MiB, e.g. 2700",
                        )
                    })
                })
                .transpose()?,
            completeness: self.share("limits.completeness", l.completeness, defaults.completeness, "0.999")?,
            memory_headroom: self.share(
                "limits.memory_headroom",
                l.memory_headroom,
                defaults.memory_headroom,
                "0.15",
            )?,
        };
        if limits.max_wait < limits.wait {
            return Err(self.invalid(
                "limits.max_wait",
                format!(
                    "({}) is shorter than `limits.wait` ({})",
                    humantime::format_duration(limits.max_wait),
                    humantime::format_duration(limits.wait)
                ),
                "make max_wait at least as long as wait: it is the confirmation window after it",
            ));
        }
        if limits.search_ready_after >= limits.max_wait {
            return Err(self.invalid(
                "limits.search_ready_after",
                "is not shorter than `limits.max_wait`, so search would never run".into(),
                "make max_wait longer than search_ready_after",
            ));
        }
        let limits = limits.scaled(self.env.timeout_scale()?);
        if limits.request_timeout < Duration::from_millis(10) {
            return Err(self.invalid(
                "limits.request_timeout",
                "is under 10 ms (after PILLARS_TIMEOUT_SCALE)".into(),
                "use a duration such as \"10s\"",
            ));
        }

        let target = Target {
            name: raw.name.unwrap_or_else(|| default_name(&kind)),
            kind,
            description: raw.description,
            otlp_traces: self.otlp(Signal::Traces, raw.ingest.otlp_traces.as_deref(), base.as_ref())?,
            otlp_metrics: self.otlp(Signal::Metrics, raw.ingest.otlp_metrics.as_deref(), base.as_ref())?,
            otlp_logs: self.otlp(Signal::Logs, raw.ingest.otlp_logs.as_deref(), base.as_ref())?,
            faro: self.url("ingest.faro", raw.ingest.faro.as_deref())?,
            pyroscope_ingest: self.url("ingest.pyroscope", raw.ingest.pyroscope.as_deref())?,
            app: self.url("app.base_url", raw.app.base_url.as_deref())?,
            frontend_service: raw
                .app
                .frontend_service
                .unwrap_or_else(|| "durable-code-frontend".into()),
            backend_service: raw.app.backend_service.unwrap_or_else(|| "durable-code-backend".into()),
            grafana,
            provisioning: raw.read.provisioning.map(|p| match &kind_dir {
                Some(dir) if p.is_relative() => dir.join(p),
                _ => p,
            }),
            reads,
            limits,
        };
        if target.endpoints().is_empty() {
            return Err(self.invalid(
                "ingest",
                "and every other section name no endpoint".into(),
                "set at least `ingest.otlp_http` and `read.tempo` (or `read.grafana`)",
            ));
        }
        Ok(target)
    }
}

fn default_name(kind: &TargetKind) -> String {
    match kind {
        TargetKind::Sim => "sim".to_owned(),
        TargetKind::File(path) => path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "target".to_owned()),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Target, TargetError> {
        Target::from_toml(
            text,
            TargetKind::File(PathBuf::from("t.toml")),
            &Env::from_pairs(env.iter().copied()),
        )
    }

    const DIRECT: &str = r#"
        name = "local"
        [ingest]
        otlp_http = "http://127.0.0.1:4318"
        [read]
        tempo = "http://127.0.0.1:3200"
        [limits]
        wait = "5s"
        max_wait = "8s"
    "#;

    #[test]
    fn base_otlp_endpoint_gets_signal_paths() {
        let t = load(DIRECT, &[]).unwrap();
        assert_eq!(t.otlp_traces.unwrap().as_str(), "http://127.0.0.1:4318/v1/traces");
        assert_eq!(t.otlp_logs.unwrap().as_str(), "http://127.0.0.1:4318/v1/logs");
        let tempo = t.reads.get(&Store::Tempo).unwrap();
        assert_eq!(tempo.path, ReadPath::Direct);
        assert_eq!(t.limits.wait, Duration::from_secs(5));
    }

    #[test]
    fn otel_env_conventions_override_the_file() {
        let t = load(
            DIRECT,
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://tempo:4318/custom"),
            ],
        )
        .unwrap();
        // The per-signal variable is used as it is, the base gets /v1/<signal>.
        assert_eq!(t.otlp_traces.unwrap().as_str(), "http://tempo:4318/custom");
        assert_eq!(t.otlp_metrics.unwrap().as_str(), "http://collector:4318/v1/metrics");
    }

    #[test]
    fn per_signal_key_beats_the_base() {
        let t = load(
            r#"[ingest]
            otlp_http = "http://a:4318"
            otlp_traces = "http://b:4318/v1/traces""#,
            &[],
        )
        .unwrap();
        assert_eq!(t.otlp_traces.unwrap().as_str(), "http://b:4318/v1/traces");
        assert_eq!(t.otlp_logs.unwrap().as_str(), "http://a:4318/v1/logs");
    }

    #[test]
    fn grafana_proxy_is_used_when_no_direct_url() {
        let t = load(
            r#"[read]
            grafana = "https://alb.example/grafana"
            tempo = "http://127.0.0.1:3200"
            [read.datasources]
            loki = "logs-uid"
            [auth]
            grafana_token_env = "PILLARS_GRAFANA_TOKEN""#,
            &[("PILLARS_GRAFANA_TOKEN", "s3cret")],
        )
        .unwrap();
        let loki = t.reads.get(&Store::Loki).unwrap();
        assert_eq!(
            loki.base.as_str(),
            "https://alb.example/grafana/api/datasources/proxy/uid/logs-uid"
        );
        assert_eq!(loki.path, ReadPath::GrafanaProxy { uid: "logs-uid".into() });
        assert_eq!(loki.credential, Some(Credential::Bearer(Secret::new("s3cret"))));
        assert_eq!(t.reads.get(&Store::Tempo).unwrap().path, ReadPath::Direct);
        assert!(!format!("{t:?}").contains("s3cret"), "secret leaked into Debug");
        assert!(!format!("{:?}", t.endpoints()).contains("s3cret"));
    }

    #[test]
    fn errors_name_the_key_and_the_fix() {
        let err = load("[ingest]\notlp_http = \"not a url\"", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`ingest.otlp_http`"), "{err}");
        assert!(err.contains("http://"), "{err}");

        let err = load("[ingest]\notlp_htp = \"http://a\"", &[]).unwrap_err().to_string();
        assert!(err.contains("otlp_htp"), "{err}");

        let err = load("[read]\ntempo = \"ftp://a\"", &[]).unwrap_err().to_string();
        assert!(err.contains("`read.tempo`") && err.contains("scheme"), "{err}");

        let err = load("[read]\ntempo = \"http://u:p@a\"", &[]).unwrap_err().to_string();
        assert!(err.contains("credentials"), "{err}");

        let err = load(
            "[read]\ngrafana = \"http://g\"\n[auth]\ngrafana_token_env = \"NOPE_TOKEN\"",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("NOPE_TOKEN") && err.contains("export"), "{err}");

        let err = load("[read]\ntempo = \"http://a\"\n[limits]\nwait = \"ten\"", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`limits.wait`"), "{err}");

        let err = load(
            "[read]\ntempo = \"http://a\"\n[limits]\nwait = \"10s\"\nmax_wait = \"5s\"",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`limits.max_wait`"), "{err}");

        let err = load("name = \"empty\"", &[]).unwrap_err().to_string();
        assert!(err.contains("no endpoint"), "{err}");
    }

    #[test]
    fn timeout_scale_multiplies_deadlines() {
        let t = load(DIRECT, &[("PILLARS_TIMEOUT_SCALE", "2")]).unwrap();
        assert_eq!(t.limits.wait, Duration::from_secs(10));
        assert!(load(DIRECT, &[("PILLARS_TIMEOUT_SCALE", "-1")]).is_err());
    }

    #[test]
    fn shares_are_between_0_and_1_and_name_their_key() {
        let t = load(&format!("{DIRECT}memory_headroom = 0.2\n"), &[]).unwrap();
        assert_eq!(t.limits.memory_headroom, 0.2);
        assert_eq!(load(DIRECT, &[]).unwrap().limits.memory_headroom, 0.15);
        for key in ["memory_headroom", "completeness"] {
            let err = load(&format!("{DIRECT}{key} = 1.5\n"), &[]).unwrap_err().to_string();
            assert!(
                err.contains(&format!("limits.{key}")) && err.contains("between 0 and 1"),
                "{err}"
            );
        }
    }

    #[test]
    fn join_keeps_the_base_path() {
        let base = Url::parse("http://h/grafana/").unwrap();
        assert_eq!(join_path(&base, "/api/health").as_str(), "http://h/grafana/api/health");
        let base = Url::parse("http://h").unwrap();
        assert_eq!(join_path(&base, "ready").as_str(), "http://h/ready");
    }
}
