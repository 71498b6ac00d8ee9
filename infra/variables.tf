# Purpose: Input variables for the pillars workspace
# Scope: The feature flag, the deployment's values pillars runs against, and pillars' own settings
# Overview: Everything is off until enable_pillars is true. The values the deployment provides
#     default to null so that a plan with the flag off needs no inputs at all; once the flag is
#     on, each validation below demands a well-formed value (cross-variable validation, so the
#     message names the variable to set). examples/deployment.tfvars shows which deployment
#     output feeds each variable.
# Related: examples/deployment.tfvars, locals.tf, README.md

# -----------------------------------------------------------------------------
# Feature flag
# -----------------------------------------------------------------------------

variable "enable_pillars" {
  description = "Create the pillars ECR repository, ECS task, roles, security group rules and target file. Off: nothing is created or read."
  type        = bool
  default     = false
}

# -----------------------------------------------------------------------------
# Deployment: naming and region
# -----------------------------------------------------------------------------

variable "aws_region" {
  description = "AWS region of the deployment (base workspace output aws_region)."
  type        = string
  default     = "us-west-2"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must be a region name such as us-west-2."
  }
}

variable "environment" {
  description = "Deployment environment (base workspace output environment): dev, staging or prod."
  type        = string
  default     = null

  validation {
    condition     = !var.enable_pillars || contains(["dev", "staging", "prod"], coalesce(var.environment, "unset"))
    error_message = "environment must be dev, staging or prod when enable_pillars is true."
  }
}

variable "project_name" {
  description = "Project name of the deployment, used in resource names and the Project tag."
  type        = string
  default     = "durable-code"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.project_name))
    error_message = "project_name must be 3-32 lowercase letters, digits or hyphens."
  }
}

variable "additional_tags" {
  description = "Extra tags merged into every resource's tags (Environment, Project and Component always win)."
  type        = map(string)
  default     = {}
}

# -----------------------------------------------------------------------------
# Deployment: network and compute
# -----------------------------------------------------------------------------

variable "vpc_id" {
  description = "VPC of the deployment (base workspace output vpc_id)."
  type        = string
  default     = null

  validation {
    condition     = !var.enable_pillars || can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must be a VPC id (vpc-...) when enable_pillars is true."
  }
}

variable "private_subnet_ids" {
  description = "Private subnets the pillars task runs in (base workspace output private_subnet_ids)."
  type        = list(string)
  default     = []

  validation {
    condition = !var.enable_pillars || try(
      length(var.private_subnet_ids) > 0 && alltrue([for s in var.private_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))]),
      false
    )
    error_message = "private_subnet_ids must hold at least one subnet id (subnet-...) when enable_pillars is true."
  }
}

variable "ecs_cluster_name" {
  description = "Existing ECS cluster the pillars task runs on (runtime workspace output ecs_cluster_name)."
  type        = string
  default     = null

  validation {
    condition     = !var.enable_pillars || can(regex("^[A-Za-z0-9_-]{1,255}$", var.ecs_cluster_name))
    error_message = "ecs_cluster_name must be an ECS cluster name when enable_pillars is true."
  }
}

variable "observability_instance_id" {
  description = "Observability EC2 instance, the SSM tunnel's target (runtime workspace output observability_ec2_instance_id)."
  type        = string
  default     = null

  validation {
    condition     = !var.enable_pillars || can(regex("^i-([0-9a-f]{8}|[0-9a-f]{17})$", var.observability_instance_id))
    error_message = "observability_instance_id must be an EC2 instance id (i- and 8 or 17 hex digits) when enable_pillars is true."
  }
}

variable "observability_private_ip" {
  description = "Private IPv4 address of the observability instance (runtime workspace output observability_ec2_private_ip)."
  type        = string
  default     = null

  validation {
    condition = !var.enable_pillars || try(
      cidrhost("${var.observability_private_ip}/32", 0) == var.observability_private_ip,
      false
    )
    error_message = "observability_private_ip must be an IPv4 address such as 10.0.1.25 when enable_pillars is true."
  }
}

