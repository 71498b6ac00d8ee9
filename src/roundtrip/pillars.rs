//! Every pillar's round trip, by `Pillar`, for whoever needs only its
//! ledger entry: `ingest.latency` and `ingest.completeness`, which judge
//! the run's ledger and run the round trips this run has not run yet (side
//! by side, each under its own deadline), and the load markers, which run
//! them one item wide. Also the end both `ingest.*` verdicts share.
//!
//! Uses: check, roundtrip::{traces, logs, metrics, profiles, frontend}.

use serde::Serialize;

use crate::check::ledger::PillarIngest;
use crate::check::outcome::Verdict;
use crate::check::reason::{ReasonId, Shared};
use crate::check::spec::{Budget, past_deadline};
use crate::check::{CheckCtx, CheckSettings, Outcome, Pillar, Status};
use crate::roundtrip::{frontend, logs, metrics, profiles, traces};

/// Every pillar with a round trip, and the catalog check that judges it
/// (named in the `ingest.*` evidence), in catalog order.
pub(crate) const ROUND_TRIPS: [(Pillar, &str); 5] = [
    (Pillar::Traces, "traces.roundtrip"),
    (Pillar::Logs, "logs.roundtrip"),
    (Pillar::Metrics, "metrics.roundtrip"),
    (Pillar::Profiles, "profiles.roundtrip"),
    (Pillar::Frontend, "frontend.roundtrip"),
];

/// What `pillar`'s round trip may spend with these settings; nothing for a
/// pillar without one.
pub(crate) fn budget(pillar: Pillar, settings: &CheckSettings) -> Budget {
    match pillar {
        Pillar::Traces => traces::budget(&traces::Settings::of(settings)),
        Pillar::Logs => logs::budget(&logs::Settings::of(settings)),
        Pillar::Metrics => metrics::budget(&metrics::Settings::of(settings)),
        Pillar::Profiles => profiles::budget(&profiles::Settings::of(settings)),
        Pillar::Frontend => frontend::budget(&frontend::Settings::of(settings)),
        Pillar::Stack
        | Pillar::Correlation
        | Pillar::Ingest
        | Pillar::Capacity
        | Pillar::Dashboards
        | Pillar::Alerts => Budget::default(),
    }
}

/// What running every round trip side by side may spend, each under its
/// own deadline.
pub(crate) fn side_by_side(settings: &CheckSettings) -> Budget {
    ROUND_TRIPS
        .iter()
        .map(|(pillar, _)| budget(*pillar, settings))
        .fold(Budget::default(), Budget::alongside)
        .bounded()
}

/// Why a pillar has no measurement: the outcome its round trip ended with.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct NotMeasured {
    pub status: Status,
    pub reason: Option<ReasonId>,
    pub summary: String,
}

impl From<Outcome> for NotMeasured {
    fn from(outcome: Outcome) -> Self {
        NotMeasured {
            status: outcome.status(),
            reason: outcome.verdict.reason_id(),
            summary: outcome.summary,
        }
    }
}

/// Runs `pillar`'s round trip with the context's settings, under its own
/// deadline; returns what it recorded in the ledger, or why it could not.
pub(crate) async fn measure(ctx: &CheckCtx, pillar: Pillar, check: &str) -> Result<PillarIngest, NotMeasured> {
    let deadline = budget(pillar, &ctx.settings).deadline(&ctx.target.limits);
    let settings = &ctx.settings;
    let round_trip = async {
        match pillar {
            Pillar::Traces => traces::round_trip(ctx, &traces::Settings::of(settings))
                .await
                .map(|m| m.ingest),
            Pillar::Logs => logs::round_trip(ctx, &logs::Settings::of(settings))
                .await
                .map(|m| m.ingest),
            Pillar::Metrics => metrics::round_trip(ctx, &metrics::Settings::of(settings))
                .await
                .map(|m| m.ingest),
            Pillar::Profiles => profiles::round_trip(ctx, &profiles::Settings::of(settings))
                .await
                .map(|m| m.ingest),
            Pillar::Frontend => frontend::round_trip(ctx, &frontend::Settings::of(settings))
                .await
                .map(|m| m.ingest),
            Pillar::Stack
            | Pillar::Correlation
            | Pillar::Ingest
            | Pillar::Capacity
            | Pillar::Dashboards
            | Pillar::Alerts => Err(Outcome::not_configured(format!(
                "{} has no round trip",
                pillar.as_str()
            ))),
        }
    };
    match tokio::time::timeout(deadline, round_trip).await {
        Ok(measured) => measured.map_err(NotMeasured::from),
        Err(_) => Err(past_deadline(check, deadline).into()),
    }
}

/// One pillar's round trip, measured or not.
#[derive(Debug, Clone)]
pub(crate) struct PillarRound {
    pub pillar: Pillar,
    pub check: &'static str,
    pub measured: Result<PillarIngest, NotMeasured>,
}

/// Every pillar's round trip as the run's ledger has it, running those
/// this run has not run yet side by side.
pub(crate) async fn gather(ctx: &CheckCtx) -> Vec<PillarRound> {
    let rounds = ROUND_TRIPS.iter().map(|&(pillar, check)| async move {
        let measured = match ctx.ledger.get(pillar) {
            Some(ingest) => Ok(ingest),
            None => measure(ctx, pillar, check).await,
        };
        PillarRound {
            pillar,
            check,
            measured,
        }
    });
    futures::future::join_all(rounds).await
}

/// A pillar that could not be measured: its name, the error reason
/// (`unreachable`, `read_failed`, …) and why.
pub(crate) type Unmeasured = (&'static str, ReasonId, String);

/// A pillar whose round trip ran but could not read anything back.
pub(crate) fn unread(pillar: &'static str, ingest: &PillarIngest) -> Unmeasured {
    let why = ingest
        .read_error
        .clone()
        .unwrap_or_else(|| format!("{} undecided", ingest.undecided));
    (pillar, Shared::ReadFailed.into(), why)
}

/// A pillar whose round trip ended in an error before it recorded.
pub(crate) fn errored(pillar: &'static str, not: &NotMeasured) -> Unmeasured {
    (
        pillar,
        not.reason.unwrap_or(Shared::ReadFailed.into()),
        not.summary.clone(),
    )
}

/// The end of both ingest checks' verdicts: pillars that could not be
/// measured (their stores could not be reached or read) make an error, no
/// pillar at all a skip, else the pass.
pub(crate) fn settle(unmeasured: &[Unmeasured], measured: usize, pass: String) -> (Verdict, String) {
    if let Some((_, reason, _)) = unmeasured.first() {
        let parts: Vec<String> = unmeasured
            .iter()
            .map(|(pillar, _, why)| format!("{pillar} ({why})"))
            .collect();
        (
            Verdict::Error(*reason),
            format!("could not measure: {}", parts.join(", ")),
        )
    } else if measured == 0 {
        (
            Verdict::skip(Shared::NotConfigured),
            "the target has no pillar whose round trip can run".to_owned(),
        )
    } else {
        (Verdict::Pass, pass)
    }
}
