//! `canary.json`: what a canary run's probes came to, per pillar, written
//! when it ends (by its duration, its rounds, or a signal), following
//! `schema/canary.schema.json`.
//!
//! Uses: canary::run, measure::latency, target.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::canary::run::Summary;
use crate::measure::latency::LatencySummary;
use crate::report::RunOf;
use crate::target::{Target, TargetKind};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct CanaryReport {
    pub schema_version: u32,
    pub target: String,
    /// The embedded reference stack, not a deployment.
    pub reference_stack: bool,
    pub run_id: String,
    pub seed: u64,
    pub interval_secs: f64,
    /// How long a probe could take before it was missing.
    pub max_wait_secs: f64,
    pub rounds: u64,
    /// Stopped by a signal: probes in flight are left out.
    pub interrupted: bool,
    pub pillars: BTreeMap<&'static str, PillarRecord>,
    /// Pillars not probed, with why.
    pub left_out: BTreeMap<&'static str, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PillarRecord {
    /// Probes the store decided on: found plus missing.
    pub checked: u64,
    pub found: u64,
    pub missing: u64,
    /// Probes nothing could be decided of, by the check's reason.
    pub errors: BTreeMap<&'static str, u64>,
    /// The rounds of the missing probes, the first hundred.
    pub missing_rounds: Vec<u64>,
    /// Write to first successful read, for probes found.
    pub latency_ms: LatencySummary,
}

impl CanaryReport {
    /// The record of a run that ended with `summary`.
    pub fn of(
        summary: &Summary,
        target: &Target,
        run: &RunOf,
        settings: &crate::canary::run::Settings,
    ) -> CanaryReport {
        CanaryReport {
            schema_version: SCHEMA_VERSION,
            target: target.name.clone(),
            reference_stack: matches!(target.kind, TargetKind::Sim),
            run_id: run.run_id.clone(),
            seed: run.seed.0,
            interval_secs: settings.interval.as_secs_f64(),
            max_wait_secs: settings.give_up.as_secs_f64(),
            rounds: summary.rounds,
            interrupted: summary.interrupted,
            pillars: summary
                .pillars
                .iter()
                .map(|(pillar, t)| {
                    (
                        pillar.as_str(),
                        PillarRecord {
                            checked: t.found + t.missing,
                            found: t.found,
                            missing: t.missing,
                            errors: t.reasons.clone(),
                            missing_rounds: t.missing_rounds.clone(),
                            latency_ms: t.latency.summary(),
                        },
                    )
                })
                .collect(),
            left_out: summary
                .left_out
                .iter()
                .map(|(p, why)| (p.as_str(), why.clone()))
                .collect(),
        }
    }
}
