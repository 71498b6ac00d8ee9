//! One line on what to try after a check did not pass: by the check and
//! its reason first, then by the shared reason alone. The terminal prints
//! it under the row; JUnit and the report carry it beside the summary.
//!
//! Uses: nothing (check ids and reason ids are plain words here).

/// What to try when `check` ended with `reason`; `None` for a pass.
pub fn hint(check: &str, reason: &str) -> Option<&'static str> {
    by_check(check, reason).or_else(|| shared(check, reason))
}

fn by_check(check: &str, reason: &str) -> Option<&'static str> {
    Some(match (check, reason) {
        ("stack.ready", "not_ready") => {
            "a component answers but is not ready yet: wait for its /ready (ingesters join the ring in about a minute), or read its logs"
        }
        ("stack.ready", "nothing_to_check") => {
            "the target names no component: add [ingest] and [read] URLs to the target file"
        }
        ("stack.ready", "nothing_reachable") => {
            "nothing answered: start the stack (pillars stack up, pillars sim), open the tunnel, or fix the target file's hosts and ports"
        }
        ("datasources.healthy", "grafana_unhealthy") => {
            "Grafana's /api/health is not ok: check its database and its logs"
        }
        ("datasources.healthy", "unauthorized") => {
            "Grafana refused the credentials: check the variables [auth] names, and the service account's role (Viewer can query)"
        }
        ("datasources.healthy", "missing_datasource") => {
            "a datasource uid the target names is not provisioned: compare [read.datasources] with Grafana's provisioning files"
        }
        ("datasources.healthy", "unhealthy") => {
            "Grafana's health check of the datasource failed: check its URL in the provisioning file from inside Grafana's network"
        }
        ("datasources.healthy", "unqueryable") => {
            "the datasource answers its health check but not a query: check the store's query path and the datasource's URL suffix"
        }
        ("traces.roundtrip", "not_found_by_id") => {
            "the collector accepted the spans that Tempo never served by id: check Alloy's otelcol.exporter.otlp for export errors and tempo_distributor_spans_received_total"
        }
        ("traces.roundtrip", "not_found_by_search") => {
            "Tempo serves the trace by id but not by search: check that blocks are flushed (search_ready_after) and the search tag names"
        }
        ("traces.roundtrip", "missing_spans") => {
            "some spans of each trace are missing: check the collector's batch and memory_limiter processors for dropped spans"
        }
        ("traces.roundtrip", "incorrect_result") => {
            "Tempo served spans that differ from what was sent: check processors in the traces pipeline that rewrite attributes"
        }
        ("logs.roundtrip", "duplicate") => {
            "Loki served a line more than once: check for two exporters on the logs pipeline, or retries past Loki's deduplication"
        }
        ("metrics.roundtrip", "incorrect_result") => {
            "Mimir served values that differ from what was sent: check the metric's name and unit suffixes on this path and any relabeling"
        }
        ("metrics.roundtrip", "missing_exemplars") => {
            "the series arrived without exemplars: enable max_global_exemplars_per_user in Mimir's limits and keep exemplars on the exporter (send_exemplars on remote_write)"
        }
        ("frontend.roundtrip", "missing_lines") => {
            "Faro events reached the receiver but not Loki: check faro.receiver's output and loki.write's endpoint in Alloy"
        }
        ("frontend.roundtrip", "missing_spans") => {
            "Faro traces reached the receiver but not Tempo: check faro.receiver's traces output and the OTLP exporter to Tempo"
        }
        ("correlation.trace_across_tiers", "missing_frontend_span") => {
            "the backend trace has no browser span: check Faro's tracing instrumentation and that /collect forwards traces"
        }
        ("correlation.trace_across_tiers", "wrong_parent") => {
            "the backend span's parent is not the browser's fetch span: check that the app propagates traceparent unchanged"
        }
        ("correlation.trace_across_tiers", "backend_not_in_trace") => {
            "the browser's trace has no backend span: check CORS allows traceparent and the backend's propagator is W3C tracecontext"
        }
        ("correlation.exemplar_to_trace", "no_destination") => {
            "the Mimir datasource has no exemplarTraceIdDestinations: add one pointing at the Tempo datasource uid"
        }
        ("correlation.exemplar_to_trace", "no_exemplars") => {
            "no exemplars came back: enable exemplar storage in Mimir and exemplars on the histogram's exporter"
        }
        ("correlation.exemplar_to_trace", "wrong_label") => {
            "exemplarTraceIdDestinations names a label the exemplars do not carry: use the label shown in the evidence (trace_id on OTLP)"
        }
        ("correlation.exemplar_to_trace", "unresolved") => {
            "the exemplar's trace id is not in Tempo: check that the metric and the trace come from the same request"
        }
        ("correlation.trace_to_logs", "no_link") => {
            "the Tempo datasource has no tracesToLogsV2: add one pointing at the Loki datasource uid"
        }
        ("correlation.trace_to_logs" | "correlation.trace_to_profile", "no_backend_span") => {
            "the followed trace has no backend server span: check the backend's instrumentation exports spans"
        }
        ("correlation.trace_to_logs", "no_lines") => {
            "the tracesToLogsV2 query finds no lines: map the tag to the label the logs carry (service_name, derived from job on the Loki push path)"
        }
        ("correlation.trace_to_logs", "derived_field_mismatch") => {
            "the Loki derived field's regex extracts no trace id from these lines: fit it to the line format shown in the evidence"
        }
        ("correlation.trace_to_profile", "no_link") => {
            "the Tempo datasource has no tracesToProfiles: add one pointing at the Pyroscope datasource uid"
        }
        ("correlation.trace_to_profile", "no_profile_id") => {
            "the backend span has no pyroscope.profile.id: add the span processor of the Pyroscope OpenTelemetry integration"
        }
        ("correlation.trace_to_profile", "empty_flamegraph") => {
            "Pyroscope has no samples for the span: check the profiler's sample rate and that the span lasts longer than a sample"
        }
        ("dashboards.have_data", "no_dashboards") => {
            "Grafana lists no dashboards: check the dashboard provider (provisioning/dashboards/*.yaml) and the path it reads"
        }
        ("dashboards.have_data", "no_data") => {
            "the panel's query returns nothing for the last hour: run it in Explore; the evidence has each panel's query and datasource"
        }
        ("dashboards.have_data", "unknown_metric") => {
            "the panel queries a metric the pipeline does not write under that name: use the name the evidence lists as existing (suffixes differ between Mimir's OTLP endpoint and remote write)"
        }
        ("dashboards.have_data", "query_rejected") => {
            "the datasource rejects the panel's query: the error is in the evidence; fix the query in the dashboard JSON"
        }
        ("dashboards.have_data", "no_datasource") => {
            "the panel names a datasource Grafana does not have: fix its uid, or provision that datasource"
        }
        ("correlation.investigation", "no_alert") => {
            "the walk starts at the latency alert: load it, with dashboard_uid and panel_id (or a runbook_url with viewPanel) annotations"
        }
        ("correlation.investigation", "no_panel") => {
            "the alert points at a dashboard or panel Grafana does not serve: fix the annotation or the dashboard"
        }
        ("correlation.investigation", "no_destination") => {
            "the panel's Prometheus datasource has no exemplarTraceIdDestinations entry pointing at the Tempo datasource"
        }
        ("correlation.investigation", "no_exemplar") => {
            "the panel shows no exemplars for this run's requests: does the histogram carry exemplars (Mimir max_global_exemplars_per_user) and the panel ask for them?"
        }
        ("correlation.investigation", "trace_missing") => {
            "the exemplar's trace is not in Tempo: see traces.roundtrip and the backend's sampler"
        }
        ("correlation.investigation", "no_logs") => {
            "the trace's logs link finds nothing: see correlation.trace_to_logs for the setting to change"
        }
        ("correlation.investigation", "no_profile") => {
            "the trace's profile link is empty: see correlation.trace_to_profile for what is missing"
        }
        ("alerts.fire", "group_missing") => {
            "the ruler has not loaded the rule group: check the ruler's storage (ruler_storage) and that the rule file is mounted where it reads"
        }
        ("alerts.fire", "alert_missing") => {
            "the alert the burst drives is not in the rules: add it, or name the right one in the target's [alerts]"
        }
        ("alerts.fire", "rule_unhealthy") => {
            "the ruler reports the rule's last evaluation failed: its lastError is in the evidence"
        }
        ("alerts.fire", "expression_error") => {
            "the rule's expression does not parse or evaluate: run it in Explore and fix it in the rule file"
        }
        ("alerts.fire", "unknown_metric") => {
            "the rule names a metric the pipeline does not write: compare with the names dashboards.have_data lists as existing"
        }
        ("alerts.fire", "not_crossed") => {
            "the burst did not move the expression: check the recording rules it reads evaluate, and that the app's errors or latency reach Mimir"
        }
        ("alerts.fire", "burst_ineffective") => {
            "the burst did not inject errors or slow requests: point alerts.error_path and alerts.slow_path at app paths that answer 5xx and slowly"
        }
        ("alerts.fire", "not_firing") => {
            "the expression crossed but the alert never fired: check the rule's `for` and the group's interval against limits.alert_wait"
        }
        ("ingest.latency", "over_slo") => {
            "data became queryable later than the SLO: check the collector's batch timeout and the stores' flush and query-ready settings"
        }
        ("ingest.latency", "no_data") => "no round trip measured a latency: see the round-trip checks above for why",
        ("ingest.completeness", "incomplete") => {
            "some items sent never came back: see the round-trip check of that pillar, and the collector's send_failed counters"
        }
        ("capacity.memory_headroom", "low_headroom") => {
            "a container is near its memory limit: raise the limit, lower the store's caches, or move to a larger instance"
        }
        ("capacity.memory_headroom", "over_budget") => {
            "the containers' limits add up to more than the instance leaves them: lower the limits or resize the instance"
        }
        ("capacity.memory_headroom", "no_memory_source") => {
            "no memory readings: scrape cAdvisor into Mimir, or set DOCKER_HOST so the Docker Engine's stats can be read"
        }
        _ => return None,
    })
}

