#!/usr/bin/env bash
# Prints a Markdown summary of a pillars load or capacity report directory
# (schema/load.schema.json): for capacity.json the recommendation and where
# the stack broke, for load.json the gate that broke (if any) and a table of
# what each kind offered and got accepted. The capacity workflow appends it to
# $GITHUB_STEP_SUMMARY.
#
# Usage: summarize-load.sh REPORT_DIR
set -euo pipefail

dir="${1:?usage: summarize-load.sh REPORT_DIR}"

# cell: text that is safe inside a Markdown table cell or a line of prose.
readonly defs='
  def cell: tostring | gsub("&"; "&amp;") | gsub("<"; "&lt;") | gsub(">"; "&gt;")
    | gsub("\\|"; "\\|") | gsub("\r?\n"; "<br>");
  def num: if . == null then "–" elif type == "number" then (. * 100 | round / 100 | tostring) else tostring end;
  def gate: if . == null then "none"
    else [.gate] + ([to_entries[] | select(.key != "gate" and .key != "rate") | "\(.key)=\(.value)"]) | join(" ") end;'

if [[ -f "${dir}/capacity.json" ]]; then
  jq -r "${defs}"'
    "### pillars capacity: \(.scenario | cell) against \(.target | cell)",
    "",
    "**\(.recommendation | cell)**",
    "",
    "| last good rate | first bad rate | gate that broke |",
    "|---|---|---|",
    "| \(.last_good_rate | num) | \(.first_bad.rate | num) | \(.first_bad | gate | cell) |"
      + (if .interrupted then "\n\n**Interrupted**: the search stopped early." else "" end)
  ' "${dir}/capacity.json"
elif [[ -f "${dir}/load.json" ]]; then
  jq -r "${defs}"'
    "### pillars load: \(.scenario | cell) against \(.target | cell)",
    "",
    (if .broken == null then "**No gate broke.**" else "**Broke: \(.broken | gate | cell)**" end)
      + (if .interrupted then " — **interrupted**: the run stopped early" else "" end),
    "",
    "| kind | offered | accepted | refused | achieved rate /s |",
    "|---|---|---|---|---|",
    (.kinds | to_entries[]
      | "| `\(.key)` | \(.value.offered_units) | \(.value.accepted_units) | \(.value.refused_units) | \(.value.achieved_rate | num) |")
  ' "${dir}/load.json"
else
  echo "error: neither capacity.json nor load.json in ${dir}" >&2
  exit 2
fi
