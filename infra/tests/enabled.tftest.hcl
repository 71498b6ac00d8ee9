# With enable_pillars on, for examples/deployment.tfvars: the rendered targets are the example
# files, the network opens exactly what pillars uses, and no IAM statement is wider than its
# job. Run through ../check.sh (or with -var-file=examples/deployment.tfvars).
#
# The AWS provider is mocked. Mocks invent values for computed attributes, and an
# aws_iam_policy_document's `json` is one of them, so policies are checked on the data
# sources' `statement` blocks. The attributes the policies and rules refer to get fixed values
# during plan, so those blocks are fully known.

mock_provider "aws" {
  override_during = plan

  override_data {
    target = data.aws_caller_identity.current
    values = {
      account_id = "123456789012"
    }
  }

  override_data {
    target = data.aws_partition.current
    values = {
      partition = "aws"
    }
  }

  override_data {
    target = data.aws_ecs_cluster.target
    values = {
      arn = "arn:aws:ecs:us-west-2:123456789012:cluster/durable-code-dev-cluster"
    }
  }

  # The provider checks that role and inline policies are JSON objects; the content of the
  # mocked `json` is never looked at (the statements are).
  override_data {
    target = data.aws_iam_policy_document.ecs_tasks_trust
    values = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }

  override_data {
    target = data.aws_iam_policy_document.task
    values = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }

  override_data {
    target = data.aws_iam_policy_document.execution
    values = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }

  override_data {
    target = data.aws_iam_policy_document.github_trust
    values = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }

  override_data {
    target = data.aws_iam_policy_document.github
    values = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }

  override_resource {
    target = aws_ecr_repository.pillars
    values = {
      arn            = "arn:aws:ecr:us-west-2:123456789012:repository/pillars"
      repository_url = "123456789012.dkr.ecr.us-west-2.amazonaws.com/pillars"
    }
  }

  override_resource {
    target = aws_cloudwatch_log_group.pillars
    values = {
      arn = "arn:aws:logs:us-west-2:123456789012:log-group:/ecs/pillars"
    }
  }

  override_resource {
    target = aws_iam_role.task
    values = {
      arn = "arn:aws:iam::123456789012:role/durable-code-dev-pillars-task"
    }
  }

  override_resource {
    target = aws_iam_role.execution
    values = {
      arn = "arn:aws:iam::123456789012:role/durable-code-dev-pillars-execution"
    }
  }

  override_resource {
    target = aws_security_group.task
    values = {
      id = "sg-0fedcba9876543210"
    }
  }
}

variables {
  # Every port pillars uses on the observability instance, and nothing else.
  expected_ports = ["3001", "4040", "4317", "4318", "12347"]
}

run "targets_equal_the_examples" {
  command = plan

  assert {
    condition     = var.enable_pillars
    error_message = "Run with -var-file=examples/deployment.tfvars (check.sh does)."
  }

  assert {
    condition     = output.pillars_target_toml == file("examples/target.example.toml")
    error_message = "pillars_target_toml differs from examples/target.example.toml: re-render the example from the template."
  }

  assert {
    condition     = output.pillars_laptop_target_toml == file("examples/laptop-target.example.toml")
    error_message = "pillars_laptop_target_toml differs from examples/laptop-target.example.toml: re-render the example from the template."
  }

  assert {
    condition     = aws_s3_object.target[0].content == output.pillars_target_toml && aws_s3_object.target[0].key == "pillars/target.toml" && aws_s3_object.target[0].bucket == var.observability_bucket_name
    error_message = "The S3 target object is not the in-VPC target at pillars/target.toml in the observability bucket."
  }
}

