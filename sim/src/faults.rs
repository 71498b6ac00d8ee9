//! Fault knobs of the embedded reference stack: each breaks exactly one
//! property a check verifies, so every check can be shown to fail for the
//! right reason.
//!
//! Uses: nothing else in the crate.

use std::time::Duration;

/// The knobs, with what each breaks. `--sim-fault NAME[=VALUE]` takes these
/// names; `pillars sim --help` lists them.
pub const KNOWN: &[(&str, &str)] = [
    (
        "drop_traces",
        "ratio (0-1, default 1) of traces the collector acknowledges but never stores",
    ),
    (
        "drop_logs",
        "ratio (0-1, default 1) of log lines acknowledged but never stored",
    ),
    (
        "drop_metrics",
        "ratio (0-1, default 1) of metric series acknowledged but never stored",
    ),
    (
        "drop_exemplars",
        "Mimir keeps samples but no exemplars, as with max_global_exemplars_per_user = 0",
    ),
    (
        "drop_profiles",
        "ratio (0-1, default 1) of profiles acknowledged but never stored",
    ),
    (
        "drop_faro",
        "ratio (0-1, default 1) of Faro payloads the receiver answers 202 for but never exports",
    ),
    (
        "faro_export_fails",
        "the Faro receiver answers 202 `ok` and stores nothing (its exporters fail)",
    ),
    (
        "datasource_unhealthy",
        "a Grafana datasource uid whose health check answers ERROR",
    ),
    (
        "datasource_unqueryable",
        "a Grafana datasource uid whose health check is OK but whose queries fail",
    ),
    (
        "reject_ratio",
        "ratio (0-1, default 0.5) of ingest requests answered 429 or 503",
    ),
    (
        "grpc_unavailable",
        "the collector's OTLP/gRPC receiver answers every export UNAVAILABLE, while OTLP/HTTP keeps working",
    ),
    (
        "grpc_max_recv_msg_bytes",
        "the gRPC receiver's max_recv_msg_size in bytes (default 1024; without the fault the collector's 4 MiB)",
    ),
    (
        "ignore_traceparent",
        "the app starts a new trace instead of continuing the caller's traceparent",
    ),
    (
        "logs_without_trace_id",
        "the app's log records carry no trace_id/span_id",
    ),
    (
        "exemplar_label",
        "the label name the app's exemplars carry the trace id under (default traceID)",
    ),
    (
        "profiles_without_span_id",
        "the app's profiles carry no span_id sample label",
    ),
    (
        "sampler_ratio",
        "ratio (0-1, default 0.1) of traces the app samples, deciding by trace id like traceidratio",
    ),
    (
        "memory_growth_per_item",
        "bytes of the simulated ingest container's working set per item/s ingested (its limit is 384 MiB)",
    ),
    (
        "not_ready",
        "a role (tempo, loki, mimir, pyroscope, faro, grafana) whose readiness endpoint answers 503",
    ),
    (
        "memory_pressure",
        "share (0-1, default 0.9) of its limit the simulated ingest container's working set holds at rest",
    ),
    (
        "app_rate_limit",
        "requests a minute the app answers per client before 429, as its per-IP limiter does (default 30)",
    ),
    (
        "delay_ms",
        "milliseconds before anything stored becomes queryable (default 1000)",
    ),
    (
        "rule_group_missing",
        "a rule group name Mimir's ruler has not loaded: not evaluated, not listed",
    ),
    (
        "rule_metric_missing",
        "a rule group (default durable-code-slo-recording) whose expressions name http_request_total for http_requests_total",
    ),
    (
        "dashboard_metric_missing",
        "Grafana serves the golden-signals dashboard querying http_requests for http_requests_total",
    ),
]
.as_slice();

