//! Ingest load: OTLP traces, logs and metrics straight to the collector at
//! a planned rate, over HTTP or gRPC (the same encoded bytes either way),
//! in oha's shape. Before the loop: the batch encoder (a
//! pre-encoded template per signal, `emit::template`) and a fixed set of
//! workers, each with its own request body. In the loop, each worker takes
//! a permit from the plan (`rate::Permits`: which batch, and when it was
//! meant to start), waits for that start if it is still ahead, fills the
//! template in place, sends, and pushes a `Sample` of raw instants into its
//! own buffer (`tally::SampleBuffer`). No formatting, no lock, no encoding
//! of messages per send; latency is measured from the intended start, so a
//! late send counts its wait (coordinated omission).
//!
//! A refused batch (429, 5xx, partial success) is counted by reason and
//! dropped: never retried, so a struggling stack is not pushed into a storm.
//! The workers bound the batches in flight; when all are busy, later
//! permits start late and say so (`KindStats::late_starts`).
//!
//! Uses: emit::{otlp, template, pool, log_records, metric_points,
//! synthetic}, load::{rate, scenario, tally}.

use crate::clock::unix_nanos;
use std::future::Future;
use std::sync::Arc;

use prost::Message;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::emit::log_records::LogSpec;
use crate::emit::metric_points::MetricSpec;
use crate::emit::otlp::{EmitError, OtlpEmitter};
use crate::emit::pool::BodyBuffer;
use crate::emit::synthetic::TraceSpec;
use crate::emit::template::{LogBatchTemplate, MetricBatchTemplate, TraceBatchTemplate};
use crate::ids::Seed;
use crate::load::rate::{Permits, RatePlan, Step};
use crate::load::scenario::TrafficKind;
use crate::load::tally::{Recorder, Sample, SampleBuffer};

/// Workers per traffic kind: the batches in flight at once.
pub const WORKERS: usize = 32;
/// Spans per synthetic trace in load traffic.
const SPANS_PER_TRACE: u32 = 5;

/// Units per batch for a rate: about twenty batches a second, 1 to 500.
pub fn batch_size(rate: f64) -> u64 {
    ((rate / 20.0).ceil() as u64).clamp(1, 500)
}

/// What one OTLP traffic kind sends: the kind, how many series or
/// services it spreads over, and the run's seed and id.
#[derive(Debug, Clone)]
pub struct OtlpLoad {
    pub kind: TrafficKind,
    pub cardinality: u32,
    pub seed: Seed,
    pub run_id: String,
}

/// Builds the encoded batch `n` of one OTLP traffic kind.
#[derive(Debug)]
pub enum BatchEncoder {
    Traces(TraceBatchTemplate),
    Logs {
        template: LogBatchTemplate,
        size: u64,
    },
    Metrics {
        template: MetricBatchTemplate,
        size: u64,
    },
    /// The run id spells a field the log templates patch: each batch is
    /// built and encoded (slower, same bytes).
    BuiltLogs {
        spec: LogSpec,
        size: u64,
    },
    /// As `BuiltLogs`, for metrics.
    BuiltMetrics {
        spec: MetricSpec,
        cardinality: u32,
        size: u64,
    },
}