run "targets_name_the_right_urls" {
  command = plan

  assert {
    condition = alltrue([
      strcontains(output.pillars_target_toml, "otlp_http = \"http://10.0.1.25:4318\"\n"),
      strcontains(output.pillars_target_toml, "faro = \"http://10.0.1.25:12347/collect\"\n"),
      strcontains(output.pillars_target_toml, "pyroscope = \"http://10.0.1.25:4040\"\n"),
      strcontains(output.pillars_target_toml, "base_url = \"https://dev.durableaicoding.net\"\n"),
      strcontains(output.pillars_target_toml, "grafana = \"http://10.0.1.25:3001/grafana\"\n"),
      strcontains(output.pillars_target_toml, "grafana_user_env = \"PILLARS_GRAFANA_USER\"\n"),
      strcontains(output.pillars_target_toml, "grafana_password_env = \"PILLARS_GRAFANA_PASSWORD\"\n"),
      strcontains(output.pillars_target_toml, "memory_budget_mb = 2700\n"),
    ])
    error_message = "The in-VPC target does not send to the instance's private IP or read through its Grafana."
  }

  assert {
    # No direct store reads: Mimir, Loki and Tempo publish no ports.
    condition     = length(regexall("(?m)^(tempo|loki|mimir) = \"http", output.pillars_target_toml)) == 0
    error_message = "The in-VPC target reads a store directly instead of through Grafana."
  }

  assert {
    condition = alltrue([
      strcontains(output.pillars_laptop_target_toml, "faro = \"https://dev.durableaicoding.net/collect\"\n"),
      strcontains(output.pillars_laptop_target_toml, "base_url = \"https://dev.durableaicoding.net\"\n"),
      strcontains(output.pillars_laptop_target_toml, "grafana = \"http://127.0.0.1:13001/grafana\"\n"),
      strcontains(output.pillars_laptop_target_toml, "[tunnel]\nkind = \"ssm\"\ninstance_id = \"i-0123456789abcdef0\"\nremote_port = 3001\nlocal_port = 13001\n"),
      !strcontains(output.pillars_laptop_target_toml, "otlp"),
      !strcontains(output.pillars_laptop_target_toml, "10.0.1.25"),
    ])
    error_message = "The laptop target does not go through the ALB and the SSM tunnel only."
  }
}

run "observability_ingress_is_exactly_the_five_ports_from_the_task" {
  command = plan

  assert {
    condition     = sort(keys(aws_vpc_security_group_ingress_rule.observability_from_task)) == sort(var.expected_ports)
    error_message = "The observability ingress rules are not exactly ports 4317, 4318, 4040, 12347 and 3001."
  }

  assert {
    condition = alltrue([for port, r in aws_vpc_security_group_ingress_rule.observability_from_task : alltrue([
      r.security_group_id == var.observability_security_group_id,
      r.referenced_security_group_id == "sg-0fedcba9876543210",
      r.ip_protocol == "tcp",
      r.from_port == tonumber(port),
      r.to_port == tonumber(port),
      r.cidr_ipv4 == null,
      r.cidr_ipv6 == null,
      r.prefix_list_id == null,
    ])])
    error_message = "An observability ingress rule is not one TCP port from the task's security group (or has a CIDR)."
  }

  assert {
    condition = alltrue([for port, r in aws_vpc_security_group_egress_rule.task_to_observability : alltrue([
      r.security_group_id == "sg-0fedcba9876543210",
      r.referenced_security_group_id == var.observability_security_group_id,
      r.ip_protocol == "tcp",
      r.from_port == tonumber(port),
      r.to_port == tonumber(port),
      r.cidr_ipv4 == null,
    ])]) && sort(keys(aws_vpc_security_group_egress_rule.task_to_observability)) == sort(var.expected_ports)
    error_message = "The task's egress to the observability instance is not exactly the five ports, by security group."
  }

  assert {
    # Through NAT: one HTTPS rule to anywhere, and the https app needs no other.
    condition = alltrue([
      length(aws_vpc_security_group_egress_rule.task_https) == 1,
      aws_vpc_security_group_egress_rule.task_https[0].from_port == 443,
      aws_vpc_security_group_egress_rule.task_https[0].to_port == 443,
      aws_vpc_security_group_egress_rule.task_https[0].cidr_ipv4 == "0.0.0.0/0",
      length(aws_vpc_security_group_egress_rule.task_app) == 0,
      length(aws_vpc_security_group_egress_rule.task_https_endpoints) == 0,
      length(aws_vpc_security_group_egress_rule.task_https_prefix_lists) == 0,
    ])
    error_message = "The task's HTTPS egress is not the single 443 rule expected with a NAT gateway."
  }
}

