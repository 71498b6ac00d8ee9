//! Ingest load against the reference stack: units are delivered at the
//! planned rate, and refusals are counted by reason — never retried.

use std::time::Duration;

use pillars::emit::otlp::OtlpHttpEmitter;
use pillars::load::ingest::run_otlp;
use pillars::load::rate::RatePlan;
use pillars::load::scenario::TrafficKind;
use pillars::target::{Env, Signal};

use crate::common::{SEED, sim};

#[tokio::test]
async fn ingest_load_delivers_the_planned_units() {
    let (stack, _) = sim(&[], Default::default()).await;
    let target = stack.target(&Env::default()).unwrap();
    let emitter = OtlpHttpEmitter::new(
        pillars::query::http::client(Duration::from_secs(5)),
        target.otlp(Signal::Traces).unwrap().clone(),
        Duration::from_secs(5),
    );
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let plan = RatePlan::constant(400.0, Duration::from_secs(1));
    let stats = run_otlp(TrafficKind::OtlpTraces, &plan, 5, emitter, SEED, "load", stopped).await;
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
        pillars::query::http::client(Duration::from_secs(5)),
        target.otlp(Signal::Logs).unwrap().clone(),
        Duration::from_secs(5),
    );
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let plan = RatePlan::constant(200.0, Duration::from_secs(1));
    let stats = run_otlp(TrafficKind::OtlpLogs, &plan, 5, emitter, SEED, "load", stopped).await;
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

#[tokio::test]
async fn a_stop_signal_ends_the_load_early() {
    let (stack, _) = sim(&[], Default::default()).await;
    let target = stack.target(&Env::default()).unwrap();
    let emitter = OtlpHttpEmitter::new(
        pillars::query::http::client(Duration::from_secs(5)),
        target.otlp(Signal::Metrics).unwrap().clone(),
        Duration::from_secs(5),
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let plan = RatePlan::constant(100.0, Duration::from_secs(60));
    let started = std::time::Instant::now();
    let load =
        tokio::spawn(async move { run_otlp(TrafficKind::OtlpMetrics, &plan, 3, emitter, SEED, "load", stopped).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.send(true).unwrap();
    let stats = load.await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(stats.units_accepted > 0 && stats.units_accepted < 100, "{stats:?}");
}
