//! Mimir's ruler as a client sees it over HTTP: rules evaluated on their
//! timer (a fast one here), alerts going pending then firing, the rules
//! and alerts APIs in Mimir 2.14's shape with its own filters, the
//! configuration API's YAML and its 404s, and the two rule faults.

use std::time::Duration;

use pillars_sim::{Faults, RuleFile, RuleTiming, SimOptions};
use serde_json::Value;

use crate::support::{self, Stack, answer};

const RULES: &str = r#"
groups:
  - name: always
    interval: 1m
    rules:
      - record: job:one:value
        expr: vector(1)
      - alert: AlwaysOn
        expr: vector(1) > 0
        for: 1s
        labels: {severity: page}
        annotations: {summary: "always on"}
  - name: never
    rules:
      - alert: NeverOn
        expr: vector(1) < 0
"#;

async fn fast_stack(faults: Faults) -> Stack {
    support::start_with(SimOptions {
        faults,
        rule_files: vec![RuleFile {
            namespace: "test.yaml".into(),
            yaml: RULES.into(),
        }],
        rule_timing: RuleTiming {
            interval: Some(Duration::from_millis(200)),
            hold: None,
        },
        ..SimOptions::default()
    })
    .await
}

async fn get_json(stack: &Stack, path: &str) -> (u16, Value) {
    let got = answer(stack.http.get(format!("{}{path}", stack.mimir))).await;
    assert_eq!(got.content_type, "application/json", "{path}: {}", got.text());
    (got.status, got.json())
}

