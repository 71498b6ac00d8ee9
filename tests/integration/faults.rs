//! Every check passes on a healthy reference stack and fails, with its own
//! reason, under the fault that breaks the property it verifies.

use pillars::stack::sim::SimTarget;
use std::collections::HashSet;

use pillars::checks::{CATALOG, CheckSettings, Status, TraceLookup};
use pillars::ids::TraceId;

use crate::common::{SEED, run, sim};

/// (check id, sim fault, expected reason).
pub const ROWS: &[(&str, &str, &str)] = &[
    ("stack.ready", "not_ready=tempo", "not_ready"),
    ("traces.roundtrip", "drop_traces=1", "not_found_by_id"),
    ("logs.roundtrip", "drop_logs=1", "not_found"),
    ("metrics.roundtrip", "drop_metrics=1", "not_found"),
    ("profiles.roundtrip", "drop_profiles=1", "not_found"),
    ("datasources.healthy", "datasource_unhealthy=loki", "unhealthy"),
    ("datasources.healthy", "datasource_unqueryable=pyroscope", "unqueryable"),
    ("ingest.latency", "delay_ms=6000", "over_slo"),
    ("ingest.completeness", "drop_logs=0.5", "incomplete"),
    ("frontend.roundtrip", "faro_export_fails", "missing_lines"),
    ("metrics.roundtrip", "drop_exemplars", "missing_exemplars"),
    (
        "correlation.trace_across_tiers",
        "ignore_traceparent",
        "backend_not_in_trace",
    ),
    ("correlation.exemplar_to_trace", "exemplar_label=traceId", "wrong_label"),
    ("correlation.trace_to_logs", "logs_without_trace_id", "no_lines"),
    (
        "correlation.trace_to_profile",
        "profiles_without_span_id",
        "empty_flamegraph",
    ),
    ("capacity.memory_headroom", "memory_pressure=0.95", "low_headroom"),
    ("dashboards.have_data", "dashboard_metric_missing", "unknown_metric"),
    (
        "alerts.fire",
        "rule_group_missing=durable-code-slo-alerts",
        "group_missing",
    ),
    ("alerts.fire", "rule_metric_missing", "unknown_metric"),
    ("correlation.investigation", "exemplar_label=traceId", "no_exemplar"),
];

/// The row of `id` under `fault`.
async fn assert_fault(id: &str, fault: &str) {
    let row = ROWS
        .iter()
        .find(|r| r.0 == id && r.1 == fault)
        .unwrap_or_else(|| panic!("no row for {id} under {fault}"));
    assert_row(row.0, row.1, row.2).await;
}

#[tokio::test]
async fn dashboards_have_data_fails_on_a_metric_the_pipeline_does_not_write() {
    assert_fault("dashboards.have_data", "dashboard_metric_missing").await;
}

#[tokio::test]
async fn alerts_fire_fails_when_a_rule_group_is_not_loaded() {
    assert_fault("alerts.fire", "rule_group_missing=durable-code-slo-alerts").await;
}

#[tokio::test]
async fn alerts_fire_fails_on_a_rule_over_a_metric_that_does_not_exist() {
    assert_fault("alerts.fire", "rule_metric_missing").await;
}

#[tokio::test]
async fn the_investigation_stops_at_the_panel_when_exemplars_carry_an_unread_label() {
    assert_fault("correlation.investigation", "exemplar_label=traceId").await;
}

async fn assert_row(id: &str, fault: &str, reason: &str) {
    let (_healthy, ctx) = sim(&[], CheckSettings::default()).await;
    let outcome = run(id, &ctx).await;
    assert_eq!(outcome.status(), Status::Pass, "{id} without faults: {outcome:?}");

    let (_broken, ctx) = sim(&[fault], CheckSettings::default()).await;
    let outcome = run(id, &ctx).await;
    assert_eq!(outcome.status(), Status::Fail, "{id} under {fault}: {outcome:?}");
    assert_eq!(
        outcome.verdict.reason(),
        Some(reason),
        "{id} under {fault}: {outcome:?}"
    );
}

#[tokio::test]
async fn stack_ready_fails_when_tempo_is_not_ready() {
    assert_row(ROWS[0].0, ROWS[0].1, ROWS[0].2).await;
}

#[tokio::test]
async fn traces_roundtrip_fails_when_the_collector_drops_traces() {
    assert_row(ROWS[1].0, ROWS[1].1, ROWS[1].2).await;
}

#[tokio::test]
async fn logs_roundtrip_fails_when_the_pipeline_drops_lines() {
    assert_row(ROWS[2].0, ROWS[2].1, ROWS[2].2).await;
}

