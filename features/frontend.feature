Feature: Frontend telemetry round trip
  A browser session instrumented with the Faro web SDK posts logs,
  exceptions, web vitals, events and its trace to /collect. Every item must
  reach Loki as Alloy writes it, and the trace must reach Tempo: the
  receiver's 202 alone proves nothing.

  Background:
    Given the stack is ready

  Scenario: A Faro session lands in Loki and Tempo
    When the check "frontend.roundtrip" runs
    Then the check "frontend.roundtrip" passes

  @sim
  Scenario: A receiver that accepts but exports nothing fails the round trip
    Given the reference stack has the fault "faro_export_fails"
    When the check "frontend.roundtrip" runs
    Then the check "frontend.roundtrip" fails with reason "missing_lines"
