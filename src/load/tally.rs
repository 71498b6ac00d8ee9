//! What a traffic kind did, counted as it happens: live counters the
//! progress bars and the per-second series read, and one collector task
//! that aggregates every send's `Sample` into HdrHistograms and a bounded
//! map of refusal reasons.
//!
//! The hot path pushes a sample of raw instants into its own buffer
//! (`SampleBuffer`, one per worker or goose user: no lock, no allocation
//! once warm) and bumps the live counters. A buffer goes to the collector
//! every `FLUSH_AT` samples or `FLUSH_EVERY`, over a bounded channel; when
//! the collector falls behind, the sender waits and the stall is counted,
//! never hidden, and no sample is dropped. The collector hands each
//! emptied buffer back to the sender it came from.
//!
//! Uses: emit::otlp (errors), measure::latency.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::emit::otlp::EmitError;
use crate::http::HttpError;
use crate::measure::latency::LatencyHistogram;

/// Samples a buffer holds before it goes to the collector.
const FLUSH_AT: usize = 64;
/// A buffer goes to the collector at least this often while its sender
/// runs, so the collector (and a report cut short) is never far behind.
const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// Buffers on their way to the collector, per kind.
const CHANNEL: usize = 256;
/// A send that began this long after its intended start began late: every
/// worker was busy (the stack, or pillars, could not keep the plan).
pub const LATE_AFTER: Duration = Duration::from_millis(10);

/// What one traffic kind did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KindStats {
    /// Units (spans, lines, samples, requests, sessions) in accepted sends.
    pub units_accepted: u64,
    pub units_refused: u64,
    pub batches: u64,
    /// Refusals and errors by reason (`REASONS`): `rate_limited`,
    /// `server_error`, `partial_success`, `client_error`, `unreachable`;
    /// over gRPC also `unavailable`, `resource_exhausted`,
    /// `invalid_argument` and `grpc_error` (any other status); through the
    /// SDK also `deadline`, `sdk_error`, `sdk_queue_full` and `sdk_unexported`.
    pub refused: BTreeMap<&'static str, u64>,
    /// Each send's latency from its intended start to its end.
    #[serde(skip)]
    pub latency: LatencyHistogram,
    /// Each send's latency from its actual start: what the stack took.
    #[serde(skip)]
    pub service: LatencyHistogram,
    /// Sends that began more than `LATE_AFTER` after their intended start.
    pub late_starts: u64,
    /// Times a sender waited because the collector had fallen behind.
    pub collector_stalls: u64,
    /// Request bytes sent, where the sender knows them.
    pub bytes_sent: u64,
    /// Why the kind's sender stopped early, if it did.
    pub failed: Option<String>,
}

impl KindStats {
    /// Refused over offered units.
    pub fn error_ratio(&self) -> f64 {
        ratio(self.units_refused, self.units_accepted + self.units_refused)
    }

    fn add(&mut self, s: &Sample) {
        self.batches += 1;
        self.latency.record(s.end.saturating_duration_since(s.intended_start));
        self.service.record(s.end.saturating_duration_since(s.start));
        if s.start.saturating_duration_since(s.intended_start) > LATE_AFTER {
            self.late_starts += 1;
        }
        self.bytes_sent += s.bytes;
        self.units_accepted += s.units_accepted();
        if let Some(refusal) = s.refused {
            self.units_refused += refusal.units;
            *self.refused.entry(refusal.reason).or_default() += 1;
        }
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

/// Every reason a send can be refused for, as reports and the load
/// schema spell them: HTTP's, gRPC's statuses, and the SDK kind's own.
pub const REASONS: [&str; 13] = [
    "rate_limited",
    "server_error",
    "client_error",
    "partial_success",
    "unreachable",
    "unavailable",
    "resource_exhausted",
    "invalid_argument",
    "grpc_error",
    "deadline",
    "sdk_error",
    "sdk_queue_full",
    "sdk_unexported",
];

/// The reason a send was refused, as a bounded label.
pub fn refusal_reason(err: &EmitError) -> &'static str {
    match err {
        EmitError::Rejected { .. } => "partial_success",
        EmitError::Http(HttpError::Status { status, .. }) => status_reason(*status),
        EmitError::Http(_) => "unreachable",
        EmitError::Grpc(e) => e.reason(),
    }
}

/// The reason an HTTP status refuses a send.
pub fn status_reason(status: u16) -> &'static str {
    match status {
        429 => "rate_limited",
        s if s >= 500 => "server_error",
        _ => "client_error",
    }
}

