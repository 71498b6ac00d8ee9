# Purpose: The two pillars target files this deployment yields
# Scope: Rendering of templates/*.tftpl into the in-VPC target and the laptop target
# Overview: The in-VPC target is what the ECS task runs against (s3.tf uploads it): ingest
#     straight to the observability instance's private IP, reads through Grafana's datasource
#     proxy on the instance. The laptop target reaches the same stack from outside: the app and
#     Faro through the public ALB, Grafana through an SSM port forward, and no OTLP ingest since
#     those ports only accept the VPC. Both share one [limits] table (templates/limits.toml.tftpl).
#     Values are written into TOML strings as they are; the variables' validations keep quotes
#     and backslashes out of them. examples/*.example.toml are these renderings for
#     examples/deployment.tfvars, and a test keeps them equal.
# Related: templates/, outputs.tf, s3.tf, tests/enabled.tftest.hcl

locals {
  target_common = var.enable_pillars ? {
    environment  = var.environment
    project      = var.project_name
    app_base_url = var.app_base_url
    grafana_port = local.grafana_port
    limits       = chomp(templatefile("${path.module}/templates/limits.toml.tftpl", {}))
  } : null

  target_toml = var.enable_pillars ? templatefile("${path.module}/templates/target.toml.tftpl", merge(local.target_common, {
    ip     = var.observability_private_ip
    bucket = var.observability_bucket_name
  })) : null

  laptop_target_toml = var.enable_pillars ? templatefile("${path.module}/templates/laptop-target.toml.tftpl", merge(local.target_common, {
    instance_id = var.observability_instance_id
    local_port  = var.laptop_grafana_local_port
    region      = var.aws_region
  })) : null
}
