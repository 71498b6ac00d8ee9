Feature: Lint a deployment's files before anything runs
  The correlation and routing mistakes the runtime checks find after a
  deploy are visible in the deployment's files. `pillars lint` finds them
  in a pull request, each at its file and line with the fix, and says
  nothing about files that are right.

  Scenario: The Compose stack lints clean
    When pillars lints "compose" with the scenarios in "scenarios"
    Then lint finds nothing

  Scenario Outline: <rule> fires on its broken copy and not on the fixed one
    When pillars lints "tests/fixtures/lint/<rule>/broken"
    Then lint reports "<rule>" at "<file>" line <line>
    And every lint finding is "<rule>"
    When pillars lints "tests/fixtures/lint/<rule>/fixed"
    Then lint finds nothing

    Examples:
      | rule                    | file                          | line |
      | exemplar.label          | grafana.tf                    | 10   |
      | logs.derived_field      | provisioning/datasources.yaml | 8    |
      | traces_to_logs.tags     | datasources.yaml              | 12   |
      | traces_to_metrics.tags  | datasources.yaml              | 11   |
      | traces_to_profiles.tags | datasources.yaml              | 12   |
      | profiles.span_profiles  | datasources.yaml              | 8    |
      | traces.sampler          | templates/user-data.sh.tftpl  | 6    |
      | exporter.protocol       | docker-compose.yml            | 8    |
      | collector.route         | alb.tf                        | 22   |
      | collector.cors          | templates/config.alloy.tftpl  | 6    |
      | collector.rate_limit    | config.alloy                  | 1    |
      | storage.prefix          | loki/loki.yaml                | 12   |
      | grafana.url             | docker-compose.yml            | 6    |
      | memory.budget           | docker-compose.yml            | 2    |
      | ci.health_step          | .github/workflows/deploy.yml  | 11   |

  Scenario: A file that does not parse stops the lint at its line
    When pillars lints "tests/fixtures/lint-malformed/config.alloy"
    Then lint cannot read its input and says "config.alloy:5:3: expected `,` or `]` in the list, found `}`"
