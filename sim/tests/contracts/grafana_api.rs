//! Grafana's dashboard and query APIs as a client sees them: the
//! deployment's dashboards listed and fetched, every golden-signals panel
//! run through `/api/ds/query` after traffic, exemplar frames, the
//! errors Grafana passes on, and `dashboard_metric_missing`.

use pillars_sim::{Faults, SimOptions};
use serde_json::{Value, json};

use crate::support::{self, Stack, answer};

/// Four fast requests and four error calls at ratio 0.5, so every series
/// the panels read has the two samples a rate needs.
async fn traffic(stack: &Stack) {
    for _ in 0..4 {
        let got = answer(stack.http.get(format!("{}/api/delay/fast", stack.app))).await;
        assert_eq!(got.status, 200);
        answer(stack.http.get(format!("{}/api/error?ratio=0.5", stack.app))).await;
    }
}

async fn ds_query(stack: &Stack, body: Value) -> (u16, Value) {
    let got = answer(stack.http.post(format!("{}/api/ds/query", stack.grafana)).json(&body)).await;
    (got.status, got.json())
}

/// A panel's query over the last five minutes. Grafana floors the range's
/// end to the step, so a range ending now would miss the seconds-old
/// traffic: it ends a minute ahead.
fn mimir_query(expr: &str) -> Value {
    json!({
        "queries": [{ "refId": "A", "datasource": { "type": "prometheus", "uid": "mimir" }, "expr": expr,
                      "intervalMs": 15000, "maxDataPoints": 100 }],
        "from": "now-5m", "to": "now+1m",
    })
}

