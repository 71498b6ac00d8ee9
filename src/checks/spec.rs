//! A catalog entry and the one way a check is run: timed, and bounded by a
//! deadline so a check always returns.
//!
//! Uses: checks::{context, outcome}.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::time::Instant;

use crate::checks::context::CheckCtx;
use crate::checks::outcome::{Outcome, Verdict};

pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// The part of the stack a check is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pillar {
    Stack,
    Traces,
    Logs,
    Metrics,
    Profiles,
    Frontend,
    Correlation,
    Ingest,
    Capacity,
}

impl Pillar {
    pub const fn as_str(self) -> &'static str {
        match self {
            Pillar::Stack => "stack",
            Pillar::Traces => "traces",
            Pillar::Logs => "logs",
            Pillar::Metrics => "metrics",
            Pillar::Profiles => "profiles",
            Pillar::Frontend => "frontend",
            Pillar::Correlation => "correlation",
            Pillar::Ingest => "ingest",
            Pillar::Capacity => "capacity",
        }
    }
}

/// One entry of the check catalog.
pub struct CheckSpec {
    /// Stable id used by features, `--only` and reports.
    pub id: &'static str,
    pub pillar: Pillar,
    /// What passing means, in one line.
    pub summary: &'static str,
    /// A round trip that records its pillar's ingest in the run's ledger,
    /// for `ingest.latency` and `ingest.completeness` to judge.
    pub records_ingest: bool,
    /// How many `max_wait` windows the check may spend waiting in turn
    /// (a correlation check waits for spans, then for the linked data).
    pub waits: u32,
    pub run: for<'a> fn(&'a CheckCtx) -> CheckFuture<'a>,
}

impl std::fmt::Debug for CheckSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckSpec").field("id", &self.id).finish()
    }
}

/// Slack on top of the target's `max_wait` for sending and final queries.
const DEADLINE_SLACK: Duration = Duration::from_secs(15);

impl CheckSpec {
    /// The time after which the check is stopped and reported as an error.
    pub fn deadline(&self, ctx: &CheckCtx) -> Duration {
        let limits = &ctx.target.limits;
        // Sends happen one by one before the waiting starts.
        let sends = 2 + ctx.settings.correlation_sessions as u32 * 2;
        limits.max_wait * self.waits.max(1) + limits.request_timeout * sends + DEADLINE_SLACK
    }

    /// Runs the check under its deadline and times it.
    pub async fn run(&self, ctx: &CheckCtx) -> Outcome {
        let started = Instant::now();
        let deadline = self.deadline(ctx);
        let mut outcome = match tokio::time::timeout(deadline, (self.run)(ctx)).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::new(
                Verdict::Error("deadline"),
                format!(
                    "{} did not finish within {}",
                    self.id,
                    humantime::format_duration(deadline)
                ),
            ),
        };
        outcome.duration = started.elapsed();
        outcome
    }
}

/// Wraps an `async fn(&CheckCtx) -> Outcome` as a catalog entry's `run`.
macro_rules! check_fn {
    ($path:path) => {{
        fn boxed(ctx: &$crate::checks::context::CheckCtx) -> $crate::checks::spec::CheckFuture<'_> {
            Box::pin($path(ctx))
        }
        boxed
    }};
}
pub(crate) use check_fn;