impl BatchEncoder {
    /// The encoder for batches of about `size` units of `load`; `None` for
    /// a kind that is not OTLP.
    pub fn new(load: &OtlpLoad, size: u64) -> Option<BatchEncoder> {
        let service_name = |what: &str| format!("pillars-load-{what}");
        let (seed, run_id) = (load.seed, load.run_id.clone());
        Some(match load.kind {
            TrafficKind::OtlpTraces => {
                let spec = TraceSpec {
                    seed,
                    run_id,
                    service_name: service_name("traces"),
                    spans_per_trace: SPANS_PER_TRACE,
                };
                let traces = size.div_ceil(u64::from(SPANS_PER_TRACE)).max(1);
                BatchEncoder::Traces(TraceBatchTemplate::new(&spec, traces))
            }
            TrafficKind::OtlpLogs => {
                let spec = LogSpec {
                    seed,
                    run_id,
                    service_name: service_name("logs"),
                };
                match LogBatchTemplate::new(&spec) {
                    Some(template) => BatchEncoder::Logs { template, size },
                    None => BatchEncoder::BuiltLogs { spec, size },
                }
            }
            TrafficKind::OtlpMetrics => {
                let spec = MetricSpec {
                    seed,
                    run_id,
                    service_name: service_name("metrics"),
                };
                match MetricBatchTemplate::new(&spec, load.cardinality) {
                    Some(template) => BatchEncoder::Metrics { template, size },
                    None => BatchEncoder::BuiltMetrics {
                        spec,
                        cardinality: load.cardinality,
                        size,
                    },
                }
            }
            _ => return None,
        })
    }

    /// Units in one batch.
    pub fn units(&self) -> u64 {
        match self {
            BatchEncoder::Traces(t) => t.spans(),
            BatchEncoder::Logs { size, .. }
            | BatchEncoder::Metrics { size, .. }
            | BatchEncoder::BuiltLogs { size, .. }
            | BatchEncoder::BuiltMetrics { size, .. } => *size,
        }
    }

    /// Writes batch `n`, stamped `now_unix_nanos`, into `out` (cleared).
    pub fn fill(&self, n: u64, now_unix_nanos: u64, out: &mut Vec<u8>) {
        self.refill(n, now_unix_nanos, out, false);
    }

    /// As `fill`, over `out` holding the last batch this encoder wrote into
    /// it when `holds_last`: a trace template then writes only its fields.
    pub fn refill(&self, n: u64, now_unix_nanos: u64, out: &mut Vec<u8>, holds_last: bool) {
        match self {
            BatchEncoder::Traces(template) => template.refill(n * template.traces(), now_unix_nanos, out, holds_last),
            BatchEncoder::Logs { template, size } => template.fill(n * size..(n + 1) * size, now_unix_nanos, out),
            BatchEncoder::Metrics { template, size } => template.fill(n * size, *size, now_unix_nanos, out),
            BatchEncoder::BuiltLogs { spec, size } => {
                out.clear();
                let _ = spec.request(n * size..(n + 1) * size, now_unix_nanos).encode(out);
            }
            BatchEncoder::BuiltMetrics {
                spec,
                cardinality,
                size,
            } => {
                out.clear();
                let _ = spec
                    .load_request(n * size, *size, *cardinality, now_unix_nanos)
                    .encode(out);
            }
        }
    }
}

/// What a send of one batch came to: its request bytes (0 when unknown)
/// and the status that came back, or why none did.
#[derive(Debug)]
pub struct Sent {
    pub bytes: u64,
    pub answer: Result<u16, EmitError>,
}

/// What a worker does with a permit: send batch `n`. A worker owns what it
/// reuses from send to send (its request body), so sending takes no lock.
/// `None` when the batch was handed on and its outcome is recorded where
/// it is learnt (the SDK's exporter, `load::sdk`).
pub trait BatchSender: Send + 'static {
    fn send_batch(&mut self, n: u64) -> impl Future<Output = Option<Sent>> + Send;
}

/// An OTLP worker: fills its body from the shared encoder and posts it.
#[derive(Debug)]
pub struct OtlpWorker {
    encoder: Arc<BatchEncoder>,
    emitter: OtlpEmitter,
    body: BodyBuffer,
}

impl OtlpWorker {
    /// `count` workers sending `encoder`'s batches through `emitter`.
    pub fn set(encoder: &Arc<BatchEncoder>, emitter: &OtlpEmitter, count: usize) -> Vec<OtlpWorker> {
        (0..count.max(1))
            .map(|_| OtlpWorker {
                encoder: encoder.clone(),
                emitter: emitter.clone(),
                body: BodyBuffer::default(),
            })
            .collect()
    }
}

