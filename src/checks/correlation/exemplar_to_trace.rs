//! `correlation.exemplar_to_trace`: exemplars of the backend's latency
//! histogram, read under the label name the Mimir datasource's
//! `exemplarTraceIdDestinations` names, resolve to traces in Tempo — the
//! link a person clicks on an exemplar dot in Grafana.
//!
//! OTLP → Mimir exemplars carry `trace_id`; Tempo's metrics generator writes
//! `traceID` (`shared/reference/api/04-mimir.md` §4.2), so a destination
//! named for the wrong one is a dead link, and the outcome says which.
//!
//! Uses: check, correlation::{session, settings, links}, roundtrip::lookup,
//! query::{mimir, tempo, lang}, measure.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use crate::check::reason::reasons;
use crate::check::spec::Budget;
use crate::check::{CheckCtx, CheckSettings, Outcome, Pillar, Verdict};
use crate::clock::unix_now;
use crate::correlation::links::{ExemplarDestination, exemplar_destinations};
use crate::correlation::session::{self, drive};
use crate::correlation::settings;
use crate::correlation::waterfall::Waterfall;
use crate::http::HttpError;
use crate::ids::TraceId;
use crate::measure::ingest_clock::{PollPlan, watch};
use crate::query::lang::promql::Selector;
use crate::query::lang::{LangError, MatchOp, Matcher, regex_literal};
use crate::roundtrip::lookup::{undecided, undecided_read};
use crate::target::Store;
use crate::wait::{Looked, read_until};

reasons! {
    /// Why the check did not pass, beside the shared reasons; reads that
    /// all failed are `read_failed` or `unreachable`.
    pub enum Reason {
        NoDestination,
        NoExemplars,
        WrongLabel,
        Unresolved,
    }
}

/// The settings, the sessions, one poll of the exemplars, then a `wait`
/// for each session's trace in Tempo, one after another.
pub(crate) fn budget(settings: &CheckSettings) -> Budget {
    Budget::requests(1).then(session::drive_budget(settings)).then(Budget {
        max_waits: 1,
        waits: settings.correlation_sessions as u32,
        ..Budget::default()
    })
}

/// The buckets of the backend's latency histogram, whichever job name its
/// pipeline gives it (`<service>` or `<namespace>/<service>`).
pub fn query(backend_service: &str) -> Result<Selector, LangError> {
    Selector::metric(
        "http_request_duration_seconds_bucket",
        vec![Matcher::new(
            "job",
            MatchOp::Re,
            format!("(.+/)?{}", regex_literal(backend_service)),
        )?],
    )
}

#[derive(Debug, Default, Serialize)]
struct Evidence {
    settings_from: String,
    destinations: Vec<ExemplarDestination>,
    query: String,
    exemplars_seen: usize,
    /// Label names present on the exemplars of this run's requests.
    label_names: BTreeSet<String>,
    /// Trace ids read under the configured label, and whether Tempo has them.
    resolved: Vec<(String, bool)>,
    resolved_ratio: f64,
    error: Option<String>,
    /// The first resolved trace, with its exemplar beside the span.
    waterfall: Option<Waterfall>,
}

