//! Latency histograms: HdrHistogram in milliseconds with 3 significant
//! digits, and the summary a report keeps of one, the histogram itself
//! included in HdrHistogram's interchange form so reports merge exactly.
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

    /// The histogram as every HdrHistogram port reads it: the V2 encoding,
    /// DEFLATE-compressed, in base64 (`HISTF…`).
    pub fn encode(&self) -> String {
        use base64::Engine as _;
        use hdrhistogram::serialization::Serializer as _;
        let mut bytes = Vec::new();
        hdrhistogram::serialization::V2DeflateSerializer::new()
            .serialize(&self.0, &mut bytes)
            .expect("a histogram in memory serializes");
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// Reads what [`encode`](Self::encode) wrote (or another port's
    /// compressed V2 histogram in base64), recorded into this module's
    /// bounds so any two merge.
    pub fn decode(text: &str) -> Result<LatencyHistogram, String> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| format!("not base64: {e}"))?;
        let read: Histogram<u64> = hdrhistogram::serialization::Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| format!("not an HdrHistogram: {e:?}"))?;
        let mut out = LatencyHistogram::default();
        for v in read.iter_recorded() {
            let ms = v.value_iterated_to().clamp(1, MAX_MS);
            out.0.saturating_record_n(ms, v.count_at_value());
        }
        Ok(out)
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
            hdr: self.encode(),
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
    /// The histogram itself ([`LatencyHistogram::encode`]); empty when
    /// nothing was recorded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hdr: String,
}

impl LatencySummary {
    /// The histogram this summary was made from; empty for an empty
    /// summary, an error when it has counts but no histogram to show them.
    pub fn histogram(&self) -> Result<LatencyHistogram, String> {
        match (self.count, self.hdr.as_str()) {
            (0, "") => Ok(LatencyHistogram::default()),
            (_, "") => Err("it holds percentiles but not the histogram they came from".into()),
            (count, hdr) => {
                let h = LatencyHistogram::decode(hdr)?;
                if h.count() == count {
                    Ok(h)
                } else {
                    Err(format!("its histogram holds {} values, not {count}", h.count()))
                }
            }
        }
    }
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
    fn a_summary_carries_its_histogram_exactly() {
        let (mut a, mut b, mut all) = (
            LatencyHistogram::default(),
            LatencyHistogram::default(),
            LatencyHistogram::default(),
        );
        for ms in [1u64, 7, 7, 250, 3_000, 90_000] {
            a.record(Duration::from_millis(ms));
            all.record(Duration::from_millis(ms));
        }
        for ms in [2u64, 7, 1_234_567] {
            b.record(Duration::from_millis(ms));
            all.record(Duration::from_millis(ms));
        }
        let mut merged = a.summary().histogram().unwrap();
        merged.merge(&b.summary().histogram().unwrap());
        assert_eq!(merged.summary(), all.summary());
        assert!(a.summary().hdr.starts_with("HISTF"), "{}", a.summary().hdr);
        let mut lying = a.summary();
        lying.count += 1;
        assert!(lying.histogram().is_err());
        lying.hdr.clear();
        assert!(lying.histogram().is_err());
        assert_eq!(LatencySummary::default().histogram().unwrap().count(), 0);
        assert!(LatencyHistogram::decode("not a histogram").is_err());
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
