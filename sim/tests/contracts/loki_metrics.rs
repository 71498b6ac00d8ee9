//! LogQL metric queries over Faro's web-vitals lines, as Loki answers them
//! (`matrix` from `query_range`, `vector` from `query`) and as Grafana's
//! `/api/ds/query` passes them on: a failed `| unwrap` fails the whole
//! query with Loki's pipeline error unless the query filters the lines.
//!
//! Uses: support, faro_web (the Faro Web SDK payload).

use serde_json::{Value, json};

use crate::faro_web::{PAYLOAD, collect};
use crate::support::{self, Stack, answer};

/// Alloy stamps Faro lines with the time it received them: queries end a
/// few seconds after that, in whole seconds.
fn at_s() -> i64 {
    support::now_millis() / 1000 + 5
}
const SELECTOR: &str = r#"{app="durable-code-frontend", kind="measurement"} | logfmt | type="web-vitals""#;

async fn loaded() -> Stack {
    let stack = support::start().await;
    let got = collect(&stack, PAYLOAD).await;
    assert_eq!(got.status, 202, "{}", got.text());
    stack
}

async fn range(stack: &Stack, query: &str, at: i64) -> support::Answer {
    answer(
        stack
            .http
            .get(format!("{}/loki/api/v1/query_range", stack.loki))
            .query(&[
                ("query", query.to_owned()),
                ("start", (at - 120).to_string()),
                ("end", at.to_string()),
                ("step", "60".to_owned()),
            ]),
    )
    .await
}

#[tokio::test]
async fn range_aggregations_are_lokis_matrix() {
    let stack = loaded().await;
    let at = at_s();
    let got = range(&stack, &format!("sum(count_over_time({SELECTOR} [5m]))"), at).await;
    assert_eq!(got.status, 200, "{}", got.text());
    let body = got.json();
    assert_eq!(body["status"], "success");
    assert_eq!(body["data"]["resultType"], "matrix");
    // The three vitals arrived just now: only the last step's window
    // holds them, and steps with nothing have no point.
    assert_eq!(body["data"]["result"], json!([{ "metric": {}, "values": [[at, "3"]] }]));

    let p75 = format!("quantile_over_time(0.75, {SELECTOR} | value_lcp!=\"\" | unwrap value_lcp [5m]) by (app)");
    let got = range(&stack, &p75, at).await;
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(
        got.json()["data"]["result"],
        json!([{ "metric": { "app": "durable-code-frontend" }, "values": [[at, "1006.5999999999767"]] }])
    );

    let instant = answer(stack.http.get(format!("{}/loki/api/v1/query", stack.loki)).query(&[
        ("query", format!("sum by (type) (rate({SELECTOR} [5m]))")),
        ("time", at.to_string()),
    ]))
    .await;
    assert_eq!(instant.status, 200, "{}", instant.text());
    assert_eq!(
        instant.json()["data"],
        json!({ "resultType": "vector", "result": [{ "metric": { "type": "web-vitals" }, "value": [at, "0.01"] }], "stats": {} })
    );
}

#[tokio::test]
async fn an_unwrap_the_lines_do_not_carry_fails_with_lokis_pipeline_error() {
    let stack = loaded().await;
    let at = at_s();
    let got = range(
        &stack,
        &format!("quantile_over_time(0.75, {SELECTOR} | unwrap value_lcp [5m])"),
        at,
    )
    .await;
    assert_eq!(got.status, 400, "{}", got.text());
    assert_eq!(got.content_type, "text/plain; charset=utf-8");
    let text = got.text();
    assert!(
        text.starts_with("pipeline error: 'SampleExtractionErr' for series: '{__error__=\"SampleExtractionErr\", "),
        "{text}"
    );
    assert!(
        text.ends_with(
            "Use a label filter to intentionally skip this error. (e.g | __error__!=\"SampleExtractionErr\").\n\
             To skip all potential errors you can match empty errors.(e.g __error__=\"\")\n\
             The label filter can also be specified after unwrap. (e.g | unwrap latency | __error__=\"\" )\n"
        ),
        "{text}"
    );
    // Filtered after the unwrap, the query runs.
    let got = range(
        &stack,
        &format!("sum(max_over_time({SELECTOR} | unwrap value_inp | __error__=\"\" [5m]))"),
        at,
    )
    .await;
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.json()["data"]["result"][0]["values"][0][1], "48");
}

async fn ds_query(stack: &Stack, expr: &str) -> (u16, Value) {
    let body = json!({
        "queries": [{ "refId": "A", "datasource": { "type": "loki", "uid": "loki" }, "expr": expr,
                      "queryType": "range", "intervalMs": 60000, "maxDataPoints": 10 }],
        "from": "now-10m", "to": "now+1m",
    });
    let got = answer(stack.http.post(format!("{}/api/ds/query", stack.grafana)).json(&body)).await;
    (got.status, got.json())
}

#[tokio::test]
async fn grafana_passes_metric_results_on_as_frames_and_the_pipeline_error_as_an_error() {
    let stack = loaded().await;
    let (status, body) = ds_query(
        &stack,
        &format!("quantile_over_time(0.75, {SELECTOR} | value_cls!=\"\" | unwrap value_cls [5m]) by (app)"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let frames = body["results"]["A"]["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 1, "{body}");
    let fields = &frames[0]["schema"]["fields"];
    assert_eq!(fields[0]["name"], "Time");
    assert_eq!(fields[1]["labels"], json!({ "app": "durable-code-frontend" }));
    let values = frames[0]["data"]["values"][1].as_array().unwrap();
    assert!(
        !values.is_empty() && values.iter().all(|v| v.as_f64().unwrap() > 0.05),
        "{body}"
    );

    let (status, body) = ds_query(
        &stack,
        &format!("quantile_over_time(0.75, {SELECTOR} | unwrap value_cls [5m])"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let result = &body["results"]["A"];
    assert_eq!(result["status"], 400, "{result}");
    assert!(
        result["error"]
            .as_str()
            .unwrap()
            .starts_with("pipeline error: 'SampleExtractionErr'"),
        "{result}"
    );
}
