Feature: Metrics round trip
  Metric points the backend sends over OTLP must be queryable from Mimir,
  under the names Mimir gives them, with the values that were sent.

  Background:
    Given the stack is ready

  Scenario: Metric series are found in Mimir with their values
    When the check "metrics.roundtrip" runs
    Then the check "metrics.roundtrip" passes

  @sim
  Scenario: A pipeline that loses series fails the round trip
    Given the reference stack has the fault "drop_metrics=1"
    When the check "metrics.roundtrip" runs
    Then the check "metrics.roundtrip" fails with reason "not_found"
