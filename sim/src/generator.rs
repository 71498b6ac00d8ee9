//! Tempo 2.6's metrics generator, as the deployment runs it (span metrics
//! and service graphs, remote-written to Mimir with exemplars): every span
//! the distributor accepts updates cumulative series, written to the metric
//! store at once rather than on a 15 s collection tick.
//!
//! Span metrics (calls, latency, size) carry Tempo's default intrinsic dimensions (`service`,
//! `span_name`, `span_kind`, `status_code`); service graphs pair a client
//! (or producer) span with its server (or consumer) child of another
//! service. Every series also carries the registry's external label
//! `__metrics_gen_instance`. A new series is first written as 0 a
//! millisecond earlier, as Tempo's registry does so a first increment is a
//! rate.
//!
//! Uses: metrics (the store it writes to), traces (attribute text), ids.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{Span, span::SpanKind, status::StatusCode};
use prost::Message;

use crate::ids::hex;
use crate::metrics::{Labels, MetricStore, StoredExemplar, format_le};
use crate::traces::attribute_text;

/// The generator's hostname, as the registry labels every series.
pub const INSTANCE: &str = "tempo";
/// Tempo's span-metrics histogram buckets: 2 ms doubling 14 times.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384,
];
/// Tempo's service-graph histogram buckets: 100 ms doubling 8 times.
pub const GRAPH_BUCKETS: [f64; 8] = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8];
/// How long a half of an edge waits for the other (`wait`, 10 s).
const EDGE_WAIT_MS: i64 = 10_000;
/// Unpaired halves kept at most (`max_items`, 10 000).
const MAX_PENDING: usize = 10_000;

/// One sample to write, with the exemplar Tempo attaches to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub ts_ms: i64,
    pub value: f64,
    pub exemplar: Option<StoredExemplar>,
}

/// The half of a service-graph edge seen so far.
#[derive(Debug, Clone)]
struct Half {
    service: String,
    seconds: f64,
    failed: bool,
    trace_id: String,
    seen_ms: i64,
}

/// Which side of an edge a span is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Side {
    Client,
    Server,
}

/// A span as the processors read it.
#[derive(Debug, Clone)]
struct Observed {
    service: String,
    name: String,
    kind: SpanKind,
    status: StatusCode,
    seconds: f64,
    /// The span's encoded size, which `traces_spanmetrics_size_total` sums.
    bytes: f64,
    trace_id: String,
    span_id: Vec<u8>,
    parent_span_id: Vec<u8>,
}

#[derive(Debug, Default)]
struct Registry {
    counters: BTreeMap<Labels, f64>,
    /// Per histogram (labels without `le`): bucket counts, sum, count.
    histograms: BTreeMap<(String, Labels), (Vec<u64>, f64, u64)>,
    /// Unpaired halves by (trace id, the client's span id, side).
    pending: HashMap<(String, Vec<u8>, Side), Half>,
}

/// Tempo's metrics generator, writing into `MetricStore`.
#[derive(Debug, Default)]
pub struct MetricsGenerator {
    registry: Mutex<Registry>,
}

fn kind_name(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Unspecified => "SPAN_KIND_UNSPECIFIED",
        SpanKind::Internal => "SPAN_KIND_INTERNAL",
        SpanKind::Server => "SPAN_KIND_SERVER",
        SpanKind::Client => "SPAN_KIND_CLIENT",
        SpanKind::Producer => "SPAN_KIND_PRODUCER",
        SpanKind::Consumer => "SPAN_KIND_CONSUMER",
    }
}

fn status_name(code: StatusCode) -> &'static str {
    match code {
        StatusCode::Unset => "STATUS_CODE_UNSET",
        StatusCode::Ok => "STATUS_CODE_OK",
        StatusCode::Error => "STATUS_CODE_ERROR",
    }
}

fn labels(name: &str, pairs: &[(&str, &str)]) -> Labels {
    let mut out = Labels::from([
        ("__name__".to_owned(), name.to_owned()),
        ("__metrics_gen_instance".to_owned(), INSTANCE.to_owned()),
    ]);
    for (k, v) in pairs {
        // Prometheus keeps no label with an empty value.
        if !v.is_empty() {
            out.insert((*k).to_owned(), (*v).to_owned());
        }
    }
    out
}

