Feature: Watch a stack continuously
  `pillars canary` sends one probe per pillar every interval through that
  pillar's round trip and judges each as verify does: found, or missing
  when the store answered without it. Data a pipeline loses shows up as
  missing probes of that pillar only.

  Background:
    Given the stack is ready

  Scenario: Every probe of a healthy stack is found
    When the canary probes every pillar for 3 rounds
    Then every canary probe is found

  @sim
  Scenario: Log lines the pipeline loses are missing probes, the other pillars found
    Given the reference stack has the fault "drop_logs=1"
    When the canary probes every pillar for 2 rounds
    Then the canary's "logs" probes are missing
    And the canary's "traces" probes are found
    And the canary's "metrics" probes are found
