# Purpose: CloudWatch log group of the pillars task
# Scope: `/ecs/pillars`, shared by the task's three containers
# Overview: Each container logs here through the awslogs driver under its own stream prefix
#     (fetch-target/, pillars/, upload-reports/), so the workflow can read pillars' output while
#     the task runs and after it stops. The group is created here, never by the driver, so its
#     retention and encryption are set; retention is bounded so verification logs do not pile up.
# Related: ecs.tf (log configuration), iam-task.tf (write), github-oidc.tf (read)

resource "aws_cloudwatch_log_group" "pillars" {
  count = var.enable_pillars ? 1 : 0

  name              = "/ecs/${local.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_group_kms_key_arn

  tags = merge(local.tags, {
    Name    = "/ecs/${local.name}"
    Purpose = "pillars task logs"
  })
}
