//! Ingest load: OTLP traces, logs and metrics straight to the collector at
//! a planned rate. Units (spans, lines, samples) go in batches; batches are
//! paced by the limiter and sent without waiting for each other (bounded in
//! flight), and each one's latency is measured from its intended start.
//! A refused batch (429, 5xx, partial success) is counted by reason and
//! dropped: never retried, so a struggling stack is not pushed into a storm.
//!
//! Uses: emit::{otlp, template, log_records, metric_points}, load::{rate,
//! scenario, tally}.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use prost::Message;
use tokio::sync::{Semaphore, watch};

use crate::emit::log_records::LogSpec;
use crate::emit::metric_points::MetricSpec;
use crate::emit::otlp::{EmitError, OtlpHttpEmitter};
use crate::emit::pool::BodyPool;
use crate::emit::synthetic::TraceSpec;
use crate::emit::template::TraceBatchTemplate;
use crate::ids::Seed;
use crate::load::rate::{Limiter, RatePlan, Step};
use crate::load::scenario::TrafficKind;
use crate::load::tally::{Recorder, refusal_reason};

/// Batches in flight at once, per traffic kind.
const IN_FLIGHT: usize = 32;
/// Spans per synthetic trace in load traffic.
const SPANS_PER_TRACE: u32 = 5;

/// Units per batch for a rate: about twenty batches a second, 1 to 500.
pub fn batch_size(rate: f64) -> u64 {
    ((rate / 20.0).ceil() as u64).clamp(1, 500)
}

/// Builds the encoded batch `n` of `size` units for one traffic kind.
enum Batcher {
    Traces(TraceBatchTemplate, BodyPool),
    Logs(LogSpec),
    Metrics { spec: MetricSpec, cardinality: u32 },
}

impl Batcher {
    fn new(kind: TrafficKind, seed: Seed, run_id: &str, size: u64, cardinality: u32) -> Option<Batcher> {
        let service_name = |what: &str| format!("pillars-load-{what}");
        Some(match kind {
            TrafficKind::OtlpTraces => {
                let spec = TraceSpec {
                    seed,
                    run_id: run_id.to_owned(),
                    service_name: service_name("traces"),
                    spans_per_trace: SPANS_PER_TRACE,
                };
                Batcher::Traces(
                    TraceBatchTemplate::new(&spec, size.div_ceil(u64::from(SPANS_PER_TRACE)).max(1)),
                    BodyPool::default(),
                )
            }
            TrafficKind::OtlpLogs => Batcher::Logs(LogSpec {
                seed,
                run_id: run_id.to_owned(),
                service_name: service_name("logs"),
            }),
            TrafficKind::OtlpMetrics => Batcher::Metrics {
                spec: MetricSpec {
                    seed,
                    run_id: run_id.to_owned(),
                    service_name: service_name("metrics"),
                },
                cardinality,
            },
            _ => return None,
        })
    }

    /// Units in one batch.
    fn units(&self, size: u64) -> u64 {
        match self {
            Batcher::Traces(t, _) => t.traces() * u64::from(SPANS_PER_TRACE),
            _ => size,
        }
    }

    fn encode(&self, n: u64, size: u64) -> Bytes {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        match self {
            Batcher::Traces(template, pool) => {
                let mut out = pool.take();
                template.fill(n * template.traces(), now, &mut out);
                pool.freeze(out)
            }
            Batcher::Logs(spec) => Bytes::from(spec.request(n * size..(n + 1) * size, now).encode_to_vec()),
            Batcher::Metrics { spec, cardinality } => {
                Bytes::from(spec.load_request(n * size, size, *cardinality, now).encode_to_vec())
            }
        }
    }
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

/// Sends `load` to `emitter` along `plan` (units per second) until the plan
/// ends or `stop` turns true.
pub async fn run_otlp(
    load: &OtlpLoad,
    plan: &RatePlan,
    emitter: OtlpHttpEmitter,
    stop: watch::Receiver<bool>,
    rec: Recorder,
) {
    let peak = plan.steps.iter().map(|s| s.rate).fold(0.0, f64::max);
    let size = batch_size(peak);
    let Some(batcher) = Batcher::new(load.kind, load.seed, &load.run_id, size, load.cardinality) else {
        return;
    };
    let units = batcher.units(size);
    let batcher = Arc::new(batcher);
    drive(plan, units, stop, rec, move |n| {
        let body = batcher.encode(n, size);
        let emitter = emitter.clone();
        async move { emitter.send_encoded(body).await.map(drop) }
    })
    .await
}

/// Paces batches of `units` along `plan` (units per second), sends batch
/// `n` with `send(n)` without waiting for earlier ones (bounded in flight),
/// and records each outcome, until the plan ends or `stop` turns true;
/// returns once the sends in flight have ended.
pub async fn drive<F, Fut>(plan: &RatePlan, units: u64, mut stop: watch::Receiver<bool>, rec: Recorder, send: F)
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = Result<(), EmitError>> + Send + 'static,
{
    let units = units.max(1);
    // The limiter paces batches: the plan's rates divided by the batch size.
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
    let mut limiter = Limiter::new(batches);
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut n = 0u64;
    loop {
        let intended = tokio::select! {
            next = limiter.next() => match next {
                Some(at) => at,
                None => break,
            },
            _ = stop.wait_for(|s| *s) => break,
        };
        let Ok(permit) = slots.clone().acquire_owned().await else {
            break;
        };
        rec.offered(units);
        let sending = send(n);
        n += 1;
        let rec = rec.clone();
        tokio::spawn(async move {
            let result = sending.await;
            // From the intended start: a late send counts its wait too.
            rec.record(intended.elapsed(), units, result.err().as_ref().map(refusal_reason));
            drop(permit);
        });
    }
    // Every permit back means every send in flight has ended.
    let _ = slots.acquire_many(IN_FLIGHT as u32).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_stay_small_and_frequent() {
        assert_eq!(batch_size(1.0), 1);
        assert_eq!(batch_size(1000.0), 50);
        assert_eq!(batch_size(1e6), 500);
    }
}
