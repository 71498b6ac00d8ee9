//! Latency histograms: HdrHistogram in milliseconds with 3 significant
//! digits, and the summary a report keeps of one.
//!
//! Uses: nothing else in the crate.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Highest latency recorded without saturating: one hour.
const MAX_MS: u64 = 3_600_000;
/// Bars in a report's histogram.
const BINS: u64 = 20;

#[derive(Debug, Clone)]
pub struct LatencyHistogram(Histogram<u64>);

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram(Histogram::new_with_bounds(1, MAX_MS, 3).expect("static bounds are valid"))
    }
}

impl LatencyHistogram {
    /// Records a latency; values beyond an hour count as an hour.
    pub fn record(&mut self, latency: Duration) {
        let ms = (latency.as_millis() as u64).clamp(1, MAX_MS);
        self.0.saturating_record(ms);
    }

    pub fn merge(&mut self, other: &LatencyHistogram) {
        self.0.add(&other.0).expect("histograms share bounds");
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The value at a percentile (0–100), in ms.
    pub fn percentile_ms(&self, p: f64) -> u64 {
        self.0.value_at_percentile(p)
    }

    pub fn summary(&self) -> LatencySummary {
        let h = &self.0;
        if h.is_empty() {
            return LatencySummary::default();
        }
        let (min, max) = (h.min(), h.max());
        let width = (max - min + 1).div_ceil(BINS).max(1);
        let mut buckets: Vec<Bucket> = (0..BINS)
            .map(|i| min + (i + 1) * width - 1)
            .take_while(|&le| le < max + width)
            .map(|le_ms| Bucket { le_ms, count: 0 })
            .collect();
        for v in h.iter_recorded() {
            let value = h.highest_equivalent(v.value_iterated_to()).min(max);
            let last = buckets.len() - 1;
            let index = ((value.max(min) - min) / width) as usize;
            if let Some(bucket) = buckets.get_mut(index.min(last)) {
                bucket.count += v.count_at_value();
            }
        }
        LatencySummary {
            count: h.len(),
            min: h.min(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            max,
            buckets,
        }
    }
}

/// What a report keeps of a histogram: counts and percentiles in ms, and
/// equal-width buckets to draw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub min: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
    pub buckets: Vec<Bucket>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// Upper bound of the bucket, inclusive, in ms.
    pub le_ms: u64,
    pub count: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_has_percentiles_and_buckets_that_add_up() {
        let mut h = LatencyHistogram::default();
        for ms in 1..=1000u64 {
            h.record(Duration::from_millis(ms));
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        assert!((495..=505).contains(&s.p50), "{s:?}");
        assert!((985..=995).contains(&s.p99), "{s:?}");
        assert_eq!(s.buckets.iter().map(|b| b.count).sum::<u64>(), 1000);
        assert!(s.buckets.len() <= BINS as usize);
        assert!(s.buckets.last().unwrap().le_ms >= s.max);
    }

    #[test]
    fn a_single_value_makes_one_bucket() {
        let mut h = LatencyHistogram::default();
        h.record(Duration::from_millis(40));
        let s = h.summary();
        assert_eq!(s.buckets.iter().map(|b| b.count).sum::<u64>(), 1);
        assert_eq!((s.p50, s.max), (40, 40));
        assert_eq!(LatencyHistogram::default().summary(), LatencySummary::default());
    }
}
