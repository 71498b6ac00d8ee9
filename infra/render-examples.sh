#!/usr/bin/env bash
# Re-render examples/target.example.toml and examples/laptop-target.example.toml from the
# templates for examples/deployment.tfvars, after a template or variable change; the tests
# then hold the outputs to them. Offline like check.sh: the provider comes from
# TF_PLUGIN_MIRROR (default /opt/tf-plugins), and the configuration is evaluated in a
# temporary copy with a local backend, so nothing here touches a real state.
set -euo pipefail

cd "$(dirname "$0")"

if ! command -v terraform >/dev/null 2>&1; then
  echo "terraform not installed" >&2
  exit 1
fi

mirror="${TF_PLUGIN_MIRROR:-/opt/tf-plugins}"
work="$(mktemp -d "${TMPDIR:-/tmp}/pillars-render.XXXXXX")"
trap 'rm -rf "$work"' EXIT

cp ./*.tf "$work"/
cp -r templates examples "$work"/
# An override file replaces the partial S3 backend with a local one in the copy only.
printf 'terraform {\n  backend "local" {}\n}\n' >"$work/backend_override.tf"
cat >"$work/terraformrc" <<EOF
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
export TF_CLI_CONFIG_FILE="$work/terraformrc"
export TF_IN_AUTOMATION=1

terraform -chdir="$work" init -input=false -no-color >/dev/null

render() {
  # jsonencode, then decode: the exact string, with no console quoting around it.
  echo "jsonencode(local.$1)" |
    terraform -chdir="$work" console -var-file=examples/deployment.tfvars |
    python3 -c 'import json, sys; sys.stdout.write(json.loads(json.loads(sys.stdin.read())))' >"examples/$2"
  echo "wrote examples/$2"
}

render target_toml target.example.toml
render laptop_target_toml laptop-target.example.toml