#[tokio::test]
async fn metrics_roundtrip_fails_when_the_pipeline_drops_series() {
    assert_row(ROWS[3].0, ROWS[3].1, ROWS[3].2).await;
}

#[tokio::test]
async fn profiles_roundtrip_fails_when_profiles_are_dropped() {
    assert_row(ROWS[4].0, ROWS[4].1, ROWS[4].2).await;
}

#[tokio::test]
async fn datasources_healthy_fails_on_an_unhealthy_datasource() {
    assert_row(ROWS[5].0, ROWS[5].1, ROWS[5].2).await;
}

#[tokio::test]
async fn datasources_healthy_fails_on_a_healthy_but_unqueryable_datasource() {
    assert_row(ROWS[6].0, ROWS[6].1, ROWS[6].2).await;
    let (_sim, ctx) = sim(&["datasource_unqueryable=pyroscope"], CheckSettings::default()).await;
    let outcome = run("datasources.healthy", &ctx).await;
    assert!(outcome.summary.contains("pyroscope"), "{}", outcome.summary);
}

#[tokio::test]
async fn ingest_latency_fails_when_data_turns_visible_after_the_slo() {
    assert_row(ROWS[7].0, ROWS[7].1, ROWS[7].2).await;
}

#[tokio::test]
async fn ingest_completeness_fails_and_lists_missing_ids() {
    assert_row(ROWS[8].0, ROWS[8].1, ROWS[8].2).await;
    let (_sim, ctx) = sim(&["drop_logs=0.5"], CheckSettings::default()).await;
    let outcome = run("ingest.completeness", &ctx).await;
    let logs = &outcome.evidence["pillars"]["logs"];
    assert!(logs["ratio"].as_f64().unwrap() < 1.0, "{logs}");
    assert!(!logs["missing"].as_array().unwrap().is_empty(), "{logs}");
    assert_eq!(outcome.evidence["pillars"]["traces"]["ratio"], 1.0);
    assert!(outcome.summary.contains("logs"), "{}", outcome.summary);
}

#[tokio::test]
async fn frontend_roundtrip_fails_when_faro_answers_202_but_exports_nothing() {
    assert_row(ROWS[9].0, ROWS[9].1, ROWS[9].2).await;
    let (sim, ctx) = sim(&["faro_export_fails"], CheckSettings::default()).await;
    let outcome = run("frontend.roundtrip", &ctx).await;
    assert!(outcome.summary.contains("202"), "{}", outcome.summary);
    assert_eq!(sim.log_counts().entries_received, 0);
}

#[tokio::test]
async fn frontend_lines_are_written_in_alloys_layout_under_app_and_kind() {
    let (sim, ctx) = sim(&[], CheckSettings::default()).await;
    let outcome = run("frontend.roundtrip", &ctx).await;
    assert_eq!(outcome.status(), Status::Pass, "{outcome:?}");
    // 3 sessions x (1 log + 1 exception + 5 vitals + 1 event).
    assert_eq!(sim.log_counts().entries_stored, 24);
    let found = &outcome.evidence["lines_found"];
    for (_, kinds) in found.as_object().unwrap() {
        assert_eq!(kinds["measurement"], 5, "{found}");
    }
}

#[tokio::test]
async fn metrics_roundtrip_fails_when_mimir_keeps_no_exemplars() {
    assert_row(ROWS[10].0, ROWS[10].1, ROWS[10].2).await;
}

#[tokio::test]
async fn rejected_ingest_is_a_failure_not_a_delivery() {
    let (_sim, ctx) = sim(&["reject_ratio=1"], CheckSettings::default()).await;
    for id in [
        "traces.roundtrip",
        "logs.roundtrip",
        "metrics.roundtrip",
        "profiles.roundtrip",
    ] {
        let outcome = run(id, &ctx).await;
        assert_eq!(outcome.verdict.reason(), Some("rejected"), "{id}: {outcome:?}");
        let error = outcome.evidence["send_error"].as_str().unwrap();
        assert!(error.contains("429") || error.contains("503"), "{id}: {error}");
    }
}

#[tokio::test]
async fn dropped_faro_payloads_are_missing_lines() {
    let (_sim, ctx) = sim(&["drop_faro=1"], CheckSettings::default()).await;
    let outcome = run("frontend.roundtrip", &ctx).await;
    assert_eq!(outcome.verdict.reason(), Some("missing_lines"), "{outcome:?}");
}

#[tokio::test]
async fn trace_across_tiers_fails_when_the_backend_ignores_traceparent() {
    assert_row(ROWS[11].0, ROWS[11].1, ROWS[11].2).await;
}

