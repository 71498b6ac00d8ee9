//! The reference stack's own cAdvisor: one simulated container,
//! `sim-ingest`, whose working set is a base plus, under the
//! `memory_growth_per_item` fault, a number of bytes per item/s currently
//! ingested — so a capacity search has a memory gate that breaks at a known
//! rate — or, under `memory_pressure`, a share of its limit at rest. Written into Mimir as cAdvisor's series are
//! (`container_memory_working_set_bytes`, `container_spec_memory_limit_bytes`),
//! so headroom is read back the way it is on the deployment.
//!
//! Uses: state, metrics.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::logs::unix_nanos;
use crate::state::SimState;

pub const CONTAINER: &str = "sim-ingest";
pub const LIMIT_BYTES: u64 = 384 * 1024 * 1024;
pub const BASE_BYTES: u64 = 64 * 1024 * 1024;
/// Over how long the ingest rate is measured.
const WINDOW: Duration = Duration::from_secs(1);
const EVERY: Duration = Duration::from_millis(200);

fn ingested(state: &SimState) -> u64 {
    state.traces.counts().spans_received
        + state.logs.counts().entries_received
        + state.metrics.counts().samples_received
}

/// Publishes the container's memory until `stop` turns true.
pub async fn run(state: Arc<SimState>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut history: VecDeque<(Instant, u64)> = VecDeque::new();
    loop {
        let now = Instant::now();
        let total = ingested(&state);
        history.push_back((now, total));
        while history.len() > 1 && now - history[0].0 > WINDOW {
            history.pop_front();
        }
        let (then, before) = history[0];
        let elapsed = (now - then).as_secs_f64();
        let rate = if elapsed > 0.0 {
            (total - before) as f64 / elapsed
        } else {
            0.0
        };
        let faults = state.faults();
        let working = (BASE_BYTES as f64 + faults.memory_growth_per_item as f64 * rate)
            .max(faults.memory_pressure * LIMIT_BYTES as f64);
        let ts_ms = (unix_nanos() / 1_000_000) as i64;
        let labels = |name: &str| {
            BTreeMap::from([
                ("__name__".to_owned(), name.to_owned()),
                ("name".to_owned(), CONTAINER.to_owned()),
                ("job".to_owned(), "cadvisor".to_owned()),
            ])
        };
        state
            .metrics
            .put_own(labels("container_memory_working_set_bytes"), ts_ms, working);
        state
            .metrics
            .put_own(labels("container_spec_memory_limit_bytes"), ts_ms, LIMIT_BYTES as f64);
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
