//! `traces.roundtrip`: N synthetic backend traces sent over OTLP (HTTP,
//! gRPC or both, each transport a leg of its own: `roundtrip::transports`) are
//! found in Tempo by id, and separately by TraceQL search, within the
//! target's deadlines — each whole, and the trace that was sent.
//!
//! The round trip itself (sending, both lookups, the ledger entry) is
//! `roundtrip::traces`; this check judges what it measured.
//!
//! Uses: check, roundtrip::{traces, lookup}, measure::ingest_clock.

use std::collections::HashSet;

use crate::check::reason::reasons;
use crate::check::spec::Budget;
use crate::check::{CheckCtx, CheckSettings, Outcome, Verdict};
use crate::measure::ingest_clock::Watched;
use crate::roundtrip::lookup::undecided;
use crate::roundtrip::send::Over;
use crate::roundtrip::traces::{self, Observation, Settings};
use crate::roundtrip::transports;
use crate::target::Signal;

reasons! {
    /// Why `traces.roundtrip` did not pass, beside the shared reasons: a
    /// refused send is `rejected`; reads that all failed are `read_failed`
    /// or `unreachable`.
    pub enum Reason {
        NotFoundById,
        /// Found by id, but without every span that was sent.
        MissingSpans,
        /// Found by id, but not the trace that was sent.
        IncorrectResult,
        NotFoundBySearch,
    }
}

pub(crate) fn budget(settings: &CheckSettings) -> Budget {
    traces::budget(&Settings::of(settings))
}

/// One leg per transport the run sends traces over (`--transport`).
pub async fn run(ctx: &CheckCtx) -> Outcome {
    transports::each(ctx, Signal::Traces, |transport, primary| async move {
        let settings = Settings {
            over: Some(Over { transport, primary }),
            ..Settings::of(&ctx.settings)
        };
        leg(ctx, &settings).await
    })
    .await
}

async fn leg(ctx: &CheckCtx, settings: &Settings) -> Outcome {
    let measured = match traces::round_trip(ctx, settings).await {
        Ok(measured) => measured,
        Err(outcome) => return outcome,
    };
    let (by_id, search) = (measured.by_id.as_ref(), measured.search.as_ref());
    let (verdict, summary) = judge(measured.sent, by_id, search, &measured.mismatched);
    let mut outcome = Outcome::new(verdict, summary).with_evidence(&measured.evidence);
    if let Some(w) = by_id {
        outcome = outcome.with_latency("traces.by_id", &w.histogram);
    }
    if let Some(w) = search {
        outcome = outcome.with_latency("traces.search", &w.histogram);
    }
    outcome
}

fn judge(
    sent: u64,
    by_id: Option<&Watched<u64>>,
    search: Option<&Watched<u64>>,
    mismatched: &[Observation],
) -> (Verdict, String) {
    if let Some(w) = by_id
        && !w.missing.is_empty()
    {
        let missing: HashSet<u64> = w.missing.iter().copied().collect();
        let wrong: Vec<&Observation> = mismatched.iter().filter(|o| missing.contains(&o.slot)).collect();
        let reason = if wrong.iter().any(|o| o.problem.is_some()) {
            Reason::IncorrectResult
        } else if !wrong.is_empty() {
            Reason::MissingSpans
        } else {
            Reason::NotFoundById
        };
        let detail = match reason {
            Reason::IncorrectResult => format!(", {} did not match what was sent", wrong.len()),
            Reason::MissingSpans => format!(", {} came back without all their spans", wrong.len()),
            _ => String::new(),
        };
        return (
            Verdict::fail(reason),
            format!("{} of {sent} traces not found by id in Tempo{detail}", w.missing.len()),
        );
    }
    if let Some(w) = search
        && !w.missing.is_empty()
    {
        return (
            Verdict::fail(Reason::NotFoundBySearch),
            format!("{} of {sent} traces not found by TraceQL search", w.missing.len()),
        );
    }
    let undecided_by = |w: Option<&Watched<u64>>, items| w.and_then(|w| undecided(w, items));
    if let Some(verdict) = undecided_by(by_id, "traces by id").or_else(|| undecided_by(search, "traces by search")) {
        return verdict;
    }
    let p99 = |w: Option<&Watched<u64>>| w.map(|w| format!("{} ms", w.histogram.percentile_ms(99.0)));
    let parts: Vec<String> = [("by id", p99(by_id)), ("by search", p99(search))]
        .into_iter()
        .filter_map(|(what, p)| p.map(|p| format!("{what} p99 {p}")))
        .collect();
    (
        Verdict::Pass,
        format!("{sent}/{sent} traces found; {}", parts.join(", ")),
    )
}
