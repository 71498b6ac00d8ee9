//! `load.json`: the versioned record of a load run, built from what the
//! run observed and how its gates judged it. Its JSON schema is
//! `schema/load.schema.json` (shared with `capacity.json`).
//!
//! Uses: load (the run's outcome: session, gate, markers, tally),
//! check (pillars), measure, target.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::check::Pillar;
use crate::load::gate::{self, Broken, Judged};
use crate::load::markers::PillarMarkers;
use crate::load::run::LoadRun;
use crate::load::scenario::{Scenario, TrafficKind};
use crate::load::session::Timeline;
use crate::load::shard::Shard;
use crate::load::tally::KindStats;
use crate::measure::latency::LatencySummary;
use crate::measure::memory::Least;
use crate::report::RunOf;
use crate::target::Target;

/// Bumped whenever a field of `load.json` or `capacity.json` changes
/// meaning or goes away.
pub const LOAD_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KindReport {
    pub offered_units: u64,
    pub accepted_units: u64,
    pub refused_units: u64,
    pub refused: BTreeMap<String, u64>,
    pub error_ratio: f64,
    /// Accepted units per second over the run.
    pub achieved_rate: f64,
    /// Send latency from each send's intended start, ms: what a user of
    /// the stack waited, a late start included.
    pub latency_ms: LatencySummary,
    /// Send latency from each send's actual start, ms: what the stack took.
    pub service_latency_ms: LatencySummary,
    /// Sends that began late against the plan: the harness fell behind.
    pub late_starts: u64,
    /// Times a sender waited for the sample collector.
    pub collector_stalls: u64,
    /// Request bytes sent, where the sender knows them.
    pub bytes_sent: u64,
    /// Why the kind's sender stopped early, if it did.
    pub failed: Option<String>,
}

impl KindReport {
    pub fn of(stats: &KindStats, duration_secs: f64) -> KindReport {
        KindReport {
            offered_units: stats.units_accepted + stats.units_refused,
            accepted_units: stats.units_accepted,
            refused_units: stats.units_refused,
            refused: stats.refused.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            error_ratio: stats.error_ratio(),
            achieved_rate: stats.units_accepted as f64 / duration_secs,
            latency_ms: stats.latency.summary(),
            service_latency_ms: stats.service.summary(),
            late_starts: stats.late_starts,
            collector_stalls: stats.collector_stalls,
            bytes_sent: stats.bytes_sent,
            failed: stats.failed.clone(),
        }
    }
}

/// One pillar's ingest markers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IngestReport {
    pub sent: u64,
    pub found: u64,
    /// Markers whose reads failed: counted neither found nor missing.
    pub undecided: u64,
    pub errors: u64,
    /// Found over decided markers; `null` when none was decided.
    pub completeness: Option<f64>,
    /// Write-to-queryable latency, ms.
    pub latency_ms: LatencySummary,
}

impl IngestReport {
    pub fn of(markers: &PillarMarkers) -> IngestReport {
        IngestReport {
            sent: markers.sent,
            found: markers.found,
            undecided: markers.undecided,
            errors: markers.errors,
            completeness: markers.completeness(),
            latency_ms: markers.latency.summary(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadReport {
    pub schema_version: u32,
    pub scenario: String,
    pub target: String,
    /// The target was the embedded reference stack, a test double.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reference_stack: bool,
    pub seed: u64,
    pub run_id: String,
    pub duration_secs: f64,
    pub interrupted: bool,
    pub kinds: BTreeMap<TrafficKind, KindReport>,
    /// Kinds the scenario names that the target has no endpoint for.
    pub not_driven: Vec<TrafficKind>,
    pub ingest: BTreeMap<Pillar, IngestReport>,
    /// The least memory headroom seen, and where.
    pub min_headroom: Option<Least>,
    /// The scenario's gate the run broke, if any.
    pub broken: Option<Broken>,
    /// Every gate on every kind, pillar and container, with its figure,
    /// its limit and whether it held.
    #[serde(default)]
    pub gates: Vec<Judged>,
    /// Pillars whose markers could not all be read back: the read path
    /// failed, which the gates do not count against the stack.
    pub unread: Vec<String>,
    /// The scenario's p99 ingest latency gate, ms.
    pub p99_slo_ms: u64,
    /// The scenario set no `[gates]`: it was judged by the defaults.
    pub default_gates: bool,
    /// Which shard of a split run this was (`--shard`); `null` for a whole
    /// run.
    #[serde(default)]
    pub shard: Option<Shard>,
    /// The shards a merged record was made from; empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged: Vec<MergedShard>,
    pub timeline: Timeline,
}

/// One shard a merged record was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedShard {
    pub index: u32,
    pub count: u32,
    pub run_id: String,
    pub seed: u64,
    /// Where its record was read from.
    pub source: String,
    pub interrupted: bool,
}

impl LoadReport {
    /// The record of `run`, a run of `scenario` against `target` (as
    /// `shard`, when it is one).
    pub fn of(scenario: &Scenario, target: &Target, RunOf { seed, run_id, shard }: RunOf, run: LoadRun) -> LoadReport {
        let LoadRun { observed, gates } = run;
        let duration = observed.duration_secs;
        LoadReport {
            schema_version: LOAD_SCHEMA_VERSION,
            scenario: scenario.name.clone(),
            target: target.name.clone(),
            reference_stack: target.kind == crate::target::TargetKind::Sim,
            seed: seed.0,
            run_id,
            duration_secs: duration,
            interrupted: observed.interrupted,
            kinds: observed
                .kinds
                .iter()
                .map(|(k, o)| (*k, KindReport::of(o, duration)))
                .collect(),
            not_driven: observed.not_driven.clone(),
            ingest: observed
                .markers
                .iter()
                .map(|(p, m)| (*p, IngestReport::of(m)))
                .collect(),
            min_headroom: gate::min_headroom(&observed, 0.0),
            broken: gate::first_broken(&gates),
            gates,
            unread: gate::unread(&observed),
            p99_slo_ms: scenario.gates.p99_ingest_latency.as_millis() as u64,
            default_gates: scenario.declared_gates.is_none(),
            shard,
            merged: Vec::new(),
            timeline: observed.timeline,
        }
    }

    /// No gate broke, but some pillar's markers could not be judged at all.
    pub fn undecided(&self) -> bool {
        self.broken.is_none() && self.ingest.values().any(|i| i.completeness.is_none())
    }
}
