//! `metrics.roundtrip`: N synthetic gauge series sent over OTLP through the
//! collector are found in Mimir with the values that were sent, and the
//! latency histogram's exemplar is kept.
//!
//! The round trip itself is `roundtrip::metrics`; this check judges what it
//! measured.
//!
//! Uses: check, roundtrip::{metrics, lookup}.

use crate::check::reason::reasons;
use crate::check::spec::Budget;
use crate::check::{CheckCtx, CheckSettings, Outcome, Verdict};
use crate::roundtrip::lookup::{tally, undecided};
use crate::roundtrip::metrics::{self, Settings};
use crate::roundtrip::send::Over;
use crate::roundtrip::transports;
use crate::target::Signal;

reasons! {
    /// Why `metrics.roundtrip` did not pass, beside the shared `rejected`,
    /// `not_found`, `read_failed` and `unreachable`.
    pub enum Reason {
        IncorrectResult,
        MissingExemplars,
    }
}

pub(crate) fn budget(settings: &CheckSettings) -> Budget {
    metrics::budget(&Settings::of(settings))
}

/// One leg per transport the run sends metrics over (`--transport`).
pub async fn run(ctx: &CheckCtx) -> Outcome {
    transports::each(ctx, Signal::Metrics, |transport, primary| async move {
        let settings = Settings {
            over: Some(Over { transport, primary }),
            ..Settings::of(&ctx.settings)
        };
        leg(ctx, &settings).await
    })
    .await
}

async fn leg(ctx: &CheckCtx, settings: &Settings) -> Outcome {
    let measured = match metrics::round_trip(ctx, settings).await {
        Ok(measured) => measured,
        Err(outcome) => return outcome,
    };
    let (watched, exemplar, sent) = (&measured.watched, &measured.exemplar, measured.sent);
    let (verdict, summary) = if !measured.wrong.is_empty() {
        (
            Verdict::fail(Reason::IncorrectResult),
            format!(
                "{} of {sent} series came back with another value than was sent",
                measured.wrong.len()
            ),
        )
    } else if !watched.missing.is_empty() || !watched.undecided.is_empty() {
        tally(watched, sent, "metric series", "Mimir")
    } else if !exemplar.missing.is_empty() {
        (
            Verdict::fail(Reason::MissingExemplars),
            format!(
                "the histogram's exemplar (trace_id {}) is not in Mimir's query_exemplars; are exemplars enabled (max_global_exemplars_per_user)?",
                measured.evidence.exemplar_trace_id
            ),
        )
    } else if let Some(verdict) = undecided(exemplar, "histogram's exemplar") {
        verdict
    } else {
        tally(watched, sent, "metric series", "Mimir")
    };
    Outcome::new(verdict, summary)
        .with_evidence(&measured.evidence)
        .with_latency("metrics", &watched.histogram)
}
