//! Ingest load against the reference stack: units are delivered at the
//! planned rate, and refusals are counted by reason — never retried.

use pillars::stack::sim::SimTarget;
use std::time::Duration;

use pillars::emit::otlp::{OtlpEmitter, OtlpHttpEmitter};
use pillars::load::ingest::{OtlpLoad, run_otlp};
use pillars::load::rate::RatePlan;
use pillars::load::scenario::TrafficKind;
use pillars::load::tally::{self, KindStats};
use pillars::target::{Env, Signal, Transport};

use crate::common::{SEED, sim};

/// Runs one OTLP kind to its end and collects what it did.
async fn otlp(
    kind: TrafficKind,
    plan: &RatePlan,
    cardinality: u32,
    emitter: impl Into<OtlpEmitter>,
    stopped: tokio::sync::watch::Receiver<bool>,
) -> KindStats {
    let (rec, live, collector) = tally::recorder();
    let load = OtlpLoad {
        kind,
        cardinality,
        seed: SEED,
        run_id: "load".into(),
    };
    run_otlp(&load, plan, emitter.into(), stopped, rec).await;
    let stats = collector.await.unwrap();
    let counts = live.counts();
    assert_eq!(counts.offered, counts.accepted + counts.refused, "{counts:?}");
    assert_eq!(
        (counts.accepted, counts.refused),
        (stats.units_accepted, stats.units_refused)
    );
    stats
}

#[tokio::test]
async fn ingest_load_delivers_the_planned_units() {
    let (stack, _) = sim(&[], Default::default()).await;
    let target = stack.target(&Env::default()).unwrap();
    let emitter = OtlpHttpEmitter::new(
        pillars::http::client(Duration::from_secs(5)),
        target.otlp(Signal::Traces).unwrap().clone(),
        Duration::from_secs(5),
    );
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let plan = RatePlan::constant(400.0, Duration::from_secs(1));
    let stats = otlp(TrafficKind::OtlpTraces, &plan, 5, emitter, stopped).await;
    assert_eq!(stats.units_refused, 0, "{stats:?}");
    assert!((380..=420).contains(&stats.units_accepted), "{stats:?}");
    assert_eq!(stack.trace_counts().spans_received, stats.units_accepted);
    assert_eq!(stats.latency.count(), stats.batches);
}

#[tokio::test]
async fn issue_6_rejections_are_counted_and_not_retried() {
    let (stack, _) = sim(&["reject_ratio=1"], Default::default()).await;
    let target = stack.target(&Env::default()).unwrap();
    let emitter = OtlpHttpEmitter::new(
        pillars::http::client(Duration::from_secs(5)),
        target.otlp(Signal::Logs).unwrap().clone(),
        Duration::from_secs(5),
    );
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let plan = RatePlan::constant(200.0, Duration::from_secs(1));
    let stats = otlp(TrafficKind::OtlpLogs, &plan, 5, emitter, stopped).await;
    assert_eq!(stats.units_accepted, 0, "{stats:?}");
    assert_eq!(stats.error_ratio(), 1.0);
    let refused: u64 = stats.refused.values().sum();
    assert_eq!(refused, stats.batches);
    assert!(
        stats.refused["rate_limited"] > 0 && stats.refused["server_error"] > 0,
        "{stats:?}"
    );
    // One request per batch reached the stack: no retries.
    assert_eq!(stack.refused_candidates(), stats.batches);
    assert_eq!(stack.log_counts().entries_received, 0);
}

/// The gRPC emitter of `signal` on the sim's receiver.
fn grpc_emitter(stack: &pillars::stack::sim::SimStack, signal: Signal) -> OtlpEmitter {
    let target = stack.target(&Env::default()).unwrap();
    OtlpEmitter::for_target(
        &target,
        &pillars::http::client(Duration::from_secs(5)),
        signal,
        Transport::Grpc,
    )
    .unwrap()
}

