//! `pillars bench emit`: spans per second over OTLP/HTTP through the
//! harness's own hot loop — the load path's workers taking permits, filling
//! the pre-encoded template in place, sending, checking for partial
//! success, and pushing a sample to the kind's collector (`load::ingest`)
//! — side by side with a raw POST of the same bytes by as many tasks, both
//! against the same loopback sink in the same run. Rounds alternate so
//! neither path gets the warmer machine; the best round of each counts.
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

use crate::bench::BenchError;
use crate::bench::sink::Sink;
use crate::clock::unix_nanos;
use crate::console::Console;
use crate::emit::otlp::OtlpHttpEmitter;
use crate::emit::synthetic::TraceSpec;
use crate::emit::template::TraceBatchTemplate;
use crate::ids::Seed;
use crate::load::ingest::{BatchEncoder, BatchSender, OtlpWorker, drive};
use crate::load::rate::RatePlan;
use crate::load::tally::{self, KindStats};

/// What `pillars bench emit` aims for on a 2-core machine, release build.
pub const GOAL_RATIO: f64 = 0.8;
pub const GOAL_SPANS_PER_SEC: f64 = 200_000.0;

#[derive(Debug, Clone)]
pub struct EmitBench {
    pub raw_spans_per_sec: f64,
    pub harness_spans_per_sec: f64,
    pub spans_per_request: u64,
    pub concurrency: u32,
    pub rounds: u32,
    pub sink_requests: u64,
    pub release_build: bool,
}

impl EmitBench {
    pub fn ratio(&self) -> f64 {
        crate::bench::ratio(self.harness_spans_per_sec, self.raw_spans_per_sec)
    }
}

impl fmt::Display for EmitBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
        writeln!(
            f,
            "OTLP/HTTP traces to a loopback sink: {} spans/request, {} in flight, best of {} round(s){}",
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
            "  raw POST of pre-encoded bytes  {:>12.0} spans/s",
            self.raw_spans_per_sec
        )?;
        writeln!(
            f,
            "  pillars load path (workers)    {:>12.0} spans/s",
            self.harness_spans_per_sec
        )?;
        writeln!(
            f,
            "  ratio {:.2} (goal >= {GOAL_RATIO}: {}); harness rate goal >= {GOAL_SPANS_PER_SEC:.0} spans/s: {}",
            self.ratio(),
            verdict(self.ratio() >= GOAL_RATIO),
            verdict(self.harness_spans_per_sec >= GOAL_SPANS_PER_SEC)
        )?;
        writeln!(f, "  sink received {} requests", self.sink_requests)
    }
}

#[derive(Clone, Copy)]
enum Path {
    Raw,
    Harness,
}

/// How `pillars bench emit` runs: what the command line asked for, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long each measured round lasts.
    pub round: Duration,
    /// Rounds per path; the paths alternate, and the best round counts.
    pub rounds: u32,
    pub batch_traces: u64,
    pub spans_per_trace: u32,
    /// Requests in flight at once.
    pub concurrency: u32,
}

pub async fn run(args: &Settings, console: &mut Console) -> Result<EmitBench, BenchError> {
    use std::io::Write as _;
    let sink = Sink::start().await.map_err(BenchError::Sink)?;
    let url = Url::parse(&format!("http://{}/v1/traces", sink.addr)).expect("loopback URL");
    let round = args.round;
    let spec = Arc::new(TraceSpec {
        seed: Seed(0x5eed),
        run_id: "bench".into(),
        service_name: "pillars-bench".into(),
        spans_per_trace: args.spans_per_trace,
    });
    let spans_per_request = args.batch_traces * u64::from(args.spans_per_trace);
    let (mut best_raw, mut best_harness) = (0.0f64, 0.0f64);
    for r in 1..=args.rounds {
        for path in [Path::Raw, Path::Harness] {
            let rate = measure(path, &url, &spec, args, round).await?;
            let name = match path {
                Path::Raw => {
                    best_raw = best_raw.max(rate);
                    "raw"
                }
                Path::Harness => {
                    best_harness = best_harness.max(rate);
                    "harness"
                }
            };
            let _ = writeln!(console.err, "round {r}/{}: {name:<7} {rate:>12.0} spans/s", args.rounds);
        }
    }
    Ok(EmitBench {
        raw_spans_per_sec: best_raw,
        harness_spans_per_sec: best_harness,
        spans_per_request,
        concurrency: args.concurrency,
        rounds: args.rounds,
        sink_requests: sink.counts.requests.load(Ordering::Relaxed),
        release_build: !cfg!(debug_assertions),
    })
}

/// Spans per second one path sustains for `round`.
async fn measure(
    path: Path,
    url: &Url,
    spec: &Arc<TraceSpec>,
    args: &Settings,
    round: Duration,
) -> Result<f64, BenchError> {
    let http = crate::http::client(Duration::from_secs(10));
    let template = TraceBatchTemplate::new(spec, args.batch_traces);
    // The raw path sends the bytes the harness builds for batch 0.
    let mut body = Vec::new();
    template.fill(0, unix_nanos(), &mut body);
    let started = Instant::now();
    let (spans, refused) = match path {
        Path::Raw => raw_posts(&http, url, Bytes::from(body), args.concurrency as usize, round).await,
        Path::Harness => {
            let emitter = OtlpHttpEmitter::new(http, url.clone(), Duration::from_secs(10));
            let encoder = Arc::new(BatchEncoder::Traces(template));
            let spans_per_batch = encoder.units();
            let workers = OtlpWorker::set(&encoder, &emitter, args.concurrency as usize);
            let stats = unpaced(spans_per_batch, workers, round).await;
            (stats.units_accepted, stats.units_refused > 0)
        }
    };
    if refused {
        return Err(BenchError::SinkRefused);
    }
    Ok(spans as f64 / started.elapsed().as_secs_f64())
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
    let spans_per_request = {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        ExportTraceServiceRequest::decode(body.as_ref()).map_or(0, |r| {
            r.resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len() as u64)
                .sum()
        })
    };
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
