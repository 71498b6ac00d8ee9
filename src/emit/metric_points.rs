//! Synthetic OTLP metric points for the metrics round trip: one gauge
//! series per slot, `pillars.roundtrip.marker{pillars.run, pillars.seq}`,
//! whose value is derived from the seed so a read can be checked, not just
//! counted. Mimir names it `pillars_roundtrip_marker`.
//!
//! Uses: ids, emit::synthetic (attribute helpers).

use std::ops::Range;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use crate::emit::synthetic::{SCOPE_NAME, string_attr};
use crate::ids::Seed;

const METRIC_DOMAIN: u64 = 0x3E7;
pub const OTLP_NAME: &str = "pillars.roundtrip.marker";
/// The name Mimir stores it under (no suffixes for a unitless gauge).
pub const PROMETHEUS_NAME: &str = "pillars_roundtrip_marker";

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

    /// The selector for this run's series.
    pub fn selector(&self) -> String {
        format!("{PROMETHEUS_NAME}{{pillars_run=\"{}\"}}", self.run_id)
    }

    pub fn request(&self, slots: Range<u64>, now_unix_nanos: u64) -> ExportMetricsServiceRequest {
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
                    metrics: vec![Metric {
                        name: OTLP_NAME.into(),
                        description: "pillars round-trip marker: one series per slot".into(),
                        data: Some(metric::Data::Gauge(Gauge { data_points })),
                        ..Default::default()
                    }],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }
}
