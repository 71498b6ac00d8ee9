//! Ingest markers while load runs: every second, for each pillar, one item
//! goes through that pillar's round trip (`roundtrip`, the same code its
//! `*.roundtrip` check judges, one item wide) and its write-to-queryable
//! latency lands in the pillar's HdrHistogram. Markers the store answered without
//! count against completeness; markers whose reads failed are undecided and
//! count neither way — the read path failed, not the stack.
//!
//! Each marker is a probe (`roundtrip::probe`): its own run id and seed, so
//! no marker can be satisfied by an earlier one's data, and no new services
//! or streams in the stores.
//!
//! Markers record into a ledger of their own, never the run's.
//!
//! Uses: check (context), roundtrip::probe, measure::latency.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::check::{CheckCtx, Pillar, Status};
use crate::measure::latency::LatencyHistogram;
use crate::roundtrip::probe::{self, Prober};

/// One marker: when it was written and how long until it could be read;
/// `None` when it never could.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MarkerPoint {
    pub at_secs: f64,
    pub latency_ms: Option<f64>,
}

/// One pillar's markers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PillarMarkers {
    /// Markers whose write was acknowledged.
    pub sent: u64,
    /// Of those, read back within the round trip's deadline.
    pub found: u64,
    /// Of those, whose reads all failed: nothing can be said of them.
    pub undecided: u64,
    /// Why their reads failed, the last time.
    pub read_error: Option<String>,
    /// Markers the stack refused or could not be asked about.
    pub errors: u64,
    #[serde(skip)]
    pub latency: LatencyHistogram,
}

impl PillarMarkers {
    /// Found over decided (sent less undecided): 1 when nothing was sent,
    /// `None` when every marker's reads failed.
    pub fn completeness(&self) -> Option<f64> {
        crate::check::ledger::completeness(self.sent, self.found, self.undecided)
    }

    pub fn p99_ms(&self) -> Option<u64> {
        (self.latency.count() > 0).then(|| self.latency.percentile_ms(99.0))
    }
}

/// Each pillar's tally and its markers as they came back.
type Board = Arc<Mutex<BTreeMap<Pillar, (PillarMarkers, Vec<MarkerPoint>)>>>;

/// Markers being sent, and what they have shown so far.
pub struct Markers {
    board: Board,
    task: tokio::task::JoinHandle<()>,
}

impl Markers {
    /// Sends a marker per pillar every `every`, from now until `stop`
    /// turns true; times are seconds since `origin`. A marker not read back
    /// within `give_up` (or the target's own `max_wait`, if shorter) counts
    /// as missing, so a stack past its breaking point cannot stretch a
    /// capacity step by the full deadline of every marker in flight.
    pub fn start(
        ctx: &CheckCtx,
        every: Duration,
        give_up: Duration,
        origin: Instant,
        mut stop: watch::Receiver<bool>,
    ) -> Markers {
        let board: Board = Arc::default();
        let prober = Prober::new(ctx, give_up, "m");
        let shared = board.clone();
        let task = tokio::spawn(async move {
            let mut rounds = JoinSet::new();
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut disabled: Vec<Pillar> = Vec::new();
            for n in 0u64.. {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
                for (pillar, check) in probe::pillars().filter(|(p, _)| !disabled.contains(p)) {
                    let (board, prober) = (shared.clone(), prober.clone());
                    rounds.spawn(async move {
                        let at_secs = origin.elapsed().as_secs_f64();
                        let measured = prober.probe(n, pillar, check).await;
                        let mut board = board.lock().expect("marker board");
                        let (entry, points) = board.entry(pillar).or_default();
                        match measured {
                            Ok(ingest) => {
                                entry.sent += ingest.sent;
                                entry.found += ingest.found;
                                entry.undecided += ingest.undecided;
                                if ingest.read_error.is_some() {
                                    entry.read_error = ingest.read_error.clone();
                                }
                                entry.latency.merge(&ingest.latency);
                                let latency_ms = (ingest.found > 0).then(|| ingest.latency.percentile_ms(100.0) as f64);
                                points.push(MarkerPoint { at_secs, latency_ms });
                                None
                            }
                            Err(not) if not.status == Status::Skip => Some(pillar),
                            Err(_) => {
                                entry.errors += 1;
                                None
                            }
                        }
                    });
                }
                while let Some(done) = rounds.try_join_next() {
                    if let Ok(Some(pillar)) = done {
                        disabled.push(pillar);
                    }
                }
            }
            // Every marker gets its round trip's full deadline, unless the
            // run was interrupted: then the report comes first, and the
            // markers still in flight are left out of it.
            let interrupted = crate::interrupt::pressed();
            tokio::pin!(interrupted);
            loop {
                tokio::select! {
                    next = rounds.join_next() => if next.is_none() { break },
                    _ = &mut interrupted => {
                        rounds.shutdown().await;
                        break;
                    }
                }
            }
        });
        Markers { board, task }
    }

    /// Each pillar's p99 so far, ms.
    pub fn p99_ms(&self) -> BTreeMap<Pillar, u64> {
        let board = self.board.lock().expect("marker board");
        board.iter().filter_map(|(p, (m, _))| Some((*p, m.p99_ms()?))).collect()
    }

    /// Waits for the markers in flight and returns each pillar's tally and
    /// its markers in time order. Call after `stop` turned true.
    pub async fn finish(self) -> (BTreeMap<Pillar, PillarMarkers>, BTreeMap<Pillar, Vec<MarkerPoint>>) {
        let _ = self.task.await;
        let board = std::mem::take(&mut *self.board.lock().expect("marker board"));
        board
            .into_iter()
            .filter(|(_, (m, _))| m.sent + m.errors > 0)
            .map(|(pillar, (m, mut points))| {
                points.sort_by(|a, b| a.at_secs.total_cmp(&b.at_secs));
                ((pillar, m), (pillar, points))
            })
            .unzip()
    }
}
