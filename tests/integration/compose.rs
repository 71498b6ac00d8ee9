//! Offline validation of `compose/`: what can be checked without Docker.
//! The file passes a compose schema validation, its memory limits fit the
//! instance budget, every port the target names is published by the service
//! it belongs to (OTLP/gRPC's 4317 too), Grafana's datasources carry the
//! uids the harness reads through and correlation settings the correlation
//! checks accept, and the edge proxy routes the ALB's four paths.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use pillars::correlation::settings::{Telemetry, problems};
use pillars::emit::pprof::PROFILE_TYPE;
use pillars::query::grafana::parse_provisioning;
use pillars::target::{Env, Target};
use serde_yaml::Value;

fn compose_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/compose"))
}

fn compose() -> Value {
    serde_yaml::from_str(&std::fs::read_to_string(compose_dir().join("docker-compose.yml")).unwrap()).unwrap()
}

fn target() -> Target {
    let env = Env::from_pairs([("PILLARS_GRAFANA_USER", "admin"), ("PILLARS_GRAFANA_PASSWORD", "x")]);
    Target::from_file(&compose_dir().join("target.toml"), &env).unwrap()
}

/// `704m`, `1g`, `64M` in MiB.
fn mebibytes(text: &str) -> u64 {
    let text = text.trim().to_lowercase();
    let (number, unit) = text.split_at(text.find(|c: char| c.is_alphabetic()).unwrap_or(text.len()));
    let n: u64 = number.parse().unwrap();
    match unit {
        "m" | "mb" => n,
        "g" | "gb" => n * 1024,
        "k" | "kb" => n / 1024,
        other => panic!("unknown memory unit {other:?}"),
    }
}

fn services() -> BTreeMap<String, Value> {
    compose()["services"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_owned(), v.clone()))
        .collect()
}

#[test]
fn the_compose_file_passes_schema_validation() {
    match Command::new("docker-compose")
        .args(["config", "-q"])
        .current_dir(compose_dir())
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "docker-compose config rejects compose/docker-compose.yml: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        // CI installs it (.ci/run); elsewhere say how.
        Err(_) if std::env::var_os("CI").is_none() => {
            eprintln!("docker-compose is not installed (apt-get install docker-compose): schema validation skipped");
        }
        Err(e) => panic!("docker-compose is needed to validate compose/docker-compose.yml: {e}"),
    }
}

#[test]
fn memory_limits_fit_the_instance_budget() {
    let budget_mib = target().limits.memory_budget_bytes.unwrap() / 1024 / 1024;
    let mut sum = 0;
    for (name, service) in services() {
        let excluded = service["labels"]["pillars.budget"].as_str() == Some("exclude");
        let limit = service["mem_limit"]
            .as_str()
            .unwrap_or_else(|| panic!("service {name} has no mem_limit"));
        // A one-shot job needs no health check.
        assert!(
            service["healthcheck"]["test"].is_sequence() || name == "minio-init",
            "service {name} has no health check"
        );
        if !excluded {
            sum += mebibytes(limit);
        }
    }
    assert!(
        sum <= budget_mib,
        "the instance's containers may use {sum} MiB, over the {budget_mib} MiB budget"
    );
    assert!(sum > budget_mib / 2, "{sum} MiB: are the limits read at all?");
}