impl BatchSender for OtlpWorker {
    async fn send_batch(&mut self, n: u64) -> Option<Sent> {
        let now = unix_nanos();
        // The body only ever holds this worker's batches of one encoder.
        let body = self
            .body
            .refill(|buf, holds_last| self.encoder.refill(n, now, buf, holds_last));
        let bytes = body.len() as u64;
        let answer = self.emitter.send_encoded(body).await.map(|ack| ack.status);
        Some(Sent { bytes, answer })
    }
}

/// Sends `load` to `emitter` along `plan` (units per second) until the plan
/// ends or `stop` turns true.
pub async fn run_otlp(
    load: &OtlpLoad,
    plan: &RatePlan,
    emitter: OtlpEmitter,
    stop: watch::Receiver<bool>,
    rec: Recorder,
) {
    let peak = plan.steps.iter().map(|s| s.rate).fold(0.0, f64::max);
    let Some(encoder) = BatchEncoder::new(load, batch_size(peak)) else {
        return;
    };
    let units = encoder.units();
    let workers = OtlpWorker::set(&Arc::new(encoder), &emitter, WORKERS);
    drive(plan, units, workers, stop, rec).await
}

/// Runs `workers` along `plan` (units per second) in batches of `units`,
/// each worker taking the next batch when it is free, until the plan ends
/// or `stop` turns true (or its sender is dropped); returns once every
/// worker has ended its send in flight and handed over its samples.
pub async fn drive<W: BatchSender>(
    plan: &RatePlan,
    units: u64,
    workers: Vec<W>,
    stop: watch::Receiver<bool>,
    rec: Recorder,
) {
    let units = units.max(1);
    // Permits are batches: the plan's rates divided by the batch size.
    let batches = RatePlan {
        steps: plan
            .steps
            .iter()
            .map(|s| Step {
                rate: s.rate / units as f64,
                duration: s.duration,
            })
            .collect(),
    };
    if *stop.borrow() {
        return;
    }
    let permits = Arc::new(Permits::new(&batches));
    let running: Vec<_> = workers
        .into_iter()
        .map(|worker| tokio::spawn(work(worker, permits.clone(), units, stop.clone(), rec.buffer())))
        .collect();
    drop(rec);
    for worker in running {
        let _ = worker.await;
    }
}

/// One worker's loop (oha's `work`): permit, wait for its start, send,
/// sample.
async fn work<W: BatchSender>(
    mut worker: W,
    permits: Arc<Permits>,
    units: u64,
    mut stop: watch::Receiver<bool>,
    mut samples: SampleBuffer,
) {
    while let Some(permit) = permits.take() {
        if permit.intended > Instant::now() {
            tokio::select! {
                _ = tokio::time::sleep_until(permit.intended) => {}
                _ = stop.wait_for(|s| *s) => break,
            }
        } else if stopped(&mut stop) {
            break;
        }
        samples.offered(units);
        let start = Instant::now();
        if let Some(sent) = worker.send_batch(permit.n).await {
            samples
                .push(Sample::of(permit.intended, start, units, sent.bytes, &sent.answer))
                .await;
        }
    }
    samples.flush().await;
}

