//! Every metric `pillars canary` exports, declared here and nowhere else,
//! in OpenMetrics text. Per pillar:
//!
//! - `pillars_canary_probes_checked_total`: probes the store decided on
//!   (read back, or answered without them): the denominator;
//! - `pillars_canary_probes_missing_total`: of those, the store answered
//!   without them within the wait: lost data;
//! - `pillars_canary_probe_errors_total{reason}`: probes nothing could be
//!   decided of (the write was refused, or every read failed), by the
//!   check's bounded reason: the stack's read or write path, never
//!   counted as missing;
//! - `pillars_canary_write_to_read_seconds`: from the write to the first
//!   successful read, for probes found;
//! - `pillars_canary_probes_in_flight`: probes still waiting.
//!
//! and `pillars_canary_info{target, run_id, seed}`: with a round's
//! wall-clock second, the seed gives that round's probe ids.
//!
//! Uses: check (pillars), prometheus-client.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::check::Pillar;

/// Write-to-read buckets, seconds: the stores' flush ticks (1 s to 15 s)
/// and the search path's tens of seconds.
const BUCKETS: [f64; 12] = [0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0, 30.0, 60.0, 120.0];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PillarLabel {
    pillar: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    pillar: &'static str,
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InfoLabels {
    target: String,
    run_id: String,
    seed: String,
}

/// How one probe ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ProbeEnd {
    /// Read back this many seconds after it was written.
    Found(f64),
    /// The store answered, within the wait, without it.
    Missing,
    /// Nothing could be decided, for this bounded reason.
    Error(&'static str),
}

/// The canary's metrics, and the registry they are read from.
pub struct CanaryMetrics {
    registry: Registry,
    checked: Family<PillarLabel, Counter>,
    missing: Family<PillarLabel, Counter>,
    errors: Family<ErrorLabels, Counter>,
    latency: Family<PillarLabel, Histogram>,
    in_flight: Family<PillarLabel, Gauge>,
}

impl std::fmt::Debug for CanaryMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CanaryMetrics")
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

impl CanaryMetrics {
    pub fn new(target: &str, run_id: &str, seed: u64) -> CanaryMetrics {
        let mut registry = Registry::default();
        let checked = Family::<PillarLabel, Counter>::default();
        let missing = Family::<PillarLabel, Counter>::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        let latency = Family::<PillarLabel, Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
        let in_flight = Family::<PillarLabel, Gauge>::default();
        let info = Family::<InfoLabels, Gauge>::default();
        info.get_or_create(&InfoLabels {
            target: target.to_owned(),
            run_id: run_id.to_owned(),
            seed: seed.to_string(),
        })
        .set(1);
        registry.register(
            "pillars_canary_probes_checked",
            "Probes the store decided on: read back, or answered without them",
            checked.clone(),
        );
        registry.register(
            "pillars_canary_probes_missing",
            "Probes the store answered without, within the wait: lost data",
            missing.clone(),
        );
        registry.register(
            "pillars_canary_probe_errors",
            "Probes nothing could be decided of (write refused, or every read failed), by reason",
            errors.clone(),
        );
        registry.register(
            "pillars_canary_write_to_read_seconds",
            "From a probe's write to its first successful read",
            latency.clone(),
        );
        registry.register(
            "pillars_canary_probes_in_flight",
            "Probes written and still waiting to be read back",
            in_flight.clone(),
        );
        registry.register("pillars_canary_info", "The run the probes belong to", info);
        CanaryMetrics {
            registry,
            checked,
            missing,
            errors,
            latency,
            in_flight,
        }
    }

    /// A probe of `pillar` was written or is about to be.
    pub fn started(&self, pillar: Pillar) {
        self.in_flight.get_or_create(&label(pillar)).inc();
    }

    /// A probe of `pillar` did not run: the target has no endpoint for it.
    pub fn left_out(&self, pillar: Pillar) {
        self.in_flight.get_or_create(&label(pillar)).dec();
    }

    /// A probe of `pillar` ended.
    pub fn ended(&self, pillar: Pillar, end: ProbeEnd) {
        let l = label(pillar);
        self.in_flight.get_or_create(&l).dec();
        match end {
            ProbeEnd::Found(seconds) => {
                self.checked.get_or_create(&l).inc();
                self.latency.get_or_create(&l).observe(seconds);
            }
            ProbeEnd::Missing => {
                self.checked.get_or_create(&l).inc();
                self.missing.get_or_create(&l).inc();
            }
            ProbeEnd::Error(reason) => {
                self.errors
                    .get_or_create(&ErrorLabels {
                        pillar: pillar.as_str(),
                        reason,
                    })
                    .inc();
            }
        }
    }

    /// Every metric, in OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

fn label(pillar: Pillar) -> PillarLabel {
    PillarLabel {
        pillar: pillar.as_str(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_land_in_their_series() {
        let metrics = CanaryMetrics::new("sim", "run-1", 42);
        for end in [ProbeEnd::Found(1.5), ProbeEnd::Missing, ProbeEnd::Error("read_failed")] {
            metrics.started(Pillar::Logs);
            metrics.ended(Pillar::Logs, end);
        }
        let text = metrics.encode();
        for line in [
            "pillars_canary_probes_checked_total{pillar=\"logs\"} 2",
            "pillars_canary_probes_missing_total{pillar=\"logs\"} 1",
            "pillars_canary_probe_errors_total{pillar=\"logs\",reason=\"read_failed\"} 1",
            "pillars_canary_write_to_read_seconds_bucket{le=\"2.0\",pillar=\"logs\"} 1",
            "pillars_canary_probes_in_flight{pillar=\"logs\"} 0",
            "pillars_canary_info{target=\"sim\",run_id=\"run-1\",seed=\"42\"} 1",
        ] {
            assert!(text.contains(line), "{line} is not in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
