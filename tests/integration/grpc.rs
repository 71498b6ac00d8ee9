//! OTLP over gRPC against the reference stack: every OTLP round trip passes
//! over gRPC and over both transports, each reported; each gRPC fault fails
//! the checks it should, for its reason, while HTTP keeps passing; a dead
//! 4317 is named with its port and transport; the sim's receiver takes
//! what the generated OpenTelemetry client sends and refuses what the
//! collector refuses.

use std::sync::Arc;

use pillars::checks::{CheckCtx, CheckSettings, Status, TransportChoice};
use pillars::stack::sim::SimTarget;
use pillars::target::{Env, Target, TargetKind};

use crate::common::{SEED, dead_port, run, sim};

const OTLP_CHECKS: [&str; 3] = ["traces.roundtrip", "logs.roundtrip", "metrics.roundtrip"];

fn over(transport: TransportChoice) -> CheckSettings {
    CheckSettings {
        transport,
        ..CheckSettings::default()
    }
}

/// (check id, sim fault, expected reason): the gRPC faults, over gRPC.
pub const ROWS: &[(&str, &str, &str)] = &[
    ("stack.ready", "grpc_unavailable", "not_ready"),
    ("traces.roundtrip", "grpc_unavailable", "rejected"),
    ("logs.roundtrip", "grpc_unavailable", "rejected"),
    ("metrics.roundtrip", "grpc_unavailable", "rejected"),
    ("traces.roundtrip", "grpc_max_recv_msg_bytes=1024", "rejected"),
    ("logs.roundtrip", "grpc_max_recv_msg_bytes=1024", "rejected"),
    ("metrics.roundtrip", "grpc_max_recv_msg_bytes=1024", "rejected"),
];

/// Passes over gRPC without the fault; fails for `reason` under it, over
/// gRPC, naming the transport and port; still passes over HTTP under it.
async fn assert_grpc_row(id: &str, fault: &str, reason: &str) {
    let (healthy, ctx) = sim(&[], over(TransportChoice::Grpc)).await;
    let outcome = run(id, &ctx).await;
    assert_eq!(
        outcome.status(),
        Status::Pass,
        "{id} over gRPC without faults: {outcome:?}"
    );
    if id != "stack.ready" {
        assert!(healthy.grpc_exports() > 0, "{id} sent nothing over gRPC");
        assert_eq!(outcome.evidence["transport"], "grpc", "{}", outcome.evidence);
    }

    let (broken, ctx) = sim(&[fault], over(TransportChoice::Grpc)).await;
    let outcome = run(id, &ctx).await;
    assert_eq!(outcome.status(), Status::Fail, "{id} under {fault}: {outcome:?}");
    assert_eq!(
        outcome.verdict.reason(),
        Some(reason),
        "{id} under {fault}: {outcome:?}"
    );
    let port = grpc_port(&broken);
    assert!(
        outcome.summary.contains("gRPC") && outcome.summary.contains(&format!("port {port}")),
        "{id} under {fault} names neither transport nor port: {}",
        outcome.summary
    );

    if id != "stack.ready" {
        let (_still, ctx) = sim(&[fault], over(TransportChoice::Http)).await;
        let outcome = run(id, &ctx).await;
        assert_eq!(
            outcome.status(),
            Status::Pass,
            "{id} over HTTP under {fault}: {outcome:?}"
        );
    }
}

fn grpc_port(sim: &pillars::stack::sim::SimStack) -> u16 {
    let target = sim.target(&Env::default()).unwrap();
    target
        .otlp_grpc
        .of(pillars::target::Signal::Traces)
        .as_ref()
        .unwrap()
        .port()
        .unwrap()
}

#[tokio::test]
async fn stack_ready_fails_when_the_grpc_receiver_is_unavailable() {
    assert_grpc_row(ROWS[0].0, ROWS[0].1, ROWS[0].2).await;
}

#[tokio::test]
async fn traces_roundtrip_over_grpc_fails_when_the_receiver_is_unavailable() {
    assert_grpc_row(ROWS[1].0, ROWS[1].1, ROWS[1].2).await;
}

#[tokio::test]
async fn logs_roundtrip_over_grpc_fails_when_the_receiver_is_unavailable() {
    assert_grpc_row(ROWS[2].0, ROWS[2].1, ROWS[2].2).await;
}

#[tokio::test]
async fn metrics_roundtrip_over_grpc_fails_when_the_receiver_is_unavailable() {
    assert_grpc_row(ROWS[3].0, ROWS[3].1, ROWS[3].2).await;
}