/// Waits (bounded) until the rule `name` is in `state`.
async fn wait_for_state(stack: &Stack, name: &str, state: &str) -> Value {
    for _ in 0..50 {
        let (_, body) = get_json(stack, "/api/v1/rules?type=alert").await;
        let rule = body["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .find(|r| r["name"] == name);
        if let Some(rule) = rule
            && rule["state"] == state
        {
            return rule;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{name} never reached {state}");
}

#[tokio::test]
async fn alerts_fire_on_the_timer_and_the_apis_have_mimirs_shape() {
    let stack = fast_stack(Faults::default()).await;
    let pending = wait_for_state(&stack, "AlwaysOn", "pending").await;
    assert_eq!(pending["alerts"][0]["state"], "pending");
    let firing = wait_for_state(&stack, "AlwaysOn", "firing").await;
    assert_eq!(firing["type"], "alerting");
    assert_eq!(firing["health"], "ok");
    assert_eq!(firing["lastError"], "");
    assert_eq!(firing["duration"], 1.0);
    assert_eq!(firing["keepFiringFor"], 0.0);
    assert_eq!(firing["query"], "vector(1) > 0");
    assert_eq!(firing["labels"]["severity"], "page");
    assert_eq!(firing["annotations"]["summary"], "always on");
    let alert = &firing["alerts"][0];
    assert_eq!(alert["labels"]["alertname"], "AlwaysOn");
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["value"], "1e+00");
    let active_at = alert["activeAt"].as_str().unwrap();
    assert!(active_at.ends_with('Z') && active_at.contains('T'), "{active_at}");

    let (status, body) = get_json(&stack, "/api/v1/rules").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "success");
    assert_eq!(body["errorType"], "");
    assert_eq!(body["error"], "");
    let groups = body["data"]["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0]["name"], "always");
    assert_eq!(groups[0]["file"], "test.yaml");
    assert_eq!(groups[0]["interval"], 0.2);
    let recording = &groups[0]["rules"][0];
    assert_eq!(recording["type"], "recording");
    assert_eq!(recording["name"], "job:one:value");
    assert!(recording.get("state").is_none() && recording.get("alerts").is_none());
    assert_eq!(groups[1]["rules"][0]["state"], "inactive");
    assert_eq!(groups[1]["rules"][0]["alerts"], Value::Array(vec![]));

    // Filters: a group without matching rules is left out.
    let (_, body) = get_json(&stack, "/api/v1/rules?type=record").await;
    let groups = body["data"]["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["rules"].as_array().unwrap().len(), 1);
    let (_, body) = get_json(&stack, "/api/v1/rules?rule_group=never").await;
    assert_eq!(body["data"]["groups"].as_array().unwrap().len(), 1);
    let (_, body) = get_json(&stack, "/api/v1/rules?rule_name=NeverOn&file=test.yaml").await;
    assert_eq!(body["data"]["groups"][0]["name"], "never");
    let (_, body) = get_json(&stack, "/api/v1/rules?file=other.yaml").await;
    assert_eq!(body["data"]["groups"], Value::Array(vec![]));
    // Prometheus' bracketed names are not Mimir's: no filter at all.
    let (_, body) = get_json(&stack, "/api/v1/rules?rule_group%5B%5D=never&file%5B%5D=other.yaml").await;
    assert_eq!(body["data"]["groups"].as_array().unwrap().len(), 2);

    // Pagination came after 2.14: its parameters are not read.
    let (status, body) = get_json(&stack, "/api/v1/rules?max_groups=1&next_token=x").await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["groups"].as_array().unwrap().len(), 2);
    assert!(body["data"].get("nextToken").is_none(), "{body}");

    // A bad type: the envelope, sniffed as text.
    for (query, message) in [
        ("type=Alerting", r#"not supported value \"alerting\""#),
        ("type=x&max_groups=-1", r#"not supported value \"x\""#),
    ] {
        let got = answer(stack.http.get(format!("{}/api/v1/rules?{query}", stack.mimir))).await;
        assert_eq!(got.status, 400, "{query}");
        assert_eq!(got.content_type, "text/plain; charset=utf-8", "{query}");
        assert_eq!(
            got.text(),
            format!(r#"{{"status":"error","data":null,"errorType":"bad_data","error":"{message}"}}"#),
            "{query}"
        );
    }

    let (_, body) = get_json(&stack, "/api/v1/alerts").await;
    let alerts = body["data"]["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["state"], "firing");

    // The recording rule's output and ALERTS are series like any other.
    assert_eq!(stack.mimir_value("job:one:value").await, "1");
    let firing = stack.mimir_vector(r#"ALERTS{alertstate="firing"}"#).await;
    assert_eq!(firing[0]["metric"]["alertname"], "AlwaysOn");
}

#[tokio::test]
async fn the_configuration_api_serves_yaml_and_mimirs_404s() {
    let stack = fast_stack(Faults::default()).await;
    let got = answer(stack.http.get(format!("{}/config/v1/rules", stack.mimir))).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.content_type, "application/yaml");
    let yaml: serde_yaml::Value = serde_yaml::from_slice(&got.body).unwrap();
    assert_eq!(yaml["test.yaml"][0]["name"].as_str(), Some("always"));
    assert_eq!(yaml["test.yaml"][0]["interval"].as_str(), Some("1m"));
    assert_eq!(yaml["test.yaml"][0]["rules"][1]["for"].as_str(), Some("1s"));
    let got = answer(
        stack
            .http
            .get(format!("{}/config/v1/rules/test.yaml/never", stack.mimir)),
    )
    .await;
    assert_eq!(got.status, 200);
    let yaml: serde_yaml::Value = serde_yaml::from_slice(&got.body).unwrap();
    assert_eq!(yaml["rules"][0]["alert"].as_str(), Some("NeverOn"));
    let got = answer(
        stack
            .http
            .get(format!("{}/config/v1/rules/test.yaml/nope", stack.mimir)),
    )
    .await;
    assert_eq!((got.status, got.text().as_str()), (404, "group does not exist\n"));
    assert_eq!(got.content_type, "text/plain; charset=utf-8");
    let got = answer(
        stack
            .http
            .get(format!("{}/config/v1/rules/other.yaml/never", stack.mimir)),
    )
    .await;
    assert_eq!(got.status, 400);
    assert!(
        got.text()
            .starts_with("failed to load rule group for user anonymous and namespace other.yaml"),
        "{}",
        got.text()
    );
}

#[tokio::test]
async fn a_missing_group_is_neither_listed_nor_evaluated() {
    let stack = fast_stack(Faults::parse(["rule_group_missing=always"]).unwrap()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, body) = get_json(&stack, "/api/v1/rules").await;
    let names: Vec<&str> = body["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    assert_eq!(names, ["never"]);
    assert!(stack.mimir_vector("job:one:value").await.is_empty());
    let got = answer(
        stack
            .http
            .get(format!("{}/config/v1/rules/test.yaml/always", stack.mimir)),
    )
    .await;
    assert_eq!(got.status, 404);
}

#[tokio::test]
async fn the_deployment_rules_are_loaded_by_default_and_misspelt_under_the_fault() {
    // The files' own timing: the default stack evaluates every second.
    let stack = support::start_with(SimOptions {
        faults: Faults::parse(["rule_metric_missing"]).unwrap(),
        rule_timing: RuleTiming::default(),
        ..SimOptions::default()
    })
    .await;
    let (_, body) = get_json(&stack, "/api/v1/rules?rule_group=durable-code-slo-recording").await;
    let group = &body["data"]["groups"][0];
    assert_eq!(group["file"], "durable-code.yaml");
    assert_eq!(group["interval"], 30.0);
    let quick = support::start_with(SimOptions::default()).await;
    let (_, body) = get_json(&quick, "/api/v1/rules?rule_group=durable-code-slo-recording").await;
    assert_eq!(
        body["data"]["groups"][0]["interval"], 1.0,
        "the default stack's interval"
    );
    let query = group["rules"][0]["query"].as_str().unwrap();
    assert!(
        query.contains("http_request_total{") && !query.contains("http_requests_total"),
        "{query}"
    );
    let (_, body) = get_json(&stack, "/api/v1/rules?rule_group=durable-code-slo-alerts").await;
    assert!(
        body["data"]["groups"][0]["rules"][0]["query"]
            .as_str()
            .unwrap()
            .contains("job:slo_errors_per_request")
    );
}
