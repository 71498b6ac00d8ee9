# Purpose: ECS Fargate task definition that runs pillars inside the VPC
# Scope: The existing cluster lookup and the `pillars` task family with its three containers
# Overview: One run is one task. fetch-target copies s3://<bucket>/pillars/target.toml into the
#     task volume `pillars` (mounted at /pillars in every container) and hands the volume to the
#     pillars user; pillars then runs once that succeeded, as that non-root user with a read-only
#     root filesystem, writing its reports to /pillars/reports; upload-reports copies them to
#     s3://<bucket>/pillars/reports/<PILLARS_REPORT_KEY>/ whatever pillars' exit code was. Only
#     upload-reports is essential, so the task stops when the upload is done, and pillars' own
#     exit code stays readable on its container. The workflow overrides pillars' command (verify,
#     load, capacity) and PILLARS_REPORT_KEY; the container names are part of that contract.
#     Grafana's credentials reach pillars as ECS secrets from SSM, never as plain values.
# Related: iam-task.tf (roles), s3.tf (target object), logs.tf, security.tf (network)

data "aws_ecs_cluster" "target" {
  count = var.enable_pillars ? 1 : 0

  cluster_name = var.ecs_cluster_name
}

locals {
  volume_name = "pillars"
  volume_path = "/pillars"
  target_path = "/pillars/target.toml"
  reports_dir = "/pillars/reports"

  container_names = {
    fetch   = "fetch-target"
    pillars = "pillars"
    upload  = "upload-reports"
  }

  mount_points = [
    {
      sourceVolume  = local.volume_name
      containerPath = local.volume_path
      readOnly      = false
    }
  ]
}

resource "aws_ecs_task_definition" "pillars" {
  count = var.enable_pillars ? 1 : 0

  family                   = local.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.task_cpu
  memory                   = var.task_memory
  task_role_arn            = aws_iam_role.task[0].arn
  execution_role_arn       = aws_iam_role.execution[0].arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.task_cpu_architecture
  }

  # Task-scoped storage on the task's ephemeral disk: it lives and dies with the run.
  volume {
    name = local.volume_name
  }

  container_definitions = jsonencode([
    {
      name      = local.container_names.fetch
      image     = var.aws_cli_image
      essential = false
      # The CLI keeps its cache under $HOME, so this container's root stays writable. It runs
      # as the image's root user because it hands the volume, created root-owned, to pillars.
      entryPoint = ["sh", "-c"]
      command = [join(" && ", [
        "aws s3 cp \"s3://${var.observability_bucket_name}/${local.target_key}\" ${local.target_path}",
        "mkdir -p ${local.reports_dir}",
        "chown -R ${var.pillars_user} ${local.volume_path}",
      ])]
      environment = [
        { name = "AWS_REGION", value = var.aws_region },
      ]
      mountPoints = local.mount_points
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.pillars[0].name
          awslogs-region        = var.aws_region
          awslogs-stream-prefix = local.container_names.fetch
        }
      }
    },
    {
      name                   = local.container_names.pillars
      image                  = "${aws_ecr_repository.pillars[0].repository_url}:${var.image_tag}"
      essential              = false
      user                   = var.pillars_user
      readonlyRootFilesystem = true
      command                = ["verify", "--target", local.target_path, "--report-dir", local.reports_dir]
      dependsOn = [
        { containerName = local.container_names.fetch, condition = "SUCCESS" },
      ]
      environment = [
        { name = "NO_COLOR", value = "1" },
      ]
      secrets = [
        { name = "PILLARS_GRAFANA_USER", valueFrom = var.grafana_user_parameter_arn },
        { name = "PILLARS_GRAFANA_PASSWORD", valueFrom = var.grafana_password_parameter_arn },
      ]
      mountPoints = local.mount_points
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.pillars[0].name
          awslogs-region        = var.aws_region
          awslogs-stream-prefix = local.container_names.pillars
        }
      }
    },
    {
      name      = local.container_names.upload
      image     = var.aws_cli_image
      essential = true
      # sh -c so that ${PILLARS_REPORT_KEY}, set per run through container overrides, expands.
      entryPoint = ["sh", "-c"]
      command    = ["aws s3 cp --recursive ${local.reports_dir} \"s3://${var.observability_bucket_name}/${local.reports_prefix}$${PILLARS_REPORT_KEY}/\""]
      dependsOn = [
        { containerName = local.container_names.pillars, condition = "COMPLETE" },
      ]
      environment = [
        { name = "AWS_REGION", value = var.aws_region },
        { name = "PILLARS_REPORT_KEY", value = "manual" },
      ]
      mountPoints = local.mount_points
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.pillars[0].name
          awslogs-region        = var.aws_region
          awslogs-stream-prefix = local.container_names.upload
        }
      }
    },
  ])

  tags = merge(local.tags, {
    Name    = local.name
    Purpose = "pillars run inside the VPC"
  })
}