/// One send, as it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// When the plan meant it to start (its actual start when nothing
    /// planned it, as for goose's throttle).
    pub intended_start: Instant,
    pub start: Instant,
    pub end: Instant,
    /// The HTTP status that came back; 0 when none did.
    pub status: u16,
    pub units: u64,
    /// Request bytes; 0 when the sender does not know them.
    pub bytes: u64,
    /// Why it was not wholly accepted, if it was not.
    pub refused: Option<Refusal>,
}

/// Why a send was refused, and how many of its units: all of them, but
/// for a partial success, which names how many it rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// A bounded reason (`rate_limited`, `partial_success`, …).
    pub reason: &'static str,
    pub units: u64,
}

impl Sample {
    /// The sample of a send of `units` and `bytes` that ended now with
    /// `result` (the status that came back).
    pub fn of(
        intended_start: Instant,
        start: Instant,
        units: u64,
        bytes: u64,
        result: &Result<u16, EmitError>,
    ) -> Sample {
        let (status, refused) = match result {
            Ok(status) => (*status, None),
            Err(e) => (
                match e {
                    EmitError::Http(h) => h.status_code().unwrap_or(0),
                    // A gRPC status comes back in an HTTP/2 200's trailers.
                    EmitError::Grpc(g) => g.code().map_or(0, |_| 200),
                    EmitError::Rejected { .. } => 200,
                },
                Some(Refusal {
                    reason: refusal_reason(e),
                    units: match e {
                        // The rest of the request was accepted.
                        EmitError::Rejected { rejected, .. } => (*rejected).clamp(1, units.max(1) as i64) as u64,
                        _ => units,
                    },
                }),
            ),
        };
        Sample {
            intended_start,
            start,
            end: Instant::now(),
            status,
            units,
            bytes,
            refused,
        }
    }

    /// Units the stack took.
    pub fn units_accepted(&self) -> u64 {
        self.units - self.refused.map_or(0, |r| r.units.min(self.units))
    }
}

/// Counters read while the kind runs.
#[derive(Debug, Default)]
pub struct Live {
    offered: AtomicU64,
    accepted: AtomicU64,
    refused: AtomicU64,
    stalls: AtomicU64,
}

/// The live counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub offered: u64,
    pub accepted: u64,
    pub refused: u64,
}

impl Live {
    pub fn counts(&self) -> Counts {
        Counts {
            offered: self.offered.load(Ordering::Relaxed),
            accepted: self.accepted.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }

    /// Times a sender waited for the collector so far.
    pub fn collector_stalls(&self) -> u64 {
        self.stalls.load(Ordering::Relaxed)
    }
}

/// Samples on their way to the collector, and where to hand the emptied
/// buffer back.
struct Batch {
    samples: Vec<Sample>,
    back: mpsc::UnboundedSender<Vec<Sample>>,
}

/// The kind's handle: gives each worker its buffer.
#[derive(Debug, Clone)]
pub struct Recorder {
    live: Arc<Live>,
    samples: mpsc::Sender<Batch>,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Batch({})", self.samples.len())
    }
}

impl Recorder {
    /// A buffer for one worker (or goose user).
    pub fn buffer(&self) -> SampleBuffer {
        let (back, spare) = mpsc::unbounded_channel();
        SampleBuffer {
            live: self.live.clone(),
            samples: self.samples.clone(),
            buf: Vec::new(),
            back,
            spare,
            flushed: Instant::now(),
        }
    }
}

/// One worker's samples on their way to the collector. Cloning gives an
/// empty buffer of its own; dropping one hands what it holds on.
#[derive(Debug)]
pub struct SampleBuffer {
    live: Arc<Live>,
    samples: mpsc::Sender<Batch>,
    buf: Vec<Sample>,
    /// Emptied buffers coming back from the collector.
    back: mpsc::UnboundedSender<Vec<Sample>>,
    spare: mpsc::UnboundedReceiver<Vec<Sample>>,
    flushed: Instant,
}

