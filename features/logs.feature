Feature: Logs round trip
  Log records the backend sends over OTLP must be readable from Loki, each
  exactly once, with the line the backend wrote.

  Background:
    Given the stack is ready

  Scenario: Log records are found in Loki
    When the check "logs.roundtrip" runs
    Then the check "logs.roundtrip" passes

  @sim
  Scenario: A pipeline that loses log lines fails the round trip
    Given the reference stack has the fault "drop_logs=1"
    When the check "logs.roundtrip" runs
    Then the check "logs.roundtrip" fails with reason "not_found"
