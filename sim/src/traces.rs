//! The reference stack's trace store: what the collector accepted, split by
//! trace, with the times that decide when each trace is visible to by-id
//! lookups (at once, plus any `delay_ms` fault) and to search (after the
//! trace has been idle, as Tempo's ingester flushes it).
//!
//! Uses: ids, faults.

use std::collections::{HashMap, HashSet};
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
    /// Where each push's batches start in `batches`.
    pushes: Vec<usize>,
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

    /// The batches as Tempo's trace-by-id read combines the pushes'
    /// segments (`pkg/model/trace/combine.go` at v2.6.1): the first kept
    /// whole, each later span dropped when one with its id and kind was
    /// seen before; then, if anything was combined, `SortTrace`.
    pub fn combined(&self) -> Vec<ResourceSpans> {
        let first_end = self.pushes.get(1).copied().unwrap_or(self.batches.len());
        let mut out = self.batches[..first_end].to_vec();
        if first_end == self.batches.len() {
            return out;
        }
        let mut seen: HashSet<(i32, Vec<u8>)> = out
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
            .map(|s| (s.kind, s.span_id.clone()))
            .collect();
        for batch in &self.batches[first_end..] {
            let mut batch = batch.clone();
            for ss in &mut batch.scope_spans {
                ss.spans.retain(|s| seen.insert((s.kind, s.span_id.clone())));
            }
            batch.scope_spans.retain(|ss| !ss.spans.is_empty());
            if !batch.scope_spans.is_empty() {
                out.push(batch);
            }
        }
        sort_trace(&mut out);
        out
    }

    /// The trace as the ingester writes it to its head block once idle:
    /// its pushes combined into one.
    fn flushed(&self) -> StoredTrace {
        StoredTrace {
            batches: self.combined(),
            pushes: vec![0],
            ..self.clone()
        }
    }

    /// The root span and its resource, once it has arrived: the last span
    /// without a parent, as vParquet4 picks it (`tempodb/encoding/
    /// vparquet4/schema.go` `traceToParquet` at v2.6.1).
    pub fn root(&self) -> Option<(&ResourceSpans, &Span)> {
        self.spans().filter(|(_, s)| s.parent_span_id.is_empty()).last()
    }
}

/// `SortTrace` (`pkg/model/trace/sort.go` at v2.6.1): spans by start time
/// then id, scopes by their first span, batches by their first scope's.
fn sort_trace(batches: &mut [ResourceSpans]) {
    let key = |s: &Span| (s.start_time_unix_nano, s.span_id.clone());
    let first = |ss: &ScopeSpans| ss.spans.first().map(key);
    for rs in batches.iter_mut() {
        for ss in &mut rs.scope_spans {
            ss.spans.sort_by_key(key);
        }
        rs.scope_spans.sort_by(|a, b| before(first(a), first(b)));
    }
    batches.sort_by(|a, b| {
        before(
            a.scope_spans.first().and_then(first),
            b.scope_spans.first().and_then(first),
        )
    });
}

