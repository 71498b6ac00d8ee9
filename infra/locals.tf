# Purpose: Shared names, tags, ARNs and the account lookups they are built from
# Scope: Local values used by every other file, plus the caller-identity and partition data sources
# Overview: One place for the fixed names other people build against (ECR repository and task
#     family `pillars`, log group `/ecs/pillars`, the S3 keys under pillars/), the tag map every
#     resource merges, and ARNs built from variables so IAM policies never need a wildcard
#     resource. The observability ports are listed once; the security group rules on both sides
#     and the rendered targets use the same list.
# Related: variables.tf, every resource file

data "aws_caller_identity" "current" {
  count = var.enable_pillars ? 1 : 0
}

data "aws_partition" "current" {
  count = var.enable_pillars ? 1 : 0
}

locals {
  name = "pillars"

  # Per-environment names for the account-wide things (IAM roles, security group).
  prefix = var.enable_pillars ? "${var.project_name}-${var.environment}-pillars" : null

  tags = merge(
    var.additional_tags,
    {
      Environment = var.environment
      Project     = var.project_name
      Component   = "pillars"
      ManagedBy   = "Terraform"
    }
  )

  # The ports pillars reaches on the observability instance, and what listens there.
  observability_ports = {
    "4317"  = "Alloy OTLP gRPC"
    "4318"  = "Alloy OTLP HTTP"
    "4040"  = "Pyroscope push"
    "12347" = "Alloy Faro receiver"
    "3001"  = "Grafana (reads through the datasource proxy)"
  }
  grafana_port = 3001

  # S3 layout under the observability bucket.
  target_key     = "pillars/target.toml"
  reports_prefix = "pillars/reports/"

  # ARNs for the IAM policies, built from the inputs so that none needs a wildcard where the
  # API takes a resource. Null with the flag off: only count-gated resources read them.
  arn = var.enable_pillars ? {
    bucket          = "arn:${local.partition}:s3:::${var.observability_bucket_name}"
    target_object   = "arn:${local.partition}:s3:::${var.observability_bucket_name}/${local.target_key}"
    reports_objects = "arn:${local.partition}:s3:::${var.observability_bucket_name}/${local.reports_prefix}*"
    instance        = "arn:${local.partition}:ec2:${var.aws_region}:${local.account_id}:instance/${var.observability_instance_id}"
    # AWS-owned documents have no account in their ARN.
    port_forwarding_document = "arn:${local.partition}:ssm:${var.aws_region}::document/AWS-StartPortForwardingSession"
    ssm_sessions             = "arn:${local.partition}:ssm:${var.aws_region}:${local.account_id}:session/*"
    task_definitions         = "arn:${local.partition}:ecs:${var.aws_region}:${local.account_id}:task-definition/${local.name}:*"
    cluster_tasks            = "arn:${local.partition}:ecs:${var.aws_region}:${local.account_id}:task/${var.ecs_cluster_name}/*"
    ecs_any                  = "arn:${local.partition}:ecs:${var.aws_region}:${local.account_id}:*"
  } : null

  account_id = one(data.aws_caller_identity.current[*].account_id)
  partition  = one(data.aws_partition.current[*].partition)
}
