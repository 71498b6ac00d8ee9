//! OTLP/HTTP protobuf exports as the OpenTelemetry Python SDK 1.40 sends
//! them (`opentelemetry-exporter-otlp-proto-http`, its `trace_encoder`,
//! `_log_encoder` and `metrics_encoder`), plain, `gzip` and `deflate`
//! (Python's `zlib.compress`), with the exporter's headers; and what the
//! collector answers for encodings it does not decode.
//!
//! Shapes: `/tmp/research/exporter-grafana-sdks.md` §3a. The resource is
//! `Resource.create()`'s (`telemetry.sdk.*` plus `service.*`); span `flags`
//! are 256 (root or local parent) and 768 (remote parent) — the sampled bit
//! is not in them; `status` is always set; log records come from the
//! logging bridge (`code.file.path`, `code.function.name`,
//! `code.line.number`, the `extra=` keys; scope = logger name, no version;
//! `flags` 1 inside a sampled span; observed time set); the histogram has
//! the SDK's default bounds, `min`/`max` and one exemplar per bucket that
//! saw a sampled measurement.
//!
//! Uses: support.

use std::io::Write as _;

use flate2::Compression;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum, exemplar, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use pillars_sim::{SimOptions, Variants, variants::LogExport};
use prost::Message;
use serde_json::json;

use crate::support::{self, Stack, answer, attribute, base64, span_named, unhex};

const SDK_VERSION: &str = "1.40.0";
const USER_AGENT: &str = "OTel-OTLP-Exporter-Python/1.40.0";
/// `opentelemetry-sdk` `_DEFAULT_EXPLICIT_BUCKET_HISTOGRAM_AGGREGATION`.
const DEFAULT_BOUNDS: [f64; 15] = [
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0, 10000.0,
];
/// `SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK`, and with `…_IS_REMOTE_MASK`.
const FLAGS_LOCAL: u32 = 0x100;
const FLAGS_REMOTE_PARENT: u32 = 0x300;

/// The exporter's `Compression` setting.
#[derive(Debug, Clone, Copy)]
enum Compress {
    None,
    Gzip,
    Deflate,
}

impl Compress {
    fn name(self) -> &'static str {
        match self {
            Compress::None => "none",
            Compress::Gzip => "gzip",
            Compress::Deflate => "deflate",
        }
    }

    /// The body and `Content-Encoding` the exporter sends.
    fn apply(self, raw: Vec<u8>) -> (Vec<u8>, Option<&'static str>) {
        match self {
            Compress::None => (raw, None),
            Compress::Gzip => {
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), Compression::new(9));
                gz.write_all(&raw).expect("gzip");
                (gz.finish().expect("gzip"), Some("gzip"))
            }
            // `zlib.compress(serialized_data)`: zlib-wrapped deflate.
            Compress::Deflate => {
                let mut z = flate2::write::ZlibEncoder::new(Vec::new(), Compression::default());
                z.write_all(&raw).expect("zlib");
                (z.finish().expect("zlib"), Some("deflate"))
            }
        }
    }
}

/// The ids and times one export uses.
struct Batch {
    service: String,
    trace_id: String,
    /// The frontend span the request continued (`traceparent`).
    remote_parent: String,
    server_span: String,
    internal_span: String,
    client_span: String,
    start_ns: u64,
}

impl Batch {
    fn new(compress: Compress, index: u8) -> Batch {
        Batch {
            service: format!("contract-python-{}", compress.name()),
            trace_id: format!("5b8efff798038103d269b633813fc6{index:02x}"),
            remote_parent: format!("53995c3f42cd8a{index:02x}"),
            server_span: format!("051581bf3cb55c{index:02x}"),
            internal_span: format!("0c2b9e8d1f4a77{index:02x}"),
            client_span: format!("7e0a5c1d2b3f48{index:02x}"),
            start_ns: support::now_nanos() - 5_000_000_000,
        }
    }
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(key: &str, value: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.into()))
}

fn i(key: &str, value: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(value))
}

/// `Resource.create({"service.name": …, "service.namespace": …,
/// "deployment.environment": …})`.
fn resource(batch: &Batch) -> Resource {
    Resource {
        attributes: vec![
            s("telemetry.sdk.language", "python"),
            s("telemetry.sdk.name", "opentelemetry"),
            s("telemetry.sdk.version", SDK_VERSION),
            s("service.name", &batch.service),
            s("service.namespace", "durable-code"),
            s("deployment.environment", "prod"),
        ],
        ..Default::default()
    }
}

