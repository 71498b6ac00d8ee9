//! `pillars load`: run a scenario's traffic against a target, every kind
//! side by side, sample memory every few seconds, stop at the plan's end or
//! on Ctrl-C, and report per kind what was offered, accepted and refused.
//!
//! A kind the target has no endpoint for is listed as not driven, never
//! silently dropped.
//!
//! Uses: load::{ingest, scenario}, measure::{latency, memory}, emit::otlp,
//! target.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::checks::CheckCtx;
use crate::console::Console;
use crate::ids::Seed;
use crate::load::ingest::KindStats;
use crate::load::scenario::{Scenario, TrafficKind};
use crate::load::traffic;
use crate::measure::latency::LatencySummary;
use crate::measure::memory::{self, ContainerMemory, Headroom};
use crate::target::{Target, TargetKind};

/// How often memory is sampled.
const MEMORY_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Serialize)]
pub struct KindReport {
    pub offered_units: u64,
    pub accepted_units: u64,
    pub refused_units: u64,
    pub refused: BTreeMap<&'static str, u64>,
    pub error_ratio: f64,
    /// Accepted units per second over the run.
    pub achieved_rate: f64,
    /// Send latency from each batch's intended start, ms.
    pub latency_ms: LatencySummary,
}

#[derive(Debug, Clone, Serialize)]
pub struct MemoryPoint {
    pub at_secs: f64,
    pub containers: Vec<ContainerMemory>,
    pub headroom: Headroom,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub scenario: String,
    pub seed: u64,
    pub run_id: String,
    pub duration_secs: f64,
    pub interrupted: bool,
    pub kinds: BTreeMap<TrafficKind, KindReport>,
    /// Kinds the scenario names that the target has no endpoint for.
    pub not_driven: Vec<TrafficKind>,
    pub memory: Vec<MemoryPoint>,
}

impl LoadReport {
    /// The largest refused share of any kind.
    pub fn worst_error_ratio(&self) -> f64 {
        self.kinds.values().map(|k| k.error_ratio).fold(0.0, f64::max)
    }
}

/// Samples memory from the best source the target has: cAdvisor's series
/// in Mimir (the deployment's, or the reference stack's own), else this
/// process on the embedded stack.
pub async fn sample_memory(ctx: &CheckCtx) -> Vec<ContainerMemory> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let from_mimir = match ctx.mimir() {
        Some(mimir) => memory::from_cadvisor(&mimir, now).await.unwrap_or_default(),
        None => Vec::new(),
    };
    if from_mimir.is_empty() && ctx.target.kind == TargetKind::Sim {
        return memory::own_process().into_iter().collect();
    }
    from_mimir
}

/// Runs `scenario` against `target`.
pub async fn run(
    scenario: &Scenario,
    target: Arc<Target>,
    seed: Seed,
    run_id: String,
    console: &mut Console,
) -> LoadReport {
    let ctx = CheckCtx::new(target.clone(), run_id.clone(), seed, Default::default());
    let (stop, stopped) = watch::channel(false);
    let started = Instant::now();
    let mut tasks = Vec::new();
    let mut not_driven = Vec::new();
    for (kind, traffic) in &scenario.traffic {
        match traffic::spawn(*kind, traffic, scenario.plan(*kind, 1.0), &ctx, stopped.clone()) {
            Some(task) => tasks.push(task),
            None => not_driven.push(*kind),
        }
    }
    if !not_driven.is_empty() {
        let names: Vec<String> = not_driven
            .iter()
            .filter_map(|k| serde_json::to_value(k).ok()?.as_str().map(str::to_owned))
            .collect();
        let _ = writeln!(
            console.err,
            "the target has no endpoint for, so not driven: {}",
            names.join(", ")
        );
    }

    // Memory every few seconds until the plan ends or Ctrl-C.
    let until = started + scenario.total_duration();
    let mut memory_points = Vec::new();
    let mut interrupted = false;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let containers = sample_memory(&ctx).await;
        memory_points.push(MemoryPoint {
            at_secs: started.elapsed().as_secs_f64(),
            headroom: memory::headroom(&containers, target.limits.memory_budget_bytes),
            containers,
        });
        let next = (Instant::now() + MEMORY_EVERY).min(until);
        if next >= until {
            tokio::time::sleep_until(until).await;
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = &mut ctrl_c => {
                interrupted = true;
                let _ = writeln!(console.err, "interrupted: stopping the load and writing a partial report");
                break;
            }
        }
    }
    let _ = stop.send(true);
    let duration = started.elapsed().as_secs_f64().max(1e-3);
    let mut kinds = BTreeMap::new();
    for task in tasks {
        let Ok((kind, offered, stats)) = task.await else {
            continue;
        };
        kinds.insert(kind, report(&stats, offered, duration));
    }
    LoadReport {
        scenario: scenario.name.clone(),
        seed: seed.0,
        run_id,
        duration_secs: duration,
        interrupted,
        kinds,
        not_driven,
        memory: memory_points,
    }
}

fn report(stats: &KindStats, offered: u64, duration_secs: f64) -> KindReport {
    KindReport {
        offered_units: offered,
        accepted_units: stats.units_accepted,
        refused_units: stats.units_refused,
        refused: stats.refused.clone(),
        error_ratio: stats.error_ratio(),
        achieved_rate: stats.units_accepted as f64 / duration_secs,
        latency_ms: stats.latency.summary(),
    }
}

/// The summary table of a load run.
pub fn render(report: &LoadReport) -> String {
    let mut out = format!(
        "scenario {} for {:.1}s{}\n  {:<18} {:>10} {:>10} {:>10} {:>8} {:>9}\n",
        report.scenario,
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
        let name = serde_json::to_value(kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        out.push_str(&format!(
            "  {name:<18} {:>10} {:>10} {:>10} {:>8.1} {:>9}\n",
            k.offered_units, k.accepted_units, k.refused_units, k.achieved_rate, k.latency_ms.p99
        ));
    }
    if let Some(last) = report.memory.last() {
        if let Some((container, headroom)) = &last.headroom.min_container {
            out.push_str(&format!(
                "  least memory headroom: {container} {:.0} %\n",
                headroom * 100.0
            ));
        }
        out.push_str(&format!(
            "  memory in use: {} MiB\n",
            last.headroom.total_bytes / (1024 * 1024)
        ));
    }
    out
}
