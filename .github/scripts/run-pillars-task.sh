#!/usr/bin/env bash
# Runs pillars as an ECS Fargate task (or N tasks in parallel, one per shard),
# waits for them, prints the pillars container's last log lines and exits with
# pillars' own exit code.
#
# Usage:
#   run-pillars-task.sh --image IMAGE --report-key KEY [--shards N]
#                       [--timeout-minutes M] [--log-lines L] -- PILLARS_ARGS...
#
#   --image IMAGE        image for the `pillars` container. `run-task` cannot
#                        override an image, so a new revision of the task
#                        definition is registered with it (everything else is
#                        copied from the family's latest revision).
#   --report-key KEY     where `upload-reports` puts the reports:
#                        s3://<bucket>/pillars/reports/KEY/ (with --shards,
#                        KEY/shard-<i>/ for each shard i).
#   --shards N           run N tasks at once (1..10). In PILLARS_ARGS, `{shard}`
#                        becomes `<i>/<N>` with i = 1..N (so each copy gets its
#                        own `--shard i/N`), `{index}` becomes i.
#   --timeout-minutes M  give up (and stop the tasks) after M minutes (default 60).
#   --timeout-seconds S  the same deadline in seconds.
#   --log-lines L        log lines printed per task (default 100).
#
# Environment (the repository variables, from the Terraform outputs):
#   PILLARS_CLUSTER, PILLARS_TASK_FAMILY, PILLARS_SUBNETS (comma-separated),
#   PILLARS_SECURITY_GROUP, PILLARS_LOG_GROUP (optional: no logs printed
#   without it), PILLARS_LOG_STREAM_PREFIX (default `pillars`), and the AWS
#   CLI's own credentials and region.
#
# Exit status: pillars' exit code (with shards, the highest of them); 2 for a
# usage error of this script; 3 when a task could not be started, did not
# finish before the deadline, or stopped without a pillars exit code (the
# reason is printed). Tasks still running when the script ends early, on
# Ctrl-C, SIGTERM (a cancelled workflow) or an error, are stopped.
set -euo pipefail

# The AWS CLI v2 pipes long output through a pager by default.
export AWS_PAGER=""

readonly CONTAINER=pillars
readonly UPLOAD_CONTAINER=upload-reports

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
  exit 2
}

die() {
  echo "error: $*" >&2
  exit 2
}

image=""
report_key=""
shards=""
timeout_seconds=3600
log_lines=100
while (($# > 0)); do
  case "$1" in
    --image) image="${2:?--image needs a value}"; shift 2 ;;
    --report-key) report_key="${2:?--report-key needs a value}"; shift 2 ;;
    --shards) shards="${2:?--shards needs a value}"; shift 2 ;;
    --timeout-minutes)
      [[ "${2:-}" =~ ^[1-9][0-9]{0,3}$ ]] || die "--timeout-minutes must be a positive whole number"
      timeout_seconds="$(($2 * 60))"
      shift 2
      ;;
    --timeout-seconds) timeout_seconds="${2:?--timeout-seconds needs a value}"; shift 2 ;;
    --log-lines) log_lines="${2:?--log-lines needs a value}"; shift 2 ;;
    -h | --help) usage ;;
    --) shift; break ;;
    *) die "unknown argument \`$1\` (pillars' own arguments go after \`--\`)" ;;
  esac
