//! `pillars capacity`: step the offered rate up by the scenario's factor
//! until a gate breaks, then bisect between the last good and the first bad
//! step; report the breaking point, which gate broke, how memory grows per
//! unit of load, and what that means for the instance.
//!
//! Gates judged today: refused share per traffic kind and memory headroom
//! per container (the least over the second half of each step, once the
//! stack has settled at the step's rate).
//!
//! Uses: load::{ingest, run, scenario}, measure::memory, checks (context).

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::checks::CheckCtx;
use crate::ids::Seed;
use crate::load::rate::RatePlan;
use crate::load::run::sample_memory;
use crate::load::scenario::{Scenario, TrafficKind};
use crate::load::traffic;
use crate::target::Target;

/// The gate a step broke.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "gate", rename_all = "snake_case")]
pub enum Broken {
    ErrorRatio { kind: TrafficKind, ratio: f64 },
    MemoryHeadroom { container: String, headroom: f64 },
}

#[derive(Debug, Clone, Serialize)]
pub struct StepResult {
    pub scale: f64,
    /// Units per second offered, all kinds together.
    pub offered_rate: f64,
    pub worst_error_ratio: f64,
    pub min_headroom: Option<(String, f64)>,
    pub max_working_set_bytes: u64,
    pub broken: Option<Broken>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CapacityReport {
    pub scenario: String,
    pub steps: Vec<StepResult>,
    /// Highest offered rate that broke no gate.
    pub last_good_rate: Option<f64>,
    /// Lowest offered rate that broke one, and the gate.
    pub first_bad: Option<(f64, Broken)>,
    /// Working-set bytes per unit/s of offered load, fitted over the steps.
    pub memory_bytes_per_unit: Option<f64>,
    pub recommendation: String,
}

/// Runs the scenario's mix at `scale` for `hold` and judges the gates.
pub async fn run_step(scenario: &Scenario, ctx: &CheckCtx, scale: f64, hold: Duration) -> StepResult {
    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut offered_rate = 0.0;
    for (kind, traffic) in &scenario.traffic {
        let rate = traffic.rate * scale;
        if let Some(task) = traffic::spawn(*kind, traffic, RatePlan::constant(rate, hold), ctx, stopped.clone()) {
            offered_rate += rate;
            tasks.push(task);
        }
    }
    // Memory over the second half of the step, once the rate has settled.
    let started = Instant::now();
    tokio::time::sleep(hold / 2).await;
    let mut min_headroom: Option<(String, f64)> = None;
    let mut max_working_set = 0;
    while started.elapsed() < hold {
        for m in sample_memory(ctx).await {
            max_working_set = max_working_set.max(m.working_set_bytes);
            if let Some(h) = m.headroom()
                && min_headroom.as_ref().is_none_or(|(_, least)| h < *least)
            {
                min_headroom = Some((m.container.clone(), h));
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let _ = stop.send(true);
    let mut worst: Option<(TrafficKind, f64)> = None;
    for task in tasks {
        if let Ok((kind, _, stats)) = task.await {
            let ratio = stats.error_ratio();
            if worst.is_none_or(|(_, w)| ratio > w) {
                worst = Some((kind, ratio));
            }
        }
    }
    let gates = &scenario.gates;
    let broken = match (&worst, &min_headroom) {
        (Some((kind, ratio)), _) if *ratio > gates.max_error_ratio => Some(Broken::ErrorRatio {
            kind: *kind,
            ratio: *ratio,
        }),
        (_, Some((container, h))) if *h < gates.min_memory_headroom => Some(Broken::MemoryHeadroom {
            container: container.clone(),
            headroom: *h,
        }),
        _ => None,
    };
    StepResult {
        scale,
        offered_rate,
        worst_error_ratio: worst.map_or(0.0, |(_, r)| r),
        min_headroom,
        max_working_set_bytes: max_working_set,
        broken,
    }
}

/// Steps up until a gate breaks, then bisects.
pub async fn search(
    scenario: &Scenario,
    target: Arc<Target>,
    seed: Seed,
    run_id: String,
    mut progress: impl FnMut(&StepResult),
) -> Result<CapacityReport, String> {
    let Some(search) = &scenario.search else {
        return Err(format!("scenario `{}` has no [search] section", scenario.name));
    };
    let ctx = CheckCtx::new(target.clone(), run_id, seed, Default::default());
    let mut steps = Vec::new();
    let mut good: Option<f64> = None;
    let mut bad: Option<f64> = None;
    let mut scale = search.start_scale;
    for _ in 0..search.max_steps {
        let step = run_step(scenario, &ctx, scale, search.step_duration).await;
        progress(&step);
        let broke = step.broken.is_some();
        steps.push(step);
        if broke {
            bad = Some(scale);
            break;
        }
        good = Some(scale);
        scale *= search.factor;
    }
    if let (Some(mut lo), Some(mut hi)) = (good, bad) {
        for _ in 0..search.bisect_steps {
            let mid = (lo + hi) / 2.0;
            let step = run_step(scenario, &ctx, mid, search.step_duration).await;
            progress(&step);
            if step.broken.is_some() {
                hi = mid;
            } else {
                lo = mid;
            }
            steps.push(step);
        }
        good = Some(lo);
        bad = Some(hi);
    }
    let rate_at = |s: f64| steps.iter().find(|r| r.scale == s).map(|r| r.offered_rate);
    let last_good_rate = good.and_then(rate_at);
    let first_bad = bad.and_then(|s| {
        let step = steps.iter().find(|r| r.scale == s)?;
        Some((step.offered_rate, step.broken.clone()?))
    });
    let memory_bytes_per_unit = slope(&steps);
    let recommendation = recommend(&target, last_good_rate, first_bad.as_ref(), memory_bytes_per_unit);
    Ok(CapacityReport {
        scenario: scenario.name.clone(),
        steps,
        last_good_rate,
        first_bad,
        memory_bytes_per_unit,
        recommendation,
    })
}

/// Least-squares slope of the largest working set against offered rate.
fn slope(steps: &[StepResult]) -> Option<f64> {
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

fn recommend(target: &Target, good: Option<f64>, bad: Option<&(f64, Broken)>, slope: Option<f64>) -> String {
    let mib = |b: f64| b / (1024.0 * 1024.0);
    let mut text = match (good, bad) {
        (Some(g), Some((b, gate))) => {
            let what = match gate {
                Broken::ErrorRatio { kind, ratio } => format!(
                    "{} refused {:.1} %",
                    serde_json::to_value(kind)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    ratio * 100.0
                ),
                Broken::MemoryHeadroom { container, headroom } => {
                    format!("{container} kept only {:.0} % memory headroom", headroom * 100.0)
                }
            };
            format!("{} holds {g:.0} units/s; at {b:.0} units/s {what}", target.name)
        }
        (None, Some((b, _))) => format!("{} broke already at the first step, {b:.0} units/s", target.name),
        (Some(g), None) => format!("{} held every step, up to {g:.0} units/s; no gate broke", target.name),
        (None, None) => "no step ran".to_owned(),
    };
    if let Some(s) = slope.filter(|s| *s > 0.0) {
        text.push_str(&format!("; memory grows ~{:.2} MiB per 100 units/s", mib(s * 100.0)));
        if let (Some(budget), Some(g)) = (target.limits.memory_budget_bytes, good) {
            text.push_str(&format!(
                "; an instance with twice the {:.0} MiB budget would hold ~{:.0} units/s at this slope",
                mib(budget as f64),
                g + budget as f64 / s
            ));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(rate: f64, ws: u64) -> StepResult {
        StepResult {
            scale: 1.0,
            offered_rate: rate,
            worst_error_ratio: 0.0,
            min_headroom: None,
            max_working_set_bytes: ws,
            broken: None,
        }
    }

    #[test]
    fn slope_fits_memory_per_unit() {
        let s = slope(&[step(100.0, 1_000), step(200.0, 2_000), step(300.0, 3_000)]).unwrap();
        assert!((s - 10.0).abs() < 1e-9);
        assert_eq!(slope(&[step(100.0, 1)]), None);
    }
}
