//! `profiles.roundtrip`: N synthetic CPU profiles pushed to Pyroscope are
//! found in its merged flame graph for the run.
//!
//! Each profile's leaf frame names its slot (`pillars_slot_<n>`), so one
//! `SelectMergeStacktraces` for the run's series tells which profiles
//! arrived (`shared/reference/api/06-pyroscope.md` §6.2–6.3).
//!
//! Uses: checks, emit::{profile_push, pprof}, query::pyroscope, measure.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::checks::roundtrip::{LookupEvidence, ingest_of, send_verdict, tally};
use crate::checks::{CheckCtx, Outcome, Pillar, Verdict};
use crate::emit::pprof::PROFILE_TYPE;
use crate::emit::profile_push::{ProfileSpec, PyroscopePusher};
use crate::measure::ingest_clock::{PollPlan, watch};
use crate::query::http::HttpError;
use crate::query::lang::promql::Selector;
use crate::query::lang::{LangError, Matcher};
use crate::query::pyroscope::PyroscopeClient;

/// Why `profiles.roundtrip` did not pass, beside the round trips' shared
/// `rejected` (`roundtrip::send_verdict`), `not_found`, `read_failed` and
/// `unreachable` (`roundtrip::tally`).
#[derive(Debug, Clone, Copy)]
enum Reason {
    NotConfigured,
}

impl Reason {
    const fn as_str(self) -> &'static str {
        match self {
            Reason::NotConfigured => "not_configured",
        }
    }
}

/// The label selector of the run's profiles.
pub fn selector(service: &str, run_id: &str) -> Result<Selector, LangError> {
    Selector::labels(vec![
        Matcher::eq("service_name", service)?,
        Matcher::eq("pillars_run", run_id)?,
    ])
}

#[derive(Debug, Serialize)]
struct Evidence {
    seed: u64,
    run_id: String,
    service_name: String,
    push: String,
    pyroscope: String,
    profile_type: &'static str,
    label_selector: String,
    sent: u64,
    lookup: Option<LookupEvidence>,
    send_error: Option<String>,
}

pub async fn run(ctx: &CheckCtx) -> Outcome {
    let (Some(ingest), Some(pyroscope)) = (ctx.target.pyroscope_ingest.as_ref(), ctx.pyroscope()) else {
        return Outcome::new(
            Verdict::Skip(Reason::NotConfigured.as_str()),
            "the target names no Pyroscope ingest endpoint or no Pyroscope read endpoint",
        );
    };
    let spec = ProfileSpec {
        seed: ctx.seed,
        run_id: ctx.run_id.clone(),
        service_name: ctx.service_name("profiles"),
    };
    let limits = &ctx.target.limits;
    let sent = ctx.settings.profiles;
    let pusher = PyroscopePusher::new(ctx.http.clone(), ingest, limits.request_timeout);
    let selector = match selector(&spec.service_name, &spec.run_id) {
        Ok(s) => s,
        Err(e) => {
            return Outcome::new(
                Verdict::Error("bad_query"),
                format!("cannot build the label selector for {}: {e}", spec.service_name),
            );
        }
    };
    let mut evidence = Evidence {
        seed: ctx.seed.0,
        run_id: ctx.run_id.clone(),
        service_name: spec.service_name.clone(),
        push: pusher.url().to_string(),
        pyroscope: pyroscope.base().to_string(),
        profile_type: PROFILE_TYPE,
        label_selector: selector.to_string(),
        sent: 0,
        lookup: None,
        send_error: None,
    };

    let started = unix_now();
    let acked = match pusher.push(&[spec.series(0..sent, started.as_nanos() as u64)]).await {
        Ok(ack) => (0..sent).map(|s| (s, ack.at)).collect::<Vec<_>>(),
        Err(err) => {
            evidence.send_error = Some(err.to_string());
            let summary = format!("pushing {sent} profiles failed: {err}");
            return Outcome::new(send_verdict(&err), summary).with_evidence(evidence);
        }
    };
    evidence.sent = sent;

    let range = (
        (started.as_millis() as i64) - 3_600_000,
        (unix_now().as_millis() as i64) + 60_000,
    );
    let plan = PollPlan::new(Duration::ZERO, limits.wait, limits.max_wait);
    let watched = watch(&plan, acked, |_, slots| {
        find(&pyroscope, &spec, &selector, range, slots)
    })
    .await;
    let id_of = |slot: u64| spec.leaf(slot);
    ctx.ledger.record(Pillar::Profiles, ingest_of(sent, &watched, id_of));
    evidence.lookup = Some(LookupEvidence::new(&watched, id_of));

    let (verdict, summary) = tally(&watched, sent, "profiles", "Pyroscope");
    Outcome::new(verdict, summary)
        .with_evidence(evidence)
        .with_latency("profiles", &watched.histogram)
}

async fn find(
    pyroscope: &PyroscopeClient,
    spec: &ProfileSpec,
    selector: &Selector,
    range: (i64, i64),
    pending: Vec<u64>,
) -> Result<Vec<u64>, HttpError> {
    let graph = pyroscope.flamegraph(PROFILE_TYPE, selector, range).await?;
    let names: HashSet<&str> = graph.names.iter().map(String::as_str).collect();
    Ok(pending
        .into_iter()
        .filter(|&slot| names.contains(spec.leaf(slot).as_str()))
        .collect())
}

fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}