variable "observability_security_group_id" {
  description = "Security group of the observability instance; pillars adds ingress rules to it (base workspace output observability_security_group_id)."
  type        = string
  default     = null

  validation {
    condition     = !var.enable_pillars || can(regex("^sg-[0-9a-f]{8,17}$", var.observability_security_group_id))
    error_message = "observability_security_group_id must be a security group id (sg-...) when enable_pillars is true."
  }
}

variable "vpc_endpoints_security_group_id" {
  description = "Security group of the deployment's interface VPC endpoints (ECR, logs, SSM), when the private subnets have no NAT gateway. Set, HTTPS egress goes to it instead of anywhere."
  type        = string
  default     = null

  validation {
    condition     = var.vpc_endpoints_security_group_id == null || can(regex("^sg-[0-9a-f]{8,17}$", var.vpc_endpoints_security_group_id))
    error_message = "vpc_endpoints_security_group_id must be a security group id (sg-...) or null."
  }
}

variable "vpc_endpoint_prefix_list_ids" {
  description = "Prefix lists for HTTPS egress when the private subnets have no NAT gateway, e.g. the S3 gateway endpoint's com.amazonaws.<region>.s3 list. Set, HTTPS egress goes to them instead of anywhere."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.vpc_endpoint_prefix_list_ids : can(regex("^pl-[0-9a-f]{8,17}$", p))])
    error_message = "vpc_endpoint_prefix_list_ids must hold prefix list ids (pl-...)."
  }
}

# -----------------------------------------------------------------------------
# Deployment: storage, app and credentials
# -----------------------------------------------------------------------------

variable "observability_bucket_name" {
  description = "The deployment's observability bucket; pillars keeps its target and reports under pillars/ (base workspace output observability_bucket_name)."
  type        = string
  default     = null

  validation {
    condition     = !var.enable_pillars || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.observability_bucket_name))
    error_message = "observability_bucket_name must be an S3 bucket name when enable_pillars is true."
  }
}

variable "observability_bucket_kms_key_arn" {
  description = "KMS key of the observability bucket, when it uses SSE-KMS (the deployment's uses SSE-S3: leave null)."
  type        = string
  default     = null

  validation {
    condition     = var.observability_bucket_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.observability_bucket_kms_key_arn))
    error_message = "observability_bucket_kms_key_arn must be a KMS key ARN or null."
  }
}

variable "app_base_url" {
  description = "The app's public URL through the ALB, no trailing slash (runtime workspace output application_url). The frontend's /collect is under it."
  type        = string
  default     = null

  validation {
    # Quotes, spaces and credentials are excluded because the value is written into TOML strings.
    condition     = !var.enable_pillars || can(regex("^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$", var.app_base_url))
    error_message = "app_base_url must be http(s)://host[:port] with no path or trailing slash when enable_pillars is true."
  }
}

variable "grafana_user_parameter_arn" {
  description = "SSM parameter (String or SecureString) holding the Grafana user pillars reads as; injected as PILLARS_GRAFANA_USER."
  type        = string
  default     = null

  validation {
    condition     = !var.enable_pillars || can(regex("^arn:aws[a-z-]*:ssm:[a-z0-9-]+:[0-9]{12}:parameter/.+$", var.grafana_user_parameter_arn))
    error_message = "grafana_user_parameter_arn must be an SSM parameter ARN when enable_pillars is true."
  }
}

variable "grafana_password_parameter_arn" {
  description = "SSM SecureString parameter holding that user's Grafana password; injected as PILLARS_GRAFANA_PASSWORD."
  type        = string
  default     = null

  validation {
    condition     = !var.enable_pillars || can(regex("^arn:aws[a-z-]*:ssm:[a-z0-9-]+:[0-9]{12}:parameter/.+$", var.grafana_password_parameter_arn))
    error_message = "grafana_password_parameter_arn must be an SSM parameter ARN when enable_pillars is true."
  }
}

