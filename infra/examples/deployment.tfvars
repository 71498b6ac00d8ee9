# The pillars workspace for the Durable Code dev deployment. Each value comes from the
# deployment's outputs (workspace and output named per line): read them with
#   terraform -chdir=<workspace> output -raw <name>
# The account id 123456789012 and every resource id here are placeholders.
# examples/target.example.toml and examples/laptop-target.example.toml are what this file renders.

enable_pillars = true # this workspace's flag; the deployment's enable_observability must be on too

aws_region   = "us-west-2"    # base: aws_region
environment  = "dev"          # base: environment
project_name = "durable-code" # the deployment's project_name (terraform.tfvars)

vpc_id             = "vpc-0a1b2c3d4e5f60718"                                  # base: vpc_id
private_subnet_ids = ["subnet-0a1b2c3d4e5f60718", "subnet-0f1e2d3c4b5a69788"] # base: private_subnet_ids
ecs_cluster_name   = "durable-code-dev-cluster"                               # runtime: ecs_cluster_name

observability_instance_id       = "i-0123456789abcdef0"                         # runtime: observability_ec2_instance_id
observability_private_ip        = "10.0.1.25"                                   # runtime: observability_ec2_private_ip
observability_security_group_id = "sg-0a1b2c3d4e5f60718"                        # base: observability_security_group_id
observability_bucket_name       = "durable-code-dev-observability-123456789012" # base: observability_bucket_name

# application_url is https://<environment>.<domain_name>, or http://<alb_dns_name> without a
# domain. observability_grafana_url (<alb>/grafana/, where the ALB routes Grafana) is not
# used: pillars reaches Grafana on the instance, or through SSM from a laptop. Load runs from
# the task leave through the NAT gateway: add its address to the deployment's
# load_test_allowlist_ips, or the WAF's 2000 requests / 5 min limit throttles them.
app_base_url = "https://dev.durableaicoding.net" # runtime: application_url

log_group_kms_key_arn = "arn:aws:kms:us-west-2:123456789012:key/0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9" # base: kms_logs_key_arn

# The deployment passes Grafana's admin password as a variable (grafana_admin_password) and
# stores it nowhere pillars can read: put the user and password in SSM Parameter Store as
# SecureStrings (aws ssm put-parameter --type SecureString) and name them here.
grafana_user_parameter_arn     = "arn:aws:ssm:us-west-2:123456789012:parameter/durable-code/dev/pillars/grafana-user"     # no output: put by hand, as above
grafana_password_parameter_arn = "arn:aws:ssm:us-west-2:123456789012:parameter/durable-code/dev/pillars/grafana-password" # no output: put by hand, as above

# With the deployment's enable_nat_gateway = false the private subnets reach AWS through VPC
# endpoints instead; then set (runtime: the vpc-endpoints security group, and the S3 gateway
# endpoint's prefix list):
# vpc_endpoints_security_group_id = "sg-..."
# vpc_endpoint_prefix_list_ids    = ["pl-..."]

github_repository        = "example-org/pillars"                                                         # this repository, owner/name
github_oidc_provider_arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com" # bootstrap: github_oidc_provider_arn
github_branches          = ["main"]                                                                      # the nightly runs on the default branch
