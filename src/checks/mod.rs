//! The check catalog: every check the harness knows, by stable id.
//!
//! Features, `--only`, reports and tests look checks up here; nothing else
//! matches on id strings. One file per check, as `shared/DESIGN.md` lists them.

pub mod capacity_memory_headroom;
pub mod context;
pub mod correlation;
pub mod datasources_healthy;
pub mod frontend_roundtrip;
pub mod ingest;
pub mod ingest_completeness;
pub mod ingest_latency;
pub mod ledger;
pub mod logs_roundtrip;
pub mod metrics_roundtrip;
pub mod outcome;
pub mod profiles_roundtrip;
pub mod roundtrip;
pub mod spec;
pub mod stack_ready;
pub mod traces_roundtrip;

pub use context::{CheckCtx, CheckSettings, TraceLookup};
pub use outcome::{Outcome, Status, Verdict};
pub use spec::{CheckSpec, Pillar};

use spec::check_fn;

pub static CATALOG: &[CheckSpec] = &[
    CheckSpec {
        id: "stack.ready",
        records_ingest: false,
        waits: 1,
        pillar: Pillar::Stack,
        summary: "every component the target names answers ready",
        run: check_fn!(stack_ready::run),
    },
    CheckSpec {
        id: "datasources.healthy",
        records_ingest: false,
        waits: 1,
        pillar: Pillar::Stack,
        summary: "Grafana and each datasource are healthy, and each answers a real query through the proxy",
        run: check_fn!(datasources_healthy::run),
    },
    CheckSpec {
        id: "traces.roundtrip",
        records_ingest: true,
        waits: 1,
        pillar: Pillar::Traces,
        summary: "synthetic backend traces are found in Tempo by id and by TraceQL search",
        run: check_fn!(traces_roundtrip::run),
    },
    CheckSpec {
        id: "logs.roundtrip",
        records_ingest: true,
        waits: 1,
        pillar: Pillar::Logs,
        summary: "synthetic OTLP log records sent through the collector are found in Loki",
        run: check_fn!(logs_roundtrip::run),
    },
    CheckSpec {
        id: "metrics.roundtrip",
        records_ingest: true,
        waits: 1,
        pillar: Pillar::Metrics,
        summary: "synthetic OTLP metric series sent through the collector are found in Mimir with their values",
        run: check_fn!(metrics_roundtrip::run),
    },
    CheckSpec {
        id: "profiles.roundtrip",
        records_ingest: true,
        waits: 1,
        pillar: Pillar::Profiles,
        summary: "synthetic CPU profiles pushed to Pyroscope are found in its flame graph",
        run: check_fn!(profiles_roundtrip::run),
    },
    CheckSpec {
        id: "frontend.roundtrip",
        records_ingest: true,
        waits: 1,
        pillar: Pillar::Frontend,
        summary: "a synthetic Faro session lands in Loki as Alloy writes it, per kind, and its spans in Tempo",
        run: check_fn!(frontend_roundtrip::run),
    },
    CheckSpec {
        id: "correlation.trace_across_tiers",
        records_ingest: false,
        waits: 3,
        pillar: Pillar::Correlation,
        summary: "a frontend fetch span and the backend server span it caused are one trace, parent and child",
        run: check_fn!(correlation::trace_across_tiers::run),
    },
    CheckSpec {
        id: "correlation.exemplar_to_trace",
        records_ingest: false,
        waits: 3,
        pillar: Pillar::Correlation,
        summary: "backend latency exemplars, read as the Mimir datasource reads them, resolve to traces in Tempo",
        run: check_fn!(correlation::exemplar_to_trace::run),
    },
    CheckSpec {
        id: "correlation.trace_to_logs",
        records_ingest: false,
        waits: 3,
        pillar: Pillar::Correlation,
        summary: "Grafana's trace-to-logs query finds the request's lines, and the derived field leads back to the trace",
        run: check_fn!(correlation::trace_to_logs::run),
    },
    CheckSpec {
        id: "correlation.trace_to_profile",
        records_ingest: false,
        waits: 3,
        pillar: Pillar::Correlation,
        summary: "the backend span carries pyroscope.profile.id and Grafana's span-profile query is not empty",
        run: check_fn!(correlation::trace_to_profile::run),
    },
    CheckSpec {
        id: "ingest.latency",
        records_ingest: false,
        waits: 1,
        pillar: Pillar::Ingest,
        summary: "per pillar, p99 write-to-queryable latency is under the target's SLO",
        run: check_fn!(ingest_latency::run),
    },
    CheckSpec {
        id: "ingest.completeness",
        records_ingest: false,
        waits: 1,
        pillar: Pillar::Ingest,
        summary: "per pillar, the share of sent items read back is at least the threshold",
        run: check_fn!(ingest_completeness::run),
    },
    CheckSpec {
        id: "capacity.memory_headroom",
        records_ingest: false,
        waits: 1,
        pillar: Pillar::Capacity,
        summary: "every container keeps its working set under its limit by the margin, and the sum under the instance budget",
        run: check_fn!(capacity_memory_headroom::run),
    },
];

/// The catalog entry with this id.
pub fn find(id: &str) -> Option<&'static CheckSpec> {
    CATALOG.iter().find(|c| c.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_each_is_in_a_feature() {
        let mut ids: Vec<_> = CATALOG.iter().map(|c| c.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), CATALOG.len(), "duplicate check ids");

        let features_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/features");
        let mut text = String::new();
        for entry in std::fs::read_dir(features_dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "feature") {
                text.push_str(&std::fs::read_to_string(path).unwrap());
            }
        }
        for id in ids {
            assert!(text.contains(&format!("\"{id}\"")), "{id} appears in no feature file");
        }
    }
}
