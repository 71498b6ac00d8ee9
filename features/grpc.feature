Feature: OTLP over gRPC
  The deployment's backend exports traces, metrics and logs over gRPC to the
  collector's port 4317. What it sends that way must arrive, and a 4317 that
  does not take it must fail the checks while 4318 still works.

  Background:
    Given the stack is ready

  Scenario: Traces arrive over gRPC
    Given the OTLP round trips send over "grpc"
    When the check "traces.roundtrip" runs
    Then the check "traces.roundtrip" passes

  Scenario: Metrics arrive over gRPC
    Given the OTLP round trips send over "grpc"
    When the check "metrics.roundtrip" runs
    Then the check "metrics.roundtrip" passes

  Scenario: Logs arrive over gRPC
    Given the OTLP round trips send over "grpc"
    When the check "logs.roundtrip" runs
    Then the check "logs.roundtrip" passes

  Scenario: Both transports are reported, each on its own
    Given the OTLP round trips send over "both"
    When the check "traces.roundtrip" runs
    Then the check "traces.roundtrip" passes
    And the summary of "traces.roundtrip" says "OTLP/HTTP"
    And the summary of "traces.roundtrip" says "OTLP/gRPC"

  @sim
  Scenario: A gRPC receiver that is not serving fails while HTTP works
    Given the reference stack has the fault "grpc_unavailable"
    And the OTLP round trips send over "both"
    When the check "logs.roundtrip" runs
    Then the check "logs.roundtrip" fails with reason "rejected"
    And the summary of "logs.roundtrip" says "UNAVAILABLE"

  @sim
  Scenario: The gRPC receiver's message limit refuses a large export
    Given the reference stack has the fault "grpc_max_recv_msg_bytes=1024"
    And the OTLP round trips send over "grpc"
    When the check "metrics.roundtrip" runs
    Then the check "metrics.roundtrip" fails with reason "rejected"
    And the summary of "metrics.roundtrip" says "RESOURCE_EXHAUSTED"

  @sim
  Scenario: A gRPC receiver that is not serving is not ready
    Given the reference stack has the fault "grpc_unavailable"
    When the check "stack.ready" runs
    Then the check "stack.ready" fails with reason "not_ready"
    And the summary of "stack.ready" says "OTLP/gRPC"
