//! The reference stack's own cAdvisor: one simulated container,
//! `sim-ingest`, whose working set is a base plus, under the
//! `memory_growth_per_item` fault, a number of bytes per item/s currently
//! ingested — so a capacity search has a memory gate that breaks at a known
//! rate — or, under `memory_pressure`, a share of its limit at rest. Written into Mimir as cAdvisor's series are
//! (`container_memory_working_set_bytes`, `container_spec_memory_limit_bytes`),
//! so headroom is read back the way it is on the deployment. Its CPU
//! (`container_cpu_usage_seconds_total{cpu="total"}`) is a counter that
//! grows by a base load plus a cost per item ingested, and the host's
//! node-exporter series are written beside it, on the same tick.
//!
//! Uses: state, metrics, node_exporter.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::logs::unix_nanos;
use crate::node_exporter::{self, Host};
use crate::state::SimState;

pub const CONTAINER: &str = "sim-ingest";
pub const LIMIT_BYTES: u64 = 384 * 1024 * 1024;
pub const BASE_BYTES: u64 = 64 * 1024 * 1024;
/// Over how long the ingest rate is measured.
const WINDOW: Duration = Duration::from_secs(1);
const EVERY: Duration = Duration::from_millis(200);
/// Cores the container uses at rest, and CPU seconds per item ingested.
const BASE_CORES: f64 = 0.02;
const SECONDS_PER_ITEM: f64 = 20e-6;
/// Cores the rest of the host uses at rest.
const HOST_BASE_CORES: f64 = 0.08;
/// Alloy's scrape interval, and how many scrapes before the start exist.
const SCRAPE_INTERVAL: Duration = Duration::from_secs(30);
const BACKFILL_SCRAPES: i64 = 20;

fn ingested(state: &SimState) -> u64 {
    state.traces.counts().spans_received
        + state.logs.counts().entries_received
        + state.metrics.counts().samples_received
}

/// The cores the container uses at `rate` items/s, at most the host's.
fn container_cores(rate: f64) -> f64 {
    (BASE_CORES + rate.max(0.0) * SECONDS_PER_ITEM).min(node_exporter::CPUS as f64)
}

/// Writes the scrapes of the last `BACKFILL_SCRAPES` intervals at rest:
/// the host and container were up before the stack started, and a rate
/// over a dashboard's window needs that history, as it has on the
/// deployment.
fn backfill(state: &SimState, host: &mut Host, cpu_seconds: &mut f64) {
    let now_ms = (unix_nanos() / 1_000_000) as i64;
    let step = SCRAPE_INTERVAL.as_secs_f64();
    for k in (1..=BACKFILL_SCRAPES).rev() {
        let ts_ms = now_ms - k * SCRAPE_INTERVAL.as_millis() as i64;
        *cpu_seconds += BASE_CORES * step;
        host.advance(step, (HOST_BASE_CORES + BASE_CORES) / node_exporter::CPUS as f64);
        state.metrics.put_own(cpu_labels(), ts_ms, *cpu_seconds);
        for (labels, value) in host.series(BASE_BYTES as f64) {
            state.metrics.put_own(labels, ts_ms, value);
        }
    }
}

fn series_labels(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("__name__".to_owned(), name.to_owned()),
        ("name".to_owned(), CONTAINER.to_owned()),
        ("job".to_owned(), "cadvisor".to_owned()),
    ])
}

fn cpu_labels() -> BTreeMap<String, String> {
    let mut cpu = series_labels("container_cpu_usage_seconds_total");
    cpu.insert("cpu".to_owned(), "total".to_owned());
    cpu
}

/// Publishes the container's memory and CPU, and the host's, until `stop`
/// turns true.
pub async fn run(state: Arc<SimState>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut history: VecDeque<(Instant, u64)> = VecDeque::new();
    let mut host = Host::default();
    let mut cpu_seconds = 0.0;
    let mut last = Instant::now();
    backfill(&state, &mut host, &mut cpu_seconds);
    loop {
        let now = Instant::now();
        let tick = (now - last).as_secs_f64();
        last = now;
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
        let labels = series_labels;
        state
            .metrics
            .put_own(labels("container_memory_working_set_bytes"), ts_ms, working);
        state
            .metrics
            .put_own(labels("container_spec_memory_limit_bytes"), ts_ms, LIMIT_BYTES as f64);
        let cores = container_cores(rate);
        cpu_seconds += cores * tick;
        state.metrics.put_own(cpu_labels(), ts_ms, cpu_seconds);
        host.advance(tick, (HOST_BASE_CORES + cores) / node_exporter::CPUS as f64);
        for (labels, value) in host.series(working) {
            state.metrics.put_own(labels, ts_ms, value);
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_cpu_grows_with_ingest_and_is_capped() {
        assert_eq!(container_cores(0.0), BASE_CORES);
        assert!(container_cores(10_000.0) > container_cores(100.0));
        assert_eq!(container_cores(1e12), node_exporter::CPUS as f64);
        assert_eq!(container_cores(-5.0), BASE_CORES);
    }
}