/// The panel targets of a served dashboard.
async fn targets(stack: &Stack, uid: &str) -> Vec<(String, String)> {
    let got = answer(stack.http.get(format!("{}/api/dashboards/uid/{uid}", stack.grafana))).await;
    assert_eq!(got.status, 200, "{}", got.text());
    let body = got.json();
    body["dashboard"]["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["title"].as_str().unwrap().to_owned(),
                p["targets"][0]["expr"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn points(frames: &Value) -> usize {
    frames
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["schema"]["name"] != "exemplar")
        .map(|f| f["data"]["values"].get(1).and_then(Value::as_array).map_or(0, Vec::len))
        .sum()
}

#[tokio::test]
async fn dashboards_are_listed_and_fetched_as_grafana_serves_them() {
    let stack = support::start().await;
    let got = answer(stack.http.get(format!("{}/api/search?type=dash-db", stack.grafana))).await;
    assert_eq!(got.status, 200);
    let hits = got.json();
    let hits = hits.as_array().unwrap();
    assert_eq!(hits.len(), 6);
    let golden = hits.iter().find(|h| h["uid"] == "durable-golden-signals").unwrap();
    assert_eq!(golden["type"], "dash-db");
    assert_eq!(golden["title"], "Golden signals");
    assert_eq!(golden["url"], "/grafana/d/durable-golden-signals/golden-signals");
    assert_eq!(golden["uri"], "db/golden-signals");
    assert_eq!(golden["folderTitle"], "Durable Code");
    assert_eq!(golden["isStarred"], false);
    assert_eq!(golden["tags"], json!(["durable-code", "pillars"]));
    let got = answer(
        stack
            .http
            .get(format!("{}/api/dashboards/uid/durable-red", stack.grafana)),
    )
    .await;
    let body = got.json();
    assert_eq!(body["dashboard"]["uid"], "durable-red");
    assert_eq!(body["meta"]["slug"], "red-by-path-and-method");
    assert_eq!(body["meta"]["provisioned"], true);
    assert_eq!(body["dashboard"]["panels"][2]["targets"][0]["exemplar"], true);
    let got = answer(stack.http.get(format!("{}/api/dashboards/uid/nope", stack.grafana))).await;
    assert_eq!(
        (got.status, got.json()),
        (404, json!({ "message": "Dashboard not found", "traceID": "" }))
    );
}

#[tokio::test]
async fn every_golden_signals_panel_has_data_after_traffic() {
    let stack = support::start().await;
    traffic(&stack).await;
    for (title, expr) in targets(&stack, "durable-golden-signals").await {
        let (status, body) = ds_query(&stack, mimir_query(&expr)).await;
        assert_eq!(status, 200, "{title}: {body}");
        let result = &body["results"]["A"];
        assert_eq!(result["status"], 200);
        assert!(points(&result["frames"]) > 0, "{title} ({expr}) has no data: {result}");
        let first = &result["frames"][0]["schema"];
        assert_eq!(first["refId"], "A");
        assert!(
            first["meta"]["executedQueryString"]
                .as_str()
                .unwrap()
                .starts_with("Expr: ")
        );
        assert_eq!(first["fields"][0]["name"], "Time");
        assert_eq!(first["fields"][0]["type"], "time");
        assert_eq!(first["fields"][1]["type"], "number");
    }
    // Traffic by path: one frame per series, labelled.
    let (_, body) = ds_query(&stack, mimir_query(r#"sum by (path) (rate(http_requests_total[5m]))"#)).await;
    let frames = body["results"]["A"]["frames"].as_array().unwrap();
    let paths: Vec<&str> = frames
        .iter()
        .filter_map(|f| f["schema"]["fields"][1]["labels"]["path"].as_str())
        .collect();
    assert!(
        paths.contains(&"/api/delay/fast") && paths.contains(&"/api/error"),
        "{paths:?}"
    );
    assert_eq!(frames[0]["schema"]["meta"]["type"], "timeseries-multi");
}

#[tokio::test]
async fn exemplars_come_back_as_one_frame_with_the_trace_ids() {
    let stack = support::start().await;
    traffic(&stack).await;
    let mut query = mimir_query(
        r#"histogram_quantile(0.99, sum by (le, path) (rate(http_request_duration_seconds_bucket{job=~".*durable-code-backend"}[5m])))"#,
    );
    query["queries"][0]["exemplar"] = json!(true);
    let (status, body) = ds_query(&stack, query).await;
    assert_eq!(status, 200, "{body}");
    let frames = body["results"]["A"]["frames"].as_array().unwrap();
    let exemplar = frames
        .iter()
        .find(|f| f["schema"]["name"] == "exemplar")
        .expect("an exemplar frame");
    let names: Vec<&str> = exemplar["schema"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(&names[..2], ["Time", "Value"]);
    let trace = names.iter().position(|n| *n == "trace_id").expect("a trace_id field");
    assert!(names.contains(&"span_id") && names.contains(&"le"), "{names:?}");
    let ids = exemplar["data"]["values"][trace].as_array().unwrap();
    assert!(
        !ids.is_empty() && ids.iter().all(|id| id.as_str().is_some_and(|s| s.len() == 32)),
        "{ids:?}"
    );
}

#[tokio::test]
async fn query_errors_are_passed_on_as_grafana_does() {
    let stack = support::start().await;
    let (status, body) = ds_query(&stack, mimir_query("sum(rate(x[5m])")).await;
    assert_eq!(status, 400);
    let result = &body["results"]["A"];
    assert_eq!(result["status"], 400);
    assert!(result["error"].as_str().unwrap().contains("parse error"), "{result}");
    // Valid PromQL the reference stack does not evaluate: Mimir's 501, which
    // promlib does not parse.
    let (status, body) = ds_query(&stack, mimir_query("topk(3, up)")).await;
    assert_eq!(status, 400);
    let error = body["results"]["A"]["error"].as_str().unwrap();
    assert!(
        error.starts_with("unexpected response with status code 501: "),
        "{error}"
    );
    let mut missing = mimir_query("up");
    missing["queries"][0]["datasource"]["uid"] = json!("nope");
    let (status, body) = ds_query(&stack, missing).await;
    assert_eq!(
        (status, body),
        (404, json!({ "message": "Data source not found", "traceID": "" }))
    );
    let (status, body) = ds_query(&stack, json!({ "queries": [] })).await;
    assert_eq!(status, 400);
    assert_eq!(body["message"], "No queries found");
    // No series: one frame without fields.
    let (status, body) = ds_query(&stack, mimir_query("nothing_here")).await;
    assert_eq!(status, 200);
    assert_eq!(body["results"]["A"]["frames"][0]["schema"]["fields"], json!([]));
}

#[tokio::test]
async fn logs_come_back_as_a_logs_frame() {
    let stack = support::start().await;
    traffic(&stack).await;
    let (status, body) = ds_query(
        &stack,
        json!({
            "queries": [{ "refId": "L", "datasource": { "type": "loki", "uid": "loki" },
                          "expr": r#"{service_name=~".+"} |= "api/error""#, "queryType": "range", "maxLines": 50 }],
            // Grafana's range is in milliseconds: a line written in the
            // millisecond of `now` would be past its end.
            "from": "now-5m", "to": "now+1m",
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let frame = &body["results"]["L"]["frames"][0];
    let names: Vec<&str> = frame["schema"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(names, ["labels", "Time", "Line", "tsNs", "id"]);
    let lines = frame["data"]["values"][2].as_array().unwrap();
    assert_eq!(lines.len(), 4, "{frame}");
}

#[tokio::test]
async fn the_dashboard_fault_leaves_traffic_and_errors_without_data() {
    let stack = support::start_with(SimOptions {
        faults: Faults::parse(["dashboard_metric_missing"]).unwrap(),
        ..SimOptions::default()
    })
    .await;
    traffic(&stack).await;
    let panels = targets(&stack, "durable-golden-signals").await;
    for (title, expr) in &panels {
        let (status, body) = ds_query(&stack, mimir_query(expr)).await;
        assert_eq!(status, 200);
        let rows = points(&body["results"]["A"]["frames"]);
        match title.as_str() {
            "Traffic (req/s)" | "Errors (%)" => {
                assert!(expr.contains("http_requests{"), "{expr}");
                assert_eq!(rows, 0, "{title}: {body}");
            }
            _ => {}
        }
    }
    // The name the pipeline writes is listed by Mimir, the dashboard's is not.
    let got = answer(stack.http.get(format!("{}/api/v1/label/__name__/values", stack.mimir))).await;
    let names = got.json()["data"].clone();
    let names: Vec<&str> = names.as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(
        names.contains(&"http_requests_total") && !names.contains(&"http_requests"),
        "{names:?}"
    );
}

#[tokio::test]
async fn unserved_logql_metric_queries_are_lokis_501_passed_on() {
    let stack = support::start().await;
    let expr = r#"topk(2, count_over_time({app="durable-code-frontend"} [5m]))"#;
    let (status, body) = ds_query(
        &stack,
        json!({
            "queries": [{ "refId": "A", "datasource": { "type": "loki", "uid": "loki" }, "expr": expr }],
            "from": "now-1h", "to": "now",
        }),
    )
    .await;
    assert_eq!(status, 400);
    let result = &body["results"]["A"];
    assert_eq!(result["status"], 501, "{result}");
    assert!(
        result["error"].as_str().unwrap().contains("reference stack"),
        "{result}"
    );
}

#[tokio::test]
async fn instant_queries_are_numeric_frames_and_an_unqueryable_datasource_fails() {
    let stack = support::start().await;
    traffic(&stack).await;
    let mut query = mimir_query(r#"sum by (status_code) (http_requests_total{path="/api/error"})"#);
    query["queries"][0]["instant"] = json!(true);
    query["queries"][0]["range"] = json!(false);
    query["to"] = json!("now");
    let (status, body) = ds_query(&stack, query).await;
    assert_eq!(status, 200, "{body}");
    let frames = body["results"]["A"]["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert!(frames.iter().all(|f| f["schema"]["meta"]["type"] == "numeric-multi"));
    let total: f64 = frames.iter().map(|f| f["data"]["values"][1][0].as_f64().unwrap()).sum();
    assert_eq!(total, 4.0);

    let broken = support::start_with(SimOptions {
        faults: Faults::parse(["datasource_unqueryable=mimir"]).unwrap(),
        ..SimOptions::default()
    })
    .await;
    let (status, body) = ds_query(&broken, mimir_query("up")).await;
    assert_eq!(status, 400);
    assert_eq!(body["results"]["A"]["error"], "datasource mimir: upstream answered 500");
}
