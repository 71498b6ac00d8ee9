//! Synthetic backend traces, every id and attribute derived from
//! `(run seed, slot)`, so the check that reads them back rebuilds what it
//! expects instead of keeping a list of what was sent.
//!
//! Each trace is a server span `GET /api/delay/fast` with `spans_per_trace - 1`
//! internal children. Spans carry `pillars.run` and `pillars.seq`, so whatever
//! comes back names the run and slot it belongs to.
//!
//! Uses: ids.

use std::ops::Range;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span::SpanKind};

use crate::ids::{Seed, SpanId, TraceId};

/// What a run's synthetic traces look like.
#[derive(Debug, Clone)]
pub struct TraceSpec {
    pub seed: Seed,
    pub run_id: String,
    pub service_name: String,
    pub spans_per_trace: u32,
}

/// The trace of one slot, as the reader should find it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExpectedTrace {
    pub slot: u64,
    pub trace_id: TraceId,
    pub span_ids: Vec<SpanId>,
}

pub const ROOT_SPAN_NAME: &str = "GET /api/delay/fast";
pub const SCOPE_NAME: &str = "pillars";

impl TraceSpec {
    pub fn expected(&self, slot: u64) -> ExpectedTrace {
        ExpectedTrace {
            slot,
            trace_id: TraceId::from_seed(self.seed, slot),
            span_ids: (0..self.spans_per_trace.max(1))
                .map(|i| SpanId::from_seed(self.seed, slot, i))
                .collect(),
        }
    }

    /// One export request holding the traces of `slots`, starting at
    /// `start_unix_nanos`.
    pub fn request(&self, slots: Range<u64>, start_unix_nanos: u64) -> ExportTraceServiceRequest {
        self.request_with_seq(slots, start_unix_nanos, |slot| slot as i64)
    }

    /// `request` with the value of `pillars.seq` chosen per slot, so the
    /// template builder can plant markers it finds again in the bytes.
    pub(crate) fn request_with_seq(
        &self,
        slots: Range<u64>,
        start_unix_nanos: u64,
        seq: impl Fn(u64) -> i64,
    ) -> ExportTraceServiceRequest {
        let spans = slots
            .flat_map(|slot| self.spans(slot, start_unix_nanos, seq(slot)))
            .collect();
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![
                        string_attr("service.name", &self.service_name),
                        string_attr("service.namespace", "pillars"),
                        string_attr("pillars.seed", &self.seed.to_string()),
                    ],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: SCOPE_NAME.to_owned(),
                        version: env!("CARGO_PKG_VERSION").to_owned(),
                        ..Default::default()
                    }),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }

    fn spans(&self, slot: u64, start: u64, seq: i64) -> impl Iterator<Item = Span> + '_ {
        let expected = self.expected(slot);
        let root = expected.span_ids[0];
        let trace_id = expected.trace_id.0.to_vec();
        expected.span_ids.into_iter().enumerate().map(move |(i, span_id)| {
            let is_root = i == 0;
            let offset = i as u64 * 1_000_000;
            let mut attributes = vec![string_attr("pillars.run", &self.run_id), int_attr("pillars.seq", seq)];
            if is_root {
                attributes.push(string_attr("http.request.method", "GET"));
                attributes.push(string_attr("http.route", "/api/delay/fast"));
                attributes.push(int_attr("http.response.status_code", 200));
            }
            Span {
                trace_id: trace_id.clone(),
                span_id: span_id.0.to_vec(),
                parent_span_id: if is_root { Vec::new() } else { root.0.to_vec() },
                name: if is_root {
                    ROOT_SPAN_NAME.to_owned()
                } else {
                    format!("pillars.work.{i}")
                },
                kind: if is_root { SpanKind::Server } else { SpanKind::Internal } as i32,
                start_time_unix_nano: start + offset,
                end_time_unix_nano: start + 50_000_000 - offset,
                attributes,
                ..Default::default()
            }
        })
    }
}

pub fn string_attr(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        key_strindex: 0,
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
    }
}

pub fn int_attr(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        key_strindex: 0,
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> TraceSpec {
        TraceSpec {
            seed: Seed(1),
            run_id: "r1".into(),
            service_name: "pillars-test".into(),
            spans_per_trace: 3,
        }
    }

    #[test]
    fn request_holds_the_expected_ids() {
        let spec = spec();
        let req = spec.request(4..6, 1_700_000_000_000_000_000);
        let spans = &req.resource_spans[0].scope_spans[0].spans;
        assert_eq!(spans.len(), 6);
        let expected = spec.expected(5);
        assert_eq!(spans[3].trace_id, expected.trace_id.0.to_vec());
        assert_eq!(spans[3].span_id, expected.span_ids[0].0.to_vec());
        assert!(spans[3].parent_span_id.is_empty());
        assert_eq!(spans[4].parent_span_id, expected.span_ids[0].0.to_vec());
        assert!(spans.iter().all(|s| s.end_time_unix_nano > s.start_time_unix_nano));
    }
}
