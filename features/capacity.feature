Feature: Capacity search
  Before resizing the instance, the search steps the offered rate up until
  a gate breaks and bisects between the last good and the first bad step,
  so the breaking point is known, not guessed.

  @sim
  Scenario: A memory gate breaking at a known rate is bracketed within 10 %
    # 64 KiB of working set per span/s on a 384 MiB container with a 64 MiB
    # base leaves 15 % headroom at (0.85 x 384 - 64) MiB / 64 KiB = 4198 spans/s.
    Given the reference stack has the fault "memory_growth_per_item=65536"
    When a capacity search steps 1000 spans per second up by 1.5 times each step
    Then it brackets the breaking point within 10 % of 4198 units per second

  Scenario: Every container keeps its memory headroom
    Given the stack is ready
    When the check "capacity.memory_headroom" runs
    Then the check "capacity.memory_headroom" passes

  @sim
  Scenario: A container near its memory limit fails the headroom check
    # The simulated ingest container holds 95 % of its limit at rest.
    Given the reference stack has the fault "memory_pressure=0.95"
    When the check "capacity.memory_headroom" runs
    Then the check "capacity.memory_headroom" fails with reason "low_headroom"
