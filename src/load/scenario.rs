//! Load scenarios (`scenarios/*.toml`): how long, in which steps, and a mix
//! of traffic kinds with their rates; for capacity searches, the gates that
//! say where the stack breaks. Parsed strictly, so a typo names its key.
//!
//! Uses: load::rate.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::load::rate::{RatePlan, Step};
use crate::target::Transport;

/// A kind of traffic a scenario can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrafficKind {
    /// Synthetic Faro sessions plus app calls with `traceparent` (sessions/s).
    FrontendSessions,
    /// HTTP through the app's `/api/*` paths (requests/s).
    BackendRequests,
    /// Spans/s straight to the collector.
    OtlpTraces,
    /// Log lines/s straight to the collector.
    OtlpLogs,
    /// Metric samples/s straight to the collector.
    OtlpMetrics,
    /// Profiles/s to Pyroscope.
    Profiles,
    /// Spans/s through the OpenTelemetry SDK and its OTLP/gRPC exporter,
    /// as an instrumented Rust service sends them.
    SdkTraces,
}

impl TrafficKind {
    pub const ALL: [TrafficKind; 7] = [
        TrafficKind::FrontendSessions,
        TrafficKind::BackendRequests,
        TrafficKind::OtlpTraces,
        TrafficKind::OtlpLogs,
        TrafficKind::OtlpMetrics,
        TrafficKind::Profiles,
        TrafficKind::SdkTraces,
    ];

    /// The kind as scenario files and reports spell it.
    pub const fn as_str(self) -> &'static str {
        match self {
            TrafficKind::FrontendSessions => "frontend_sessions",
            TrafficKind::BackendRequests => "backend_requests",
            TrafficKind::OtlpTraces => "otlp_traces",
            TrafficKind::OtlpLogs => "otlp_logs",
            TrafficKind::OtlpMetrics => "otlp_metrics",
            TrafficKind::Profiles => "profiles",
            TrafficKind::SdkTraces => "sdk_traces",
        }
    }

    /// What one unit of the kind's rate is, per second.
    pub const fn unit(self) -> &'static str {
        match self {
            TrafficKind::FrontendSessions => "sessions/s",
            TrafficKind::BackendRequests => "requests/s",
            TrafficKind::OtlpTraces => "spans/s",
            TrafficKind::OtlpLogs => "lines/s",
            TrafficKind::OtlpMetrics => "samples/s",
            TrafficKind::Profiles => "profiles/s",
            TrafficKind::SdkTraces => "spans/s",
        }
    }
}

/// One traffic kind's settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Traffic {
    /// Units per second at scale 1.
    pub rate: f64,
    /// Distinct series / services / label values the traffic spreads over.
    #[serde(default = "one")]
    pub cardinality: u32,
    /// For `backend_requests` and `frontend_sessions`: the app path called.
    #[serde(default)]
    pub path: Option<String>,
    /// For the `otlp_*` kinds: `"http"` or `"grpc"`; unset, the signal's
    /// protocol in the target. `sdk_traces` is always `"grpc"`.
    #[serde(default)]
    pub transport: Option<Transport>,
}

const fn one() -> u32 {
    1
}

/// What breaks a capacity step.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gates {
    /// p99 write-to-queryable latency, per pillar.
    #[serde(default = "default_slo", with = "humantime_serde_compat")]
    pub p99_ingest_latency: Duration,
    /// Rejections and errors over sent, per traffic kind.
    #[serde(default = "default_error_ratio")]
    pub max_error_ratio: f64,
    /// Found over sent, per pillar.
    #[serde(default = "default_completeness")]
    pub min_completeness: f64,
    /// Free share of each container's memory limit, and of the budget.
    #[serde(default = "default_headroom")]
    pub min_memory_headroom: f64,
}

fn default_slo() -> Duration {
    Duration::from_secs(30)
}
const fn default_error_ratio() -> f64 {
    0.01
}
const fn default_completeness() -> f64 {
    0.999
}
const fn default_headroom() -> f64 {
    0.15
}

impl Default for Gates {
    fn default() -> Self {
        Gates {
            p99_ingest_latency: default_slo(),
            max_error_ratio: default_error_ratio(),
            min_completeness: default_completeness(),
            min_memory_headroom: default_headroom(),
        }
    }
}

/// How a capacity search steps the offered rate.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Search {
    /// Scale of the first step (1.0 = the traffic rates as written).
    #[serde(default = "scale_one")]
    pub start_scale: f64,
    /// Each step multiplies the scale by this.
    #[serde(default = "factor")]
    pub factor: f64,
    #[serde(default = "max_steps")]
    pub max_steps: u32,
    /// Bisection steps between the last good and first bad scale.
    #[serde(default = "bisect_steps")]
    pub bisect_steps: u32,
    #[serde(with = "humantime_serde_compat")]
    pub step_duration: Duration,
}