/// The active faults. The default breaks nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Fraction of traces dropped after acknowledging them, chosen by trace
    /// id so the same traces drop on every read.
    pub drop_traces: f64,
    /// Extra time before stored data is visible to queries.
    pub delay: Duration,
    pub drop_logs: f64,
    pub drop_metrics: f64,
    pub drop_exemplars: bool,
    pub drop_profiles: f64,
    pub drop_faro: f64,
    pub faro_export_fails: bool,
    /// Datasource uids whose Grafana health check fails.
    pub datasource_unhealthy: Vec<String>,
    /// Datasource uids that pass health but fail every query.
    pub datasource_unqueryable: Vec<String>,
    /// Fraction of ingest requests refused with 429 or 503.
    pub reject_ratio: f64,
    /// The gRPC receiver answers every export `UNAVAILABLE`.
    pub grpc_unavailable: bool,
    /// The gRPC receiver's message-size limit, when lowered from 4 MiB.
    pub grpc_max_recv_msg_bytes: Option<usize>,
    pub ignore_traceparent: bool,
    pub logs_without_trace_id: bool,
    /// The exemplar label of the app's trace ids, when not `trace_id`.
    pub exemplar_label: Option<String>,
    pub profiles_without_span_id: bool,
    /// The app's trace-id-ratio sampler, when it drops traces.
    pub sampler_ratio: Option<f64>,
    /// Working-set bytes per item/s of ingest, for the simulated container.
    pub memory_growth_per_item: u64,
    /// Roles whose readiness endpoint answers 503.
    pub not_ready: Vec<Role>,
    /// The app's per-client limit, requests a minute, past which it
    /// answers 429.
    pub app_rate_limit: Option<u32>,
    /// Share of its limit the simulated ingest container holds at rest.
    pub memory_pressure: f64,
    /// Rule groups the ruler has not loaded.
    pub rule_group_missing: Vec<String>,
    /// The rule group whose expressions misspell `http_requests_total`.
    pub rule_metric_missing: Option<String>,
    /// The golden-signals dashboard queries `http_requests`.
    pub dashboard_metric_missing: bool,
}

/// Whether a fault with drop `ratio` drops the item `key` names; the same
/// key always gets the same answer, so reads agree with each other.
pub fn drops(ratio: f64, key: &[u8]) -> bool {
    ratio > 0.0 && fraction(key) < ratio
}

/// A number in `[0, 1)` fixed by `key`: FNV-1a, then the splitmix
/// finalizer for an even spread. A trace-id ratio sampler keeps a trace
/// when its id's fraction is under the ratio.
pub fn fraction(key: &[u8]) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^= h >> 31;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// A role of the reference stack that a fault can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Tempo,
    Loki,
    Mimir,
    Pyroscope,
    Faro,
    Grafana,
}

