Feature: Traces round trip
  Backend traces sent through the collector must be readable from Tempo,
  by their id as soon as they are written and by TraceQL search once Tempo
  has flushed them.

  Background:
    Given the stack is ready

  Scenario: Traces are found by id
    When 20 synthetic backend traces are sent and looked up by id
    Then the check "traces.roundtrip" passes
    And all 20 traces were found by id

  Scenario: Traces are found by TraceQL search
    When 20 synthetic backend traces are sent and looked up by TraceQL search
    Then the check "traces.roundtrip" passes
    And all 20 traces were found by TraceQL search

  @sim
  Scenario: A collector that drops every trace fails the round trip
    Given the reference stack has the fault "drop_traces=1"
    When 10 synthetic backend traces are sent and looked up by id
    Then the check "traces.roundtrip" fails with reason "not_found_by_id"
    And the evidence lists between 10 and 10 missing trace ids

  @sim
  Scenario: A collector that drops half the traces fails and names them
    Given the reference stack has the fault "drop_traces=0.5"
    When 20 synthetic backend traces are sent and looked up by id
    Then the check "traces.roundtrip" fails with reason "not_found_by_id"
    And the evidence lists between 1 and 10 missing trace ids
