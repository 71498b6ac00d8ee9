//! The canary's loop: every `interval`, one probe per pillar (traces, logs,
//! metrics, profiles) through that pillar's round trip, each waited for
//! on its own, side by side with the next ones; every probe that ends is
//! counted in the metrics and handed to the caller, until the run's
//! `duration` is up or its `rounds` are sent (then the probes in flight are
//! waited for) or `stop` turns true (then they are dropped).
//!
//! A probe the store answered without is missing: lost data. A probe
//! whose write was refused or whose reads all failed is an error with the
//! check's reason, never missing: the read or write path failed, and
//! nothing is known of the data. A pillar the target has no endpoint for
//! is left out after its first probe says so.
//!
//! Uses: roundtrip::probe, canary::metrics, check, measure::latency.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::canary::metrics::{CanaryMetrics, ProbeEnd};
use crate::check::{CheckCtx, Pillar, Status};
use crate::measure::latency::LatencyHistogram;
use crate::roundtrip::probe::{self, Prober};

/// How the canary runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Between one round of probes and the next.
    pub interval: Duration,
    /// How long a probe may take to be read back before it is missing.
    pub give_up: Duration,
    /// How long to probe; until stopped when `None`.
    pub duration: Option<Duration>,
    /// How many rounds to probe, at most; with `duration`, whichever
    /// comes first ends the run.
    pub rounds: Option<u64>,
}

/// One probe, ended.
#[derive(Debug, Clone)]
pub struct ProbeResult {
    /// Its number: probe `n` of every pillar was written in round `n`.
    pub n: u64,
    pub pillar: Pillar,
    pub end: ProbeEnd,
    /// What the store said, for a probe that was not found: the missing
    /// item's id, or why it could not be decided.
    pub detail: Option<String>,
}

/// One pillar's probes so far.
#[derive(Debug, Clone, Default)]
pub struct PillarTally {
    pub found: u64,
    pub missing: u64,
    pub errors: u64,
    /// The errors by the check's reason.
    pub reasons: BTreeMap<&'static str, u64>,
    /// The rounds of the first `MISSING_KEPT` missing probes.
    pub missing_rounds: Vec<u64>,
    pub latency: LatencyHistogram,
}

/// Missing rounds kept per pillar, so a long run's memory stays bounded.
pub const MISSING_KEPT: usize = 100;

/// What a canary run saw.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub rounds: u64,
    pub pillars: BTreeMap<Pillar, PillarTally>,
    /// Pillars left out, with why (no endpoint in the target).
    pub left_out: Vec<(Pillar, String)>,
    /// Stopped by a signal, probes in flight dropped.
    pub interrupted: bool,
}

impl Summary {
    fn add(&mut self, result: &ProbeResult) {
        let tally = self.pillars.entry(result.pillar).or_default();
        match result.end {
            ProbeEnd::Found(seconds) => {
                tally.found += 1;
                tally.latency.record(Duration::from_secs_f64(seconds));
            }
            ProbeEnd::Missing => {
                tally.missing += 1;
                if tally.missing_rounds.len() < MISSING_KEPT {
                    tally.missing_rounds.push(result.n);
                }
            }
            ProbeEnd::Error(reason) => {
                tally.errors += 1;
                *tally.reasons.entry(reason).or_default() += 1;
            }
        }
    }

    pub fn missing(&self) -> u64 {
        self.pillars.values().map(|t| t.missing).sum()
    }

    /// Probes the stores decided on (found or missing).
    pub fn checked(&self) -> u64 {
        self.pillars.values().map(|t| t.found + t.missing).sum()
    }
}

/// What a probe's round trip came to.
enum Probed {
    Ended(ProbeResult),
    LeftOut(Pillar, String),
}

/// Probes `ctx`'s target until `settings.duration` is up or `stop` turns
/// true, calling `seen` with each probe as it ends.
pub async fn run(
    ctx: &CheckCtx,
    settings: &Settings,
    metrics: Arc<CanaryMetrics>,
    mut stop: watch::Receiver<bool>,
    mut seen: impl FnMut(&ProbeResult),
) -> Summary {
    let prober = Prober::new(ctx, settings.give_up, "c");
    let mut summary = Summary::default();
    let mut probes: JoinSet<Probed> = JoinSet::new();
    let mut tick = tokio::time::interval(settings.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let until = settings.duration.map(|d| Instant::now() + d);
    let mut probing = true;
    let mut slot = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick(), if probing => {
                let done = until.is_some_and(|u| Instant::now() >= u)
                    || settings.rounds.is_some_and(|r| summary.rounds >= r);
                if done {
                    probing = false;
                } else {
                    let n = summary.rounds;
                    summary.rounds += 1;
                    // Ids from the round's wall-clock second, never reused
                    // within the run: a canary restarted with the same seed
                    // writes new ids, so an earlier run's probe cannot stand
                    // in for one that was lost.
                    slot = crate::clock::unix_nanos().div_euclid(1_000_000_000).max(slot + 1);
                    let left_out: Vec<Pillar> = summary.left_out.iter().map(|(p, _)| *p).collect();
                    for (pillar, check) in probe::pillars().filter(|(p, _)| !left_out.contains(p)) {
                        let (prober, metrics) = (prober.clone(), metrics.clone());
                        metrics.started(pillar);
                        probes.spawn(async move { probe_once(&prober, &metrics, n, slot, pillar, check).await });
                    }
                }
            }
            done = probes.join_next(), if !probes.is_empty() => {
                match done {
                    Some(Ok(Probed::Ended(result))) => {
                        summary.add(&result);
                        seen(&result);
                    }
                    Some(Ok(Probed::LeftOut(pillar, why))) => {
                        if !summary.left_out.iter().any(|(p, _)| *p == pillar) {
                            summary.left_out.push((pillar, why));
                        }
                    }
                    Some(Err(_)) | None => {}
                }
            }
            _ = stop.wait_for(|s| *s) => {
                summary.interrupted = true;
                probes.shutdown().await;
                break;
            }
        }
        if !probing && probes.is_empty() {
            break;
        }
    }
    summary
}

async fn probe_once(
    prober: &Prober,
    metrics: &CanaryMetrics,
    n: u64,
    slot: u64,
    pillar: Pillar,
    check: &str,
) -> Probed {
    let measured = prober.probe(slot, pillar, check).await;
    let (end, detail) = match measured {
        Ok(ingest) if ingest.found > 0 => (
            ProbeEnd::Found(ingest.latency.percentile_ms(100.0) as f64 / 1000.0),
            None,
        ),
        Ok(ingest) if ingest.undecided > 0 => (ProbeEnd::Error("read_failed"), ingest.read_error),
        Ok(ingest) if ingest.sent > 0 => (ProbeEnd::Missing, ingest.missing.first().cloned()),
        Ok(_) => (ProbeEnd::Error("not_sent"), None),
        Err(not) if not.status == Status::Skip => {
            metrics.left_out(pillar);
            return Probed::LeftOut(pillar, not.summary);
        }
        Err(not) => (
            ProbeEnd::Error(not.reason.map_or("error", |r| r.as_str())),
            Some(not.summary),
        ),
    };
    metrics.ended(pillar, end);
    Probed::Ended(ProbeResult { n, pillar, end, detail })
}
