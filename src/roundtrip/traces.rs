//! The traces round trip: N synthetic backend traces sent over OTLP (HTTP
//! or gRPC),
//! read back from Tempo by id and, separately, by TraceQL search.
//!
//! Expected traces are rebuilt from the run seed (`emit::synthetic`), so a
//! trace read back is compared with what was sent: every span id must be
//! there and the root span must carry the slot's `pillars.seq`. By-id lookups
//! start at once (Tempo serves live traces); search waits for the readiness
//! guard, since Tempo only searches flushed traces
//! (`shared/reference/api/03-tempo.md` §3.4). Both run side by side.
//!
//! Uses: check, roundtrip::{lookup, send}, emit::{otlp, synthetic, template},
//! query::{tempo, lang}, measure::ingest_clock.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;

use crate::check::ledger::PillarIngest;
use crate::check::spec::Budget;
use crate::check::{CheckCtx, CheckSettings, Outcome, Pillar, TraceLookup};
use crate::clock::unix_now;
use crate::emit::otlp::EmitError;
use crate::emit::synthetic::{ExpectedTrace, TraceSpec};
use crate::emit::template::TraceBatchTemplate;
use crate::http::HttpError;
use crate::ids::TraceId;
use crate::measure::ingest_clock::{Phase, PollPlan, Reads, Watched, watch};
use crate::query::grafana::explore_link;
use crate::query::lang::LangError;
use crate::query::lang::traceql::{Scope, SpansetFilter};
use crate::query::tempo::{ReadTrace, TempoClient};
use crate::roundtrip::lookup::{LISTED, LookupEvidence, ingest_of};
use crate::roundtrip::send::{self, Over, SendFailed, send_verdict};
use crate::target::{Signal, Store, Transport};

/// Traces per export request.
const TRACES_PER_BATCH: u64 = 50;
/// By-id lookups in flight at once.
const LOOKUP_CONCURRENCY: usize = 8;

/// What the traces round trip sends and how it reads back.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub traces: u64,
    pub spans_per_trace: u32,
    pub lookup: TraceLookup,
    /// The leg's transport; the run's first when `None`.
    pub over: Option<Over>,
}

impl Settings {
    pub(crate) fn of(settings: &CheckSettings) -> Settings {
        Settings {
            traces: settings.traces,
            spans_per_trace: settings.spans_per_trace,
            lookup: settings.trace_lookup,
            over: None,
        }
    }
}

/// Its batches one after another, then both lookups side by side.
pub(crate) fn budget(settings: &Settings) -> Budget {
    Budget {
        max_waits: 1,
        ..Budget::requests(send::batches(settings.traces, TRACES_PER_BATCH))
    }
}

/// The TraceQL search that finds the run's traces.
pub fn traceql(service: &str, run_id: &str) -> Result<SpansetFilter, LangError> {
    SpansetFilter::all()
        .and(Scope::Resource, "service.name", service)?
        .and(Scope::Span, "pillars.run", run_id)
}