#[tokio::test]
async fn ingest_load_over_grpc_delivers_the_planned_units() {
    let (stack, _) = sim(&[], Default::default()).await;
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let plan = RatePlan::constant(400.0, Duration::from_secs(1));
    let emitter = grpc_emitter(&stack, Signal::Traces);
    let stats = otlp(TrafficKind::OtlpTraces, &plan, 5, emitter, stopped).await;
    assert_eq!(stats.units_refused, 0, "{stats:?}");
    assert!((380..=420).contains(&stats.units_accepted), "{stats:?}");
    assert_eq!(stack.trace_counts().spans_received, stats.units_accepted);
    assert_eq!(stack.grpc_exports(), stats.batches);
}

#[tokio::test]
async fn grpc_refusals_are_counted_by_status_and_not_retried() {
    for (fault, reason) in [
        ("grpc_unavailable", "unavailable"),
        ("grpc_max_recv_msg_bytes=64", "resource_exhausted"),
        ("reject_ratio=1", "resource_exhausted"),
    ] {
        let (stack, _) = sim(&[fault], Default::default()).await;
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        let plan = RatePlan::constant(200.0, Duration::from_secs(1));
        let stats = otlp(
            TrafficKind::OtlpLogs,
            &plan,
            5,
            grpc_emitter(&stack, Signal::Logs),
            stopped,
        )
        .await;
        assert_eq!(stats.units_accepted, 0, "{fault}: {stats:?}");
        assert_eq!(stats.refused.values().sum::<u64>(), stats.batches, "{fault}: {stats:?}");
        assert!(stats.refused.get(reason).is_some_and(|n| *n > 0), "{fault}: {stats:?}");
        assert_eq!(stack.log_counts().entries_received, 0, "{fault}");
    }
}

