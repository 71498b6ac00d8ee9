//! `pillars bench emit`: spans per second through the harness's own hot
//! loop — the load path's workers taking permits, filling the pre-encoded
//! template in place, sending, checking for partial success, and pushing a
//! sample to the kind's collector (`load::ingest`) — side by side with a
//! raw client sending the same bytes from as many tasks, per transport:
//! over OTLP/HTTP beside a raw POST, over OTLP/gRPC beside a raw tonic
//! unary call (same channel settings, same codec of pre-encoded bytes, no
//! compression on either). Both against the same loopback sink in the same
//! run; rounds alternate so neither path gets the warmer machine; a goal is
//! judged on the median of the rounds' own ratios (`bench::Paired`).
//!
//! Uses: emit, ids, load::{ingest, rate, tally}, bench::sink.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use prost::Message;
use tokio::time::Instant;
use url::Url;

use crate::bench::sink::{GrpcSink, Sink};
use crate::bench::{BenchError, Paired};
use crate::clock::unix_nanos;
use crate::console::Console;
use crate::emit::otlp::{OtlpEmitter, OtlpHttpEmitter};
use crate::emit::otlp_grpc::{self, EncodedCodec, OtlpGrpcEmitter};
use crate::emit::synthetic::TraceSpec;
use crate::emit::template::TraceBatchTemplate;
use crate::ids::Seed;
use crate::load::ingest::{BatchEncoder, BatchSender, OtlpWorker, drive};
use crate::load::rate::RatePlan;
use crate::load::tally::{self, KindStats};
use crate::target::{Compression, Signal};

/// What `pillars bench emit` aims for on a 2-core machine, release build.
pub const GOAL_RATIO: f64 = 0.8;
pub const GOAL_SPANS_PER_SEC: f64 = 200_000.0;

#[derive(Debug, Clone)]
pub struct EmitBench {
    /// Spans/s per round: a raw POST and the load path over OTLP/HTTP.
    pub http: Paired,
    /// Spans/s per round: a raw tonic call and the load path over gRPC.
    pub grpc: Paired,
    pub spans_per_request: u64,
    pub concurrency: u32,
    pub rounds: u32,
    pub sink_requests: u64,
    pub release_build: bool,
}

impl EmitBench {
    /// The median of the rounds' ratios over OTLP/HTTP.
    pub fn ratio(&self) -> f64 {
        self.http.ratio()
    }

    /// The median of the rounds' ratios over gRPC.
    pub fn grpc_ratio(&self) -> f64 {
        self.grpc.ratio()
    }
}

impl fmt::Display for EmitBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
        writeln!(
            f,
            "OTLP/HTTP traces to a loopback sink: {} spans/request, {} in flight, {} round(s){}",
            self.spans_per_request,
            self.concurrency,
            self.rounds,
            if self.release_build {
                ""
            } else {
                " (debug build: rates are not representative)"
            }
        )?;
        writeln!(
            f,
            "  raw POST of pre-encoded bytes  {:>12.0} spans/s (best round)",
            self.http.best_baseline()
        )?;
        writeln!(
            f,
            "  pillars load path (workers)    {:>12.0} spans/s (best round)",
            self.http.best_harness()
        )?;
        writeln!(
            f,
            "  ratio {:.2}, median of {} paired rounds (goal >= {GOAL_RATIO}: {}); harness rate goal >= {GOAL_SPANS_PER_SEC:.0} spans/s: {}",
            self.ratio(),
            self.http.rounds(),
            verdict(self.ratio() >= GOAL_RATIO),
            verdict(self.http.best_harness() >= GOAL_SPANS_PER_SEC)
        )?;
        writeln!(
            f,
            "OTLP/gRPC traces to a loopback server, uncompressed, same batches and tasks"
        )?;
        writeln!(
            f,
            "  raw tonic unary call           {:>12.0} spans/s (best round)",
            self.grpc.best_baseline()
        )?;
        writeln!(
            f,
            "  pillars load path (workers)    {:>12.0} spans/s (best round)",
            self.grpc.best_harness()
        )?;
        writeln!(
            f,
            "  ratio {:.2}, median of {} paired rounds (goal >= {GOAL_RATIO}: {})",
            self.grpc_ratio(),
            self.grpc.rounds(),
            verdict(self.grpc_ratio() >= GOAL_RATIO)
        )?;
        writeln!(f, "  sinks received {} requests", self.sink_requests)
    }
}

