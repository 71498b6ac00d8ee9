//! `correlation.trace_across_tiers`: a frontend fetch span and the backend
//! server span it caused share one trace, and the backend span's parent is
//! the fetch span. Reports how many of N sessions stitched: with a backend
//! sampler that is not parent-based (prod's `traceidratio` at 0.1), that
//! ratio is the finding.
//!
//! Uses: check, correlation::session, roundtrip::lookup.

use serde::Serialize;

use crate::check::reason::reasons;
use crate::check::spec::Budget;
use crate::check::{CheckCtx, CheckSettings, Outcome, Verdict};
use crate::correlation::session::{self, SessionSpans, drive, find_spans};
use crate::correlation::waterfall::Waterfall;
use crate::roundtrip::lookup::undecided;

reasons! {
    /// Why the check did not pass, beside the shared reasons; reads that
    /// all failed are `read_failed` or `unreachable`.
    pub enum Reason {
        MissingFrontendSpan,
        WrongParent,
        BackendNotInTrace,
    }
}

/// Driving the sessions, then polling Tempo for their spans.
pub(crate) fn budget(settings: &CheckSettings) -> Budget {
    session::spans_budget(settings)
}

#[derive(Debug, Serialize)]
struct SessionEvidence {
    session_id: String,
    trace_id: String,
    fetch_span: String,
    frontend_span_found: bool,
    backend_span: Option<String>,
    backend_parent: Option<String>,
    stitched: bool,
}

#[derive(Debug, Serialize)]
struct Evidence {
    seed: u64,
    frontend_service: String,
    backend_service: String,
    sessions: u64,
    stitched: u64,
    stitched_ratio: f64,
    traces: Vec<SessionEvidence>,
    last_error: Option<String>,
    /// The first stitched session's trace (or the first read back).
    waterfall: Option<Waterfall>,
}

pub async fn run(ctx: &CheckCtx) -> Outcome {
    let Some(tempo) = ctx.tempo() else {
        return Outcome::not_configured("the target names no Tempo read endpoint");
    };
    let (_, driven) = match drive(ctx, "correlation.trace_across_tiers").await {
        Ok(d) => d,
        Err(outcome) => return outcome,
    };
    let (watched, seen) = find_spans(ctx, &tempo, &driven).await;
    let n = driven.len() as u64;
    let traces: Vec<SessionEvidence> = driven
        .iter()
        .map(|d| {
            let spans = seen.get(&d.session.slot).cloned().unwrap_or_default();
            let backend = spans.stitched(&d.session).or_else(|| spans.backend.first());
            SessionEvidence {
                session_id: d.session.session_id.clone(),
                trace_id: d.session.trace_id.to_string(),
                fetch_span: d.session.fetch_span.to_string(),
                frontend_span_found: spans.frontend.is_some(),
                backend_span: backend.map(|s| s.span_id.to_string()),
                backend_parent: backend.and_then(|s| s.parent_span_id).map(|p| p.to_string()),
                stitched: spans.frontend.is_some() && spans.stitched(&d.session).is_some(),
            }
        })
        .collect();
    let stitched = traces.iter().filter(|t| t.stitched).count() as u64;
    let reason_of = |spans: &SessionSpans| {
        if spans.frontend.is_none() {
            Reason::MissingFrontendSpan
        } else if !spans.backend.is_empty() {
            Reason::WrongParent
        } else {
            Reason::BackendNotInTrace
        }
    };
    // Only sessions Tempo answered for can be broken; the others are undecided.
    let first_broken = driven
        .iter()
        .find(|d| watched.missing.contains(&d.session.slot))
        .map(|d| reason_of(&seen.get(&d.session.slot).cloned().unwrap_or_default()));
    let shown = driven
        .iter()
        .filter_map(|d| Some((d, seen.get(&d.session.slot)?)))
        .filter(|(_, spans)| !spans.trace.is_empty())
        .max_by_key(|(d, spans)| (spans.stitched(&d.session).is_some(), std::cmp::Reverse(d.session.slot)));
    let waterfall =
        shown.map(|(d, spans)| Waterfall::of(d.session.trace_id, &spans.trace, ctx.target.grafana.as_ref()));
    let evidence = Evidence {
        waterfall,
        seed: ctx.seed.0,
        frontend_service: ctx.target.frontend_service.clone(),
        backend_service: ctx.target.backend_service.clone(),
        sessions: n,
        stitched,
        stitched_ratio: if n == 0 { 0.0 } else { stitched as f64 / n as f64 },
        traces,
        last_error: watched.last_error.as_ref().map(|e| e.to_string()),
    };
    let (verdict, summary) = match (first_broken, undecided(&watched, "sessions' traces")) {
        (None, Some(verdict)) => verdict,
        (None, None) => (
            Verdict::Pass,
            format!("{stitched}/{n} sessions are one trace across the frontend and the backend"),
        ),
        (Some(reason), _) => {
            let hint = match reason {
                Reason::BackendNotInTrace => {
                    "the backend's span is not in the frontend's trace: does the backend continue `traceparent`, and is its sampler parent-based?"
                }
                Reason::WrongParent => "the backend span is in the trace but its parent is not the fetch span",
                Reason::MissingFrontendSpan => "the frontend's fetch span did not reach Tempo (Faro traces export)",
            };
            (
                Verdict::fail(reason),
                format!("{stitched}/{n} sessions stitched; {hint}"),
            )
        }
    };
    Outcome::new(verdict, summary)
        .with_evidence(evidence)
        .with_latency("correlation.trace", &watched.histogram)
}