impl SampleBuffer {
    /// `units` are about to be sent.
    pub fn offered(&self, units: u64) {
        self.live.offered.fetch_add(units, Ordering::Relaxed);
    }

    /// Records one send; goes to the collector when the buffer is full or
    /// due.
    pub async fn push(&mut self, sample: Sample) {
        if let Some(refusal) = sample.refused {
            self.live.refused.fetch_add(refusal.units, Ordering::Relaxed);
        }
        self.live.accepted.fetch_add(sample.units_accepted(), Ordering::Relaxed);
        self.buf.push(sample);
        if self.buf.len() >= FLUSH_AT || sample.end.saturating_duration_since(self.flushed) >= FLUSH_EVERY {
            self.flush().await;
        }
    }

    /// Hands what the buffer holds to the collector, waiting (and counting
    /// the stall) if it has fallen behind.
    pub async fn flush(&mut self) {
        if let Some(batch) = self.take() {
            match self.samples.try_send(batch) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(batch)) => {
                    self.live.stalls.fetch_add(1, Ordering::Relaxed);
                    let _ = self.samples.send(batch).await;
                }
                // The collector is gone: nobody is counting any more.
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
    }

    /// The held samples as a batch, the buffer refilled from a spare.
    fn take(&mut self) -> Option<Batch> {
        if self.buf.is_empty() {
            return None;
        }
        self.flushed = Instant::now();
        let spare = self.spare.try_recv().unwrap_or_default();
        Some(Batch {
            samples: std::mem::replace(&mut self.buf, spare),
            back: self.back.clone(),
        })
    }
}

impl Clone for SampleBuffer {
    fn clone(&self) -> Self {
        Recorder {
            live: self.live.clone(),
            samples: self.samples.clone(),
        }
        .buffer()
    }
}

impl Drop for SampleBuffer {
    /// A goose user ends by being dropped: what it holds still counts.
    fn drop(&mut self) {
        let Some(batch) = self.take() else {
            return;
        };
        if let Err(mpsc::error::TrySendError::Full(batch)) = self.samples.try_send(batch) {
            self.live.stalls.fetch_add(1, Ordering::Relaxed);
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let samples = self.samples.clone();
                runtime.spawn(async move {
                    let _ = samples.send(batch).await;
                });
            }
        }
    }
}

