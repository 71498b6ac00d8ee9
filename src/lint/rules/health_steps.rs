//! `ci.health_step`: a workflow step that probes the stack (curl, wget,
//! `pillars verify`, a /health or /ready URL) but cannot fail — `|| true`,
//! a last `exit 0`, `continue-on-error: true` — reports green on a dead
//! stack.
//!
//! Uses: lint::{model, finding}.

use std::sync::LazyLock;

use regex::Regex;

use crate::lint::finding::{Finding, Rule};
use crate::lint::model::Deployment;

/// A command or URL that asks the stack whether it works.
static PROBE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(curl|wget|nc|pillars\s+(verify|stack|lint))\b|/health\b|/ready\b|/-/ready|/api/health")
        .expect("valid regex")
});

fn probes(line: &str) -> bool {
    PROBE.is_match(line)
}

pub fn check(model: &Deployment, out: &mut Vec<Finding>) {
    for step in &model.workflow_steps {
        let Some(run) = &step.run else { continue };
        let lines: Vec<&str> = run
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        if !lines.iter().any(|l| probes(l)) {
            continue;
        }
        let swallowed = lines.iter().find(|l| {
            probes(l)
                && ["|| true", "|| :", "|| exit 0", "|| echo"]
                    .iter()
                    .any(|t| l.contains(t))
        });
        let why = if step.continue_on_error {
            Some("continue-on-error: true".to_owned())
        } else if let Some(line) = swallowed {
            Some(format!("`{line}`"))
        } else if matches!(lines.last(), Some(&"exit 0") | Some(&"true")) {
            Some(format!("the step ends in `{}`", lines[lines.len() - 1]))
        } else {
            None
        };
        let Some(why) = why else { continue };
        let label = if step.name.is_empty() {
            "a step".to_owned()
        } else {
            format!("step `{}`", step.name)
        };
        out.push(
            Finding::new(Rule::HealthStep, step.at.clone(), format!("{label} probes the stack but cannot fail: {why}"))
                .evidence(format!("run: {}", lines.join(" ; ")))
                .fix("let the probe's exit status end the step (drop `|| true` / `exit 0` / continue-on-error); use `curl -fsS --retry 5` for a patient probe"),
        );
    }
}