/// The reasons the machinery gives, with the pillar's store named where
/// the check says which.
fn shared(check: &str, reason: &str) -> Option<&'static str> {
    Some(match reason {
        "not_configured" => "the target names no endpoint this check needs: add it to the target file to run the check",
        "unreachable" => "nothing answered in time: check the URL, the port, the security group, and request_timeout",
        "read_failed" => {
            "the answer could not be read (an HTTP error, a redirect, or a body that does not decode): see the evidence for the status and body"
        }
        "bad_query" => "a name the target gives cannot be quoted into a query: see the evidence for which",
        "deadline" => {
            "the check ran out of time: raise [limits] wait and max_wait, or PILLARS_TIMEOUT_SCALE on a slow runner"
        }
        "interrupted" => "a signal stopped the run: run it again",
        "unreached" => "not run because stack.ready reached nothing: see stack.ready",
        "rejected" => {
            "the collector refused what was sent: check its receiver's limits (max_recv_msg_size, memory_limiter) and the evidence's status"
        }
        "rate_limited" => {
            "the receiver rate-limited the run: raise faro.receiver's rate_limiting or lower the run's rate"
        }
        "settings_unreadable" => {
            "the datasource settings could not be read: give the Grafana account read access to datasources"
        }
        "not_found" => match check {
            "logs.roundtrip" => {
                "the collector accepted lines that Loki never served: check Alloy's otelcol.exporter.* for export errors and loki_distributor_lines_received_total"
            }
            "metrics.roundtrip" => {
                "the collector accepted samples that Mimir never served: check Alloy's exporter for send failures and cortex_distributor_received_samples_total"
            }
            "profiles.roundtrip" => {
                "Pyroscope accepted the profile but never served it: check its ingester and the label selector in the evidence"
            }
            _ => {
                "the store answered without what was sent: check the pipeline from the collector to the store for export errors"
            }
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::reason::Shared;
    use crate::checks::CATALOG;

    #[test]
    fn every_reason_of_every_check_has_a_hint() {
        for spec in CATALOG {
            for reason in spec.reasons.iter().chain(Shared::IDS) {
                let hint = hint(spec.id, reason).unwrap_or_else(|| panic!("{}: {reason} has no hint", spec.id));
                assert!(
                    !hint.contains('\n') && hint.len() < 200,
                    "{}: {reason}: {hint}",
                    spec.id
                );
            }
        }
    }

    #[test]
    fn a_check_of_its_own_comes_before_the_shared_text() {
        assert!(hint("logs.roundtrip", "not_found").unwrap().contains("Loki"));
        assert!(hint("traces.roundtrip", "not_found_by_id").unwrap().contains("Tempo"));
        assert_eq!(hint("logs.roundtrip", "pass"), None);
    }
}
