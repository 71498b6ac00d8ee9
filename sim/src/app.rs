//! The reference stack's app role: the backend tier behind the ALB's
//! `/api/*` and `/health`, instrumented the way the deployment's FastAPI
//! backend is (`shared/reference/deployment.md` § Application): it continues
//! the caller's `traceparent` with a server span (`pyroscope.profile.id` set
//! to its span id), logs the request with `trace_id`/`span_id`, records
//! `http_request_duration_seconds` with an exemplar for the active span, and
//! profiles the request with a `span_id` sample label. The faults
//! `ignore_traceparent`, `logs_without_trace_id`, `exemplar_label`,
//! `profiles_without_span_id` and `sampler_ratio` break one link each.
//!
//! Uses: ids, pprof (stacks), traces, logs, mimir, profiles, state.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar, Histogram, HistogramDataPoint, Metric, ResourceMetrics, ScopeMetrics, exemplar,
    metric,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span::SpanKind};
use serde_json::json;

use opentelemetry_proto::tonic::common::v1::KeyValue;

use crate::faults::fraction;
use crate::ids::{IdSource, Traceparent};
use crate::logs::unix_nanos;
use crate::mimir;
use crate::pprof::{Decoded, Stack};
use crate::state::SimState;

/// `http_request_duration_seconds` buckets of the deployment (.005 … 10 s).
const BOUNDS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

struct AppState {
    sim: Arc<SimState>,
    service: String,
    ids: IdSource,
    requests: AtomicU64,
    /// The `app_rate_limit` window: when it opened and the requests in it.
    window: Mutex<(std::time::Instant, u32)>,
    /// Cumulative histogram per (path, status).
    histograms: Mutex<BTreeMap<(String, u16), RouteHistogram>>,
}

#[derive(Debug)]
struct RouteHistogram {
    buckets: Vec<u64>,
    sum: f64,
    count: u64,
}

pub fn router(sim: Arc<SimState>, backend_service: &str) -> Router {
    let state = Arc::new(AppState {
        sim,
        service: backend_service.to_owned(),
        ids: IdSource::new(),
        requests: AtomicU64::new(0),
        window: Mutex::new((std::time::Instant::now(), 0)),
        histograms: Mutex::new(BTreeMap::new()),
    });
    Router::new()
        .route("/health", get(|| async { Json(json!({ "status": "healthy" })) }))
        .route(
            "/api/delay/health",
            get(|| async { Json(json!({ "status": "healthy" })) }),
        )
        .route("/api/delay/{speed}", get(delay))
        .with_state(state)
}

impl AppState {
    /// Whether one more request fits the minute's window of `limit`.
    fn admit(&self, limit: u32) -> bool {
        let mut window = self.window.lock().expect("rate window");
        if window.0.elapsed() >= std::time::Duration::from_secs(60) {
            *window = (std::time::Instant::now(), 0);
        }
        window.1 += 1;
        window.1 <= limit
    }
}

fn string_attr(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn int_attr(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

fn resource(service: &str) -> Resource {
    Resource {
        attributes: vec![
            string_attr("service.name", service),
            string_attr("service.namespace", "durable-code"),
            string_attr("deployment.environment", "pillars-sim"),
        ],
        ..Default::default()
    }
}

fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: "pillars-sim-app".into(),
        ..Default::default()
    })
}