done
(($# > 0)) || die "no pillars arguments after \`--\`"
[[ -n "$image" ]] || die "--image is required"
[[ -n "$report_key" ]] || die "--report-key is required"
if [[ -n "$shards" ]] && ! [[ "$shards" =~ ^([1-9]|10)$ ]]; then
  die "--shards must be 1..10, got \`$shards\`"
fi
[[ "$timeout_seconds" =~ ^[1-9][0-9]{0,5}$ ]] || die "the timeout must be a positive whole number"
[[ "$log_lines" =~ ^[0-9]+$ ]] || die "--log-lines must be a number"
cluster="${PILLARS_CLUSTER:-}"
family="${PILLARS_TASK_FAMILY:-}"
subnets="${PILLARS_SUBNETS:-}"
security_group="${PILLARS_SECURITY_GROUP:-}"
log_group="${PILLARS_LOG_GROUP:-}"
log_stream_prefix="${PILLARS_LOG_STREAM_PREFIX:-pillars}"
poll_seconds="${PILLARS_POLL_SECONDS:-15}"
[[ "$poll_seconds" =~ ^[1-9][0-9]*$ ]] || die "PILLARS_POLL_SECONDS must be a positive whole number"
for setting in "PILLARS_CLUSTER=$cluster" "PILLARS_TASK_FAMILY=$family" \
  "PILLARS_SUBNETS=$subnets" "PILLARS_SECURITY_GROUP=$security_group"; do
  [[ -n "${setting#*=}" ]] || die "${setting%%=*} is not set (a repository variable from the Terraform outputs)"
done
command -v aws >/dev/null || die "the aws CLI is not on PATH"
command -v jq >/dev/null || die "jq is not on PATH"
pillars_args=("$@")

# Tasks started and not yet seen stopped: the traps stop these.
declare -a running=()

stop_running() {
  local reason="$1" task
  for task in "${running[@]}"; do
    echo "stopping ${task##*/}: $reason" >&2
    aws ecs stop-task --cluster "$cluster" --task "$task" --reason "$reason" \
      --output json >/dev/null || echo "warning: could not stop ${task##*/}" >&2
  done
  running=()
}

trap 'trap - INT TERM; stop_running "run-pillars-task.sh interrupted"; exit 130' INT TERM
trap 'stop_running "run-pillars-task.sh ended early"' EXIT

# --- 1. A task definition revision with this image --------------------------
echo "== task definition: ${family} with ${image}"
current="$(aws ecs describe-task-definition --task-definition "$family" \
  --query taskDefinition --output json)" || {
  echo "error: cannot read task definition ${family} (the error above says why)" >&2
  exit 3
}
jq -e --arg c "$CONTAINER" 'any(.containerDefinitions[]; .name == $c)' <<<"$current" >/dev/null \
  || die "task definition ${family} has no \`$CONTAINER\` container"
# Everything register-task-definition accepts, with the pillars image
# replaced; the fields describe adds (ARN, revision, status, audit data) go.
registration="$(jq --arg c "$CONTAINER" --arg image "$image" '
  del(.taskDefinitionArn, .revision, .status, .requiresAttributes,
      .compatibilities, .registeredAt, .registeredBy, .deregisteredAt)
  | .containerDefinitions |= map(if .name == $c then .image = $image else . end)
  | with_entries(select(.value != null))' <<<"$current")"
task_definition="$(aws ecs register-task-definition --cli-input-json "$registration" \
  --query taskDefinition.taskDefinitionArn --output text)" || {
  echo "error: cannot register a revision of ${family} (the error above says why)" >&2
  exit 3
}
echo "registered ${task_definition}"

# --- 2. Start the task(s) ---------------------------------------------------
network="$(jq -cn --arg subnets "$subnets" --arg sg "$security_group" '{
  awsvpcConfiguration: {
    subnets: ($subnets | split(",") | map(gsub("^\\s+|\\s+$"; "")) | map(select(. != ""))),
    securityGroups: [$sg],
    assignPublicIp: "DISABLED"
  }}')"
# startedBy shows in the console which workflow run a task belongs to (36
# characters at most).
started_by="gh-${GITHUB_RUN_ID:-local}-${GITHUB_RUN_ATTEMPT:-0}"
started_by="${started_by:0:36}"

# Starts one task; prints its ARN. $1: the report key, $2...: pillars' args.
start_task() {
  local key="$1"
  shift
  local command='[]' arg overrides out
  # One --arg at a time: jq would read an argument such as `--target` given
  # through --args as an option of its own.
  for arg in "$@"; do
    command="$(jq -c --arg a "$arg" '. + [$a]' <<<"$command")"
  done
  overrides="$(jq -cn --arg c "$CONTAINER" --arg u "$UPLOAD_CONTAINER" --arg key "$key" \
    --argjson command "$command" '{containerOverrides: [
        {name: $c, command: $command},
        {name: $u, environment: [{name: "PILLARS_REPORT_KEY", value: $key}]}
      ]}')"
  # Checked explicitly: `set -e` does not apply inside a function called from
  # an `||` list, and jq 1.6 -e passes on empty input.
  out="$(aws ecs run-task --cluster "$cluster" --task-definition "$task_definition" \
    --launch-type FARGATE --count 1 --started-by "$started_by" \
    --network-configuration "$network" --overrides "$overrides" --output json)" || {
    echo "error: run-task failed (the error above says why)" >&2
    return 1
  }
  if ! jq -e '(.tasks | length) == 1' <<<"$out" >/dev/null; then
    echo "error: run-task started no task:" >&2
    jq -r '.failures[]? | "  \(.arn // "-"): \(.reason // "?") \(.detail // "")"' <<<"$out" >&2
    return 1
  fi
  jq -r '.tasks[0].taskArn' <<<"$out"
}

declare -a tasks=() keys=()
if [[ -z "$shards" ]]; then
  keys=("$report_key")
  echo "== starting: pillars ${pillars_args[*]}"
  arn="$(start_task "$report_key" "${pillars_args[@]}")" || exit 3
  tasks+=("$arn")
  running+=("$arn")
else
  for ((i = 1; i <= shards; i++)); do
    shard_args=()
    for arg in "${pillars_args[@]}"; do
      arg="${arg//\{shard\}/$i/$shards}"
      shard_args+=("${arg//\{index\}/$i}")
    done
    keys+=("$report_key/shard-$i")
    echo "== starting shard $i/$shards: pillars ${shard_args[*]}"
    # A shard that cannot start leaves the others pointless: the EXIT trap
    # stops those already running.
    arn="$(start_task "$report_key/shard-$i" "${shard_args[@]}")" || exit 3
    tasks+=("$arn")
    running+=("$arn")
  done
