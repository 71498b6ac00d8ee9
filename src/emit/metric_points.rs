//! Synthetic OTLP metric points for the metrics round trip: one gauge
//! series per slot, `pillars.roundtrip.marker{pillars.run, pillars.seq}`,
//! whose value is derived from the seed so a read can be checked, not just
//! counted. Mimir names it `pillars_roundtrip_marker`.
//!
//! Uses: ids, emit::synthetic (attribute helpers).

use std::ops::Range;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum, exemplar, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use crate::emit::synthetic::{SCOPE_NAME, string_attr};
use crate::ids::{Seed, SpanId, TraceId};

const METRIC_DOMAIN: u64 = 0x3E7;
pub const OTLP_NAME: &str = "pillars.roundtrip.marker";
/// The name Mimir stores it under (no suffixes for a unitless gauge).
pub const PROMETHEUS_NAME: &str = "pillars_roundtrip_marker";
const COUNTER_OTLP_NAME: &str = "pillars.roundtrip.sent";
/// A latency histogram in seconds; Mimir keeps the name, adding `_bucket`.
pub const HISTOGRAM_OTLP_NAME: &str = "pillars.roundtrip.duration";
pub const HISTOGRAM_PROMETHEUS_NAME: &str = "pillars_roundtrip_duration";
/// The gauge load traffic writes.
const LOAD_OTLP_NAME: &str = "pillars.load.gauge";

#[derive(Debug, Clone)]
pub struct MetricSpec {
    pub seed: Seed,
    pub run_id: String,
    pub service_name: String,
}

impl MetricSpec {
    /// The value the series of `slot` carries.
    pub fn value(&self, slot: u64) -> f64 {
        (self.seed.word(slot, METRIC_DOMAIN) % 1_000_000) as f64
    }

    /// The trace context of the run's histogram exemplar.
    pub fn exemplar_context(&self) -> (TraceId, SpanId) {
        let seed = Seed(self.seed.word(0, METRIC_DOMAIN + 1));
        (TraceId::from_seed(seed, 0), SpanId::from_seed(seed, 0, 0))
    }

    /// The gauges of `slots`, a counter of them, and a latency histogram
    /// whose one exemplar carries the run's trace context.
    pub fn request(&self, slots: Range<u64>, now_unix_nanos: u64) -> ExportMetricsServiceRequest {
        let count = slots.end - slots.start;
        let run_attr = || vec![string_attr("pillars.run", &self.run_id)];
        let (trace_id, span_id) = self.exemplar_context();
        let data_points = slots
            .map(|slot| NumberDataPoint {
                attributes: vec![
                    string_attr("pillars.run", &self.run_id),
                    string_attr("pillars.seq", &slot.to_string()),
                ],
                time_unix_nano: now_unix_nanos,
                value: Some(number_data_point::Value::AsDouble(self.value(slot))),
                ..Default::default()
            })
            .collect();
        self.export(vec![
            Metric {
                name: OTLP_NAME.into(),
                description: "pillars round-trip marker: one series per slot".into(),
                data: Some(metric::Data::Gauge(Gauge { data_points })),
                ..Default::default()
            },
            counter(COUNTER_OTLP_NAME, run_attr(), count, now_unix_nanos),
            histogram(
                HISTOGRAM_OTLP_NAME,
                run_attr(),
                &[0.1, 0.25],
                now_unix_nanos,
                (trace_id, span_id),
            ),
        ])
    }
}

impl MetricSpec {
    /// One export request of `metrics` from this run's service.
    fn export(&self, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource {
                    attributes: vec![string_attr("service.name", &self.service_name)],
                    ..Default::default()
                }),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: SCOPE_NAME.into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        ..Default::default()
                    }),
                    metrics,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }

    /// Load traffic: `count` gauge samples spread over `cardinality` series
    /// (`pillars.load.gauge{pillars.run, series}`), so the series count
    /// stays what the scenario asks for however long it runs. The load path
    /// sends the same bytes from `emit::template::MetricBatchTemplate`.
    pub fn load_request(
        &self,
        first: u64,
        count: u64,
        cardinality: u32,
        now_unix_nanos: u64,
    ) -> ExportMetricsServiceRequest {
        let cardinality = u64::from(cardinality.max(1));
        let data_points = (first..first + count)
            .map(|n| self.load_point(n % cardinality, n as f64, now_unix_nanos))
            .collect();
        self.export(vec![Metric {
            name: LOAD_OTLP_NAME.into(),
            data: Some(metric::Data::Gauge(Gauge { data_points })),
            ..Default::default()
        }])
    }

    /// One sample of load traffic: `value` on the series `series`.
    pub fn load_point(&self, series: u64, value: f64, now_unix_nanos: u64) -> NumberDataPoint {
        NumberDataPoint {
            attributes: vec![
                string_attr("pillars.run", &self.run_id),
                string_attr("series", &series.to_string()),
            ],
            time_unix_nano: now_unix_nanos,
            value: Some(number_data_point::Value::AsDouble(value)),
            ..Default::default()
        }
    }
}

/// A cumulative monotonic sum.
pub fn counter(name: &str, attributes: Vec<KeyValue>, value: u64, now_unix_nanos: u64) -> Metric {
    Metric {
        name: name.into(),
        unit: "1".into(),
        data: Some(metric::Data::Sum(Sum {
            data_points: vec![NumberDataPoint {
                attributes,
                start_time_unix_nano: now_unix_nanos.saturating_sub(60_000_000_000),
                time_unix_nano: now_unix_nanos,
                value: Some(number_data_point::Value::AsInt(value as i64)),
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

/// A cumulative histogram in seconds of `observations`, with one exemplar
/// on the last observation carrying `context`, as an instrumented server
/// records its request latency.
pub fn histogram(
    name: &str,
    attributes: Vec<KeyValue>,
    observations: &[f64],
    now_unix_nanos: u64,
    (trace_id, span_id): (TraceId, SpanId),
) -> Metric {
    const BOUNDS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];
    let mut bucket_counts = vec![0u64; BOUNDS.len() + 1];
    for v in observations {
        let i = BOUNDS.iter().position(|b| v <= b).unwrap_or(BOUNDS.len());
        bucket_counts[i] += 1;
    }
    let exemplars = observations
        .last()
        .map(|v| Exemplar {
            time_unix_nano: now_unix_nanos,
            value: Some(exemplar::Value::AsDouble(*v)),
            trace_id: trace_id.0.to_vec(),
            span_id: span_id.0.to_vec(),
            filtered_attributes: Vec::new(),
        })
        .into_iter()
        .collect();
    Metric {
        name: name.into(),
        unit: "s".into(),
        data: Some(metric::Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                attributes,
                start_time_unix_nano: now_unix_nanos.saturating_sub(60_000_000_000),
                time_unix_nano: now_unix_nanos,
                count: observations.len() as u64,
                sum: Some(observations.iter().sum()),
                bucket_counts,
                explicit_bounds: BOUNDS.to_vec(),
                exemplars,
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
        ..Default::default()
    }
}
