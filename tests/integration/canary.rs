//! `pillars canary` against the reference stack: probes of a healthy stack
//! are found and exported; data the stack drops is missing; a read path
//! that fails is an error, never missing; `/metrics` is OpenMetrics; the
//! command exits 1 when a probe went missing.

use std::sync::Arc;
use std::time::Duration;

use pillars::canary::metrics::CanaryMetrics;
use pillars::canary::run::{Settings, Summary, run};
use pillars::canary::serve;
use pillars::checks::{CheckCtx, Pillar};
use pillars::target::{Env, Target, TargetKind};

use crate::common::{SEED, dead_port, pillars_cli, pillars_command, sim};

fn settings() -> Settings {
    Settings {
        interval: Duration::from_millis(300),
        give_up: Duration::from_secs(2),
        duration: None,
        rounds: Some(3),
    }
}

async fn canary(ctx: &CheckCtx) -> (Summary, String) {
    let metrics = Arc::new(CanaryMetrics::new("sim", "canary-test", SEED.0));
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let mut ended = 0u64;
    let summary = run(ctx, &settings(), metrics.clone(), stopped, |_| ended += 1).await;
    let total: u64 = summary.pillars.values().map(|t| t.found + t.missing + t.errors).sum();
    assert_eq!(ended, total, "every probe that ended was handed over once");
    (summary, metrics.encode())
}

#[tokio::test]
async fn a_healthy_stack_finds_every_probe_and_serves_them_as_openmetrics() {
    let (_stack, ctx) = sim(&[], Default::default()).await;
    let metrics = Arc::new(CanaryMetrics::new("sim", "canary-test", SEED.0));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (addr, server) = serve::serve("127.0.0.1:0".parse().unwrap(), metrics.clone(), stopped.clone())
        .await
        .unwrap();
    let summary = run(&ctx, &settings(), metrics, stopped, |_| {}).await;
    assert_eq!(summary.rounds, 3, "{summary:?}");
    for pillar in [Pillar::Traces, Pillar::Logs, Pillar::Metrics, Pillar::Profiles] {
        let tally = &summary.pillars[&pillar];
        assert_eq!((tally.missing, tally.errors), (0, 0), "{pillar:?}: {tally:?}");
        assert_eq!(tally.found, summary.rounds, "{pillar:?}: {tally:?}");
    }
    let scraped = reqwest::get(format!("http://{addr}/metrics")).await.unwrap();
    assert_eq!(
        scraped.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = scraped.text().await.unwrap();
    let rounds = summary.rounds;
    for line in [
        format!("pillars_canary_probes_checked_total{{pillar=\"traces\"}} {rounds}"),
        format!("pillars_canary_write_to_read_seconds_count{{pillar=\"profiles\"}} {rounds}"),
        "pillars_canary_probes_in_flight{pillar=\"logs\"} 0".to_owned(),
    ] {
        assert!(text.contains(&line), "{line} is not in\n{text}");
    }
    assert!(!text.contains("pillars_canary_probes_missing_total{"), "{text}");
    assert_eq!(reqwest::get(format!("http://{addr}/")).await.unwrap().status(), 404);
    stop.send(true).unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn dropped_logs_are_missing_and_the_other_pillars_still_found() {
    let (_stack, ctx) = sim(&["drop_logs"], Default::default()).await;
    let (summary, text) = canary(&ctx).await;
    let run = pillars::report::RunOf {
        seed: SEED,
        run_id: "canary-test".into(),
        shard: None,
    };
    let record = serde_json::to_value(pillars::report::canary::CanaryReport::of(
        &summary,
        &ctx.target,
        &run,
        &settings(),
    ))
    .unwrap();
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/canary.schema.json"))
            .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let problems: Vec<String> = validator.iter_errors(&record).map(|e| e.to_string()).collect();
    assert!(problems.is_empty(), "{problems:?}\n{record}");
    assert_eq!(
        record["pillars"]["logs"]["missing_rounds"],
        serde_json::json!([0, 1, 2])
    );
    assert_eq!(record["pillars"]["traces"]["latency_ms"]["count"], 3);
    let logs = &summary.pillars[&Pillar::Logs];
    assert_eq!((logs.found, logs.errors), (0, 0), "{logs:?}");
    assert_eq!(logs.missing, summary.rounds, "{logs:?}");
    assert_eq!(summary.pillars[&Pillar::Traces].missing, 0);
    assert!(
        text.contains(&format!(
            "pillars_canary_probes_missing_total{{pillar=\"logs\"}} {}",
            summary.rounds
        )),
        "{text}"
    );
}

#[tokio::test]
async fn a_read_path_that_fails_is_an_error_never_missing() {
    let (stack, _) = sim(&[], Default::default()).await;
    let dead = format!("loki = \"http://127.0.0.1:{}\"", dead_port());
    let toml: String = stack
        .target_toml()
        .lines()
        .map(|line| {
            if line.starts_with("loki = ") {
                dead.clone()
            } else {
                line.to_owned()
            }
        })
        .map(|line| line + "\n")
        .collect();
    let target = Target::from_toml(&toml, TargetKind::File("dead-loki.toml".into()), &Env::default()).unwrap();
    let ctx = CheckCtx::new(Arc::new(target), "canary-test".into(), SEED, Default::default());
    let (summary, text) = canary(&ctx).await;
    let logs = &summary.pillars[&Pillar::Logs];
    assert_eq!((logs.found, logs.missing), (0, 0), "{logs:?}");
    assert_eq!(logs.errors, summary.rounds, "{logs:?}");
    assert!(
        text.contains("pillars_canary_probe_errors_total{pillar=\"logs\",reason=\"read_failed\"}"),
        "{text}"
    );
    assert_eq!(summary.pillars[&Pillar::Logs].reasons["read_failed"], summary.rounds);
    assert_eq!(summary.pillars[&Pillar::Metrics].found, summary.rounds);
}

/// `pillars canary` for two rounds a second apart, with `extra` flags.
async fn canary_cli(extra: &[&str]) -> (i32, String) {
    let mut command = pillars_command();
    command.args([
        "canary",
        "--interval",
        "1s",
        "--rounds",
        "2",
        "--max-wait",
        "2s",
        "--listen",
        "127.0.0.1:0",
    ]);
    pillars_cli(command.args(extra)).await
}

#[tokio::test]
async fn the_command_exits_1_when_a_probe_went_missing_and_0_when_none_did() {
    let reports = tempfile::tempdir().unwrap();
    let dir = reports.path().to_str().unwrap();
    let (code, out) = canary_cli(&["--sim-fault", "drop_traces", "--report-dir", dir]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("MISSING") && out.contains("traces"), "{out}");
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.path().join("canary.json")).unwrap()).unwrap();
    assert_eq!(record["pillars"]["traces"]["missing"], 2, "{record}");
    assert_eq!(record["rounds"], 2, "{record}");
    let (code, out) = canary_cli(&["--report-dir", dir]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("canary against sim"), "{out}");
    let (code, out) = pillars_cli(pillars_command().args(["canary", "--interval", "0s"])).await;
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("1s..=1h"), "{out}");
}
