Feature: Profiles round trip
  CPU profiles pushed to Pyroscope must show up in its flame graph for the
  service that sent them.

  Background:
    Given the stack is ready

  Scenario: Profiles are found in Pyroscope's flame graph
    When the check "profiles.roundtrip" runs
    Then the check "profiles.roundtrip" passes

  @sim
  Scenario: A Pyroscope that loses profiles fails the round trip
    Given the reference stack has the fault "drop_profiles=1"
    When the check "profiles.roundtrip" runs
    Then the check "profiles.roundtrip" fails with reason "not_found"
