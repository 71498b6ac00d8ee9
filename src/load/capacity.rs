//! `pillars capacity`'s search: step the offered rate up by the scenario's
//! factor until a gate breaks, then bisect between the last good and the
//! first bad step; find the breaking point, which gate broke and how memory
//! grows per unit of load. What that means for the instance is said by
//! `report::capacity`.
//!
//! Each step is one watched session (`load::session`) judged by the
//! scenario's gates (`load::gate`); memory is judged over the second half of
//! the step, once the stack has settled at the step's rate. Ctrl-C ends the
//! search with what the finished steps showed.
//!
//! Uses: load::{gate, session, scenario, progress, rate}, check (context),
//! measure::memory.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::check::{CheckCtx, Pillar};
use crate::ids::Seed;
use crate::load::gate::{self, Broken};
use crate::load::progress::Progress;
use crate::load::rate::RatePlan;
use crate::load::scenario::{Scenario, TrafficKind};
use crate::load::session::{self, Observed, Timeline, Watch};
use crate::measure::latency::LatencySummary;
use crate::measure::memory::Least;
use crate::target::Target;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepResult {
    pub scale: f64,
    /// Seconds since the search began.
    pub started_secs: f64,
    pub duration_secs: f64,
    /// Units per second offered, all driven kinds together.
    pub offered_rate: f64,
    /// Units per second accepted, all kinds together.
    pub achieved_rate: f64,
    /// Each driven kind's offered rate.
    pub mix: BTreeMap<TrafficKind, f64>,
    pub worst_error_ratio: f64,
    pub ingest_p99_ms: BTreeMap<Pillar, u64>,
    /// Found over decided markers, per pillar with any decided.
    pub completeness: BTreeMap<Pillar, f64>,
    /// Markers whose reads failed, per pillar that had any.
    pub undecided: BTreeMap<Pillar, u64>,
    pub min_headroom: Option<Least>,
    pub max_working_set_bytes: u64,
    pub broken: Option<Broken>,
    /// Each driven kind's accepted and refused units: what `pillars merge`
    /// adds up across shards.
    #[serde(default)]
    pub units: BTreeMap<TrafficKind, StepUnits>,
    /// Each pillar's markers, with their latency histogram.
    #[serde(default)]
    pub markers: BTreeMap<Pillar, StepMarkers>,
}

/// A kind's units over one step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct StepUnits {
    pub accepted: u64,
    pub refused: u64,
}

/// A pillar's markers over one step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepMarkers {
    pub sent: u64,
    pub found: u64,
    pub undecided: u64,
    /// Write-to-queryable latency, ms.
    pub latency_ms: LatencySummary,
}

/// The lowest offered rate that broke a gate, and the gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FirstBad {
    /// Units per second.
    pub rate: f64,
    #[serde(flatten)]
    pub broken: Broken,
}

/// What a capacity search found.
#[derive(Debug, Clone)]
pub struct Search {
    /// Ctrl-C ended the search early.
    pub interrupted: bool,
    /// Every finished step, in the order they ran.
    pub steps: Vec<StepResult>,
    /// The step at the highest offered rate that broke no gate.
    pub last_good: Option<StepResult>,
    /// The lowest offered rate that broke one, and the gate.
    pub first_bad: Option<FirstBad>,
    /// Working-set bytes per unit/s of offered load, fitted over the steps.
    pub memory_bytes_per_unit: Option<f64>,
    /// The steps' timelines, one after the other.
    pub timeline: Timeline,
}

/// One step's figures from its session.
fn step_result(scenario: &Scenario, scale: f64, observed: &Observed) -> StepResult {
    let settled = observed.started_secs + observed.duration_secs / 2.0;
    let mix: BTreeMap<TrafficKind, f64> = scenario
        .traffic
        .iter()
        .filter(|(k, _)| observed.kinds.contains_key(k))
        .map(|(k, t)| (*k, t.rate * scale))
        .collect();
    let accepted: u64 = observed.kinds.values().map(|stats| stats.units_accepted).sum();
    let max_working_set_bytes = observed
        .timeline
        .memory
        .iter()
        .filter(|m| m.at_secs >= settled)
        .flat_map(|m| m.containers.iter().map(|c| c.working_set_bytes))
        .max()
        .unwrap_or(0);
    StepResult {
        scale,
        started_secs: observed.started_secs,
        duration_secs: observed.duration_secs,
        offered_rate: mix.values().sum(),
        achieved_rate: accepted as f64 / observed.duration_secs,
        mix,
        worst_error_ratio: gate::worst_error_ratio(observed).map_or(0.0, |(_, r)| r),
        ingest_p99_ms: observed
            .markers
            .iter()
            .filter_map(|(p, m)| Some((*p, m.p99_ms()?)))
            .collect(),
        completeness: observed
            .markers
            .iter()
            .filter_map(|(p, m)| Some((*p, m.completeness()?)))
            .collect(),
        undecided: observed
            .markers
            .iter()
            .filter(|(_, m)| m.undecided > 0)
            .map(|(p, m)| (*p, m.undecided))
            .collect(),
        min_headroom: gate::min_headroom(observed, settled),
        max_working_set_bytes,
        broken: gate::judge(&scenario.gates, observed, settled),
        units: observed
            .kinds
            .iter()
            .map(|(k, stats)| {
                let units = StepUnits {
                    accepted: stats.units_accepted,
                    refused: stats.units_refused,
                };
                (*k, units)
            })
            .collect(),
        markers: observed
            .markers
            .iter()
            .map(|(p, m)| {
                let markers = StepMarkers {
                    sent: m.sent,
                    found: m.found,
                    undecided: m.undecided,
                    latency_ms: m.latency.summary(),
                };
                (*p, markers)
            })
            .collect(),
    }
}