pub async fn run(ctx: &CheckCtx) -> Outcome {
    let clients = ctx.mimir().zip(ctx.tempo());
    let ((mimir, tempo), settings) =
        match settings::start(ctx, clients, "the target names no Mimir or no Tempo read endpoint").await {
            Ok(started) => started,
            Err(outcome) => return outcome,
        };
    let selector = match query(&ctx.target.backend_service) {
        Ok(s) => s,
        Err(e) => {
            let what = format!("the exemplar query for `{}`", ctx.target.backend_service);
            return Outcome::bad_query(what, e);
        }
    };
    let mut evidence = Evidence {
        settings_from: settings.source.clone(),
        query: selector.to_string(),
        ..Evidence::default()
    };
    let tempo_uid = settings
        .of(ctx, Store::Tempo)
        .map(|d| d.uid.clone())
        .unwrap_or_default();
    evidence.destinations = settings
        .of(ctx, Store::Mimir)
        .map(|d| exemplar_destinations(&d.json_data))
        .unwrap_or_default();
    // Grafana links an exemplar through every destination whose label it
    // carries: any of them will do.
    let labels: Vec<String> = evidence
        .destinations
        .iter()
        .filter(|d| d.datasource_uid == tempo_uid)
        .map(|d| d.name.clone())
        .fold(Vec::new(), |mut names, name| {
            if !names.contains(&name) {
                names.push(name);
            }
            names
        });
    if labels.is_empty() {
        let summary =
            format!("the Mimir datasource has no exemplarTraceIdDestinations entry pointing at Tempo ({tempo_uid})");
        return Outcome::new(Verdict::fail(Reason::NoDestination), summary).with_evidence(evidence);
    }
    let read = |k: &String| labels.contains(k);
    let label = labels.iter().map(|l| format!("`{l}`")).collect::<Vec<_>>().join(" or ");

    let (_, driven) = match drive(ctx, "correlation.exemplar_to_trace").await {
        Ok(d) => d,
        Err(outcome) => return outcome,
    };
    let ours: BTreeSet<String> = driven.iter().map(|d| d.session.trace_id.to_string()).collect();
    let now = unix_now().as_secs_f64();
    let range = (now - 600.0, now + 60.0);
    let limits = &ctx.target.limits;
    let plan = PollPlan::new(Duration::ZERO, limits.wait, limits.max_wait);
    let acked = driven.iter().map(|d| (d.session.slot, d.acked)).collect();
    // slot -> the label names on that session's exemplar.
    let seen = Mutex::new(Vec::<(u64, Vec<(String, String)>)>::new());
    let (query, driven_ref, seen_ref, mimir_ref) = (&selector, &driven, &seen, &mimir);
    let watched = watch(&plan, acked, move |_, pending: Vec<u64>| async move {
        let (driven, seen) = (driven_ref, seen_ref);
        let series = mimir_ref.query_exemplars(query, range).await?;
        let mut found = Vec::new();
        let mut all = Vec::new();
        for e in series.iter().flat_map(|s| &s.exemplars) {
            let labels: Vec<(String, String)> = e.labels.clone().into_iter().collect();
            if let Some(d) = driven
                .iter()
                .find(|d| e.labels.values().any(|v| *v == d.session.trace_id.to_string()))
            {
                all.push((d.session.slot, labels));
                if pending.contains(&d.session.slot) {
                    found.push(d.session.slot);
                }
            }
        }
        seen.lock().expect("not poisoned").extend(all);
        Ok::<_, HttpError>(found)
    })
    .await;
    let seen = seen.into_inner().unwrap_or_default();
    evidence.exemplars_seen = seen.len();
    evidence.label_names = seen
        .iter()
        .flat_map(|(_, l)| l.iter().map(|(k, _)| k.clone()))
        .collect();
    evidence.error = watched.last_error.as_ref().map(|e| e.to_string());
    if seen.is_empty() {
        if let Some((verdict, summary)) = undecided(&watched, "exemplars") {
            return Outcome::new(verdict, summary).with_evidence(evidence);
        }
        let summary = format!(
            "no exemplar of this run's {} requests reached Mimir ({})",
            driven.len(),
            evidence.query
        );
        return Outcome::new(Verdict::fail(Reason::NoExemplars), summary).with_evidence(evidence);
    }
    let under_label: BTreeSet<String> = seen
        .iter()
        .flat_map(|(_, carried)| carried.iter().filter(|(k, _)| read(k)).map(|(_, v)| v.clone()))
        .filter(|v| ours.contains(v))
        .collect();
    if under_label.is_empty() {
        let carried: Vec<String> = evidence.label_names.iter().map(|n| format!("`{n}`")).collect();
        let summary = format!(
            "exemplars carry {}, the Mimir datasource looks for {label}",
            carried.join(", ")
        );
        return Outcome::new(Verdict::fail(Reason::WrongLabel), summary).with_evidence(evidence);
    }
    // The trace may still be on its way to Tempo (collector batching), so
    // each id gets the target's wait.
    // Spans of an earlier run with the same seed share the ids: only
    // those that started after this run's first call are drawn.
    let since = driven.iter().map(|d| d.started_unix_nanos).min().unwrap_or(0);
    for id in &under_label {
        let Ok(trace_id) = id.parse::<TraceId>() else {
            evidence.resolved.push((id.clone(), false));
            continue;
        };
        let resolved = read_until(limits.wait, || async { tempo.trace_v1(trace_id, None).await }).await;
        if let Some((verdict, summary)) = undecided_read(&resolved, &format!("trace {id} from Tempo")) {
            return Outcome::new(verdict, summary).with_evidence(evidence);
        }
        let Looked::Found(trace) = resolved else {
            evidence.resolved.push((id.clone(), false));
            continue;
        };
        evidence.resolved.push((id.clone(), true));
        if evidence.waterfall.is_none() {
            let spans: Vec<_> = trace
                .spans
                .into_iter()
                .filter(|s| s.start_unix_nanos + session::CLOCK_SKEW_NANOS >= since)
                .collect();
            let labels = seen
                .iter()
                .flat_map(|(_, l)| l)
                .filter(|(k, v)| read(k) && v == id)
                .count();
            // The exemplar names its span where the pipeline keeps it;
            // otherwise it belongs to the backend's server span.
            let exemplar_span = seen
                .iter()
                .find(|(_, l)| l.iter().any(|(k, v)| read(k) && v == id))
                .and_then(|(_, l)| l.iter().find(|(k, _)| k == "span_id" || k == "spanID"))
                .map(|(_, v)| v.clone());
            let backend = ctx.target.backend_service.as_str();
            let at = exemplar_span.or_else(|| {
                spans
                    .iter()
                    .find(|s| s.service_name.as_deref() == Some(backend) && s.kind == "SPAN_KIND_SERVER")
                    .map(|s| s.span_id.to_string())
            });
            let grafana = ctx.target.grafana.as_ref();
            let mut waterfall = Waterfall::of(trace_id, &spans, grafana);
            if let Some(at) = at {
                waterfall = waterfall.found(
                    at,
                    Pillar::Metrics,
                    format!("{labels} exemplar(s) of {} with {label} = this trace", evidence.query),
                    grafana.map(|g| (g, Store::Mimir, evidence.query.as_str())),
                );
            }
            evidence.waterfall = Some(waterfall);
        }
    }
    let resolved = evidence.resolved.iter().filter(|(_, r)| *r).count();
    evidence.resolved_ratio = resolved as f64 / evidence.resolved.len() as f64;
    if resolved < evidence.resolved.len() {
        let summary = format!(
            "{resolved}/{} exemplar trace ids resolve in Tempo",
            evidence.resolved.len()
        );
        return Outcome::new(Verdict::fail(Reason::Unresolved), summary).with_evidence(evidence);
    }
    let summary = format!("{resolved}/{resolved} exemplars read under {label} resolve to traces in Tempo");
    Outcome::new(Verdict::Pass, summary).with_evidence(evidence)
}
