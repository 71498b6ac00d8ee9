//! Tempo's metrics generator and the scraped host and container series,
//! read back through Mimir's query API as the deployment's dashboards read
//! them: span metrics and service graphs from spans posted as OTLP/JSON,
//! with `traceID` exemplars; node-exporter CPU and memory; cAdvisor CPU.
//!
//! Uses: support.

use std::time::Duration;

use serde_json::json;

use crate::support::{self, Stack, answer};

const TRACE_ID: &str = "5bf92f3577b34da6a3ce929d0e0e4799";

fn resource_spans(service: &str, span: serde_json::Value) -> serde_json::Value {
    json!({
        "resource": { "attributes": [{ "key": "service.name", "value": { "stringValue": service } }] },
        "scopeSpans": [{ "scope": { "name": "contract" }, "spans": [span] }]
    })
}

async fn post_traces(stack: &Stack) {
    let start = support::now_nanos() - 1_000_000_000;
    let client = json!({
        "traceId": TRACE_ID, "spanId": "1111111111111111", "name": "HTTP GET",
        "kind": 3, "startTimeUnixNano": start.to_string(),
        "endTimeUnixNano": (start + 300_000_000).to_string(), "status": {}
    });
    let server = json!({
        "traceId": TRACE_ID, "spanId": "2222222222222222", "parentSpanId": "1111111111111111",
        "name": "GET /api/items", "kind": 2, "startTimeUnixNano": (start + 10_000_000).to_string(),
        "endTimeUnixNano": (start + 250_000_000).to_string(), "status": { "code": 2 }
    });
    let body = json!({ "resourceSpans": [
        resource_spans("contract-frontend", client),
        resource_spans("contract-backend", server),
    ]});
    let got = answer(
        stack
            .http
            .post(format!("{}/v1/traces", stack.otlp_http))
            .header("Content-Type", "application/json")
            .body(body.to_string()),
    )
    .await;
    assert_eq!(got.status, 200, "{}", got.text());
}

#[tokio::test]
async fn spans_become_tempos_span_metrics_and_service_graph_in_mimir() {
    let stack = support::start().await;
    post_traces(&stack).await;

    let calls = stack
        .mimir_vector(r#"traces_spanmetrics_calls_total{service="contract-backend"}"#)
        .await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(
        calls[0]["metric"],
        json!({
            "__name__": "traces_spanmetrics_calls_total",
            "__metrics_gen_instance": "tempo",
            "service": "contract-backend",
            "span_name": "GET /api/items",
            "span_kind": "SPAN_KIND_SERVER",
            "status_code": "STATUS_CODE_ERROR"
        })
    );
    assert_eq!(calls[0]["value"][1], "1");
    // The leading zero makes the first span a rate.
    let rate = stack
        .mimir_vector(r#"sum by (service) (rate(traces_spanmetrics_calls_total{service="contract-backend"}[5m]))"#)
        .await;
    assert_eq!(rate.len(), 1, "{rate:?}");
    let p99 = stack
        .mimir_vector(
            r#"histogram_quantile(0.99, sum by (le, span_name) (rate(traces_spanmetrics_latency_bucket{service="contract-frontend"}[5m])))"#,
        )
        .await;
    assert_eq!(p99.len(), 1, "{p99:?}");
    assert_eq!(p99[0]["metric"], json!({ "span_name": "HTTP GET" }));

    let edges = stack
        .mimir_vector("sum by (client, server) (traces_service_graph_request_total)")
        .await;
    assert_eq!(
        edges,
        [
            json!({ "metric": { "client": "contract-frontend", "server": "contract-backend" }, "value": edges[0]["value"] })
        ]
    );
    assert_eq!(edges[0]["value"][1], "1");
    assert_eq!(
        stack
            .mimir_value("sum(traces_service_graph_request_failed_total)")
            .await,
        "1"
    );

    let exemplars = stack
        .mimir_exemplars(r#"traces_spanmetrics_latency_bucket{service="contract-backend"}"#)
        .await;
    assert_eq!(exemplars.len(), 1, "{exemplars:?}");
    assert_eq!(exemplars[0]["seriesLabels"]["le"], "0.256");
    assert_eq!(exemplars[0]["exemplars"][0]["labels"], json!({ "traceID": TRACE_ID }));
}

#[tokio::test]
async fn the_host_and_container_cpu_are_scraped_as_counters() {
    let stack = support::start().await;
    // A few scrape ticks.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let modes = stack
        .mimir_vector(r#"count by (mode) (node_cpu_seconds_total{job="node-exporter", cpu="0"})"#)
        .await;
    assert_eq!(modes.len(), 8, "{modes:?}");
    let busy: f64 = stack
        .mimir_value(r#"1 - avg(rate(node_cpu_seconds_total{mode="idle"}[5m]))"#)
        .await
        .parse()
        .unwrap();
    assert!(busy > 0.0 && busy < 0.5, "utilisation {busy}");
    let available: f64 = stack
        .mimir_value("node_memory_MemAvailable_bytes")
        .await
        .parse()
        .unwrap();
    assert!(
        available > 1e9 && available < 4.0 * 1024.0 * 1024.0 * 1024.0,
        "{available}"
    );
    let cores = stack
        .mimir_vector(r#"sum by (name) (rate(container_cpu_usage_seconds_total{name!=""}[5m]))"#)
        .await;
    assert_eq!(cores.len(), 1, "{cores:?}");
    assert_eq!(cores[0]["metric"], json!({ "name": "sim-ingest" }));
    let value: f64 = cores[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(value > 0.0 && value < 2.0, "{value}");
}