run "no_iam_statement_has_a_wildcard_action" {
  command = plan

  assert {
    condition = alltrue([
      for s in concat(
        data.aws_iam_policy_document.ecs_tasks_trust[0].statement,
        data.aws_iam_policy_document.task[0].statement,
        data.aws_iam_policy_document.execution[0].statement,
        data.aws_iam_policy_document.github_trust[0].statement,
        data.aws_iam_policy_document.github[0].statement,
      ) : try(length(s.not_actions), 0) == 0 && length(s.actions) > 0 && alltrue([for a in s.actions : a != "*" && !endswith(a, ":*")])
    ])
    error_message = "An IAM statement has a `*` or `<service>:*` action, or uses not_actions."
  }

  assert {
    # `*` resources only where the API takes none.
    condition = alltrue([
      for s in concat(
        data.aws_iam_policy_document.task[0].statement,
        data.aws_iam_policy_document.execution[0].statement,
        data.aws_iam_policy_document.github[0].statement,
      ) : try(length(s.not_resources), 0) == 0 && (!contains(s.resources, "*") || contains([toset(["ecr:GetAuthorizationToken"]), toset(["ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"])], s.actions))
    ])
    error_message = "An IAM statement has a `*` resource other than for ecr:GetAuthorizationToken and the task definition APIs."
  }

  assert {
    condition = alltrue([
      for s in data.aws_iam_policy_document.task[0].statement :
      (s.sid == "ReadTargetFile" && s.actions == toset(["s3:GetObject"]) && s.resources == toset(["arn:aws:s3:::durable-code-dev-observability-123456789012/pillars/target.toml"])) ||
      (s.sid == "WriteReports" && s.actions == toset(["s3:PutObject"]) && s.resources == toset(["arn:aws:s3:::durable-code-dev-observability-123456789012/pillars/reports/*"]))
    ]) && length(data.aws_iam_policy_document.task[0].statement) == 2
    error_message = "The task role may do more than read pillars/target.toml and write pillars/reports/*."
  }

  assert {
    condition = alltrue([
      for s in data.aws_iam_policy_document.execution[0].statement :
      s.sid != "ReadGrafanaSecrets" || (s.actions == toset(["ssm:GetParameters"]) && s.resources == toset([var.grafana_user_parameter_arn, var.grafana_password_parameter_arn]))
      ]) && !anytrue([
      for s in data.aws_iam_policy_document.execution[0].statement : anytrue([for a in s.actions : startswith(a, "kms:")])
    ])
    error_message = "The execution role reads other parameters, or has KMS access without grafana_parameters_kms_key_arn."
  }

  assert {
    condition = anytrue([
      for s in data.aws_iam_policy_document.github[0].statement :
      s.actions == toset(["iam:PassRole"]) && s.resources == toset([
        "arn:aws:iam::123456789012:role/durable-code-dev-pillars-task",
        "arn:aws:iam::123456789012:role/durable-code-dev-pillars-execution",
      ]) && anytrue([for c in s.condition : c.variable == "iam:PassedToService" && c.values == tolist(["ecs-tasks.amazonaws.com"])])
    ])
    error_message = "The workflow role may pass other roles, or to other services than ECS tasks."
  }

  assert {
    condition = anytrue([
      for s in data.aws_iam_policy_document.github[0].statement :
      s.actions == toset(["s3:ListBucket"]) && anytrue([for c in s.condition : c.test == "StringLike" && c.variable == "s3:prefix" && c.values == tolist(["pillars/reports/*"])])
    ])
    error_message = "The workflow role's ListBucket is not limited to the pillars/reports/ prefix."
  }

  assert {
    condition = anytrue([
      for s in data.aws_iam_policy_document.github[0].statement :
      s.actions == toset(["ssm:StartSession"]) && s.resources == toset([
        "arn:aws:ec2:us-west-2:123456789012:instance/i-0123456789abcdef0",
        "arn:aws:ssm:us-west-2::document/AWS-StartPortForwardingSession",
      ])
    ])
    error_message = "The workflow role may start sessions elsewhere than the observability instance's port forward."
  }
}

run "oidc_trust_is_limited_to_the_repository" {
  command = plan

  assert {
    condition = alltrue([
      length(data.aws_iam_policy_document.github_trust[0].statement) == 1,
      data.aws_iam_policy_document.github_trust[0].statement[0].actions == toset(["sts:AssumeRoleWithWebIdentity"]),
    ])
    error_message = "The workflow role's trust is not one AssumeRoleWithWebIdentity statement."
  }

  assert {
    condition = anytrue([
      for p in data.aws_iam_policy_document.github_trust[0].statement[0].principals :
      p.type == "Federated" && p.identifiers == toset([var.github_oidc_provider_arn])
    ])
    error_message = "The workflow role does not trust the given GitHub OIDC provider."
  }

  assert {
    condition = alltrue([
      for c in data.aws_iam_policy_document.github_trust[0].statement[0].condition : c.test == "StringEquals"
      ]) && anytrue([
      for c in data.aws_iam_policy_document.github_trust[0].statement[0].condition :
      c.variable == "token.actions.githubusercontent.com:sub" && c.values == tolist(["repo:example-org/pillars:ref:refs/heads/main"])
      ]) && anytrue([
      for c in data.aws_iam_policy_document.github_trust[0].statement[0].condition :
      c.variable == "token.actions.githubusercontent.com:aud" && c.values == tolist(["sts.amazonaws.com"])
    ])
    error_message = "The workflow role's trust is not exactly sub repo:example-org/pillars:ref:refs/heads/main and aud sts.amazonaws.com (no wildcards)."
  }

  assert {
    condition     = length(aws_iam_openid_connect_provider.github) == 0
    error_message = "An OIDC provider is created although github_oidc_provider_arn names one."
  }
}

