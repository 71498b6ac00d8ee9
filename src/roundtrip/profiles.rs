//! The profiles round trip: N synthetic CPU profiles pushed to Pyroscope,
//! read back from its merged flame graph for the run.
//!
//! Each profile's leaf frame names its slot (`pillars_slot_<n>`), so one
//! `SelectMergeStacktraces` for the run's series tells which profiles
//! arrived (`shared/reference/api/06-pyroscope.md` §6.2–6.3).
//!
//! Uses: check, roundtrip::{lookup, send}, emit::{profile_push, pprof},
//! query::{pyroscope, lang}, measure::ingest_clock.

use std::collections::HashSet;
use std::time::Duration;

use serde::Serialize;

use crate::check::ledger::PillarIngest;
use crate::check::spec::Budget;
use crate::check::{CheckCtx, CheckSettings, Outcome, Pillar};
use crate::clock::unix_now;
use crate::emit::pprof::PROFILE_TYPE;
use crate::emit::profile_push::{ProfileSpec, PyroscopePusher};
use crate::http::HttpError;
use crate::measure::ingest_clock::{PollPlan, Watched, watch};
use crate::query::lang::promql::Selector;
use crate::query::lang::{LangError, Matcher};
use crate::query::pyroscope::PyroscopeClient;
use crate::roundtrip::lookup::{LookupEvidence, ingest_of};
use crate::roundtrip::send::send_verdict;

/// What the profiles round trip pushes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub profiles: u64,
}

impl Settings {
    pub(crate) fn of(settings: &CheckSettings) -> Settings {
        Settings {
            profiles: settings.profiles,
        }
    }
}

/// One push, then one poll.
pub(crate) fn budget(_: &Settings) -> Budget {
    Budget {
        max_waits: 1,
        ..Budget::requests(1)
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
pub(crate) struct Evidence {
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

/// What the round trip measured, for `profiles.roundtrip` to judge.
pub(crate) struct Profiles {
    pub evidence: Evidence,
    pub sent: u64,
    pub watched: Watched<u64>,
    /// What it recorded in the run's ledger.
    pub ingest: PillarIngest,
}

/// Pushes the profiles and reads them back; `Err` is the outcome of a
/// round trip that could not read back.
pub(crate) async fn round_trip(ctx: &CheckCtx, settings: &Settings) -> Result<Profiles, Outcome> {
    let (Some(ingest), Some(pyroscope)) = (ctx.target.pyroscope_ingest.as_ref(), ctx.pyroscope()) else {
        return Err(Outcome::not_configured(
            "the target names no Pyroscope ingest endpoint or no Pyroscope read endpoint",
        ));
    };
    let spec = ProfileSpec {
        seed: ctx.seed,
        run_id: ctx.run_id.clone(),
        service_name: ctx.service_name("profiles"),
    };
    let limits = &ctx.target.limits;
    let sent = settings.profiles;
    let pusher = PyroscopePusher::new(ctx.http.clone(), ingest, limits.request_timeout);
    let selector = selector(&spec.service_name, &spec.run_id)
        .map_err(|e| Outcome::bad_query(format_args!("the label selector for {}", spec.service_name), e))?;
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
            return Err(Outcome::new(send_verdict(&err), summary).with_evidence(evidence));
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
    let ingest = ingest_of(sent, &watched, id_of);
    ctx.ledger.record(Pillar::Profiles, ingest.clone());
    evidence.lookup = Some(LookupEvidence::new(&watched, id_of));
    Ok(Profiles {
        evidence,
        sent,
        watched,
        ingest,
    })
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