fn observed(request: &ExportTraceServiceRequest) -> Vec<Observed> {
    let mut out = Vec::new();
    for rs in &request.resource_spans {
        let attrs = rs
            .resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or_default();
        let service = attribute_text(attrs, "service.name").unwrap_or_default();
        for ss in &rs.scope_spans {
            out.extend(ss.spans.iter().map(|s: &Span| {
                Observed {
                    service: service.clone(),
                    name: s.name.clone(),
                    kind: SpanKind::try_from(s.kind).unwrap_or(SpanKind::Unspecified),
                    status: s
                        .status
                        .as_ref()
                        .and_then(|st| StatusCode::try_from(st.code).ok())
                        .unwrap_or(StatusCode::Unset),
                    seconds: s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano) as f64 / 1e9,
                    bytes: s.encoded_len() as f64,
                    trace_id: hex(&s.trace_id),
                    span_id: s.span_id.clone(),
                    parent_span_id: s.parent_span_id.clone(),
                }
            }));
        }
    }
    out
}

impl Registry {
    /// Adds to a counter; the samples to write (a leading 0 when new).
    fn inc(&mut self, labels: Labels, by: f64, ts_ms: i64, out: &mut Vec<Sample>) {
        let value = match self.counters.get_mut(&labels) {
            Some(v) => {
                *v += by;
                *v
            }
            None => {
                out.push(Sample {
                    labels: labels.clone(),
                    ts_ms: ts_ms - 1,
                    value: 0.0,
                    exemplar: None,
                });
                self.counters.insert(labels.clone(), by);
                by
            }
        };
        out.push(Sample {
            labels,
            ts_ms,
            value,
            exemplar: None,
        });
    }

    /// Observes `value` into histogram `name`; the exemplar goes on the
    /// bucket the value falls in.
    #[allow(clippy::too_many_arguments)]
    fn observe(
        &mut self,
        name: &str,
        base: Labels,
        bounds: &[f64],
        value: f64,
        trace_id: &str,
        ts_ms: i64,
        out: &mut Vec<Sample>,
    ) {
        let key = (name.to_owned(), base.clone());
        let is_new = !self.histograms.contains_key(&key);
        let entry = self
            .histograms
            .entry(key)
            .or_insert_with(|| (vec![0; bounds.len() + 1], 0.0, 0));
        let at = bounds.iter().position(|b| value <= *b).unwrap_or(bounds.len());
        if let Some(c) = entry.0.get_mut(at) {
            *c += 1;
        }
        entry.1 += value;
        entry.2 += 1;
        let (counts, sum, count) = entry.clone();
        let with_name = |suffix: &str| {
            let mut l = base.clone();
            l.insert("__name__".into(), format!("{name}{suffix}"));
            l
        };
        let mut push = |labels: Labels, v: f64, exemplar: Option<StoredExemplar>| {
            if is_new {
                out.push(Sample {
                    labels: labels.clone(),
                    ts_ms: ts_ms - 1,
                    value: 0.0,
                    exemplar: None,
                });
            }
            out.push(Sample {
                labels,
                ts_ms,
                value: v,
                exemplar,
            });
        };
        let mut cumulative = 0u64;
        let all_bounds = bounds.iter().copied().chain([f64::INFINITY]);
        for (i, (bound, c)) in all_bounds.zip(counts).enumerate() {
            cumulative += c;
            let mut l = with_name("_bucket");
            l.insert("le".into(), format_le(bound));
            let exemplar = (i == at && !trace_id.is_empty()).then(|| StoredExemplar {
                labels: Labels::from([("traceID".to_owned(), trace_id.to_owned())]),
                value,
                ts_ms,
            });
            push(l, cumulative as f64, exemplar);
        }
        push(with_name("_sum"), sum, None);
        push(with_name("_count"), count as f64, None);
    }

    fn span_metrics(&mut self, s: &Observed, ts_ms: i64, out: &mut Vec<Sample>) {
        let dims = [
            ("service", s.service.as_str()),
            ("span_name", s.name.as_str()),
            ("span_kind", kind_name(s.kind)),
            ("status_code", status_name(s.status)),
        ];
        self.inc(labels("traces_spanmetrics_calls_total", &dims), 1.0, ts_ms, out);
        self.inc(labels("traces_spanmetrics_size_total", &dims), s.bytes, ts_ms, out);
        let base = labels("traces_spanmetrics_latency", &dims);
        self.observe(
            "traces_spanmetrics_latency",
            without_name(base),
            &LATENCY_BUCKETS,
            s.seconds,
            &s.trace_id,
            ts_ms,
            out,
        );
    }

