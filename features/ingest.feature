Feature: Ingest latency and completeness
  Whatever a pillar is sent must be queryable soon enough, and all of it
  must arrive: per pillar, p99 write-to-queryable latency stays under the
  target's SLO, and what was read back covers what was sent.

  Background:
    Given the stack is ready

  Scenario: Every pillar is fast enough
    When the check "ingest.latency" runs
    Then the check "ingest.latency" passes

  Scenario: Every pillar is complete
    When the check "ingest.completeness" runs
    Then the check "ingest.completeness" passes

  @sim
  Scenario: Data that turns visible after the SLO fails the latency check
    Given the reference stack has the fault "delay_ms=6000"
    When the check "ingest.latency" runs
    Then the check "ingest.latency" fails with reason "over_slo"

  @sim
  Scenario: A pillar that loses data fails the completeness check
    Given the reference stack has the fault "drop_metrics=0.5"
    When the check "ingest.completeness" runs
    Then the check "ingest.completeness" fails with reason "incomplete"