#[tokio::test]
async fn traces_roundtrip_over_grpc_fails_over_the_message_size_limit() {
    assert_grpc_row(ROWS[4].0, ROWS[4].1, ROWS[4].2).await;
    let (_sim, ctx) = sim(&[ROWS[4].1], over(TransportChoice::Grpc)).await;
    let outcome = run(ROWS[4].0, &ctx).await;
    let error = outcome.evidence["send_error"].as_str().unwrap();
    assert!(
        error.contains("RESOURCE_EXHAUSTED") && error.contains("larger than max"),
        "{error}"
    );
}

#[tokio::test]
async fn logs_roundtrip_over_grpc_fails_over_the_message_size_limit() {
    assert_grpc_row(ROWS[5].0, ROWS[5].1, ROWS[5].2).await;
}

#[tokio::test]
async fn metrics_roundtrip_over_grpc_fails_over_the_message_size_limit() {
    assert_grpc_row(ROWS[6].0, ROWS[6].1, ROWS[6].2).await;
}

#[tokio::test]
async fn both_transports_are_reported_each_and_a_broken_grpc_fails_the_check() {
    let (stack, ctx) = sim(&[], over(TransportChoice::Both)).await;
    for id in OTLP_CHECKS {
        let outcome = run(id, &ctx).await;
        assert_eq!(outcome.status(), Status::Pass, "{id} over both: {outcome:?}");
        let legs = outcome.evidence["transports"].as_array().unwrap();
        let transports: Vec<&str> = legs.iter().map(|l| l["transport"].as_str().unwrap()).collect();
        assert_eq!(transports, ["http", "grpc"], "{id}");
        assert!(
            outcome.summary.contains("OTLP/HTTP") && outcome.summary.contains("OTLP/gRPC"),
            "{}",
            outcome.summary
        );
    }
    assert!(stack.grpc_exports() >= 3);
    // The report still shows the query and the Explore link, the first
    // transport's.
    let outcome = run("logs.roundtrip", &ctx).await;
    let report = pillars::report::CheckReport::new(pillars::checks::find("logs.roundtrip").unwrap(), outcome);
    assert_eq!(report.queries().first().map(|q| q.0), Some("logql"));
    assert!(report.explore().is_some());

    let (broken, ctx) = sim(&["grpc_unavailable"], over(TransportChoice::Both)).await;
    let port = grpc_port(&broken);
    let outcome = run("traces.roundtrip", &ctx).await;
    assert_eq!(outcome.verdict.reason(), Some("rejected"), "{outcome:?}");
    let legs = outcome.evidence["transports"].as_array().unwrap();
    assert_eq!(
        (legs[0]["status"].as_str(), legs[1]["status"].as_str()),
        (Some("pass"), Some("fail"))
    );
    assert!(outcome.summary.contains(&format!("port {port}")), "{}", outcome.summary);
    // Only the first transport's round trip feeds ingest.latency.
    let latency = run("ingest.latency", &ctx).await;
    assert_eq!(latency.status(), Status::Pass, "{latency:?}");
}

#[tokio::test]
async fn a_dead_grpc_port_is_an_error_that_names_port_and_transport() {
    let (sim, _) = sim(&[], CheckSettings::default()).await;
    let port = dead_port();
    let toml = sim.target_toml().replace(
        &format!("otlp_grpc = \"http://127.0.0.1:{}\"", grpc_port(&sim)),
        &format!("otlp_grpc = \"http://127.0.0.1:{port}\""),
    );
    let target = Target::from_toml(&toml, TargetKind::File("dead-grpc.toml".into()), &Env::default()).unwrap();
    let ctx = CheckCtx::new(Arc::new(target), "dead-grpc".into(), SEED, over(TransportChoice::Both));
    let outcome = run("traces.roundtrip", &ctx).await;
    assert_eq!(outcome.status(), Status::Error, "{outcome:?}");
    assert_eq!(outcome.verdict.reason(), Some("unreachable"), "{outcome:?}");
    for word in ["OTLP/gRPC", &format!("port {port}")] {
        assert!(outcome.summary.contains(word), "{word}: {}", outcome.summary);
    }
    let ready = run("stack.ready", &ctx).await;
    assert_eq!(ready.verdict.reason(), Some("unreachable"), "{ready:?}");
    assert!(
        ready.summary.contains(&format!("OTLP/gRPC, port {port}")),
        "{}",
        ready.summary
    );
}

