# Purpose: Terraform and provider requirements for the pillars workspace
# Scope: Version constraints, the partial S3 state backend and the AWS provider
# Overview: pillars runs next to the Durable Code deployment and takes the deployment's values
#     as variables (examples/deployment.tfvars maps each one to the deployment output it comes
#     from), so this workspace never reads the deployment's state and can be applied, or
#     destroyed, without touching it.
# Related: variables.tf for aws_region, locals.tf for the tag map merged into every resource

terraform {
  # >= 1.11: cross-variable validation (1.9) and mocked values during plan in tests (1.11).
  required_version = ">= 1.11"

  # Partial configuration, as in the deployment's workspaces: bucket, key and region come from
  # `terraform init -backend-config=<file>`. The offline checks run with -backend=false.
  backend "s3" {}

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}

provider "aws" {
  region = var.aws_region
}
