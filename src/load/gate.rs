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

/// One gate judged on one kind, pillar or container, as k6 prints a
/// threshold: the figure measured, the limit, and whether it held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judged {
    /// The figure, in the shape a broken gate is reported in.
    #[serde(flatten)]
    pub figure: Broken,
    /// The limit, in the figure's unit (a share, or milliseconds).
    pub limit: f64,
    pub held: bool,
}

impl Judged {
    /// `figure` judged against `limit`.
    pub fn new(figure: Broken, limit: f64) -> Judged {
        let held = match &figure {
            Broken::ErrorRatio { ratio, .. } => *ratio <= limit,
            Broken::IngestLatency { p99_ms, .. } => *p99_ms as f64 <= limit,
            Broken::Completeness { ratio, .. } => *ratio >= limit,
            Broken::MemoryHeadroom { headroom, .. } => *headroom >= limit,
        };
        Judged { figure, limit, held }
    }

    /// What the figure is about: a kind, a pillar or a container.
    pub fn subject(&self) -> &str {
        match &self.figure {
            Broken::ErrorRatio { kind, .. } => kind.as_str(),
            Broken::IngestLatency { pillar, .. } | Broken::Completeness { pillar, .. } => pillar.as_str(),
            Broken::MemoryHeadroom { container, .. } => container,
        }
    }

    /// The measured figure and the limit, as `0.0 % ≤ 1.0 %`.
    pub fn comparison(&self) -> String {
        let share = |x: f64| format!("{:.1} %", x * 100.0);
        match &self.figure {
            Broken::ErrorRatio { ratio, .. } => format!("{} ≤ {}", share(*ratio), share(self.limit)),
            Broken::IngestLatency { p99_ms, slo_ms, .. } => format!("p99 {p99_ms} ms ≤ {slo_ms} ms"),
            Broken::Completeness { ratio, .. } => format!("{} ≥ {}", share(*ratio), share(self.limit)),
            Broken::MemoryHeadroom { headroom, .. } => format!("{} ≥ {}", share(*headroom), share(self.limit)),
        }
    }
}

/// Every gate on every kind, pillar and container it applies to, in the
/// order they are judged (the worst refused share first); memory from
/// `settled_secs` on, once the stack has settled at the rate.
pub fn evaluate(gates: &Gates, observed: &Observed, settled_secs: f64) -> Vec<Judged> {
    let slo_ms = gates.p99_ingest_latency.as_millis() as u64;
    let mut ratios: Vec<(TrafficKind, f64)> = observed.kinds.iter().map(|(k, s)| (*k, s.error_ratio())).collect();
    ratios.sort_by(|a, b| b.1.total_cmp(&a.1));
    let errors = ratios
        .into_iter()
        .map(|(kind, ratio)| Judged::new(Broken::ErrorRatio { kind, ratio }, gates.max_error_ratio));
    let latency = observed.markers.iter().filter_map(|(pillar, m)| {
        let p99_ms = m.p99_ms()?;
        let figure = Broken::IngestLatency {
            pillar: *pillar,
            p99_ms,
            slo_ms,
        };
        Some(Judged::new(figure, slo_ms as f64))
    });
    // Undecided markers are the read path's failure: they break no gate.
    let completeness = observed.markers.iter().filter_map(|(pillar, m)| {
        let ratio = m.completeness()?;
        Some(Judged::new(
            Broken::Completeness { pillar: *pillar, ratio },
            gates.min_completeness,
        ))
    });
    let memory = min_headroom(observed, settled_secs).map(|Least { container, headroom }| {
        Judged::new(
            Broken::MemoryHeadroom { container, headroom },
            gates.min_memory_headroom,
        )
    });
    errors.chain(latency).chain(completeness).chain(memory).collect()
}

/// `figures` judged against the limits `like` was judged by, gate by gate
/// (a merged run, whose limits are its shards'); a gate `like` has no
/// figure for cannot be judged and is left out.
pub fn rejudge(like: &[Judged], figures: impl IntoIterator<Item = Broken>) -> Vec<Judged> {
    figures
        .into_iter()
        .filter_map(|figure| {
            let limit = like.iter().find(|j| j.figure.name() == figure.name())?.limit;
            Some(Judged::new(figure, limit))
        })
        .collect()
}

/// The first gate that did not hold.
pub fn first_broken(judged: &[Judged]) -> Option<Broken> {
    judged.iter().find(|j| !j.held).map(|j| j.figure.clone())
}

/// The first gate `observed` breaks; memory is judged from `settled_secs`
/// on, once the stack has settled at the rate.
pub fn judge(gates: &Gates, observed: &Observed, settled_secs: f64) -> Option<Broken> {
    first_broken(&evaluate(gates, observed, settled_secs))
}