/// The sim's receiver is written from the `.proto`s, not from pillars'
/// client: the client the OpenTelemetry crates generate must get through.
#[tokio::test]
async fn the_generated_client_exports_to_the_sims_receiver() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    let (sim, _) = sim(&[], CheckSettings::default()).await;
    let url = format!("http://127.0.0.1:{}", grpc_port(&sim));
    let mut client = TraceServiceClient::connect(url)
        .await
        .unwrap()
        .send_compressed(tonic::codec::CompressionEncoding::Gzip);
    let span = Span {
        trace_id: vec![7; 16],
        span_id: vec![9; 8],
        name: "generated".into(),
        start_time_unix_nano: 1,
        end_time_unix_nano: 2,
        ..Default::default()
    };
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let response = client.export(request.clone()).await.unwrap().into_inner();
    assert_eq!(response.partial_success, Some(Default::default()));
    assert_eq!(sim.trace_counts().spans_received, 1);

    // Over the collector's default 4 MiB: refused as grpc-go refuses it.
    let big = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    name: "x".repeat(5 * 1024 * 1024),
                    ..request.resource_spans[0].scope_spans[0].spans[0].clone()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let mut plain = TraceServiceClient::connect(format!("http://127.0.0.1:{}", grpc_port(&sim)))
        .await
        .unwrap();
    let status = plain.export(big).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().starts_with("grpc: received message larger than max (")
            && status.message().ends_with(" vs. 4194304)"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn the_sim_target_names_its_grpc_endpoint() {
    let (sim, ctx) = sim(&[], CheckSettings::default()).await;
    assert!(
        sim.target_toml().contains("otlp_grpc = \"http://127.0.0.1:"),
        "{}",
        sim.target_toml()
    );
    // HTTP stays the sim's protocol unless a run asks for gRPC.
    assert_eq!(
        ctx.transports(pillars::target::Signal::Traces),
        [pillars::target::Transport::Http]
    );
    let ready = run("stack.ready", &ctx).await;
    assert_eq!(ready.status(), Status::Pass, "{ready:?}");
    let names: Vec<&str> = ready.evidence["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(names.iter().any(|n| n.starts_with("collector (OTLP/gRPC")), "{names:?}");
}

fn emitter_to(url: &str, timeout: std::time::Duration) -> pillars::emit::otlp::OtlpEmitter {
    use pillars::emit::otlp_grpc::{OtlpGrpcEmitter, channel};
    let url = url::Url::parse(url).unwrap();
    let channel = channel(&url, timeout).unwrap();
    OtlpGrpcEmitter::new(
        channel,
        url,
        pillars::target::Signal::Logs,
        &[],
        pillars::target::Compression::Gzip,
        timeout,
    )
    .into()
}

/// An OK that rejected items is not a delivery: the rejected count and the
/// collector's message come back, as over HTTP.
#[tokio::test]
async fn a_grpc_partial_success_is_rejected_items() {
    use pillars::emit::otlp::{EmitError, encode_partial_success};
    let sink = pillars::bench::sink::GrpcSink::answering(encode_partial_success(3, "too old").into())
        .await
        .unwrap();
    let emitter = emitter_to(&format!("http://{}", sink.addr), std::time::Duration::from_secs(5));
    match emitter.send_encoded(bytes::Bytes::new()).await {
        Err(EmitError::Rejected { rejected, message, .. }) => assert_eq!((rejected, message.as_str()), (3, "too old")),
        other => panic!("expected rejected items, got {other:?}"),
    }
    let ok = pillars::bench::sink::GrpcSink::start().await.unwrap();
    let emitter = emitter_to(&format!("http://{}", ok.addr), std::time::Duration::from_secs(5));
    assert!(emitter.send_encoded(bytes::Bytes::new()).await.is_ok());
}

/// A port that accepts connections and never speaks HTTP/2 cannot hold an
/// export past its deadline.
#[tokio::test]
async fn a_silent_port_is_a_deadline_not_a_hang() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let emitter = emitter_to(&url, std::time::Duration::from_millis(300));
    let started = std::time::Instant::now();
    let err = emitter.send_encoded(bytes::Bytes::new()).await.unwrap_err();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(err.is_unreachable(), "{err}");
    let text = err.to_string();
    assert!(text.contains("did not answer") && text.contains("OTLP/gRPC"), "{text}");
}
