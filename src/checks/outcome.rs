//! What a check returns: a verdict with a reason from the check's closed
//! set, a one-line summary, evidence to replay it, and latency series.
//!
//! Uses: measure (latency summaries).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::measure::latency::{LatencyHistogram, LatencySummary};

/// The verdict. `Fail` means the stack is wrong; `Error` means pillars could
/// not decide (target down, deadline spent); `Skip` means the check does not
/// apply to this target. The reason is a stable snake_case word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail(&'static str),
    Error(&'static str),
    Skip(&'static str),
}

/// The status column of reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Error,
    Skip,
}

impl Status {
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Error => "error",
            Status::Skip => "skip",
        }
    }
}

impl Verdict {
    pub const fn status(self) -> Status {
        match self {
            Verdict::Pass => Status::Pass,
            Verdict::Fail(_) => Status::Fail,
            Verdict::Error(_) => Status::Error,
            Verdict::Skip(_) => Status::Skip,
        }
    }

    pub const fn reason(self) -> Option<&'static str> {
        match self {
            Verdict::Pass => None,
            Verdict::Fail(r) | Verdict::Error(r) | Verdict::Skip(r) => Some(r),
        }
    }
}

/// A check's result.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub verdict: Verdict,
    pub summary: String,
    pub evidence: serde_json::Value,
    pub latency: BTreeMap<String, LatencySummary>,
    pub duration: Duration,
}

impl Outcome {
    pub fn new(verdict: Verdict, summary: impl Into<String>) -> Self {
        Outcome {
            verdict,
            summary: summary.into(),
            evidence: serde_json::Value::Object(Default::default()),
            latency: BTreeMap::new(),
            duration: Duration::ZERO,
        }
    }

    pub fn with_evidence(mut self, evidence: impl Serialize) -> Self {
        self.evidence = serde_json::to_value(evidence)
            .unwrap_or_else(|e| serde_json::json!({ "unserializable_evidence": e.to_string() }));
        self
    }

    pub fn with_latency(mut self, series: &str, histogram: &LatencyHistogram) -> Self {
        self.latency.insert(series.to_owned(), histogram.summary());
        self
    }

    pub fn status(&self) -> Status {
        self.verdict.status()
    }
}
