# Purpose: Outputs the pillars workflows and operators read
# Scope: The rendered targets, what RunTask needs, where reports and logs land, and the role to assume
# Overview: The workflows read these (terraform output -json) to push the image, run the task
#     with its network configuration, wait for it, fetch s3://<pillars_reports_bucket>/
#     <pillars_reports_prefix><report key>/, and to open the SSM tunnel. With enable_pillars off
#     every output is null, never an error. None is sensitive: the targets name environment
#     variables, never their values, and the Grafana credentials stay in SSM.
# Related: targets.tf, ecs.tf, security.tf, github-oidc.tf, s3.tf

output "pillars_target_toml" {
  description = "pillars target for runs inside the VPC (the ECS task); also uploaded to s3://<bucket>/pillars/target.toml."
  value       = local.target_toml
}

output "pillars_laptop_target_toml" {
  description = "pillars target for runs from a laptop: app and Faro through the ALB, Grafana through an SSM tunnel. Write it to infra/target.toml for --target aws."
  value       = local.laptop_target_toml
}

output "pillars_ecr_repository_url" {
  description = "ECR repository the workflow pushes the pillars image to."
  value       = one(aws_ecr_repository.pillars[*].repository_url)
}

output "pillars_image_tag" {
  description = "Tag the task definition runs: the one the workflow must push."
  value       = var.enable_pillars ? var.image_tag : null
}

output "pillars_cluster_name" {
  description = "ECS cluster to run the pillars task on."
  value       = var.enable_pillars ? var.ecs_cluster_name : null
}

output "pillars_task_definition_arn" {
  description = "ARN of the current pillars task definition revision."
  value       = one(aws_ecs_task_definition.pillars[*].arn)
}

output "pillars_task_family" {
  description = "Task definition family; RunTask with it runs the latest active revision."
  value       = one(aws_ecs_task_definition.pillars[*].family)
}

output "pillars_subnet_ids" {
  description = "Subnets for the task's awsvpc network configuration (no public IP)."
  value       = var.enable_pillars ? var.private_subnet_ids : null
}

output "pillars_security_group_id" {
  description = "Security group for the task's awsvpc network configuration."
  value       = one(aws_security_group.task[*].id)
}

output "pillars_reports_bucket" {
  description = "Bucket the task uploads its reports to."
  value       = var.enable_pillars ? var.observability_bucket_name : null
}

output "pillars_reports_prefix" {
  description = "Key prefix of the reports; each run's are under <prefix><PILLARS_REPORT_KEY>/."
  value       = var.enable_pillars ? local.reports_prefix : null
}

output "pillars_log_group_name" {
  description = "CloudWatch log group of the task; streams are <container>/<container>/<task id>."
  value       = one(aws_cloudwatch_log_group.pillars[*].name)
}

output "pillars_github_role_arn" {
  description = "IAM role the GitHub workflows assume (aws-actions/configure-aws-credentials role-to-assume)."
  value       = one(aws_iam_role.github[*].arn)
}

output "pillars_instance_id" {
  description = "Observability instance the SSM tunnel to Grafana targets."
  value       = var.enable_pillars ? var.observability_instance_id : null
}

output "pillars_region" {
  description = "Region of the task, bucket, logs and tunnel."
  value       = var.enable_pillars ? var.aws_region : null
}

output "pillars_bucket_lifecycle_rule" {
  description = "The pillars/reports/ expiry rule, for the base workspace to add to the bucket's lifecycle configuration (see s3.tf); null when this workspace manages that configuration itself."
  value       = var.enable_pillars && !var.manage_bucket_lifecycle ? local.reports_lifecycle_rule : null
}
