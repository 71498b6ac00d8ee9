#!/usr/bin/env bash
# Offline tests of run-pillars-task.sh: a fake `aws` on PATH plays ECS and
# CloudWatch Logs from a state directory and records every call, so the
# script's requests (the registered task definition, the overrides, the stop
# calls) and its exit codes can be checked without an AWS account.
#
# Usage: test-run-pillars-task.sh   (needs bash and jq)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
script="${here}/run-pillars-task.sh"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

mkdir -p "${work}/bin"
cat >"${work}/bin/aws" <<'FAKE'
#!/usr/bin/env bash
# Fake aws CLI. State in $FAKE_STATE: calls.jsonl (every call's argv),
# task-<n>.json per started task. Behaviour from the environment:
#   FAKE_EXIT_CODES  comma-separated pillars exit codes, one per started task
#                    (`null`: the container never ran)
#   FAKE_POLLS       describe-tasks calls a task stays RUNNING (default 1)
#   FAKE_FAIL        an operation that fails as if access were denied
set -euo pipefail
state="${FAKE_STATE:?}"
call='[]'
for arg in "$@"; do call="$(jq -c --arg a "$arg" '. + [$a]' <<<"$call")"; done
echo "$call" >>"${state}/calls.jsonl"
service="$1" op="$2"
shift 2
if [[ "${FAKE_FAIL:-}" == "$op" ]]; then
  echo "An error occurred (AccessDeniedException) when calling ${op}: not authorized" >&2
  exit 254
fi
declare -A opt=()
while (($# > 0)); do
  case "$1" in
    --tasks)
      shift
      opt[tasks]=""
      while (($# > 0)) && [[ "$1" != --* ]]; do opt[tasks]+="$1 "; shift; done
      ;;
    --no-start-from-head) shift ;;
    --*) opt["${1#--}"]="$2"; shift 2 ;;
    *) shift ;;
  esac
done
# Applies a dotted --query and --output text the way the CLI would.
emit() {
  local query=".${opt[query]:-}"
  [[ "$query" == "." ]] || query="${query}"
  if [[ "${opt[output]:-json}" == text ]]; then jq -r "$query"; else jq "$query"; fi
}
case "${service} ${op}" in
  "ecs describe-task-definition")
    jq -n --arg f "${opt[task-definition]}" '{taskDefinition: {
      taskDefinitionArn: "arn:aws:ecs:eu-west-1:1:task-definition/\($f):7",
      family: $f, revision: 7, status: "ACTIVE", registeredAt: 1, registeredBy: "tf",
      compatibilities: ["EC2", "FARGATE"], requiresAttributes: [{name: "x"}],
      networkMode: "awsvpc", cpu: "1024", memory: "2048", requiresCompatibilities: ["FARGATE"],
      taskRoleArn: "arn:aws:iam::1:role/pillars-task", executionRoleArn: "arn:aws:iam::1:role/pillars-exec",
      volumes: [{name: "pillars"}], proxyConfiguration: null,
      containerDefinitions: [
        {name: "fetch-target", image: "amazon/aws-cli:2", essential: false},
        {name: "pillars", image: "placeholder:tf", essential: true},
        {name: "upload-reports", image: "amazon/aws-cli:2", essential: true}]}}' | emit
    ;;
  "ecs register-task-definition")
    printf '%s' "${opt[cli-input-json]}" >"${state}/registered.json"
    jq -n '{taskDefinition: {taskDefinitionArn: "arn:aws:ecs:eu-west-1:1:task-definition/pillars:8"}}' | emit
    ;;
  "ecs run-task")
    n=$(($(find "$state" -name 'task-*.json' | wc -l)))
    IFS=, read -r -a codes <<<"${FAKE_EXIT_CODES:-0}"
    code="${codes[n]:-0}"
    jq -n --arg n "$n" --argjson code "$code" --argjson ov "${opt[overrides]}" --argjson net "${opt[network-configuration]}" \
      '{arn: "arn:aws:ecs:eu-west-1:1:task/pillars/t\($n)", code: $code, polls: 0, stopped: false, overrides: $ov, network: $net}' \
      >"${state}/task-${n}.json"
    jq -n --arg n "$n" '{tasks: [{taskArn: "arn:aws:ecs:eu-west-1:1:task/pillars/t\($n)"}], failures: []}' | emit
    ;;
  "ecs describe-tasks")
    out='[]'
    for arn in ${opt[tasks]}; do
      f="${state}/task-${arn##*/t}.json"
      jq --argjson max "${FAKE_POLLS:-1}" '.polls += 1' "$f" >"${f}.new" && mv "${f}.new" "$f"
      out="$(jq --argjson max "${FAKE_POLLS:-1}" --argjson out "$out" '
        . as $t | (.stopped or .polls > $max) as $done
        | $out + [{taskArn: .arn, lastStatus: (if $done then "STOPPED" else "RUNNING" end),
            stoppedReason: (if .stopped then "Task stopped by user" else "Essential container in task exited" end),
            stopCode: (if .stopped then "UserInitiated" else "EssentialContainerExited" end),
            containers: [
              {name: "fetch-target", lastStatus: "STOPPED", exitCode: 0},
              {name: "pillars", lastStatus: (if $done then "STOPPED" else "RUNNING" end),
               exitCode: (if $done and ($t.stopped | not) then $t.code else null end),
               reason: (if $t.code == null then "CannotPullContainerError: pull access denied" else null end)},
              {name: "upload-reports", lastStatus: "STOPPED", exitCode: (if $done then 0 else null end)}]}]' "$f")"
    done
    jq -n --argjson t "$out" '{tasks: $t, failures: []}' | emit
    ;;
  "ecs stop-task")
    f="${state}/task-${opt[task]##*/t}.json"
    jq '.stopped = true' "$f" >"${f}.new" && mv "${f}.new" "$f"
    echo '{}'
    ;;
  "logs get-log-events")
    jq -n --arg s "${opt[log-stream-name]}" '{events: [{message: "log line of \($s)"}]}' | emit
    ;;
  *) echo "fake aws: unexpected call: ${service} ${op}" >&2; exit 255 ;;
