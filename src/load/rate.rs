//! Rate plans and the limiter that paces load to them.
//!
//! Every load shape — a steady scenario, a ramp, each step of a capacity
//! search — becomes one `RatePlan`. Its `Permits` hand the units of work
//! out to a fixed set of workers, each permit with the *intended* start of
//! its unit, so latency can be measured from when the work should have
//! started, not from when a busy worker got to it (coordinated omission, as
//! oha corrects it). Taking a permit is one atomic add: the intended start
//! of unit `n` is computed from the plan, not paced by a task, so workers
//! that fall behind do not make the plan drift.
//!
//! Uses: nothing else in the crate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// One step of a plan: a rate held for a while.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// Units of work per second (spans, lines, requests, …).
    pub rate: f64,
    pub duration: Duration,
}

/// A load shape: steps run one after another.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RatePlan {
    pub steps: Vec<Step>,
}

impl RatePlan {
    pub fn constant(rate: f64, duration: Duration) -> Self {
        RatePlan {
            steps: vec![Step { rate, duration }],
        }
    }

    /// `steps` steps from `from` to `to` per second, each held `hold`.
    pub fn ramp(from: f64, to: f64, steps: usize, hold: Duration) -> Self {
        let steps = steps.max(1);
        RatePlan {
            steps: (0..steps)
                .map(|i| {
                    let t = if steps == 1 { 1.0 } else { i as f64 / (steps - 1) as f64 };
                    Step {
                        rate: from + (to - from) * t,
                        duration: hold,
                    }
                })
                .collect(),
        }
    }

    pub fn duration(&self) -> Duration {
        self.steps.iter().map(|s| s.duration).sum()
    }

    /// Units of work the plan asks for in all.
    pub fn total(&self) -> u64 {
        self.steps
            .iter()
            .map(|s| (s.rate * s.duration.as_secs_f64()).floor() as u64)
            .sum()
    }
}

/// When each unit of a plan is due, from the plan's start: unit `k` of a
/// step at `rate` is due `k / rate` into the step, and a step holds the
/// units due before it ends.
#[derive(Debug, Clone)]
pub struct Schedule {
    steps: Vec<StepUnits>,
}

#[derive(Debug, Clone, Copy)]
struct StepUnits {
    /// Index of the step's first unit in the plan.
    first: u64,
    units: u64,
    /// The step's start, from the plan's start.
    offset: Duration,
    rate: f64,
}

/// `k / rate`, or `None` when that is not a duration.
fn due(k: u64, rate: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(k as f64 / rate).ok()
}

impl Schedule {
    pub fn new(plan: &RatePlan) -> Schedule {
        let mut steps = Vec::with_capacity(plan.steps.len());
        let (mut first, mut offset) = (0u64, Duration::ZERO);
        for step in &plan.steps {
            let units = units_in(step);
            steps.push(StepUnits {
                first,
                units,
                offset,
                rate: step.rate,
            });
            first = first.saturating_add(units);
            offset += step.duration;
        }
        Schedule { steps }
    }

    /// Units in the whole plan.
    pub fn units(&self) -> u64 {
        self.steps.last().map_or(0, |s| s.first.saturating_add(s.units))
    }

    /// When unit `n` is due, from the plan's start; `None` past the plan.
    pub fn due(&self, n: u64) -> Option<Duration> {
        let i = self.steps.partition_point(|s| s.first.saturating_add(s.units) <= n);
        let step = self.steps.get(i)?;
        Some(step.offset + due(n - step.first, step.rate)?)
    }
}

/// Units due before a step ends.
fn units_in(step: &Step) -> u64 {
    if step.rate.is_nan() || step.rate <= 0.0 {
        return 0;
    }
    if step.rate.is_infinite() {
        return u64::MAX;
    }
    let before_end = |k: u64| due(k, step.rate).is_some_and(|d| d < step.duration);
    // The estimate, corrected for rounding either way.
    let mut k = (step.rate * step.duration.as_secs_f64()).ceil().min(u64::MAX as f64) as u64;
    while k > 0 && !before_end(k - 1) {
        k -= 1;
    }
    while k < u64::MAX && before_end(k) {
        k += 1;
    }
    k
}

/// One unit of work handed to a worker: its index in the plan and when it
/// was meant to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permit {
    pub n: u64,
    pub intended: Instant,
}

/// Hands a plan's units out to many workers, in order, without a lock:
/// each `take` claims the next unit.
#[derive(Debug)]
pub struct Permits {
    schedule: Schedule,
    start: Instant,
    next: AtomicU64,
}

