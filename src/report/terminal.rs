//! The terminal summaries: a verify run's one line per check and the
//! totals (colour only when the caller says the output is a terminal that
//! wants it), a load run's table per kind and pillar, and a capacity
//! search's line per step.
//!
//! Uses: report::{run, load}, load::capacity (steps), checks (statuses).

use std::fmt::Write as _;

use crate::checks::Status;
use crate::console::printable;
use crate::load::capacity::StepResult;
use crate::report::load::LoadReport;
use crate::report::run::{RunReport, TargetReport};

const RESET: &str = "\x1b[0m";

fn paint(status: Status) -> &'static str {
    match status {
        Status::Pass => "\x1b[32m",
        Status::Fail => "\x1b[31m",
        Status::Error => "\x1b[35m",
        Status::Skip => "\x1b[2m",
    }
}

/// Renders the summary table; with a `width`, each row's summary is cut
/// to fit it (the reports keep the whole text).
pub fn render(report: &RunReport, color: bool, width: Option<usize>) -> String {
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
        let text = format!("{}{reason}", printable(&c.summary));
        // Two, six, two, the id, two, eight and two columns come first.
        let room = width.map(|w| w.saturating_sub(22 + id_width).max(20));
        let _ = writeln!(out, "  {status}  {:<id_width$}  {secs:>8}  {}", c.id, fit(&text, room));
        if matches!(c.status, Status::Fail | Status::Error) {
            // Under the row, where the eye already is: what to try, then what
            // was asked and where to look. Queries and links are never cut.
            let indent = "      ";
            let room = width.map(|w| w.saturating_sub(indent.len() + 6).max(20));
            if let Some(hint) = &c.hint {
                let _ = writeln!(out, "{indent}hint: {}", fit(&printable(hint), room));
            }
            for (key, query) in c.queries() {
                let _ = writeln!(out, "{indent}{key}: {}", printable(query));
            }
            if let Some(link) = c.explore() {
                let _ = writeln!(out, "{indent}explore: {}", printable(link));
            }
        }
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
pub fn banner(report_target: &TargetReport, run_id: &str, seed: u64) -> String {
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

/// The summary table of a load run.
pub fn load(report: &LoadReport) -> String {
    let mut out = format!(
        "scenario {} against {} for {:.1}s{}\n  {:<18} {:>10} {:>10} {:>10} {:>8} {:>9}\n",
        printable(&report.scenario),
        printable(&report.target),
        report.duration_secs,
        if report.interrupted { " (interrupted)" } else { "" },
        "KIND",
        "OFFERED",
        "ACCEPTED",
        "REFUSED",
        "UNITS/S",
        "p99 ms"
    );
    for (kind, k) in &report.kinds {
        out.push_str(&format!(
            "  {:<18} {:>10} {:>10} {:>10} {:>8.1} {:>9}\n",
            kind.as_str(),
            k.offered_units,
            k.accepted_units,
            k.refused_units,
            k.achieved_rate,
            k.latency_ms.p99
        ));
        if let Some(why) = &k.failed {
            out.push_str(&format!("    stopped early: {}\n", printable(why)));
        }
        if k.late_starts > 0 || k.collector_stalls > 0 {
            out.push_str(&format!(
                "    the harness fell behind: {} send(s) started over {} ms late, {} wait(s) for its collector\n",
                k.late_starts,
                crate::load::tally::LATE_AFTER.as_millis(),
                k.collector_stalls
            ));
        }
    }
    if !report.not_driven.is_empty() {
        let names: Vec<&str> = report.not_driven.iter().map(|k| k.as_str()).collect();
        out.push_str(&format!("  not driven (no endpoint): {}\n", names.join(", ")));
    }
    if !report.ingest.is_empty() {
        out.push_str(&format!(
            "  {:<18} {:>10} {:>10} {:>10} {:>10} {:>9}\n",
            "INGEST", "MARKERS", "FOUND", "UNDECIDED", "p50 ms", "p99 ms"
        ));
        for (pillar, i) in &report.ingest {
            out.push_str(&format!(
                "  {:<18} {:>10} {:>10} {:>10} {:>10} {:>9}\n",
                pillar.as_str(),
                i.sent,
                i.found,
                i.undecided,
                i.latency_ms.p50,
                i.latency_ms.p99
            ));
        }
    }
    if let Some(least) = &report.min_headroom {
        out.push_str(&format!("  least memory headroom: {least}\n"));
    }
    for line in &report.unread {
        out.push_str(&format!("  undecided: {}\n", printable(line)));
    }
    // Every gate, as k6 prints thresholds: the figure, the limit, ✓ or ✗.
    if report.gates.is_empty() {
        out.push_str("  gates: nothing was measured to judge\n");
    } else {
        out.push_str(if report.default_gates {
            "  gates (no [gates] in the scenario: the defaults):\n"
        } else {
            "  gates:\n"
        });
        let subject_width = report.gates.iter().map(|g| g.subject().len()).max().unwrap_or(0);
        for g in &report.gates {
            out.push_str(&format!(
                "    {} {:<15} {:<subject_width$}  {}\n",
                if g.held { "✓" } else { "✗" },
                g.figure.name(),
                printable(g.subject()),
                g.comparison()
            ));
        }
    }
    match &report.broken {
        Some(b) => out.push_str(&format!("  gate broken: {b}\n")),
        None if !report.unread.is_empty() => {
            out.push_str("  no gate broke, but the stack could not be read for every marker\n")
        }
        None if report.default_gates => {
            out.push_str("  every gate held (the default gates: the scenario sets no [gates])\n")
        }
        None => out.push_str("  every gate held\n"),
    }
    out
}

/// One line per finished step, as the search goes.
pub fn capacity_step(step: &StepResult) -> String {
    let headroom = step
        .min_headroom
        .as_ref()
        .map(|least| format!("{least} headroom"))
        .unwrap_or_else(|| "no memory limit seen".into());
    let p99: Vec<String> = step
        .ingest_p99_ms
        .iter()
        .map(|(p, ms)| format!("{} {ms} ms", p.as_str()))
        .collect();
    let verdict = match &step.broken {
        Some(b) => format!("  <- {b}"),
        None => String::new(),
    };
    format!(
        "  x{:.2}: {:.0} units/s offered, {:.0} accepted, refused {:.1} %, ingest p99 [{}], {headroom}{verdict}",
        step.scale,
        step.offered_rate,
        step.achieved_rate,
        step.worst_error_ratio * 100.0,
        p99.join(", ")
    )
}

/// `text` cut to `room` characters, ending in `…` when cut.
pub fn fit(text: &str, room: Option<usize>) -> std::borrow::Cow<'_, str> {
    match room {
        Some(room) if text.chars().count() > room => {
            let kept: String = text.chars().take(room.saturating_sub(1)).collect();
            format!("{kept}…").into()
        }
        _ => text.into(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::load::scenario::TrafficKind;
    use crate::report::load::KindReport;

    fn report(late_starts: u64, collector_stalls: u64) -> LoadReport {
        let kind = KindReport {
            offered_units: 10,
            accepted_units: 10,
            refused_units: 0,
            refused: BTreeMap::new(),
            error_ratio: 0.0,
            achieved_rate: 10.0,
            latency_ms: Default::default(),
            service_latency_ms: Default::default(),
            late_starts,
            collector_stalls,
            bytes_sent: 100,
            failed: None,
        };
        LoadReport {
            schema_version: crate::report::load::LOAD_SCHEMA_VERSION,
            scenario: "s".into(),
            target: "t".into(),
            reference_stack: false,
            seed: 1,
            run_id: "r".into(),
            duration_secs: 1.0,
            interrupted: false,
            kinds: BTreeMap::from([(TrafficKind::OtlpTraces, kind)]),
            not_driven: Vec::new(),
            ingest: BTreeMap::new(),
            min_headroom: None,
            broken: None,
            gates: vec![
                crate::load::gate::Judged::new(
                    crate::load::gate::Broken::ErrorRatio {
                        kind: TrafficKind::OtlpTraces,
                        ratio: 0.0,
                    },
                    0.01,
                ),
                crate::load::gate::Judged::new(
                    crate::load::gate::Broken::IngestLatency {
                        pillar: crate::check::Pillar::Logs,
                        p99_ms: 1500,
                        slo_ms: 1000,
                    },
                    1000.0,
                ),
            ],
            unread: Vec::new(),
            p99_slo_ms: 1000,
            default_gates: true,
            shard: None,
            merged: Vec::new(),
            timeline: Default::default(),
        }
    }

    #[test]
    fn a_harness_that_fell_behind_says_so() {
        let table = load(&report(3, 1));
        assert!(table.contains("the harness fell behind: 3 send(s)"), "{table}");
        assert!(table.contains("1 wait(s) for its collector"), "{table}");
        assert!(!load(&report(0, 0)).contains("fell behind"));
    }

    #[test]
    fn every_gate_is_listed_with_its_figure_and_limit() {
        let table = load(&report(0, 0));
        assert!(
            table.contains("gates (no [gates] in the scenario: the defaults):"),
            "{table}"
        );
        assert!(table.contains("✓ error_ratio"), "{table}");
        assert!(table.contains("otlp_traces  0.0 % ≤ 1.0 %"), "{table}");
        assert!(table.contains("✗ ingest_latency"), "{table}");
        assert!(table.contains("p99 1500 ms ≤ 1000 ms"), "{table}");
    }
}