impl Role {
    const ALL: [Role; 6] = [
        Role::Tempo,
        Role::Loki,
        Role::Mimir,
        Role::Pyroscope,
        Role::Faro,
        Role::Grafana,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Tempo => "tempo",
            Role::Loki => "loki",
            Role::Mimir => "mimir",
            Role::Pyroscope => "pyroscope",
            Role::Faro => "faro",
            Role::Grafana => "grafana",
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultError {
    #[error("unknown sim fault `{name}`; known faults: {}", known_names())]
    Unknown { name: String },
    #[error("sim fault `{name}` takes {expected}, got {value:?}")]
    BadValue {
        name: String,
        value: String,
        expected: &'static str,
    },
}

fn known_names() -> String {
    KNOWN.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

impl Faults {
    /// Parses `NAME[=VALUE]` specs, as given on the command line.
    pub fn parse<'a>(specs: impl IntoIterator<Item = &'a str>) -> Result<Faults, FaultError> {
        let mut faults = Faults::default();
        for spec in specs {
            faults.apply(spec)?;
        }
        Ok(faults)
    }

    pub fn apply(&mut self, spec: &str) -> Result<(), FaultError> {
        let (name, value) = match spec.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (spec.trim(), None),
        };
        match name {
            "drop_traces" => self.drop_traces = ratio(name, value, 1.0)?,
            "drop_logs" => self.drop_logs = ratio(name, value, 1.0)?,
            "drop_metrics" => self.drop_metrics = ratio(name, value, 1.0)?,
            "drop_profiles" => self.drop_profiles = ratio(name, value, 1.0)?,
            "drop_faro" => self.drop_faro = ratio(name, value, 1.0)?,
            "reject_ratio" => self.reject_ratio = ratio(name, value, 0.5)?,
            "memory_pressure" => self.memory_pressure = ratio(name, value, 0.9)?,
            "faro_export_fails" => self.faro_export_fails = true,
            "drop_exemplars" => self.drop_exemplars = true,
            "ignore_traceparent" => self.ignore_traceparent = true,
            "grpc_unavailable" => self.grpc_unavailable = true,
            "grpc_max_recv_msg_bytes" => {
                let v = value.unwrap_or("1024");
                self.grpc_max_recv_msg_bytes =
                    Some(v.parse().ok().filter(|n| *n > 0).ok_or_else(|| FaultError::BadValue {
                        name: name.to_owned(),
                        value: v.to_owned(),
                        expected: "a whole number of bytes, 1 or more",
                    })?);
            }
            "memory_growth_per_item" => {
                let v = value.unwrap_or("65536");
                self.memory_growth_per_item = v.parse().map_err(|_| FaultError::BadValue {
                    name: name.to_owned(),
                    value: v.to_owned(),
                    expected: "a whole number of bytes",
                })?;
            }
            "logs_without_trace_id" => self.logs_without_trace_id = true,
            "profiles_without_span_id" => self.profiles_without_span_id = true,
            "sampler_ratio" => self.sampler_ratio = Some(ratio(name, value, 0.1)?),
            "exemplar_label" => {
                let label = value.unwrap_or("traceID");
                if label.is_empty() || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(FaultError::BadValue {
                        name: name.to_owned(),
                        value: label.to_owned(),
                        expected: "a label name such as traceID",
                    });
                }
                self.exemplar_label = Some(label.to_owned());
            }
            "datasource_unhealthy" | "datasource_unqueryable" => {
                let uid = value.filter(|v| !v.is_empty()).ok_or_else(|| FaultError::BadValue {
                    name: name.to_owned(),
                    value: String::new(),
                    expected: "a datasource uid, e.g. loki",
                })?;
                let list = if name == "datasource_unhealthy" {
                    &mut self.datasource_unhealthy
                } else {
                    &mut self.datasource_unqueryable
                };
                list.push(uid.to_owned());
            }
            "app_rate_limit" => {
                let v = value.unwrap_or("30");
                self.app_rate_limit = Some(v.parse().ok().filter(|n| *n > 0).ok_or_else(|| FaultError::BadValue {
                    name: name.to_owned(),
                    value: v.to_owned(),
                    expected: "a whole number of requests a minute, 1 or more",
                })?);
            }
            "delay_ms" => {
                let ms = match value {
                    None => 1000,
                    Some(v) => v.parse::<u64>().map_err(|_| FaultError::BadValue {
                        name: name.to_owned(),
                        value: v.to_owned(),
                        expected: "a whole number of milliseconds",
                    })?,
                };
                self.delay = Duration::from_millis(ms);
            }
            "not_ready" => {
                let role = value.unwrap_or("tempo");
                let role = Role::ALL
                    .into_iter()
                    .find(|r| r.as_str() == role)
                    .ok_or_else(|| FaultError::BadValue {
                        name: name.to_owned(),
                        value: role.to_owned(),
                        expected: "a role with a readiness endpoint: tempo, loki, mimir, pyroscope, faro or grafana",
                    })?;
                if !self.not_ready.contains(&role) {
                    self.not_ready.push(role);
                }
            }
            "rule_group_missing" => {
                let group = value.filter(|v| !v.is_empty()).ok_or_else(|| FaultError::BadValue {
                    name: name.to_owned(),
                    value: String::new(),
                    expected: "a rule group name, e.g. durable-code-slo-alerts",
                })?;
                if !self.rule_group_missing.iter().any(|g| g == group) {
                    self.rule_group_missing.push(group.to_owned());
                }
            }
            "rule_metric_missing" => {
                let group = value.filter(|v| !v.is_empty()).unwrap_or("durable-code-slo-recording");
                self.rule_metric_missing = Some(group.to_owned());
            }
            "dashboard_metric_missing" => self.dashboard_metric_missing = true,
            _ => return Err(FaultError::Unknown { name: name.to_owned() }),
        }
        Ok(())
    }