/// Whether `stop` turned true (or its sender went away), without a lock
/// unless it changed.
fn stopped(stop: &mut watch::Receiver<bool>) -> bool {
    match stop.has_changed() {
        Ok(false) => false,
        Ok(true) => *stop.borrow_and_update(),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emit::otlp::encode_partial_success;
    use std::time::Duration;

    #[test]
    fn batches_stay_small_and_frequent() {
        assert_eq!(batch_size(1.0), 1);
        assert_eq!(batch_size(1000.0), 50);
        assert_eq!(batch_size(1e6), 500);
    }

    fn load(kind: TrafficKind, run_id: &str) -> OtlpLoad {
        OtlpLoad {
            kind,
            cardinality: 7,
            seed: Seed(5),
            run_id: run_id.into(),
        }
    }

    #[test]
    fn each_kind_encodes_what_its_spec_builds() {
        let mut out = Vec::new();
        for run_id in [
            "load",
            "\n\u{b}pillars.seq\u{12}\u{2}\u{18}\u{0}\n\u{6}series\u{12}\u{3}\n\u{1}1",
        ] {
            let logs = BatchEncoder::new(&load(TrafficKind::OtlpLogs, run_id), 50).unwrap();
            logs.fill(3, 11, &mut out);
            let spec = LogSpec {
                seed: Seed(5),
                run_id: run_id.into(),
                service_name: "pillars-load-logs".into(),
            };
            assert_eq!(out, spec.request(150..200, 11).encode_to_vec());
            let metrics = BatchEncoder::new(&load(TrafficKind::OtlpMetrics, run_id), 50).unwrap();
            metrics.fill(3, 11, &mut out);
            let spec = MetricSpec {
                seed: Seed(5),
                run_id: run_id.into(),
                service_name: "pillars-load-metrics".into(),
            };
            assert_eq!(out, spec.load_request(150, 50, 7, 11).encode_to_vec());
            assert_eq!(metrics.units(), 50);
        }
        let traces = BatchEncoder::new(&load(TrafficKind::OtlpTraces, "load"), 48).unwrap();
        assert_eq!(traces.units(), 50, "whole traces of five spans");
        assert!(BatchEncoder::new(&load(TrafficKind::Profiles, "load"), 1).is_none());
    }

    /// A sender that answers after `delay`, counting what it was given.
    struct Slow {
        delay: Duration,
        sent: Arc<std::sync::atomic::AtomicU64>,
    }

    impl BatchSender for Slow {
        async fn send_batch(&mut self, _: u64) -> Option<Sent> {
            tokio::time::sleep(self.delay).await;
            self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Some(Sent {
                bytes: encode_partial_success(0, "").len() as u64,
                answer: Ok(200),
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn busy_workers_start_late_and_the_wait_counts_as_latency() {
        let (rec, live, collector) = crate::load::tally::recorder();
        let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let workers = (0..2)
            .map(|_| Slow {
                delay: Duration::from_millis(100),
                sent: sent.clone(),
            })
            .collect();
        let (_stop, stopped) = watch::channel(false);
        // 40 batches a second, two workers of 10 a second each.
        drive(
            &RatePlan::constant(40.0, Duration::from_secs(1)),
            1,
            workers,
            stopped,
            rec,
        )
        .await;
        let stats = collector.await.unwrap();
        assert_eq!(stats.units_accepted, 40, "every permit is sent, late");
        assert_eq!(live.counts().offered, 40);
        assert!(stats.late_starts >= 30, "{stats:?}");
        // The last batch was due at 975 ms and ended at 2 s.
        assert!(
            stats.latency.percentile_ms(100.0) >= 1000,
            "{:?}",
            stats.latency.summary()
        );
        assert_eq!(stats.service.percentile_ms(100.0), 100);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_ends_sleeping_and_sending_workers_alike() {
        let (rec, live, collector) = crate::load::tally::recorder();
        let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let workers = (0..4)
            .map(|_| Slow {
                delay: Duration::from_millis(10),
                sent: sent.clone(),
            })
            .collect();
        let (stop, stopped) = watch::channel(false);
        let started = Instant::now();
        let driving = tokio::spawn(async move {
            drive(
                &RatePlan::constant(10.0, Duration::from_secs(60)),
                1,
                workers,
                stopped,
                rec,
            )
            .await
        });
        tokio::time::sleep(Duration::from_millis(450)).await;
        stop.send(true).unwrap();
        driving.await.unwrap();
        assert!(started.elapsed() < Duration::from_millis(500));
        let stats = collector.await.unwrap();
        assert_eq!(stats.units_accepted, 5, "at 0, 100, …, 400 ms");
        assert_eq!(live.counts().offered, stats.units_accepted);
    }
}
