//! What each pillar's round trip saw in this run: sent, found, a sample of
//! what went missing, and the write-to-read latency. Round-trip checks
//! record here; `ingest.latency` and `ingest.completeness` judge from it.
//!
//! Uses: checks::spec, measure::latency.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

use crate::checks::spec::Pillar;
use crate::measure::latency::LatencyHistogram;

/// One pillar's ingest as a round trip measured it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PillarIngest {
    pub sent: u64,
    pub found: u64,
    /// Ids of missing items, at most ten.
    pub missing: Vec<String>,
    #[serde(skip)]
    pub latency: LatencyHistogram,
}

#[derive(Debug, Default)]
pub struct IngestLedger(Mutex<BTreeMap<Pillar, PillarIngest>>);

impl IngestLedger {
    pub fn record(&self, pillar: Pillar, ingest: PillarIngest) {
        self.0.lock().expect("ledger lock").insert(pillar, ingest);
    }

    pub fn get(&self, pillar: Pillar) -> Option<PillarIngest> {
        self.0.lock().expect("ledger lock").get(&pillar).cloned()
    }
}
