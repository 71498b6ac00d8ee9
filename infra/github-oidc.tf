# Purpose: IAM role the pillars GitHub workflows assume through OIDC
# Scope: The optional GitHub OIDC provider, the role's trust policy, and its permissions
# Overview: The workflows build and push the pillars image, run the task and wait for it, read
#     its logs and download its reports, and open an SSM port forward to Grafana on the
#     observability instance. Trust is exact, never a pattern: the token's audience must be
#     sts.amazonaws.com and its subject one of repo:<owner/name>:ref:refs/heads/<branch> for
#     github_branches (default main: the nightly schedule runs on the default branch, and
#     manual dispatches from main present the same subject), or
#     repo:<owner/name>:environment:<name> for github_environments. Branches are the default
#     because they need nothing configured in GitHub; environments are the stronger choice for
#     the manual capacity run (required reviewers, branch rules), and a job that declares an
#     environment presents that subject instead of its branch, so list it there. Pull requests
#     are never trusted. Every statement names its actions and resources; the only `*`
#     resource is ecr:GetAuthorizationToken, which takes none.
# Related: ecs.tf, ecr.tf, logs.tf, s3.tf, iam-task.tf (the roles passed to ECS)

resource "aws_iam_openid_connect_provider" "github" {
  count = var.enable_pillars && var.create_github_oidc_provider ? 1 : 0

  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
  # IAM no longer checks thumbprints for this provider, but the API still wants one; these are
  # GitHub's published intermediate certificates.
  thumbprint_list = [
    "6938fd4d98bab03faadb97b34396831e3780aea1",
    "1c58a3a8518e8759bf075b76b750d4f2df264fcd",
  ]

  tags = merge(local.tags, {
    Name    = "${local.prefix}-github-oidc"
    Purpose = "GitHub Actions OIDC authentication"
  })
}

locals {
  github_oidc_provider_arn = var.create_github_oidc_provider ? one(aws_iam_openid_connect_provider.github[*].arn) : var.github_oidc_provider_arn

  github_subjects = var.enable_pillars ? concat(
    [for b in var.github_branches : "repo:${var.github_repository}:ref:refs/heads/${b}"],
    [for e in var.github_environments : "repo:${var.github_repository}:environment:${e}"],
  ) : []
}

data "aws_iam_policy_document" "github_trust" {
  count = var.enable_pillars ? 1 : 0

  statement {
    sid     = "GitHubActionsOfThisRepository"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.github_oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = local.github_subjects
    }
  }
}

resource "aws_iam_role" "github" {
  count = var.enable_pillars ? 1 : 0

  name                 = "${local.prefix}-github"
  description          = "GitHub workflows of ${var.github_repository}: run pillars on ECS and read its results"
  assume_role_policy   = data.aws_iam_policy_document.github_trust[0].json
  max_session_duration = var.github_role_max_session_seconds

  tags = merge(local.tags, {
    Name    = "${local.prefix}-github"
    Purpose = "GitHub Actions role for the pillars workflows"
  })

  lifecycle {
    precondition {
      condition     = length(local.github_subjects) > 0
      error_message = "github_branches and github_environments are both empty: no workflow could assume the role."
    }
  }
}

data "aws_iam_policy_document" "github" {
  count = var.enable_pillars ? 1 : 0

  statement {
    sid = "EcrAuthorizationToken"
    # GetAuthorizationToken is account-wide: it takes no resource.
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid = "PushPillarsImage"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:CompleteLayerUpload",
      "ecr:DescribeImages",
      "ecr:GetDownloadUrlForLayer",
      "ecr:InitiateLayerUpload",
      "ecr:PutImage",
      "ecr:UploadLayerPart",
    ]
    resources = [aws_ecr_repository.pillars[0].arn]
  }

  statement {
    sid = "RegisterPillarsRevisions"
    # The workflow registers a revision of the family with the image it just
    # pushed (run-task cannot override an image). Neither API takes a
    # resource; PassTaskRoles below limits the roles a revision can carry and
    # RunPillarsTask the family that can run.
    actions   = ["ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"]
    resources = ["*"]
  }

  statement {
    sid       = "RunPillarsTask"
    actions   = ["ecs:RunTask"]
    resources = [local.arn.task_definitions]

    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [data.aws_ecs_cluster.target[0].arn]
    }
  }

  statement {
    sid = "TagTasksAtLaunch"
    # RunTask with --tags or --propagate-tags; nothing else may be tagged.
    actions   = ["ecs:TagResource"]
    resources = [local.arn.cluster_tasks]

    condition {
      test     = "StringEquals"
      variable = "ecs:CreateAction"
      values   = ["RunTask"]
    }
  }

  statement {
    sid       = "WatchAndStopTasks"
    actions   = ["ecs:DescribeTasks", "ecs:StopTask"]
    resources = [local.arn.cluster_tasks]

    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [data.aws_ecs_cluster.target[0].arn]
    }
  }

  statement {
    sid     = "PassTaskRoles"
    actions = ["iam:PassRole"]
    resources = [
      aws_iam_role.task[0].arn,
      aws_iam_role.execution[0].arn,
    ]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }

  statement {
    sid       = "ListReports"
    actions   = ["s3:ListBucket"]
    resources = [local.arn.bucket]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.reports_prefix}*"]
    }
  }

  statement {
    sid       = "DownloadReports"
    actions   = ["s3:GetObject"]
    resources = [local.arn.reports_objects]
  }

  dynamic "statement" {
    for_each = var.observability_bucket_kms_key_arn == null ? [] : [var.observability_bucket_kms_key_arn]

    content {
      sid       = "BucketKeyThroughS3"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["s3.${var.aws_region}.amazonaws.com"]
      }
    }
  }

  statement {
    sid     = "ReadTaskLogs"
    actions = ["logs:FilterLogEvents", "logs:GetLogEvents"]
    resources = [
      aws_cloudwatch_log_group.pillars[0].arn,
      "${aws_cloudwatch_log_group.pillars[0].arn}:*",
    ]
  }

  statement {
    sid     = "PortForwardToObservabilityInstance"
    actions = ["ssm:StartSession"]
    resources = [
      local.arn.instance,
      local.arn.port_forwarding_document,
    ]

    # Makes the document part of the check: a session without --document-name (a shell) is refused.
    condition {
      test     = "BoolIfExists"
      variable = "ssm:SessionDocumentAccessCheck"
      values   = ["true"]
    }
  }

  statement {
    sid       = "EndOwnSessions"
    actions   = ["ssm:TerminateSession", "ssm:ResumeSession"]
    resources = [local.arn.ssm_sessions]

    # A session started by this role is tagged with the caller's aws:userid
    # (<role id>:<session name>); only those may be ended or resumed.
    condition {
      test     = "StringLike"
      variable = "ssm:resourceTag/aws:ssmmessages:session-id"
      values   = ["$${aws:userid}"]
    }
  }
}

resource "aws_iam_role_policy" "github" {
  count = var.enable_pillars ? 1 : 0

  name   = "${local.prefix}-github"
  role   = aws_iam_role.github[0].id
  policy = data.aws_iam_policy_document.github[0].json
}