esac
FAKE
chmod +x "${work}/bin/aws"

export PATH="${work}/bin:${PATH}"
export PILLARS_CLUSTER=pillars PILLARS_TASK_FAMILY=pillars PILLARS_SUBNETS="subnet-a, subnet-b"
export PILLARS_SECURITY_GROUP=sg-1 PILLARS_LOG_GROUP=/pillars PILLARS_POLL_SECONDS=1
export GITHUB_RUN_ID=42 GITHUB_RUN_ATTEMPT=1

failures=0
case_dir=""
new_case() {
  case_dir="${work}/$1"
  mkdir -p "$case_dir"
  export FAKE_STATE="$case_dir"
  echo "--- $1"
}
check() {
  local what="$1"
  shift
  if "$@"; then
    echo "ok: ${what}"
  else
    echo "FAILED: ${what}; the script printed:"
    sed 's/^/    /' "${case_dir}/out"
    failures=$((failures + 1))
  fi
}
run() {
  set +e
  # Bounded: a script that never returns fails the case instead of hanging.
  timeout 120 "$script" "$@" >"${case_dir}/out" 2>&1
  status=$?
  set -e
}
# jq over the record of started task $1 (0-based).
task_json() {
  local n="$1"
  shift
  jq "$@" "${case_dir}/task-${n}.json"
}

new_case single-failing
FAKE_EXIT_CODES=1 run --image repo:abc --report-key 42-1/verify -- \
  verify --target /pillars/target.toml --report-dir /pillars/reports
check "exits with pillars' code 1" test "$status" -eq 1
check "registers the new image on the pillars container only" test "$(jq -c \
  '[.containerDefinitions[] | {(.name): .image}] | add' "${case_dir}/registered.json")" \
  = '{"fetch-target":"amazon/aws-cli:2","pillars":"repo:abc","upload-reports":"amazon/aws-cli:2"}'
check "strips the read-only and null fields" test "$(jq -c \
  '[has("taskDefinitionArn","revision","status","registeredAt","registeredBy","compatibilities","requiresAttributes","proxyConfiguration")] | any' \
  "${case_dir}/registered.json")" = false
check "keeps roles, sizes and volumes" test "$(jq -c '[.taskRoleArn, .cpu, .volumes[0].name]' \
  "${case_dir}/registered.json")" = '["arn:aws:iam::1:role/pillars-task","1024","pillars"]'
check "overrides the pillars command" test "$(task_json 0 -c \
  '.overrides.containerOverrides[] | select(.name == "pillars") | .command')" \
  = '["verify","--target","/pillars/target.toml","--report-dir","/pillars/reports"]'
check "gives upload-reports its report key" test "$(task_json 0 -r \
  '.overrides.containerOverrides[] | select(.name == "upload-reports") | .environment[0] | "\(.name)=\(.value)"')" \
  = PILLARS_REPORT_KEY=42-1/verify
check "private subnets, no public IP" test "$(task_json 0 -c '.network.awsvpcConfiguration')" \
  = '{"subnets":["subnet-a","subnet-b"],"securityGroups":["sg-1"],"assignPublicIp":"DISABLED"}'
