//! Rate plans and the limiter that paces load to them.
//!
//! Every load shape — a steady scenario, a ramp, each step of a capacity
//! search — becomes one `RatePlan`. The limiter hands out the *intended*
//! start of each unit of work, so latency can be measured from when the
//! work should have started, not from when a busy sender got to it
//! (coordinated omission, as oha corrects it).
//!
//! Uses: nothing else in the crate.

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

/// Paces work to a plan: each `next` waits until the intended start of the
/// next unit and returns it, or `None` when the plan is over.
#[derive(Debug)]
pub struct Limiter {
    plan: RatePlan,
    start: Instant,
    step: usize,
    /// Start of the current step, and units issued in it.
    step_start: Instant,
    issued: u64,
}

impl Limiter {
    pub fn new(plan: RatePlan) -> Self {
        let now = Instant::now();
        Limiter {
            plan,
            start: now,
            step: 0,
            step_start: now,
            issued: 0,
        }
    }

    /// The plan's current step, if it is not over.
    pub fn current(&self) -> Option<(usize, Step)> {
        self.plan.steps.get(self.step).map(|s| (self.step, *s))
    }

    pub fn started(&self) -> Instant {
        self.start
    }

    /// The intended start of the next unit of work; waits for it.
    pub async fn next(&mut self) -> Option<Instant> {
        loop {
            let step = *self.plan.steps.get(self.step)?;
            let step_end = self.step_start + step.duration;
            if step.rate <= 0.0 {
                tokio::time::sleep_until(step_end).await;
                self.advance(step_end);
                continue;
            }
            let intended = self.step_start + Duration::from_secs_f64(self.issued as f64 / step.rate);
            if intended >= step_end {
                self.advance(step_end);
                continue;
            }
            self.issued += 1;
            tokio::time::sleep_until(intended).await;
            return Some(intended);
        }
    }

    fn advance(&mut self, step_end: Instant) {
        self.step += 1;
        self.step_start = step_end;
        self.issued = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut limiter = Limiter::new(plan.clone());
        let start = limiter.started();
        let mut starts = Vec::new();
        while let Some(at) = limiter.next().await {
            starts.push(at - start);
        }
        assert_eq!(starts.len(), 120);
        assert_eq!(starts[1], Duration::from_millis(100));
        // The idle step leaves a gap of a second.
        assert_eq!(starts[20], Duration::from_secs(3));
        assert!(Instant::now() - start < plan.duration() + Duration::from_millis(10));
    }

    #[tokio::test(start_paused = true)]
    async fn intended_starts_do_not_drift_when_the_sender_is_late() {
        let mut limiter = Limiter::new(RatePlan::constant(10.0, Duration::from_secs(1)));
        let start = limiter.started();
        let first = limiter.next().await.unwrap();
        // A slow send: the next units are already due.
        tokio::time::sleep(Duration::from_millis(350)).await;
        let late: Vec<Duration> = [
            limiter.next().await.unwrap(),
            limiter.next().await.unwrap(),
            limiter.next().await.unwrap(),
        ]
        .iter()
        .map(|at| *at - start)
        .collect();
        assert_eq!(first - start, Duration::ZERO);
        assert_eq!(
            late,
            vec![
                Duration::from_millis(100),
                Duration::from_millis(200),
                Duration::from_millis(300)
            ]
        );
    }

    #[test]
    fn ramps_spread_evenly() {
        let plan = RatePlan::ramp(100.0, 400.0, 4, Duration::from_secs(10));
        let rates: Vec<f64> = plan.steps.iter().map(|s| s.rate).collect();
        assert_eq!(rates, vec![100.0, 200.0, 300.0, 400.0]);
        assert_eq!(plan.duration(), Duration::from_secs(40));
    }
}
