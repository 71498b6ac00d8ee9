//! From a target file and the environment to a validated [`Target`]: each
//! section is resolved by its own function, every value checked, every
//! error naming the key and the fix.
//!
//! The environment is applied to file targets only (the reference stack
//! prints its own endpoints): `OTEL_EXPORTER_OTLP_PROTOCOL` and
//! `OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL` choose each signal's transport;
//! `OTEL_EXPORTER_OTLP_ENDPOINT` replaces `ingest.otlp_http` for the
//! signals sent over HTTP and `ingest.otlp_grpc` for those sent over gRPC,
//! `OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT` one signal's endpoint over its
//! transport, `DOCKER_HOST` names the engine. `OTEL_EXPORTER_OTLP_HEADERS`
//! (values masked as secrets), `PILLARS_TIMEOUT_SCALE` and the secrets
//! named under `[auth]` apply to every target.
//!
//! Uses: target::{model, file, error}, env, textfile, secrets.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use url::Url;

use super::error::TargetError;
use super::file::{RawAlerts, RawAuth, RawDashboards, RawIngest, RawLimits, RawRead, RawTarget, RawTunnel};
use super::model::{
    Alerts, Compression, Credential, Dashboards, Grafana, Limits, OtlpHeader, PanelRef, PerSignal, ProvisioningFile,
    ReadEndpoint, ReadPath, Secret, Signal, Store, Target, TargetKind, Transport, Tunnel, join_path,
};
use crate::env::Env;

impl Target {
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
        .resolve(raw, kind)
    }
}

struct Resolver<'a> {
    origin: &'a str,
    env: &'a Env,
    /// Whether the OTLP endpoint variables and `DOCKER_HOST` apply.
    apply_env: bool,
}

