//! `ingest.completeness`: per pillar, the share of what its round trip sent
//! that was read back is at least the target's threshold
//! (`limits.completeness`, default 1.0). Ids are derived from the seed, so a
//! restart of the stack never makes present data look missing. Items whose
//! reads failed are undecided: they count neither way, and a pillar with
//! nothing decided is an error of the read path, not a short pillar.
//!
//! Uses: check, roundtrip::pillars (the ledger, and the round trips not run
//! yet).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::check::reason::reasons;
use crate::check::spec::Budget;
use crate::check::{CheckCtx, CheckSettings, Outcome, Status, Verdict};
use crate::roundtrip::pillars::{self, NotMeasured, Unmeasured, errored, gather, settle, unread};

reasons! {
    /// Why `ingest.completeness` did not pass, beside the shared reasons of
    /// pillars it could not measure (`unreachable`, `read_failed`, …) and
    /// `not_configured`.
    pub enum Reason {
        Incomplete,
    }
}

/// Every round trip it may run, side by side.
pub(crate) fn budget(settings: &CheckSettings) -> Budget {
    pillars::side_by_side(settings)
}

#[derive(Debug, Serialize)]
struct PillarCompleteness {
    check: &'static str,
    sent: u64,
    found: u64,
    missing_total: u64,
    /// Items no read could decide.
    undecided: u64,
    /// Found over found and missing.
    ratio: Option<f64>,
    /// Ids of missing items, at most ten.
    missing: Vec<String>,
    not_measured: Option<NotMeasured>,
}

#[derive(Debug, Serialize)]
struct Evidence {
    seed: u64,
    threshold: f64,
    pillars: BTreeMap<&'static str, PillarCompleteness>,
}

pub async fn run(ctx: &CheckCtx) -> Outcome {
    let threshold = ctx.target.limits.completeness;
    let rounds = gather(ctx).await;
    let mut evidence = Evidence {
        seed: ctx.seed.0,
        threshold,
        pillars: BTreeMap::new(),
    };
    let mut short = Vec::new();
    let mut unmeasured: Vec<Unmeasured> = Vec::new();
    let mut measured = 0;
    for round in rounds {
        let name = round.pillar.as_str();
        let entry = match round.measured {
            Ok(ingest) => {
                let ratio = ingest.completeness();
                match ratio {
                    Some(r) if r < threshold => {
                        measured += 1;
                        let decided = ingest.found + ingest.missing_total;
                        short.push(format!("{name} {}/{decided}", ingest.found));
                    }
                    Some(_) => measured += 1,
                    None => unmeasured.push(unread(name, &ingest)),
                }
                PillarCompleteness {
                    check: round.check,
                    sent: ingest.sent,
                    found: ingest.found,
                    missing_total: ingest.missing_total,
                    undecided: ingest.undecided,
                    ratio,
                    missing: ingest.missing,
                    not_measured: None,
                }
            }
            Err(not) => {
                match not.status {
                    Status::Error => unmeasured.push(errored(name, &not)),
                    // The round trip failed before reading back (e.g. its
                    // data was rejected): nothing arrived.
                    Status::Fail => short.push(format!("{name} ({})", not.reason.map_or("failed", |r| r.as_str()))),
                    Status::Pass | Status::Skip => {}
                }
                PillarCompleteness {
                    check: round.check,
                    sent: 0,
                    found: 0,
                    missing_total: 0,
                    undecided: 0,
                    ratio: None,
                    missing: Vec::new(),
                    not_measured: Some(not),
                }
            }
        };
        evidence.pillars.insert(name, entry);
    }
    let (verdict, summary) = if !short.is_empty() {
        (
            Verdict::fail(Reason::Incomplete),
            format!("below {:.0} % arrived: {}", threshold * 100.0, short.join(", ")),
        )
    } else {
        settle(&unmeasured, measured, format!("{measured} pillar(s) complete"))
    };
    Outcome::new(verdict, summary).with_evidence(evidence)
}
