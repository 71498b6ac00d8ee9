//! What every correlation check starts with: synthetic frontend sessions
//! that do what the React app does — a Faro trace with a client `fetch`
//! span, a call to the backend through the app's base URL with
//! `traceparent: 00-<trace>-<fetch span>-01`, then the Faro payload posted
//! to `/collect` — and the spans of those requests read back from Tempo,
//! down to the backend server span a person would click a link on.
//!
//! Uses: check, roundtrip::{lookup, send}, emit::{faro, visit}, query::tempo,
//! measure::ingest_clock.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::check::reason::{ReasonId, Shared};
use crate::check::spec::Budget;
use crate::check::{CheckCtx, CheckSettings, Outcome, Verdict};
use crate::emit::faro::{FrontendSession, FrontendSpec};
use crate::emit::visit::{VisitError, Visits};
use crate::measure::ingest_clock::{PollPlan, Reads, Watched, watch};
use crate::query::tempo::{ReadSpan, TempoClient};
use crate::roundtrip::lookup::undecided;
use crate::roundtrip::send::send_verdict;

/// How far the backend's clock may be behind ours.
pub(crate) const CLOCK_SKEW_NANOS: u64 = 5_000_000_000;

/// A session that ran: its ids and when its backend call was acknowledged.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Driven {
    #[serde(flatten)]
    pub session: FrontendSession,
    #[serde(skip)]
    pub acked: Instant,
    /// When the backend call started, unix ns: a backend span that started
    /// before is another run's.
    pub started_unix_nanos: u64,
    pub backend_ms: u64,
}

/// Driving the sessions: a backend call and a Faro post each, one after
/// another.
pub(crate) fn drive_budget(settings: &CheckSettings) -> Budget {
    Budget::requests(2 * settings.correlation_sessions as u32)
}

/// Driving the sessions, then polling Tempo for their spans.
pub(crate) fn spans_budget(settings: &CheckSettings) -> Budget {
    drive_budget(settings).then(Budget {
        max_waits: 1,
        ..Budget::default()
    })
}

/// Runs `ctx.settings.correlation_sessions` sessions for `check`, or
/// returns the outcome that says why they could not run. Each check's
/// sessions have their own ids (the run's seed of that check), so no check
/// reads the spans of another's requests.
pub(crate) async fn drive(ctx: &CheckCtx, check: &str) -> Result<(FrontendSpec, Vec<Driven>), Outcome> {
    let path = &ctx.settings.api_path;
    let seed = ctx.seed.of_part(check);
    let Some(visits) = Visits::new(ctx.http.clone(), &ctx.target, seed, &ctx.run_id, path) else {
        return Err(Outcome::not_configured(
            "the target names no app base URL (`app.base_url`) to send requests through",
        ));
    };
    let mut driven = Vec::new();
    for slot in 0..ctx.settings.correlation_sessions {
        let visit = visits.visit(slot).await.map_err(|failed| match failed {
            VisitError::App { traceparent, error } => Outcome::new(
                send_verdict(&error),
                format!("calling the backend at {} failed: {error}", visits.app_url()),
            )
            .with_evidence(serde_json::json!({
                "seed": ctx.seed.0,
                "app": visits.app_url().to_string(),
                "traceparent": traceparent,
                "error": error.to_string(),
            })),
            VisitError::Faro { error } => Outcome::new(
                send_verdict(&error),
                format!("posting the Faro payload failed: {error}"),
            )
            .with_evidence(serde_json::json!({
                "seed": ctx.seed.0,
                "faro": visits.faro_url().to_string(),
                "session_id": visits.spec.session(slot).session_id,
                "error": error.to_string(),
            })),
        })?;
        driven.push(Driven {
            session: visit.session,
            acked: visit.acked,
            started_unix_nanos: visit.started.as_nanos() as u64,
            backend_ms: visit.backend.latency.as_millis() as u64,
        });
    }
    Ok((visits.spec, driven))
}

/// Why there is no backend span to follow a link from.
pub(crate) enum NoSpan {
    /// The sessions could not run; the outcome says why.
    NotDriven(Outcome),
    /// Tempo could not be read: the error verdict and why.
    Undecided(Verdict, String),
    /// Tempo answered, and no backend server span had reached it.
    Missing(String),
}

impl NoSpan {
    /// The outcome of a check left without a span to follow its link
    /// from: why the sessions could not run, an error when Tempo could not
    /// be read, or `missing` (the check's own reason) when it answered
    /// without one; with the check's evidence so far.
    pub(crate) fn outcome(self, evidence: impl Serialize, missing: impl Into<ReasonId>) -> Outcome {
        match self {
            NoSpan::NotDriven(outcome) => outcome,
            NoSpan::Undecided(verdict, summary) => Outcome::new(verdict, summary).with_evidence(evidence),
            NoSpan::Missing(summary) => Outcome::new(Verdict::fail(missing), summary).with_evidence(evidence),
        }
    }
}

