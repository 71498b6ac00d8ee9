//! The part of the stack a check is about. A leaf: the catalog, the run's
//! ledger, the round trips and the load markers all name pillars, and it
//! names nothing of theirs.
//!
//! Uses: nothing.

/// The part of the stack a check is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pillar {
    Stack,
    Traces,
    Logs,
    Metrics,
    Profiles,
    Frontend,
    Correlation,
    Ingest,
    Capacity,
    Dashboards,
    Alerts,
}

impl Pillar {
    pub const fn as_str(self) -> &'static str {
        match self {
            Pillar::Stack => "stack",
            Pillar::Traces => "traces",
            Pillar::Logs => "logs",
            Pillar::Metrics => "metrics",
            Pillar::Profiles => "profiles",
            Pillar::Frontend => "frontend",
            Pillar::Correlation => "correlation",
            Pillar::Ingest => "ingest",
            Pillar::Capacity => "capacity",
            Pillar::Dashboards => "dashboards",
            Pillar::Alerts => "alerts",
        }
    }
}
