//! OTLP/JSON as OpenTelemetry JS (`@opentelemetry/otlp-transformer`'s
//! `JSON_ENCODER`, which Faro's tracing uses too) and other OTLP/JSON
//! writers send it (`/tmp/research/exporter-grafana-sdks.md` §3a, the OTLP
//! spec's "JSON Protobuf Encoding"): lowercase hex ids, `*UnixNano` as
//! decimal strings **and** as numbers, enums as integers (`"kind":3`),
//! `intValue` as a string and as a number, `dropped*Count`, empty `events`
//! and `links`, `flags: 257`, and fields the receiver does not know (which
//! it must ignore). Posted with `Content-Type: application/json`.
//!
//! Fixtures: `tests/fixtures/contracts/otel-js-{traces,logs}.json`, with
//! `__START__`/`__END__`/`__T1__`/`__T2__` put to "now" before sending
//! (quoted ones become strings, bare ones numbers).
//!
//! Uses: support.

use serde_json::json;

use crate::support::{self, Stack, answer, attribute, base64, span_named, unhex};

const TRACES: &str = include_str!("../fixtures/contracts/otel-js-traces.json");
const LOGS: &str = include_str!("../fixtures/contracts/otel-js-logs.json");
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

async fn post_json(stack: &Stack, path: &str, body: String) {
    let got = answer(
        stack
            .http
            .post(format!("{}{path}", stack.otlp_http))
            .header("Content-Type", "application/json")
            .body(body),
    )
    .await;
    assert_eq!(got.status, 200, "{path}: {}", got.text());
    assert_eq!(got.content_type, "application/json", "{path}");
    // The collector's export response: a partial success that is present
    // and rejected nothing (pdata's non-nullable field, as the recorded
    // `samples/tempo/01-otlp-http-json-push.response.txt`).
    assert_eq!(got.text(), r#"{"partialSuccess":{}}"#, "{path}");
}

#[tokio::test]
async fn otel_js_json_traces_are_stored_with_string_and_number_encodings() {
    let stack = support::start().await;
    let start = support::now_nanos() - 2_000_000_000;
    let end = start + 52_300_000;
    let body = TRACES
        .replace("__START__", &start.to_string())
        .replace("__END__", &end.to_string());
    post_json(&stack, "/v1/traces", body).await;

    let trace = stack.tempo_trace(TRACE_ID).await.expect("the trace is in Tempo");
    assert_eq!(support::spans(&trace).len(), 2, "{trace}");
    let (resource, scope, fetch) = span_named(&trace, "HTTP GET");
    assert_eq!(
        attribute(&resource, "service.name"),
        Some(&json!({ "stringValue": "contract-otel-js" }))
    );
    // `intValue` given as a number comes back as Tempo writes int64s.
    assert_eq!(
        attribute(&resource, "process.pid"),
        Some(&json!({ "intValue": "4242" }))
    );
    assert_eq!(
        scope,
        json!({ "name": "@opentelemetry/instrumentation-fetch", "version": "0.57.2" })
    );
    assert_eq!(fetch["traceId"], base64(&unhex(TRACE_ID)));
    assert_eq!(fetch["spanId"], base64(&unhex("00f067aa0ba902b7")));
    assert!(fetch.get("parentSpanId").is_none(), "a root span: {fetch}");
    assert_eq!(fetch["kind"], "SPAN_KIND_CLIENT");
    // The string start and the number end decode to the same nanoseconds.
    assert_eq!(fetch["startTimeUnixNano"], start.to_string());
    assert_eq!(fetch["endTimeUnixNano"], end.to_string());
    let attrs = &fetch["attributes"];
    assert_eq!(
        attribute(attrs, "http.status_code"),
        Some(&json!({ "intValue": "200" }))
    );
    assert_eq!(
        attribute(attrs, "http.response_content_length"),
        Some(&json!({ "intValue": "1830" }))
    );
    assert_eq!(attribute(attrs, "http.retry"), Some(&json!({ "boolValue": false })));
    assert_eq!(
        attribute(attrs, "http.duration_ms"),
        Some(&json!({ "doubleValue": 52.30000001192093 }))
    );
    assert_eq!(
        attribute(attrs, "http.url"),
        Some(&json!({ "stringValue": "http://localhost:5173/api/delay/fast?x=1" }))
    );

    let (_, _, child) = span_named(&trace, "resourceFetch");
    assert_eq!(child["kind"], "SPAN_KIND_INTERNAL");
    assert_eq!(child["parentSpanId"], base64(&unhex("00f067aa0ba902b7")));
    // The number start and the string end, the other way round.
    assert_eq!(child["startTimeUnixNano"], start.to_string());
    assert_eq!(child["endTimeUnixNano"], end.to_string());
}

#[tokio::test]
async fn otel_js_json_logs_are_stored_with_string_and_number_encodings() {
    let stack = support::start().await;
    let t1 = support::now_nanos() - 3_000_000_000;
    let t2 = t1 + 1_000_000;
    let body = LOGS
        .replace("__T1__", &t1.to_string())
        .replace("__T2__", &t2.to_string());
    post_json(&stack, "/v1/logs", body).await;

    let lines = stack.loki_lines(r#"{service_name="contract-otel-js"}"#).await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    let info = &lines[0];
    assert_eq!(info.line, "cart checked out");
    assert_eq!(info.ts_ns, t1, "the string timeUnixNano");
    assert_eq!(info.labels, json!({ "service_name": "contract-otel-js" }));
    for (key, value) in [
        ("cart_items", "3"),
        ("cart_total", "42.5"),
        ("cart_id", "c-9"),
        ("scope_name", "checkout"),
        ("scope_version", "1.2.0"),
        ("severity_number", "9"),
        ("severity_text", "INFO"),
        ("trace_id", TRACE_ID),
        ("span_id", "00f067aa0ba902b7"),
        ("telemetry_sdk_language", "nodejs"),
    ] {
        assert_eq!(info.metadata[key], value, "{key} in {}", info.metadata);
    }
    let error = &lines[1];
    assert_eq!(error.line, "payment declined");
    assert_eq!(error.ts_ns, t2, "the number timeUnixNano");
    assert_eq!(error.metadata["retries"], "2", "a number intValue");
    assert_eq!(error.metadata["severity_number"], "17");
    assert!(error.metadata.get("trace_id").is_none(), "{}", error.metadata);
}
