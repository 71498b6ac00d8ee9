//! The reference stack's trace store: what the collector accepted, split by
//! trace, with the times that decide when each trace is visible to by-id
//! lookups (at once, plus any `delay_ms` fault) and to search (after the
//! trace has been idle, as Tempo's ingester flushes it).
//!
//! Uses: ids, faults.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use tokio::time::Instant;

use crate::faults::{Faults, drops};
use crate::ids::TraceId;

/// One trace's spans, grouped as they arrived.
#[derive(Debug, Clone)]
pub struct StoredTrace {
    pub batches: Vec<ResourceSpans>,
    first_seen: Instant,
    last_seen: Instant,
}

impl StoredTrace {
    pub fn spans(&self) -> impl Iterator<Item = (&ResourceSpans, &Span)> {
        self.batches.iter().flat_map(|rs| {
            rs.scope_spans
                .iter()
                .flat_map(move |ss| ss.spans.iter().map(move |s| (rs, s)))
        })
    }

    pub fn start_unix_nanos(&self) -> u64 {
        self.spans().map(|(_, s)| s.start_time_unix_nano).min().unwrap_or(0)
    }

    pub fn end_unix_nanos(&self) -> u64 {
        self.spans().map(|(_, s)| s.end_time_unix_nano).max().unwrap_or(0)
    }

    /// The root span (no parent) and its resource, once it has arrived.
    pub fn root(&self) -> Option<(&ResourceSpans, &Span)> {
        self.spans().find(|(_, s)| s.parent_span_id.is_empty())
    }
}

/// Counters tests cross-check against what the harness says it sent.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct TraceCounts {
    pub export_requests: u64,
    pub spans_received: u64,
    pub spans_stored: u64,
    /// Distinct trace ids stored.
    pub traces: u64,
}

#[derive(Debug, Default)]
pub struct TraceStore {
    traces: Mutex<HashMap<TraceId, StoredTrace>>,
    export_requests: AtomicU64,
    spans_received: AtomicU64,
    spans_stored: AtomicU64,
}

impl TraceStore {
    /// Stores an export request's spans, dropping the traces the faults say
    /// to drop. Returns how many spans it received.
    pub fn ingest(&self, request: ExportTraceServiceRequest, faults: &Faults) -> u64 {
        let now = Instant::now();
        let mut received = 0;
        let mut stored = 0;
        let mut traces = self.traces.lock().expect("trace store lock");
        for rs in request.resource_spans {
            for ss in &rs.scope_spans {
                let mut by_trace: HashMap<TraceId, Vec<Span>> = HashMap::new();
                for span in &ss.spans {
                    received += 1;
                    let Ok(bytes) = <[u8; 16]>::try_from(span.trace_id.as_slice()) else {
                        continue;
                    };
                    let id = TraceId(bytes);
                    if drops(faults.drop_traces, &id.0) {
                        continue;
                    }
                    stored += 1;
                    by_trace.entry(id).or_default().push(span.clone());
                }
                for (id, spans) in by_trace {
                    let batch = ResourceSpans {
                        resource: rs.resource.clone(),
                        scope_spans: vec![ScopeSpans {
                            scope: ss.scope.clone(),
                            spans,
                            schema_url: ss.schema_url.clone(),
                        }],
                        schema_url: rs.schema_url.clone(),
                    };
                    let entry = traces.entry(id).or_insert_with(|| StoredTrace {
                        batches: Vec::new(),
                        first_seen: now,
                        last_seen: now,
                    });
                    entry.batches.push(batch);
                    entry.last_seen = now;
                }
            }
        }
        self.export_requests.fetch_add(1, Ordering::Relaxed);
        self.spans_received.fetch_add(received, Ordering::Relaxed);
        self.spans_stored.fetch_add(stored, Ordering::Relaxed);
        received
    }

    /// The trace, if a by-id lookup can see it now.
    pub fn by_id(&self, id: TraceId, faults: &Faults) -> Option<StoredTrace> {
        let traces = self.traces.lock().expect("trace store lock");
        let trace = traces.get(&id)?;
        (Instant::now() >= trace.first_seen + faults.delay).then(|| trace.clone())
    }

    /// Every trace a search can see now: idle for `idle` since its last span.
    pub fn searchable(&self, idle: Duration, faults: &Faults) -> Vec<(TraceId, StoredTrace)> {
        let now = Instant::now();
        let traces = self.traces.lock().expect("trace store lock");
        traces
            .iter()
            .filter(|(_, t)| now >= t.last_seen + idle + faults.delay)
            .map(|(id, t)| (*id, t.clone()))
            .collect()
    }

    pub fn counts(&self) -> TraceCounts {
        TraceCounts {
            export_requests: self.export_requests.load(Ordering::Relaxed),
            spans_received: self.spans_received.load(Ordering::Relaxed),
            spans_stored: self.spans_stored.load(Ordering::Relaxed),
            traces: self.traces.lock().map_or(0, |t| t.len() as u64),
        }
    }
}

/// The string value of an attribute, as TraceQL compares it.
pub fn attribute_text(attrs: &[KeyValue], key: &str) -> Option<String> {
    let value = attrs.iter().find(|kv| kv.key == key)?.value.as_ref()?.value.as_ref()?;
    Some(match value {
        any_value::Value::StringValue(s) => s.clone(),
        any_value::Value::IntValue(i) => i.to_string(),
        any_value::Value::DoubleValue(d) => d.to_string(),
        any_value::Value::BoolValue(b) => b.to_string(),
        other => format!("{other:?}"),
    })
}
