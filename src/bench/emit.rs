//! `pillars bench emit`: spans per second over OTLP/HTTP through the
//! harness's own path (build seeded traces, encode, send, check for partial
//! success) side by side with a raw POST of one pre-encoded body, both
//! against the same loopback sink in the same run. Rounds alternate so
//! neither path gets the warmer machine; the best round of each counts.
//!
//! Uses: emit, ids, bench::sink.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use prost::Message;
use tokio::time::Instant;
use url::Url;

use crate::bench::BenchError;
use crate::bench::sink::Sink;
use crate::cli::BenchEmitArgs;
use crate::console::Console;
use crate::emit::otlp::OtlpHttpEmitter;
use crate::emit::synthetic::TraceSpec;
use crate::emit::template::TraceBatchTemplate;
use crate::ids::Seed;

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
            "  pillars emitter                {:>12.0} spans/s",
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

pub async fn run(args: &BenchEmitArgs, console: &mut Console) -> Result<EmitBench, BenchError> {
    use std::io::Write as _;
    let sink = Sink::start().await.map_err(BenchError::Sink)?;
    let url = Url::parse(&format!("http://{}/v1/traces", sink.addr)).expect("loopback URL");
    let round = Duration::from_secs_f64(args.seconds.max(0.1));
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
    args: &BenchEmitArgs,
    round: Duration,
) -> Result<f64, BenchError> {
    let http = crate::query::http::client(Duration::from_secs(10));
    let emitter = OtlpHttpEmitter::new(http.clone(), url.clone(), Duration::from_secs(10));
    // The raw path sends the bytes the harness would build for batch 0.
    let raw_body = Bytes::from(spec.request(0..args.batch_traces, 1).encode_to_vec());
    let template = Arc::new(TraceBatchTemplate::new(spec, args.batch_traces));
    let spans_per_request = args.batch_traces * u64::from(args.spans_per_trace);
    let next_batch = Arc::new(AtomicU64::new(0));
    let pool = crate::emit::pool::BodyPool::default();
    let failed = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let until = started + round;
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (http, emitter, url, raw_body, template) = (
            http.clone(),
            emitter.clone(),
            url.clone(),
            raw_body.clone(),
            template.clone(),
        );
        let (next_batch, failed, pool) = (next_batch.clone(), failed.clone(), pool.clone());
        workers.push(tokio::spawn(async move {
            let mut sent = 0u64;
            while Instant::now() < until && !failed.load(Ordering::Relaxed) {
                let ok = match path {
                    Path::Raw => http
                        .post(url.clone())
                        .header("content-type", "application/x-protobuf")
                        .body(raw_body.clone())
                        .send()
                        .await
                        .and_then(|r| r.error_for_status())
                        .is_ok(),
                    Path::Harness => {
                        let batch = next_batch.fetch_add(1, Ordering::Relaxed);
                        let mut body = pool.take();
                        template.fill(batch * template.traces(), unix_nanos(), &mut body);
                        emitter.send_encoded(pool.freeze(body)).await.is_ok()
                    }
                };
                if !ok {
                    failed.store(true, Ordering::Relaxed);
                    break;
                }
                sent += 1;
            }
            sent
        }));
    }
    let mut requests = 0;
    for w in workers {
        requests += w.await.unwrap_or(0);
    }
    if failed.load(Ordering::Relaxed) {
        return Err(BenchError::SinkRefused);
    }
    let secs = started.elapsed().as_secs_f64();
    Ok((requests * spans_per_request) as f64 / secs)
}

fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
