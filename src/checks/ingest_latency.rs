//! `ingest.latency`: per pillar, the p99 write-to-queryable latency of its
//! round trip stays under the target's SLO (`limits.ingest_slo`).
//!
//! Latency is measured by the ingest clock from the acknowledged write to
//! the first read that finds the item; a pillar whose round trip found
//! nothing has no latency and fails as `no_data` — unless its reads
//! failed, which is an error of the read path, not of the stack.
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
    /// Why `ingest.latency` did not pass, beside the shared reasons of
    /// pillars it could not measure (`unreachable`, `read_failed`, …) and
    /// `not_configured`.
    pub enum Reason {
        OverSlo,
        NoData,
    }
}

/// Every round trip it may run, side by side.
pub(crate) fn budget(settings: &CheckSettings) -> Budget {
    pillars::side_by_side(settings)
}

#[derive(Debug, Serialize)]
struct PillarLatency {
    check: &'static str,
    found: u64,
    p50_ms: Option<u64>,
    p99_ms: Option<u64>,
    max_ms: Option<u64>,
    within_slo: Option<bool>,
    not_measured: Option<NotMeasured>,
}

#[derive(Debug, Serialize)]
struct Evidence {
    seed: u64,
    slo_ms: u64,
    pillars: BTreeMap<&'static str, PillarLatency>,
}

pub async fn run(ctx: &CheckCtx) -> Outcome {
    let slo = ctx.target.limits.ingest_slo;
    let slo_ms = slo.as_millis() as u64;
    let rounds = gather(ctx).await;
    let mut evidence = Evidence {
        seed: ctx.seed.0,
        slo_ms,
        pillars: BTreeMap::new(),
    };
    let mut over = Vec::new();
    let mut no_data = Vec::new();
    let mut unmeasured: Vec<Unmeasured> = Vec::new();
    let mut outcome_series = Vec::new();
    for round in rounds {
        let name = round.pillar.as_str();
        let entry = match round.measured {
            Ok(ingest) if ingest.latency.count() > 0 => {
                let p99 = ingest.latency.percentile_ms(99.0);
                if p99 > slo_ms {
                    over.push(format!("{name} p99 {p99} ms"));
                }
                outcome_series.push((name, ingest.latency.clone()));
                PillarLatency {
                    check: round.check,
                    found: ingest.found,
                    p50_ms: Some(ingest.latency.percentile_ms(50.0)),
                    p99_ms: Some(p99),
                    max_ms: Some(ingest.latency.percentile_ms(100.0)),
                    within_slo: Some(p99 <= slo_ms),
                    not_measured: None,
                }
            }
            Ok(ingest) => {
                if ingest.missing_total > 0 {
                    no_data.push(name);
                } else {
                    unmeasured.push(unread(name, &ingest));
                }
                PillarLatency {
                    check: round.check,
                    found: ingest.found,
                    p50_ms: None,
                    p99_ms: None,
                    max_ms: None,
                    within_slo: None,
                    not_measured: None,
                }
            }
            Err(not) => {
                match not.status {
                    Status::Error => unmeasured.push(errored(name, &not)),
                    // The round trip ran and failed before reading anything
                    // back (e.g. its data was rejected): no latency.
                    Status::Fail => no_data.push(name),
                    Status::Pass | Status::Skip => {}
                }
                PillarLatency {
                    check: round.check,
                    found: 0,
                    p50_ms: None,
                    p99_ms: None,
                    max_ms: None,
                    within_slo: None,
                    not_measured: Some(not),
                }
            }
        };
        evidence.pillars.insert(name, entry);
    }
    let measured = outcome_series.len();
    let slo_text = humantime::format_duration(slo);
    let (verdict, summary) = if !over.is_empty() {
        (
            Verdict::fail(Reason::OverSlo),
            format!("over the {slo_text} SLO: {}", over.join(", ")),
        )
    } else if !no_data.is_empty() {
        (
            Verdict::fail(Reason::NoData),
            format!("nothing was read back, so no latency: {}", no_data.join(", ")),
        )
    } else {
        settle(
            &unmeasured,
            measured,
            format!("{measured} pillar(s) under the {slo_text} p99 SLO"),
        )
    };
    let mut outcome = Outcome::new(verdict, summary).with_evidence(evidence);
    for (name, histogram) in outcome_series {
        outcome = outcome.with_latency(name, &histogram);
    }
    outcome
}
