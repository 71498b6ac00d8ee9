//! What a traffic kind did, counted as it happens: live counters the
//! progress bars and the per-second series read, and one collector task that
//! aggregates each send's outcome into an HdrHistogram and a bounded map of
//! refusal reasons. The hot path only bumps atomics and pushes a sample.
//!
//! Uses: emit::otlp (errors), measure::latency.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::emit::otlp::EmitError;
use crate::measure::latency::LatencyHistogram;
use crate::query::http::HttpError;

/// What one traffic kind did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KindStats {
    /// Units (spans, lines, samples, requests, sessions) in accepted sends.
    pub units_accepted: u64,
    pub units_refused: u64,
    pub batches: u64,
    /// Refusals and errors by reason: `rate_limited`, `server_error`,
    /// `partial_success`, `client_error`, `unreachable`.
    pub refused: BTreeMap<&'static str, u64>,
    #[serde(skip)]
    pub latency: LatencyHistogram,
    /// Why the kind's sender stopped early, if it did.
    pub failed: Option<String>,
}

impl KindStats {
    /// Refused over offered units.
    pub fn error_ratio(&self) -> f64 {
        ratio(self.units_refused, self.units_accepted + self.units_refused)
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

/// The reason a send was refused, as a bounded label.
pub fn refusal_reason(err: &EmitError) -> &'static str {
    match err {
        EmitError::Rejected { .. } => "partial_success",
        EmitError::Http(HttpError::Status { status, .. }) => status_reason(*status),
        EmitError::Http(_) => "unreachable",
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

/// Counters read while the kind runs.
#[derive(Debug, Default)]
pub struct Live {
    offered: AtomicU64,
    accepted: AtomicU64,
    refused: AtomicU64,
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
}

/// One send's outcome.
struct Sample {
    latency: Duration,
    units: u64,
    refused: Option<&'static str>,
}

/// The hot path's handle: counts offers and outcomes.
#[derive(Debug, Clone)]
pub struct Recorder {
    live: Arc<Live>,
    samples: mpsc::UnboundedSender<Sample>,
}

impl Recorder {
    /// `units` are about to be sent.
    pub fn offered(&self, units: u64) {
        self.live.offered.fetch_add(units, Ordering::Relaxed);
    }

    /// A send of `units` ended after `latency`; `refused` names why it was
    /// not accepted.
    pub fn record(&self, latency: Duration, units: u64, refused: Option<&'static str>) {
        let counter = if refused.is_some() {
            &self.live.refused
        } else {
            &self.live.accepted
        };
        counter.fetch_add(units, Ordering::Relaxed);
        let _ = self.samples.send(Sample {
            latency,
            units,
            refused,
        });
    }
}

/// A recorder, its live counters, and the collector that resolves to the
/// kind's stats once every recorder clone is dropped.
pub fn recorder() -> (Recorder, Arc<Live>, JoinHandle<KindStats>) {
    let live = Arc::new(Live::default());
    let (tx, mut rx) = mpsc::unbounded_channel::<Sample>();
    let collector = tokio::spawn(async move {
        let mut stats = KindStats::default();
        // Drained in batches: under load, one wake-up takes many samples.
        let mut samples = Vec::with_capacity(256);
        while rx.recv_many(&mut samples, 256).await > 0 {
            for sample in samples.drain(..) {
                stats.batches += 1;
                stats.latency.record(sample.latency);
                match sample.refused {
                    None => stats.units_accepted += sample.units,
                    Some(reason) => {
                        stats.units_refused += sample.units;
                        *stats.refused.entry(reason).or_default() += 1;
                    }
                }
            }
        }
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

    #[tokio::test]
    async fn the_collector_sees_what_the_live_counters_saw() {
        let (rec, live, collector) = recorder();
        rec.offered(30);
        rec.record(Duration::from_millis(5), 10, None);
        rec.record(Duration::from_millis(7), 10, Some("rate_limited"));
        rec.record(Duration::from_millis(9), 10, None);
        assert_eq!(
            live.counts(),
            Counts {
                offered: 30,
                accepted: 20,
                refused: 10
            }
        );
        drop(rec);
        let stats = collector.await.unwrap();
        assert_eq!((stats.units_accepted, stats.units_refused, stats.batches), (20, 10, 3));
        assert_eq!(stats.refused.get("rate_limited"), Some(&1));
        assert!((stats.error_ratio() - 1.0 / 3.0).abs() < 1e-9);
    }
}