#[test]
fn every_port_in_the_target_is_published_by_its_service() {
    let target = target();
    let expected = [
        ("otlp_traces", "alloy"),
        ("otlp_grpc", "alloy"),
        ("faro", "edge"),
        ("pyroscope_ingest", "pyroscope"),
        ("app", "edge"),
        ("grafana", "edge"),
        ("read.tempo", "tempo"),
        ("read.loki", "loki"),
        ("read.mimir", "mimir"),
        ("read.pyroscope", "pyroscope"),
    ];
    let services = services();
    let endpoints = target.endpoints();
    for (role, service) in expected {
        let url = url::Url::parse(&endpoints[role]).unwrap();
        let port = url.port().unwrap();
        let published: Vec<String> = services[service]["ports"]
            .as_sequence()
            .map(|p| p.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        assert!(
            published.iter().any(|p| p.split(':').next() == Some(&port.to_string())),
            "{role} uses port {port}, which {service} does not publish ({published:?})"
        );
    }
}

#[test]
fn grafana_datasources_have_the_uids_and_correlations_the_checks_need() {
    let yaml =
        std::fs::read_to_string(compose_dir().join("grafana/provisioning/datasources/datasources.yaml")).unwrap();
    let datasources = parse_provisioning(&yaml, &Default::default()).unwrap();
    let target = target();
    for uid in target.grafana.as_ref().unwrap().datasources.values() {
        assert!(
            datasources.iter().any(|d| &d.uid == uid),
            "no datasource with uid {uid}"
        );
    }
    let telemetry = Telemetry {
        exemplar_label: "trace_id",
        log_trace_id_label: "trace_id",
        log_service_label: "service_name",
        profile_service_label: "service_name",
        profile_type: PROFILE_TYPE,
    };
    assert_eq!(problems(&datasources, &telemetry), Vec::<String>::new());
    // The validation can fail: a datasource that looks for Tempo's label.
    let wrong = parse_provisioning(
        &yaml.replacen("- name: trace_id", "- name: traceID", 1),
        &Default::default(),
    )
    .unwrap();
    assert_eq!(problems(&wrong, &telemetry).len(), 1);
}

#[test]
fn the_edge_proxy_routes_the_albs_four_paths() {
    let conf = std::fs::read_to_string(compose_dir().join("edge/nginx.conf")).unwrap();
    let route = |location: &str| {
        let start = conf
            .find(&format!("location {location} "))
            .unwrap_or_else(|| panic!("no location {location}"));
        let block = &conf[start..start + conf[start..].find('}').unwrap()];
        block
            .split("proxy_pass")
            .nth(1)
            .and_then(|rest| rest.split(';').next())
            .map(|target| target.trim().to_owned())
            .unwrap_or_else(|| panic!("location {location} proxies nowhere"))
    };
    assert_eq!(route("/collect"), "http://alloy:12347");
    assert_eq!(route("/grafana/"), "http://grafana:3001");
    assert_eq!(route("/api/"), "http://app:8000");
    assert_eq!(route("= /health"), "http://app:8000");
}

#[test]
fn alloy_writes_what_the_checks_read() {
    let alloy = std::fs::read_to_string(compose_dir().join("alloy/config.alloy")).unwrap();
    // Faro lines under {app, kind}, as frontend.roundtrip queries them.
    assert!(alloy.contains(r#"extra_log_labels = { app = "durable-code-frontend", kind = "" }"#));
    // Logs through Loki's OTLP endpoint, so trace_id is structured metadata.
    assert!(alloy.contains(r#"endpoint = "http://loki:3100/otlp""#));
    // Metrics through Mimir's OTLP endpoint, which keeps exemplars as trace_id.
    assert!(alloy.contains(r#"endpoint = "http://mimir:9009/otlp""#));
    let mimir = std::fs::read_to_string(compose_dir().join("mimir/mimir.yaml")).unwrap();
    assert!(mimir.contains("max_global_exemplars_per_user: 100000"));
    assert!(mimir.contains("multitenancy_enabled: false"));
}

/// Metric names the stack writes to Mimir, by who writes them: the
/// backend's OpenTelemetry SDK through Mimir's OTLP endpoint
/// (`shared/reference/deployment.md` § Application), Tempo's metrics
/// generator (span metrics and service graphs), node-exporter and cAdvisor
/// through Alloy's scrapes.
const WRITTEN: &[&str] = &[
    "http_request_duration_seconds_bucket",
    "http_request_duration_seconds_count",
    "http_request_duration_seconds_sum",
    "http_requests_total",
    "http_errors_total",
    "http_active_connections",
    "traces_spanmetrics_calls_total",
    "traces_spanmetrics_latency_bucket",
    "traces_spanmetrics_latency_count",
    "traces_spanmetrics_latency_sum",
    "traces_service_graph_request_total",
    "node_cpu_seconds_total",
    "node_memory_MemAvailable_bytes",
    "container_memory_working_set_bytes",
    "container_spec_memory_limit_bytes",
    "container_cpu_usage_seconds_total",
];

fn rule_file() -> serde_json::Value {
    let text = std::fs::read_to_string(compose_dir().join("mimir/rules/anonymous/durable-code.yaml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

fn dashboards() -> Vec<serde_json::Value> {
    let mut out: Vec<(String, serde_json::Value)> = std::fs::read_dir(compose_dir().join("grafana/dashboards"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            (
                p.display().to_string(),
                serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.into_iter().map(|(_, d)| d).collect()
}

#[test]
fn issue_16_every_dashboard_query_parses_and_names_metrics_the_stack_writes() {
    use pillars::query::lang::configured::Configured;
    let recorded: Vec<String> = rule_file()["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .filter_map(|r| r["record"].as_str().map(str::to_owned))
        .collect();
    let mut panels = 0;
    for dashboard in dashboards() {
        let title = dashboard["title"].as_str().unwrap().to_owned();
        for panel in dashboard["panels"].as_array().unwrap() {
            let ds = panel["datasource"]["uid"].as_str().unwrap_or_default();
            for target in panel["targets"].as_array().into_iter().flatten() {
                panels += 1;
                let expr = target["expr"].as_str().unwrap_or_default();
                let at = format!("{title} / {}", panel["title"]);
                match ds {
                    "mimir" => {
                        let parsed = Configured::parse(expr).unwrap_or_else(|e| panic!("{at}: {expr}: {e}"));
                        for metric in parsed.metrics() {
                            assert!(
                                WRITTEN.contains(&metric.as_str()) || recorded.contains(metric),
                                "{at} queries {metric}, which the stack does not write"
                            );
                        }
                        // The same expression, parsed as the reference stack's Mimir does.
                        pillars_sim::lang::promql::parse(expr).unwrap_or_else(|e| panic!("{at}: {e}"));
                    }
                    "loki" => {
                        if let Err(e) = pillars_sim::lang::logql::parse(expr) {
                            assert!(e.is_unserved(), "{at}: {expr}: {e}");
                        }
                    }
                    "pyroscope" => assert!(
                        target["profileTypeId"]
                            .as_str()
                            .is_some_and(|t| t.split(':').count() == 5),
                        "{at}: a profile type id has five parts"
                    ),
                    other => panic!("{at}: datasource {other:?} is not one compose/ provisions"),
                }
            }
        }
    }
    assert!(panels >= 15, "{panels} panel queries");
    // What the target lists as expected empty is a panel compose/ ships.
    let all = dashboards();
    for r in &target().dashboards.expected_empty {
        assert!(
            all.iter()
                .filter(|d| d["title"] == r.dashboard.as_str())
                .flat_map(|d| d["panels"].as_array().unwrap())
                .any(|p| p["title"] == r.panel.as_str()),
            "dashboards.expected_empty names {r}, which compose/ does not ship"
        );
    }
}

#[test]
fn issue_16_the_alert_rules_parse_point_at_panels_and_are_the_targets_defaults() {
    use pillars::query::lang::configured::Configured;
    use pillars::target::DEFAULT_ALERT_GROUPS;
    let rules = rule_file();
    let groups = rules["groups"].as_array().unwrap();
    let names: Vec<&str> = groups.iter().map(|g| g["name"].as_str().unwrap()).collect();
    assert_eq!(
        names, DEFAULT_ALERT_GROUPS,
        "the target's default groups are the file's"
    );
    let recorded: Vec<&str> = groups
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .filter_map(|r| r["record"].as_str())
        .collect();
    let dashboards = dashboards();
    let mut alerts = Vec::new();
    for rule in groups.iter().flat_map(|g| g["rules"].as_array().unwrap()) {
        let expr = rule["expr"].as_str().unwrap();
        let name = rule["alert"].as_str().or(rule["record"].as_str()).unwrap();
        let parsed = Configured::parse(expr).unwrap_or_else(|e| panic!("{name}: {e}"));
        pillars_sim::lang::promql::parse(expr).unwrap_or_else(|e| panic!("{name}: {e}"));
        for metric in parsed.metrics() {
            assert!(
                WRITTEN.contains(&metric.as_str()) || recorded.contains(&metric.as_str()),
                "{name} names {metric}, which neither the stack nor a recording rule writes"
            );
        }
        let Some(alert) = rule["alert"].as_str() else { continue };
        alerts.push(alert);
        let ann = &rule["annotations"];
        let uid = ann["dashboard_uid"]
            .as_str()
            .unwrap_or_else(|| panic!("{alert}: no dashboard_uid"));
        let panel: u64 = ann["panel_id"].as_str().unwrap().parse().unwrap();
        let dashboard = dashboards
            .iter()
            .find(|d| d["uid"] == uid)
            .unwrap_or_else(|| panic!("{alert} points at dashboard {uid}, which compose/ does not ship"));
        assert!(
            dashboard["panels"].as_array().unwrap().iter().any(|p| p["id"] == panel),
            "{alert} points at panel {panel} of {uid}, which it does not have"
        );
        let runbook = ann["runbook_url"].as_str().unwrap();
        assert!(
            runbook.contains(&format!("/d/{uid}/")) && runbook.ends_with(&format!("viewPanel={panel}")),
            "{alert}: runbook_url {runbook} is not panel {panel} of {uid}"
        );
        assert!(
            ann["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{alert}: no summary"
        );
    }
    let defaults = pillars::target::Alerts::default();
    for alert in [&defaults.error_alert, &defaults.latency_alert] {
        assert!(
            alerts.contains(&alert.as_str()),
            "the default {alert} is not in the rule file"
        );
    }
    let app = std::fs::read_to_string(compose_dir().join("app/app/main.py")).unwrap();
    assert!(
        app.contains("@app.get(\"/api/error\")"),
        "the reference backend serves the error path"
    );
    // The ruler reads the mounted files from local storage.
    let mimir: Value =
        serde_yaml::from_str(&std::fs::read_to_string(compose_dir().join("mimir/mimir.yaml")).unwrap()).unwrap();
    assert_eq!(mimir["ruler_storage"]["backend"].as_str(), Some("local"));
    let dir = mimir["ruler_storage"]["local"]["directory"].as_str().unwrap();
    let mounts = services()["mimir"]["volumes"].clone();
    assert!(
        mounts
            .as_sequence()
            .unwrap()
            .iter()
            .any(|m| m.as_str() == Some(&format!("./mimir/rules:{dir}:ro"))),
        "the rules are mounted at {dir}: {mounts:?}"
    );
}