fn scope(name: &str, version: &str) -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: name.into(),
        version: version.into(),
        ..Default::default()
    })
}

fn traces(batch: &Batch) -> ExportTraceServiceRequest {
    let t = batch.start_ns;
    let server = Span {
        trace_id: unhex(&batch.trace_id),
        span_id: unhex(&batch.server_span),
        parent_span_id: unhex(&batch.remote_parent),
        flags: FLAGS_REMOTE_PARENT,
        name: "POST /orders".into(),
        kind: span::SpanKind::Server as i32,
        start_time_unix_nano: t,
        end_time_unix_nano: t + 48_000_000,
        attributes: vec![
            s("http.request.method", "POST"),
            s("url.scheme", "http"),
            s("url.path", "/orders"),
            s("http.route", "/orders"),
            s("network.protocol.version", "1.1"),
            i("server.port", 8000),
            i("http.response.status_code", 201),
        ],
        // `_encode_status`: always present, UNSET with no message.
        status: Some(Status::default()),
        ..Default::default()
    };
    let internal = Span {
        trace_id: unhex(&batch.trace_id),
        span_id: unhex(&batch.internal_span),
        parent_span_id: unhex(&batch.server_span),
        flags: FLAGS_LOCAL,
        name: "place_order".into(),
        kind: span::SpanKind::Internal as i32,
        start_time_unix_nano: t + 2_000_000,
        end_time_unix_nano: t + 40_000_000,
        attributes: vec![
            kv("app.cart.total", any_value::Value::DoubleValue(42.5)),
            kv("app.retried", any_value::Value::BoolValue(false)),
            i("app.items", 3),
        ],
        events: vec![span::Event {
            time_unix_nano: t + 39_000_000,
            name: "exception".into(),
            attributes: vec![
                s("exception.type", "ValueError"),
                s("exception.message", "out of stock"),
                s(
                    "exception.stacktrace",
                    "Traceback (most recent call last):\n  File \"/srv/app/routes.py\", line 61, in place_order\nValueError: out of stock\n",
                ),
                s("exception.escaped", "False"),
            ],
            dropped_attributes_count: 0,
        }],
        status: Some(Status {
            message: "ValueError: out of stock".into(),
            code: 2,
        }),
        ..Default::default()
    };
    let client = Span {
        trace_id: unhex(&batch.trace_id),
        span_id: unhex(&batch.client_span),
        parent_span_id: unhex(&batch.internal_span),
        flags: FLAGS_LOCAL,
        name: "SELECT orders".into(),
        kind: span::SpanKind::Client as i32,
        start_time_unix_nano: t + 5_000_000,
        end_time_unix_nano: t + 9_000_000,
        attributes: vec![s("db.system", "postgresql"), s("db.operation.name", "SELECT")],
        status: Some(Status {
            message: String::new(),
            code: 1,
        }),
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource(batch)),
            // One ScopeSpans per instrumentation scope.
            scope_spans: vec![
                ScopeSpans {
                    scope: scope("opentelemetry.instrumentation.flask", "0.61b0"),
                    spans: vec![server],
                    schema_url: "https://opentelemetry.io/schemas/1.11.0".into(),
                },
                ScopeSpans {
                    scope: scope("app.routes", ""),
                    spans: vec![internal, client],
                    schema_url: String::new(),
                },
            ],
            schema_url: String::new(),
        }],
    }
}