#[tokio::test]
async fn a_scenario_sends_a_kind_over_grpc() {
    use pillars::load::scenario::Scenario;
    let scenario = Scenario::from_toml(
        "name = \"g\"\nduration = \"1s\"\n[traffic.otlp_metrics]\nrate = 50\ntransport = \"grpc\"\n",
        "g.toml",
    )
    .unwrap();
    let traffic = &scenario.traffic[&TrafficKind::OtlpMetrics];
    assert_eq!(traffic.transport, Some(Transport::Grpc));
    let (stack, ctx) = sim(&[], Default::default()).await;
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let running = pillars::load::traffic::spawn(
        TrafficKind::OtlpMetrics,
        traffic,
        RatePlan::constant(50.0, Duration::from_secs(1)),
        &ctx,
        stopped,
    )
    .unwrap();
    let stats = running.done.await.unwrap();
    assert!(stats.units_accepted > 0, "{stats:?}");
    assert_eq!(stack.grpc_exports(), stats.batches);
    let bad = Scenario::from_toml(
        "name = \"g\"\nduration = \"1s\"\n[traffic.profiles]\nrate = 5\ntransport = \"grpc\"\n",
        "g.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(bad.contains("traffic.profiles.transport"), "{bad}");
}

#[tokio::test]
async fn a_stop_signal_ends_the_load_early() {
    let (stack, _) = sim(&[], Default::default()).await;
    let target = stack.target(&Env::default()).unwrap();
    let emitter = OtlpHttpEmitter::new(
        pillars::http::client(Duration::from_secs(5)),
        target.otlp(Signal::Metrics).unwrap().clone(),
        Duration::from_secs(5),
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let plan = RatePlan::constant(100.0, Duration::from_secs(60));
    let started = std::time::Instant::now();
    let load = tokio::spawn(async move { otlp(TrafficKind::OtlpMetrics, &plan, 3, emitter, stopped).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.send(true).unwrap();
    let stats = load.await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(stats.units_accepted > 0 && stats.units_accepted < 100, "{stats:?}");
}

/// cAdvisor's series, as Mimir holds them, become per-container headroom.
#[tokio::test]
async fn memory_headroom_from_cadvisor_series_in_mimir() {
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::metrics::v1::{
        Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
    };
    use pillars::emit::synthetic::string_attr;

    let (stack, ctx) = sim(&[], Default::default()).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let gauge = |name: &str, points: &[(&str, f64)]| Metric {
        name: name.into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: points
                .iter()
                .map(|(container, v)| NumberDataPoint {
                    attributes: vec![string_attr("name", container)],
                    time_unix_nano: now,
                    value: Some(number_data_point::Value::AsDouble(*v)),
                    ..Default::default()
                })
                .collect(),
        })),
        ..Default::default()
    };
    let request = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    gauge(
                        "container_memory_working_set_bytes",
                        &[("loki", 300e6), ("tempo", 100e6)],
                    ),
                    gauge("container_spec_memory_limit_bytes", &[("loki", 400e6), ("tempo", 0.0)]),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let target = stack.target(&pillars::target::Env::default()).unwrap();
    let emitter = OtlpHttpEmitter::new(
        ctx.http.clone(),
        target.otlp(Signal::Metrics).unwrap().clone(),
        Duration::from_secs(5),
    );
    emitter.send(&request).await.unwrap();
    let samples: Vec<_> = pillars::measure::memory::from_cadvisor(&ctx.mimir().unwrap(), now as f64 / 1e9 + 1.0)
        .await
        .unwrap()
        .into_iter()
        // The reference stack's own simulated container is there too.
        .filter(|s| s.container != pillars::stack::sim::cadvisor::CONTAINER)
        .collect();
    let h = pillars::measure::memory::headroom(&samples, Some(2_700_000_000));
    assert_eq!(samples.len(), 2, "{samples:?}");
    assert_eq!(
        h.min_container,
        Some(pillars::measure::memory::Least {
            container: "loki".to_owned(),
            headroom: 0.25
        })
    );
    assert_eq!(h.total_bytes, 400_000_000);
    // tempo reports no limit (0), so it has no headroom of its own.
    assert!(
        samples
            .iter()
            .any(|s| s.container == "tempo" && s.limit_bytes.is_none())
    );
}

/// A memory gate that breaks at a known rate is bracketed within 10 %.
#[tokio::test]
async fn issue_6_capacity_search_brackets_the_injected_breaking_point() {
    use pillars::load::capacity::search;
    use pillars::load::gate::Broken;
    use pillars::load::progress::Progress;
    use pillars::load::scenario::Scenario;
    use pillars::stack::sim::cadvisor::{BASE_BYTES, LIMIT_BYTES};

    let growth = 65_536.0;
    let (stack, _) = sim(&["memory_growth_per_item=65536"], Default::default()).await;
    let target = std::sync::Arc::new(stack.target(&pillars::target::Env::default()).unwrap());
    let scenario = Scenario::from_toml(
        r#"name = "ramp"
        [traffic.otlp_traces]
        rate = 1000
        [gates]
        min_memory_headroom = 0.15
        [search]
        factor = 1.5
        max_steps = 8
        bisect_steps = 3
        step_duration = "2s""#,
        "ramp.toml",
    )
    .unwrap();
    // Working set = base + growth x rate reaches 85 % of the limit here.
    let expected = (0.85 * LIMIT_BYTES as f64 - BASE_BYTES as f64) / growth;
    let found = search(
        &scenario,
        target.clone(),
        SEED,
        "capacity".into(),
        &Progress::new(false),
        |_| {},
    )
    .await
    .unwrap();
    let report = pillars::report::CapacityReport::of(&scenario, &target, run_of("capacity"), found);
    let good = report.last_good_rate.unwrap();
    let pillars::load::capacity::FirstBad {
        rate: bad,
        broken: gate,
    } = report.first_bad.clone().unwrap();
    assert!(matches!(gate, Broken::MemoryHeadroom { .. }), "{report:?}");
    for rate in [good, bad] {
        assert!(
            (rate - expected).abs() / expected <= 0.10,
            "bracket [{good}, {bad}] vs {expected}: {report:?}"
        );
    }
    assert!(good < bad);
    let slope = report.memory_bytes_per_unit.unwrap();
    assert!((slope - growth).abs() / growth < 0.2, "slope {slope}");
    assert!(report.recommendation.contains("holds"), "{}", report.recommendation);
    let record = assert_follows_the_schema(&report);
    assert_eq!(record["first_bad"]["gate"], "memory_headroom");
    assert!(!record["timeline"]["memory"].as_array().unwrap().is_empty());
}

/// The Faro receiver's rate limit shows up as counted rejections, and the
/// sessions it refused are not sent again.
#[tokio::test]
async fn faro_rate_limits_are_counted_not_retried() {
    use pillars::load::scenario::Scenario;
    use pillars::stack::sim::{FaroSettings, SimOptions, SimStack};

    let stack = SimStack::start(SimOptions {
        faro: FaroSettings {
            rate: 2.0,
            burst: 2.0,
            ..FaroSettings::default()
        },
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let target = std::sync::Arc::new(stack.target(&pillars::target::Env::default()).unwrap());
    let scenario = Scenario::from_toml(
        "name = \"faro\"\nduration = \"1s\"\n[traffic.frontend_sessions]\nrate = 20\n",
        "faro.toml",
    )
    .unwrap();
    let outcome = pillars::load::run::run(
        &scenario,
        target.clone(),
        SEED,
        "faro-load".into(),
        &pillars::load::progress::Progress::new(false),
    )
    .await;
    let report = pillars::report::LoadReport::of(&scenario, &target, run_of("faro-load"), outcome);
    let sessions = &report.kinds[&TrafficKind::FrontendSessions];
    assert_eq!(sessions.offered_units, 20);
    assert!(
        sessions.refused.get("rate_limited").copied().unwrap_or(0) >= 10,
        "{sessions:?}"
    );
    assert_eq!(sessions.accepted_units + sessions.refused_units, 20, "{sessions:?}");
    // Each accepted session's payload wrote its 8 lines once, refused ones
    // none; every session's backend call logged one line; each logs marker
    // wrote one.
    let markers = report.ingest[&pillars::checks::Pillar::Logs].sent;
    assert!(markers >= 1, "{:?}", report.ingest);
    assert_eq!(
        stack.log_counts().entries_received,
        8 * sessions.accepted_units + 20 + markers
    );
}

fn load_schema() -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/load.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `load.json` and `capacity.json` follow `schema/load.schema.json`.
fn assert_follows_the_schema(record: &impl serde::Serialize) -> serde_json::Value {
    let validator = jsonschema::validator_for(&load_schema()).unwrap();
    let value = serde_json::to_value(record).unwrap();
    let errors: Vec<String> = validator.iter_errors(&value).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    value
}

fn run_of(run_id: &str) -> pillars::report::RunOf {
    pillars::report::RunOf {
        seed: SEED,
        run_id: run_id.into(),
        shard: None,
    }
}

fn scenario(toml: &str) -> pillars::load::scenario::Scenario {
    pillars::load::scenario::Scenario::from_toml(toml, "test.toml").unwrap()
}

async fn load(ctx: &pillars::checks::CheckCtx, toml: &str) -> pillars::report::LoadReport {
    let scenario = scenario(toml);
    let outcome = pillars::load::run::run(
        &scenario,
        ctx.target.clone(),
        SEED,
        "load-test".into(),
        &pillars::load::progress::Progress::new(false),
    )
    .await;
    pillars::report::LoadReport::of(&scenario, &ctx.target, run_of("load-test"), outcome)
}

/// Backend requests run as goose users; each carries its own traceparent,
/// which the app continues; markers through every pillar hold the gates.
#[tokio::test]
async fn issue_6_backend_requests_are_goose_users_with_traceparent() {
    use pillars::ids::{Seed, TraceId};

    let (_stack, ctx) = sim(&[], Default::default()).await;
    let report = load(
        &ctx,
        "name = \"api\"\nduration = \"2s\"\n[traffic.backend_requests]\nrate = 10\n",
    )
    .await;
    let api = &report.kinds[&TrafficKind::BackendRequests];
    assert_eq!((api.refused_units, api.failed.as_deref()), (0, None), "{api:?}");
    // goose's throttle starts with a full bucket, so up to one second's
    // worth more than the plan.
    assert!((15..=32).contains(&api.accepted_units), "{api:?}");
    let first = TraceId::from_seed(Seed(SEED.word(0, 0xBAC)), 0);
    let tempo = ctx.tempo().unwrap();
    let mut found = None;
    for _ in 0..30 {
        found = tempo.trace_v2(first, None).await.unwrap();
        if found.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(found.is_some(), "the app did not continue the first request's trace");
    assert_eq!(report.broken, None, "{:?}", report.ingest);
    assert!(
        report.ingest.len() >= 4,
        "markers ran through every pillar: {:?}",
        report.ingest
    );
    let mut record = assert_follows_the_schema(&report);
    record["kinds"]["backend_requests"]["refused"]["timeout"] = 1.into();
    assert!(
        !jsonschema::is_valid(&load_schema(), &record),
        "a refusal reason outside the bounded set passed the schema"
    );
}

/// Markers read back later than the SLO break the latency gate.
#[tokio::test]
async fn issue_6_ingest_latency_over_the_slo_breaks_its_gate() {
    use pillars::load::gate::Broken;

    let (_stack, ctx) = sim(&["delay_ms=1500"], Default::default()).await;
    let report = load(
        &ctx,
        "name = \"slow\"\nduration = \"2s\"\n[traffic.otlp_logs]\nrate = 10\n[gates]\np99_ingest_latency = \"1s\"\n",
    )
    .await;
    assert!(
        matches!(report.broken, Some(Broken::IngestLatency { p99_ms, slo_ms: 1000, .. }) if p99_ms >= 1500),
        "{:?}",
        report.broken
    );
}

/// Markers never read back break the completeness gate.
#[tokio::test]
async fn issue_6_lost_markers_break_the_completeness_gate() {
    use pillars::checks::Pillar;
    use pillars::load::gate::Broken;

    let (_stack, ctx) = sim(&["drop_logs=1"], Default::default()).await;
    let report = load(
        &ctx,
        "name = \"lossy\"\nduration = \"1s\"\n[traffic.otlp_traces]\nrate = 10\n",
    )
    .await;
    assert_eq!(
        report.broken,
        Some(Broken::Completeness {
            pillar: Pillar::Logs,
            ratio: 0.0
        }),
        "{:?}",
        report.ingest
    );
}

/// The app's per-client limit answers 429: goose users count each one as
/// rate limited, and every refused request reached the app once.
#[tokio::test]
async fn issue_6_the_apps_rate_limit_is_counted_not_retried() {
    use pillars::load::gate::Broken;

    let (stack, ctx) = sim(&["app_rate_limit=5"], Default::default()).await;
    let report = load(
        &ctx,
        "name = \"limited\"\nduration = \"2s\"\n[traffic.backend_requests]\nrate = 10\n",
    )
    .await;
    let api = &report.kinds[&TrafficKind::BackendRequests];
    assert_eq!(api.accepted_units, 5, "{api:?}");
    assert_eq!(
        api.refused.get("rate_limited").copied(),
        Some(api.refused_units),
        "{api:?}"
    );
    assert!(api.refused_units >= 10, "{api:?}");
    assert_eq!(
        stack.app_requests(),
        api.offered_units,
        "one request per offer: no retries"
    );
    assert!(
        matches!(
            report.broken,
            Some(Broken::ErrorRatio {
                kind: TrafficKind::BackendRequests,
                ..
            })
        ),
        "{:?}",
        report.broken
    );
}
