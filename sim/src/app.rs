//! The reference stack's app role: the backend tier behind the ALB's
//! `/api/*` and `/health`, instrumented the way the deployment's FastAPI
//! backend is (`shared/reference/deployment.md` § Application): it continues
//! the caller's `traceparent` with a server span (`pyroscope.profile.id` set
//! to its span id), logs the request with `trace_id`/`span_id`, records
//! `http_request_duration_seconds` with an exemplar for the active span
//! beside `http_requests_total` and `http_errors_total` (status 400 and
//! up), all with `method`, `path`, `status_code` as the reference app's
//! middleware records them (`compose/app/app/main.py`), and profiles the
//! request with a `span_id` sample label. The faults `ignore_traceparent`,
//! `logs_without_trace_id`, `exemplar_label`, `profiles_without_span_id`
//! and `sampler_ratio` break one link each.
//!
//! Routes: `/api/delay/{fast,med,slow}` (really sleeping 50–100 ms,
//! 0.5–1 s and 2.5–3 s, so the span, the client's timing and the
//! histogram agree, and every slow request is over the latency SLO's
//! 2.5 s bucket), `/api/error?ratio=R` (500 for `R` of the calls, spread
//! evenly: call k fails when floor(k·R) grows; 400 outside 0..1, FastAPI's
//! 422 when `R` is not a number), `/api/delay/health`, `/health`.
//!
//! Uses: ids, pprof (stacks), traces, logs, mimir, profiles, state.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum, exemplar, metric, number_data_point,
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
    /// Cumulative histogram and counters per (path, status).
    histograms: Mutex<BTreeMap<(String, u16), RouteHistogram>>,
    /// Calls `/api/error` has counted, for its even spread of failures.
    error_calls: AtomicU64,
}

#[derive(Debug)]
struct RouteHistogram {
    buckets: Vec<u64>,
    sum: f64,
    count: u64,
    /// When the series started, for the cumulative points' start time.
    start_unix_nano: u64,
}

