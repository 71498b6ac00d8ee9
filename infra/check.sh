#!/usr/bin/env bash
# Offline checks of infra/: format, init, validate, and the terraform tests (mocked AWS
# provider, plan only: no credentials, no AWS calls).
#
# The AWS provider comes from a local filesystem mirror, never the registry:
# TF_PLUGIN_MIRROR names the mirror directory (default /opt/tf-plugins), laid out as
# <mirror>/registry.terraform.io/hashicorp/aws/<version>/<os>_<arch>/. The CLI
# configuration pointing at it is written to a temporary file for this run only.
#
# Lock file: infra/.terraform.lock.hcl is git-ignored, and init rewrites it here on each run.
# A lock made from a filesystem mirror records only this machine's platform hash (h1:), so a
# committed copy would make `terraform init` on any other platform (a laptop on darwin_arm64,
# a runner on linux_arm64) fail its checksum check. To commit one, create it with registry
# access for every platform in use:
#   terraform providers lock -platform=linux_amd64 -platform=darwin_arm64 -platform=darwin_amd64
# then drop the line from infra/.gitignore; this script accepts such a lock as it is, since
# it holds this platform's hash too.
set -euo pipefail

cd "$(dirname "$0")"

if ! command -v terraform >/dev/null 2>&1; then
  echo "terraform not installed: skipping infra checks"
  exit 0
fi

mirror="${TF_PLUGIN_MIRROR:-/opt/tf-plugins}"
if [[ ! -d "$mirror/registry.terraform.io/hashicorp/aws" ]]; then
  echo "no hashicorp/aws provider under TF_PLUGIN_MIRROR=$mirror" >&2
  echo "set TF_PLUGIN_MIRROR to a filesystem mirror holding registry.terraform.io/hashicorp/aws" >&2
  exit 1
fi

cli_config="$(mktemp "${TMPDIR:-/tmp}/pillars-terraformrc.XXXXXX")"
trap 'rm -f "$cli_config"' EXIT
cat >"$cli_config" <<EOF
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/hashicorp/aws"]
  }
  direct {
    exclude = ["registry.terraform.io/hashicorp/aws"]
  }
}
EOF
export TF_CLI_CONFIG_FILE="$cli_config"
export TF_IN_AUTOMATION=1
export TF_INPUT=0
# Nothing in these checks may reach for credentials or the network.
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN

run() {
  echo "+ $*"
  "$@"
}

run terraform version
run terraform fmt -check -recursive -diff
run terraform init -backend=false -input=false -no-color
run terraform validate -no-color
# The example tfvars are the enabled runs' inputs; the disabled runs override the flag.
run terraform test -no-color -var-file=examples/deployment.tfvars
echo "infra checks passed"