#[tokio::test]
async fn exemplar_to_trace_fails_and_names_both_labels() {
    // Exemplars under `traceID` (Tempo's metrics generator's label) link
    // too: the datasource has a destination for each.
    let (_sim, ctx) = sim(&["exemplar_label=traceID"], CheckSettings::default()).await;
    let outcome = run("correlation.exemplar_to_trace", &ctx).await;
    assert_eq!(outcome.status(), Status::Pass, "{outcome:?}");
    assert_row(ROWS[12].0, ROWS[12].1, ROWS[12].2).await;
    let (_sim, ctx) = sim(&["exemplar_label=traceId"], CheckSettings::default()).await;
    let outcome = run("correlation.exemplar_to_trace", &ctx).await;
    assert_eq!(
        outcome.summary, "exemplars carry `traceId`, the Mimir datasource looks for `trace_id` or `traceID`",
        "{outcome:?}"
    );
}

#[tokio::test]
async fn trace_to_logs_fails_when_logs_carry_no_trace_id() {
    assert_row(ROWS[13].0, ROWS[13].1, ROWS[13].2).await;
}

#[tokio::test]
async fn trace_to_profile_fails_when_profiles_carry_no_span_id() {
    assert_row(ROWS[14].0, ROWS[14].1, ROWS[14].2).await;
}

#[tokio::test]
async fn a_ratio_sampler_breaks_some_sessions_and_the_ratio_is_reported() {
    let settings = CheckSettings {
        correlation_sessions: 12,
        ..CheckSettings::default()
    };
    let (_sim, ctx) = sim(&["sampler_ratio=0.5"], settings).await;
    let outcome = run("correlation.trace_across_tiers", &ctx).await;
    assert_eq!(outcome.verdict.reason(), Some("backend_not_in_trace"), "{outcome:?}");
    let ratio = outcome.evidence["stitched_ratio"].as_f64().unwrap();
    assert!(ratio > 0.0 && ratio < 1.0, "{ratio}");
    assert!(outcome.summary.contains("/12 sessions stitched"), "{}", outcome.summary);
}

#[tokio::test]
async fn half_dropped_log_lines_are_named() {
    let (sim, ctx) = sim(&["drop_logs=0.5"], CheckSettings::default()).await;
    let outcome = run("logs.roundtrip", &ctx).await;
    assert_eq!(outcome.verdict.reason(), Some("not_found"), "{outcome:?}");
    let counts = sim.log_counts();
    assert_eq!(counts.entries_received, 20);
    let lookup = &outcome.evidence["lookup"];
    assert_eq!(lookup["missing_total"].as_u64().unwrap(), 20 - counts.entries_stored);
    assert!(
        lookup["missing"][0]["id"].as_str().unwrap().contains("seq="),
        "{lookup}"
    );
}

#[tokio::test]
async fn memory_headroom_fails_for_a_container_near_its_limit() {
    assert_row(ROWS[15].0, ROWS[15].1, ROWS[15].2).await;
    let (_stack, ctx) = sim(&[ROWS[15].1], CheckSettings::default()).await;
    let outcome = run(ROWS[15].0, &ctx).await;
    assert!(outcome.summary.contains("sim-ingest 5 %"), "{}", outcome.summary);
    assert_eq!(outcome.evidence["source"], "cadvisor", "{}", outcome.evidence);
}

#[test]
fn every_check_has_a_fault_row() {
    let covered: HashSet<&str> = ROWS.iter().map(|r| r.0).collect();
    for spec in CATALOG {
        assert!(
            covered.contains(spec.id),
            "{} has no fault row in tests/integration/faults.rs",
            spec.id
        );
    }
}

#[tokio::test]
async fn issue_2_half_dropped_traces_are_listed_by_id() {
    let settings = CheckSettings {
        traces: 40,
        trace_lookup: TraceLookup::ById,
        ..CheckSettings::default()
    };
    let (_sim, ctx) = sim(&["drop_traces=0.5"], settings).await;
    let outcome = run("traces.roundtrip", &ctx).await;
    assert_eq!(outcome.verdict.reason(), Some("not_found_by_id"), "{outcome:?}");

    // The fault drops by trace id, so the missing ids are known in advance.
    let dropped: Vec<u64> = (0..40)
        .filter(|&slot| pillars_sim::faults::drops(0.5, &TraceId::from_seed(SEED, slot).0))
        .collect();
    let by_id = &outcome.evidence["by_id"];
    assert_eq!(by_id["missing_total"], dropped.len(), "{by_id}");
    assert_eq!(by_id["found"], 40 - dropped.len(), "{by_id}");
    let listed = by_id["missing"].as_array().unwrap();
    assert_eq!(listed.len(), dropped.len().min(10));
    for entry in listed {
        let slot = entry["slot"].as_u64().unwrap();
        assert!(dropped.contains(&slot), "slot {slot} listed but not dropped");
        assert_eq!(entry["id"], TraceId::from_seed(SEED, slot).to_string());
    }
    assert!(
        outcome.summary.contains(&format!("{} of 40", dropped.len())),
        "{}",
        outcome.summary
    );
}

