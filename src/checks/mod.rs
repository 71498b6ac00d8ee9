//! The check catalog: every check the harness knows, by stable id.
//!
//! Features, `--only`, reports and tests look checks up here; nothing else
//! matches on id strings. One file per check, as `shared/DESIGN.md` lists
//! them: each declares its closed `Reason` enum, its `budget` (its deadline,
//! from its own settings) and `run`. What a check is lives in `check`, the
//! pillar round trips in `roundtrip`, the correlation machinery in
//! `correlation`; none of them knows this catalog.

mod alerts_fire;
mod capacity_memory_headroom;
pub mod correlation;
mod dashboards_have_data;
pub mod datasources_healthy;
mod frontend_roundtrip;
mod ingest_completeness;
mod ingest_latency;
mod logs_roundtrip;
mod metrics_roundtrip;
mod profiles_roundtrip;
mod stack_ready;
mod traces_roundtrip;

pub use crate::check::hint::hint;
pub use crate::check::{
    CheckCtx, CheckSettings, CheckSpec, Outcome, Pillar, Status, TraceLookup, TransportChoice, Verdict,
};

/// Whether a `stack.ready` outcome reached no component at all: then
/// nothing else can be checked.
pub fn reached_nothing(outcome: &Outcome) -> bool {
    outcome.verdict.reason_id() == Some(stack_ready::Reason::NothingReachable.into())
}

use crate::check::spec::check_fn;

pub static CATALOG: &[CheckSpec] = &[
    CheckSpec {
        id: "stack.ready",
        pillar: Pillar::Stack,
        summary: "every component the target names answers ready",
        reasons: stack_ready::Reason::IDS,
        budget: stack_ready::budget,
        run: check_fn!(stack_ready::run),
    },
    CheckSpec {
        id: "datasources.healthy",
        pillar: Pillar::Stack,
        summary: "Grafana and each datasource are healthy, and each answers a real query through the proxy",
        reasons: datasources_healthy::Reason::IDS,
        budget: datasources_healthy::budget,
        run: check_fn!(datasources_healthy::run),
    },
    CheckSpec {
        id: "traces.roundtrip",
        pillar: Pillar::Traces,
        summary: "synthetic backend traces are found in Tempo by id and by TraceQL search",
        reasons: traces_roundtrip::Reason::IDS,
        budget: traces_roundtrip::budget,
        run: check_fn!(traces_roundtrip::run),
    },
    CheckSpec {
        id: "logs.roundtrip",
        pillar: Pillar::Logs,
        summary: "synthetic OTLP log records sent through the collector are found in Loki",
        reasons: logs_roundtrip::Reason::IDS,
        budget: logs_roundtrip::budget,
        run: check_fn!(logs_roundtrip::run),
    },
    CheckSpec {
        id: "metrics.roundtrip",
        pillar: Pillar::Metrics,
        summary: "synthetic OTLP metric series sent through the collector are found in Mimir with their values",
        reasons: metrics_roundtrip::Reason::IDS,
        budget: metrics_roundtrip::budget,
        run: check_fn!(metrics_roundtrip::run),
    },
    CheckSpec {
        id: "profiles.roundtrip",
        pillar: Pillar::Profiles,
        summary: "synthetic CPU profiles pushed to Pyroscope are found in its flame graph",
        reasons: profiles_roundtrip::Reason::IDS,
        budget: profiles_roundtrip::budget,
        run: check_fn!(profiles_roundtrip::run),
    },
    CheckSpec {
        id: "frontend.roundtrip",
        pillar: Pillar::Frontend,
        summary: "a synthetic Faro session lands in Loki as Alloy writes it, per kind, and its spans in Tempo",
        reasons: frontend_roundtrip::Reason::IDS,
        budget: frontend_roundtrip::budget,
        run: check_fn!(frontend_roundtrip::run),
    },
    CheckSpec {
        id: "correlation.trace_across_tiers",
        pillar: Pillar::Correlation,
        summary: "a frontend fetch span and the backend server span it caused are one trace, parent and child",
        reasons: correlation::trace_across_tiers::Reason::IDS,
        budget: correlation::trace_across_tiers::budget,
        run: check_fn!(correlation::trace_across_tiers::run),
    },
    CheckSpec {
        id: "correlation.exemplar_to_trace",
        pillar: Pillar::Correlation,
        summary: "backend latency exemplars, read as the Mimir datasource reads them, resolve to traces in Tempo",
        reasons: correlation::exemplar_to_trace::Reason::IDS,
        budget: correlation::exemplar_to_trace::budget,
        run: check_fn!(correlation::exemplar_to_trace::run),
    },
    CheckSpec {
        id: "correlation.trace_to_logs",
        pillar: Pillar::Correlation,
        summary: "Grafana's trace-to-logs query finds the request's lines, and the derived field leads back to the trace",
        reasons: correlation::trace_to_logs::Reason::IDS,
        budget: correlation::trace_to_logs::budget,
        run: check_fn!(correlation::trace_to_logs::run),
    },
    CheckSpec {
        id: "correlation.trace_to_profile",
        pillar: Pillar::Correlation,
        summary: "the backend span carries pyroscope.profile.id and Grafana's span-profile query is not empty",
        reasons: correlation::trace_to_profile::Reason::IDS,
        budget: correlation::trace_to_profile::budget,
        run: check_fn!(correlation::trace_to_profile::run),
    },
    CheckSpec {
        id: correlation::investigation::ID,
        pillar: Pillar::Correlation,
        summary: "alert → dashboard panel → exemplar → trace → logs → span profile works hop by hop with Grafana's own settings",
        reasons: correlation::investigation::Reason::IDS,
        budget: correlation::investigation::budget,
        run: check_fn!(correlation::investigation::run),
    },
    CheckSpec {
        id: dashboards_have_data::ID,
        pillar: Pillar::Dashboards,
        summary: "every panel of every dashboard Grafana serves shows data, its queries run through Grafana's query API",
        reasons: dashboards_have_data::Reason::IDS,
        budget: dashboards_have_data::budget,
        run: check_fn!(dashboards_have_data::run),
    },
    CheckSpec {
        id: "alerts.fire",
        pillar: Pillar::Alerts,
        summary: "the alert rules are loaded and healthy on existing metrics, and bursts drive the fast-burn alerts over their thresholds",
        reasons: alerts_fire::Reason::IDS,
        budget: alerts_fire::budget,
        run: check_fn!(alerts_fire::run),
    },
    CheckSpec {
        id: "ingest.latency",
        pillar: Pillar::Ingest,
        summary: "per pillar, p99 write-to-queryable latency is under the target's SLO",
        reasons: ingest_latency::Reason::IDS,
        budget: ingest_latency::budget,
        run: check_fn!(ingest_latency::run),
    },
    CheckSpec {
        id: "ingest.completeness",
        pillar: Pillar::Ingest,
        summary: "per pillar, the share of sent items read back is at least the threshold",
        reasons: ingest_completeness::Reason::IDS,
        budget: ingest_completeness::budget,
        run: check_fn!(ingest_completeness::run),
    },
    CheckSpec {
        id: "capacity.memory_headroom",
        pillar: Pillar::Capacity,
        summary: "every container keeps its working set under its limit by the margin, and the sum under the instance budget",
        reasons: capacity_memory_headroom::Reason::IDS,
        budget: capacity_memory_headroom::budget,
        run: check_fn!(capacity_memory_headroom::run),
    },
];

