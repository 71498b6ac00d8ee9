//! Synthetic OTLP log records, derived from `(run seed, slot)`. The body
//! carries `run=<id> seq=<n>`, so whatever Loki returns names its run and
//! slot, whichever pipeline (OTLP endpoint or `otelcol.exporter.loki`) put
//! it there.
//!
//! Uses: ids, emit::synthetic (attribute helpers).

use std::ops::Range;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::resource::v1::Resource;

use crate::emit::synthetic::{SCOPE_NAME, int_attr, string_attr};
use crate::ids::{Seed, SpanId, TraceId};

/// Keeps log ids apart from the trace ids of the same run.
const LOG_DOMAIN: u64 = 0x106;

#[derive(Debug, Clone)]
pub struct LogSpec {
    pub seed: Seed,
    pub run_id: String,
    pub service_name: String,
}

impl LogSpec {
    /// The line of `slot`: what Loki must hand back.
    pub fn body(&self, slot: u64) -> String {
        format!("pillars synthetic log run={} seq={slot}", self.run_id)
    }

    /// The trace context the record of `slot` carries.
    pub fn trace_context(&self, slot: u64) -> (TraceId, SpanId) {
        let seed = self.trace_seed();
        (TraceId::from_seed(seed, slot), SpanId::from_seed(seed, slot, 0))
    }

    /// The seed the records' trace contexts derive from.
    pub(crate) fn trace_seed(&self) -> Seed {
        Seed(self.seed.word(0, LOG_DOMAIN))
    }

    /// The text that selects this run's lines.
    pub fn run_marker(&self) -> String {
        format!("run={} ", self.run_id)
    }

    /// Reads the slot back out of a line of this run.
    pub fn slot_of(&self, line: &str) -> Option<u64> {
        let rest = line.split(&self.run_marker()).nth(1)?;
        rest.strip_prefix("seq=")?
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    }

    /// The record of `slot`, stamped `now_unix_nanos`.
    pub fn record(&self, slot: u64, now_unix_nanos: u64) -> LogRecord {
        let (trace_id, span_id) = self.trace_context(slot);
        LogRecord {
            time_unix_nano: now_unix_nanos,
            observed_time_unix_nano: now_unix_nanos,
            severity_number: SeverityNumber::Info as i32,
            severity_text: "INFO".into(),
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue(self.body(slot))),
            }),
            attributes: vec![
                string_attr("pillars.run", &self.run_id),
                int_attr("pillars.seq", slot as i64),
            ],
            trace_id: trace_id.0.to_vec(),
            span_id: span_id.0.to_vec(),
            ..Default::default()
        }
    }

    /// One export request holding the records of `slots`. The load path
    /// sends the same bytes from `emit::template::LogBatchTemplate`.
    pub fn request(&self, slots: Range<u64>, now_unix_nanos: u64) -> ExportLogsServiceRequest {
        let log_records = slots.map(|slot| self.record(slot, now_unix_nanos)).collect();
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![
                        string_attr("service.name", &self.service_name),
                        string_attr("pillars.seed", &self.seed.to_string()),
                    ],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: SCOPE_NAME.into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        ..Default::default()
                    }),
                    log_records,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_read_back_from_lines() {
        let spec = LogSpec {
            seed: Seed(3),
            run_id: "r-9".into(),
            service_name: "svc".into(),
        };
        assert_eq!(spec.slot_of(&spec.body(42)), Some(42));
        // The JSON line otelcol.exporter.loki writes still carries the body.
        let json = format!(r#"{{"body":"{}","traceid":"ab"}}"#, spec.body(7));
        assert_eq!(spec.slot_of(&json), Some(7));
        assert_eq!(spec.slot_of("pillars synthetic log run=other seq=1"), None);
    }
}
