//! `pillars bench`: the harness measuring itself against loopback sinks,
//! always beside a baseline measured in the same run.
//!
//! Each round runs the baseline and the harness back to back, and the
//! ratio a goal is judged on is the median over rounds of each round's own
//! ratio: a loaded or throttled machine slows both paths of a round alike,
//! where a best-of figure per path would pair one path's lucky round with
//! the other's unlucky one.

pub mod emit;
pub mod load;
pub mod sink;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("could not start the loopback sink: {0}")]
    Sink(#[source] std::io::Error),
    #[error("the loopback sink refused a request; the benchmark stopped")]
    SinkRefused,
    #[error("goose could not run the benchmark: {0}")]
    Goose(String),
    #[error("could not open a gRPC channel to the loopback sink: {0}")]
    Grpc(String),
}

/// `part` over `whole`; 0 when nothing was measured.
pub fn ratio(part: f64, whole: f64) -> f64 {
    if whole == 0.0 { 0.0 } else { part / whole }
}

/// A path and its baseline, round by round.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Paired {
    pub baseline: Vec<f64>,
    pub harness: Vec<f64>,
}

impl Paired {
    pub fn push(&mut self, baseline: f64, harness: f64) {
        self.baseline.push(baseline);
        self.harness.push(harness);
    }

    pub fn best_baseline(&self) -> f64 {
        self.baseline.iter().copied().fold(0.0, f64::max)
    }

    pub fn best_harness(&self) -> f64 {
        self.harness.iter().copied().fold(0.0, f64::max)
    }

    /// The median of the rounds' harness-to-baseline ratios; 0 when
    /// nothing was measured.
    pub fn ratio(&self) -> f64 {
        let mut ratios: Vec<f64> = self
            .baseline
            .iter()
            .zip(&self.harness)
            .map(|(b, h)| ratio(*h, *b))
            .collect();
        if ratios.is_empty() {
            return 0.0;
        }
        ratios.sort_by(f64::total_cmp);
        let mid = ratios.len() / 2;
        if ratios.len() % 2 == 1 {
            ratios[mid]
        } else {
            (ratios[mid - 1] + ratios[mid]) / 2.0
        }
    }

    pub fn rounds(&self) -> usize {
        self.baseline.len().min(self.harness.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ratio_is_the_median_of_each_rounds_own() {
        let mut p = Paired::default();
        // A fast round for the baseline alone would make best-of 80/200.
        for (b, h) in [(100.0, 90.0), (200.0, 180.0), (100.0, 80.0)] {
            p.push(b, h);
        }
        assert!((p.ratio() - 0.9).abs() < 1e-9, "{}", p.ratio());
        assert_eq!((p.best_baseline(), p.best_harness()), (200.0, 180.0));
        p.push(100.0, 100.0);
        assert!((p.ratio() - 0.9).abs() < 1e-9, "even: the middle two, 0.9 and 0.9");
        assert_eq!(Paired::default().ratio(), 0.0);
    }
}