run "logs_and_task_definition" {
  command = plan

  assert {
    condition     = aws_cloudwatch_log_group.pillars[0].name == "/ecs/pillars" && aws_cloudwatch_log_group.pillars[0].retention_in_days == 30
    error_message = "The log group is not /ecs/pillars with 30 days' retention."
  }

  assert {
    condition = alltrue([
      aws_ecs_task_definition.pillars[0].family == "pillars",
      aws_ecs_task_definition.pillars[0].requires_compatibilities == toset(["FARGATE"]),
      aws_ecs_task_definition.pillars[0].network_mode == "awsvpc",
      [for v in aws_ecs_task_definition.pillars[0].volume : v.name] == ["pillars"],
    ])
    error_message = "The task definition is not the Fargate family pillars with the pillars volume."
  }

  assert {
    condition = [for c in jsondecode(aws_ecs_task_definition.pillars[0].container_definitions) : c.name] == ["fetch-target", "pillars", "upload-reports"] && alltrue([
      for c in jsondecode(aws_ecs_task_definition.pillars[0].container_definitions) : alltrue([
        c.mountPoints == [{ sourceVolume = "pillars", containerPath = "/pillars", readOnly = false }],
        c.logConfiguration.logDriver == "awslogs",
        c.logConfiguration.options["awslogs-group"] == "/ecs/pillars",
        c.logConfiguration.options["awslogs-stream-prefix"] == c.name,
      ])
    ])
    error_message = "The containers are not fetch-target, pillars and upload-reports, each with /pillars mounted and logging to /ecs/pillars under its own prefix."
  }

  assert {
    condition = alltrue([
      for c in [for d in jsondecode(aws_ecs_task_definition.pillars[0].container_definitions) : d if d.name == "pillars"] : alltrue([
        c.image == "123456789012.dkr.ecr.us-west-2.amazonaws.com/pillars:latest",
        c.essential == false,
        c.user == "10001:10001",
        c.readonlyRootFilesystem == true,
        c.command == ["verify", "--target", "/pillars/target.toml", "--report-dir", "/pillars/reports"],
        c.dependsOn == [{ containerName = "fetch-target", condition = "SUCCESS" }],
        c.environment == [{ name = "NO_COLOR", value = "1" }],
        c.secrets == [
          { name = "PILLARS_GRAFANA_USER", valueFrom = var.grafana_user_parameter_arn },
          { name = "PILLARS_GRAFANA_PASSWORD", valueFrom = var.grafana_password_parameter_arn },
        ],
      ])
    ])
    error_message = "The pillars container is not the non-root, read-only verify run with its Grafana credentials as SSM secrets."
  }

  assert {
    condition = alltrue([
      for c in [for d in jsondecode(aws_ecs_task_definition.pillars[0].container_definitions) : d if d.name == "upload-reports"] : alltrue([
        c.essential == true,
        c.entryPoint == ["sh", "-c"],
        c.command == ["aws s3 cp --recursive /pillars/reports \"s3://durable-code-dev-observability-123456789012/pillars/reports/$${PILLARS_REPORT_KEY}/\""],
        c.dependsOn == [{ containerName = "pillars", condition = "COMPLETE" }],
        contains(c.environment, { name = "PILLARS_REPORT_KEY", value = "manual" }),
      ])
      ]) && alltrue([
      for c in [for d in jsondecode(aws_ecs_task_definition.pillars[0].container_definitions) : d if d.name == "fetch-target"] : alltrue([
        c.essential == false,
        strcontains(c.command[0], "aws s3 cp \"s3://durable-code-dev-observability-123456789012/pillars/target.toml\" /pillars/target.toml"),
      ])
    ])
    error_message = "fetch-target or upload-reports does not copy the target in and the reports out as the workflows expect."
  }
}

run "bucket_lifecycle_is_exported_not_applied_by_default" {
  command = plan

  assert {
    condition     = length(aws_s3_bucket_lifecycle_configuration.observability) == 0
    error_message = "The bucket's lifecycle configuration is replaced although manage_bucket_lifecycle is off."
  }

  assert {
    condition     = output.pillars_bucket_lifecycle_rule.prefix == "pillars/reports/" && output.pillars_bucket_lifecycle_rule.expiration_days == 30
    error_message = "pillars_bucket_lifecycle_rule does not expire pillars/reports/ after 30 days."
  }
}

