//! A catalog entry, what it may spend, and the one way a check is run:
//! timed, and bounded by its own deadline so it always returns.
//!
//! A check's deadline follows from its own settings and the target's
//! limits: its `Budget` counts the `max_wait` windows it polls through one
//! after another, the `wait`s of its single reads, the requests it makes
//! one by one (each up to `request_timeout`) and its fixed pauses, and a
//! slack is added for the final queries and judging.
//!
//! Uses: check::{context, outcome, pillar, reason}, target (limits).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::time::Instant;

use crate::check::context::{CheckCtx, CheckSettings};
use crate::check::outcome::{Outcome, Verdict};
use crate::check::pillar::Pillar;
use crate::check::reason::Shared;
use crate::target::Limits;

pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// One entry of the check catalog.
pub struct CheckSpec {
    /// Stable id used by features, `--only` and reports.
    pub id: &'static str,
    pub pillar: Pillar,
    /// What passing means, in one line.
    pub summary: &'static str,
    /// The ids of the reasons only this check gives (its `Reason` enum's
    /// `IDS`), beside the shared ones (`check::reason::Shared`).
    pub reasons: &'static [&'static str],
    /// What the check may spend with these settings, which sets its deadline.
    pub budget: fn(&CheckSettings) -> Budget,
    pub run: for<'a> fn(&'a CheckCtx) -> CheckFuture<'a>,
}

impl std::fmt::Debug for CheckSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckSpec").field("id", &self.id).finish()
    }
}

/// Slack on top of a budget for the final queries and judging.
const DEADLINE_SLACK: Duration = Duration::from_secs(15);

/// What a check (or a round trip) may spend, in the target's own units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Budget {
    /// Polls through `max_wait`, one after another.
    pub max_waits: u32,
    /// Single reads retried up to `wait`, one after another.
    pub waits: u32,
    /// Requests made one after another, each up to `request_timeout`.
    pub requests: u32,
    /// Fixed pauses and timeouts of pillars' own.
    pub pauses: Duration,
    /// Waits for an alert to fire or resolve, each up to `alert_wait`.
    pub alert_waits: u32,
}

impl Budget {
    pub const fn requests(requests: u32) -> Budget {
        Budget {
            max_waits: 0,
            waits: 0,
            requests,
            pauses: Duration::ZERO,
            alert_waits: 0,
        }
    }

    /// This, then `next`.
    pub fn then(self, next: Budget) -> Budget {
        Budget {
            max_waits: self.max_waits + next.max_waits,
            waits: self.waits + next.waits,
            requests: self.requests + next.requests,
            pauses: self.pauses + next.pauses,
            alert_waits: self.alert_waits + next.alert_waits,
        }
    }

    /// This and `other` side by side: the longer of each.
    pub fn alongside(self, other: Budget) -> Budget {
        Budget {
            max_waits: self.max_waits.max(other.max_waits),
            waits: self.waits.max(other.waits),
            requests: self.requests.max(other.requests),
            pauses: self.pauses.max(other.pauses),
            alert_waits: self.alert_waits.max(other.alert_waits),
        }
    }

    /// This spent under its own deadline, slack included: what a check
    /// that runs it must allow on top of its own.
    pub fn bounded(self) -> Budget {
        self.then(Budget {
            pauses: DEADLINE_SLACK,
            ..Budget::default()
        })
    }

    /// The time after which whatever spends this budget is stopped.
    pub fn deadline(self, limits: &Limits) -> Duration {
        // A poll runs to `max_wait`, and never short of `wait`
        // (`measure::ingest_clock::PollPlan`).
        let max_wait = limits.max_wait.max(limits.wait);
        max_wait * self.max_waits
            + limits.wait * self.waits
            + limits.request_timeout * self.requests
            + self.pauses
            + limits.alert_wait.unwrap_or_default() * self.alert_waits
            + DEADLINE_SLACK
    }
}

impl CheckSpec {
    /// The time after which the check is stopped and reported as an error.
    pub fn deadline(&self, ctx: &CheckCtx) -> Duration {
        (self.budget)(&ctx.settings).deadline(&ctx.target.limits)
    }

    /// Runs the check under its deadline and times it.
    pub async fn run(&self, ctx: &CheckCtx) -> Outcome {
        let started = Instant::now();
        let deadline = self.deadline(ctx);
        let mut outcome = match tokio::time::timeout(deadline, (self.run)(ctx)).await {
            Ok(outcome) => outcome,
            Err(_) => past_deadline(self.id, deadline),
        };
        outcome.duration = started.elapsed();
        outcome
    }
}

/// The outcome of `what`, stopped at its deadline.
pub(crate) fn past_deadline(what: &str, deadline: Duration) -> Outcome {
    Outcome::new(
        Verdict::error(Shared::Deadline),
        format!("{what} did not finish within {}", humantime::format_duration(deadline)),
    )
}

/// Wraps an `async fn(&CheckCtx) -> Outcome` as a catalog entry's `run`.
macro_rules! check_fn {
    ($path:path) => {{
        fn boxed(ctx: &$crate::check::context::CheckCtx) -> $crate::check::spec::CheckFuture<'_> {
            Box::pin($path(ctx))
        }
        boxed
    }};
}
pub(crate) use check_fn;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_counts_each_window_and_request_once_and_side_by_side_the_longer() {
        let limits = Limits {
            wait: Duration::from_secs(5),
            max_wait: Duration::from_secs(8),
            request_timeout: Duration::from_secs(2),
            ..Limits::default()
        };
        let poll = Budget {
            max_waits: 1,
            ..Budget::requests(3)
        };
        assert_eq!(poll.deadline(&limits), Duration::from_secs(8 + 3 * 2 + 15));
        let read = Budget {
            waits: 2,
            ..Budget::requests(1)
        };
        assert_eq!(
            poll.then(read).deadline(&limits),
            Duration::from_secs(8 + 2 * 5 + 4 * 2 + 15)
        );
        assert_eq!(
            poll.alongside(read),
            Budget {
                max_waits: 1,
                waits: 2,
                requests: 3,
                pauses: Duration::ZERO,
                alert_waits: 0,
            }
        );
        // Alert waits count only where the target allows them.
        let alerting = Budget {
            alert_waits: 2,
            ..Budget::default()
        };
        assert_eq!(alerting.deadline(&limits), Duration::from_secs(15));
        let waiting = Limits {
            alert_wait: Some(Duration::from_secs(60)),
            ..limits.clone()
        };
        assert_eq!(alerting.deadline(&waiting), Duration::from_secs(120 + 15));
        // What runs a bounded budget outlasts its deadline.
        assert!(poll.bounded().deadline(&limits) > poll.deadline(&limits));
    }
}