#[derive(Clone, Copy)]
enum Path {
    Raw,
    Harness,
    RawGrpc,
    HarnessGrpc,
}

/// How `pillars bench emit` runs: what the command line asked for, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long each measured round lasts.
    pub round: Duration,
    /// Rounds; each runs the baseline and the harness back to back, and the
    /// median of the rounds' ratios is judged.
    pub rounds: u32,
    pub batch_traces: u64,
    pub spans_per_trace: u32,
    /// Requests in flight at once.
    pub concurrency: u32,
}

pub async fn run(args: &Settings, console: &mut Console) -> Result<EmitBench, BenchError> {
    use std::io::Write as _;
    let sink = Sink::start().await.map_err(BenchError::Sink)?;
    let grpc_sink = GrpcSink::start().await.map_err(BenchError::Sink)?;
    let sinks = Sinks {
        http: Url::parse(&format!("http://{}/v1/traces", sink.addr)).expect("loopback URL"),
        grpc: Url::parse(&format!("http://{}", grpc_sink.addr)).expect("loopback URL"),
    };
    let round = args.round;
    let spec = Arc::new(TraceSpec {
        seed: Seed(0x5eed),
        run_id: "bench".into(),
        service_name: "pillars-bench".into(),
        spans_per_trace: args.spans_per_trace,
    });
    let spans_per_request = args.batch_traces * u64::from(args.spans_per_trace);
    let (mut http, mut grpc) = (Paired::default(), Paired::default());
    for r in 1..=args.rounds {
        let mut rates = [0.0f64; 4];
        for (i, path) in [Path::Raw, Path::Harness, Path::RawGrpc, Path::HarnessGrpc]
            .into_iter()
            .enumerate()
        {
            let rate = measure(path, &sinks, &spec, args, round).await?;
            rates[i] = rate;
            let name = match path {
                Path::Raw => "raw",
                Path::Harness => "harness",
                Path::RawGrpc => "raw gRPC",
                Path::HarnessGrpc => "harness gRPC",
            };
            let _ = writeln!(
                console.err,
                "round {r}/{}: {name:<12} {rate:>12.0} spans/s",
                args.rounds
            );
        }
        http.push(rates[0], rates[1]);
        grpc.push(rates[2], rates[3]);
    }
    Ok(EmitBench {
        http,
        grpc,
        spans_per_request,
        concurrency: args.concurrency,
        rounds: args.rounds,
        sink_requests: sink.counts.requests.load(Ordering::Relaxed) + grpc_sink.counts.requests.load(Ordering::Relaxed),
        release_build: !cfg!(debug_assertions),
    })
}

/// Where each transport's sink listens.
struct Sinks {
    http: Url,
    grpc: Url,
}

const TIMEOUT: Duration = Duration::from_secs(10);

/// Spans per second one path sustains for `round`.
async fn measure(
    path: Path,
    sinks: &Sinks,
    spec: &Arc<TraceSpec>,
    args: &Settings,
    round: Duration,
) -> Result<f64, BenchError> {
    let http = crate::http::client(TIMEOUT);
    let template = TraceBatchTemplate::new(spec, args.batch_traces);
    // The raw paths send the bytes the harness builds for batch 0.
    let mut body = Vec::new();
    template.fill(0, unix_nanos(), &mut body);
    let body = Bytes::from(body);
    let concurrency = args.concurrency as usize;
    let started = Instant::now();
    let harness = |emitter: OtlpEmitter| async move {
        let encoder = Arc::new(BatchEncoder::Traces(template));
        let spans_per_batch = encoder.units();
        let workers = OtlpWorker::set(&encoder, &emitter, concurrency);
        let stats = unpaced(spans_per_batch, workers, round).await;
        (stats.units_accepted, stats.units_refused > 0)
    };
    let (spans, refused) = match path {
        Path::Raw => raw_posts(&http, &sinks.http, body, concurrency, round).await,
        Path::Harness => {
            harness(OtlpEmitter::Http(OtlpHttpEmitter::new(
                http,
                sinks.http.clone(),
                TIMEOUT,
            )))
            .await
        }
        Path::RawGrpc => raw_grpc_calls(&sinks.grpc, body, concurrency, round).await?,
        Path::HarnessGrpc => {
            let channel = otlp_grpc::channel(&sinks.grpc, TIMEOUT).map_err(BenchError::Grpc)?;
            let emitter = OtlpGrpcEmitter::new(
                channel,
                sinks.grpc.clone(),
                Signal::Traces,
                &[],
                Compression::None,
                TIMEOUT,
            );
            harness(emitter.into()).await
        }
    };
    if refused {
        return Err(BenchError::SinkRefused);
    }
    Ok(spans as f64 / started.elapsed().as_secs_f64())
}

