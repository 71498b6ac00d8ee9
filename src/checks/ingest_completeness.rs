//! `ingest.completeness`: per pillar, the share of what its round trip sent
//! that was read back is at least the target's threshold
//! (`limits.completeness`, default 1.0). Ids are derived from the seed, so a
//! restart of the stack never makes present data look missing.
//!
//! Uses: checks::{ingest, ledger}.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::checks::ingest::{NotMeasured, gather, settle};
use crate::checks::{CheckCtx, Outcome, Status, Verdict};

/// Why `ingest.completeness` did not pass, beside `unreachable` and `not_configured`
/// from `ingest::settle`.
#[derive(Debug, Clone, Copy)]
enum Reason {
    Incomplete,
}

impl Reason {
    const fn as_str(self) -> &'static str {
        match self {
            Reason::Incomplete => "incomplete",
        }
    }
}

#[derive(Debug, Serialize)]
struct PillarCompleteness {
    check: &'static str,
    sent: u64,
    found: u64,
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
    let mut unreachable = Vec::new();
    let mut measured = 0;
    for round in rounds {
        let name = round.pillar.as_str();
        let entry = match round.measured {
            Ok(ingest) => {
                measured += 1;
                let ratio = if ingest.sent == 0 {
                    1.0
                } else {
                    ingest.found as f64 / ingest.sent as f64
                };
                if ratio < threshold {
                    short.push(format!("{name} {}/{}", ingest.found, ingest.sent));
                }
                PillarCompleteness {
                    check: round.check,
                    sent: ingest.sent,
                    found: ingest.found,
                    ratio: Some(ratio),
                    missing: ingest.missing,
                    not_measured: None,
                }
            }
            Err(not) => {
                match not.status {
                    Status::Error => unreachable.push(name),
                    // The round trip failed before reading back (e.g. its
                    // data was rejected): nothing arrived.
                    Status::Fail => short.push(format!("{name} ({})", not.reason.unwrap_or("failed"))),
                    Status::Pass | Status::Skip => {}
                }
                PillarCompleteness {
                    check: round.check,
                    sent: 0,
                    found: 0,
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
            Verdict::Fail(Reason::Incomplete.as_str()),
            format!("below {:.0} % arrived: {}", threshold * 100.0, short.join(", ")),
        )
    } else {
        settle(&unreachable, measured, format!("{measured} pillar(s) complete"))
    };
    Outcome::new(verdict, summary).with_evidence(evidence)
}
