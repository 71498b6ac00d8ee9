//! `run.json`: the versioned record of a run, and the source of truth every
//! other output renders from. Its JSON schema is `schema/run.schema.json`.
//!
//! Uses: checks (outcomes), measure (latency summaries).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::checks::{CheckSpec, Outcome, Status};
use crate::measure::latency::LatencySummary;

/// Bumped whenever a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub schema_version: u32,
    pub run_id: String,
    pub seed: u64,
    pub target: TargetReport,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub finished_at: String,
    /// Ctrl-C stopped the run; checks that did not run are skipped.
    pub interrupted: bool,
    pub totals: Totals,
    pub checks: Vec<CheckReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetReport {
    pub name: String,
    /// `sim` (the embedded reference stack) or `file`.
    pub kind: String,
    pub description: Option<String>,
    /// The target file, for `file` targets.
    pub path: Option<String>,
    /// Endpoints by role; never credentials.
    pub endpoints: BTreeMap<String, String>,
    /// Fault knobs turned on in the embedded reference stack.
    pub sim_faults: Vec<String>,
    /// Deployment variants the embedded reference stack reproduced.
    #[serde(default)]
    pub sim_variants: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub pass: usize,
    pub fail: usize,
    pub error: usize,
    pub skip: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    pub id: String,
    pub pillar: String,
    pub status: Status,
    /// Stable snake_case reason; absent when the check passed.
    pub reason: Option<String>,
    pub duration_ms: u64,
    pub summary: String,
    pub evidence: serde_json::Value,
    /// Latency series in ms, by name.
    pub latency_ms: BTreeMap<String, LatencySummary>,
    /// What to try, when the check did not pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// Evidence keys that hold the query a check sent, in the order shown.
const QUERY_KEYS: &[&str] = &[
    "traceql",
    "logql",
    "promql",
    "query",
    "exemplar_query",
    "label_selector",
];

impl CheckReport {
    pub fn new(spec: &CheckSpec, outcome: Outcome) -> Self {
        let pillar = serde_json::to_value(spec.pillar)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        CheckReport {
            id: spec.id.to_owned(),
            pillar,
            status: outcome.status(),
            reason: outcome.verdict.reason().map(str::to_owned),
            duration_ms: outcome.duration.as_millis() as u64,
            summary: outcome.summary,
            evidence: outcome.evidence,
            latency_ms: outcome.latency,
            hint: outcome
                .verdict
                .reason()
                .and_then(|reason| crate::check::hint::hint(spec.id, reason))
                .map(str::to_owned),
        }
    }

    /// The queries the check sent, by evidence key, as its evidence has them.
    pub fn queries(&self) -> Vec<(&'static str, &str)> {
        let evidence = self.leading_evidence();
        QUERY_KEYS
            .iter()
            .filter_map(|key| Some((*key, evidence.get(key)?.as_str()?)))
            .collect()
    }

    /// The Grafana Explore link for what the check looked for, if it made one.
    pub fn explore(&self) -> Option<&str> {
        self.leading_evidence().get("explore")?.as_str()
    }

    /// The evidence, or its first transport's when the check ran once per
    /// OTLP transport (`roundtrip::transports`).
    fn leading_evidence(&self) -> &serde_json::Value {
        self.evidence
            .get("transports")
            .and_then(|legs| legs.get(0)?.get("evidence"))
            .unwrap_or(&self.evidence)
    }
}

impl Totals {
    pub fn of(checks: &[CheckReport]) -> Self {
        let mut t = Totals::default();
        for c in checks {
            match c.status {
                Status::Pass => t.pass += 1,
                Status::Fail => t.fail += 1,
                Status::Error => t.error += 1,
                Status::Skip => t.skip += 1,
            }
        }
        t
    }
}

impl RunReport {
    pub fn duration_ms(&self) -> u64 {
        self.checks.iter().map(|c| c.duration_ms).sum()
    }
}

/// The current time in RFC 3339, UTC, to the millisecond.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}
