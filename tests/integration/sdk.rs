//! The `sdk_traces` kind: spans through the OpenTelemetry SDK and its
//! OTLP/gRPC exporter reach the reference stack's collector and are read
//! back; every gRPC fault, a partial success and a full SDK queue are
//! counted by reason, and every span made is either accepted or refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use pillars::load::rate::RatePlan;
use pillars::load::scenario::{Scenario, TrafficKind};
use pillars::load::sdk::{self, SERVICE_NAME, SPANS_PER_TRACE, Settings};
use pillars::load::tally::{self, KindStats};
use pillars::query::tempo::TempoClient;
use pillars::target::{Compression, Store};
use url::Url;

use crate::common::{SEED, dead_port, sim};

fn settings(endpoint: Url) -> Settings {
    Settings {
        endpoint,
        headers: Vec::new(),
        compression: Compression::Gzip,
        timeout: Duration::from_secs(3),
        seed: SEED,
        run_id: "sdk".into(),
        cardinality: 3,
    }
}

/// Runs the kind along `plan` to its end: its stats, after checking that
/// every span made was either accepted or refused.
async fn run(settings: Settings, plan: &RatePlan) -> KindStats {
    let (rec, live, collector) = tally::recorder();
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    sdk::run(settings, plan, stopped, rec).await.unwrap();
    let stats = collector.await.unwrap();
    let counts = live.counts();
    assert_eq!(counts.offered, plan.total(), "{counts:?}");
    assert_eq!(counts.offered, counts.accepted + counts.refused, "{counts:?}");
    assert_eq!(
        (counts.accepted, counts.refused),
        (stats.units_accepted, stats.units_refused)
    );
    stats
}

fn grpc_endpoint(stack: &pillars::stack::sim::SimStack) -> Url {
    use pillars::stack::sim::SimTarget;
    let target = stack.target(&Default::default()).unwrap();
    target.otlp_grpc.of(pillars::target::Signal::Traces).clone().unwrap()
}

#[tokio::test]
async fn sdk_spans_reach_the_stack_and_read_back() {
    let (stack, ctx) = sim(&[], Default::default()).await;
    let plan = RatePlan::constant(200.0, Duration::from_secs(1));
    let stats = run(settings(grpc_endpoint(&stack)), &plan).await;
    assert_eq!((stats.units_refused, stats.units_accepted), (0, 200), "{stats:?}");
    assert_eq!(stack.trace_counts().spans_received, 200);
    assert_eq!(stack.grpc_exports(), stats.batches, "one sample per export");
    let tempo = TempoClient::new(
        ctx.http.clone(),
        ctx.target.read(Store::Tempo).unwrap(),
        Duration::from_secs(5),
    );
    let first = tempo
        .trace_v2(sdk::trace_id(sdk::seed_of(SEED), 0), None)
        .await
        .unwrap()
        .expect("the first trace the SDK made");
    assert_eq!(first.spans.len() as u64, SPANS_PER_TRACE);
    let root = first.spans.iter().find(|s| s.parent_span_id.is_none()).unwrap();
    assert_eq!(root.service_name.as_deref(), Some(SERVICE_NAME));
    assert_eq!(root.name, "GET /api/items/{id}");
    assert_eq!(
        root.resource.get("telemetry.sdk.language").map(String::as_str),
        Some("rust")
    );
    assert_eq!(root.resource.get("pillars.run").map(String::as_str), Some("sdk"));
}

#[tokio::test]
async fn grpc_faults_are_refused_by_reason() {
    for (fault, reason) in [
        ("grpc_unavailable", "unavailable"),
        ("grpc_max_recv_msg_bytes=64", "resource_exhausted"),
    ] {
        let (stack, _) = sim(&[fault], Default::default()).await;
        let stats = run(
            settings(grpc_endpoint(&stack)),
            &RatePlan::constant(100.0, Duration::from_secs(1)),
        )
        .await;
        assert_eq!(
            (stats.units_accepted, stats.units_refused),
            (0, 100),
            "{fault}: {stats:?}"
        );
        assert!(stats.refused.get(reason).is_some_and(|n| *n > 0), "{fault}: {stats:?}");
        assert_eq!(stack.trace_counts().spans_received, 0, "{fault}");
    }
    let dead = Url::parse(&format!("http://127.0.0.1:{}", dead_port())).unwrap();
    let stats = run(settings(dead), &RatePlan::constant(50.0, Duration::from_secs(1))).await;
    assert_eq!(stats.units_refused, 50, "{stats:?}");
    assert!(stats.refused.contains_key("unreachable"), "{stats:?}");
}

