//! `pillars load`: run a scenario's traffic against a target, every kind
//! side by side, watched by ingest markers and memory samples, stop at the
//! plan's end or on Ctrl-C, and report per kind what was offered, accepted
//! and refused, per pillar the ingest latency and completeness, and the
//! gate the run broke, if any.
//!
//! A kind the target has no endpoint for is listed as not driven, never
//! silently dropped.
//!
//! Uses: load::{gate, session, scenario, progress}, measure::latency, checks.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use tokio::time::Instant;

use crate::checks::{CheckCtx, Pillar};
use crate::console::printable;
use crate::ids::Seed;
use crate::load::gate::{self, Broken};
use crate::load::markers::PillarMarkers;
use crate::load::progress::Progress;
use crate::load::scenario::{Scenario, TrafficKind};
use crate::load::session::{self, Observed, Timeline, Watch};
use crate::load::tally::KindStats;
use crate::measure::latency::LatencySummary;
use crate::measure::memory::Least;
use crate::target::Target;

/// Bumped whenever a field of `load.json` or `capacity.json` changes
/// meaning or goes away.
pub const LOAD_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct KindReport {
    pub offered_units: u64,
    pub accepted_units: u64,
    pub refused_units: u64,
    pub refused: BTreeMap<&'static str, u64>,
    pub error_ratio: f64,
    /// Accepted units per second over the run.
    pub achieved_rate: f64,
    /// Send latency from each send's intended start, ms.
    pub latency_ms: LatencySummary,
    /// Why the kind's sender stopped early, if it did.
    pub failed: Option<String>,
}

impl KindReport {
    pub fn of(stats: &KindStats, duration_secs: f64) -> KindReport {
        KindReport {
            offered_units: stats.units_accepted + stats.units_refused,
            accepted_units: stats.units_accepted,
            refused_units: stats.units_refused,
            refused: stats.refused.clone(),
            error_ratio: stats.error_ratio(),
            achieved_rate: stats.units_accepted as f64 / duration_secs,
            latency_ms: stats.latency.summary(),
            failed: stats.failed.clone(),
        }
    }
}

/// One pillar's ingest markers.
#[derive(Debug, Clone, Serialize)]
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

#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub schema_version: u32,
    pub scenario: String,
    pub target: String,
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
    /// Pillars whose markers could not all be read back: the read path
    /// failed, which the gates do not count against the stack.
    pub unread: Vec<String>,
    /// The scenario's p99 ingest latency gate, ms.
    pub p99_slo_ms: u64,
    /// The scenario set no `[gates]`: it was judged by the defaults.
    pub default_gates: bool,
    pub timeline: Timeline,
}

/// Runs `scenario` against `target`.
pub async fn run(
    scenario: &Scenario,
    target: Arc<Target>,
    seed: Seed,
    run_id: String,
    progress: &Progress,
) -> LoadReport {
    let ctx = CheckCtx::new(target.clone(), run_id.clone(), seed, Default::default());
    let mix = scenario
        .traffic
        .iter()
        .map(|(kind, traffic)| (*kind, traffic.clone(), scenario.plan(*kind, 1.0)))
        .collect();
    let watch = Watch {
        origin: Instant::now(),
        marker_give_up: Watch::give_up_for(&scenario.gates),
        progress,
        name: &scenario.name,
    };
    let observed = session::observe(&ctx, mix, scenario.total_duration(), watch).await;
    progress.finish();
    let broken = gate::judge(&scenario.gates, &observed, 0.0);
    report(scenario, &target, seed, run_id, observed, broken)
}

fn report(
    scenario: &Scenario,
    target: &Target,
    seed: Seed,
    run_id: String,
    observed: Observed,
    broken: Option<Broken>,
) -> LoadReport {
    let duration = observed.duration_secs;
    LoadReport {
        schema_version: LOAD_SCHEMA_VERSION,
        scenario: scenario.name.clone(),
        target: target.name.clone(),
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
        broken,
        unread: gate::unread(&observed),
        p99_slo_ms: scenario.gates.p99_ingest_latency.as_millis() as u64,
        default_gates: scenario.declared_gates.is_none(),
        timeline: observed.timeline,
    }
}

/// The summary table of a load run.
pub fn render(report: &LoadReport) -> String {
    let mut out = format!(
        "scenario {} against {} for {:.1}s{}\n  {:<18} {:>10} {:>10} {:>10} {:>8} {:>9}\n",
        printable(&report.scenario),
        printable(&report.target),
        report.duration_secs,
        if report.interrupted { " (interrupted)" } else { "" },
        "KIND",
        "OFFERED",
        "ACCEPTED",
        "REFUSED",
        "UNITS/S",
        "p99 ms"
    );
    for (kind, k) in &report.kinds {
        out.push_str(&format!(
            "  {:<18} {:>10} {:>10} {:>10} {:>8.1} {:>9}\n",
            kind.as_str(),
            k.offered_units,
            k.accepted_units,
            k.refused_units,
            k.achieved_rate,
            k.latency_ms.p99
        ));
        if let Some(why) = &k.failed {
            out.push_str(&format!("    stopped early: {}\n", printable(why)));
        }
    }
    if !report.not_driven.is_empty() {
        let names: Vec<&str> = report.not_driven.iter().map(|k| k.as_str()).collect();
        out.push_str(&format!("  not driven (no endpoint): {}\n", names.join(", ")));
    }
    if !report.ingest.is_empty() {
        out.push_str(&format!(
            "  {:<18} {:>10} {:>10} {:>10} {:>10} {:>9}\n",
            "INGEST", "MARKERS", "FOUND", "UNDECIDED", "p50 ms", "p99 ms"
        ));
        for (pillar, i) in &report.ingest {
            out.push_str(&format!(
                "  {:<18} {:>10} {:>10} {:>10} {:>10} {:>9}\n",
                pillar.as_str(),
                i.sent,
                i.found,
                i.undecided,
                i.latency_ms.p50,
                i.latency_ms.p99
            ));
        }
    }
    if let Some(least) = &report.min_headroom {
        out.push_str(&format!("  least memory headroom: {least}\n"));
    }
    for line in &report.unread {
        out.push_str(&format!("  undecided: {}\n", printable(line)));
    }
    match &report.broken {
        Some(b) => out.push_str(&format!("  gate broken: {b}\n")),
        None if !report.unread.is_empty() => {
            out.push_str("  no gate broke, but the stack could not be read for every marker\n")
        }
        None if report.default_gates => {
            out.push_str("  every gate held (the default gates: the scenario sets no [gates])\n")
        }
        None => out.push_str("  every gate held\n"),
    }
    out
}
