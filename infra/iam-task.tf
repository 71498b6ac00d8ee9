# Purpose: IAM roles of the pillars ECS task
# Scope: The task role (what the containers may do) and the execution role (what ECS does to start them)
# Overview: The task role reads exactly one object, pillars/target.toml, and writes only under
#     pillars/reports/ in the observability bucket; pillars itself needs no AWS API. The execution
#     role pulls the pillars image from its repository, writes to /ecs/pillars, and reads the two
#     Grafana parameters it injects as secrets. KMS permissions appear only when a customer key is
#     named, and only through the service that uses it. Every action is named; the only `*`
#     resource is ecr:GetAuthorizationToken, which has no resource to scope to. Both roles trust
#     ECS tasks of this account only (aws:SourceAccount, aws:SourceArn) against confused deputies.
# Related: ecs.tf, s3.tf, logs.tf, ecr.tf

data "aws_iam_policy_document" "ecs_tasks_trust" {
  count = var.enable_pillars ? 1 : 0

  statement {
    sid     = "EcsTasksOfThisAccount"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [local.arn.ecs_any]
    }
  }
}

# -----------------------------------------------------------------------------
# Task role
# -----------------------------------------------------------------------------

resource "aws_iam_role" "task" {
  count = var.enable_pillars ? 1 : 0

  name               = "${local.prefix}-task"
  description        = "pillars task: read its target file, write its reports"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_trust[0].json

  tags = merge(local.tags, {
    Name    = "${local.prefix}-task"
    Purpose = "pillars ECS task role"
  })
}

data "aws_iam_policy_document" "task" {
  count = var.enable_pillars ? 1 : 0

  statement {
    sid       = "ReadTargetFile"
    actions   = ["s3:GetObject"]
    resources = [local.arn.target_object]
  }

  statement {
    sid       = "WriteReports"
    actions   = ["s3:PutObject"]
    resources = [local.arn.reports_objects]
  }

  dynamic "statement" {
    for_each = var.observability_bucket_kms_key_arn == null ? [] : [var.observability_bucket_kms_key_arn]

    content {
      sid       = "BucketKeyThroughS3"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["s3.${var.aws_region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role_policy" "task" {
  count = var.enable_pillars ? 1 : 0

  name   = "${local.prefix}-task"
  role   = aws_iam_role.task[0].id
  policy = data.aws_iam_policy_document.task[0].json
}

# -----------------------------------------------------------------------------
# Execution role
# -----------------------------------------------------------------------------

resource "aws_iam_role" "execution" {
  count = var.enable_pillars ? 1 : 0

  name               = "${local.prefix}-execution"
  description        = "ECS starting the pillars task: image pull, logs, Grafana secrets"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_trust[0].json

  tags = merge(local.tags, {
    Name    = "${local.prefix}-execution"
    Purpose = "pillars ECS task execution role"
  })
}

data "aws_iam_policy_document" "execution" {
  count = var.enable_pillars ? 1 : 0

  statement {
    sid = "EcrAuthorizationToken"
    # GetAuthorizationToken is account-wide: it takes no resource.
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid = "PullPillarsImage"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]
    resources = [aws_ecr_repository.pillars[0].arn]
  }

  statement {
    sid       = "WriteTaskLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.pillars[0].arn}:*"]
  }

  statement {
    sid     = "ReadGrafanaSecrets"
    actions = ["ssm:GetParameters"]
    resources = [
      var.grafana_user_parameter_arn,
      var.grafana_password_parameter_arn,
    ]
  }

  dynamic "statement" {
    for_each = var.grafana_parameters_kms_key_arn == null ? [] : [var.grafana_parameters_kms_key_arn]

    content {
      sid       = "GrafanaSecretsKeyThroughSsm"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["ssm.${var.aws_region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  count = var.enable_pillars ? 1 : 0

  name   = "${local.prefix}-execution"
  role   = aws_iam_role.execution[0].id
  policy = data.aws_iam_policy_document.execution[0].json
}
