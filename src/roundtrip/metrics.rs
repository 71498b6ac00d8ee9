//! The metrics round trip: N synthetic gauge series sent over OTLP through
//! the collector, read back from Mimir with their values, and the latency
//! histogram's exemplar read back beside them.
//!
//! One series per slot, `pillars_roundtrip_marker{pillars_run, pillars_seq}`
//! (Mimir's default OTLP naming, `shared/reference/api/04-mimir.md` §4.3);
//! each value derives from the seed, so a series that comes back with
//! another value is a wrong value, not a found one.
//!
//! Uses: check, roundtrip::{lookup, send}, emit::{otlp, metric_points},
//! query::{mimir, lang}, measure::ingest_clock.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use crate::check::ledger::PillarIngest;
use crate::check::spec::Budget;
use crate::check::{CheckCtx, CheckSettings, Outcome, Pillar};
use crate::clock::unix_now;
use crate::emit::metric_points::{HISTOGRAM_PROMETHEUS_NAME, MetricSpec, PROMETHEUS_NAME};
use crate::http::HttpError;
use crate::measure::ingest_clock::{PollPlan, Watched, watch};
use crate::query::grafana::explore_link;
use crate::query::lang::promql::{Expr, Selector};
use crate::query::lang::{LangError, Matcher};
use crate::query::mimir::MimirClient;
use crate::roundtrip::lookup::{LISTED, LookupEvidence, ingest_of};
use crate::roundtrip::send::{Over, send_verdict};
use crate::target::{Signal, Store, Transport};

/// What the metrics round trip sends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub series: u64,
    /// The leg's transport; the run's first when `None`.
    pub over: Option<Over>,
}

impl Settings {
    pub(crate) fn of(settings: &CheckSettings) -> Settings {
        Settings {
            series: settings.metrics,
            over: None,
        }
    }
}

/// One export request, then the series and the exemplar side by side.
pub(crate) fn budget(_: &Settings) -> Budget {
    Budget {
        max_waits: 1,
        ..Budget::requests(1)
    }
}

/// The run's marker series (Mimir's default OTLP naming).
pub fn series_selector(run_id: &str) -> Result<Selector, LangError> {
    Selector::metric(PROMETHEUS_NAME, vec![Matcher::eq("pillars_run", run_id)?])
}

/// One slot's series, as evidence names it.
pub fn slot_selector(run_id: &str, slot: u64) -> Result<Selector, LangError> {
    Ok(series_selector(run_id)?.and(Matcher::eq("pillars_seq", slot.to_string())?))
}

/// The buckets of the run's latency histogram, whose exemplar is read back.
pub fn histogram_selector(run_id: &str) -> Result<Selector, LangError> {
    Selector::metric(
        &format!("{HISTOGRAM_PROMETHEUS_NAME}_bucket"),
        vec![Matcher::eq("pillars_run", run_id)?],
    )
}

/// A series that came back with another value than was sent.
#[derive(Debug, Serialize, Clone)]
pub(crate) struct WrongValue {
    slot: u64,
    expected: f64,
    got: f64,
}

#[derive(Debug, Serialize)]
pub(crate) struct Evidence {
    seed: u64,
    run_id: String,
    service_name: String,
    transport: Transport,
    collector: String,
    mimir: String,
    promql: String,
    sent: u64,
    lookup: Option<LookupEvidence>,
    wrong_values: Vec<WrongValue>,
    /// The histogram's exemplar: where it was looked for and what came back.
    exemplar_query: String,
    pub exemplar_trace_id: String,
    exemplar: Option<LookupEvidence>,
    exemplar_labels_seen: Vec<String>,
    send_error: Option<String>,
    explore: Option<String>,
}

/// What the round trip measured, for `metrics.roundtrip` to judge.
pub(crate) struct Metrics {
    pub evidence: Evidence,
    pub sent: u64,
    /// The series, by slot.
    pub watched: Watched<u64>,
    /// The histogram's exemplar, as slot 0.
    pub exemplar: Watched<u64>,
    /// Every series that came back with another value.
    pub wrong: Vec<WrongValue>,
    /// What it recorded in the run's ledger.
    pub ingest: PillarIngest,
}