impl Permits {
    /// Permits for `plan`, starting now.
    pub fn new(plan: &RatePlan) -> Permits {
        Permits {
            schedule: Schedule::new(plan),
            start: Instant::now(),
            next: AtomicU64::new(0),
        }
    }

    pub fn started(&self) -> Instant {
        self.start
    }

    /// The next unit, or `None` once the plan's units are handed out. The
    /// caller waits for its intended start, if that is still ahead.
    pub fn take(&self) -> Option<Permit> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let due = self.schedule.due(n)?;
        Some(Permit {
            n,
            intended: self.start + due,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes every permit, waiting for each as a worker does.
    async fn take_all(permits: &Permits) -> Vec<Duration> {
        let mut starts = Vec::new();
        while let Some(p) = permits.take() {
            tokio::time::sleep_until(p.intended).await;
            starts.push(p.intended - permits.started());
        }
        starts
    }

    #[tokio::test(start_paused = true)]
    async fn issues_the_planned_count_at_the_planned_times() {
        let plan = RatePlan {
            steps: vec![
                Step {
                    rate: 10.0,
                    duration: Duration::from_secs(2),
                },
                Step {
                    rate: 0.0,
                    duration: Duration::from_secs(1),
                },
                Step {
                    rate: 100.0,
                    duration: Duration::from_secs(1),
                },
            ],
        };
        assert_eq!(plan.total(), 120);
        let permits = Permits::new(&plan);
        let start = permits.started();
        let starts = take_all(&permits).await;
        assert_eq!(starts.len(), 120);
        assert_eq!(Schedule::new(&plan).units(), 120);
        assert_eq!(starts[1], Duration::from_millis(100));
        // The idle step leaves a gap of a second.
        assert_eq!(starts[20], Duration::from_secs(3));
        assert!(Instant::now() - start < plan.duration() + Duration::from_millis(10));
    }

    #[tokio::test(start_paused = true)]
    async fn intended_starts_do_not_drift_when_the_worker_is_late() {
        let permits = Permits::new(&RatePlan::constant(10.0, Duration::from_secs(1)));
        let start = permits.started();
        let first = permits.take().unwrap();
        // A slow send: the next units are already due.
        tokio::time::sleep(Duration::from_millis(350)).await;
        let late: Vec<Duration> = (0..3).map(|_| permits.take().unwrap().intended - start).collect();
        assert_eq!((first.n, first.intended - start), (0, Duration::ZERO));
        assert_eq!(
            late,
            vec![
                Duration::from_millis(100),
                Duration::from_millis(200),
                Duration::from_millis(300)
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn workers_share_the_plan_and_each_unit_goes_once() {
        let permits = std::sync::Arc::new(Permits::new(&RatePlan::constant(200.0, Duration::from_secs(1))));
        let workers: Vec<_> = (0..7)
            .map(|_| {
                let permits = permits.clone();
                tokio::spawn(async move {
                    let mut taken = Vec::new();
                    while let Some(p) = permits.take() {
                        tokio::time::sleep_until(p.intended).await;
                        taken.push(p.n);
                    }
                    taken
                })
            })
            .collect();
        let mut all = Vec::new();
        for w in workers {
            all.extend(w.await.unwrap());
        }
        all.sort_unstable();
        assert_eq!(all, (0..200).collect::<Vec<_>>());
    }

    #[test]
    fn odd_rates_neither_hang_nor_panic() {
        let one = |rate: f64| Schedule::new(&RatePlan::constant(rate, Duration::from_secs(1)));
        assert_eq!(one(2.5).units(), 3, "units due at 0, 0.4 and 0.8 s");
        assert_eq!(one(f64::NAN).units(), 0);
        assert_eq!(one(-1.0).units(), 0);
        assert_eq!(one(1e-300).units(), 1);
        assert_eq!(one(1e-300).due(1), None);
        assert_eq!(one(f64::INFINITY).due(5), Some(Duration::ZERO));
        assert_eq!(one(1e12).due(500_000_000_000), Some(Duration::from_millis(500)));
    }

    #[test]
    fn ramps_spread_evenly() {
        let plan = RatePlan::ramp(100.0, 400.0, 4, Duration::from_secs(10));
        let rates: Vec<f64> = plan.steps.iter().map(|s| s.rate).collect();
        assert_eq!(rates, vec![100.0, 200.0, 300.0, 400.0]);
        assert_eq!(plan.duration(), Duration::from_secs(40));
    }
}
