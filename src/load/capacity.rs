//! `pillars capacity`: step the offered rate up by the scenario's factor
//! until a gate breaks, then bisect between the last good and the first bad
//! step; report the breaking point, which gate broke, how memory grows per
//! unit of load, and what that means for the instance.
//!
//! Each step is one watched session (`load::session`) judged by the
//! scenario's gates (`load::gate`); memory is judged over the second half of
//! the step, once the stack has settled at the step's rate. Ctrl-C ends the
//! search with what the finished steps showed.
//!
//! Uses: load::{gate, session, scenario, progress}, checks (context).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use tokio::time::Instant;

use crate::checks::{CheckCtx, Pillar};
use crate::ids::Seed;
use crate::load::gate::{self, Broken};
use crate::load::progress::Progress;
use crate::load::rate::RatePlan;
use crate::load::run::LOAD_SCHEMA_VERSION;
use crate::load::scenario::{Scenario, TrafficKind};
use crate::load::session::{self, Observed, Timeline, Watch};
use crate::measure::memory::Least;
use crate::target::Target;

#[derive(Debug, Clone, Serialize)]
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
}

/// The lowest offered rate that broke a gate, and the gate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FirstBad {
    /// Units per second.
    pub rate: f64,
    #[serde(flatten)]
    pub broken: Broken,
}

#[derive(Debug, Clone, Serialize)]
pub struct CapacityReport {
    pub schema_version: u32,
    pub scenario: String,
    pub target: String,
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
    /// The scenario's p99 ingest latency gate, ms.
    pub p99_slo_ms: u64,
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
) -> Result<CapacityReport, String> {
    let Some(search) = &scenario.search else {
        return Err(format!("scenario `{}` has no [search] section", scenario.name));
    };
    let ctx = CheckCtx::new(target.clone(), run_id.clone(), seed, Default::default());
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
    let recommendation = recommend(&target, last_good, first_bad.as_ref(), memory_bytes_per_unit);
    Ok(CapacityReport {
        schema_version: LOAD_SCHEMA_VERSION,
        scenario: scenario.name.clone(),
        target: target.name.clone(),
        seed: seed.0,
        run_id,
        interrupted,
        last_good_rate: last_good.map(|s| s.offered_rate),
        first_bad,
        memory_bytes_per_unit,
        recommendation,
        steps,
        p99_slo_ms: scenario.gates.p99_ingest_latency.as_millis() as u64,
        timeline,
    })
}

/// One line per finished step, as the search goes.
pub fn step_line(step: &StepResult) -> String {
    let headroom = step
        .min_headroom
        .as_ref()
        .map(|least| format!("{least} headroom"))
        .unwrap_or_else(|| "no memory limit seen".into());
    let p99: Vec<String> = step
        .ingest_p99_ms
        .iter()
        .map(|(p, ms)| format!("{} {ms} ms", p.as_str()))
        .collect();
    let verdict = match &step.broken {
        Some(b) => format!("  <- {b}"),
        None => String::new(),
    };
    format!(
        "  x{:.2}: {:.0} units/s offered, {:.0} accepted, refused {:.1} %, ingest p99 [{}], {headroom}{verdict}",
        step.scale,
        step.offered_rate,
        step.achieved_rate,
        step.worst_error_ratio * 100.0,
        p99.join(", ")
    )
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

/// "500 otlp_traces/s + 100 otlp_logs/s".
fn mix_text(mix: &BTreeMap<TrafficKind, f64>) -> String {
    let parts: Vec<String> = mix.iter().map(|(k, r)| format!("{r:.0} {}/s", k.as_str())).collect();
    parts.join(" + ")
}

fn recommend(target: &Target, good: Option<&StepResult>, bad: Option<&FirstBad>, slope: Option<f64>) -> String {
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
                target.name,
                mix_text(&g.mix),
                g.offered_rate
            )
        }
        (None, Some(FirstBad { rate: b, broken: gate })) => format!(
            "{} broke already at the first step, {b:.0} units/s: {gate}; start the search lower",
            target.name
        ),
        (Some(g), None) => format!(
            "{} held every step, up to {} ({:.0} units/s); no gate broke, so raise max_steps or factor",
            target.name,
            mix_text(&g.mix),
            g.offered_rate
        ),
        (None, None) => "no step finished".to_owned(),
    };
    if let Some(s) = slope.filter(|s| *s > 0.0) {
        text.push_str(&format!("; memory grows ~{:.2} MiB per 100 units/s", mib(s * 100.0)));
        if let (Some(budget), Some(g)) = (target.limits.memory_budget_bytes, good) {
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
        }
    }

    #[test]
    fn slope_fits_memory_per_unit() {
        let s = slope(&[step(100.0, 1_000), step(200.0, 2_000), step(300.0, 3_000)]).unwrap();
        assert!((s - 10.0).abs() < 1e-9);
        assert_eq!(slope(&[step(100.0, 1)]), None);
    }
}
