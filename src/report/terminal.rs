//! The terminal summary: one line per check, then the totals. Colour only
//! when the caller says the output is a terminal that wants it.
//!
//! Uses: report::model.

use std::fmt::Write as _;

use crate::checks::Status;
use crate::console::printable;
use crate::report::model::RunReport;

const RESET: &str = "\x1b[0m";

fn paint(status: Status) -> &'static str {
    match status {
        Status::Pass => "\x1b[32m",
        Status::Fail => "\x1b[31m",
        Status::Error => "\x1b[35m",
        Status::Skip => "\x1b[2m",
    }
}

/// Renders the summary table.
pub fn render(report: &RunReport, color: bool) -> String {
    let mut out = String::new();
    let id_width = report.checks.iter().map(|c| c.id.len()).max().unwrap_or(5).max(5);
    let _ = writeln!(out, "  {:<6}  {:<id_width$}  {:>8}  SUMMARY", "STATUS", "CHECK", "TIME");
    for c in &report.checks {
        let status = c.status.as_str();
        let status = if color {
            format!("{}{status:<6}{RESET}", paint(c.status))
        } else {
            format!("{status:<6}")
        };
        let reason = c.reason.as_deref().map(|r| format!(" [{r}]")).unwrap_or_default();
        let secs = format!("{:.2}s", c.duration_ms as f64 / 1000.0);
        let _ = writeln!(
            out,
            "  {status}  {:<id_width$}  {secs:>8}  {}{reason}",
            c.id,
            printable(&c.summary)
        );
    }
    let t = &report.totals;
    let _ = writeln!(
        out,
        "\n{} check(s): {} passed, {} failed, {} errors, {} skipped{}",
        report.checks.len(),
        t.pass,
        t.fail,
        t.error,
        t.skip,
        if report.interrupted { " (interrupted)" } else { "" }
    );
    out
}

/// The banner printed before a run: which target, and whether it is real.
pub fn banner(report_target: &crate::report::model::TargetReport, run_id: &str, seed: u64) -> String {
    let what = if report_target.kind == "sim" {
        "the embedded reference stack (an in-process test double, not a deployment)".to_owned()
    } else {
        format!(
            "{}{}",
            report_target.path.as_deref().unwrap_or(&report_target.name),
            report_target
                .description
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        )
    };
    let mut faults = if report_target.sim_faults.is_empty() {
        String::new()
    } else {
        format!("\nsim faults: {}", report_target.sim_faults.join(", "))
    };
    if !report_target.sim_variants.is_empty() {
        faults.push_str(&format!("\nsim variants: {}", report_target.sim_variants.join(", ")));
    }
    format!(
        "pillars verify: target `{}`: {}{faults}\nrun {run_id}, seed {seed} (replay with --seed {seed})\n",
        printable(&report_target.name),
        printable(&what)
    )
}
