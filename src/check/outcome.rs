//! What a check returns: a verdict with a reason from the check's closed
//! set, a one-line summary, evidence to replay it, and latency series.
//!
//! Uses: check::reason, measure (latency summaries).

use std::collections::BTreeMap;
use std::fmt::Display;
use std::time::Duration;

use serde::Serialize;

use crate::check::reason::{ReasonId, Shared};
use crate::measure::latency::{LatencyHistogram, LatencySummary};

/// The verdict. `Fail` means the stack is wrong; `Error` means pillars could
/// not decide (target down, deadline spent); `Skip` means the check does not
/// apply to this target. The reason is one of a closed set
/// (`check::reason`), a stable snake_case word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail(ReasonId),
    Error(ReasonId),
    Skip(ReasonId),
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
    pub fn fail(reason: impl Into<ReasonId>) -> Verdict {
        Verdict::Fail(reason.into())
    }

    pub fn error(reason: impl Into<ReasonId>) -> Verdict {
        Verdict::Error(reason.into())
    }

    pub fn skip(reason: impl Into<ReasonId>) -> Verdict {
        Verdict::Skip(reason.into())
    }

    pub const fn status(self) -> Status {
        match self {
            Verdict::Pass => Status::Pass,
            Verdict::Fail(_) => Status::Fail,
            Verdict::Error(_) => Status::Error,
            Verdict::Skip(_) => Status::Skip,
        }
    }

    pub const fn reason(self) -> Option<&'static str> {
        match self.reason_id() {
            Some(r) => Some(r.as_str()),
            None => None,
        }
    }

    pub const fn reason_id(self) -> Option<ReasonId> {
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

    /// The skip of a check the target names no endpoint for.
    pub fn not_configured(summary: impl Into<String>) -> Self {
        Outcome::new(Verdict::skip(Shared::NotConfigured), summary)
    }

    /// The skip of a check a signal stopped, or kept from running.
    pub fn interrupted(summary: impl Into<String>) -> Self {
        Outcome::new(Verdict::skip(Shared::Interrupted), summary)
    }

    /// The skip of a check not run because `stack.ready` reached nothing.
    pub fn unreached(summary: impl Into<String>) -> Self {
        Outcome::new(Verdict::skip(Shared::Unreached), summary)
    }

    /// The error of a check that cannot build `what` from the names it has.
    pub fn bad_query(what: impl Display, err: impl Display) -> Self {
        Outcome::new(Verdict::error(Shared::BadQuery), format!("cannot build {what}: {err}"))
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
