//! One stretch of load, watched: every kind of a mix sent along its plan,
//! ingest markers through each pillar every second, memory every few
//! seconds, each kind's offered and achieved rate every second, and the
//! progress bars fed from those same readings. `pillars load` runs one
//! session; `pillars capacity` one per step.
//!
//! Uses: load::{markers, progress, rate, scenario, tally, traffic},
//! measure::memory, checks (context).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::checks::{CheckCtx, Pillar};
use crate::load::markers::{MarkerPoint, Markers, PillarMarkers};
use crate::load::progress::Progress;
use crate::load::rate::RatePlan;
use crate::load::scenario::{Traffic, TrafficKind};
use crate::load::tally::{Counts, KindStats};
use crate::load::traffic;
use crate::measure::memory::{self, ContainerMemory, Headroom};

/// How often memory is sampled at most: every 2 s, and at least eight
/// times a session, so a short capacity step still has a settled half.
fn memory_every(length: Duration) -> Duration {
    (length / 8).clamp(Duration::from_millis(250), Duration::from_secs(2))
}
/// How often rates are read, and markers sent.
const TICK: Duration = Duration::from_secs(1);

/// A kind's rates over one tick.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RatePoint {
    pub at_secs: f64,
    /// Units per second handed to the sender.
    pub offered: f64,
    /// Units per second the stack accepted.
    pub achieved: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryPoint {
    pub at_secs: f64,
    pub containers: Vec<ContainerMemory>,
    pub headroom: Headroom,
}

/// What happened over time, seconds since the run began.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Timeline {
    pub rates: BTreeMap<TrafficKind, Vec<RatePoint>>,
    pub ingest: BTreeMap<Pillar, Vec<MarkerPoint>>,
    pub memory: Vec<MemoryPoint>,
}

impl Timeline {
    pub fn append(&mut self, other: Timeline) {
        for (kind, points) in other.rates {
            self.rates.entry(kind).or_default().extend(points);
        }
        for (pillar, points) in other.ingest {
            self.ingest.entry(pillar).or_default().extend(points);
        }
        self.memory.extend(other.memory);
    }
}

/// What a session saw.
#[derive(Debug, Clone)]
pub struct Observed {
    pub started_secs: f64,
    pub duration_secs: f64,
    pub interrupted: bool,
    pub kinds: BTreeMap<TrafficKind, KindStats>,
    /// Kinds the mix names that the target has no endpoint for.
    pub not_driven: Vec<TrafficKind>,
    pub markers: BTreeMap<Pillar, PillarMarkers>,
    pub timeline: Timeline,
}

/// How a session is run and shown.
pub struct Watch<'a> {
    /// Times in the timeline are seconds since this.
    pub origin: Instant,
    /// A marker not read back by then counts as missing.
    pub marker_give_up: Duration,
    pub progress: &'a Progress,
    /// The progress phase's title.
    pub name: &'a str,
}

impl Watch<'_> {
    /// Markers give up at twice the latency gate: late enough that a slow
    /// marker shows as latency over the SLO, not as lost.
    pub fn give_up_for(gates: &crate::load::scenario::Gates) -> Duration {
        gates.p99_ingest_latency * 2
    }
}

/// Sends `mix` (each kind along its plan) for `length` until the plans end
/// or Ctrl-C, watched as `watch` says.
pub async fn observe(
    ctx: &CheckCtx,
    mix: Vec<(TrafficKind, Traffic, RatePlan)>,
    length: Duration,
    watch: Watch<'_>,
) -> Observed {
    let Watch {
        origin,
        marker_give_up,
        progress,
        name,
    } = watch;
    let (stop, stopped) = watch::channel(false);
    let started = Instant::now();
    let started_secs = started.duration_since(origin).as_secs_f64();
    let mut running = Vec::new();
    let mut not_driven = Vec::new();
    for (kind, traffic, plan) in mix {
        match traffic::spawn(kind, &traffic, plan, ctx, stopped.clone()) {
            Some(r) => running.push(r),
            None => not_driven.push(kind),
        }
    }
    let markers = Markers::start(ctx, TICK, marker_give_up, origin, stopped.clone());
    let memory = tokio::spawn(sample_memory_until(
        ctx.clone(),
        origin,
        memory_every(length),
        stopped.clone(),
    ));
    progress.phase(name, length);

    let until = started + length;
    let mut interrupted_rx = crate::interrupt::watcher();
    let mut interrupted = *interrupted_rx.borrow();
    let mut rates: BTreeMap<TrafficKind, Vec<RatePoint>> = BTreeMap::new();
    let mut last: Vec<Counts> = vec![Counts::default(); running.len()];
    let mut last_at = started;
    while !interrupted && Instant::now() < until {
        let next = (last_at + TICK).min(until);
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = interrupted_rx.wait_for(|p| *p) => interrupted = true,
        }
        let now = Instant::now();
        let secs = now.duration_since(last_at).as_secs_f64().max(1e-3);
        let at_secs = now.duration_since(origin).as_secs_f64();
        let mut live = Vec::with_capacity(running.len());
        for (r, before) in running.iter().zip(last.iter_mut()) {
            let counts = r.live.counts();
            let point = RatePoint {
                at_secs,
                offered: (counts.offered - before.offered) as f64 / secs,
                achieved: (counts.accepted - before.accepted) as f64 / secs,
            };
            rates.entry(r.kind).or_default().push(point);
            live.push((r.kind, point.achieved, counts.refused));
            *before = counts;
        }
        last_at = now;
        progress.update(now.duration_since(started), &live, &markers.p99_ms());
    }
    let _ = stop.send(true);
    let duration_secs = started.elapsed().as_secs_f64().max(1e-3);
    let mut kinds = BTreeMap::new();
    for r in running {
        kinds.insert(r.kind, r.done.await.unwrap_or_default());
    }
    let (markers, ingest) = markers.finish().await;
    // Ctrl-C while the last markers were read back cut them short.
    let interrupted = interrupted || *interrupted_rx.borrow();
    let timeline = Timeline {
        rates,
        ingest,
        memory: memory.await.unwrap_or_default(),
    };
    Observed {
        started_secs,
        duration_secs,
        interrupted,
        kinds,
        not_driven,
        markers,
        timeline,
    }
}

async fn sample_memory_until(
    ctx: CheckCtx,
    origin: Instant,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) -> Vec<MemoryPoint> {
    let sources = ctx.memory_sources();
    let mut points = Vec::new();
    loop {
        // A source that cannot be read leaves a reading with no containers.
        let containers = match sources.sample().await {
            Ok(Some((_, containers))) => containers,
            _ => Vec::new(),
        };
        points.push(MemoryPoint {
            at_secs: origin.elapsed().as_secs_f64(),
            headroom: memory::headroom(&containers, ctx.target.limits.memory_budget_bytes),
            containers,
        });
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    points
}