/// A trace read by id that was not the one sent.
#[derive(Debug, Serialize, Clone)]
pub(crate) struct Observation {
    pub slot: u64,
    trace_id: TraceId,
    spans_expected: usize,
    spans_found: usize,
    /// What did not match, when the spans were there but wrong.
    pub problem: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Evidence {
    seed: u64,
    run_id: String,
    service_name: String,
    transport: Transport,
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

/// What the round trip measured, for `traces.roundtrip` to judge.
pub(crate) struct Traces {
    pub evidence: Evidence,
    pub sent: u64,
    pub by_id: Option<Watched<u64>>,
    pub search: Option<Watched<u64>>,
    /// Every trace read by id that did not match what was sent.
    pub mismatched: Vec<Observation>,
    /// What it recorded in the run's ledger.
    pub ingest: PillarIngest,
}

/// Sends the traces and reads them back; `Err` is the outcome of a round
/// trip that could not read back (not configured, a query it cannot
/// build, a send that failed).
pub(crate) async fn round_trip(ctx: &CheckCtx, settings: &Settings) -> Result<Traces, Outcome> {
    let over = settings.over.unwrap_or_else(|| Over::first(ctx, Signal::Traces));
    let emitter = over.emitter(ctx, Signal::Traces, "Tempo")?;
    let Some(tempo) = ctx.tempo() else {
        return Err(Outcome::not_configured("the target names no Tempo read endpoint"));
    };
    let spec = TraceSpec {
        seed: over.seed(ctx),
        run_id: over.run_id(ctx),
        service_name: over.service_name(ctx, "traces"),
        spans_per_trace: settings.spans_per_trace.max(1),
    };
    let limits = &ctx.target.limits;
    let search_query = traceql(&spec.service_name, &spec.run_id)
        .map_err(|e| Outcome::bad_query(format_args!("the TraceQL search for {}", spec.service_name), e))?;
    let mut evidence = Evidence {
        seed: spec.seed.0,
        run_id: spec.run_id.clone(),
        service_name: spec.service_name.clone(),
        transport: over.transport,
        collector: emitter.endpoint().to_string(),
        tempo: tempo.base().to_string(),
        lookup: settings.lookup,
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
    let sent = settings.traces;
    let first_sent_unix = unix_now().as_secs();
    let full = TraceBatchTemplate::new(&spec, TRACES_PER_BATCH.min(sent));
    let rest = sent % full.traces().max(1);
    let last = (rest != 0).then(|| TraceBatchTemplate::new(&spec, rest));
    let acked = send::in_batches(sent, full.traces(), |slots| {
        let template = match &last {
            Some(last) if slots.end - slots.start < full.traces() => last,
            _ => &full,
        };
        let mut body = Vec::new();
        template.fill(slots.start, unix_now().as_nanos() as u64, &mut body);
        emitter.send_encoded(body.into())
    })
    .await;
    let acked = match acked {
        Ok(acked) => acked,
        Err(SendFailed { slots, err }) => {
            let summary = match &err {
                EmitError::Rejected { rejected, .. } => format!(
                    "the collector rejected {rejected} span(s) of traces {}..{}",
                    slots.start, slots.end
                ),
                _ => format!("sending traces {}..{} failed: {err}", slots.start, slots.end),
            };
            evidence.sent = slots.start;
            evidence.send_error = Some(err.to_string());
            return Err(Outcome::new(send_verdict(&err), summary).with_evidence(evidence));
        }
    };
    evidence.sent = sent;

    let range = (first_sent_unix.saturating_sub(60), unix_now().as_secs() + 60);
    let mismatched = Mutex::new(BTreeMap::<u64, Observation>::new());
    let by_id_plan = PollPlan::new(Duration::ZERO, limits.wait, limits.max_wait);
    let search_plan = PollPlan::new(limits.search_ready_after, limits.wait, limits.max_wait);
    let lookup = settings.lookup;

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
                find_by_search(&tempo, &spec, &search_query, phase, range, sent, slots)
            })
            .await,
        )
    };
    let (by_id, search) = tokio::join!(by_id, search);

    let mismatched: Vec<Observation> = mismatched.into_inner().unwrap_or_default().into_values().collect();
    let id_of = |slot: u64| spec.expected(slot).trace_id.to_string();
    evidence.by_id = by_id.as_ref().map(|w| LookupEvidence::new(w, id_of));
    evidence.search = search.as_ref().map(|w| LookupEvidence::new(w, id_of));
    evidence.mismatched = mismatched.iter().take(LISTED).cloned().collect();
    let watched = by_id.as_ref().or(search.as_ref());
    let ingest = watched.map(|w| ingest_of(sent, w, id_of)).unwrap_or_default();
    if over.primary {
        ctx.ledger.record(Pillar::Traces, ingest.clone());
    }
    Ok(Traces {
        evidence,
        sent,
        by_id,
        search,
        mismatched,
        ingest,
    })
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
