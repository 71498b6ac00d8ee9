Feature: One request, followed across tiers and pillars
  A request that starts in the browser must be one trace across the
  frontend and the backend, and every link a person clicks in Grafana —
  exemplar to trace, trace to logs, trace to profile — must land, built
  from the datasources' own correlation settings.

  Background:
    Given the stack is ready

  Scenario: The browser's fetch and the backend's work are one trace
    When the check "correlation.trace_across_tiers" runs
    Then the check "correlation.trace_across_tiers" passes

  Scenario: A latency exemplar leads to its trace
    When the check "correlation.exemplar_to_trace" runs
    Then the check "correlation.exemplar_to_trace" passes

  Scenario: A trace leads to its logs, and the logs back to the trace
    When the check "correlation.trace_to_logs" runs
    Then the check "correlation.trace_to_logs" passes

  Scenario: A trace leads to the profile of its span
    When the check "correlation.trace_to_profile" runs
    Then the check "correlation.trace_to_profile" passes

  @sim
  Scenario: A backend that ignores traceparent breaks the cross-tier trace
    Given the reference stack has the fault "ignore_traceparent"
    When the check "correlation.trace_across_tiers" runs
    Then the check "correlation.trace_across_tiers" fails with reason "backend_not_in_trace"

  @sim
  Scenario: Exemplars under another label than Grafana reads are dead links
    Given the reference stack has the fault "exemplar_label=traceId"
    When the check "correlation.exemplar_to_trace" runs
    Then the check "correlation.exemplar_to_trace" fails with reason "wrong_label"

  @sim
  Scenario: Logs without the trace id cannot be found from the trace
    Given the reference stack has the fault "logs_without_trace_id"
    When the check "correlation.trace_to_logs" runs
    Then the check "correlation.trace_to_logs" fails with reason "no_lines"

  @sim
  Scenario: Profiles without span ids give an empty span profile
    Given the reference stack has the fault "profiles_without_span_id"
    When the check "correlation.trace_to_profile" runs
    Then the check "correlation.trace_to_profile" fails with reason "empty_flamegraph"

  @sim
  Scenario: The deployment's log pipeline and datasource settings do not link traces to logs
    Given the reference stack exports logs with "loki_exporter"
    And Grafana's datasources are provisioned from "features/datasources/deployment.yaml"
    When the check "correlation.trace_to_logs" runs
    Then the check "correlation.trace_to_logs" fails with reason "no_lines"
    And the summary of "correlation.trace_to_logs" says 'service_name="durable-code/durable-code-backend"'
    And the summary of "correlation.trace_to_logs" says "maps service.name → service_name"

  @sim
  Scenario: Settings written for the deployment's log pipeline link traces to logs and back
    Given the reference stack exports logs with "loki_exporter"
    And Grafana's datasources are provisioned from "features/datasources/loki-exporter.yaml"
    When the check "correlation.trace_to_logs" runs
    Then the check "correlation.trace_to_logs" passes
