//! The frontend round trip: synthetic Faro sessions posted to the
//! collector's `/collect`, read back from Loki as Alloy writes them —
//! every log, exception, web-vitals measurement and event, under the
//! frontend's `app` label — and their spans from Tempo. A 202 alone never
//! counts: Alloy answers 202 even when its exporters fail
//! (`shared/reference/api/01-faro-receiver.md`).
//!
//! Uses: check, roundtrip::{lookup, send}, emit::faro, query::{loki, tempo,
//! lang}, measure::ingest_clock.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use crate::check::ledger::PillarIngest;
use crate::check::outcome::Verdict;
use crate::check::reason::Shared;
use crate::check::spec::Budget;
use crate::check::{CheckCtx, CheckSettings, Outcome, Pillar};
use crate::clock::unix_now;
use crate::emit::faro::{FaroSender, FrontendSession, FrontendSpec, Refusal, refusal};
use crate::http::HttpError;
use crate::measure::ingest_clock::{PollPlan, Reads, Watched, watch};
use crate::query::lang::logql::{LogQuery, Selector, Stage};
use crate::query::lang::{LangError, Matcher};
use crate::query::loki::LokiClient;
use crate::query::tempo::TempoClient;
use crate::roundtrip::lookup::{LookupEvidence, ingest_of};
use crate::roundtrip::send::{self, SendFailed, send_verdict};

/// What the frontend round trip sends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub sessions: u64,
}

impl Settings {
    pub(crate) fn of(settings: &CheckSettings) -> Settings {
        Settings {
            sessions: settings.frontend_sessions,
        }
    }
}

/// A post per session, one after another, then lines and spans side by side.
pub(crate) fn budget(settings: &Settings) -> Budget {
    Budget {
        max_waits: 1,
        ..Budget::requests(send::batches(settings.sessions, 1))
    }
}

/// The run's Faro lines: the receiver's `app` label, then the run marker.
pub fn query(app_label: &str, run_marker: &str) -> Result<LogQuery, LangError> {
    let selector = Selector::new(vec![Matcher::eq("app", app_label)?])?;
    Ok(LogQuery::new(selector).then(Stage::Contains(run_marker.to_owned())))
}

#[derive(Debug, Serialize)]
pub(crate) struct Evidence {
    seed: u64,
    run_id: String,
    faro: String,
    app_label: String,
    logql: String,
    sessions: Vec<FrontendSession>,
    sent: u64,
    /// Lines found per session and kind; what each session must have.
    pub lines_found: BTreeMap<String, BTreeMap<String, usize>>,
    lines_expected: BTreeMap<String, usize>,
    lines: Option<LookupEvidence>,
    spans: Option<LookupEvidence>,
    send_error: Option<String>,
}

/// What the round trip measured, for `frontend.roundtrip` to judge.
pub(crate) struct Frontend {
    pub evidence: Evidence,
    pub sent: u64,
    pub sessions: Vec<FrontendSession>,
    /// Sessions whose every line is in Loki.
    pub lines: Watched<u64>,
    /// Sessions whose fetch span is in Tempo.
    pub spans: Watched<u64>,
    /// What it recorded in the run's ledger (the lines).
    pub ingest: PillarIngest,
}

