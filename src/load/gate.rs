//! The gates a stretch of load is judged by, in the order they are checked:
//! refused share per traffic kind, p99 ingest latency and completeness per
//! pillar (from the markers), and memory headroom per container and of the
//! instance budget.
//!
//! Uses: load::{scenario, session}, checks (pillars), measure::memory.

use serde::{Deserialize, Serialize};

use crate::checks::Pillar;
use crate::load::scenario::{Gates, TrafficKind};
use crate::load::session::Observed;
use crate::measure::memory::Least;

/// The gate a stretch of load broke, with the figure that broke it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "gate", rename_all = "snake_case")]
pub enum Broken {
    ErrorRatio { kind: TrafficKind, ratio: f64 },
    IngestLatency { pillar: Pillar, p99_ms: u64, slo_ms: u64 },
    Completeness { pillar: Pillar, ratio: f64 },
    MemoryHeadroom { container: String, headroom: f64 },
}

impl Broken {
    /// The gate's name, as `load.json` spells it.
    pub const fn name(&self) -> &'static str {
        match self {
            Broken::ErrorRatio { .. } => "error_ratio",
            Broken::IngestLatency { .. } => "ingest_latency",
            Broken::Completeness { .. } => "completeness",
            Broken::MemoryHeadroom { .. } => "memory_headroom",
        }
    }
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Broken::ErrorRatio { kind, ratio } => write!(f, "{} refused {:.1} %", kind.as_str(), ratio * 100.0),
            Broken::IngestLatency { pillar, p99_ms, slo_ms } => write!(
                f,
                "{} p99 ingest latency {p99_ms} ms over the {slo_ms} ms SLO",
                pillar.as_str()
            ),
            Broken::Completeness { pillar, ratio } => {
                write!(
                    f,
                    "{} read back only {:.1} % of its markers",
                    pillar.as_str(),
                    ratio * 100.0
                )
            }
            Broken::MemoryHeadroom { container, headroom } => {
                write!(f, "{container} kept only {:.0} % memory headroom", headroom * 100.0)
            }
        }
    }
}

/// The least memory headroom from `from_secs` on: the tightest container's,
/// or the budget's when that is tighter.
pub fn min_headroom(observed: &Observed, from_secs: f64) -> Option<Least> {
    observed
        .timeline
        .memory
        .iter()
        .filter(|m| m.at_secs >= from_secs)
        .flat_map(|m| {
            let budget = m.headroom.budget.map(|headroom| Least {
                container: "instance budget".to_owned(),
                headroom,
            });
            m.headroom.min_container.clone().into_iter().chain(budget)
        })
        .min_by(|a, b| a.headroom.total_cmp(&b.headroom))
}

/// The pillars whose markers could not all be read: the gates could not
/// judge them fully, and the message says the stack could not be read.
pub fn unread(observed: &Observed) -> Vec<String> {
    observed
        .markers
        .iter()
        .filter(|(_, m)| m.undecided > 0)
        .map(|(pillar, m)| {
            format!(
                "{}: the stack could not be read for {} of {} markers ({})",
                pillar.as_str(),
                m.undecided,
                m.sent,
                m.read_error.as_deref().unwrap_or("no read finished")
            )
        })
        .collect()
}

/// The worst refused share among the kinds.
pub fn worst_error_ratio(observed: &Observed) -> Option<(TrafficKind, f64)> {
    observed
        .kinds
        .iter()
        .map(|(k, stats)| (*k, stats.error_ratio()))
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// The first gate `observed` breaks; memory is judged from `settled_secs`
/// on, once the stack has settled at the rate.
pub fn judge(gates: &Gates, observed: &Observed, settled_secs: f64) -> Option<Broken> {
    if let Some((kind, ratio)) = worst_error_ratio(observed)
        && ratio > gates.max_error_ratio
    {
        return Some(Broken::ErrorRatio { kind, ratio });
    }
    let slo_ms = gates.p99_ingest_latency.as_millis() as u64;
    for (pillar, m) in &observed.markers {
        if let Some(p99_ms) = m.p99_ms()
            && p99_ms > slo_ms
        {
            return Some(Broken::IngestLatency {
                pillar: *pillar,
                p99_ms,
                slo_ms,
            });
        }
    }
    // Undecided markers are the read path's failure: they break no gate.
    for (pillar, m) in &observed.markers {
        if let Some(ratio) = m.completeness()
            && ratio < gates.min_completeness
        {
            return Some(Broken::Completeness { pillar: *pillar, ratio });
        }
    }
    match min_headroom(observed, settled_secs) {
        Some(Least { container, headroom }) if headroom < gates.min_memory_headroom => {
            Some(Broken::MemoryHeadroom { container, headroom })
        }
        _ => None,
    }
}
