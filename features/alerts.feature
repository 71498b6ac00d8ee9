Feature: The alerts would fire, and lead a person to the cause
  The rules the deployment relies on must be loaded, healthy and on
  metrics that exist, and a burst of errors or slow requests must drive
  the fast-burn SLO alerts over their thresholds. From the latency alert,
  a person must be able to walk to the dashboard panel, its exemplar, the
  trace, its logs and its span profile.

  Background:
    Given the stack is ready

  Scenario: The rules are loaded and a burst drives the fast-burn alerts
    When the check "alerts.fire" runs
    Then the check "alerts.fire" passes

  Scenario: From the latency alert to the profile of the slow request
    When the check "correlation.investigation" runs
    Then the check "correlation.investigation" passes

  @sim
  Scenario: A rule group the ruler never loaded
    Given the reference stack has the fault "rule_group_missing=durable-code-slo-alerts"
    When the check "alerts.fire" runs
    Then the check "alerts.fire" fails with reason "group_missing"
    And the summary of "alerts.fire" says "`durable-code-slo-alerts`"

  @sim
  Scenario: A rule on a metric the pipeline does not write
    Given the reference stack has the fault "rule_metric_missing"
    When the check "alerts.fire" runs
    Then the check "alerts.fire" fails with reason "unknown_metric"
    And the summary of "alerts.fire" says "`http_request_total`"

  @sim
  Scenario: Exemplars under a label the datasource does not read end the walk at the panel
    Given the reference stack has the fault "exemplar_label=traceId"
    When the check "correlation.investigation" runs
    Then the check "correlation.investigation" fails with reason "no_exemplar"
