Feature: The stack answers
  Before anything is sent, every component the target names must say it
  is ready, so a failure later is about data and not about a dead service.

  Scenario: Every component is ready
    When the check "stack.ready" runs
    Then the check "stack.ready" passes
