//! What every check is given: the target, the run's identity and seed, the
//! shared HTTP client, the settings of this run, the run's ledger, and a
//! read client per store the target names.
//!
//! Uses: check::ledger, target, ids, query, measure::memory.

use std::sync::Arc;

use crate::check::ledger::IngestLedger;
use crate::ids::Seed;
use crate::query::loki::LokiClient;
use crate::query::mimir::MimirClient;
use crate::query::pyroscope::PyroscopeClient;
use crate::query::tempo::TempoClient;
use crate::target::{Signal, Store, Target, Transport};

/// Which lookups `traces.roundtrip` performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceLookup {
    ById,
    Search,
    #[default]
    Both,
}

/// Which OTLP transports the round trips send over (`--transport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportChoice {
    /// Each signal's own: the protocol the target (or its exporter
    /// variables) says the deployment's backend uses.
    #[default]
    Target,
    Http,
    Grpc,
    /// Every transport the target names an endpoint for, each reported.
    Both,
}

/// Per-run settings of the checks. Each round trip and check reads its
/// own part of them (`roundtrip::traces::Settings::of`, …), and its
/// deadline follows from that part.
#[derive(Debug, Clone)]
pub struct CheckSettings {
    /// Synthetic traces `traces.roundtrip` sends.
    pub traces: u64,
    pub spans_per_trace: u32,
    /// Synthetic log records `logs.roundtrip` sends.
    pub logs: u64,
    /// Synthetic metric series `metrics.roundtrip` sends.
    pub metrics: u64,
    /// Synthetic profiles `profiles.roundtrip` pushes.
    pub profiles: u64,
    /// Synthetic browser sessions `frontend.roundtrip` sends.
    pub frontend_sessions: u64,
    /// Sessions each correlation check follows through the app.
    pub correlation_sessions: u64,
    /// The backend path those sessions call through the app's base URL.
    pub api_path: String,
    pub trace_lookup: TraceLookup,
    pub transport: TransportChoice,
}

impl Default for CheckSettings {
    fn default() -> Self {
        CheckSettings {
            traces: 20,
            spans_per_trace: 3,
            logs: 20,
            metrics: 20,
            profiles: 20,
            frontend_sessions: 3,
            correlation_sessions: 3,
            api_path: "/api/delay/fast".into(),
            trace_lookup: TraceLookup::Both,
            transport: TransportChoice::Target,
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
    /// What the round trips of this run measured, per pillar.
    pub ledger: Arc<IngestLedger>,
}

impl CheckCtx {
    pub fn new(target: Arc<Target>, run_id: String, seed: Seed, settings: CheckSettings) -> Self {
        let http = crate::http::client(target.limits.request_timeout);
        CheckCtx {
            target,
            run_id,
            seed,
            http,
            settings,
            ledger: Arc::default(),
        }
    }

    /// The transports `signal`'s round trip runs over, the one its results
    /// stand for (and the ledger records) first.
    pub fn transports(&self, signal: Signal) -> Vec<Transport> {
        let own = *self.target.otlp_protocol.of(signal);
        match self.settings.transport {
            TransportChoice::Target => vec![own],
            TransportChoice::Http => vec![Transport::Http],
            TransportChoice::Grpc => vec![Transport::Grpc],
            TransportChoice::Both => {
                let named = self.target.transports(signal);
                let mut legs: Vec<Transport> = std::iter::once(own)
                    .chain(named.iter().copied().filter(|t| *t != own))
                    .filter(|t| named.contains(t))
                    .collect();
                if legs.is_empty() {
                    legs.push(own);
                }
                legs
            }
        }
    }

    /// The `service.name` of what one check sends in this run, so runs and
    /// checks never read each other's data.
    pub fn service_name(&self, check: &str) -> String {
        format!("pillars-{}-{:08x}", check.replace('.', "-"), self.seed.0 as u32)
    }

    pub fn loki(&self) -> Option<LokiClient> {
        let endpoint = self.target.read(Store::Loki)?;
        Some(LokiClient::new(
            self.http.clone(),
            endpoint,
            self.target.limits.request_timeout,
        ))
    }

    pub fn mimir(&self) -> Option<MimirClient> {
        let endpoint = self.target.read(Store::Mimir)?;
        Some(MimirClient::new(
            self.http.clone(),
            endpoint,
            self.target.limits.request_timeout,
        ))
    }

    pub fn pyroscope(&self) -> Option<PyroscopeClient> {
        let endpoint = self.target.read(Store::Pyroscope)?;
        Some(PyroscopeClient::new(
            self.http.clone(),
            endpoint,
            self.target.limits.request_timeout,
        ))
    }

    /// Where this target's container memory can be read, best first.
    pub fn memory_sources(&self) -> crate::measure::memory::Sources {
        let embedded = self.target.kind == crate::target::TargetKind::Sim;
        crate::measure::memory::Sources {
            mimir: self.mimir(),
            docker: !embedded,
            docker_host: self.target.docker_host.clone(),
            own_process: embedded,
        }
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
