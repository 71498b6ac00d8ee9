//! What `ingest.latency` and `ingest.completeness` share: each pillar's
//! round trip as the ledger has it, running the round trips this run has
//! not run yet (side by side), so either check also works on its own.
//!
//! Uses: checks::{ledger, spec, outcome}.

use serde::Serialize;

use crate::checks::ledger::PillarIngest;
use crate::checks::{CATALOG, CheckCtx, CheckSpec, Pillar, Status, Verdict};

/// One pillar's round trip, measured or not.
#[derive(Debug, Clone)]
pub struct PillarRound {
    pub pillar: Pillar,
    pub check: &'static str,
    pub measured: Result<PillarIngest, NotMeasured>,
}

/// Why a pillar has no measurement.
#[derive(Debug, Clone, Serialize)]
pub struct NotMeasured {
    pub status: Status,
    pub reason: Option<&'static str>,
    pub summary: String,
}

/// A pillar that could not be measured: its name, the error reason
/// (`unreachable`, `read_failed`) and why.
pub type Unmeasured = (&'static str, &'static str, String);

/// A pillar whose round trip ran but could not read anything back.
pub fn unread(pillar: &'static str, ingest: &PillarIngest) -> Unmeasured {
    let why = ingest
        .read_error
        .clone()
        .unwrap_or_else(|| format!("{} undecided", ingest.undecided));
    (pillar, "read_failed", why)
}

/// A pillar whose round trip ended in an error before it recorded.
pub fn errored(pillar: &'static str, not: &NotMeasured) -> Unmeasured {
    (pillar, not.reason.unwrap_or("read_failed"), not.summary.clone())
}

/// The end of both ingest checks' verdicts: pillars that could not be
/// measured (their stores could not be reached or read) make an error, no
/// pillar at all a skip, else the pass.
pub fn settle(unmeasured: &[Unmeasured], measured: usize, pass: String) -> (Verdict, String) {
    if let Some((_, reason, _)) = unmeasured.first() {
        let parts: Vec<String> = unmeasured
            .iter()
            .map(|(pillar, _, why)| format!("{pillar} ({why})"))
            .collect();
        (
            Verdict::Error(reason),
            format!("could not measure: {}", parts.join(", ")),
        )
    } else if measured == 0 {
        (
            Verdict::Skip("not_configured"),
            "the target has no pillar whose round trip can run".to_owned(),
        )
    } else {
        (Verdict::Pass, pass)
    }
}

pub async fn gather(ctx: &CheckCtx) -> Vec<PillarRound> {
    let specs: Vec<&CheckSpec> = CATALOG.iter().filter(|s| s.records_ingest).collect();
    let rounds = specs.iter().map(|spec| async move {
        let measured = match ctx.ledger.get(spec.pillar) {
            Some(ingest) => Ok(ingest),
            None => {
                let outcome = spec.run(ctx).await;
                ctx.ledger.get(spec.pillar).ok_or(NotMeasured {
                    status: outcome.status(),
                    reason: outcome.verdict.reason(),
                    summary: outcome.summary,
                })
            }
        };
        PillarRound {
            pillar: spec.pillar,
            check: spec.id,
            measured,
        }
    });
    futures::future::join_all(rounds).await
}
