//! Pre-encoded metric batches of load traffic: what
//! `MetricSpec::load_request` builds, byte for byte, without building it.
//! A sample's encoding depends on its index only through the decimal
//! digits of its series label, so one point template per digit count,
//! patched with the time, series and value, and the envelope's lengths
//! written per batch, give prost's bytes.
//!
//! Uses: emit::{metric_points, synthetic}.

use opentelemetry_proto::tonic::metrics::v1::Gauge;
use prost::Message;

use super::wire::{Envelope, Field, Item, Level, Values, decimal_len};
use crate::emit::metric_points::MetricSpec;
use crate::emit::synthetic::string_attr;

/// Template timestamps; no real sample is stamped in 1990.
const TIME_MARK: u64 = 0x0DC5_A5A5_0000_0000;
/// Template values: bits no real sample index has.
const VALUE_MARK: f64 = f64::from_bits(0x4352_5A5A_A5A5_5A5A);

/// Field tags (wire type 2) from `ExportMetricsServiceRequest` down.
const RESOURCE_METRICS: u8 = 1 << 3 | 2;
const SCOPE_METRICS: u8 = 2 << 3 | 2;
const METRICS: u8 = 2 << 3 | 2;
const GAUGE: u8 = 5 << 3 | 2;
const DATA_POINTS: u8 = 1 << 3 | 2;

#[derive(Debug, Clone)]
pub struct MetricBatchTemplate {
    envelope: Envelope,
    /// Point templates by the digits of their series, from one digit.
    points: Vec<Item>,
    cardinality: u64,
}

impl MetricBatchTemplate {
    /// The templates for `spec`'s load samples over `cardinality` series;
    /// `None` if its run id hides a field the templates patch (the caller
    /// then encodes with prost).
    pub fn new(spec: &MetricSpec, cardinality: u32) -> Option<MetricBatchTemplate> {
        let cardinality = u64::from(cardinality.max(1));
        let empty = spec.load_request(0, 0, cardinality as u32, TIME_MARK);
        let mut resource = empty.resource_metrics.first()?.clone();
        let mut scope = resource.scope_metrics.pop()?;
        let mut metric = scope.metrics.pop()?;
        metric.data = None;
        let envelope = Envelope::new(vec![
            Level {
                tag: RESOURCE_METRICS,
                fields: resource.encode_to_vec(),
            },
            Level {
                tag: SCOPE_METRICS,
                fields: scope.encode_to_vec(),
            },
            Level {
                tag: METRICS,
                fields: metric.encode_to_vec(),
            },
            Level {
                tag: GAUGE,
                fields: Gauge::default().encode_to_vec(),
            },
        ])?;
        let points = (1..=decimal_len(cardinality - 1) as u32)
            .map(|digits| point_template(spec, 10u64.pow(digits - 1)))
            .collect::<Option<Vec<_>>>()?;
        Some(MetricBatchTemplate {
            envelope,
            points,
            cardinality,
        })
    }

    fn point(&self, series: u64) -> &Item {
        // A series is below the cardinality, whose digit counts were built.
        &self.points[decimal_len(series) - 1]
    }

    /// Writes the encoded request of load samples `first..first + count`,
    /// stamped `now_unix_nanos` (not 0), into `out` (cleared first).
    pub fn fill(&self, first: u64, count: u64, now_unix_nanos: u64, out: &mut Vec<u8>) {
        out.clear();
        let samples = first..first + count;
        let items = samples.clone().map(|n| self.point(n % self.cardinality).len()).sum();
        self.envelope.write(items, out);
        for n in samples {
            let series = n % self.cardinality;
            let values = Values {
                time: now_unix_nanos,
                number: series,
                double: n as f64,
                ..Values::default()
            };
            self.point(series).write(&values, out);
        }
    }
}

/// The sample on `series`, its index-dependent fields marked.
fn point_template(spec: &MetricSpec, series: u64) -> Option<Item> {
    let encoded = spec.load_point(series, VALUE_MARK, TIME_MARK).encode_to_vec();
    let label = string_attr("series", &series.to_string()).encode_to_vec();
    Item::new(DATA_POINTS, &encoded)
        .mark(&TIME_MARK.to_le_bytes(), 8, Field::Time, 1)?
        .mark(&VALUE_MARK.to_le_bytes(), 8, Field::Double, 1)?
        // The label's value ends the attribute.
        .mark(&label, decimal_len(series), Field::Decimal, 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Seed;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;

    fn spec(run_id: &str) -> MetricSpec {
        MetricSpec {
            seed: Seed(43),
            run_id: run_id.into(),
            service_name: "pillars-load-metrics".into(),
        }
    }

    #[test]
    fn filled_batches_are_the_bytes_the_spec_builds() {
        for run_id in ["load", &"r".repeat(300)] {
            let spec = spec(run_id);
            for cardinality in [0u32, 1, 3, 10, 11, 1_000, u32::MAX] {
                let template = MetricBatchTemplate::new(&spec, cardinality).unwrap();
                let mut buf = Vec::new();
                for (first, count, now) in [
                    (0u64, 50u64, 1_764_000_000_000_000_000u64),
                    (95, 40, 1_764_000_000_123_456_789),
                    (u64::from(u32::MAX) - 5, 10, 1),
                    (1 << 60, 3, 9),
                    (7, 0, 5),
                ] {
                    template.fill(first, count, now, &mut buf);
                    let built = spec.load_request(first, count, cardinality, now);
                    assert_eq!(buf, built.encode_to_vec(), "{run_id:.8} {cardinality} {first}+{count}");
                    assert_eq!(ExportMetricsServiceRequest::decode(buf.as_slice()).unwrap(), built);
                }
            }
        }
    }

    #[test]
    fn a_run_id_that_hides_a_patched_field_builds_no_template() {
        // The one-digit template's `series` label, spelled inside the run id.
        let label = String::from_utf8(string_attr("series", "1").encode_to_vec()).unwrap();
        assert!(MetricBatchTemplate::new(&spec(&label), 10).is_none());
        assert!(MetricBatchTemplate::new(&spec("run-1"), 10).is_some());
    }
}
