//! The logs round trip: N synthetic OTLP log records sent through the
//! collector, read back from Loki, counting how often each came back.
//!
//! The query selects the run's service both as Loki's OTLP endpoint indexes
//! it (`service_name="<svc>"`) and as `otelcol.exporter.loki` ends up with it
//! (`service_name="<namespace>/<svc>"`), then filters on the run marker in
//! the line; the slot is read back from the line
//! (`shared/reference/api/05-loki.md` §5.1–5.3).
//!
//! Uses: check, roundtrip::{lookup, send}, emit::{otlp, log_records},
//! query::{loki, lang}, measure::ingest_clock.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use crate::check::ledger::PillarIngest;
use crate::check::spec::Budget;
use crate::check::{CheckCtx, CheckSettings, Outcome, Pillar};
use crate::clock::unix_now;
use crate::emit::log_records::LogSpec;
use crate::http::HttpError;
use crate::measure::ingest_clock::{PollPlan, Watched, watch};
use crate::query::grafana::explore_link;
use crate::query::lang::logql::{LogQuery, Selector, Stage};
use crate::query::lang::{LangError, MatchOp, Matcher, regex_literal};
use crate::query::loki::LokiClient;
use crate::roundtrip::lookup::{LookupEvidence, ingest_of};
use crate::roundtrip::send::{self, Over, SendFailed, send_verdict};
use crate::target::{Signal, Store, Transport};

const RECORDS_PER_BATCH: u64 = 100;

/// What the logs round trip sends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub records: u64,
    /// The leg's transport; the run's first when `None`.
    pub over: Option<Over>,
}

impl Settings {
    pub(crate) fn of(settings: &CheckSettings) -> Settings {
        Settings {
            records: settings.logs,
            over: None,
        }
    }
}

/// Its batches one after another, then one poll.
pub(crate) fn budget(settings: &Settings) -> Budget {
    Budget {
        max_waits: 1,
        ..Budget::requests(send::batches(settings.records, RECORDS_PER_BATCH))
    }
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

#[derive(Debug, Serialize)]
pub(crate) struct Evidence {
    seed: u64,
    run_id: String,
    service_name: String,
    transport: Transport,
    collector: String,
    loki: String,
    logql: String,
    sent: u64,
    lookup: Option<LookupEvidence>,
    /// Slots read back more than once, with how often.
    pub duplicates: BTreeMap<u64, usize>,
    send_error: Option<String>,
    explore: Option<String>,
}

/// What the round trip measured, for `logs.roundtrip` to judge.
pub(crate) struct Logs {
    pub evidence: Evidence,
    pub sent: u64,
    pub watched: Watched<u64>,
    /// What it recorded in the run's ledger.
    pub ingest: PillarIngest,
}

/// Sends the records and reads them back; `Err` is the outcome of a round
/// trip that could not read back.
pub(crate) async fn round_trip(ctx: &CheckCtx, settings: &Settings) -> Result<Logs, Outcome> {
    let over = settings.over.unwrap_or_else(|| Over::first(ctx, Signal::Logs));
    let emitter = over.emitter(ctx, Signal::Logs, "Loki")?;
    let Some(loki) = ctx.loki() else {
        return Err(Outcome::not_configured("the target names no Loki read endpoint"));
    };
    let spec = LogSpec {
        seed: over.seed(ctx),
        run_id: over.run_id(ctx),
        service_name: over.service_name(ctx, "logs"),
    };
    let logql = query(&spec.service_name, &spec.run_marker())
        .map_err(|e| Outcome::bad_query(format_args!("the log query for {}", spec.service_name), e))?;
    let limits = &ctx.target.limits;
    let sent = settings.records;
    let mut evidence = Evidence {
        seed: spec.seed.0,
        run_id: spec.run_id.clone(),
        service_name: spec.service_name.clone(),
        transport: over.transport,
        collector: emitter.endpoint().to_string(),
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

    let first_sent = unix_now();
    let acked = send::in_batches(sent, RECORDS_PER_BATCH, |slots| {
        let request = spec.request(slots, unix_now().as_nanos() as u64);
        let emitter = &emitter;
        async move { emitter.send(&request).await }
    })
    .await;
    let acked = match acked {
        Ok(acked) => acked,
        Err(SendFailed { slots, err }) => {
            evidence.sent = slots.start;
            evidence.send_error = Some(err.to_string());
            let summary = format!("sending log records {}..{} failed: {err}", slots.start, slots.end);
            return Err(Outcome::new(send_verdict(&err), summary).with_evidence(evidence));
        }
    };
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
    let ingest = ingest_of(sent, &watched, id_of);
    if over.primary {
        ctx.ledger.record(Pillar::Logs, ingest.clone());
    }
    evidence.lookup = Some(LookupEvidence::new(&watched, id_of));
    evidence.duplicates = seen
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .collect();
    Ok(Logs {
        evidence,
        sent,
        watched,
        ingest,
    })
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