impl Resolver<'_> {
    /// Section by section, in the order a reader meets the errors.
    fn resolve(&self, raw: RawTarget, kind: TargetKind) -> Result<Target, TargetError> {
        let protocol = self.otlp_protocol(&raw.ingest)?;
        let base = self.otlp_base(&raw.ingest, &protocol)?;
        let otlp_grpc = self.otlp_grpc(&raw.ingest, &protocol)?;
        let otlp_headers = self.otlp_headers()?;
        let grafana_credential = self.grafana_credential(&raw.auth)?;
        let backend_credential = self
            .secret("auth.backend_token_env", raw.auth.backend_token_env.as_deref())?
            .map(Credential::Bearer);
        let grafana = self.grafana(&raw.read, grafana_credential)?;
        let reads = self.reads(&raw.read, grafana.as_ref(), backend_credential)?;
        let limits = self.limits(&raw.limits)?;
        let tunnel = raw.tunnel.map(|t| self.tunnel(t)).transpose()?;
        let dashboards = self.dashboards(&raw.dashboards)?;
        let alerts = self.alerts(raw.alerts)?;
        let target = Target {
            dashboards,
            alerts,
            name: raw.name.unwrap_or_else(|| default_name(&kind)),
            description: raw.description,
            otlp_traces: self.otlp(
                Signal::Traces,
                raw.ingest.otlp_traces.as_deref(),
                base.as_ref(),
                &protocol,
            )?,
            otlp_metrics: self.otlp(
                Signal::Metrics,
                raw.ingest.otlp_metrics.as_deref(),
                base.as_ref(),
                &protocol,
            )?,
            otlp_logs: self.otlp(Signal::Logs, raw.ingest.otlp_logs.as_deref(), base.as_ref(), &protocol)?,
            otlp_grpc,
            otlp_protocol: protocol,
            otlp_headers,
            otlp_compression: self.otlp_compression()?,
            faro: self.url("ingest.faro", raw.ingest.faro.as_deref())?,
            pyroscope_ingest: self.url("ingest.pyroscope", raw.ingest.pyroscope.as_deref())?,
            app: self.url("app.base_url", raw.app.base_url.as_deref())?,
            frontend_service: raw.app.frontend_service,
            backend_service: raw.app.backend_service,
            grafana,
            provisioning: raw.read.provisioning.map(|p| ProvisioningFile {
                path: relative_to_file(&kind, p),
                env: self.env.clone(),
            }),
            reads,
            limits,
            tunnel,
            docker_host: self.env.docker_host().filter(|_| self.apply_env).map(str::to_owned),
            kind,
        };
        if target.endpoints().is_empty() {
            return Err(self.invalid(
                "ingest",
                "and every other section name no endpoint".into(),
                "set at least `ingest.otlp_http` and `read.tempo` (or `read.grafana`)",
            ));
        }
        if let Some(tunnel) = &target.tunnel {
            self.tunnel_is_used(tunnel, &target)?;
        }
        Ok(target)
    }

    /// Each signal's protocol, as the OpenTelemetry exporter variables
    /// choose it (per signal, then for all), else `ingest.otlp_protocol`,
    /// else gRPC when the file names only `ingest.otlp_grpc`, else the
    /// specification's default, `http/protobuf`.
    fn otlp_protocol(&self, ingest: &RawIngest) -> Result<PerSignal<Transport>, TargetError> {
        let file = match ingest.otlp_protocol.as_deref() {
            Some(text) => Some(self.protocol("ingest.otlp_protocol", text)?),
            None if ingest.otlp_grpc.is_some() && ingest.otlp_http.is_none() => Some(Transport::Grpc),
            None => None,
        };
        let all = match self.env.get("OTEL_EXPORTER_OTLP_PROTOCOL").filter(|_| self.apply_env) {
            Some(text) => Some(self.protocol("OTEL_EXPORTER_OTLP_PROTOCOL", text)?),
            None => None,
        };
        let mut out = [Transport::Http; 3];
        for signal in Signal::ALL {
            let own = match self.env.get(signal.protocol_env_var()).filter(|_| self.apply_env) {
                Some(text) => Some(self.protocol(signal.protocol_env_var(), text)?),
                None => None,
            };
            out[signal as usize] = own.or(all).or(file).unwrap_or(Transport::Http);
        }
        Ok(PerSignal(out))
    }

    /// A protocol as the exporter variables spell it. pillars sends
    /// protobuf over HTTP either way: `http/json` only says the transport.
    fn protocol(&self, key: &str, text: &str) -> Result<Transport, TargetError> {
        match text.trim() {
            "grpc" => Ok(Transport::Grpc),
            "http/protobuf" | "http/json" => Ok(Transport::Http),
            other => Err(self.invalid(
                key,
                format!("is {other:?}"),
                "use \"grpc\" or \"http/protobuf\" (the OpenTelemetry exporter's values)",
            )),
        }
    }

    /// The OTLP/HTTP base URL: the environment's (when some signal is
    /// sent over HTTP), else `ingest.otlp_http`.
    fn otlp_base(&self, ingest: &RawIngest, protocol: &PerSignal<Transport>) -> Result<Option<Url>, TargetError> {
        let env = self.env.get("OTEL_EXPORTER_OTLP_ENDPOINT").filter(|_| self.apply_env);
        match env {
            Some(v) if protocol.0.contains(&Transport::Http) => self.url("OTEL_EXPORTER_OTLP_ENDPOINT", Some(v)),
            _ => self.url("ingest.otlp_http", ingest.otlp_http.as_deref()),
        }
    }

    /// Each signal's OTLP/gRPC endpoint: for a signal whose protocol is
    /// gRPC, its own endpoint variable, then `OTEL_EXPORTER_OTLP_ENDPOINT`
    /// (both used as they are: gRPC has no path); else `ingest.otlp_grpc`.
    fn otlp_grpc(
        &self,
        ingest: &RawIngest,
        protocol: &PerSignal<Transport>,
    ) -> Result<PerSignal<Option<Url>>, TargetError> {
        let file = self.grpc_url("ingest.otlp_grpc", ingest.otlp_grpc.as_deref())?;
        let mut out: [Option<Url>; 3] = Default::default();
        for signal in Signal::ALL {
            let grpc = *protocol.of(signal) == Transport::Grpc && self.apply_env;
            let env = [signal.env_var(), "OTEL_EXPORTER_OTLP_ENDPOINT"]
                .into_iter()
                .find_map(|var| self.env.get(var).filter(|_| grpc).map(|v| (var, v)));
            out[signal as usize] = match env {
                Some((var, v)) => self.grpc_url(var, Some(v))?,
                None => file.clone(),
            };
        }
        Ok(PerSignal(out))
    }

    /// A gRPC endpoint: `http://host:port` (TLS is not spoken), no path.
    fn grpc_url(&self, key: &str, text: Option<&str>) -> Result<Option<Url>, TargetError> {
        let Some(url) = self.url(key, text)? else {
            return Ok(None);
        };
        if url.scheme() != "http" {
            return Err(self.invalid(
                key,
                "uses https://, and pillars speaks OTLP/gRPC without TLS".into(),
                "use http://host:4317, as the collector's gRPC receiver listens inside the VPC",
            ));
        }
        if !matches!(url.path(), "" | "/") || url.query().is_some() {
            return Err(self.invalid(
                key,
                format!("has the path {:?}", url.path()),
                "write only the scheme, host and port, e.g. \"http://127.0.0.1:4317\": gRPC names the service itself",
            ));
        }
        Ok(Some(url))
    }

    /// `OTEL_EXPORTER_OTLP_COMPRESSION`: `gzip` (the default for gRPC
    /// exports here) or `none`.
    fn otlp_compression(&self) -> Result<Compression, TargetError> {
        const VAR: &str = "OTEL_EXPORTER_OTLP_COMPRESSION";
        match self.env.get(VAR).filter(|_| self.apply_env).map(str::trim) {
            None | Some("gzip") => Ok(Compression::Gzip),
            Some("none") => Ok(Compression::None),
            Some(other) => Err(TargetError::Invalid {
                origin: "the environment".into(),
                key: VAR.into(),
                problem: format!("is {other:?}"),
                fix: "set gzip or none, or unset it".into(),
            }),
        }
    }

    /// Each signal's headers: `OTEL_EXPORTER_OTLP_<SIGNAL>_HEADERS` when
    /// set, else `OTEL_EXPORTER_OTLP_HEADERS` (the signal's own replaces
    /// the general one, as the SDKs read them). Both are checked.
    fn otlp_headers(&self) -> Result<PerSignal<Vec<OtlpHeader>>, TargetError> {
        let general = self.headers_of("OTEL_EXPORTER_OTLP_HEADERS")?;
        let of = |signal: Signal| -> Result<Vec<OtlpHeader>, TargetError> {
            Ok(self
                .headers_of(signal.headers_env_var())?
                .unwrap_or_else(|| general.clone().unwrap_or_default()))
        };
        Ok(PerSignal([
            of(Signal::Traces)?,
            of(Signal::Metrics)?,
            of(Signal::Logs)?,
        ]))
    }

    /// The headers in `VAR`: `key=value` pairs separated by commas, values
    /// percent-encoded (the W3C Baggage format the specification names).
    /// Values are secrets. `None` when it is unset.
    fn headers_of(&self, var: &'static str) -> Result<Option<Vec<OtlpHeader>>, TargetError> {
        let Some(text) = self.env.get(var) else {
            return Ok(None);
        };
        let mut out = Vec::new();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = |problem: &str| TargetError::Invalid {
                origin: "the environment".into(),
                key: var.into(),
                problem: problem.to_owned(),
                fix:
                    "write key=value pairs separated by commas, e.g. \"x-scope-orgid=tenant1,authorization=Bearer%20…\""
                        .into(),
            };
            let (name, value) = pair.split_once('=').ok_or_else(|| bad("has an entry without `=`"))?;
            let name = name.trim().to_ascii_lowercase();
            let value =
                percent_decode(value.trim()).ok_or_else(|| bad("has a value that is not percent-encoded UTF-8"))?;
            let token = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
            if name.is_empty() || !name.chars().all(token) || name.starts_with("grpc-") {
                return Err(bad(&format!("names the header {name:?}, which cannot be sent")));
            }
            if value.chars().any(|c| c.is_control()) {
                return Err(bad(&format!("gives {name:?} a value with control characters")));
            }
            out.push(OtlpHeader {
                name,
                value: Secret::new(value),
            });
        }
        Ok(Some(out))
    }

    /// The endpoint of one OTLP signal over HTTP: the per-signal
    /// environment variable (when the signal is sent over HTTP), then the
    /// per-signal key, then the base (environment before file) with
    /// `/v1/<signal>` appended.
    fn otlp(
        &self,
        signal: Signal,
        file_value: Option<&str>,
        base: Option<&Url>,
        protocol: &PerSignal<Transport>,
    ) -> Result<Option<Url>, TargetError> {
        if self.apply_env
            && *protocol.of(signal) == Transport::Http
            && let Some(v) = self.env.get(signal.env_var())
        {
            return self.url(signal.env_var(), Some(v));
        }
        if let Some(url) = self.url(signal.key(), file_value)? {
            return Ok(Some(url));
        }
        Ok(base.map(|base| join_path(base, signal.path())))
    }

    /// Grafana's credential: a bearer token, or a user and password.
    fn grafana_credential(&self, auth: &RawAuth) -> Result<Option<Credential>, TargetError> {
        if let Some(token) = self.secret("auth.grafana_token_env", auth.grafana_token_env.as_deref())? {
            return Ok(Some(Credential::Bearer(token)));
        }
        let Some(user_var) = auth.grafana_user_env.as_deref() else {
            return Ok(None);
        };
        let user = self
            .secret("auth.grafana_user_env", Some(user_var))?
            .map(|s| s.expose().to_owned())
            .unwrap_or_default();
        let password = self
            .secret("auth.grafana_password_env", auth.grafana_password_env.as_deref())?
            .ok_or_else(|| {
                self.invalid(
                    "auth.grafana_password_env",
                    "is missing while `auth.grafana_user_env` is set".into(),
                    "name the variable that holds the Grafana password",
                )
            })?;
        crate::secrets::register_basic(&user, password.expose());
        Ok(Some(Credential::Basic { user, password }))
    }

    /// Grafana's URL and datasource uids (each defaulting to the store's
    /// name), when `read.grafana` is set.
    fn grafana(&self, read: &RawRead, credential: Option<Credential>) -> Result<Option<Grafana>, TargetError> {
        let Some(url) = self.url("read.grafana", read.grafana.as_deref())? else {
            return Ok(None);
        };
        let ds = &read.datasources;
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
        Ok(Some(Grafana {
            url,
            datasources,
            credential,
        }))
    }

    /// Each store's read endpoint: its direct URL when the file gives one,
    /// else Grafana's datasource proxy.
    fn reads(
        &self,
        read: &RawRead,
        grafana: Option<&Grafana>,
        backend_credential: Option<Credential>,
    ) -> Result<BTreeMap<Store, ReadEndpoint>, TargetError> {
        let mut reads = BTreeMap::new();
        for store in Store::ALL {
            let direct = match store {
                Store::Tempo => read.tempo.as_deref(),
                Store::Loki => read.loki.as_deref(),
                Store::Mimir => read.mimir.as_deref(),
                Store::Pyroscope => read.pyroscope.as_deref(),
            };
            let endpoint = match self.url(&format!("read.{}", store.as_str()), direct)? {
                Some(base) => Some(ReadEndpoint {
                    base,
                    path: ReadPath::Direct,
                    credential: backend_credential.clone(),
                }),
                None => grafana.map(|g| grafana_proxy(g, store)),
            };
            if let Some(endpoint) = endpoint {
                reads.insert(store, endpoint);
            }
        }
        Ok(reads)
    }

    /// The limits as written, checked against each other, then scaled by
    /// `PILLARS_TIMEOUT_SCALE`.
    fn limits(&self, l: &RawLimits) -> Result<Limits, TargetError> {
        let limits = self.limits_as_written(l)?;
        self.check_windows(&limits)?;
        let limits = limits.scaled(self.timeout_scale()?);
        if limits.request_timeout < Duration::from_millis(10) {
            return Err(self.invalid(
                "limits.request_timeout",
                "is under 10 ms (after PILLARS_TIMEOUT_SCALE)".into(),
                "use a duration such as \"10s\"",
            ));
        }
        Ok(limits)
    }

    fn limits_as_written(&self, l: &RawLimits) -> Result<Limits, TargetError> {
        let defaults = Limits::default();
        let max_wait = self.duration("limits.max_wait", l.max_wait.as_deref(), defaults.max_wait)?;
        Ok(Limits {
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
            alert_wait: l
                .alert_wait
                .as_deref()
                .map(|w| self.duration("limits.alert_wait", Some(w), Duration::ZERO))
                .transpose()?,
        })
    }

    /// `[dashboards]`: each expected-empty panel as `<dashboard> / <panel>`.
    fn dashboards(&self, d: &RawDashboards) -> Result<Dashboards, TargetError> {
        let expected_empty = d
            .expected_empty
            .iter()
            .map(|entry| match entry.split_once(" / ") {
                Some((dashboard, panel)) if !dashboard.trim().is_empty() && !panel.trim().is_empty() => Ok(PanelRef {
                    dashboard: dashboard.trim().to_owned(),
                    panel: panel.trim().to_owned(),
                }),
                _ => Err(self.invalid(
                    "dashboards.expected_empty",
                    format!("has {entry:?}"),
                    "name each panel by its dashboard's title and its own, as Grafana shows them: \"Profiling / Memory allocations\"",
                )),
            })
            .collect::<Result<_, _>>()?;
        Ok(Dashboards { expected_empty })
    }

    /// `[alerts]`: every key optional, the defaults the rules of
    /// `compose/mimir/rules` fit.
    fn alerts(&self, a: RawAlerts) -> Result<Alerts, TargetError> {
        let defaults = Alerts::default();
        let path = |key: &str, value: Option<String>, default: String| match value {
            None => Ok(default),
            Some(p) if p.starts_with('/') => Ok(p),
            Some(p) => Err(self.invalid(
                key,
                format!("is {p:?}"),
                "write a path on the app's base URL, e.g. \"/api/error?ratio=1\"",
            )),
        };
        let name = |key: &str, value: Option<String>, default: String| match value {
            None => Ok(default),
            Some(n) if !n.trim().is_empty() => Ok(n),
            Some(_) => Err(self.invalid(key, "is empty".into(), "name an alerting rule the ruler loads")),
        };
        let burst_requests = match a.burst_requests {
            None => defaults.burst_requests,
            Some(n @ 1..=500) => n,
            Some(n) => {
                return Err(self.invalid(
                    "alerts.burst_requests",
                    format!("is {n}"),
                    "use between 1 and 500 requests per burst",
                ));
            }
        };
        Ok(Alerts {
            groups: match a.groups {
                Some(groups) if groups.is_empty() => {
                    return Err(self.invalid(
                        "alerts.groups",
                        "is empty".into(),
                        "name the rule groups the ruler must load, or leave the key out for the ones compose/ ships",
                    ));
                }
                Some(groups) => groups,
                None => defaults.groups,
            },
            error_alert: name("alerts.error_alert", a.error_alert, defaults.error_alert)?,
            latency_alert: name("alerts.latency_alert", a.latency_alert, defaults.latency_alert)?,
            error_path: path("alerts.error_path", a.error_path, defaults.error_path)?,
            slow_path: path("alerts.slow_path", a.slow_path, defaults.slow_path)?,
            burst_requests,
        })
    }

    /// `wait` ≤ `max_wait`, and search can run before `max_wait` ends.
    fn check_windows(&self, limits: &Limits) -> Result<(), TargetError> {
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
        Ok(())
    }

    /// `[tunnel]`: only `kind = "ssm"`, an instance id as EC2 and SSM spell
    /// them, two ports that are not 0.
    fn tunnel(&self, raw: RawTunnel) -> Result<Tunnel, TargetError> {
        if raw.kind != "ssm" {
            return Err(self.invalid(
                "tunnel.kind",
                format!("is {:?}", raw.kind),
                "use \"ssm\" (an AWS Systems Manager port forward), the one kind pillars opens",
            ));
        }
        if !is_instance_id(&raw.instance_id) {
            return Err(self.invalid(
                "tunnel.instance_id",
                format!("is {:?}", raw.instance_id),
                "use the instance's id, e.g. \"i-0123456789abcdef0\" (`terraform output observability_ec2_instance_id`)",
            ));
        }
        for (key, port) in [
            ("tunnel.remote_port", raw.remote_port),
            ("tunnel.local_port", raw.local_port),
        ] {
            if port == 0 {
                return Err(self.invalid(key, "is 0".into(), "use a TCP port from 1 to 65535"));
            }
        }
        for (key, value) in [("tunnel.region", &raw.region), ("tunnel.profile", &raw.profile)] {
            if let Some(v) = value
                && (v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)))
            {
                return Err(self.invalid(
                    key,
                    format!("is {v:?}"),
                    "use a name of letters, digits, `-`, `_` and `.`, e.g. \"eu-west-1\", or leave it out",
                ));
            }
        }
        let ready_within = self.duration(
            "tunnel.ready_within",
            raw.ready_within.as_deref(),
            Duration::from_secs(30),
        )?;
        if !(Duration::from_secs(1)..=Duration::from_secs(600)).contains(&ready_within) {
            return Err(self.invalid(
                "tunnel.ready_within",
                format!("is {}", humantime::format_duration(ready_within)),
                "use a duration from 1s to 10m, e.g. \"30s\"",
            ));
        }
        Ok(Tunnel {
            instance_id: raw.instance_id,
            remote_port: raw.remote_port,
            local_port: raw.local_port,
            region: raw.region,
            profile: raw.profile,
            ready_within,
        })
    }

    /// A tunnel no endpoint goes through is a mistake in the file: the run
    /// would open it and then talk to something else.
    fn tunnel_is_used(&self, tunnel: &Tunnel, target: &Target) -> Result<(), TargetError> {
        let through = |url: &str| {
            Url::parse(url).is_ok_and(|u| {
                matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
                    && u.port_or_known_default() == Some(tunnel.local_port)
            })
        };
        if target.endpoints().values().any(|url| through(url)) {
            return Ok(());
        }
        Err(self.invalid(
            "tunnel.local_port",
            format!("is {}, which no endpoint uses", tunnel.local_port),
            &format!(
                "point the endpoint behind the tunnel at it, e.g. `read.grafana = \"http://127.0.0.1:{}/grafana\"`",
                tunnel.local_port
            ),
        ))
    }

    /// `PILLARS_TIMEOUT_SCALE`, a positive multiplier for every deadline.
    fn timeout_scale(&self) -> Result<f64, TargetError> {
        let Some(text) = self.env.get("PILLARS_TIMEOUT_SCALE") else {
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

    fn invalid(&self, key: &str, problem: String, fix: &str) -> TargetError {
        TargetError::Invalid {
            origin: self.origin.to_owned(),
            key: key.to_owned(),
            problem,
            fix: fix.to_owned(),
        }
    }
}

/// `i-` (EC2) or `mi-` (a managed instance) and 8 or 17 hex digits.
fn is_instance_id(id: &str) -> bool {
    let hex = id.strip_prefix("i-").or_else(|| id.strip_prefix("mi-"));
    hex.is_some_and(|h| {
        matches!(h.len(), 8 | 17) && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Reading `store` through Grafana's datasource proxy.
fn grafana_proxy(grafana: &Grafana, store: Store) -> ReadEndpoint {
    let uid = grafana.datasources[&store].clone();
    ReadEndpoint {
        base: join_path(&grafana.url, &format!("api/datasources/proxy/uid/{uid}")),
        path: ReadPath::GrafanaProxy { uid },
        credential: grafana.credential.clone(),
    }
}

/// Paths in a target file are relative to the file.
fn relative_to_file(kind: &TargetKind, path: std::path::PathBuf) -> std::path::PathBuf {
    match kind {
        TargetKind::File(file) if path.is_relative() => match file.parent() {
            Some(dir) => dir.join(path),
            None => path,
        },
        _ => path,
    }
}

/// `%XX` escapes decoded; `None` when an escape is broken or the bytes are
/// not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
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
