Feature: Grafana's datasources work
  Grafana must be healthy, and every datasource must pass its health check
  and answer a real query: a datasource that is healthy but cannot be
  queried is as broken as one that is down.

  Scenario: Every datasource is healthy and queryable
    When the check "datasources.healthy" runs
    Then the check "datasources.healthy" passes

  @sim
  Scenario: An unhealthy datasource fails the check
    Given the reference stack has the fault "datasource_unhealthy=loki"
    When the check "datasources.healthy" runs
    Then the check "datasources.healthy" fails with reason "unhealthy"

  @sim
  Scenario: A healthy datasource that cannot be queried fails the check
    Given the reference stack has the fault "datasource_unqueryable=mimir"
    When the check "datasources.healthy" runs
    Then the check "datasources.healthy" fails with reason "unqueryable"