pub fn router(sim: Arc<SimState>, backend_service: &str) -> Router {
    let state = Arc::new(AppState {
        sim,
        service: backend_service.to_owned(),
        ids: IdSource::new(),
        requests: AtomicU64::new(0),
        window: Mutex::new((std::time::Instant::now(), 0)),
        histograms: Mutex::new(BTreeMap::new()),
        error_calls: AtomicU64::new(0),
    });
    Router::new()
        .route("/health", get(|| async { Json(json!({ "status": "healthy" })) }))
        .route(
            "/api/delay/health",
            get(|| async { Json(json!({ "status": "healthy" })) }),
        )
        .route("/api/delay/{speed}", get(delay))
        .route("/api/error", get(error))
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

/// What one answered request was, for its telemetry.
struct Served {
    route: String,
    status: u16,
    /// The handler's log line, as loguru writes it.
    message: String,
    logger: &'static str,
    function: &'static str,
    /// The profiled stack's leaf frame.
    leaf: String,
}

/// The request's trace context, decided before the handler runs.
struct Context {
    trace_id: crate::ids::TraceId,
    span_id: crate::ids::SpanId,
    parent: Option<Traceparent>,
    sampled: bool,
}

impl AppState {
    /// Counts the request and applies `app_rate_limit`: `Some` is the 429.
    fn limit(&self) -> Option<Response> {
        self.sim.app_requests.fetch_add(1, Ordering::Relaxed);
        let limit = self.sim.faults().app_rate_limit?;
        if self.admit(limit) {
            return None;
        }
        // Every client of the embedded stack is loopback: one window.
        let detail = format!("Rate limit exceeded: {limit} per 1 minute");
        Some((StatusCode::TOO_MANY_REQUESTS, Json(json!({ "error": detail }))).into_response())
    }

    fn context(&self, n: u64, headers: &HeaderMap) -> Context {
        let faults = self.sim.faults();
        let parent = headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(Traceparent::parse)
            .filter(|_| !faults.ignore_traceparent);
        let trace_id = parent.map(|c| c.trace_id).unwrap_or_else(|| self.ids.trace_id(n));
        // A trace-id-ratio sampler decides by trace id alone, whatever the
        // caller sampled (that is what breaks cross-tier traces).
        let sampled = match faults.sampler_ratio {
            Some(r) => fraction(&trace_id.0) < r,
            None => parent.is_none_or(|c| c.sampled),
        };
        Context {
            trace_id,
            span_id: self.ids.span_id(n),
            parent,
            sampled,
        }
    }

    /// The request's span, log line, metrics and profile, as the reference
    /// app's instrumentation exports them.
    fn emit(&self, ctx: &Context, served: &Served, start: u64, end: u64) {
        let faults = self.sim.faults();
        let seconds = end.saturating_sub(start) as f64 / 1e9;
        let route = &served.route;
        if ctx.sampled {
            let span = Span {
                trace_id: ctx.trace_id.0.to_vec(),
                span_id: ctx.span_id.0.to_vec(),
                parent_span_id: ctx.parent.map(|c| c.parent_id.0.to_vec()).unwrap_or_default(),
                name: format!("GET {route}"),
                kind: SpanKind::Server as i32,
                start_time_unix_nano: start,
                end_time_unix_nano: end,
                attributes: vec![
                    string_attr("http.method", "GET"),
                    string_attr("http.route", route),
                    int_attr("http.status_code", i64::from(served.status)),
                    string_attr("pyroscope.profile.id", &ctx.span_id.to_string()),
                ],
                // The instrumentation marks a 5xx server span as an error.
                status: (served.status >= 500).then(|| opentelemetry_proto::tonic::trace::v1::Status {
                    message: String::new(),
                    code: opentelemetry_proto::tonic::trace::v1::status::StatusCode::Error as i32,
                }),
                ..Default::default()
            };
            let request = ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    resource: Some(resource(&self.service)),
                    scope_spans: vec![ScopeSpans {
                        scope: scope(),
                        spans: vec![span],
                        schema_url: String::new(),
                    }],
                    schema_url: String::new(),
                }],
            };
            self.sim.ingest_spans(request, &faults);
        }

        let (log_trace, log_span) = if faults.logs_without_trace_id {
            (Vec::new(), Vec::new())
        } else {
            (ctx.trace_id.0.to_vec(), ctx.span_id.0.to_vec())
        };
        let logs = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(resource(&self.service)),
                scope_logs: vec![ScopeLogs {
                    scope: scope(),
                    log_records: vec![LogRecord {
                        time_unix_nano: end,
                        observed_time_unix_nano: end,
                        severity_number: 9,
                        severity_text: "INFO".into(),
                        body: Some(AnyValue {
                            value: Some(any_value::Value::StringValue(served.message.clone())),
                        }),
                        attributes: vec![
                            string_attr("logger", served.logger),
                            string_attr("function", served.function),
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
        crate::collector::export_logs(&self.sim, logs, 0.0);

        let exemplar = ctx.sampled.then(|| match &faults.exemplar_label {
            None => Exemplar {
                time_unix_nano: end,
                value: Some(exemplar::Value::AsDouble(seconds)),
                trace_id: ctx.trace_id.0.to_vec(),
                span_id: ctx.span_id.0.to_vec(),
                filtered_attributes: Vec::new(),
            },
            Some(label) => Exemplar {
                time_unix_nano: end,
                value: Some(exemplar::Value::AsDouble(seconds)),
                trace_id: Vec::new(),
                span_id: Vec::new(),
                filtered_attributes: vec![string_attr(label, &ctx.trace_id.to_string())],
            },
        });
        let metrics = self.record(route, served.status, seconds, start, end, exemplar);
        mimir::ingest(&self.sim, metrics);

        let span_label = (ctx.sampled && !faults.profiles_without_span_id).then_some(ctx.span_id);
        // What pyroscope-otel's profiler would push for the request: one CPU
        // sample of the handler's stack, labelled with the span.
        let profile = Decoded {
            type_suffix: "cpu:nanoseconds:cpu:nanoseconds".into(),
            stacks: vec![Stack {
                frames: vec!["main".into(), "handle_request".into(), served.leaf.clone()],
                value: 20_000_000,
                labels: span_label
                    .map(|id| vec![("span_id".to_owned(), id.to_string())])
                    .unwrap_or_default(),
            }],
            time_nanos: end as i64,
            facts: Default::default(),
            other_types: Vec::new(),
        };
        let labels = BTreeMap::from([
            ("__name__".to_owned(), "process_cpu".to_owned()),
            ("service_name".to_owned(), self.service.clone()),
        ]);
        let _ = self.sim.profiles.push_decoded(&labels, &profile);
    }

    /// Adds the request to its route's cumulative histogram and counters
    /// and returns the export the SDK's reader would send now: the
    /// histogram, `http_requests_total`, and `http_errors_total` from 400.
    fn record(
        &self,
        route: &str,
        status: u16,
        seconds: f64,
        start: u64,
        end: u64,
        exemplar: Option<Exemplar>,
    ) -> ExportMetricsServiceRequest {
        let mut histograms = self.histograms.lock().expect("histogram lock");
        let h = histograms
            .entry((route.to_owned(), status))
            .or_insert_with(|| RouteHistogram {
                buckets: vec![0; BOUNDS.len() + 1],
                sum: 0.0,
                count: 0,
                start_unix_nano: start,
            });
        let i = BOUNDS.iter().position(|b| seconds <= *b).unwrap_or(BOUNDS.len());
        h.buckets[i] += 1;
        h.sum += seconds;
        h.count += 1;
        let attributes = vec![
            string_attr("method", "GET"),
            string_attr("path", route),
            string_attr("status_code", &status.to_string()),
        ];
        let histogram = HistogramDataPoint {
            attributes: attributes.clone(),
            start_time_unix_nano: h.start_unix_nano,
            time_unix_nano: end,
            count: h.count,
            sum: Some(h.sum),
            bucket_counts: h.buckets.clone(),
            explicit_bounds: BOUNDS.to_vec(),
            exemplars: exemplar.into_iter().collect(),
            ..Default::default()
        };
        let counter = |name: &str, description: &str| Metric {
            name: name.into(),
            description: description.into(),
            data: Some(metric::Data::Sum(Sum {
                data_points: vec![NumberDataPoint {
                    attributes: attributes.clone(),
                    start_time_unix_nano: h.start_unix_nano,
                    time_unix_nano: end,
                    value: Some(number_data_point::Value::AsInt(h.count as i64)),
                    ..Default::default()
                }],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            })),
            ..Default::default()
        };
        let mut metrics = vec![
            Metric {
                name: "http_request_duration_seconds".into(),
                description: "request latency".into(),
                unit: "s".into(),
                data: Some(metric::Data::Histogram(Histogram {
                    data_points: vec![histogram],
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                })),
                ..Default::default()
            },
            counter("http_requests_total", "requests"),
        ];
        if status >= 400 {
            metrics.push(counter("http_errors_total", "requests answered >= 400"));
        }
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(resource(&self.service)),
                scope_metrics: vec![ScopeMetrics {
                    scope: scope(),
                    metrics,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }
}

async fn delay(State(app): State<Arc<AppState>>, Path(speed): Path<String>, headers: HeaderMap) -> Response {
    if let Some(refused) = app.limit() {
        return refused;
    }
    let n = app.requests.fetch_add(1, Ordering::Relaxed);
    let route = format!("/api/delay/{speed}");
    let millis = match speed.as_str() {
        "fast" => 50 + n % 50,
        "med" => 500 + n % 500,
        // Over 2.5 s every time: the latency SLO's bucket bound.
        "slow" => 2501 + n % 500,
        _ => {
            let ctx = app.context(n, &headers);
            let now = unix_nanos();
            let served = Served {
                route,
                status: 404,
                message: format!("GET /api/delay/{speed} answered 404"),
                logger: "app.main",
                function: "delay",
                leaf: "delay_unknown".into(),
            };
            app.emit(&ctx, &served, now, unix_nanos().max(now));
            let detail = format!("unknown delay {}", python_repr(&speed));
            return (StatusCode::NOT_FOUND, Json(json!({ "detail": detail }))).into_response();
        }
    };
    let ctx = app.context(n, &headers);
    let start = unix_nanos();
    tokio::time::sleep(Duration::from_millis(millis)).await;
    let end = unix_nanos();
    let served = Served {
        message: format!("GET {route} completed in {} ms", (end - start) / 1_000_000),
        route,
        status: 200,
        logger: "app.routes.delay",
        function: "delay",
        leaf: format!("delay_{speed}"),
    };
    app.emit(&ctx, &served, start, end);
    Json(json!({
        "endpoint": speed,
        "delay_ms": (end - start) / 1_000_000,
        "trace_id": ctx.trace_id.to_string(),
    }))
    .into_response()
}

/// Python's `repr` of a string, as the app's 404 detail quotes the speed.
fn python_repr(s: &str) -> String {
    if s.contains('\'') && !s.contains('"') {
        format!("\"{s}\"")
    } else {
        format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

/// Python's `repr` of a float, as the 400's detail prints the ratio.
fn python_float(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf".into() } else { "-inf".into() }
    } else if v == v.trunc() && v.abs() < 1e16 {
        format!("{v:.1}")
    } else {
        let text = format!("{v}");
        // Python switches to exponent form below 1e-4 and from 1e16.
        if v.abs() < 1e-4 || v.abs() >= 1e16 {
            let e = format!("{v:e}");
            let (m, exp) = e.split_once('e').unwrap_or((&e, "0"));
            let exp: i32 = exp.parse().unwrap_or(0);
            format!("{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
        } else {
            text
        }
    }
}

async fn error(State(app): State<Arc<AppState>>, RawQuery(raw): RawQuery, headers: HeaderMap) -> Response {
    if let Some(refused) = app.limit() {
        return refused;
    }
    let n = app.requests.fetch_add(1, Ordering::Relaxed);
    let ctx = app.context(n, &headers);
    let start = unix_nanos();
    let (pairs, _) = crate::go::url::parse_query_text(raw.as_deref().unwrap_or(""));
    let given = pairs.iter().find(|(k, _)| k == "ratio").map(|(_, v)| v.clone());
    let served = |status: u16, message: String| Served {
        route: "/api/error".into(),
        status,
        message,
        logger: "app.main",
        function: "error",
        leaf: "error".into(),
    };
    let ratio = match given.as_deref().map(|v| v.trim().parse::<f64>()) {
        None => 1.0,
        Some(Ok(r)) => r,
        Some(Err(_)) => {
            // FastAPI's validation error for a query parameter (pydantic 2).
            let body = json!({ "detail": [{
                "type": "float_parsing",
                "loc": ["query", "ratio"],
                "msg": "Input should be a valid number, unable to parse string as a number",
                "input": given,
            }]});
            app.emit(
                &ctx,
                &served(422, "GET /api/error answered 422".into()),
                start,
                unix_nanos().max(start),
            );
            return (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response();
        }
    };
    if !(0.0..=1.0).contains(&ratio) {
        let detail = format!("ratio must be within 0 and 1, got {}", python_float(ratio));
        app.emit(
            &ctx,
            &served(400, "GET /api/error answered 400".into()),
            start,
            unix_nanos().max(start),
        );
        return (StatusCode::BAD_REQUEST, Json(json!({ "detail": detail }))).into_response();
    }
    let k = app.error_calls.fetch_add(1, Ordering::Relaxed) + 1;
    let failed = (k as f64 * ratio).floor() > ((k - 1) as f64 * ratio).floor();
    let status = if failed { 500 } else { 200 };
    app.emit(
        &ctx,
        &served(status, format!("GET /api/error answered {status}")),
        start,
        unix_nanos().max(start),
    );
    if failed {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "detail": "injected error" })),
        )
            .into_response()
    } else {
        Json(json!({ "status": "ok" })).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_formats_as_the_app_writes_it() {
        assert_eq!(python_float(1.5), "1.5");
        assert_eq!(python_float(2.0), "2.0");
        assert_eq!(python_float(-0.5), "-0.5");
        assert_eq!(python_float(f64::INFINITY), "inf");
        assert_eq!(python_float(1e-5), "1e-05");
        assert_eq!(python_float(1e16), "1e+16");
        assert_eq!(python_repr("x"), "'x'");
        assert_eq!(python_repr("it's"), "\"it's\"");
    }
}
