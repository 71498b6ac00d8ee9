//! The `sdk_traces` kind: spans made with the OpenTelemetry SDK's tracer
//! and sent by its batch span processor through `opentelemetry-otlp`'s
//! gRPC exporter, as an instrumented Rust service sends them: the SDK's
//! batches (512 spans, or every 5 s; `OTEL_BSP_*`), its queue that drops
//! spans when full, its retries with backoff, its resource and its user
//! agent. Not the high-rate path: templates stay faster (`ingest`).
//!
//! Each trace is a server span `GET /api/items/{id}` (its route one of
//! `cardinality`), a database client span and internal spans, five in all;
//! ids come from the run's seed, trace `k` being the `k`-th made, so a run
//! is repeatable and its traces can be looked up.
//!
//! The SDK hands back only "failed" and a text, so the accounting is done
//! around it, never guessed: every export passes through `Counted`, one
//! sample each (its spans, how long the SDK took with its retries, and the
//! reason its error names); a partial success, which the exporter only
//! logs, is caught from that log (`partial`); spans made but never handed
//! to the exporter were dropped by the processor's queue and are refused
//! as `sdk_queue_full` when the kind ends (`sdk_unexported` when the SDK
//! could not flush its queue in time, so some may have been still queued).
//!
//! Uses: load::{ingest, rate, tally}, emit::otlp_grpc (metadata), target,
//! ids.

pub mod partial;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use opentelemetry_otlp::{WithExportConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::resource::TelemetryResourceDetector;
use opentelemetry_sdk::trace::{IdGenerator, SdkTracer, SdkTracerProvider, SpanData, SpanExporter};
use tokio::sync::{Mutex, watch};
use tokio::time::Instant;
use url::Url;

use crate::ids::{Seed, SpanId, TraceId};
use crate::load::ingest::{BatchSender, Sent, batch_size, drive};
use crate::load::rate::RatePlan;
use crate::load::tally::{Recorder, Refusal, Sample, SampleBuffer};
use crate::target::{Compression, OtlpHeader};

/// Spans per trace.
pub const SPANS_PER_TRACE: u64 = 5;
/// How long the SDK may flush its queue when a signal stopped the run.
const SHUTDOWN_WHEN_STOPPED: Duration = Duration::from_secs(2);
pub const SERVICE_NAME: &str = "pillars-load-sdk";
const ROOT_SPAN: &str = "GET /api/items/{id}";

/// Where and how the kind exports.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The collector's OTLP/gRPC endpoint.
    pub endpoint: Url,
    pub headers: Vec<OtlpHeader>,
    pub compression: Compression,
    /// Each export's deadline, the SDK's retries included.
    pub timeout: Duration,
    pub seed: Seed,
    pub run_id: String,
    /// Distinct routes the server spans spread over.
    pub cardinality: u32,
}

/// The seed the kind's ids come from, given the run's.
pub fn seed_of(run: Seed) -> Seed {
    Seed(run.word(0, 0x5D4))
}

/// The id of the `k`-th trace the kind makes with `seed` (`seed_of`).
pub fn trace_id(seed: Seed, k: u64) -> TraceId {
    TraceId::from_seed(seed, k)
}

/// Makes spans along `plan` until it ends or `stop` turns true, then shuts
/// the SDK down, which exports what its queue still holds; the error says
/// why the SDK could not start.
pub async fn run(
    settings: Settings,
    plan: &RatePlan,
    stop: watch::Receiver<bool>,
    rec: Recorder,
) -> Result<(), String> {
    let partials_seen = partial::install();
    let exporter = exporter(&settings)?;
    let samples = Arc::new(Mutex::new(rec.buffer()));
    let handed = Arc::new(AtomicU64::new(0));
    let counted = Counted {
        inner: exporter,
        samples: samples.clone(),
        handed: handed.clone(),
        partials_seen,
    };
    let provider = SdkTracerProvider::builder()
        .with_resource(resource(&settings.run_id))
        .with_id_generator(SeededIds::new(seed_of(settings.seed)))
        // The processor's defaults, or `OTEL_BSP_*`: what a service gets.
        .with_batch_exporter(counted)
        .build();
    let scope = InstrumentationScope::builder("pillars")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build();
    let peak = plan.steps.iter().map(|s| s.rate).fold(0.0, f64::max);
    let traces = batch_size(peak).div_ceil(SPANS_PER_TRACE).max(1);
    let made = Arc::new(AtomicU64::new(0));
    // One maker, so trace k is the k-th made: a batch takes about a
    // millisecond, far under the plan's interval between batches.
    let maker = Maker {
        tracer: provider.tracer_with_scope(scope),
        traces,
        routes: u64::from(settings.cardinality.max(1)),
        made: made.clone(),
    };
    let interrupted = stop.clone();
    drive(plan, traces * SPANS_PER_TRACE, vec![maker], stop, rec).await;
    // Shutting down blocks until the queue is exported or the time is up;
    // a run stopped by a signal does not wait long for it.
    let limit = if *interrupted.borrow() {
        SHUTDOWN_WHEN_STOPPED
    } else {
        settings.timeout * 2
    };
    let flushed = tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(limit))
        .await
        .is_ok_and(|r| r.is_ok());
    let dropped = made
        .load(Ordering::Relaxed)
        .saturating_sub(handed.load(Ordering::Relaxed));
    // After a full flush, spans never handed over were dropped from the
    // full queue; otherwise some may have been still queued.
    let reason = if flushed { "sdk_queue_full" } else { "sdk_unexported" };
    let mut samples = samples.lock().await;
    if dropped > 0 {
        let now = Instant::now();
        samples
            .push(Sample {
                intended_start: now,
                start: now,
                end: now,
                status: 0,
                units: dropped,
                bytes: 0,
                refused: Some(Refusal { reason, units: dropped }),
            })
            .await;
    }
    samples.flush().await;
    Ok(())
}

