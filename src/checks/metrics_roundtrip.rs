//! `metrics.roundtrip`: N synthetic gauge series sent over OTLP through the
//! collector are found in Mimir with the values that were sent.
//!
//! One series per slot, `pillars_roundtrip_marker{pillars_run, pillars_seq}`
//! (Mimir's default OTLP naming, `shared/reference/api/04-mimir.md` §4.3);
//! each value derives from the seed, so a series that comes back with
//! another value is an incorrect result, not a found one.
//!
//! Uses: checks, emit::{otlp, metric_points}, query::mimir, measure.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::checks::roundtrip::{LISTED, LookupEvidence, ingest_of, send_verdict, tally, undecided};
use crate::checks::{CheckCtx, Outcome, Pillar, Verdict};
use crate::emit::metric_points::{HISTOGRAM_PROMETHEUS_NAME, MetricSpec, PROMETHEUS_NAME};
use crate::emit::otlp::OtlpHttpEmitter;
use crate::measure::ingest_clock::{PollPlan, watch};
use crate::query::grafana::explore_link;
use crate::query::http::HttpError;
use crate::query::lang::promql::{Expr, Selector};
use crate::query::lang::{LangError, Matcher};
use crate::query::mimir::MimirClient;
use crate::target::{Signal, Store};

/// Why `metrics.roundtrip` did not pass, beside the round trips' shared
/// `rejected` (`roundtrip::send_verdict`), `not_found`, `read_failed` and
/// `unreachable` (`roundtrip::tally`).
#[derive(Debug, Clone, Copy)]
enum Reason {
    IncorrectResult,
    MissingExemplars,
    NotConfigured,
}

impl Reason {
    const fn as_str(self) -> &'static str {
        match self {
            Reason::IncorrectResult => "incorrect_result",
            Reason::MissingExemplars => "missing_exemplars",
            Reason::NotConfigured => "not_configured",
        }
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

#[derive(Debug, Serialize, Clone)]
struct WrongValue {
    slot: u64,
    expected: f64,
    got: f64,
}

#[derive(Debug, Serialize)]
struct Evidence {
    seed: u64,
    run_id: String,
    service_name: String,
    collector: String,
    mimir: String,
    promql: String,
    sent: u64,
    lookup: Option<LookupEvidence>,
    wrong_values: Vec<WrongValue>,
    /// The histogram's exemplar: where it was looked for and what came back.
    exemplar_query: String,
    exemplar_trace_id: String,
    exemplar: Option<LookupEvidence>,
    exemplar_labels_seen: Vec<String>,
    send_error: Option<String>,
    explore: Option<String>,
}

pub async fn run(ctx: &CheckCtx) -> Outcome {
    let (Some(collector), Some(mimir)) = (ctx.target.otlp(Signal::Metrics), ctx.mimir()) else {
        return Outcome::new(
            Verdict::Skip(Reason::NotConfigured.as_str()),
            "the target names no OTLP metrics endpoint or no Mimir read endpoint",
        );
    };
    let spec = MetricSpec {
        seed: ctx.seed,
        run_id: ctx.run_id.clone(),
        service_name: ctx.service_name("metrics"),
    };
    let (promql, histogram) = match (series_selector(&spec.run_id), histogram_selector(&spec.run_id)) {
        (Ok(series), Ok(histogram)) => (Expr::from(series), histogram),
        (Err(e), _) | (_, Err(e)) => {
            return Outcome::new(
                Verdict::Error("bad_query"),
                format!("cannot build the metric queries for run {}: {e}", spec.run_id),
            );
        }
    };
    let limits = &ctx.target.limits;
    let sent = ctx.settings.metrics;
    let mut evidence = Evidence {
        seed: ctx.seed.0,
        run_id: ctx.run_id.clone(),
        service_name: spec.service_name.clone(),
        collector: collector.to_string(),
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

    let emitter = OtlpHttpEmitter::new(ctx.http.clone(), collector.clone(), limits.request_timeout);
    let acked = match emitter.send(&spec.request(0..sent, unix_now().as_nanos() as u64)).await {
        Ok(ack) => (0..sent).map(|s| (s, ack.at)).collect::<Vec<_>>(),
        Err(err) => {
            evidence.send_error = Some(err.to_string());
            let summary = format!("sending {sent} metric points failed: {err}");
            return Outcome::new(send_verdict(&err), summary).with_evidence(evidence);
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
    ctx.ledger.record(Pillar::Metrics, ingest_of(sent, &watched, id_of));
    evidence.lookup = Some(LookupEvidence::new(&watched, id_of));
    let wrong: Vec<WrongValue> = wrong.into_inner().unwrap_or_default().into_values().collect();
    evidence.wrong_values = wrong.iter().take(LISTED).cloned().collect();

    let (verdict, summary) = if !wrong.is_empty() {
        (
            Verdict::Fail(Reason::IncorrectResult.as_str()),
            format!(
                "{} of {sent} series came back with another value than was sent",
                wrong.len()
            ),
        )
    } else if !watched.missing.is_empty() || !watched.undecided.is_empty() {
        tally(&watched, sent, "metric series", "Mimir")
    } else if !exemplar.missing.is_empty() {
        (
            Verdict::Fail(Reason::MissingExemplars.as_str()),
            format!(
                "the histogram's exemplar (trace_id {}) is not in Mimir's query_exemplars; are exemplars enabled (max_global_exemplars_per_user)?",
                spec.exemplar_context().0
            ),
        )
    } else if let Some(verdict) = undecided(&exemplar, "histogram's exemplar") {
        verdict
    } else {
        tally(&watched, sent, "metric series", "Mimir")
    };
    Outcome::new(verdict, summary)
        .with_evidence(evidence)
        .with_latency("metrics", &watched.histogram)
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

fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}