#[tokio::test]
async fn search_that_never_finds_fails_with_its_own_reason() {
    // By id works at once; search needs the trace idle for longer than the
    // target waits, so only the search lookup misses.
    let stack = pillars::stack::sim::SimStack::start(pillars::stack::sim::SimOptions {
        search_idle: std::time::Duration::from_secs(60),
        ..Default::default()
    })
    .await
    .unwrap();
    let target = stack.target(&pillars::target::Env::default()).unwrap();
    let ctx = pillars::checks::CheckCtx::new(
        std::sync::Arc::new(target),
        "search".into(),
        SEED,
        CheckSettings {
            traces: 5,
            ..CheckSettings::default()
        },
    );
    let outcome = run("traces.roundtrip", &ctx).await;
    assert_eq!(outcome.verdict.reason(), Some("not_found_by_search"), "{outcome:?}");
    assert_eq!(outcome.evidence["by_id"]["found"], 5);
}

#[tokio::test]
async fn sent_spans_match_what_the_stack_received() {
    let settings = CheckSettings {
        traces: 120,
        spans_per_trace: 4,
        trace_lookup: TraceLookup::ById,
        ..CheckSettings::default()
    };
    let (sim, ctx) = sim(&[], settings).await;
    let outcome = run("traces.roundtrip", &ctx).await;
    assert_eq!(outcome.status(), Status::Pass, "{outcome:?}");
    let counts = sim.trace_counts();
    assert_eq!(counts.spans_received, 480);
    assert_eq!(counts.spans_stored, 480);
    // 120 traces in batches of 50.
    assert_eq!(counts.export_requests, 3);
    assert_eq!(outcome.latency["traces.by_id"].count, 120);
}

#[tokio::test]
async fn visibility_delay_shows_in_the_ingest_latency() {
    let settings = CheckSettings {
        traces: 5,
        trace_lookup: TraceLookup::ById,
        ..CheckSettings::default()
    };
    let (_sim, ctx) = sim(&["delay_ms=1500"], settings).await;
    let outcome = run("traces.roundtrip", &ctx).await;
    assert_eq!(outcome.status(), Status::Pass, "{outcome:?}");
    let latency = &outcome.latency["traces.by_id"];
    assert!(latency.min >= 1500, "{latency:?}");
    assert!(latency.max < 5000, "{latency:?}");
}

/// Every round trip reads through Grafana's datasource proxy when the
/// target names only Grafana, as the AWS deploy does.
#[tokio::test]
async fn roundtrips_read_through_grafanas_datasource_proxy() {
    use pillars::target::{Env, ReadPath, Target, TargetKind};
    let (sim, _) = sim(&[], CheckSettings::default()).await;
    let toml = crate::common::through_grafana(&sim);
    let target = Target::from_toml(&toml, TargetKind::File("proxy.toml".into()), &Env::default()).unwrap();
    assert_eq!(target.reads.len(), 4);
    assert!(
        target
            .reads
            .values()
            .all(|r| matches!(r.path, ReadPath::GrafanaProxy { .. }))
    );
    let ctx = pillars::checks::CheckCtx::new(
        std::sync::Arc::new(target),
        "proxy".into(),
        SEED,
        CheckSettings::default(),
    );
    for spec in CATALOG {
        let outcome = spec.run(&ctx).await;
        assert_eq!(
            outcome.status(),
            Status::Pass,
            "{} through Grafana: {outcome:?}",
            spec.id
        );
    }
}

/// A replayed seed writes the same trace ids again: the earlier run's
/// traces must not make the replay pass when this run's data is lost.
#[tokio::test]
async fn a_replayed_seed_does_not_pass_on_the_earlier_runs_data() {
    use pillars::checks::CheckCtx;
    let settings = CheckSettings {
        traces: 5,
        trace_lookup: TraceLookup::ById,
        ..CheckSettings::default()
    };
    let (sim, first) = sim(&[], settings.clone()).await;
    assert_eq!(run("traces.roundtrip", &first).await.status(), Status::Pass);
    sim.set_faults(pillars::stack::sim::Faults::parse(["drop_traces=1"]).unwrap());
    let replay = CheckCtx::new(first.target.clone(), "replay-run".into(), SEED, settings);
    let outcome = run("traces.roundtrip", &replay).await;
    assert_eq!(outcome.verdict.reason(), Some("not_found_by_id"), "{outcome:?}");
}