/// Sends the series and reads them back; `Err` is the outcome of a round
/// trip that could not read back.
pub(crate) async fn round_trip(ctx: &CheckCtx, settings: &Settings) -> Result<Metrics, Outcome> {
    let over = settings.over.unwrap_or_else(|| Over::first(ctx, Signal::Metrics));
    let emitter = over.emitter(ctx, Signal::Metrics, "Mimir")?;
    let Some(mimir) = ctx.mimir() else {
        return Err(Outcome::not_configured("the target names no Mimir read endpoint"));
    };
    let spec = MetricSpec {
        seed: over.seed(ctx),
        run_id: over.run_id(ctx),
        service_name: over.service_name(ctx, "metrics"),
    };
    let (promql, histogram) = match (series_selector(&spec.run_id), histogram_selector(&spec.run_id)) {
        (Ok(series), Ok(histogram)) => (Expr::from(series), histogram),
        (Err(e), _) | (_, Err(e)) => {
            return Err(Outcome::bad_query(
                format_args!("the metric queries for run {}", spec.run_id),
                e,
            ));
        }
    };
    let limits = &ctx.target.limits;
    let sent = settings.series;
    let mut evidence = Evidence {
        seed: spec.seed.0,
        run_id: spec.run_id.clone(),
        service_name: spec.service_name.clone(),
        transport: over.transport,
        collector: emitter.endpoint().to_string(),
        mimir: mimir.base().to_string(),
        promql: promql.to_string(),
        sent: 0,
        lookup: None,
        wrong_values: Vec::new(),
        exemplar_query: histogram.to_string(),
        exemplar_trace_id: spec.exemplar_context().0.to_string(),
        exemplar: None,
        exemplar_labels_seen: Vec::new(),
        send_error: None,
        explore: ctx
            .target
            .grafana
            .as_ref()
            .map(|g| explore_link(g, Store::Mimir, &promql.to_string()).to_string()),
    };

    let acked = match emitter.send(&spec.request(0..sent, unix_now().as_nanos() as u64)).await {
        Ok(ack) => (0..sent).map(|s| (s, ack.at)).collect::<Vec<_>>(),
        Err(err) => {
            evidence.send_error = Some(err.to_string());
            let summary = format!("sending {sent} metric points failed: {err}");
            return Err(Outcome::new(send_verdict(&err), summary).with_evidence(evidence));
        }
    };
    evidence.sent = sent;

    let wrong = Mutex::new(BTreeMap::<u64, WrongValue>::new());
    let plan = PollPlan::new(Duration::ZERO, limits.wait, limits.max_wait);
    let exemplar_ack = acked.first().map(|(_, at)| vec![(0u64, *at)]).unwrap_or_default();
    let label_names = Mutex::new(Vec::<String>::new());
    let sent_at = unix_now().as_secs_f64();
    let series = watch(&plan, acked, |_, slots| find(&mimir, &spec, &promql, slots, &wrong));
    let exemplar = watch(&plan, exemplar_ack, |_, _| {
        find_exemplar(
            &mimir,
            &spec,
            &histogram,
            (sent_at - 600.0, sent_at + 600.0),
            &label_names,
        )
    });
    let (watched, exemplar) = tokio::join!(series, exemplar);
    evidence.exemplar = Some(LookupEvidence::new(&exemplar, |_| {
        spec.exemplar_context().0.to_string()
    }));
    evidence.exemplar_labels_seen = label_names.into_inner().unwrap_or_default();
    let id_of = |slot: u64| {
        slot_selector(&spec.run_id, slot)
            .map(|s| s.to_string())
            .unwrap_or_else(|_| format!("slot {slot}"))
    };
    let ingest = ingest_of(sent, &watched, id_of);
    if over.primary {
        ctx.ledger.record(Pillar::Metrics, ingest.clone());
    }
    evidence.lookup = Some(LookupEvidence::new(&watched, id_of));
    let wrong: Vec<WrongValue> = wrong.into_inner().unwrap_or_default().into_values().collect();
    evidence.wrong_values = wrong.iter().take(LISTED).cloned().collect();
    Ok(Metrics {
        evidence,
        sent,
        watched,
        exemplar,
        wrong,
        ingest,
    })
}

/// One instant query for the run's series; a slot is found when its series
/// carries the value that was sent.
async fn find(
    mimir: &MimirClient,
    spec: &MetricSpec,
    promql: &Expr,
    pending: Vec<u64>,
    wrong: &Mutex<BTreeMap<u64, WrongValue>>,
) -> Result<Vec<u64>, HttpError> {
    let samples = mimir.query(promql, unix_now().as_secs_f64()).await?;
    let mut found = Vec::new();
    for sample in samples {
        let Some(slot) = sample.labels.get("pillars_seq").and_then(|s| s.parse::<u64>().ok()) else {
            continue;
        };
        if !pending.contains(&slot) {
            continue;
        }
        let expected = spec.value(slot);
        let mut wrong = wrong.lock().expect("not poisoned");
        if sample.value == expected {
            wrong.remove(&slot);
            found.push(slot);
        } else {
            wrong.insert(
                slot,
                WrongValue {
                    slot,
                    expected,
                    got: sample.value,
                },
            );
        }
    }
    Ok(found)
}

/// The run's exemplar, by the trace id it carries under any label name.
async fn find_exemplar(
    mimir: &MimirClient,
    spec: &MetricSpec,
    histogram: &Selector,
    range: (f64, f64),
    label_names: &Mutex<Vec<String>>,
) -> Result<Vec<u64>, HttpError> {
    let series = mimir.query_exemplars(histogram, range).await?;
    let want = spec.exemplar_context().0.to_string();
    let mut names: Vec<String> = series
        .iter()
        .flat_map(|s| s.exemplars.iter().flat_map(|e| e.labels.keys().cloned()))
        .collect();
    names.sort();
    names.dedup();
    *label_names.lock().expect("not poisoned") = names;
    let found = series
        .iter()
        .flat_map(|s| &s.exemplars)
        .any(|e| e.labels.values().any(|v| *v == want));
    Ok(if found { vec![0] } else { Vec::new() })
}