const fn scale_one() -> f64 {
    1.0
}
const fn factor() -> f64 {
    1.5
}
const fn max_steps() -> u32 {
    8
}
const fn bisect_steps() -> u32 {
    3
}

/// One step of a stepped scenario: the mix scaled, held a while.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub scale: f64,
    #[serde(with = "humantime_serde_compat")]
    pub hold: Duration,
}

/// A scenario file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// A constant mix for this long; or `step` entries.
    #[serde(default, with = "humantime_serde_compat::option")]
    pub duration: Option<Duration>,
    #[serde(default, rename = "step")]
    pub steps: Vec<RawStep>,
    pub traffic: BTreeMap<TrafficKind, Traffic>,
    /// The gates; the defaults when the file has no `[gates]`.
    #[serde(default, rename = "gates", deserialize_with = "declared_gates")]
    pub declared_gates: Option<Gates>,
    #[serde(skip)]
    pub gates: Gates,
    /// The file sets `[gates] p99_ingest_latency`; else the target's
    /// `limits.ingest_slo` is the gate, the SLO `verify` judges by.
    #[serde(skip)]
    pub slo_declared: bool,
    #[serde(default)]
    pub search: Option<Search>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario file `{path}`")]
    Read {
        path: String,
        #[source]
        source: crate::textfile::TextFileError,
    },
    #[error("scenario file `{path}` is not a valid scenario: {message}")]
    Parse { path: String, message: String },
    #[error("scenario file `{path}`: `{key}` {problem}")]
    Invalid { path: String, key: String, problem: String },
}

/// Longest a scenario may run: every load loop is bounded.
pub const MAX_DURATION: Duration = Duration::from_secs(6 * 3600);
/// Shortest: a rate needs a second to be measured.
pub const MIN_DURATION: Duration = Duration::from_secs(1);
/// Most units a second one traffic kind may ask for, as written.
pub const MAX_RATE: f64 = 1_000_000.0;
/// Most distinct series one kind may spread over.
pub const MAX_CARDINALITY: u32 = 100_000;

fn declared_gates<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Gates>, D::Error> {
    Gates::deserialize(d).map(Some)
}

impl Scenario {
    /// Takes `slo`, the target's SLO, as the p99 latency gate unless the
    /// file sets its own: one SLO per target across verify and load.
    pub fn for_target(&mut self, slo: Duration) {
        if !self.slo_declared {
            self.gates.p99_ingest_latency = slo;
        }
    }