/// The backend server span a check follows its link from, and its trace's
/// spans of this run as read back (for the waterfall).
pub(crate) struct Followed {
    pub span: ReadSpan,
    pub trace: Vec<ReadSpan>,
}

/// Drives the sessions and returns the backend server span a person would
/// click a link on: the first session's, stitched to its fetch span if one
/// is.
pub(crate) async fn backend_span(ctx: &CheckCtx, check: &str, tempo: &TempoClient) -> Result<Followed, NoSpan> {
    let (_, driven) = drive(ctx, check).await.map_err(NoSpan::NotDriven)?;
    let (watched, seen) = find_spans(ctx, tempo, &driven).await;
    let followed = driven.iter().find_map(|d| {
        let spans = seen.get(&d.session.slot)?;
        let span = spans.stitched(&d.session).or_else(|| spans.backend.first())?;
        Some(Followed {
            span: span.clone(),
            trace: spans.trace.clone(),
        })
    });
    match followed {
        Some(followed) => Ok(followed),
        // Tempo never told whether the spans are there.
        None if watched.missing.is_empty() => Err(match undecided(&watched, "sessions' traces") {
            Some((verdict, why)) => NoSpan::Undecided(verdict, why),
            None => NoSpan::Undecided(Verdict::error(Shared::ReadFailed), "no read of Tempo finished".into()),
        }),
        None => Err(NoSpan::Missing(format!(
            "no backend server span of {} was found in Tempo to link from",
            ctx.target.backend_service
        ))),
    }
}

/// The spans of one session's trace, as read back.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct SessionSpans {
    pub frontend: Option<ReadSpan>,
    /// Backend server spans in the trace.
    pub backend: Vec<ReadSpan>,
    /// Every span of the trace from this run: the fetch span, the backend's
    /// and their children.
    pub trace: Vec<ReadSpan>,
}

impl SessionSpans {
    /// The backend server span whose parent is the session's fetch span.
    pub(crate) fn stitched(&self, session: &FrontendSession) -> Option<&ReadSpan> {
        self.backend
            .iter()
            .find(|s| s.parent_span_id == Some(session.fetch_span))
    }
}

/// Polls Tempo until every session's trace holds its fetch span and a
/// backend server span that is its child, or the deadline passes; returns
/// what each trace held.
pub(crate) async fn find_spans(
    ctx: &CheckCtx,
    tempo: &TempoClient,
    driven: &[Driven],
) -> (Watched<u64>, BTreeMap<u64, SessionSpans>) {
    let seen = Mutex::new(BTreeMap::<u64, SessionSpans>::new());
    let limits = &ctx.target.limits;
    let plan = PollPlan::new(Duration::ZERO, limits.wait, limits.max_wait);
    let items = driven.iter().map(|d| (d.session.slot, d.acked)).collect();
    let backend = ctx.target.backend_service.as_str();
    let run_id = ctx.run_id.as_str();
    let seen_ref = &seen;
    let watched = watch(&plan, items, move |_, slots: Vec<u64>| async move {
        let seen = seen_ref;
        let mut results = Vec::with_capacity(slots.len());
        for slot in slots {
            let d = &driven[slot as usize];
            let session = &d.session;
            let trace = match tempo.trace_v1(session.trace_id, None).await {
                Ok(Some(trace)) => trace,
                Ok(None) => {
                    results.push((slot, Ok(false)));
                    continue;
                }
                Err(e) => {
                    results.push((slot, Err(e)));
                    continue;
                }
            };
            // Ids come from the seed: spans of an earlier run with the same
            // seed share them, so only this run's count.
            let this_run = |s: &&ReadSpan| s.resource.get("pillars.run").map(String::as_str) == Some(run_id);
            let recent = |s: &&ReadSpan| s.start_unix_nanos + CLOCK_SKEW_NANOS >= d.started_unix_nanos;
            let spans = SessionSpans {
                frontend: trace
                    .spans
                    .iter()
                    .filter(this_run)
                    .find(|s| s.span_id == session.fetch_span)
                    .cloned(),
                backend: trace
                    .spans
                    .iter()
                    .filter(|s| s.service_name.as_deref() == Some(backend) && s.kind == "SPAN_KIND_SERVER")
                    .filter(recent)
                    .cloned()
                    .collect(),
                trace: trace
                    .spans
                    .iter()
                    .filter(|s| this_run(s) || recent(s))
                    .cloned()
                    .collect(),
            };
            let stitched = spans.frontend.is_some() && spans.stitched(session).is_some();
            results.push((slot, Ok(stitched)));
            seen.lock().expect("not poisoned").insert(slot, spans);
        }
        Reads::of(results)
    })
    .await;
    (watched, seen.into_inner().unwrap_or_default())
}