    /// Records the span's half of an edge, and the edge once both are in.
    fn service_graph(&mut self, s: &Observed, ts_ms: i64, out: &mut Vec<Sample>) {
        let (side, key_span) = match s.kind {
            SpanKind::Client | SpanKind::Producer => (Side::Client, s.span_id.clone()),
            SpanKind::Server | SpanKind::Consumer if !s.parent_span_id.is_empty() => {
                (Side::Server, s.parent_span_id.clone())
            }
            _ => return,
        };
        let half = Half {
            service: s.service.clone(),
            seconds: s.seconds,
            failed: s.status == StatusCode::Error,
            trace_id: s.trace_id.clone(),
            seen_ms: ts_ms,
        };
        let other = match side {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        };
        let Some(found) = self.pending.remove(&(s.trace_id.clone(), key_span.clone(), other)) else {
            self.pending.retain(|_, h| ts_ms - h.seen_ms <= EDGE_WAIT_MS);
            if self.pending.len() < MAX_PENDING {
                self.pending.insert((s.trace_id.clone(), key_span, side), half);
            }
            return;
        };
        let (client, server) = match side {
            Side::Client => (half, found),
            Side::Server => (found, half),
        };
        // A span calling its own service is no edge.
        if client.service == server.service {
            return;
        }
        let dims = [("client", client.service.as_str()), ("server", server.service.as_str())];
        self.inc(labels("traces_service_graph_request_total", &dims), 1.0, ts_ms, out);
        if client.failed || server.failed {
            self.inc(
                labels("traces_service_graph_request_failed_total", &dims),
                1.0,
                ts_ms,
                out,
            );
        }
        let base = without_name(labels("", &dims));
        for (name, seconds) in [
            ("traces_service_graph_request_server_seconds", server.seconds),
            ("traces_service_graph_request_client_seconds", client.seconds),
        ] {
            self.observe(
                name,
                base.clone(),
                &GRAPH_BUCKETS,
                seconds,
                &server.trace_id,
                ts_ms,
                out,
            );
        }
    }
}

fn without_name(mut l: Labels) -> Labels {
    l.remove("__name__");
    l
}

impl MetricsGenerator {
    /// The samples the spans of `request` produce at `ts_ms`, the
    /// registry updated.
    pub fn process(&self, request: &ExportTraceServiceRequest, ts_ms: i64) -> Vec<Sample> {
        let spans = observed(request);
        let mut out = Vec::new();
        let mut registry = self.registry.lock().expect("generator lock");
        for s in &spans {
            registry.span_metrics(s, ts_ms, &mut out);
            registry.service_graph(s, ts_ms, &mut out);
        }
        out
    }