variable "grafana_parameters_kms_key_arn" {
  description = "Customer-managed KMS key the two Grafana SecureString parameters are encrypted with; null for the AWS-managed aws/ssm key (no kms permission is granted then)."
  type        = string
  default     = null

  validation {
    condition     = var.grafana_parameters_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.grafana_parameters_kms_key_arn))
    error_message = "grafana_parameters_kms_key_arn must be a KMS key ARN or null."
  }
}

variable "log_group_kms_key_arn" {
  description = "KMS key for the /ecs/pillars log group (base workspace output kms_logs_key_arn); null for CloudWatch's default encryption."
  type        = string
  default     = null

  validation {
    condition     = var.log_group_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.log_group_kms_key_arn))
    error_message = "log_group_kms_key_arn must be a KMS key ARN or null."
  }
}

# -----------------------------------------------------------------------------
# pillars: image, task and logs
# -----------------------------------------------------------------------------

variable "image_tag" {
  description = "Tag of the pillars image the task definition runs; the workflow pushes it to the ECR repository."
  type        = string
  default     = "latest"

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag))
    error_message = "image_tag must be a valid image tag."
  }
}

variable "ecr_immutable_tags" {
  description = "Make the repository's tags immutable. Leave false while image_tag is a moving tag such as latest: the workflow re-pushes it."
  type        = bool
  default     = false
}

variable "ecr_images_to_keep" {
  description = "How many images the ECR lifecycle policy keeps; older ones expire."
  type        = number
  default     = 20

  validation {
    condition     = var.ecr_images_to_keep >= 1 && var.ecr_images_to_keep <= 1000 && floor(var.ecr_images_to_keep) == var.ecr_images_to_keep
    error_message = "ecr_images_to_keep must be a whole number from 1 to 1000."
  }
}

variable "aws_cli_image" {
  description = "Image of the fetch-target and upload-reports containers; pinned so a CLI release cannot change the task."
  type        = string
  default     = "public.ecr.aws/aws-cli/aws-cli:2.22.0"

  validation {
    condition     = can(regex("^[^:@ ]+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})$", var.aws_cli_image))
    error_message = "aws_cli_image must name a tag or digest, never an implicit latest."
  }
}

variable "task_cpu" {
  description = "Fargate CPU units of the pillars task (1024 = 1 vCPU)."
  type        = number
  default     = 1024

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.task_cpu)
    error_message = "task_cpu must be a Fargate CPU size: 256, 512, 1024, 2048, 4096, 8192 or 16384."
  }
}

variable "task_memory" {
  description = "Fargate memory of the pillars task in MiB; must suit task_cpu."
  type        = number
  default     = 2048

  validation {
    condition     = var.task_memory >= 512 && var.task_memory <= 122880 && var.task_memory % 512 == 0
    error_message = "task_memory must be a multiple of 512 MiB between 512 and 122880."
  }
}

variable "task_cpu_architecture" {
  description = "CPU architecture of the pillars image: X86_64 or ARM64."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.task_cpu_architecture)
    error_message = "task_cpu_architecture must be X86_64 or ARM64."
  }
}

variable "pillars_user" {
  description = "uid:gid the pillars container runs as. fetch-target hands /pillars to it, so it needs no matching user in the image."
  type        = string
  default     = "10001:10001"

  validation {
    condition     = can(regex("^[1-9][0-9]{0,9}:[0-9]{1,10}$", var.pillars_user))
    error_message = "pillars_user must be a numeric uid:gid with a non-zero uid (not root)."
  }
}