fn exporter(settings: &Settings) -> Result<opentelemetry_otlp::SpanExporter, String> {
    let mut metadata = tonic::metadata::MetadataMap::new();
    crate::emit::otlp_grpc::add_headers(&mut metadata, &settings.headers);
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(settings.endpoint.as_str().trim_end_matches('/'))
        .with_timeout(settings.timeout)
        .with_metadata(metadata);
    if settings.compression == Compression::Gzip {
        builder = builder.with_compression(opentelemetry_otlp::Compression::Gzip);
    }
    builder.build().map_err(|e| {
        format!(
            "the OpenTelemetry SDK could not build its OTLP/gRPC exporter for {}: {e}",
            settings.endpoint
        )
    })
}

/// What a Rust service built with the SDK describes itself as, and the run.
fn resource(run_id: &str) -> Resource {
    Resource::builder_empty()
        .with_detector(Box::new(TelemetryResourceDetector))
        .with_service_name(SERVICE_NAME)
        .with_attribute(KeyValue::new("pillars.run", run_id.to_owned()))
        .build()
}

/// Makes the traces of each permit's batch and hands them to the SDK.
struct Maker {
    tracer: SdkTracer,
    traces: u64,
    routes: u64,
    made: Arc<AtomicU64>,
}

impl BatchSender for Maker {
    async fn send_batch(&mut self, n: u64) -> Option<Sent> {
        for t in 0..self.traces {
            self.trace(n * self.traces + t);
        }
        self.made.fetch_add(self.traces * SPANS_PER_TRACE, Ordering::Relaxed);
        // The outcome is the exporter's to record.
        None
    }
}

impl Maker {
    /// One request's trace: the server span, its database call, and its
    /// internal steps, laid out over 20 ms ending now.
    fn trace(&self, seq: u64) {
        let end = SystemTime::now();
        let start = end - Duration::from_millis(20);
        let at = |ms: u64| start + Duration::from_millis(ms);
        let id = seq % self.routes;
        let root = self
            .tracer
            .span_builder(ROOT_SPAN)
            .with_kind(SpanKind::Server)
            .with_start_time(start)
            .with_attributes([
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("http.route", "/api/items/{id}"),
                KeyValue::new("url.path", format!("/api/items/{id}")),
                KeyValue::new("http.response.status_code", 200),
                KeyValue::new("pillars.seq", seq as i64),
            ])
            .start(&self.tracer);
        let cx = Context::current_with_span(root);
        for i in 1..SPANS_PER_TRACE {
            let (name, kind) = if i == 1 {
                ("SELECT items", SpanKind::Client)
            } else {
                ("render", SpanKind::Internal)
            };
            let mut builder = self
                .tracer
                .span_builder(name)
                .with_kind(kind)
                .with_start_time(at(4 * i - 3));
            if i == 1 {
                builder = builder.with_attributes([
                    KeyValue::new("db.system.name", "postgresql"),
                    KeyValue::new("db.operation.name", "SELECT"),
                ]);
            }
            let mut span = builder.start_with_context(&self.tracer, &cx);
            opentelemetry::trace::Span::end_with_timestamp(&mut span, at(4 * i));
        }
        cx.span().end_with_timestamp(end);
    }
}

/// Ids from the kind's seed: trace `k` and span `k` are the `k`-th asked
/// for.
#[derive(Debug)]
struct SeededIds {
    seed: Seed,
    traces: AtomicU64,
    spans: AtomicU64,
}

impl SeededIds {
    fn new(seed: Seed) -> Self {
        SeededIds {
            seed,
            traces: AtomicU64::new(0),
            spans: AtomicU64::new(0),
        }
    }
}