/// Go's comparators call an empty side "not less": it keeps its place.
fn before<K: Ord>(a: Option<K>, b: Option<K>) -> std::cmp::Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.cmp(&b),
        _ => std::cmp::Ordering::Equal,
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
        // The traces this push adds to: each starts a segment.
        let mut pushed: HashSet<TraceId> = HashSet::new();
        for rs in request.resource_spans {
            // Tempo's distributor regroups each batch per trace and per
            // scope name and version, copying neither schema URL
            // (`modules/distributor/distributor.go` `requestsByTraceID`).
            let mut regrouped: HashMap<(TraceId, String, String), usize> = HashMap::new();
            for ss in &rs.scope_spans {
                let (name, version) = ss
                    .scope
                    .as_ref()
                    .map(|s| (s.name.clone(), s.version.clone()))
                    .unwrap_or_default();
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
                    let entry = traces.entry(id).or_insert_with(|| StoredTrace {
                        batches: Vec::new(),
                        pushes: Vec::new(),
                        first_seen: now,
                        last_seen: now,
                    });
                    entry.last_seen = now;
                    if pushed.insert(id) {
                        entry.pushes.push(entry.batches.len());
                    }
                    let at = *regrouped.entry((id, name.clone(), version.clone())).or_insert_with(|| {
                        entry.batches.push(ResourceSpans {
                            resource: rs.resource.clone(),
                            scope_spans: vec![ScopeSpans {
                                scope: ss.scope.clone(),
                                spans: Vec::new(),
                                schema_url: String::new(),
                            }],
                            schema_url: String::new(),
                        });
                        entry.batches.len() - 1
                    });
                    entry.batches[at].scope_spans[0].spans.push(span.clone());
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
            .map(|(id, t)| (*id, t.flushed()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::InstrumentationScope;

    /// Tempo's distributor regroups a batch per trace and per scope name
    /// and version, keeping neither schema URL (`modules/distributor/
    /// distributor.go` `requestsByTraceID` at v2.6.1).
    #[test]
    fn batches_are_regrouped_as_tempos_distributor_does() {
        let scope = |name: &str| ScopeSpans {
            scope: Some(InstrumentationScope {
                name: name.into(),
                ..Default::default()
            }),
            spans: vec![Span {
                trace_id: vec![7; 16],
                span_id: name.bytes().chain([0; 7]).take(8).collect(),
                ..Default::default()
            }],
            schema_url: "https://scope".into(),
        };
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: None,
                scope_spans: vec![scope("a"), scope("b"), scope("a")],
                schema_url: "https://resource".into(),
            }],
        };
        let store = TraceStore::default();
        store.ingest(request, &Faults::default());
        let trace = store.by_id(TraceId([7; 16]), &Faults::default()).expect("stored");
        let shape: Vec<(String, usize, String, String)> = trace
            .batches
            .iter()
            .map(|rs| {
                let ss = &rs.scope_spans[0];
                let name = ss.scope.as_ref().map(|s| s.name.clone()).unwrap_or_default();
                (name, ss.spans.len(), rs.schema_url.clone(), ss.schema_url.clone())
            })
            .collect();
        let none = String::new;
        assert_eq!(
            shape,
            [("a".into(), 2, none(), none()), ("b".into(), 1, none(), none())]
        );
    }

    /// A trace pushed more than once is combined on read as Tempo's
    /// `pkg/model/trace/combine.go` does: later pushes lose spans already
    /// seen (same id and kind), then `SortTrace` orders spans, scopes and
    /// batches by start time and span id; one push is kept as it came.
    #[test]
    fn pushes_are_combined_as_tempos_combiner_does() {
        let push = |spans: &[(u8, u64)]| ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: spans
                        .iter()
                        .map(|&(id, start)| Span {
                            trace_id: vec![7; 16],
                            span_id: vec![id; 8],
                            kind: 2,
                            start_time_unix_nano: start,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let order = |store: &TraceStore| -> Vec<Vec<u8>> {
            let trace = store.by_id(TraceId([7; 16]), &Faults::default()).expect("stored");
            trace
                .combined()
                .iter()
                .flat_map(|rs| {
                    rs.scope_spans
                        .iter()
                        .flat_map(|ss| ss.spans.iter().map(|s| s.span_id[..1].to_vec()))
                })
                .collect()
        };
        let store = TraceStore::default();
        store.ingest(push(&[(2, 20), (1, 10), (1, 10)]), &Faults::default());
        assert_eq!(order(&store), [vec![2], vec![1], vec![1]]);
        store.ingest(push(&[(1, 10), (3, 5), (3, 5)]), &Faults::default());
        assert_eq!(order(&store), [vec![3], vec![1], vec![1], vec![2]]);
        // Search reads the trace as flushed: combined the same way.
        let searched = store.searchable(Duration::ZERO, &Faults::default());
        let ids: Vec<u8> = searched[0].1.spans().map(|(_, s)| s.span_id[0]).collect();
        assert_eq!(ids, [3, 1, 1, 2]);
    }
}
