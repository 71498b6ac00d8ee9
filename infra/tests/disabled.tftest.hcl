# With enable_pillars off, nothing is created or read and every output is null, whether or not
# the deployment's values are given. Run through ../check.sh (or with
# -var-file=examples/deployment.tfvars): these runs override the example's flag.

mock_provider "aws" {}

run "flag_off_with_the_deployment_values" {
  command = plan

  variables {
    enable_pillars = false
  }

  assert {
    condition = alltrue([
      length(data.aws_caller_identity.current) == 0,
      length(data.aws_partition.current) == 0,
      length(data.aws_ecs_cluster.target) == 0,
      length(data.aws_iam_policy_document.ecs_tasks_trust) == 0,
      length(data.aws_iam_policy_document.task) == 0,
      length(data.aws_iam_policy_document.execution) == 0,
      length(data.aws_iam_policy_document.github_trust) == 0,
      length(data.aws_iam_policy_document.github) == 0,
    ])
    error_message = "A data source is read with enable_pillars off."
  }

  assert {
    condition = alltrue([
      length(aws_ecr_repository.pillars) == 0,
      length(aws_ecr_lifecycle_policy.pillars) == 0,
      length(aws_cloudwatch_log_group.pillars) == 0,
      length(aws_iam_role.task) == 0,
      length(aws_iam_role_policy.task) == 0,
      length(aws_iam_role.execution) == 0,
      length(aws_iam_role_policy.execution) == 0,
      length(aws_ecs_task_definition.pillars) == 0,
      length(aws_s3_object.target) == 0,
      length(aws_s3_bucket_lifecycle_configuration.observability) == 0,
      length(aws_security_group.task) == 0,
      length(aws_vpc_security_group_egress_rule.task_to_observability) == 0,
      length(aws_vpc_security_group_egress_rule.task_https) == 0,
      length(aws_vpc_security_group_egress_rule.task_app) == 0,
      length(aws_vpc_security_group_egress_rule.task_https_endpoints) == 0,
      length(aws_vpc_security_group_egress_rule.task_https_prefix_lists) == 0,
      length(aws_vpc_security_group_ingress_rule.observability_from_task) == 0,
      length(aws_iam_openid_connect_provider.github) == 0,
      length(aws_iam_role.github) == 0,
      length(aws_iam_role_policy.github) == 0,
    ])
    error_message = "A resource is planned with enable_pillars off."
  }

  assert {
    condition = alltrue([
      output.pillars_target_toml == null,
      output.pillars_laptop_target_toml == null,
      output.pillars_ecr_repository_url == null,
      output.pillars_image_tag == null,
      output.pillars_cluster_name == null,
      output.pillars_task_definition_arn == null,
      output.pillars_task_family == null,
      output.pillars_subnet_ids == null,
      output.pillars_security_group_id == null,
      output.pillars_reports_bucket == null,
      output.pillars_reports_prefix == null,
      output.pillars_log_group_name == null,
      output.pillars_github_role_arn == null,
      output.pillars_instance_id == null,
      output.pillars_region == null,
      output.pillars_bucket_lifecycle_rule == null,
    ])
    error_message = "An output is not null with enable_pillars off."
  }
}

# No inputs at all (every deployment value unset, even the flags that would need one): still a
# clean plan of nothing, so the workspace can sit in a deployment that has not enabled pillars.
run "flag_off_without_inputs" {
  command = plan

  variables {
    enable_pillars                  = false
    environment                     = null
    vpc_id                          = null
    private_subnet_ids              = []
    ecs_cluster_name                = null
    observability_instance_id       = null
    observability_private_ip        = null
    observability_security_group_id = null
    observability_bucket_name       = null
    app_base_url                    = null
    log_group_kms_key_arn           = null
    grafana_user_parameter_arn      = null
    grafana_password_parameter_arn  = null
    github_repository               = null
    github_oidc_provider_arn        = null
    manage_bucket_lifecycle         = true
    create_github_oidc_provider     = true
  }

  assert {
    condition = alltrue([
      length(aws_ecr_repository.pillars) == 0,
      length(aws_ecs_task_definition.pillars) == 0,
      length(aws_s3_bucket_lifecycle_configuration.observability) == 0,
      length(aws_iam_openid_connect_provider.github) == 0,
      length(aws_vpc_security_group_ingress_rule.observability_from_task) == 0,
    ])
    error_message = "A resource is planned with enable_pillars off and no inputs."
  }

  assert {
    condition     = output.pillars_target_toml == null && output.pillars_laptop_target_toml == null && output.pillars_github_role_arn == null
    error_message = "An output is not null with enable_pillars off and no inputs."
  }
}