check "runs the registered revision" grep -q '"--task-definition","arn:aws:ecs:eu-west-1:1:task-definition/pillars:8"' \
  "${case_dir}/calls.jsonl"
check "prints the pillars log stream" grep -q 'log line of pillars/pillars/t0' "${case_dir}/out"
check "stops nothing" test "$(grep -c stop-task "${case_dir}/calls.jsonl")" -eq 0

new_case single-passing
FAKE_EXIT_CODES=0 run --image repo:abc --report-key k -- verify
check "exits 0 when pillars does" test "$status" -eq 0

new_case shards
FAKE_EXIT_CODES=0,2,1 run --image repo:abc --report-key 42-1/load --shards 3 -- \
  load --scenario scenarios/capacity.toml --shard '{shard}' --report-dir /pillars/reports
check "exits with the highest shard code" test "$status" -eq 2
check "starts one task per shard" test "$(find "$case_dir" -name 'task-*.json' | wc -l)" -eq 3
check "gives each shard its own --shard" test "$(for i in 0 1 2; do task_json "$i" -r \
  '.overrides.containerOverrides[] | select(.name == "pillars") | .command[4]'; done | paste -sd ' ')" = "1/3 2/3 3/3"
check "gives each shard its own report key" test "$(for i in 0 1 2; do task_json "$i" -r \
  '.overrides.containerOverrides[] | select(.name == "upload-reports") | .environment[0].value'; done | paste -sd ' ')" \
  = "42-1/load/shard-1 42-1/load/shard-2 42-1/load/shard-3"
check "registers one revision for all shards" test "$(grep -c register-task-definition "${case_dir}/calls.jsonl")" -eq 1

new_case never-ran
FAKE_EXIT_CODES=null run --image repo:abc --report-key k -- verify
check "exits 3 without an exit code" test "$status" -eq 3
check "prints the stopped reason" grep -q 'EssentialContainerExited: Essential container in task exited' "${case_dir}/out"
check "prints the container reason" grep -q 'CannotPullContainerError' "${case_dir}/out"

new_case denied
FAKE_FAIL=register-task-definition run --image repo:abc --report-key k -- verify
check "exits 3 when a revision cannot be registered" test "$status" -eq 3
check "shows the AWS error" grep -q AccessDeniedException "${case_dir}/out"
check "starts no task then" test "$(grep -c run-task "${case_dir}/calls.jsonl")" -eq 0
FAKE_FAIL=run-task run --image repo:abc --report-key k --shards 2 -- verify
check "exits 3 when a task cannot be started" test "$status" -eq 3
check "names the failed call" grep -q 'run-task failed' "${case_dir}/out"

new_case deadline
FAKE_POLLS=1000 run --image repo:abc --report-key k --timeout-seconds 2 -- verify
check "exits 3 at the deadline" test "$status" -eq 3
check "stops the task at the deadline" test "$(grep -c stop-task "${case_dir}/calls.jsonl")" -eq 1

new_case interrupted
FAKE_POLLS=1000 "$script" --image repo:abc --report-key k --shards 2 -- verify >"${case_dir}/out" 2>&1 &
pid=$!
for _ in $(seq 50); do
  (($(find "$case_dir" -name 'task-*.json' | wc -l) == 2)) && break
  sleep 0.2
done
sleep 1
kill -TERM "$pid"
set +e
wait "$pid"
status=$?
set -e
check "exits 130 on SIGTERM" test "$status" -eq 130
check "stops every running task on SIGTERM" test "$(grep -c stop-task "${case_dir}/calls.jsonl")" -eq 2

new_case usage
run --image repo:abc --report-key k --shards 11 -- verify
check "rejects more than 10 shards" test "$status" -eq 2
# shellcheck disable=SC2016 # the command substitution must reach the script unexpanded
run --image repo:abc --report-key k --timeout-minutes 'a[$(touch "${FAKE_STATE}/pwned")]' -- verify
check "rejects a non-numeric timeout" test "$status" -eq 2
check "never evaluates the timeout as code" test ! -e "${case_dir}/pwned"
PILLARS_CLUSTER="" run --image repo:abc --report-key k -- verify
check "names a missing variable" grep -q 'PILLARS_CLUSTER is not set' "${case_dir}/out"
check "calls no AWS API on a usage error" test ! -e "${case_dir}/calls.jsonl"

if ((failures > 0)); then
  echo "${failures} failed"
  exit 1
fi
echo "all run-pillars-task.sh tests passed"
