//! `traces.roundtrip`: N synthetic backend traces sent over OTLP/HTTP are
//! found in Tempo by id, and separately by TraceQL search, within the
//! target's deadlines.
//!
//! Expected traces are rebuilt from the run seed (`emit::synthetic`), so a
//! trace read back is compared with what was sent: every span id must be
//! there and the root span must carry the slot's `pillars.seq`. By-id lookups
//! start at once (Tempo serves live traces); search waits for the readiness
//! guard, since Tempo only searches flushed traces
//! (`shared/reference/api/03-tempo.md` §3.4). Both run side by side.
//!
//! Uses: checks, emit::{otlp, synthetic}, query::tempo, measure.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use serde::Serialize;
use tokio::time::Instant;

use crate::checks::roundtrip::{LISTED, LookupEvidence, ingest_of, send_verdict, undecided};
use crate::checks::{CheckCtx, Outcome, Pillar, TraceLookup, Verdict};
use crate::emit::otlp::{EmitError, OtlpHttpEmitter};
use crate::emit::synthetic::{ExpectedTrace, TraceSpec};
use crate::emit::template::TraceBatchTemplate;
use crate::ids::TraceId;
use crate::measure::ingest_clock::{Phase, PollPlan, Reads, Watched, watch};
use crate::query::grafana::explore_link;
use crate::query::http::HttpError;
use crate::query::lang::LangError;
use crate::query::lang::traceql::{Scope, SpansetFilter};
use crate::query::tempo::{ReadTrace, TempoClient};
use crate::target::{Signal, Store};

/// Why `traces.roundtrip` did not pass. A refused send is `rejected`, from
/// `roundtrip::send_verdict`; reads that all failed are `read_failed` or
/// `unreachable`, from `roundtrip::undecided`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    NotFoundById,
    /// Found by id, but without every span that was sent.
    MissingSpans,
    /// Found by id, but not the trace that was sent.
    IncorrectResult,
    NotFoundBySearch,
    NotConfigured,
}

impl Reason {
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::NotFoundById => "not_found_by_id",
            Reason::MissingSpans => "missing_spans",
            Reason::IncorrectResult => "incorrect_result",
            Reason::NotFoundBySearch => "not_found_by_search",
            Reason::NotConfigured => "not_configured",
        }
    }
}

/// The TraceQL search that finds the run's traces.
pub fn traceql(service: &str, run_id: &str) -> Result<SpansetFilter, LangError> {
    SpansetFilter::all()
        .and(Scope::Resource, "service.name", service)?
        .and(Scope::Span, "pillars.run", run_id)
}

/// Traces per export request.
const TRACES_PER_BATCH: u64 = 50;
/// By-id lookups in flight at once.
const LOOKUP_CONCURRENCY: usize = 8;

#[derive(Debug, Serialize, Clone)]
struct Observation {
    slot: u64,
    trace_id: TraceId,
    spans_expected: usize,
    spans_found: usize,
    /// What did not match, when the spans were there but wrong.
    problem: Option<String>,
}

#[derive(Debug, Serialize)]
struct Evidence {
    seed: u64,
    run_id: String,
    service_name: String,
    collector: String,
    tempo: String,
    lookup: TraceLookup,
    traceql: String,
    sent: u64,
    spans_per_trace: u32,
    by_id: Option<LookupEvidence>,
    search: Option<LookupEvidence>,
    /// Traces read by id that did not match what was sent.
    mismatched: Vec<Observation>,
    send_error: Option<String>,
    explore: Option<String>,
}

