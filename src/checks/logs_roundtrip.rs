//! `logs.roundtrip`: N synthetic OTLP log records sent through the collector
//! are found in Loki, each exactly once, within the target's deadlines.
//!
//! The query selects the run's service both as Loki's OTLP endpoint indexes
//! it (`service_name="<svc>"`) and as `otelcol.exporter.loki` ends up with it
//! (`service_name="<namespace>/<svc>"`), then filters on the run marker in
//! the line; the slot is read back from the line
//! (`shared/reference/api/05-loki.md` §5.1–5.3).
//!
//! Uses: checks, emit::{otlp, log_records}, query::loki, measure.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::checks::roundtrip::{LookupEvidence, ingest_of, send_verdict, tally};
use crate::checks::{CheckCtx, Outcome, Pillar, Verdict};
use crate::emit::log_records::LogSpec;
use crate::emit::otlp::OtlpHttpEmitter;
use crate::measure::ingest_clock::{PollPlan, watch};
use crate::query::grafana::explore_link;
use crate::query::http::HttpError;
use crate::query::lang::logql::{LogQuery, Selector, Stage};
use crate::query::lang::{LangError, MatchOp, Matcher, regex_literal};
use crate::query::loki::LokiClient;
use crate::target::{Signal, Store};

/// Why `logs.roundtrip` did not pass, beside the round trips' shared
/// `rejected` (`roundtrip::send_verdict`), `not_found`, `read_failed` and
/// `unreachable` (`roundtrip::tally`).
#[derive(Debug, Clone, Copy)]
enum Reason {
    Duplicate,
    NotConfigured,
}

impl Reason {
    const fn as_str(self) -> &'static str {
        match self {
            Reason::Duplicate => "duplicate",
            Reason::NotConfigured => "not_configured",
        }
    }
}

const RECORDS_PER_BATCH: u64 = 100;

#[derive(Debug, Serialize)]
struct Evidence {
    seed: u64,
    run_id: String,
    service_name: String,
    collector: String,
    loki: String,
    logql: String,
    sent: u64,
    lookup: Option<LookupEvidence>,
    /// Slots read back more than once, with how often.
    duplicates: BTreeMap<u64, usize>,
    send_error: Option<String>,
    explore: Option<String>,
}

pub async fn run(ctx: &CheckCtx) -> Outcome {
    let (Some(collector), Some(loki)) = (ctx.target.otlp(Signal::Logs), ctx.loki()) else {
        return Outcome::new(
            Verdict::Skip(Reason::NotConfigured.as_str()),
            "the target names no OTLP logs endpoint or no Loki read endpoint",
        );
    };
    let spec = LogSpec {
        seed: ctx.seed,
        run_id: ctx.run_id.clone(),
        service_name: ctx.service_name("logs"),
    };
    let logql = match query(&spec.service_name, &spec.run_marker()) {
        Ok(q) => q,
        Err(e) => {
            return Outcome::new(
                Verdict::Error("bad_query"),
                format!("cannot build the log query for {}: {e}", spec.service_name),
            );
        }
    };
    let limits = &ctx.target.limits;
    let sent = ctx.settings.logs;
    let mut evidence = Evidence {
        seed: ctx.seed.0,
        run_id: ctx.run_id.clone(),
        service_name: spec.service_name.clone(),
        collector: collector.to_string(),
        loki: loki.base().to_string(),
        logql: logql.to_string(),
        sent: 0,
        lookup: None,
        duplicates: BTreeMap::new(),
        send_error: None,
        explore: ctx
            .target
            .grafana
            .as_ref()
            .map(|g| explore_link(g, Store::Loki, &logql.to_string()).to_string()),
    };

    let emitter = OtlpHttpEmitter::new(ctx.http.clone(), collector.clone(), limits.request_timeout);
    let first_sent = unix_now();
    let mut acked = Vec::with_capacity(sent as usize);
    let mut slot = 0;
    while slot < sent {
        let end = (slot + RECORDS_PER_BATCH).min(sent);
        match emitter
            .send(&spec.request(slot..end, unix_now().as_nanos() as u64))
            .await
        {
            Ok(ack) => acked.extend((slot..end).map(|s| (s, ack.at))),
            Err(err) => {
                evidence.sent = slot;
                evidence.send_error = Some(err.to_string());
                let summary = format!("sending log records {slot}..{end} failed: {err}");
                return Outcome::new(send_verdict(&err), summary).with_evidence(evidence);
            }
        }
        slot = end;
    }
    evidence.sent = sent;

    let range = (
        first_sent.saturating_sub(Duration::from_secs(300)).as_nanos() as u64,
        (unix_now() + Duration::from_secs(60)).as_nanos() as u64,
    );
    let seen = Mutex::new(BTreeMap::<u64, usize>::new());
    let plan = PollPlan::new(Duration::ZERO, limits.wait, limits.max_wait);
    let limit = (sent * 2).clamp(100, 5000) as u32;
    let watched = watch(&plan, acked, |_, slots| {
        find(&loki, &spec, &logql, range, limit, slots, &seen)
    })
    .await;

    let id_of = |slot: u64| spec.body(slot);
    ctx.ledger.record(Pillar::Logs, ingest_of(sent, &watched, id_of));
    evidence.lookup = Some(LookupEvidence::new(&watched, id_of));
    evidence.duplicates = seen
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .collect();

    let (verdict, summary) = if watched.missing.is_empty() && !evidence.duplicates.is_empty() {
        (
            Verdict::Fail(Reason::Duplicate.as_str()),
            format!("{} log lines came back more than once", evidence.duplicates.len()),
        )
    } else {
        tally(&watched, sent, "log lines", "Loki")
    };
    Outcome::new(verdict, summary)
        .with_evidence(evidence)
        .with_latency("logs", &watched.histogram)
}

/// The run's lines, whichever pipeline wrote them: Loki's OTLP endpoint
/// indexes `service_name="<svc>"`, `otelcol.exporter.loki` ends up with
/// `service_name="<namespace>/<svc>"`; then the run marker in the line.
pub fn query(service: &str, run_marker: &str) -> Result<LogQuery, LangError> {
    let selector = Selector::new(vec![Matcher::new(
        "service_name",
        MatchOp::Re,
        format!("(.+/)?{}", regex_literal(service)),
    )?])?;
    Ok(LogQuery::new(selector).then(Stage::Contains(run_marker.to_owned())))
}

/// One query for the run's lines; returns the pending slots it found and
/// counts how often each slot came back.
async fn find(
    loki: &LokiClient,
    spec: &LogSpec,
    logql: &LogQuery,
    range: (u64, u64),
    limit: u32,
    pending: Vec<u64>,
    seen: &Mutex<BTreeMap<u64, usize>>,
) -> Result<Vec<u64>, HttpError> {
    let lines = loki.query_range(logql, range, limit).await?;
    let mut counts = BTreeMap::<u64, usize>::new();
    for line in &lines {
        if let Some(slot) = spec.slot_of(&line.line) {
            *counts.entry(slot).or_default() += 1;
        }
    }
    let found: HashSet<u64> = counts.keys().copied().collect();
    seen.lock().expect("not poisoned").extend(counts);
    Ok(pending.into_iter().filter(|s| found.contains(s)).collect())
}

fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}