/// A collector that takes `delay` over each export and rejects `reject`
/// spans of it.
#[derive(Clone)]
struct Collector {
    delay: Duration,
    reject: i64,
    spans: Arc<AtomicU64>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        tokio::time::sleep(self.delay).await;
        let spans: usize = request
            .get_ref()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        self.spans.fetch_add(spans as u64, Ordering::Relaxed);
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: (self.reject > 0).then(|| ExportTracePartialSuccess {
                rejected_spans: self.reject,
                error_message: "over the per-tenant limit".into(),
            }),
        }))
    }
}

async fn serve(collector: Collector) -> Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(tonic::transport::Server::builder().serve_with_incoming(
        // The SDK sends gzip, as the stack's collector accepts.
        TraceServiceServer::new(collector).accept_compressed(tonic::codec::CompressionEncoding::Gzip),
        tonic::transport::server::TcpIncoming::from(listener),
    ));
    Url::parse(&format!("http://{addr}")).unwrap()
}

#[tokio::test]
async fn a_partial_success_refuses_what_it_rejected() {
    let spans = Arc::new(AtomicU64::new(0));
    let url = serve(Collector {
        delay: Duration::ZERO,
        reject: 2,
        spans: spans.clone(),
    })
    .await;
    let stats = run(settings(url), &RatePlan::constant(100.0, Duration::from_secs(1))).await;
    let exports = stats.refused["partial_success"];
    assert_eq!(exports, stats.batches, "{stats:?}");
    assert_eq!(stats.units_refused, 2 * exports, "{stats:?}");
    assert_eq!(
        stats.units_accepted + stats.units_refused,
        spans.load(Ordering::Relaxed)
    );
}

#[tokio::test]
async fn spans_the_sdk_queue_dropped_are_refused_as_such() {
    // Each export takes a second; 5,000 spans in a second overflow the
    // processor's 2,048-span queue.
    let spans = Arc::new(AtomicU64::new(0));
    let url = serve(Collector {
        delay: Duration::from_secs(1),
        reject: 0,
        spans: spans.clone(),
    })
    .await;
    let stats = run(settings(url), &RatePlan::constant(5_000.0, Duration::from_secs(1))).await;
    let dropped = stats.refused.get("sdk_queue_full").copied().unwrap_or(0);
    assert_eq!(dropped, 1, "one sample for the queue's drops: {stats:?}");
    assert!(stats.units_refused > 0, "{stats:?}");
    assert_eq!(stats.units_accepted, spans.load(Ordering::Relaxed), "{stats:?}");
}

#[tokio::test]
async fn a_scenario_runs_the_sdk_kind_and_refuses_http_for_it() {
    let scenario = Scenario::from_toml(
        "name = \"s\"\nduration = \"1s\"\n[traffic.sdk_traces]\nrate = 50\n",
        "s.toml",
    )
    .unwrap();
    let (stack, ctx) = sim(&[], Default::default()).await;
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let running = pillars::load::traffic::spawn(
        TrafficKind::SdkTraces,
        &scenario.traffic[&TrafficKind::SdkTraces],
        RatePlan::constant(50.0, Duration::from_secs(1)),
        &ctx,
        stopped,
    )
    .expect("the sim names an OTLP/gRPC endpoint");
    let stats = running.done.await.unwrap();
    assert_eq!((stats.units_accepted, &stats.failed), (50, &None), "{stats:?}");
    assert_eq!(stack.trace_counts().spans_received, 50);
    let bad = Scenario::from_toml(
        "name = \"s\"\nduration = \"1s\"\n[traffic.sdk_traces]\nrate = 5\ntransport = \"http\"\n",
        "s.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        bad.contains("traffic.sdk_traces.transport") && bad.contains("gRPC"),
        "{bad}"
    );
}