fn logs(batch: &Batch) -> ExportLogsServiceRequest {
    // `int(record.created * 1e9)`: a float's nanoseconds.
    let created = batch.start_ns + 20_000_000;
    let info = LogRecord {
        time_unix_nano: created,
        observed_time_unix_nano: created + 1_250_000,
        severity_number: 9,
        severity_text: "INFO".into(),
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue("order 42 placed".into())),
        }),
        attributes: vec![
            s("order_id", "42"),
            s("code.file.path", "/srv/app/routes.py"),
            s("code.function.name", "place_order"),
            i("code.line.number", 57),
        ],
        flags: 1,
        trace_id: unhex(&batch.trace_id),
        span_id: unhex(&batch.internal_span),
        ..Default::default()
    };
    // Outside any span: no ids, flags 0; WARNING is written `WARN`.
    let warn = LogRecord {
        time_unix_nano: created + 1_000_000,
        observed_time_unix_nano: created + 2_000_000,
        severity_number: 13,
        severity_text: "WARN".into(),
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue("stock low for sku-7".into())),
        }),
        attributes: vec![
            s("code.file.path", "/srv/app/stock.py"),
            s("code.function.name", "check_stock"),
            i("code.line.number", 12),
        ],
        ..Default::default()
    };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource(batch)),
            scope_logs: vec![
                ScopeLogs {
                    scope: scope("app.routes", ""),
                    log_records: vec![info],
                    schema_url: String::new(),
                },
                ScopeLogs {
                    scope: scope("app.stock", ""),
                    log_records: vec![warn],
                    schema_url: String::new(),
                },
            ],
            schema_url: String::new(),
        }],
    }
}

