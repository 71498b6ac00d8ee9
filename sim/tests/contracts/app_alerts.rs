//! The app's error endpoint as the reference FastAPI backend has it, its
//! requests recorded as the backend's middleware records them, and the
//! deployment's SLO rules firing on a burst of errors and of slow requests
//! with a fast rule timing.

use std::time::Duration;

use pillars_sim::{RuleTiming, SimOptions};
use serde_json::{Value, json};

use crate::support::{self, Stack, answer};

async fn fast_rules() -> Stack {
    support::start_with(SimOptions {
        rule_timing: RuleTiming {
            interval: Some(Duration::from_millis(200)),
            hold: Some(Duration::from_millis(500)),
        },
        ..SimOptions::default()
    })
    .await
}

async fn firing(stack: &Stack, alertname: &str) -> Option<Value> {
    let got = answer(stack.http.get(format!("{}/api/v1/alerts", stack.mimir))).await;
    got.json()["data"]["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["labels"]["alertname"] == alertname && a["state"] == "firing")
        .cloned()
}

async fn wait_firing(stack: &Stack, alertname: &str) -> Value {
    for _ in 0..60 {
        if let Some(a) = firing(stack, alertname).await {
            return a;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{alertname} never fired");
}

#[tokio::test]
async fn the_error_endpoint_fails_the_ratio_asked_and_says_why_it_refuses() {
    let stack = support::start().await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let got = answer(stack.http.get(format!("{}/api/error?ratio=0.25", stack.app))).await;
        statuses.push(got.status);
    }
    // Call k fails when floor(k/4) grows: the 4th and 8th.
    assert_eq!(statuses, [200, 200, 200, 500, 200, 200, 200, 500]);
    let got = answer(stack.http.get(format!("{}/api/error?ratio=1", stack.app))).await;
    assert_eq!((got.status, got.json()), (500, json!({ "detail": "injected error" })));
    let got = answer(stack.http.get(format!("{}/api/error?ratio=0", stack.app))).await;
    assert_eq!((got.status, got.json()), (200, json!({ "status": "ok" })));
    let got = answer(stack.http.get(format!("{}/api/error?ratio=1.5", stack.app))).await;
    assert_eq!(
        (got.status, got.json()),
        (400, json!({ "detail": "ratio must be within 0 and 1, got 1.5" }))
    );
    let got = answer(stack.http.get(format!("{}/api/error?ratio=lots", stack.app))).await;
    assert_eq!(got.status, 422);
    assert_eq!(got.json()["detail"][0]["loc"], json!(["query", "ratio"]));

    // Recorded as the middleware records: every answer in the counter and
    // the histogram, 400 and up in the errors counter too.
    let job = r#"job="durable-code/durable-code-backend", path="/api/error""#;
    assert_eq!(
        stack
            .mimir_value(&format!(r#"http_requests_total{{{job}, status_code="500"}}"#))
            .await,
        "3"
    );
    assert_eq!(
        stack
            .mimir_value(&format!(r#"http_requests_total{{{job}, status_code="200"}}"#))
            .await,
        "7"
    );
    assert_eq!(
        stack
            .mimir_value(&format!(r#"http_errors_total{{{job}, status_code="500"}}"#))
            .await,
        "3"
    );
    assert_eq!(
        stack
            .mimir_value(&format!(r#"http_errors_total{{{job}, status_code="400"}}"#))
            .await,
        "1"
    );
    assert!(
        stack
            .mimir_vector(&format!(r#"http_errors_total{{{job}, status_code="200"}}"#))
            .await
            .is_empty()
    );
    assert_eq!(
        stack
            .mimir_value(&format!(
                r#"http_request_duration_seconds_count{{{job}, status_code="500"}}"#
            ))
            .await,
        "3"
    );
    // One series per answer: 200, 500, 400 and 422.
    let vector = stack
        .mimir_vector(r#"sum by (status_code) (http_requests_total{path="/api/error"})"#)
        .await;
    assert_eq!(vector.len(), 4, "{vector:?}");
}

#[tokio::test]
async fn an_error_burst_fires_the_availability_fast_burn_alert() {
    let stack = fast_rules().await;
    for _ in 0..10 {
        answer(stack.http.get(format!("{}/api/error?ratio=0.5", stack.app))).await;
    }
    let alert = wait_firing(&stack, "BackendAvailabilityFastBurn").await;
    assert_eq!(alert["labels"]["job"], "durable-code/durable-code-backend");
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["labels"]["slo"], "availability");
    assert_eq!(alert["annotations"]["dashboard_uid"], "durable-golden-signals");
    // The recorded ratio is about a half (extrapolation moves it a little).
    let ratio: f64 = stack
        .mimir_value("job:slo_errors_per_request:ratio_rate5m")
        .await
        .parse()
        .unwrap();
    assert!((0.3..=0.7).contains(&ratio), "{ratio}");
    wait_firing(&stack, "BackendErrorRateHigh").await;
    assert!(firing(&stack, "BackendLatencyFastBurn").await.is_none());
}

#[tokio::test]
async fn slow_requests_land_over_the_slo_bucket_and_fire_the_latency_alert() {
    let stack = fast_rules().await;
    // At once, so three slow calls take one call's time.
    let calls: Vec<_> = (0..3)
        .map(|_| tokio::spawn(answer(stack.http.get(format!("{}/api/delay/slow", stack.app)))))
        .collect();
    for call in calls {
        let got = call.await.expect("the call completes");
        assert_eq!(got.status, 200);
        assert!(got.json()["delay_ms"].as_u64().unwrap() > 2500);
    }
    let within = stack
        .mimir_value(r#"http_request_duration_seconds_bucket{path="/api/delay/slow", le="2.5"}"#)
        .await;
    assert_eq!(within, "0");
    let alert = wait_firing(&stack, "BackendLatencyFastBurn").await;
    assert_eq!(alert["annotations"]["dashboard_uid"], "durable-red");
}