/// Posts the sessions and reads them back; `Err` is the outcome of a round
/// trip that could not read back.
pub(crate) async fn round_trip(ctx: &CheckCtx, settings: &Settings) -> Result<Frontend, Outcome> {
    let (Some(faro), Some(loki), Some(tempo)) = (ctx.target.faro.as_ref(), ctx.loki(), ctx.tempo()) else {
        return Err(Outcome::not_configured(
            "the target names no Faro collector, or no Loki or Tempo read endpoint",
        ));
    };
    let target = &ctx.target;
    let spec = FrontendSpec {
        seed: ctx.seed,
        run_id: ctx.run_id.clone(),
        app_name: target.frontend_service.clone(),
        page_url: target
            .app
            .as_ref()
            .map(|u| u.to_string())
            .unwrap_or_else(|| "http://pillars.invalid/".into()),
    };
    let logql = query(&target.frontend_service, &spec.run_marker())
        .map_err(|e| Outcome::bad_query("the log query for the frontend's lines", e))?;
    let sent = settings.sessions;
    let sessions: Vec<_> = (0..sent).map(|slot| spec.session(slot)).collect();
    let sender = FaroSender::new(ctx.http.clone(), faro.clone(), target.limits.request_timeout);
    let mut evidence = Evidence {
        seed: ctx.seed.0,
        run_id: ctx.run_id.clone(),
        faro: faro.to_string(),
        app_label: target.frontend_service.clone(),
        logql: logql.to_string(),
        sessions: sessions.clone(),
        sent: 0,
        lines_found: BTreeMap::new(),
        lines_expected: FrontendSpec::expected_lines()
            .into_iter()
            .map(|(k, n)| (k.to_owned(), n))
            .collect(),
        lines: None,
        spans: None,
        send_error: None,
    };

    let first_sent = unix_now();
    let acked = send::in_batches(sent, 1, |slots| {
        let session = &sessions[slots.start as usize];
        let payload = spec.payload(session, "/api/delay/fast");
        let key = format!("{}-{}", ctx.run_id, session.slot);
        let sender = &sender;
        async move { sender.send(&session.session_id, &key, &payload).await }
    })
    .await;
    let acked = match acked {
        Ok(acked) => acked,
        Err(SendFailed { slots, err }) => {
            evidence.sent = slots.start;
            evidence.send_error = Some(err.to_string());
            let verdict = match refusal(&err) {
                Refusal::RateLimited => Verdict::fail(Shared::RateLimited),
                Refusal::Other => send_verdict(&err),
            };
            let summary = format!("posting Faro session {} failed: {err}", slots.start);
            return Err(Outcome::new(verdict, summary).with_evidence(evidence));
        }
    };
    evidence.sent = sent;

    let range = (
        first_sent.saturating_sub(Duration::from_secs(300)).as_nanos() as u64,
        (unix_now() + Duration::from_secs(60)).as_nanos() as u64,
    );
    let counts = Mutex::new(BTreeMap::<u64, BTreeMap<String, usize>>::new());
    let limits = &target.limits;
    let plan = PollPlan::new(Duration::ZERO, limits.wait, limits.max_wait);
    let limit = (sent * 20).clamp(100, 5000) as u32;
    let lines = watch(&plan, acked.clone(), |_, slots| {
        find_lines(&loki, &sessions, &logql, range, limit, slots, &counts)
    });
    let spans = watch(&plan, acked, |_, slots| {
        find_spans(&tempo, &sessions, &ctx.run_id, slots)
    });
    let (lines, spans) = tokio::join!(lines, spans);

    let session_id = |slot: u64| sessions[slot as usize].session_id.clone();
    let ingest = ingest_of(sent, &lines, session_id);
    ctx.ledger.record(Pillar::Frontend, ingest.clone());
    evidence.lines = Some(LookupEvidence::new(&lines, session_id));
    evidence.spans = Some(LookupEvidence::new(&spans, |slot| {
        sessions[slot as usize].trace_id.to_string()
    }));
    evidence.lines_found = counts
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .map(|(slot, kinds)| (session_id(slot), kinds))
        .collect();
    Ok(Frontend {
        evidence,
        sent,
        sessions,
        lines,
        spans,
        ingest,
    })
}

/// One query for the run's lines; a session is found once it has every
/// line of every kind.
async fn find_lines(
    loki: &LokiClient,
    sessions: &[FrontendSession],
    logql: &LogQuery,
    range: (u64, u64),
    limit: u32,
    pending: Vec<u64>,
    counts: &Mutex<BTreeMap<u64, BTreeMap<String, usize>>>,
) -> Result<Vec<u64>, HttpError> {
    let lines = loki.query_range(logql, range, limit).await?;
    let mut seen: BTreeMap<u64, BTreeMap<String, usize>> = BTreeMap::new();
    for line in &lines {
        let Some(session) = sessions
            .iter()
            .find(|s| line.line.contains(&format!("session_id={}", s.session_id)))
        else {
            continue;
        };
        // The kind is a label in the deployment's pipeline; the line always
        // carries it too.
        let kind = line
            .stream
            .get("kind")
            .cloned()
            .or_else(|| {
                line.line
                    .split(' ')
                    .find_map(|kv| kv.strip_prefix("kind=").map(str::to_owned))
            })
            .unwrap_or_default();
        *seen.entry(session.slot).or_default().entry(kind).or_default() += 1;
    }
    let complete = |kinds: &BTreeMap<String, usize>| {
        FrontendSpec::expected_lines()
            .iter()
            .all(|(kind, want)| kinds.get(*kind).copied().unwrap_or(0) >= *want)
    };
    let found = pending
        .into_iter()
        .filter(|slot| seen.get(slot).is_some_and(complete))
        .collect();
    counts.lock().expect("not poisoned").extend(seen);
    Ok(found)
}

/// Each session's trace must hold its fetch span.
/// A seed replay finds the earlier run's span under the same ids, so the
/// span must carry this run.
async fn find_spans(tempo: &TempoClient, sessions: &[FrontendSession], run_id: &str, pending: Vec<u64>) -> Reads<u64> {
    let mut results = Vec::with_capacity(pending.len());
    for slot in pending {
        let session = &sessions[slot as usize];
        let seen = tempo.trace_v1(session.trace_id, None).await.map(|trace| {
            trace.is_some_and(|trace| {
                trace.spans.iter().any(|s| {
                    s.span_id == session.fetch_span && s.resource.get("pillars.run").map(String::as_str) == Some(run_id)
                })
            })
        });
        results.push((slot, seen));
    }
    Reads::of(results)
}