/// A recorder, its live counters, and the collector that resolves to the
/// kind's stats once the recorder and every buffer are dropped.
pub fn recorder() -> (Recorder, Arc<Live>, JoinHandle<KindStats>) {
    let live = Arc::new(Live::default());
    let (tx, mut rx) = mpsc::channel::<Batch>(CHANNEL);
    let counters = live.clone();
    let collector = tokio::spawn(async move {
        let mut stats = KindStats::default();
        while let Some(Batch { mut samples, back }) = rx.recv().await {
            for sample in samples.drain(..) {
                stats.add(&sample);
            }
            let _ = back.send(samples);
        }
        stats.collector_stalls = counters.collector_stalls();
        stats
    });
    (
        Recorder {
            live: live.clone(),
            samples: tx,
        },
        live,
        collector,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at: Instant, latency_ms: u64, units: u64, refused: Option<&'static str>) -> Sample {
        Sample {
            intended_start: at,
            start: at,
            end: at + Duration::from_millis(latency_ms),
            status: if refused.is_some() { 429 } else { 200 },
            units,
            bytes: 100,
            refused: refused.map(|reason| Refusal { reason, units }),
        }
    }

    #[test]
    fn the_load_schema_names_every_reason_and_kind() {
        let schema: serde_json::Value = serde_json::from_str(include_str!("../../schema/load.schema.json")).unwrap();
        let names = |def: &str| -> Vec<String> {
            let mut names: Vec<String> = schema["$defs"][def]["enum"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect();
            names.sort();
            names
        };
        let mut reasons: Vec<String> = REASONS.iter().map(|r| (*r).to_owned()).collect();
        reasons.sort();
        assert_eq!(names("reason"), reasons);
        let mut kinds: Vec<String> = crate::load::scenario::TrafficKind::ALL
            .iter()
            .map(|k| k.as_str().to_owned())
            .collect();
        kinds.sort();
        assert_eq!(names("kind_name"), kinds);
    }

    #[tokio::test]
    async fn a_partial_success_refuses_only_what_it_rejected() {
        let (rec, live, collector) = recorder();
        let mut buffer = rec.buffer();
        let at = Instant::now();
        let rejected = |units, rejected| {
            let answer = Err(EmitError::Rejected {
                url: url::Url::parse("http://collector:4318/v1/logs").unwrap(),
                rejected,
                message: "dropped".into(),
            });
            Sample::of(at, at, units, 0, &answer)
        };
        buffer.push(rejected(100, 30)).await;
        // A count past the request's is capped at it.
        buffer.push(rejected(10, 50)).await;
        assert_eq!(
            live.counts(),
            Counts {
                offered: 0,
                accepted: 70,
                refused: 40
            }
        );
        drop((rec, buffer));
        let stats = collector.await.unwrap();
        assert_eq!((stats.units_accepted, stats.units_refused), (70, 40));
        assert_eq!(stats.refused.get("partial_success"), Some(&2));
    }

    #[tokio::test]
    async fn the_collector_sees_what_the_live_counters_saw() {
        let (rec, live, collector) = recorder();
        let mut buffer = rec.buffer();
        let at = Instant::now();
        buffer.offered(30);
        buffer.push(sample(at, 5, 10, None)).await;
        buffer.push(sample(at, 7, 10, Some("rate_limited"))).await;
        buffer.push(sample(at, 9, 10, None)).await;
        assert_eq!(
            live.counts(),
            Counts {
                offered: 30,
                accepted: 20,
                refused: 10
            }
        );
        drop((rec, buffer));
        let stats = collector.await.unwrap();
        assert_eq!((stats.units_accepted, stats.units_refused, stats.batches), (20, 10, 3));
        assert_eq!((stats.refused.get("rate_limited"), stats.bytes_sent), (Some(&1), 300));
        assert!((stats.error_ratio() - 1.0 / 3.0).abs() < 1e-9);
    }

    #[tokio::test]
    async fn latency_counts_from_the_intended_start_and_late_starts_are_counted() {
        let (rec, _, collector) = recorder();
        let mut buffer = rec.buffer();
        let intended = Instant::now();
        let mut late = sample(intended, 0, 1, None);
        late.start = intended + Duration::from_millis(300);
        late.end = late.start + Duration::from_millis(20);
        buffer.push(late).await;
        buffer.push(sample(intended, 20, 1, None)).await;
        drop((rec, buffer));
        let stats = collector.await.unwrap();
        assert_eq!(stats.late_starts, 1);
        assert_eq!(stats.latency.percentile_ms(100.0), 320);
        assert_eq!(stats.service.percentile_ms(100.0), 20);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_collector_behind_makes_senders_wait_and_is_counted_never_dropped() {
        let (rec, live, collector) = recorder();
        // On one thread the collector cannot run while the buffers fill
        // the channel; each full buffer goes at once.
        let mut buffers: Vec<SampleBuffer> = (0..CHANNEL + 3).map(|_| rec.buffer()).collect();
        let at = Instant::now();
        for buffer in &mut buffers {
            for _ in 0..FLUSH_AT {
                buffer.push(sample(at, 1, 1, None)).await;
            }
        }
        drop((rec, buffers));
        let stats = collector.await.unwrap();
        assert_eq!(stats.units_accepted, ((CHANNEL + 3) * FLUSH_AT) as u64);
        assert!(stats.collector_stalls >= 1, "{stats:?}");
        assert_eq!(stats.collector_stalls, live.collector_stalls());
    }

    #[tokio::test]
    async fn a_dropped_buffer_still_counts_and_a_clone_starts_empty() {
        let (rec, _, collector) = recorder();
        let mut buffer = rec.buffer();
        let at = Instant::now();
        // Just flushed, so the first sample stays in the buffer.
        buffer.push(sample(at, 1, 1, None)).await;
        buffer.flushed = Instant::now();
        buffer.push(sample(at, 1, 2, None)).await;
        let clone = buffer.clone();
        drop((rec, buffer, clone));
        let stats = collector.await.unwrap();
        assert_eq!((stats.batches, stats.units_accepted), (2, 3));
    }
}