variable "log_retention_days" {
  description = "Retention of the /ecs/pillars log group in days."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

variable "laptop_grafana_local_port" {
  description = "Local port of the SSM tunnel to Grafana in the laptop target."
  type        = number
  default     = 13001

  validation {
    condition     = var.laptop_grafana_local_port >= 1024 && var.laptop_grafana_local_port <= 65535 && floor(var.laptop_grafana_local_port) == var.laptop_grafana_local_port
    error_message = "laptop_grafana_local_port must be an unprivileged port (1024-65535)."
  }
}

# -----------------------------------------------------------------------------
# pillars: reports in the observability bucket
# -----------------------------------------------------------------------------

variable "report_retention_days" {
  description = "Days after which objects under pillars/reports/ expire."
  type        = number
  default     = 30

  validation {
    condition     = var.report_retention_days >= 1 && floor(var.report_retention_days) == var.report_retention_days
    error_message = "report_retention_days must be a whole number of days, at least 1."
  }
}

variable "manage_bucket_lifecycle" {
  description = "Let this workspace own the observability bucket's lifecycle configuration (see s3.tf). Leave false while the base workspace owns it; merge output pillars_bucket_lifecycle_rule there instead."
  type        = bool
  default     = false
}

variable "bucket_lifecycle_rules_to_keep" {
  description = "With manage_bucket_lifecycle: the bucket's other rules, re-declared here because the lifecycle configuration is replaced as a whole. Defaults to the deployment's per-pillar retention (7 days)."
  type = list(object({
    id              = string
    prefix          = string
    expiration_days = number
  }))
  default = [
    { id = "mimir-retention", prefix = "mimir/", expiration_days = 7 },
    { id = "loki-retention", prefix = "loki/", expiration_days = 7 },
    { id = "tempo-retention", prefix = "tempo/", expiration_days = 7 },
    { id = "pyroscope-retention", prefix = "pyroscope/", expiration_days = 7 },
  ]

  validation {
    condition     = alltrue([for r in var.bucket_lifecycle_rules_to_keep : !startswith(r.prefix, "pillars/") && r.id != "pillars-reports-retention"])
    error_message = "bucket_lifecycle_rules_to_keep must not hold a rule for pillars/: this workspace declares that one."
  }
}

# -----------------------------------------------------------------------------
# GitHub Actions
# -----------------------------------------------------------------------------

variable "github_repository" {
  description = "The repository whose workflows may assume the pillars role, as owner/name."
  type        = string
  default     = null

  validation {
    condition     = !var.enable_pillars || can(regex("^[A-Za-z0-9-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be owner/name when enable_pillars is true."
  }
}

variable "github_oidc_provider_arn" {
  description = "Existing IAM OIDC provider for token.actions.githubusercontent.com (the deployment's bootstrap workspace creates one). Null with create_github_oidc_provider to create it here."
  type        = string
  default     = null

  validation {
    condition     = var.github_oidc_provider_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/token\\.actions\\.githubusercontent\\.com$", var.github_oidc_provider_arn))
    error_message = "github_oidc_provider_arn must be the ARN of the token.actions.githubusercontent.com OIDC provider, or null."
  }

  validation {
    # An account holds one provider per URL: creating a second one fails, having none leaves the role untrusted.
    condition     = !var.enable_pillars || ((var.github_oidc_provider_arn != null) != var.create_github_oidc_provider)
    error_message = "Set exactly one of github_oidc_provider_arn and create_github_oidc_provider when enable_pillars is true."
  }
}

variable "create_github_oidc_provider" {
  description = "Create the token.actions.githubusercontent.com OIDC provider, for an account that has none."
  type        = bool
  default     = false
}

variable "github_branches" {
  description = "Branches whose workflow runs may assume the role (trusted as repo:<owner/name>:ref:refs/heads/<branch>). Scheduled runs use the default branch."
  type        = list(string)
  default     = ["main"]

  validation {
    condition     = alltrue([for b in var.github_branches : can(regex("^[A-Za-z0-9._/-]+$", b))])
    error_message = "github_branches must be branch names without wildcards."
  }
}

variable "github_environments" {
  description = "GitHub environments whose jobs may assume the role (trusted as repo:<owner/name>:environment:<name>). A job that declares an environment presents this subject instead of its branch."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.github_environments : can(regex("^[A-Za-z0-9._-]+$", e))])
    error_message = "github_environments must be environment names without wildcards."
  }
}

variable "github_role_max_session_seconds" {
  description = "Longest session the workflow role allows; a capacity run plus the report download must fit in it."
  type        = number
  default     = 3600

  validation {
    condition     = var.github_role_max_session_seconds >= 3600 && var.github_role_max_session_seconds <= 43200
    error_message = "github_role_max_session_seconds must be between 3600 and 43200."
  }
}
