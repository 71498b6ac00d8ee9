Feature: The dashboards people open show data
  Every panel of every dashboard Grafana serves must show data once the
  run has sent traffic, its queries run as the panel runs them through
  Grafana's own query API. A panel that names a metric the pipeline does
  not write under that name says which names do exist.

  Background:
    Given the stack is ready

  Scenario: Every panel shows data
    When the check "dashboards.have_data" runs
    Then the check "dashboards.have_data" passes

  @sim
  Scenario: A dashboard written for another pipeline's metric names stays empty
    Given the reference stack has the fault "dashboard_metric_missing"
    When the check "dashboards.have_data" runs
    Then the check "dashboards.have_data" fails with reason "unknown_metric"
    And the summary of "dashboards.have_data" says "`http_requests`"
    And the summary of "dashboards.have_data" says "`http_requests_total`"
