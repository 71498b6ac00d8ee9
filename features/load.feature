Feature: Load, watched
  While load runs, a marker a second goes through each pillar's own round
  trip, and the run is judged by the scenario's gates: refused share per
  traffic kind, p99 ingest latency and completeness per pillar, and memory
  headroom. Refusals are counted by reason and never retried.

  Scenario: A healthy stack holds every gate under load
    When otlp_traces run at 200 per second for 2 seconds
    Then every gate holds
    And every pillar's markers were read back

  @sim
  Scenario: Markers read back after the SLO break the latency gate
    Given the reference stack has the fault "delay_ms=1500"
    And the p99 ingest latency gate is 1000 ms
    When otlp_logs run at 10 per second for 2 seconds
    Then the load breaks the ingest_latency gate

  @sim
  Scenario: Markers never read back break the completeness gate
    Given the reference stack has the fault "drop_logs=1"
    When otlp_traces run at 10 per second for 1 seconds
    Then the load breaks the completeness gate

  @sim
  Scenario: The app's rate limit is counted, not retried
    Given the reference stack has the fault "app_rate_limit=5"
    When backend_requests run at 10 per second for 2 seconds
    Then the load breaks the error_ratio gate
    And backend_requests were refused as rate_limited, each sent once
