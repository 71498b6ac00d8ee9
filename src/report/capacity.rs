//! `capacity.json`: the versioned record of a capacity search, and the
//! sentence that says what it means for the instance. Its JSON schema is
//! `schema/load.schema.json` (shared with `load.json`).
//!
//! Uses: load::capacity (the search's outcome), report::load (the schema
//! version), target.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::load::capacity::{FirstBad, Search, StepResult};
use crate::load::scenario::{Scenario, TrafficKind};
use crate::load::session::Timeline;
use crate::load::shard::Shard;
use crate::report::RunOf;
use crate::report::load::{LOAD_SCHEMA_VERSION, MergedShard};
use crate::target::Target;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CapacityReport {
    pub schema_version: u32,
    pub scenario: String,
    pub target: String,
    /// The target was the embedded reference stack, a test double.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reference_stack: bool,
    pub seed: u64,
    pub run_id: String,
    /// Ctrl-C ended the search early.
    pub interrupted: bool,
    pub steps: Vec<StepResult>,
    /// Highest offered rate that broke no gate.
    pub last_good_rate: Option<f64>,
    /// Lowest offered rate that broke one, and the gate.
    pub first_bad: Option<FirstBad>,
    /// Working-set bytes per unit/s of offered load, fitted over the steps.
    pub memory_bytes_per_unit: Option<f64>,
    pub recommendation: String,
    /// The target's memory budget, which the recommendation scales from.
    #[serde(default)]
    pub memory_budget_bytes: Option<u64>,
    /// The scenario's p99 ingest latency gate, ms.
    pub p99_slo_ms: u64,
    /// Which shard of a split search this was; `null` for a whole one.
    #[serde(default)]
    pub shard: Option<Shard>,
    /// The shards a merged record was made from; empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged: Vec<MergedShard>,
    pub timeline: Timeline,
}

impl CapacityReport {
    /// The record of `search`, a search of `scenario` against `target` (as
    /// `shard`, when it is one).
    pub fn of(
        scenario: &Scenario,
        target: &Target,
        RunOf { seed, run_id, shard }: RunOf,
        search: Search,
    ) -> CapacityReport {
        let budget = target.limits.memory_budget_bytes;
        let recommendation = recommend(
            &target.name,
            budget,
            search.last_good.as_ref(),
            search.first_bad.as_ref(),
            search.memory_bytes_per_unit,
        );
        CapacityReport {
            schema_version: LOAD_SCHEMA_VERSION,
            scenario: scenario.name.clone(),
            target: target.name.clone(),
            reference_stack: target.kind == crate::target::TargetKind::Sim,
            seed: seed.0,
            run_id,
            interrupted: search.interrupted,
            last_good_rate: search.last_good.as_ref().map(|s| s.offered_rate),
            first_bad: search.first_bad,
            memory_bytes_per_unit: search.memory_bytes_per_unit,
            recommendation,
            memory_budget_bytes: budget,
            steps: search.steps,
            p99_slo_ms: scenario.gates.p99_ingest_latency.as_millis() as u64,
            shard,
            merged: Vec::new(),
            timeline: search.timeline,
        }
    }
}

/// "500 otlp_traces/s + 100 otlp_logs/s".
fn mix_text(mix: &BTreeMap<TrafficKind, f64>) -> String {
    let parts: Vec<String> = mix.iter().map(|(k, r)| format!("{r:.0} {}/s", k.as_str())).collect();
    parts.join(" + ")
}

/// What the search means for the instance: the rate it holds, where the
/// next gate is, and how far a bigger budget would go at the memory slope.
pub(crate) fn recommend(
    target: &str,
    budget: Option<u64>,
    good: Option<&StepResult>,
    bad: Option<&FirstBad>,
    slope: Option<f64>,
) -> String {
    let mib = |b: f64| b / (1024.0 * 1024.0);
    let mut text = match (good, bad) {
        (Some(g), Some(FirstBad { rate: b, broken: gate })) => {
            let headroom = g
                .min_headroom
                .as_ref()
                .map(|l| format!(" with {:.0} % memory headroom ({})", l.headroom * 100.0, l.container))
                .unwrap_or_default();
            format!(
                "{} holds {} ({:.0} units/s){headroom}; the next gate is at ~{b:.0} units/s: {gate}",
                target,
                mix_text(&g.mix),
                g.offered_rate
            )
        }
        (None, Some(FirstBad { rate: b, broken: gate })) => format!(
            "{} broke already at the first step, {b:.0} units/s: {gate}; start the search lower",
            target
        ),
        (Some(g), None) => format!(
            "{} held every step, up to {} ({:.0} units/s); no gate broke, so raise max_steps or factor",
            target,
            mix_text(&g.mix),
            g.offered_rate
        ),
        (None, None) => "no step finished".to_owned(),
    };
    if let Some(s) = slope.filter(|s| *s > 0.0) {
        text.push_str(&format!("; memory grows ~{:.2} MiB per 100 units/s", mib(s * 100.0)));
        if let (Some(budget), Some(g)) = (budget, good) {
            let more = budget as f64 / s;
            text.push_str(&format!(
                "; an instance with twice the {:.0} MiB budget would hold ~{:.0} units/s (~{:.1}x) at this slope",
                mib(budget as f64),
                g.offered_rate + more,
                (g.offered_rate + more) / g.offered_rate.max(1e-9)
            ));
        }
    }
    text
}
