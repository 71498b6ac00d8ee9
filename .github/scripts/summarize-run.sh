#!/usr/bin/env bash
# Prints a Markdown summary of a pillars run.json (schema/run.schema.json): the
# totals and one table row per check. The workflows append it to
# $GITHUB_STEP_SUMMARY.
#
# Usage: summarize-run.sh RUN_JSON
set -euo pipefail

run_json="${1:?usage: summarize-run.sh RUN_JSON}"
[[ -f "$run_json" ]] || {
  echo "error: no such file: ${run_json}" >&2
  exit 2
}

# cell: text that is safe inside a Markdown table cell (no column breaks, no
# line breaks, no HTML).
jq -r '
  def cell: tostring | gsub("&"; "&amp;") | gsub("<"; "&lt;") | gsub(">"; "&gt;")
    | gsub("\\|"; "\\|") | gsub("\r?\n"; "<br>");
  def icon: {pass: "✅", fail: "❌", error: "⚠️", skip: "⏭️"}[.] // "";
  .totals as $t
  | "### pillars verify: \(.target.name | cell)",
    "",
    "**\($t.pass) pass · \($t.fail) fail · \($t.error) error · \($t.skip) skip**"
      + (if .interrupted then " — **interrupted**: the run stopped early" else "" end),
    "",
    "| status | check | reason | summary |",
    "|---|---|---|---|",
    (.checks[]
      | "| \(.status | icon) \(.status) | `\(.id)` | \(.reason // "" | cell) | \(.summary | cell) |")
' "$run_json"
