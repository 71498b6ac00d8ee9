//! Correlation settings decide the correlation checks: a provisioning file
//! with a wrong exemplar label, a derived-field regex that cannot match, or
//! a tag rename that matches no log label makes the matching check fail.

use pillars::stack::sim::SimTarget;
use std::sync::Arc;

use pillars::checks::{CheckCtx, CheckSettings, Outcome, Status};
use pillars::stack::sim::{SimOptions, SimStack};
use pillars::target::Env;
use pillars_sim::grafana::DEFAULT_PROVISIONING;

use crate::common::{SEED, run};

async fn run_with_datasources(yaml: String, id: &str) -> Outcome {
    let sim = SimStack::start(SimOptions {
        grafana_datasources: Some(yaml),
        ..SimOptions::default()
    })
    .await
    .expect("sim starts");
    let target = sim.target(&Env::default()).unwrap();
    let ctx = CheckCtx::new(Arc::new(target), "settings".into(), SEED, CheckSettings::default());
    run(id, &ctx).await
}

fn broken(from: &str, to: &str) -> String {
    assert!(
        DEFAULT_PROVISIONING.contains(from),
        "the built-in provisioning has no {from:?}"
    );
    DEFAULT_PROVISIONING.replacen(from, to, 1)
}

#[tokio::test]
async fn the_built_in_settings_pass_every_correlation_check() {
    for id in [
        "correlation.trace_across_tiers",
        "correlation.exemplar_to_trace",
        "correlation.trace_to_logs",
        "correlation.trace_to_profile",
    ] {
        let outcome = run_with_datasources(DEFAULT_PROVISIONING.to_owned(), id).await;
        assert_eq!(outcome.status(), Status::Pass, "{id}: {outcome:?}");
    }
}

#[tokio::test]
async fn a_wrong_exemplar_label_fails_exemplar_to_trace() {
    let yaml = broken("        - name: trace_id\n", "        - name: traceID\n");
    let outcome = run_with_datasources(yaml, "correlation.exemplar_to_trace").await;
    assert_eq!(outcome.verdict.reason(), Some("wrong_label"), "{outcome:?}");
    assert_eq!(
        outcome.summary,
        "exemplars carry `span_id`, `trace_id`, the Mimir datasource looks for `traceID`"
    );
}

#[tokio::test]
async fn a_derived_field_regex_that_cannot_match_fails_trace_to_logs() {
    let yaml = broken(
        "          matcherType: label\n          matcherRegex: trace_id\n",
        "          matcherType: regex\n          matcherRegex: '\"trace_id\":\"(\\w+)\"'\n",
    );
    let outcome = run_with_datasources(yaml, "correlation.trace_to_logs").await;
    assert_eq!(outcome.verdict.reason(), Some("derived_field_mismatch"), "{outcome:?}");
    assert!(outcome.summary.contains("trace_id"), "{}", outcome.summary);
}

#[tokio::test]
async fn a_tag_rename_that_matches_no_log_label_fails_trace_to_logs() {
    let yaml = broken(
        "        tags:\n          - key: service.name\n            value: service_name\n      tracesToMetrics:",
        "        tags:\n          - key: service.name\n            value: app\n      tracesToMetrics:",
    );
    let outcome = run_with_datasources(yaml, "correlation.trace_to_logs").await;
    assert_eq!(outcome.verdict.reason(), Some("no_lines"), "{outcome:?}");
    assert!(
        outcome.evidence["logql"]
            .as_str()
            .unwrap()
            .starts_with("{app=\"durable-code-backend\"}")
    );
}

#[tokio::test]
async fn default_profile_tags_with_the_namespace_find_no_profile() {
    // Without tags Grafana also selects service_namespace, which profiles
    // pushed by the Pyroscope SDK do not carry.
    let yaml = broken(
        "        profileTypeId: process_cpu:cpu:nanoseconds:cpu:nanoseconds\n        tags:\n          - key: service.name\n            value: service_name\n",
        "        profileTypeId: process_cpu:cpu:nanoseconds:cpu:nanoseconds\n",
    );
    let outcome = run_with_datasources(yaml, "correlation.trace_to_profile").await;
    assert_eq!(outcome.verdict.reason(), Some("empty_flamegraph"), "{outcome:?}");
    assert!(
        outcome.evidence["label_selector"]
            .as_str()
            .unwrap()
            .contains("service_namespace")
    );
}