/// `concurrency` tasks making the unary export call with `body` back to
/// back for `round` on one channel, as a hand-written tonic client would:
/// spans delivered, and whether any was refused.
async fn raw_grpc_calls(
    url: &Url,
    body: Bytes,
    concurrency: usize,
    round: Duration,
) -> Result<(u64, bool), BenchError> {
    let spans_per_request = spans_in(&body);
    let channel = otlp_grpc::channel(url, TIMEOUT).map_err(BenchError::Grpc)?;
    let grpc = tonic::client::Grpc::new(channel);
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(otlp_grpc::export_path(Signal::Traces));
    let failed = Arc::new(AtomicBool::new(false));
    let until = Instant::now() + round;
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (mut grpc, path, body, failed) = (grpc.clone(), path.clone(), body.clone(), failed.clone());
            tokio::spawn(async move {
                let mut sent = 0u64;
                while Instant::now() < until && !failed.load(Ordering::Relaxed) {
                    let ok = match grpc.ready().await {
                        Ok(()) => grpc
                            .unary(tonic::Request::new(body.clone()), path.clone(), EncodedCodec)
                            .await
                            .is_ok(),
                        Err(_) => false,
                    };
                    if !ok {
                        failed.store(true, Ordering::Relaxed);
                        break;
                    }
                    sent += 1;
                }
                sent
            })
        })
        .collect();
    let mut requests = 0;
    for w in workers {
        requests += w.await.unwrap_or(0);
    }
    Ok((requests * spans_per_request, failed.load(Ordering::Relaxed)))
}

/// Spans in an encoded trace export request.
fn spans_in(body: &[u8]) -> u64 {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    ExportTraceServiceRequest::decode(body).map_or(0, |r| {
        r.resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .map(|ss| ss.spans.len() as u64)
            .sum()
    })
}

/// Runs `workers` through the load path's loop as fast as they go for
/// `round`: a plan no worker can keep, stopped when the round ends.
pub(crate) async fn unpaced<W: BatchSender>(units: u64, workers: Vec<W>, round: Duration) -> KindStats {
    let (rec, _, collector) = tally::recorder();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let plan = RatePlan::constant(1e12, round * 2);
    let timer = tokio::spawn(async move {
        tokio::time::sleep(round).await;
        let _ = stop.send(true);
    });
    drive(&plan, units, workers, stopped, rec).await;
    let _ = timer.await;
    collector.await.unwrap_or_default()
}

/// `concurrency` tasks posting `body` back to back for `round`, as a
/// hand-written client would: spans delivered, and whether any was refused.
async fn raw_posts(http: &reqwest::Client, url: &Url, body: Bytes, concurrency: usize, round: Duration) -> (u64, bool) {
    let spans_per_request = spans_in(&body);
    let failed = Arc::new(AtomicBool::new(false));
    let until = Instant::now() + round;
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (http, url, body, failed) = (http.clone(), url.clone(), body.clone(), failed.clone());
            tokio::spawn(async move {
                let mut sent = 0u64;
                while Instant::now() < until && !failed.load(Ordering::Relaxed) {
                    let ok = http
                        .post(url.clone())
                        .header("content-type", "application/x-protobuf")
                        .body(body.clone())
                        .send()
                        .await
                        .and_then(|r| r.error_for_status())
                        .is_ok();
                    if !ok {
                        failed.store(true, Ordering::Relaxed);
                        break;
                    }
                    sent += 1;
                }
                sent
            })
        })
        .collect();
    let mut requests = 0;
    for w in workers {
        requests += w.await.unwrap_or(0);
    }
    (requests * spans_per_request, failed.load(Ordering::Relaxed))
}