pub async fn run(ctx: &CheckCtx) -> Outcome {
    let (Some(collector), Some(tempo)) = (ctx.target.otlp(Signal::Traces), ctx.tempo()) else {
        return Outcome::new(
            Verdict::Skip(Reason::NotConfigured.as_str()),
            "the target names no OTLP traces endpoint or no Tempo read endpoint",
        );
    };
    let settings = &ctx.settings;
    let spec = TraceSpec {
        seed: ctx.seed,
        run_id: ctx.run_id.clone(),
        service_name: ctx.service_name("traces"),
        spans_per_trace: settings.spans_per_trace.max(1),
    };
    let limits = &ctx.target.limits;
    let search_query = match traceql(&spec.service_name, &spec.run_id) {
        Ok(q) => q,
        Err(e) => {
            return Outcome::new(
                Verdict::Error("bad_query"),
                format!("cannot build the TraceQL search for {}: {e}", spec.service_name),
            );
        }
    };
    let mut evidence = Evidence {
        seed: ctx.seed.0,
        run_id: ctx.run_id.clone(),
        service_name: spec.service_name.clone(),
        collector: collector.to_string(),
        tempo: tempo.base().to_string(),
        lookup: settings.trace_lookup,
        traceql: search_query.to_string(),
        sent: 0,
        spans_per_trace: spec.spans_per_trace,
        by_id: None,
        search: None,
        mismatched: Vec::new(),
        send_error: None,
        explore: ctx
            .target
            .grafana
            .as_ref()
            .map(|g| explore_link(g, Store::Tempo, &search_query.to_string()).to_string()),
    };

    // Send, recording when each batch was acknowledged.
    let emitter = OtlpHttpEmitter::new(ctx.http.clone(), collector.clone(), limits.request_timeout);
    let first_sent_unix = unix_now().as_secs();
    let mut acked: Vec<(u64, Instant)> = Vec::with_capacity(settings.traces as usize);
    let full = TraceBatchTemplate::new(&spec, TRACES_PER_BATCH.min(settings.traces));
    let rest = settings.traces % full.traces();
    let last = (rest != 0).then(|| TraceBatchTemplate::new(&spec, rest));
    let mut slot = 0;
    while slot < settings.traces {
        let template = match &last {
            Some(last) if settings.traces - slot < full.traces() => last,
            _ => &full,
        };
        let end = slot + template.traces();
        let mut body = Vec::new();
        template.fill(slot, unix_now().as_nanos() as u64, &mut body);
        match emitter.send_encoded(body.into()).await {
            Ok(ack) => acked.extend((slot..end).map(|s| (s, ack.at))),
            Err(err) => {
                let verdict = send_verdict(&err);
                let summary = match &err {
                    EmitError::Rejected { rejected, .. } => {
                        format!("the collector rejected {rejected} span(s) of traces {slot}..{end}")
                    }
                    _ => format!("sending traces {slot}..{end} failed: {err}"),
                };
                evidence.sent = slot;
                evidence.send_error = Some(err.to_string());
                return Outcome::new(verdict, summary).with_evidence(evidence);
            }
        }
        slot = end;
    }
    evidence.sent = settings.traces;

    let range = (first_sent_unix.saturating_sub(60), unix_now().as_secs() + 60);
    let mismatched = Mutex::new(BTreeMap::<u64, Observation>::new());
    let by_id_plan = PollPlan::new(Duration::ZERO, limits.wait, limits.max_wait);
    let search_plan = PollPlan::new(limits.search_ready_after, limits.wait, limits.max_wait);
    let lookup = settings.trace_lookup;

    let by_id = async {
        if lookup == TraceLookup::Search {
            return None;
        }
        Some(
            watch(&by_id_plan, acked.clone(), |phase, slots| {
                find_by_id(&tempo, &spec, phase, range, slots, &mismatched)
            })
            .await,
        )
    };
    let search = async {
        if lookup == TraceLookup::ById {
            return None;
        }
        Some(
            watch(&search_plan, acked.clone(), |phase, slots| {
                find_by_search(&tempo, &spec, &search_query, phase, range, settings.traces, slots)
            })
            .await,
        )
    };
    let (by_id, search) = tokio::join!(by_id, search);

    let mismatched: Vec<Observation> = mismatched.into_inner().unwrap_or_default().into_values().collect();
    let mut outcome_latency = Vec::new();
    let id_of = |slot: u64| spec.expected(slot).trace_id.to_string();
    evidence.by_id = by_id.as_ref().map(|w| LookupEvidence::new(w, id_of));
    evidence.search = search.as_ref().map(|w| LookupEvidence::new(w, id_of));
    if let Some(w) = by_id.as_ref().or(search.as_ref()) {
        ctx.ledger.record(Pillar::Traces, ingest_of(settings.traces, w, id_of));
    }
    if let Some(w) = &by_id {
        outcome_latency.push(("traces.by_id", w.histogram.clone()));
    }
    if let Some(w) = &search {
        outcome_latency.push(("traces.search", w.histogram.clone()));
    }

    let sent = settings.traces;
    let verdict_and_summary = judge(sent, by_id.as_ref(), search.as_ref(), &mismatched);
    evidence.mismatched = mismatched.into_iter().take(LISTED).collect();
    let mut outcome = Outcome::new(verdict_and_summary.0, verdict_and_summary.1).with_evidence(evidence);
    for (series, histogram) in outcome_latency {
        outcome = outcome.with_latency(series, &histogram);
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
            Verdict::Fail(reason.as_str()),
            format!("{} of {sent} traces not found by id in Tempo{detail}", w.missing.len()),
        );
    }
    if let Some(w) = search
        && !w.missing.is_empty()
    {
        return (
            Verdict::Fail(Reason::NotFoundBySearch.as_str()),
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

/// Looks each slot's trace up by id; a slot counts as found when the trace
/// holds every span that was sent and the root names the slot.
async fn find_by_id(
    tempo: &TempoClient,
    spec: &TraceSpec,
    phase: Phase,
    range: (u64, u64),
    slots: Vec<u64>,
    mismatched: &Mutex<BTreeMap<u64, Observation>>,
) -> Reads<u64> {
    let range = (phase == Phase::Confirm).then_some(range);
    let lookups = futures::stream::iter(slots)
        .map(|slot| async move {
            let expected = spec.expected(slot);
            let trace = tempo.trace_v1(expected.trace_id, range).await;
            (expected, trace)
        })
        .buffer_unordered(LOOKUP_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    Reads::of(lookups.into_iter().map(|(expected, trace)| {
        let slot = expected.slot;
        let seen = trace.map(|trace| match trace.map(|t| compare(&expected, &spec.run_id, &t)) {
            Some(None) => {
                mismatched.lock().expect("not poisoned").remove(&slot);
                true
            }
            Some(Some(Some(obs))) => {
                mismatched.lock().expect("not poisoned").insert(slot, obs);
                false
            }
            Some(Some(None)) | None => false,
        });
        (slot, seen)
    }))
}

/// Compares a trace read back with the one sent; `None` when it matches.
/// Ids derive from the seed, so a replayed seed also finds the earlier
/// run's spans under the same ids: only spans of this run count, and a
/// trace with none of them is not found yet rather than wrong.
fn compare(expected: &ExpectedTrace, run_id: &str, trace: &ReadTrace) -> Option<Option<Observation>> {
    let ours: Vec<_> = trace
        .spans
        .iter()
        .filter(|s| s.trace_id == expected.trace_id)
        .filter(|s| s.attributes.get("pillars.run").map(String::as_str) == Some(run_id))
        .collect();
    if ours.is_empty() {
        return Some(None);
    }
    let seen: HashSet<_> = ours.iter().map(|s| s.span_id).collect();
    let spans_found = expected.span_ids.iter().filter(|id| seen.contains(id)).count();
    let root = ours.iter().find(|s| s.span_id == expected.span_ids[0]);
    let problem = match root {
        Some(root) if root.attributes.get("pillars.seq").map(String::as_str) != Some(&expected.slot.to_string()) => {
            Some(format!(
                "root span has pillars.seq {:?}, expected {}",
                root.attributes.get("pillars.seq"),
                expected.slot
            ))
        }
        _ => None,
    };
    if spans_found == expected.span_ids.len() && problem.is_none() {
        return None;
    }
    Some(Some(Observation {
        slot: expected.slot,
        trace_id: expected.trace_id,
        spans_expected: expected.span_ids.len(),
        spans_found,
        problem,
    }))
}

/// One TraceQL search for the run's traces; the confirming phase adds a time
/// range so Tempo also searches backend blocks.
async fn find_by_search(
    tempo: &TempoClient,
    spec: &TraceSpec,
    query: &SpansetFilter,
    phase: Phase,
    range: (u64, u64),
    sent: u64,
    slots: Vec<u64>,
) -> Result<Vec<u64>, HttpError> {
    let range = (phase == Phase::Confirm).then_some(range);
    // The query matches every trace of the run, found or not.
    let limit = (sent as u32).saturating_mul(2).max(20);
    let hits = tempo.search(query, range, limit).await?;
    let ids: HashSet<TraceId> = hits.into_iter().map(|h| h.trace_id).collect();
    Ok(slots
        .into_iter()
        .filter(|&slot| ids.contains(&spec.expected(slot).trace_id))
        .collect())
}

fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}