    /// Processes `request` and writes what it produced into `store`.
    pub fn write(&self, request: &ExportTraceServiceRequest, ts_ms: i64, store: &MetricStore) {
        for s in self.process(request, ts_ms) {
            store.put_generated(s.labels, s.ts_ms, s.value, s.exemplar);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Status};

    fn span(id: u8, parent: Option<u8>, kind: SpanKind, millis: u64, error: bool) -> Span {
        Span {
            trace_id: vec![7; 16],
            span_id: vec![id; 8],
            parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
            name: format!("op{id}"),
            kind: kind as i32,
            start_time_unix_nano: 1_000_000_000,
            end_time_unix_nano: 1_000_000_000 + millis * 1_000_000,
            status: error.then(|| Status {
                code: StatusCode::Error as i32,
                message: String::new(),
            }),
            ..Span::default()
        }
    }

    fn request(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![KeyValue {
                        key: "service.name".into(),
                        value: Some(AnyValue {
                            value: Some(any_value::Value::StringValue(service.into())),
                        }),
                        ..KeyValue::default()
                    }],
                    ..Resource::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..ScopeSpans::default()
                }],
                schema_url: String::new(),
            }],
        }
    }

    fn last(samples: &[Sample], name: &str, extra: &[(&str, &str)]) -> Option<f64> {
        samples
            .iter()
            .rev()
            .find(|s| {
                s.labels["__name__"] == name
                    && extra
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
    }

    #[test]
    fn span_metrics_have_tempos_labels_and_count_cumulatively() {
        let g = MetricsGenerator::default();
        let first = g.process(
            &request("backend", vec![span(1, None, SpanKind::Server, 30, false)]),
            5_000,
        );
        let calls: Vec<&Sample> = first
            .iter()
            .filter(|s| s.labels["__name__"] == "traces_spanmetrics_calls_total")
            .collect();
        // A leading 0 a millisecond before, then the count.
        assert_eq!(calls.len(), 2);
        assert_eq!((calls[0].ts_ms, calls[0].value), (4_999, 0.0));
        assert_eq!((calls[1].ts_ms, calls[1].value), (5_000, 1.0));
        let keys: Vec<&str> = calls[1].labels.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "__metrics_gen_instance",
                "__name__",
                "service",
                "span_kind",
                "span_name",
                "status_code"
            ]
        );
        assert_eq!(calls[1].labels["span_kind"], "SPAN_KIND_SERVER");
        assert_eq!(calls[1].labels["status_code"], "STATUS_CODE_UNSET");
        // 30 ms falls in le=0.032, which carries the exemplar.
        let bucket = |le: &str| last(&first, "traces_spanmetrics_latency_bucket", &[("le", le)]);
        assert_eq!(bucket("0.016"), Some(0.0));
        assert_eq!(bucket("0.032"), Some(1.0));
        assert_eq!(bucket("+Inf"), Some(1.0));
        let with_exemplar: Vec<&Sample> = first.iter().filter(|s| s.exemplar.is_some()).collect();
        assert_eq!(with_exemplar.len(), 1);
        assert_eq!(with_exemplar[0].labels["le"], "0.032");
        let e = with_exemplar[0].exemplar.as_ref().unwrap();
        assert_eq!(e.labels["traceID"], "07".repeat(16));
        assert!((e.value - 0.03).abs() < 1e-9);
        assert!((last(&first, "traces_spanmetrics_latency_sum", &[]).unwrap() - 0.03).abs() < 1e-9);
        let size = span(1, None, SpanKind::Server, 30, false).encoded_len() as f64;
        assert_eq!(last(&first, "traces_spanmetrics_size_total", &[]), Some(size));

        let second = g.process(
            &request("backend", vec![span(2, None, SpanKind::Server, 30, true)]),
            6_000,
        );
        // Another status is another series; the same name and status counts on.
        assert_eq!(
            last(
                &second,
                "traces_spanmetrics_calls_total",
                &[("status_code", "STATUS_CODE_ERROR")]
            ),
            Some(1.0)
        );
        let again = g.process(
            &request("backend", vec![span(1, None, SpanKind::Server, 30, false)]),
            7_000,
        );
        assert_eq!(last(&again, "traces_spanmetrics_calls_total", &[]), Some(2.0));
        assert_eq!(again.iter().filter(|s| s.value == 0.0 && s.ts_ms == 6_999).count(), 0);
    }

    #[test]
    fn a_client_server_pair_of_two_services_is_an_edge() {
        let g = MetricsGenerator::default();
        let client = g.process(
            &request("frontend", vec![span(1, None, SpanKind::Client, 200, false)]),
            1_000,
        );
        assert_eq!(last(&client, "traces_service_graph_request_total", &[]), None);
        let server = g.process(
            &request("backend", vec![span(2, Some(1), SpanKind::Server, 150, false)]),
            1_100,
        );
        assert_eq!(
            last(
                &server,
                "traces_service_graph_request_total",
                &[("client", "frontend"), ("server", "backend")]
            ),
            Some(1.0)
        );
        assert_eq!(last(&server, "traces_service_graph_request_failed_total", &[]), None);
        assert_eq!(
            last(
                &server,
                "traces_service_graph_request_server_seconds_bucket",
                &[("le", "0.2")]
            ),
            Some(1.0)
        );
        assert_eq!(
            last(
                &server,
                "traces_service_graph_request_client_seconds_bucket",
                &[("le", "0.2")]
            ),
            Some(1.0)
        );
        // The same service on both sides is no edge.
        let g = MetricsGenerator::default();
        let both = g.process(
            &request(
                "backend",
                vec![
                    span(1, None, SpanKind::Client, 1, false),
                    span(2, Some(1), SpanKind::Server, 1, false),
                ],
            ),
            1_000,
        );
        assert_eq!(last(&both, "traces_service_graph_request_total", &[]), None);
    }

    #[test]
    fn unpaired_halves_expire() {
        let g = MetricsGenerator::default();
        g.process(
            &request("frontend", vec![span(1, None, SpanKind::Client, 1, false)]),
            1_000,
        );
        // Any later half sweeps the stale one before waiting itself.
        g.process(
            &request("x", vec![span(9, None, SpanKind::Client, 1, false)]),
            1_000 + EDGE_WAIT_MS + 1,
        );
        let late = g.process(
            &request("backend", vec![span(2, Some(1), SpanKind::Server, 1, false)]),
            30_000,
        );
        assert_eq!(last(&late, "traces_service_graph_request_total", &[]), None);
    }
}
