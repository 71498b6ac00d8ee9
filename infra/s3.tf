# Purpose: pillars' objects in the deployment's observability bucket
# Scope: The rendered in-VPC target at pillars/target.toml, and report expiry under pillars/reports/
# Overview: The bucket belongs to the deployment's base workspace; pillars only adds keys under
#     pillars/. The target object is what the task's fetch-target container reads.
#
#     Report expiry needs care. aws_s3_bucket_lifecycle_configuration is the bucket's whole
#     lifecycle configuration, not one rule: applying it here would replace the base workspace's
#     per-pillar retention rules (mimir/, loki/, tempo/, pyroscope/), and each workspace would
#     then undo the other on every apply. So by default this workspace does not touch it and
#     exports the rule instead (output pillars_bucket_lifecycle_rule) for the base workspace to
#     add to its own configuration. Where this workspace is the only owner (e.g. the base
#     workspace declares no lifecycle configuration), manage_bucket_lifecycle = true writes the
#     full configuration: bucket_lifecycle_rules_to_keep, which defaults to the base workspace's
#     rules, plus the pillars rule.
# Related: targets.tf (rendered content), ecs.tf (who reads and writes these keys), outputs.tf

resource "aws_s3_object" "target" {
  count = var.enable_pillars ? 1 : 0

  bucket       = var.observability_bucket_name
  key          = local.target_key
  content      = local.target_toml
  content_type = "application/toml"

  tags = merge(local.tags, {
    Name    = local.target_key
    Purpose = "pillars target for runs inside the VPC"
  })
}

locals {
  # Versioned or not, the bucket's reports expire after the same number of days; the
  # multipart clean-up catches uploads an interrupted task left behind.
  reports_lifecycle_rule = {
    id                                     = "pillars-reports-retention"
    prefix                                 = local.reports_prefix
    expiration_days                        = var.report_retention_days
    noncurrent_version_expiration_days     = var.report_retention_days
    abort_incomplete_multipart_upload_days = 1
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "observability" {
  count = var.enable_pillars && var.manage_bucket_lifecycle ? 1 : 0

  bucket = var.observability_bucket_name

  dynamic "rule" {
    for_each = var.bucket_lifecycle_rules_to_keep

    content {
      id     = rule.value.id
      status = "Enabled"

      filter {
        prefix = rule.value.prefix
      }

      expiration {
        days = rule.value.expiration_days
      }
    }
  }

  rule {
    id     = local.reports_lifecycle_rule.id
    status = "Enabled"

    filter {
      prefix = local.reports_lifecycle_rule.prefix
    }

    expiration {
      days = local.reports_lifecycle_rule.expiration_days
    }

    noncurrent_version_expiration {
      noncurrent_days = local.reports_lifecycle_rule.noncurrent_version_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = local.reports_lifecycle_rule.abort_incomplete_multipart_upload_days
    }
  }
}