async fn delay(State(app): State<Arc<AppState>>, Path(speed): Path<String>, headers: HeaderMap) -> Response {
    app.sim.app_requests.fetch_add(1, Ordering::Relaxed);
    if let Some(limit) = app.sim.faults().app_rate_limit
        && !app.admit(limit)
    {
        // Every client of the embedded stack is loopback: one window.
        let detail = format!("Rate limit exceeded: {limit} per 1 minute");
        return (StatusCode::TOO_MANY_REQUESTS, Json(json!({ "error": detail }))).into_response();
    }
    let n = app.requests.fetch_add(1, Ordering::Relaxed);
    let millis = match speed.as_str() {
        "fast" => 50 + n % 50,
        "med" => 500 + n % 500,
        "slow" => 2000 + n % 1000,
        _ => return (StatusCode::NOT_FOUND, Json(json!({ "detail": "Not Found" }))).into_response(),
    };
    let faults = app.sim.faults();
    let caller = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(Traceparent::parse)
        .filter(|_| !faults.ignore_traceparent);
    let trace_id = caller.map(|c| c.trace_id).unwrap_or_else(|| app.ids.trace_id(n));
    let span_id = app.ids.span_id(n);
    // A trace-id-ratio sampler decides by trace id alone, whatever the
    // caller sampled (that is what breaks cross-tier traces).
    let sampled = match faults.sampler_ratio {
        Some(r) => fraction(&trace_id.0) < r,
        None => caller.is_none_or(|c| c.sampled),
    };
    let start = unix_nanos();
    tokio::time::sleep(Duration::from_millis(millis)).await;
    let end = unix_nanos();
    let route = format!("/api/delay/{speed}");
    let seconds = (end - start) as f64 / 1e9;

    if sampled {
        let span = Span {
            trace_id: trace_id.0.to_vec(),
            span_id: span_id.0.to_vec(),
            parent_span_id: caller.map(|c| c.parent_id.0.to_vec()).unwrap_or_default(),
            name: format!("GET {route}"),
            kind: SpanKind::Server as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            attributes: vec![
                string_attr("http.method", "GET"),
                string_attr("http.route", &route),
                int_attr("http.status_code", 200),
                string_attr("pyroscope.profile.id", &span_id.to_string()),
            ],
            ..Default::default()
        };
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(resource(&app.service)),
                scope_spans: vec![ScopeSpans {
                    scope: scope(),
                    spans: vec![span],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        app.sim.traces.ingest(request, &faults);
    }

    let (log_trace, log_span) = if faults.logs_without_trace_id {
        (Vec::new(), Vec::new())
    } else {
        (trace_id.0.to_vec(), span_id.0.to_vec())
    };
    let logs = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource(&app.service)),
            scope_logs: vec![ScopeLogs {
                scope: scope(),
                log_records: vec![LogRecord {
                    time_unix_nano: end,
                    observed_time_unix_nano: end,
                    severity_number: 9,
                    severity_text: "INFO".into(),
                    body: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(format!(
                            "GET {route} completed in {} ms",
                            (end - start) / 1_000_000
                        ))),
                    }),
                    attributes: vec![
                        string_attr("logger", "app.routes.delay"),
                        string_attr("function", "delay"),
                    ],
                    trace_id: log_trace,
                    span_id: log_span,
                    ..Default::default()
                }],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    };
    // The backend's logs reach Loki through Alloy, as its OTLP exports do.
    crate::collector::export_logs(&app.sim, logs, 0.0);

    let exemplar = sampled.then(|| match &faults.exemplar_label {
        None => Exemplar {
            time_unix_nano: end,
            value: Some(exemplar::Value::AsDouble(seconds)),
            trace_id: trace_id.0.to_vec(),
            span_id: span_id.0.to_vec(),
            filtered_attributes: Vec::new(),
        },
        Some(label) => Exemplar {
            time_unix_nano: end,
            value: Some(exemplar::Value::AsDouble(seconds)),
            trace_id: Vec::new(),
            span_id: Vec::new(),
            filtered_attributes: vec![string_attr(label, &trace_id.to_string())],
        },
    });
    let point = {
        let mut histograms = app.histograms.lock().expect("histogram lock");
        let h = histograms
            .entry((route.clone(), 200))
            .or_insert_with(|| RouteHistogram {
                buckets: vec![0; BOUNDS.len() + 1],
                sum: 0.0,
                count: 0,
            });
        let i = BOUNDS.iter().position(|b| seconds <= *b).unwrap_or(BOUNDS.len());
        h.buckets[i] += 1;
        h.sum += seconds;
        h.count += 1;
        HistogramDataPoint {
            attributes: vec![
                string_attr("method", "GET"),
                string_attr("path", &route),
                string_attr("status_code", "200"),
            ],
            start_time_unix_nano: start,
            time_unix_nano: end,
            count: h.count,
            sum: Some(h.sum),
            bucket_counts: h.buckets.clone(),
            explicit_bounds: BOUNDS.to_vec(),
            exemplars: exemplar.into_iter().collect(),
            ..Default::default()
        }
    };
    let metrics = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource(&app.service)),
            scope_metrics: vec![ScopeMetrics {
                scope: scope(),
                metrics: vec![Metric {
                    name: "http_request_duration_seconds".into(),
                    unit: "s".into(),
                    data: Some(metric::Data::Histogram(Histogram {
                        data_points: vec![point],
                        aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    })),
                    ..Default::default()
                }],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    };
    mimir::ingest(&app.sim, metrics);

    let span_label = (sampled && !faults.profiles_without_span_id).then_some(span_id);
    let leaf = format!("delay_{speed}");
    // What pyroscope-otel's profiler would push for the request: one CPU
    // sample of the handler's stack, labelled with the span.
    let profile = Decoded {
        type_suffix: "cpu:nanoseconds:cpu:nanoseconds".into(),
        stacks: vec![Stack {
            frames: vec!["main".into(), "handle_request".into(), leaf],
            value: 20_000_000,
            labels: span_label
                .map(|id| vec![("span_id".to_owned(), id.to_string())])
                .unwrap_or_default(),
        }],
        time_nanos: end as i64,
    };
    let labels = BTreeMap::from([
        ("__name__".to_owned(), "process_cpu".to_owned()),
        ("service_name".to_owned(), app.service.clone()),
    ]);
    let _ = app.sim.profiles.push_decoded(&labels, &profile);

    Json(json!({
        "endpoint": speed,
        "delay_ms": (end - start) / 1_000_000,
        "trace_id": trace_id.to_string(),
    }))
    .into_response()
}