    /// The faults as `NAME=VALUE` specs, for banners and reports.
    pub fn specs(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, ratio) in [
            ("drop_traces", self.drop_traces),
            ("drop_logs", self.drop_logs),
            ("drop_metrics", self.drop_metrics),
            ("drop_profiles", self.drop_profiles),
            ("drop_faro", self.drop_faro),
            ("reject_ratio", self.reject_ratio),
            ("memory_pressure", self.memory_pressure),
        ] {
            if ratio > 0.0 {
                out.push(format!("{name}={ratio}"));
            }
        }
        if self.faro_export_fails {
            out.push("faro_export_fails".into());
        }
        for (flag, name) in [
            (self.drop_exemplars, "drop_exemplars"),
            (self.ignore_traceparent, "ignore_traceparent"),
            (self.grpc_unavailable, "grpc_unavailable"),
            (self.logs_without_trace_id, "logs_without_trace_id"),
            (self.profiles_without_span_id, "profiles_without_span_id"),
        ] {
            if flag {
                out.push(name.into());
            }
        }
        if let Some(label) = &self.exemplar_label {
            out.push(format!("exemplar_label={label}"));
        }
        if self.memory_growth_per_item > 0 {
            out.push(format!("memory_growth_per_item={}", self.memory_growth_per_item));
        }
        if let Some(n) = self.grpc_max_recv_msg_bytes {
            out.push(format!("grpc_max_recv_msg_bytes={n}"));
        }
        if let Some(n) = self.app_rate_limit {
            out.push(format!("app_rate_limit={n}"));
        }
        if let Some(r) = self.sampler_ratio {
            out.push(format!("sampler_ratio={r}"));
        }
        for uid in &self.datasource_unhealthy {
            out.push(format!("datasource_unhealthy={uid}"));
        }
        for uid in &self.datasource_unqueryable {
            out.push(format!("datasource_unqueryable={uid}"));
        }
        for role in &self.not_ready {
            out.push(format!("not_ready={}", role.as_str()));
        }
        if !self.delay.is_zero() {
            out.push(format!("delay_ms={}", self.delay.as_millis()));
        }
        for group in &self.rule_group_missing {
            out.push(format!("rule_group_missing={group}"));
        }
        if let Some(group) = &self.rule_metric_missing {
            out.push(format!("rule_metric_missing={group}"));
        }
        if self.dashboard_metric_missing {
            out.push("dashboard_metric_missing".into());
        }
        out
    }
}

fn ratio(name: &str, value: Option<&str>, default: f64) -> Result<f64, FaultError> {
    let Some(v) = value else { return Ok(default) };
    match v.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(FaultError::BadValue {
            name: name.to_owned(),
            value: v.to_owned(),
            expected: "a ratio between 0 and 1",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_values() {
        let f = Faults::parse(["drop_traces=0.5", "delay_ms=250"]).unwrap();
        assert_eq!(f.drop_traces, 0.5);
        assert_eq!(f.delay, Duration::from_millis(250));
        assert_eq!(Faults::parse(["drop_traces"]).unwrap().drop_traces, 1.0);
        assert_eq!(f.specs(), vec!["drop_traces=0.5", "delay_ms=250"]);
    }

    #[test]
    fn bad_specs_say_what_is_known() {
        let err = Faults::parse(["drop_everything"]).unwrap_err().to_string();
        assert!(err.contains("drop_traces") && err.contains("delay_ms"), "{err}");
        assert!(Faults::parse(["drop_traces=2"]).is_err());
        assert!(Faults::parse(["delay_ms=soon"]).is_err());
        assert!(Faults::parse(["not_ready=alloy"]).is_err());
        assert_eq!(Faults::parse(["not_ready"]).unwrap().not_ready, vec![Role::Tempo]);
        let grpc = Faults::parse(["grpc_unavailable", "grpc_max_recv_msg_bytes"]).unwrap();
        assert!(grpc.grpc_unavailable);
        assert_eq!(grpc.grpc_max_recv_msg_bytes, Some(1024));
        assert_eq!(grpc.specs(), vec!["grpc_unavailable", "grpc_max_recv_msg_bytes=1024"]);
        assert!(Faults::parse(["grpc_max_recv_msg_bytes=0"]).is_err());
    }

    #[test]
    fn rule_and_dashboard_faults_parse_and_print() {
        let f = Faults::parse(["rule_group_missing=durable-code-slo-alerts"]).unwrap();
        assert_eq!(f.rule_group_missing, ["durable-code-slo-alerts"]);
        assert_eq!(f.specs(), ["rule_group_missing=durable-code-slo-alerts"]);
        assert!(Faults::parse(["rule_group_missing"]).is_err());
        let f = Faults::parse(["rule_metric_missing"]).unwrap();
        assert_eq!(f.rule_metric_missing.as_deref(), Some("durable-code-slo-recording"));
        assert_eq!(f.specs(), ["rule_metric_missing=durable-code-slo-recording"]);
        let f = Faults::parse(["dashboard_metric_missing"]).unwrap();
        assert!(f.dashboard_metric_missing);
        assert_eq!(f.specs(), ["dashboard_metric_missing"]);
        for name in ["rule_group_missing", "rule_metric_missing", "dashboard_metric_missing"] {
            assert!(KNOWN.iter().any(|(n, _)| *n == name), "{name} is listed");
        }
    }
}