/// Four measurements (3.2, 18.5, 22.0 and 312.0 ms), the 18.5 and 312.0
/// ones inside sampled spans, and an order counter.
fn metrics(batch: &Batch) -> ExportMetricsServiceRequest {
    let start = batch.start_ns - 55_000_000_000;
    let now = batch.start_ns + 60_000_000;
    let exemplar = |value: f64, span: &str, at: u64| Exemplar {
        time_unix_nano: at,
        value: Some(exemplar::Value::AsDouble(value)),
        span_id: unhex(span),
        trace_id: unhex(&batch.trace_id),
        ..Default::default()
    };
    let histogram = Metric {
        name: "app.request.latency".into(),
        description: "Request latency".into(),
        unit: "ms".into(),
        data: Some(metric::Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                attributes: vec![s("http.route", "/orders")],
                start_time_unix_nano: start,
                time_unix_nano: now,
                count: 4,
                sum: Some(355.7),
                bucket_counts: vec![0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0],
                explicit_bounds: DEFAULT_BOUNDS.to_vec(),
                exemplars: vec![
                    exemplar(18.5, &batch.server_span, batch.start_ns + 10_000_000),
                    exemplar(312.0, &batch.internal_span, batch.start_ns + 30_000_000),
                ],
                min: Some(3.2),
                max: Some(312.0),
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
        ..Default::default()
    };
    let counter = Metric {
        name: "app.orders".into(),
        description: "Orders placed".into(),
        unit: "1".into(),
        data: Some(metric::Data::Sum(Sum {
            data_points: vec![NumberDataPoint {
                attributes: vec![s("outcome", "placed")],
                start_time_unix_nano: start,
                time_unix_nano: now,
                value: Some(number_data_point::Value::AsInt(4)),
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource(batch)),
            scope_metrics: vec![ScopeMetrics {
                scope: scope("app.routes", "1.0.0"),
                metrics: vec![histogram, counter],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// One export as `OTLPSpanExporter._export` posts it (the session's
/// headers: the exporter's plus `requests`' defaults).
async fn export(stack: &Stack, path: &str, raw: Vec<u8>, compress: Compress) -> support::Answer {
    let (body, encoding) = compress.apply(raw);
    let mut request = stack
        .http
        .post(format!("{}{path}", stack.otlp_http))
        .header("Content-Type", "application/x-protobuf")
        .header("User-Agent", USER_AGENT)
        .header("Accept-Encoding", "gzip, deflate")
        .header("Accept", "*/*")
        .header("Connection", "keep-alive");
    if let Some(encoding) = encoding {
        request = request.header("Content-Encoding", encoding);
    }
    answer(request.body(body)).await
}

/// 2xx with a protobuf export response that rejected nothing, as the
/// exporter's `resp.ok` needs.
fn assert_accepted(got: &support::Answer, what: &str) {
    assert_eq!(got.status, 200, "{what}: {}", got.text());
    assert_eq!(got.content_type, "application/x-protobuf", "{what}");
    let response = ExportTraceServiceResponse::decode(got.body.as_slice()).expect("an export response");
    assert!(
        response.partial_success.is_none_or(|p| p.rejected_spans == 0),
        "{what}: nothing rejected"
    );
    // pdata writes its non-nullable partial success even when empty.
    assert_eq!(got.body, [0x0a, 0x00], "{what}");
}

async fn assert_trace_stored(stack: &Stack, batch: &Batch) {
    let trace = stack
        .tempo_trace(&batch.trace_id)
        .await
        .unwrap_or_else(|| panic!("trace {} is in Tempo", batch.trace_id));
    assert_eq!(support::spans(&trace).len(), 3, "{trace}");

    let (resource, scope, server) = span_named(&trace, "POST /orders");
    for (key, value) in [
        ("telemetry.sdk.language", "python"),
        ("telemetry.sdk.name", "opentelemetry"),
        ("telemetry.sdk.version", SDK_VERSION),
        ("service.name", batch.service.as_str()),
    ] {
        assert_eq!(
            attribute(&resource, key),
            Some(&json!({ "stringValue": value })),
            "{key}"
        );
    }
    assert_eq!(
        scope,
        json!({ "name": "opentelemetry.instrumentation.flask", "version": "0.61b0" })
    );
    assert_eq!(server["traceId"], base64(&unhex(&batch.trace_id)));
    assert_eq!(server["spanId"], base64(&unhex(&batch.server_span)));
    // The remote parent (the browser's span) is kept though it is not here.
    assert_eq!(server["parentSpanId"], base64(&unhex(&batch.remote_parent)));
    assert_eq!(server["kind"], "SPAN_KIND_SERVER");
    assert_eq!(server["startTimeUnixNano"], batch.start_ns.to_string());
    assert_eq!(server["endTimeUnixNano"], (batch.start_ns + 48_000_000).to_string());
    assert_eq!(
        attribute(&server["attributes"], "http.response.status_code"),
        Some(&json!({ "intValue": "201" }))
    );
    assert_eq!(
        attribute(&server["attributes"], "server.port"),
        Some(&json!({ "intValue": "8000" }))
    );
    assert_eq!(
        attribute(&server["attributes"], "http.request.method"),
        Some(&json!({ "stringValue": "POST" }))
    );

    let (_, scope, internal) = span_named(&trace, "place_order");
    // A tracer without a version: the scope's version is empty.
    assert_eq!(scope["name"], "app.routes");
    assert_eq!(internal["kind"], "SPAN_KIND_INTERNAL");
    assert_eq!(internal["parentSpanId"], base64(&unhex(&batch.server_span)));
    assert_eq!(
        attribute(&internal["attributes"], "app.cart.total"),
        Some(&json!({ "doubleValue": 42.5 }))
    );
    assert_eq!(
        attribute(&internal["attributes"], "app.retried"),
        Some(&json!({ "boolValue": false }))
    );
    let (_, _, client) = span_named(&trace, "SELECT orders");
    assert_eq!(client["kind"], "SPAN_KIND_CLIENT");
    assert_eq!(client["parentSpanId"], base64(&unhex(&batch.internal_span)));
}

/// The records as Loki's `/otlp/v1/logs` keeps them (the stack's default
/// `log_export=otlp`): index labels from the default resource attributes,
/// everything else structured metadata.
async fn assert_logs_stored(stack: &Stack, batch: &Batch) {
    let lines = stack
        .loki_lines(&format!("{{service_name=\"{}\"}}", batch.service))
        .await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    let info = &lines[0];
    assert_eq!(info.line, "order 42 placed");
    assert_eq!(info.ts_ns, batch.start_ns + 20_000_000);
    assert_eq!(
        info.labels,
        json!({
            "service_name": batch.service,
            "service_namespace": "durable-code",
            "deployment_environment": "prod",
        })
    );
    for (key, value) in [
        ("code_file_path", "/srv/app/routes.py"),
        ("code_function_name", "place_order"),
        ("code_line_number", "57"),
        ("order_id", "42"),
        ("scope_name", "app.routes"),
        ("severity_number", "9"),
        ("severity_text", "INFO"),
        ("trace_id", batch.trace_id.as_str()),
        ("span_id", batch.internal_span.as_str()),
        ("telemetry_sdk_language", "python"),
        ("telemetry_sdk_name", "opentelemetry"),
        ("telemetry_sdk_version", SDK_VERSION),
    ] {
        assert_eq!(info.metadata[key], value, "{key} in {}", info.metadata);
    }
    let warn = &lines[1];
    assert_eq!(warn.line, "stock low for sku-7");
    assert_eq!(warn.metadata["severity_text"], "WARN");
    assert_eq!(warn.metadata["severity_number"], "13");
    assert_eq!(warn.metadata["scope_name"], "app.stock");
    assert!(warn.metadata.get("trace_id").is_none(), "{}", warn.metadata);
}

/// The histogram and counter as Mimir 2.14 keeps OTLP metrics (no unit or
/// `_total` suffixes), exemplars on the bucket each value falls in.
async fn assert_metrics_stored(stack: &Stack, batch: &Batch) {
    let job = format!("durable-code/{}", batch.service);
    let bucket = |le: &str| format!("app_request_latency_bucket{{job=\"{job}\", http_route=\"/orders\", le=\"{le}\"}}");
    for (le, count) in [
        ("0", "0"),
        ("5", "1"),
        ("10", "1"),
        ("25", "3"),
        ("250", "3"),
        ("500", "4"),
        ("10000", "4"),
        ("+Inf", "4"),
    ] {
        assert_eq!(stack.mimir_value(&bucket(le)).await, count, "le={le}");
    }
    let buckets = stack
        .mimir_vector(&format!("app_request_latency_bucket{{job=\"{job}\"}}"))
        .await;
    assert_eq!(buckets.len(), DEFAULT_BOUNDS.len() + 1, "one series per bucket");
    assert_eq!(
        stack
            .mimir_value(&format!("app_request_latency_count{{job=\"{job}\"}}"))
            .await,
        "4"
    );
    assert_eq!(
        stack
            .mimir_value(&format!("app_request_latency_sum{{job=\"{job}\"}}"))
            .await,
        "355.7"
    );
    assert_eq!(
        stack
            .mimir_value(&format!("app_orders{{job=\"{job}\", outcome=\"placed\"}}"))
            .await,
        "4"
    );

    let exemplars = stack
        .mimir_exemplars(&format!("app_request_latency_bucket{{job=\"{job}\"}}"))
        .await;
    let mut found: Vec<(String, String, String, String)> = exemplars
        .iter()
        .flat_map(|series| {
            let le = series["seriesLabels"]["le"].as_str().unwrap_or_default().to_owned();
            series["exemplars"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |e| {
                    (
                        le.clone(),
                        e["value"].as_str().unwrap_or_default().to_owned(),
                        e["labels"]["trace_id"].as_str().unwrap_or_default().to_owned(),
                        e["labels"]["span_id"].as_str().unwrap_or_default().to_owned(),
                    )
                })
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            (
                "25".into(),
                "18.5".into(),
                batch.trace_id.clone(),
                batch.server_span.clone()
            ),
            (
                "500".into(),
                "312".into(),
                batch.trace_id.clone(),
                batch.internal_span.clone()
            ),
        ]
    );
}

#[tokio::test]
async fn python_sdk_exports_are_stored_plain_gzipped_and_deflated() {
    let stack = support::start().await;
    for (index, compress) in [Compress::None, Compress::Gzip, Compress::Deflate]
        .into_iter()
        .enumerate()
    {
        let batch = Batch::new(compress, index as u8);
        let what = |signal: &str| format!("{signal} with compression {}", compress.name());
        let got = export(&stack, "/v1/traces", traces(&batch).encode_to_vec(), compress).await;
        assert_accepted(&got, &what("traces"));
        let got = export(&stack, "/v1/logs", logs(&batch).encode_to_vec(), compress).await;
        assert_accepted(&got, &what("logs"));
        let got = export(&stack, "/v1/metrics", metrics(&batch).encode_to_vec(), compress).await;
        assert_accepted(&got, &what("metrics"));

        assert_trace_stored(&stack, &batch).await;
        assert_logs_stored(&stack, &batch).await;
        assert_metrics_stored(&stack, &batch).await;
    }
    let counts = stack.sim.trace_counts();
    assert_eq!((counts.export_requests, counts.spans_stored), (3, 9));
}

/// The deployment's `otelcol.exporter.loki` path: the Python record
/// becomes the contrib translator's JSON line, byte for byte, with
/// `"flags":1` and the `code.*` attributes (research §1.2, §1.4).
#[tokio::test]
async fn python_log_records_through_the_loki_exporter_keep_flags_and_code_attributes() {
    let stack = support::start_with(SimOptions {
        variants: Variants {
            log_export: LogExport::LokiExporter,
        },
        ..SimOptions::default()
    })
    .await;
    let batch = Batch::new(Compress::Gzip, 0x40);
    let got = export(&stack, "/v1/logs", logs(&batch).encode_to_vec(), Compress::Gzip).await;
    assert_accepted(&got, "logs");

    let job = format!("durable-code/{}", batch.service);
    let lines = stack.loki_lines(&format!("{{job=\"{job}\"}}")).await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(
        lines[0].labels,
        json!({ "exporter": "OTLP", "job": job, "level": "INFO", "service_name": job })
    );
    assert_eq!(lines[0].ts_ns, batch.start_ns + 20_000_000);
    assert_eq!(
        lines[0].line,
        format!(
            concat!(
                r#"{{"body":"order 42 placed","traceid":"{trace}","spanid":"{span}","severity":"INFO","flags":1,"#,
                r#""attributes":{{"code.file.path":"/srv/app/routes.py","code.function.name":"place_order","code.line.number":57,"order_id":"42"}},"#,
                r#""resources":{{"deployment.environment":"prod","service.name":"{service}","service.namespace":"durable-code","telemetry.sdk.language":"python","telemetry.sdk.name":"opentelemetry","telemetry.sdk.version":"1.40.0"}},"#,
                r#""instrumentation_scope":{{"name":"app.routes"}}}}"#
            ),
            trace = batch.trace_id,
            span = batch.internal_span,
            service = batch.service,
        )
    );
    assert_eq!(lines[1].labels["level"], "WARN");
    assert!(
        lines[1].line.starts_with(
            r#"{"body":"stock low for sku-7","severity":"WARN","attributes":{"code.file.path":"/srv/app/stock.py""#
        ),
        "{}",
        lines[1].line
    );
}

/// `google.rpc.Status`, as the receiver writes its errors.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// Alloy's receiver (confighttp v0.142) also takes `zstd`, `snappy`, `lz4`
/// and `x-snappy-framed`; the reference stack says it does not decode them
/// (415) rather than pretend. A name confighttp does not know is its 400
/// `unsupported Content-Encoding: <name>`; a body that does not inflate is
/// a 400. Every refusal is a `google.rpc.Status` in the request's encoding
/// (`otlphttp.go` `errorHandler`/`writeError`): protobuf here, code 3
/// (`InvalidArgument`) for a 400. Nothing is stored from any of them.
#[tokio::test]
async fn encodings_the_stack_does_not_decode_are_refused_not_swallowed() {
    let stack = support::start().await;
    let batch = Batch::new(Compress::None, 0x50);
    let raw = traces(&batch).encode_to_vec();
    let post = |encoding: &'static str, body: Vec<u8>| {
        answer(
            stack
                .http
                .post(format!("{}/v1/traces", stack.otlp_http))
                .header("Content-Type", "application/x-protobuf")
                .header("User-Agent", USER_AGENT)
                .header("Content-Encoding", encoding)
                .body(body),
        )
    };
    let status = |got: &support::Answer| {
        assert_eq!(got.content_type, "application/x-protobuf");
        RpcStatus::decode(got.body.as_slice()).expect("a google.rpc.Status")
    };
    for encoding in ["zstd", "snappy", "lz4", "x-snappy-framed"] {
        let got = post(encoding, raw.clone()).await;
        assert_eq!(got.status, 415, "{encoding}: {}", got.text());
        let message = status(&got).message;
        assert!(
            message.contains(encoding) && message.contains("reference stack"),
            "{encoding}: {message}"
        );
    }
    for encoding in ["br", "GZIP", "identity"] {
        let got = post(encoding, raw.clone()).await;
        assert_eq!(got.status, 400, "{encoding}: {}", got.text());
        assert_eq!(
            status(&got),
            RpcStatus {
                code: 3,
                message: format!("unsupported Content-Encoding: {encoding}")
            }
        );
    }
    for (encoding, message) in [
        ("gzip", "gzip: invalid header"),
        ("deflate", "zlib: invalid header"),
        ("zlib", "zlib: invalid header"),
    ] {
        let got = post(encoding, raw.clone()).await;
        assert_eq!(got.status, 400, "{encoding} of a raw body: {}", got.text());
        assert_eq!(status(&got).message, message, "{encoding}");
    }
    assert_eq!(stack.sim.trace_counts().export_requests, 0);
    assert!(stack.tempo_trace(&batch.trace_id).await.is_none());
}