/// The catalog entry with this id.
pub fn find(id: &str) -> Option<&'static CheckSpec> {
    CATALOG.iter().find(|c| c.id == id)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::check::reason::Shared;

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

    /// Each check's own reasons, and the shared ones, as reports, features
    /// and dashboards know them: an id here is never renamed or dropped.
    const PINNED: &[(&str, &[&str])] = &[
        ("stack.ready", &["not_ready", "nothing_to_check", "nothing_reachable"]),
        (
            "datasources.healthy",
            &[
                "grafana_unhealthy",
                "unauthorized",
                "missing_datasource",
                "unhealthy",
                "unqueryable",
            ],
        ),
        (
            "traces.roundtrip",
            &[
                "not_found_by_id",
                "missing_spans",
                "incorrect_result",
                "not_found_by_search",
            ],
        ),
        ("logs.roundtrip", &["duplicate"]),
        ("metrics.roundtrip", &["incorrect_result", "missing_exemplars"]),
        ("profiles.roundtrip", &[]),
        ("frontend.roundtrip", &["missing_lines", "missing_spans"]),
        (
            "correlation.trace_across_tiers",
            &["missing_frontend_span", "wrong_parent", "backend_not_in_trace"],
        ),
        (
            "correlation.exemplar_to_trace",
            &["no_destination", "no_exemplars", "wrong_label", "unresolved"],
        ),
        (
            "correlation.trace_to_logs",
            &["no_link", "no_backend_span", "no_lines", "derived_field_mismatch"],
        ),
        (
            "correlation.trace_to_profile",
            &["no_link", "no_backend_span", "no_profile_id", "empty_flamegraph"],
        ),
        (
            "correlation.investigation",
            &[
                "no_alert",
                "no_panel",
                "no_destination",
                "no_exemplar",
                "trace_missing",
                "no_logs",
                "no_profile",
            ],
        ),
        (
            "dashboards.have_data",
            &[
                "no_dashboards",
                "no_data",
                "unknown_metric",
                "query_rejected",
                "no_datasource",
            ],
        ),
        (
            "alerts.fire",
            &[
                "group_missing",
                "alert_missing",
                "rule_unhealthy",
                "expression_error",
                "unknown_metric",
                "not_crossed",
                "not_firing",
                "burst_ineffective",
            ],
        ),
        ("ingest.latency", &["over_slo", "no_data"]),
        ("ingest.completeness", &["incomplete"]),
        (
            "capacity.memory_headroom",
            &["low_headroom", "over_budget", "no_memory_source"],
        ),
    ];

    const PINNED_SHARED: &[&str] = &[
        "not_configured",
        "unreachable",
        "read_failed",
        "bad_query",
        "deadline",
        "interrupted",
        "unreached",
        "rejected",
        "rate_limited",
        "not_found",
        "settings_unreadable",
    ];

    /// Reason ids added since, which reports and dashboards may now name.
    const ADDED_SINCE: &[&str] = &[
        "nothing_reachable",
        "unreached",
        // Issue 16: dashboards, alerts and the investigation walk.
        "alert_missing",
        "burst_ineffective",
        "expression_error",
        "group_missing",
        "no_alert",
        "no_dashboards",
        "no_datasource",
        "no_exemplar",
        "no_logs",
        "no_panel",
        "no_profile",
        "not_crossed",
        "not_firing",
        "query_rejected",
        "rule_unhealthy",
        "trace_missing",
        "unknown_metric",
    ];

    /// Every reason id pillars gave before reasons were typed (issue 12).
    const BEFORE_ISSUE_12: &[&str] = &[
        "backend_not_in_trace",
        "bad_query",
        "deadline",
        "derived_field_mismatch",
        "duplicate",
        "empty_flamegraph",
        "grafana_unhealthy",
        "incomplete",
        "incorrect_result",
        "interrupted",
        "low_headroom",
        "missing_datasource",
        "missing_exemplars",
        "missing_frontend_span",
        "missing_lines",
        "missing_spans",
        "no_backend_span",
        "no_data",
        "no_destination",
        "no_exemplars",
        "no_lines",
        "no_link",
        "no_memory_source",
        "no_profile_id",
        "not_configured",
        "not_found",
        "not_found_by_id",
        "not_found_by_search",
        "not_ready",
        "nothing_to_check",
        "over_budget",
        "over_slo",
        "rate_limited",
        "read_failed",
        "rejected",
        "settings_unreadable",
        "unauthorized",
        "unhealthy",
        "unqueryable",
        "unreachable",
        "unresolved",
        "wrong_label",
        "wrong_parent",
    ];

    fn is_snake_case(id: &str) -> bool {
        !id.is_empty()
            && !id.starts_with('_')
            && !id.ends_with('_')
            && !id.contains("__")
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    }

    #[test]
    fn issue_12_reason_ids_are_snake_case_and_stable() {
        assert_eq!(
            CATALOG.iter().map(|c| c.id).collect::<Vec<_>>(),
            PINNED.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            "every check's reasons are pinned here, in catalog order"
        );
        for (spec, (_, pinned)) in CATALOG.iter().zip(PINNED) {
            assert_eq!(spec.reasons, *pinned, "{}'s reasons changed", spec.id);
            for id in spec.reasons {
                assert!(is_snake_case(id), "{}: {id} is not snake_case", spec.id);
                assert!(!Shared::IDS.contains(id), "{}: {id} is a shared reason", spec.id);
            }
        }
        assert_eq!(Shared::IDS, PINNED_SHARED, "the shared reasons changed");
        assert!(Shared::IDS.iter().all(|id| is_snake_case(id)));
        // Every id serializes as itself.
        assert_eq!(
            serde_json::to_value(Shared::SettingsUnreadable).unwrap(),
            "settings_unreadable"
        );
        assert_eq!(
            serde_json::to_value(traces_roundtrip::Reason::NotFoundById).unwrap(),
            "not_found_by_id"
        );

        let all: BTreeSet<&str> = CATALOG
            .iter()
            .flat_map(|c| c.reasons.iter().copied())
            .chain(Shared::IDS.iter().copied())
            .collect();
        assert_eq!(
            all,
            BEFORE_ISSUE_12.iter().chain(ADDED_SINCE).copied().collect(),
            "a reason id was added or lost"
        );
    }

    #[test]
    fn each_round_trip_names_the_check_that_judges_it() {
        for (pillar, id) in crate::roundtrip::pillars::ROUND_TRIPS {
            let spec = find(id).unwrap_or_else(|| panic!("{id} is not in the catalog"));
            assert_eq!(spec.pillar, pillar, "{id}");
        }
    }
}
