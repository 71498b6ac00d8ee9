# Purpose: Network access of the pillars task, and the observability instance's ingress for it
# Scope: The task's security group and egress rules; ingress rules added to the instance's group
# Overview: The task accepts no inbound traffic. Its egress is the five ports it uses on the
#     observability instance (OTLP gRPC and HTTP, Pyroscope, Faro, Grafana), addressed by
#     security group, plus HTTPS for what has no stable address: the AWS APIs the task's start
#     and its aws-cli containers need (ECR and the S3 behind its image layers, CloudWatch Logs,
#     SSM for the Grafana secrets, S3 for the target and reports) reached through the NAT
#     gateway, and the app's public ALB. Where the private subnets have no NAT gateway and
#     reach AWS through VPC endpoints instead, naming the endpoints' security group and/or
#     prefix lists replaces the open HTTPS rule with rules to them; the public app URL is then
#     unreachable from the task in any case, so no rule is opened for it. On the instance's
#     group, the same five ports are opened to the task's group only: no CIDR, no other port.
#     Rules are separate resources (no inline blocks), so the provider also removes the
#     allow-all egress AWS adds to a new group.
#     CAUTION: the base workspace declares the instance's group with inline ingress blocks,
#     which Terraform treats as the complete rule set: its next apply revokes the rules added
#     here, and the next apply here puts them back. Until the base workspace moves its rules to
#     aws_vpc_security_group_ingress_rule resources (or ignores changes to `ingress`), apply
#     this workspace after every base apply.
# Related: locals.tf (observability_ports), base workspace observability-security.tf

# Rule descriptions keep to the characters EC2 accepts there: no apostrophes or quotes.
resource "aws_security_group" "task" {
  count = var.enable_pillars ? 1 : 0

  name        = "${local.prefix}-task"
  description = "pillars ECS task: egress to the observability instance and HTTPS only"
  vpc_id      = var.vpc_id

  tags = merge(local.tags, {
    Name    = "${local.prefix}-task"
    Purpose = "Network access control for the pillars ECS task"
  })
}

locals {
  https_via_endpoints = var.vpc_endpoints_security_group_id != null || length(var.vpc_endpoint_prefix_list_ids) > 0

  # The port of app_base_url: explicit, else the scheme's.
  app_port = var.enable_pillars ? tonumber(coalesce(
    regex("^https?://[^:/]+(?::([0-9]+))?$", var.app_base_url)[0],
    startswith(var.app_base_url, "https://") ? "443" : "80"
  )) : null
}

# -----------------------------------------------------------------------------
# Task egress
# -----------------------------------------------------------------------------

resource "aws_vpc_security_group_egress_rule" "task_to_observability" {
  for_each = var.enable_pillars ? local.observability_ports : {}

  security_group_id            = aws_security_group.task[0].id
  description                  = "${each.value} on the observability instance"
  ip_protocol                  = "tcp"
  from_port                    = tonumber(each.key)
  to_port                      = tonumber(each.key)
  referenced_security_group_id = var.observability_security_group_id

  tags = merge(local.tags, { Name = "${local.prefix}-to-observability-${each.key}" })
}

resource "aws_vpc_security_group_egress_rule" "task_https" {
  count = var.enable_pillars && !local.https_via_endpoints ? 1 : 0

  security_group_id = aws_security_group.task[0].id
  description       = "HTTPS to AWS APIs through the NAT gateway and to the public ALB of the app"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"

  tags = merge(local.tags, { Name = "${local.prefix}-https" })
}

resource "aws_vpc_security_group_egress_rule" "task_app" {
  # Only when the app is not on 443, which the rule above already opens.
  count = var.enable_pillars && !local.https_via_endpoints && local.app_port != 443 ? 1 : 0

  security_group_id = aws_security_group.task[0].id
  description       = "The public ALB of the app on port ${local.app_port}"
  ip_protocol       = "tcp"
  from_port         = local.app_port
  to_port           = local.app_port
  cidr_ipv4         = "0.0.0.0/0"

  tags = merge(local.tags, { Name = "${local.prefix}-app" })
}

resource "aws_vpc_security_group_egress_rule" "task_https_endpoints" {
  count = var.enable_pillars && var.vpc_endpoints_security_group_id != null ? 1 : 0

  security_group_id            = aws_security_group.task[0].id
  description                  = "HTTPS to the interface VPC endpoints (ECR, CloudWatch Logs, SSM)"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = var.vpc_endpoints_security_group_id

  tags = merge(local.tags, { Name = "${local.prefix}-https-endpoints" })
}

resource "aws_vpc_security_group_egress_rule" "task_https_prefix_lists" {
  for_each = var.enable_pillars ? toset(var.vpc_endpoint_prefix_list_ids) : toset([])

  security_group_id = aws_security_group.task[0].id
  description       = "HTTPS to the VPC endpoint prefix list ${each.key}"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = each.key

  tags = merge(local.tags, { Name = "${local.prefix}-https-${each.key}" })
}

# -----------------------------------------------------------------------------
# Observability instance ingress, from the task only
# -----------------------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "observability_from_task" {
  for_each = var.enable_pillars ? local.observability_ports : {}

  security_group_id            = var.observability_security_group_id
  description                  = "${each.value} from the pillars task"
  ip_protocol                  = "tcp"
  from_port                    = tonumber(each.key)
  to_port                      = tonumber(each.key)
  referenced_security_group_id = aws_security_group.task[0].id

  tags = merge(local.tags, { Name = "${local.prefix}-from-task-${each.key}" })
}