impl IdGenerator for SeededIds {
    fn new_trace_id(&self) -> opentelemetry::trace::TraceId {
        let k = self.traces.fetch_add(1, Ordering::Relaxed);
        opentelemetry::trace::TraceId::from_bytes(trace_id(self.seed, k).0)
    }

    fn new_span_id(&self) -> opentelemetry::trace::SpanId {
        let k = self.spans.fetch_add(1, Ordering::Relaxed);
        opentelemetry::trace::SpanId::from_bytes(SpanId::from_seed(self.seed, k, 0).0)
    }
}

/// The SDK's exporter, each export recorded as one sample.
#[derive(Debug)]
struct Counted {
    inner: opentelemetry_otlp::SpanExporter,
    samples: Arc<Mutex<SampleBuffer>>,
    /// Spans the processor handed over: made, not dropped by its queue.
    handed: Arc<AtomicU64>,
    partials_seen: bool,
}

impl SpanExporter for Counted {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let units = batch.len() as u64;
        self.handed.fetch_add(units, Ordering::Relaxed);
        let found = Arc::new(partial::Found::default());
        let start = Instant::now();
        let result = partial::Watched::new(self.inner.export(batch), found.clone()).await;
        let refused = match &result {
            Ok(()) => found
                .rejected()
                .filter(|_| self.partials_seen)
                .map(|(rejected, _)| Refusal {
                    reason: "partial_success",
                    units: rejected.clamp(1, units.max(1) as i64) as u64,
                }),
            Err(e) => Some(Refusal {
                reason: refusal_reason(e),
                units,
            }),
        };
        let status = match refused.map(|r| r.reason) {
            Some("unreachable" | "deadline" | "sdk_error") => 0,
            // A gRPC status comes back in an HTTP/2 200's trailers.
            _ => 200,
        };
        self.samples
            .lock()
            .await
            .push(Sample {
                intended_start: start,
                start,
                end: Instant::now(),
                status,
                units,
                bytes: 0,
                refused,
            })
            .await;
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// The bounded reason an SDK export error names. The gRPC exporter says
/// `TonicTracesClient export failed with gRPC code: Unavailable`, followed
/// by `: <cause>` when tonic made the status itself (no answer came).
pub fn refusal_reason(err: &OTelSdkError) -> &'static str {
    let text = match err {
        OTelSdkError::Timeout(_) => return "deadline",
        OTelSdkError::InternalFailure(text) => text,
        _ => return "sdk_error",
    };
    let Some((_, code)) = text.split_once("gRPC code: ") else {
        return "sdk_error";
    };
    if code.contains(':') {
        return "unreachable";
    }
    match code.trim() {
        "Unavailable" => "unavailable",
        "ResourceExhausted" => "resource_exhausted",
        "InvalidArgument" => "invalid_argument",
        "DeadlineExceeded" | "Cancelled" => "deadline",
        _ => "grpc_error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_errors_map_to_bounded_reasons() {
        let failed = |text: &str| refusal_reason(&OTelSdkError::InternalFailure(text.into()));
        assert_eq!(
            failed("TonicTracesClient export failed with gRPC code: Unavailable"),
            "unavailable"
        );
        assert_eq!(
            failed("TonicTracesClient export failed with gRPC code: ResourceExhausted"),
            "resource_exhausted"
        );
        assert_eq!(
            failed("TonicTracesClient export failed with gRPC code: InvalidArgument"),
            "invalid_argument"
        );
        assert_eq!(
            failed(
                "TonicTracesClient export failed with gRPC code: Unavailable: tcp connect error: Connection refused (os error 111)"
            ),
            "unreachable"
        );
        assert_eq!(
            failed("TonicTracesClient export failed with gRPC code: Internal"),
            "grpc_error"
        );
        assert_eq!(failed("Failed to acquire lock"), "sdk_error");
        assert_eq!(
            refusal_reason(&OTelSdkError::Timeout(Duration::from_secs(1))),
            "deadline"
        );
        for reason in [
            failed("gRPC code: Unavailable"),
            failed("gRPC code: Unavailable: x"),
            failed("gRPC code: DeadlineExceeded"),
            failed("gRPC code: Internal"),
            failed("gRPC code: InvalidArgument"),
            failed("gRPC code: ResourceExhausted"),
            failed(""),
            "sdk_queue_full",
            "sdk_unexported",
        ] {
            assert!(crate::load::tally::REASONS.contains(&reason), "{reason}");
        }
    }

    #[test]
    fn the_kth_trace_has_the_kth_seeded_id() {
        let ids = SeededIds::new(Seed(7));
        let first = ids.new_trace_id();
        let second = ids.new_trace_id();
        assert_eq!(first.to_bytes(), trace_id(Seed(7), 0).0);
        assert_eq!(second.to_bytes(), trace_id(Seed(7), 1).0);
        assert_ne!(ids.new_span_id(), ids.new_span_id());
    }
}