fi
for ((i = 0; i < ${#tasks[@]}; i++)); do
  echo "task ${tasks[i]##*/} -> reports at pillars/reports/${keys[i]}/"
done

# --- 3. Wait, bounded ------------------------------------------------------
# A polling loop of our own rather than `aws ecs wait tasks-stopped`, which
# gives up after 10 minutes and says nothing meanwhile. Returns 1 when the
# deadline (epoch seconds) passes first; leaves the last answer in $described.
described=""
wait_stopped() {
  local deadline="$1" answer status last_status=""
  while :; do
    # A failed call (throttling, a network blip) is retried until the deadline;
    # right after run-task a task can also still be MISSING from the answer.
    if answer="$(aws ecs describe-tasks --cluster "$cluster" --tasks "${tasks[@]}" --output json)"; then
      described="$answer"
      status="$(jq -r '[.tasks[] | "\(.taskArn | split("/") | last)=\(.lastStatus)"] | sort | join(" ")' <<<"$described")"
      if [[ "$status" != "$last_status" ]]; then
        echo "$(date -u +%H:%M:%S) ${status:-(not visible yet)}"
        last_status="$status"
      fi
      if jq -e --argjson n "${#tasks[@]}" \
        '(.tasks | length) == $n and all(.tasks[]; .lastStatus == "STOPPED")' <<<"$described" >/dev/null; then
        return 0
      fi
    else
      echo "warning: describe-tasks failed; retrying" >&2
    fi
    (($(date +%s) < deadline)) || return 1
    # In the background so that a signal is handled at once, not after the sleep.
    sleep "$poll_seconds" &
    wait "$!"
  done
}

timed_out=0
if ! wait_stopped $(($(date +%s) + timeout_seconds)); then
  echo "error: the task(s) did not finish within ${timeout_seconds} s" >&2
  stop_running "run-pillars-task.sh deadline (${timeout_seconds} s)"
  timed_out=1
  # Briefly, so that the logs below are complete; the exit codes are moot.
  wait_stopped $(($(date +%s) + 120)) || echo "warning: the task(s) are still stopping" >&2
fi
running=()

# --- 4. Exit codes and logs -----------------------------------------------
# Prints the last log lines of the pillars container of one task.
print_logs() {
  local task_id="$1" stream events
  [[ -n "${log_group}" ]] && ((log_lines > 0)) || return 0
  stream="${log_stream_prefix}/${CONTAINER}/${task_id}"
  echo "::group::last ${log_lines} log lines of ${CONTAINER} (${log_group} ${stream})"
  if events="$(aws logs get-log-events --log-group-name "$log_group" \
    --log-stream-name "$stream" --limit "$log_lines" --no-start-from-head --output json 2>&1)"; then
    jq -r '.events[].message' <<<"$events"
  else
    # No stream at all when the container never started.
    echo "(cannot read ${stream}: ${events})"
  fi
  echo "::endgroup::"
}

final=0
for ((i = 0; i < ${#tasks[@]}; i++)); do
  task="${tasks[i]}"
  task_id="${task##*/}"
  label="task ${task_id}"
  [[ -z "$shards" ]] || label="shard $((i + 1))/$shards (task ${task_id})"
  info="$(jq --arg t "$task" '.tasks[] | select(.taskArn == $t)' <<<"$described")"
  echo "== ${label}"
  jq -r '.containers[] | "  \(.name): \(.lastStatus // "?") exit \(.exitCode // "-")\(if .reason then " (\(.reason))" else "" end)"' <<<"$info"
  print_logs "$task_id"
  code="$(jq -r --arg c "$CONTAINER" '.containers[] | select(.name == $c) | .exitCode // empty' <<<"$info")"
  if [[ -z "$code" ]]; then
    echo "error: ${label}: the ${CONTAINER} container has no exit code" >&2
    jq -r --arg c "$CONTAINER" '"  stopped: \(.stopCode // "?"): \(.stoppedReason // "no reason given")",
      (.containers[] | select(.name == $c) | "  container: \(.reason // "no reason given")")' <<<"$info" >&2
    code=3
  else
    echo "${label}: pillars exited ${code}"
  fi
  upload="$(jq -r --arg u "$UPLOAD_CONTAINER" '.containers[] | select(.name == $u) | .exitCode // "none"' <<<"$info")"
  [[ "$upload" == 0 ]] || echo "::warning::${label}: ${UPLOAD_CONTAINER} exited ${upload}: its reports may be missing"
  ((timed_out)) && code=3
  ((code > final)) && final="$code"
done

trap - EXIT
exit "$final"
