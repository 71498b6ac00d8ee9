//! What each pillar's round trip saw in this run: sent, found, a sample of
//! what went missing, and the write-to-read latency. The round trips
//! (`roundtrip`) record here; `ingest.latency` and `ingest.completeness`
//! judge from it. Every check is given the run's ledger with its context.
//!
//! Uses: check::pillar, measure::latency.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

use crate::check::pillar::Pillar;
use crate::measure::latency::LatencyHistogram;

/// One pillar's ingest as a round trip measured it: every sent item was
/// found, missing (the store answered without it) or undecided (its reads
/// failed).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PillarIngest {
    pub sent: u64,
    pub found: u64,
    /// Ids of missing items, at most ten.
    pub missing: Vec<String>,
    pub missing_total: u64,
    pub undecided: u64,
    /// Why reads failed, when some did.
    pub read_error: Option<String>,
    #[serde(skip)]
    pub latency: LatencyHistogram,
}

#[derive(Debug, Default)]
pub struct IngestLedger(Mutex<BTreeMap<Pillar, PillarIngest>>);

impl PillarIngest {
    pub fn completeness(&self) -> Option<f64> {
        completeness(self.sent, self.found, self.undecided)
    }
}

/// Found over decided (sent less undecided): undecided items are left
/// out, as they say nothing about the stack. 1 when nothing was sent,
/// `None` when nothing was decided.
pub fn completeness(sent: u64, found: u64, undecided: u64) -> Option<f64> {
    let decided = sent.saturating_sub(undecided);
    if sent == 0 {
        Some(1.0)
    } else if decided == 0 {
        None
    } else {
        Some(found as f64 / decided as f64)
    }
}

impl IngestLedger {
    pub fn record(&self, pillar: Pillar, ingest: PillarIngest) {
        self.0.lock().expect("ledger lock").insert(pillar, ingest);
    }

    pub fn get(&self, pillar: Pillar) -> Option<PillarIngest> {
        self.0.lock().expect("ledger lock").get(&pillar).cloned()
    }
}