/// Steps up until a gate breaks, then bisects. `each_step` hears of every
/// step as it ends.
pub async fn search(
    scenario: &Scenario,
    target: Arc<Target>,
    seed: Seed,
    run_id: String,
    progress: &Progress,
    mut each_step: impl FnMut(&StepResult),
) -> Result<Search, String> {
    let Some(search) = &scenario.search else {
        return Err(format!("scenario `{}` has no [search] section", scenario.name));
    };
    let ctx = CheckCtx::new(target, run_id, seed, Default::default());
    let origin = Instant::now();
    let mut steps = Vec::new();
    let mut timeline = Timeline::default();
    let mut interrupted = false;
    let mut run_step = async |scale: f64, steps: &mut Vec<StepResult>| -> Option<bool> {
        let mix = scenario
            .traffic
            .iter()
            .map(|(k, t)| (*k, t.clone(), RatePlan::constant(t.rate * scale, search.step_duration)))
            .collect();
        let name = format!("x{scale:.2}");
        let watch = Watch {
            origin,
            marker_give_up: Watch::give_up_for(&scenario.gates),
            progress,
            name: &name,
        };
        let observed = session::observe(&ctx, mix, search.step_duration, watch).await;
        if observed.interrupted {
            return None;
        }
        let step = step_result(scenario, scale, &observed);
        timeline.append(observed.timeline);
        each_step(&step);
        let broke = step.broken.is_some();
        steps.push(step);
        Some(broke)
    };

    let mut good: Option<f64> = None;
    let mut bad: Option<f64> = None;
    let mut scale = search.start_scale;
    for _ in 0..search.max_steps {
        match run_step(scale, &mut steps).await {
            None => {
                interrupted = true;
                break;
            }
            Some(true) => {
                bad = Some(scale);
                break;
            }
            Some(false) => {
                good = Some(scale);
                scale *= search.factor;
            }
        }
    }
    if let (Some(mut lo), Some(mut hi)) = (good, bad) {
        for _ in 0..search.bisect_steps {
            let mid = (lo + hi) / 2.0;
            match run_step(mid, &mut steps).await {
                None => {
                    interrupted = true;
                    break;
                }
                Some(true) => hi = mid,
                Some(false) => lo = mid,
            }
        }
        good = Some(lo);
        bad = Some(hi);
    }
    progress.finish();
    let at = |s: f64| steps.iter().find(|r| r.scale == s);
    let last_good = good.and_then(at);
    let first_bad = bad.and_then(|s| {
        let step = at(s)?;
        Some(FirstBad {
            rate: step.offered_rate,
            broken: step.broken.clone()?,
        })
    });
    let memory_bytes_per_unit = slope(&steps);
    Ok(Search {
        interrupted,
        last_good: last_good.cloned(),
        first_bad,
        memory_bytes_per_unit,
        steps,
        timeline,
    })
}

/// Least-squares slope of the largest working set against offered rate.
pub fn slope(steps: &[StepResult]) -> Option<f64> {
    let points: Vec<(f64, f64)> = steps
        .iter()
        .filter(|s| s.max_working_set_bytes > 0)
        .map(|s| (s.offered_rate, s.max_working_set_bytes as f64))
        .collect();
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let (mx, my) = (
        points.iter().map(|p| p.0).sum::<f64>() / n,
        points.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let var: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    (var > 0.0).then(|| points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / var)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(rate: f64, ws: u64) -> StepResult {
        StepResult {
            scale: 1.0,
            started_secs: 0.0,
            duration_secs: 1.0,
            offered_rate: rate,
            achieved_rate: rate,
            mix: BTreeMap::new(),
            worst_error_ratio: 0.0,
            ingest_p99_ms: BTreeMap::new(),
            completeness: BTreeMap::new(),
            undecided: BTreeMap::new(),
            min_headroom: None,
            max_working_set_bytes: ws,
            broken: None,
            units: BTreeMap::new(),
            markers: BTreeMap::new(),
        }
    }

    #[test]
    fn slope_fits_memory_per_unit() {
        let s = slope(&[step(100.0, 1_000), step(200.0, 2_000), step(300.0, 3_000)]).unwrap();
        assert!((s - 10.0).abs() < 1e-9);
        assert_eq!(slope(&[step(100.0, 1)]), None);
    }
}