run "managed_bucket_lifecycle_keeps_the_deployment_rules" {
  command = plan

  variables {
    manage_bucket_lifecycle = true
    report_retention_days   = 14
  }

  assert {
    condition = [for r in aws_s3_bucket_lifecycle_configuration.observability[0].rule : r.id] == [
      "mimir-retention", "loki-retention", "tempo-retention", "pyroscope-retention", "pillars-reports-retention",
    ]
    error_message = "The managed lifecycle configuration drops the deployment's per-pillar rules."
  }

  assert {
    condition = alltrue([
      for r in aws_s3_bucket_lifecycle_configuration.observability[0].rule : r.id != "pillars-reports-retention" || (
        r.filter[0].prefix == "pillars/reports/" && r.expiration[0].days == 14
      )
    ])
    error_message = "The pillars rule does not expire pillars/reports/ after report_retention_days."
  }

  assert {
    condition     = output.pillars_bucket_lifecycle_rule == null
    error_message = "The rule is still exported for the base workspace while this workspace manages the configuration."
  }
}

run "vpc_endpoints_replace_open_https" {
  command = plan

  variables {
    vpc_endpoints_security_group_id = "sg-0123456789abcdef0"
    vpc_endpoint_prefix_list_ids    = ["pl-68a54001"]
  }

  assert {
    condition = alltrue([
      length(aws_vpc_security_group_egress_rule.task_https) == 0,
      length(aws_vpc_security_group_egress_rule.task_app) == 0,
      aws_vpc_security_group_egress_rule.task_https_endpoints[0].referenced_security_group_id == "sg-0123456789abcdef0",
      aws_vpc_security_group_egress_rule.task_https_prefix_lists["pl-68a54001"].prefix_list_id == "pl-68a54001",
      aws_vpc_security_group_egress_rule.task_https_prefix_lists["pl-68a54001"].from_port == 443,
    ])
    error_message = "With VPC endpoints named, HTTPS egress still goes anywhere, or not to the endpoints."
  }
}

run "http_app_opens_its_port" {
  command = plan

  variables {
    app_base_url = "http://durable-code-dev-alb-123456789.us-west-2.elb.amazonaws.com"
  }

  assert {
    condition     = aws_vpc_security_group_egress_rule.task_app[0].from_port == 80 && aws_vpc_security_group_egress_rule.task_app[0].to_port == 80
    error_message = "An http app URL does not open port 80 to the ALB."
  }

  assert {
    condition     = strcontains(output.pillars_laptop_target_toml, "faro = \"http://durable-code-dev-alb-123456789.us-west-2.elb.amazonaws.com/collect\"\n")
    error_message = "The laptop target's Faro URL is not the ALB's /collect."
  }
}

run "environment_subjects_and_a_created_provider" {
  command = plan

  variables {
    github_oidc_provider_arn    = null
    create_github_oidc_provider = true
    github_environments         = ["capacity"]
  }

  assert {
    condition     = length(aws_iam_openid_connect_provider.github) == 1 && aws_iam_openid_connect_provider.github[0].url == "https://token.actions.githubusercontent.com" && aws_iam_openid_connect_provider.github[0].client_id_list == toset(["sts.amazonaws.com"])
    error_message = "The GitHub OIDC provider is not created for token.actions.githubusercontent.com with audience sts.amazonaws.com."
  }

  assert {
    condition = anytrue([
      for c in data.aws_iam_policy_document.github_trust[0].statement[0].condition :
      c.variable == "token.actions.githubusercontent.com:sub" && c.values == tolist([
        "repo:example-org/pillars:ref:refs/heads/main",
        "repo:example-org/pillars:environment:capacity",
      ])
    ])
    error_message = "The trust does not list the branch and the environment subjects."
  }
}

run "rejects_a_bad_instance_id" {
  command = plan

  variables {
    observability_instance_id = "i-123"
  }

  expect_failures = [var.observability_instance_id]
}

run "rejects_both_or_neither_oidc_provider_choice" {
  command = plan

  variables {
    create_github_oidc_provider = true
  }

  expect_failures = [var.github_oidc_provider_arn]
}

run "requires_the_deployment_values_when_enabled" {
  command = plan

  variables {
    environment              = null
    observability_private_ip = "10.0.1.256"
  }

  expect_failures = [var.environment, var.observability_private_ip]
}
