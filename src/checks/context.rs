//! What every check is given: the target, the run's identity and seed, the
//! shared HTTP client and the settings of this run.
//!
//! Uses: target, ids, query.

use std::sync::Arc;

use crate::ids::Seed;
use crate::query::tempo::TempoClient;
use crate::target::{Store, Target};

/// Which lookups `traces.roundtrip` performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceLookup {
    ById,
    Search,
    #[default]
    Both,
}

/// Per-run settings of the checks.
#[derive(Debug, Clone)]
pub struct CheckSettings {
    /// Synthetic traces `traces.roundtrip` sends.
    pub traces: u64,
    pub spans_per_trace: u32,
    pub trace_lookup: TraceLookup,
}

impl Default for CheckSettings {
    fn default() -> Self {
        CheckSettings {
            traces: 20,
            spans_per_trace: 3,
            trace_lookup: TraceLookup::Both,
        }
    }
}

#[derive(Debug, Clone)]
pub struct CheckCtx {
    pub target: Arc<Target>,
    pub run_id: String,
    pub seed: Seed,
    pub http: reqwest::Client,
    pub settings: CheckSettings,
}

impl CheckCtx {
    pub fn new(target: Arc<Target>, run_id: String, seed: Seed, settings: CheckSettings) -> Self {
        let http = crate::query::http::client(target.limits.request_timeout);
        CheckCtx {
            target,
            run_id,
            seed,
            http,
            settings,
        }
    }

    /// The `service.name` of what one check sends in this run, so runs and
    /// checks never read each other's data.
    pub fn service_name(&self, check: &str) -> String {
        format!("pillars-{}-{:08x}", check.replace('.', "-"), self.seed.0 as u32)
    }

    pub fn tempo(&self) -> Option<TempoClient> {
        let endpoint = self.target.read(Store::Tempo)?;
        Some(TempoClient::new(
            self.http.clone(),
            endpoint,
            self.target.limits.request_timeout,
        ))
    }
}