    pub fn from_file(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = crate::textfile::read(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Scenario::from_toml(&text, &path.display().to_string())
    }

    pub fn from_toml(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
        let mut scenario: Scenario = toml::from_str(text).map_err(|e| ScenarioError::Parse {
            path: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        scenario.gates = scenario.declared_gates.clone().unwrap_or_default();
        scenario.slo_declared = toml::from_str::<toml::Table>(text)
            .ok()
            .and_then(|t| t.get("gates")?.get("p99_ingest_latency").cloned())
            .is_some();
        let invalid = |key: &str, problem: String| ScenarioError::Invalid {
            path: origin.to_owned(),
            key: key.to_owned(),
            problem,
        };
        if scenario.traffic.is_empty() {
            return Err(invalid(
                "traffic",
                "names no traffic kind; add e.g. [traffic.otlp_traces] rate = 100".into(),
            ));
        }
        for (kind, t) in &scenario.traffic {
            let key = format!("traffic.{}.rate", kind.as_str());
            if !(t.rate.is_finite() && t.rate >= 0.0) {
                return Err(invalid(
                    &key,
                    format!("is {}; use a rate of 0 or more per second", t.rate),
                ));
            }
            if t.rate > MAX_RATE {
                return Err(invalid(
                    &key,
                    format!("is {}; the most one kind may ask for is {MAX_RATE} a second", t.rate),
                ));
            }
            let otlp = matches!(
                kind,
                TrafficKind::OtlpTraces | TrafficKind::OtlpLogs | TrafficKind::OtlpMetrics
            );
            let transport_key = || format!("traffic.{}.transport", kind.as_str());
            match (kind, t.transport) {
                (_, None) => {}
                (TrafficKind::SdkTraces, Some(Transport::Grpc)) => {}
                (TrafficKind::SdkTraces, Some(_)) => {
                    return Err(invalid(
                        &transport_key(),
                        "sdk_traces exports with the SDK's OTLP/gRPC exporter only; remove it, or use otlp_traces for OTLP/HTTP".into(),
                    ));
                }
                (_, Some(_)) if !otlp => {
                    return Err(invalid(
                        &transport_key(),
                        "applies to the otlp_* kinds only; remove it".into(),
                    ));
                }
                _ => {}
            }
            if !(1..=MAX_CARDINALITY).contains(&t.cardinality) {
                return Err(invalid(
                    &format!("traffic.{}.cardinality", kind.as_str()),
                    format!("is {}; use 1 to {MAX_CARDINALITY}", t.cardinality),
                ));
            }
        }
        let gates = &scenario.gates;
        for (key, value, range_text, ok) in [
            (
                "gates.max_error_ratio",
                gates.max_error_ratio,
                "0 to 1",
                (0.0..=1.0).contains(&gates.max_error_ratio),
            ),
            (
                "gates.min_completeness",
                gates.min_completeness,
                "0 to 1",
                (0.0..=1.0).contains(&gates.min_completeness),
            ),
            (
                "gates.min_memory_headroom",
                gates.min_memory_headroom,
                "0 up to, not including, 1",
                (0.0..1.0).contains(&gates.min_memory_headroom),
            ),
        ] {
            if !ok {
                return Err(invalid(key, format!("is {value}; use a share from {range_text}")));
            }
        }
        if gates.p99_ingest_latency.is_zero() {
            return Err(invalid(
                "gates.p99_ingest_latency",
                "is 0; use a latency such as \"30s\"".into(),
            ));
        }
        match (scenario.duration, scenario.steps.is_empty(), &scenario.search) {
            (Some(_), false, _) => return Err(invalid("duration", "and [[step]] are both set; use one".into())),
            (None, true, None) => {
                return Err(invalid(
                    "duration",
                    "is missing: set a duration, [[step]] entries, or a [search]".into(),
                ));
            }
            _ => {}
        }
        for (i, step) in scenario.steps.iter().enumerate() {
            if !(step.scale.is_finite() && (0.0..=1000.0).contains(&step.scale)) {
                return Err(invalid(
                    &format!("step[{i}].scale"),
                    format!("is {}; use a scale from 0 to 1000", step.scale),
                ));
            }
        }
        if let Some(search) = &scenario.search {
            if !(search.factor > 1.0
                && search.factor <= 10.0
                && search.start_scale > 0.0
                && search.start_scale <= 1000.0
                && (1..=50).contains(&search.max_steps)
                && search.bisect_steps <= 20)
            {
                return Err(invalid(
                    "search",
                    "needs 1 < factor <= 10, 0 < start_scale <= 1000, max_steps 1 to 50 and bisect_steps up to 20"
                        .into(),
                ));
            }
            if search.step_duration < MIN_DURATION {
                return Err(invalid(
                    "search.step_duration",
                    "is under 1 s; a step needs at least a second to measure its rate".into(),
                ));
            }
        }
        if scenario.total_duration() > MAX_DURATION {
            return Err(invalid("duration", "is over the 6 h bound on a load run".into()));
        }
        if scenario.search.is_none() {
            if scenario.total_duration() < MIN_DURATION {
                return Err(invalid(
                    "duration",
                    "is under 1 s; a load run needs at least a second to measure a rate".into(),
                ));
            }
            let units: f64 = TrafficKind::ALL
                .iter()
                .map(|k| scenario.plan(*k, 1.0).total() as f64)
                .sum();
            if units < 1.0 {
                return Err(invalid(
                    "traffic",
                    "would send nothing in the run: every rate times its duration is under one unit".into(),
                ));
            }
        }
        Ok(scenario)
    }

    /// The scale steps of the scenario (a constant one for `duration`).
    pub fn scale_steps(&self) -> Vec<RawStep> {
        match self.duration {
            Some(hold) => vec![RawStep { scale: 1.0, hold }],
            None => self.steps.clone(),
        }
    }

    pub fn total_duration(&self) -> Duration {
        self.scale_steps().iter().map(|s| s.hold).sum()
    }

    /// The rate plan of one traffic kind at `scale` times the scenario's
    /// own steps.
    pub fn plan(&self, kind: TrafficKind, scale: f64) -> RatePlan {
        let rate = self.traffic.get(&kind).map_or(0.0, |t| t.rate);
        RatePlan {
            steps: self
                .scale_steps()
                .iter()
                .map(|s| Step {
                    rate: rate * s.scale * scale,
                    duration: s.hold,
                })
                .collect(),
        }
    }
}

/// Durations written as "30s", "2m" in scenario files.
mod humantime_serde_compat {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text)
            .map_err(|e| serde::de::Error::custom(format!("{text:?} is not a duration: {e}")))
    }

    pub mod option {
        use super::*;

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            super::deserialize(d).map(Some)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_scenarios_parse() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let s = Scenario::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
                assert!(
                    s.total_duration() > Duration::ZERO || s.search.is_some(),
                    "{}",
                    path.display()
                );
                seen += 1;
            }
        }
        assert!(seen >= 3, "smoke, steady and capacity");
    }

    #[test]
    fn plans_scale_the_mix() {
        let s = Scenario::from_toml(
            r#"name = "x"
            [[step]]
            scale = 1.0
            hold = "10s"
            [[step]]
            scale = 2.0
            hold = "10s"
            [traffic.otlp_traces]
            rate = 100"#,
            "x.toml",
        )
        .unwrap();
        let plan = s.plan(TrafficKind::OtlpTraces, 1.5);
        assert_eq!(plan.steps[1].rate, 300.0);
        assert_eq!(s.plan(TrafficKind::OtlpLogs, 1.0).total(), 0);
    }

    #[test]
    fn errors_name_the_key() {
        let err = Scenario::from_toml(
            "name = \"x\"\nduration = \"1m\"\n[traffic.otlp_tracez]\nrate = 1",
            "s.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("otlp_tracez"), "{err}");
        let err = Scenario::from_toml(
            "name = \"x\"\nduration = \"1m\"\n[traffic.otlp_traces]\nrate = -1",
            "s.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("traffic.otlp_traces.rate"), "{err}");
        let err = Scenario::from_toml("name = \"x\"\n[traffic.otlp_traces]\nrate = 1", "s.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`duration`"), "{err}");
        let err = Scenario::from_toml(
            "name = \"x\"\nduration = \"9h\"\n[traffic.otlp_traces]\nrate = 1",
            "s.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("6 h"), "{err}");
    }

    #[test]
    fn issue_10_bad_numbers_are_usage_errors_that_name_the_key() {
        let with = |extra: &str| {
            Scenario::from_toml(
                &format!("name = \"x\"\nduration = \"10s\"\n[traffic.otlp_traces]\nrate = 10\n{extra}"),
                "s.toml",
            )
            .map(|_| ())
            .unwrap_err()
            .to_string()
        };
        for (extra, key) in [
            ("[gates]\nmax_error_ratio = 1.5", "gates.max_error_ratio"),
            ("[gates]\nmin_completeness = -0.1", "gates.min_completeness"),
            ("[gates]\nmin_memory_headroom = 1.0", "gates.min_memory_headroom"),
            ("[gates]\np99_ingest_latency = \"0s\"", "gates.p99_ingest_latency"),
        ] {
            let err = with(extra);
            assert!(err.contains(key), "{extra}: {err}");
        }
        let err = Scenario::from_toml(
            "name = \"x\"\nduration = \"10s\"\n[traffic.otlp_traces]\nrate = 1e9",
            "s.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("1000000"), "{err}");
        let err = Scenario::from_toml(
            "name = \"x\"\nduration = \"0s\"\n[traffic.otlp_traces]\nrate = 10",
            "s.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("under 1 s"), "{err}");
        let err = Scenario::from_toml(
            "name = \"x\"\nduration = \"2s\"\n[traffic.otlp_traces]\nrate = 0.1",
            "s.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("would send nothing"), "{err}");
        let ok = Scenario::from_toml(
            "name = \"x\"\nduration = \"20s\"\n[traffic.otlp_traces]\nrate = 0.1",
            "s.toml",
        )
        .unwrap();
        assert!(ok.declared_gates.is_none());
    }

    #[test]
    fn the_targets_slo_is_the_latency_gate_unless_the_scenario_sets_one() {
        let base = "name = \"x\"\nduration = \"2s\"\n[traffic.otlp_traces]\nrate = 10\n";
        let mut plain = Scenario::from_toml(base, "s.toml").unwrap();
        plain.for_target(Duration::from_secs(5));
        assert_eq!(plain.gates.p99_ingest_latency, Duration::from_secs(5));
        let mut other = Scenario::from_toml(&format!("{base}[gates]\nmax_error_ratio = 0.5\n"), "s.toml").unwrap();
        other.for_target(Duration::from_secs(5));
        assert_eq!(other.gates.p99_ingest_latency, Duration::from_secs(5));
        let mut own = Scenario::from_toml(&format!("{base}[gates]\np99_ingest_latency = \"9s\"\n"), "s.toml").unwrap();
        own.for_target(Duration::from_secs(5));
        assert_eq!(own.gates.p99_ingest_latency, Duration::from_secs(9));
    }
}
