//! `report.html`: one self-contained page (no external assets) with the
//! check table, each check's evidence, and an SVG histogram per latency
//! series. Rendered from the run report only.
//!
//! Uses: report::{run, junit (escaping)}, checks (statuses), measure
//! (latency summaries).

use std::fmt::Write as _;

use crate::report::junit::escape;
use crate::report::run::RunReport;

pub const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.4em;text-align:left;vertical-align:top}\
.pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}.error{color:#8250df;font-weight:600}.skip{color:#888}\
pre{background:#f6f8fa;padding:.8em;overflow:auto;max-height:30em}.note{background:#fff8c5;padding:.5em 1em;border-radius:4px}\
svg{background:#fafafa;border:1px solid #eee;margin:.5em 1em .5em 0}figure{display:inline-block;margin:0}figcaption{font-size:12px;color:#555}\
.hint{background:#ddf4ff;padding:.5em 1em;border-radius:4px}.query code{white-space:pre-wrap;word-break:break-all}";

/// What every report of a run against the reference stack says first.
pub const TEST_DOUBLE_NOTE: &str = "<p class=\"note\">Target: the embedded reference stack, an in-process test double. These results say nothing about a deployment.</p>\n";

pub fn render(report: &RunReport) -> String {
    let mut out = String::new();
    let title = format!("pillars run {}", report.run_id);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n",
        escape(&title)
    );
    let _ = writeln!(out, "<h1>{}</h1>", escape(&title));
    let target = &report.target;
    if target.kind == "sim" {
        out.push_str(TEST_DOUBLE_NOTE);
    }
    let _ = writeln!(
        out,
        "<p>Target <b>{}</b> ({}){} · seed <code>{}</code> · {} → {}{}</p>",
        escape(&target.name),
        escape(&target.kind),
        target
            .description
            .as_deref()
            .map(|d| format!(": {}", escape(d)))
            .unwrap_or_default(),
        report.seed,
        escape(&report.started_at),
        escape(&report.finished_at),
        if report.interrupted {
            " · <b>interrupted</b>"
        } else {
            ""
        }
    );
    if !target.sim_faults.is_empty() {
        let _ = writeln!(
            out,
            "<p>Sim faults: <code>{}</code></p>",
            escape(&target.sim_faults.join(", "))
        );
    }
    let t = &report.totals;
    let _ = writeln!(
        out,
        "<p>{} passed, {} failed, {} errors, {} skipped</p>",
        t.pass, t.fail, t.error, t.skip
    );
    out.push_str("<table><tr><th>Status</th><th>Check</th><th>Time</th><th>Summary</th></tr>\n");
    for c in &report.checks {
        let class = c.status.as_str();
        let reason = c
            .reason
            .as_deref()
            .map(|r| format!(" <code>{}</code>", escape(r)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<tr><td class=\"{class}\">{class}</td><td><a href=\"#{id}\">{id}</a></td><td>{:.2}s</td><td>{}{reason}</td></tr>",
            c.duration_ms as f64 / 1000.0,
            escape(&c.summary),
            id = escape(&c.id)
        );
    }
    out.push_str("</table>\n");
    // The SLO the run judged ingest latency by, drawn on every histogram.
    let slo_ms = report
        .checks
        .iter()
        .find(|c| c.id == "ingest.latency")
        .and_then(|c| c.evidence.get("slo_ms")?.as_u64());
    for c in &report.checks {
        let _ = writeln!(out, "<h2 id=\"{0}\">{0}</h2>", escape(&c.id));
        let _ = writeln!(
            out,
            "<p><span class=\"{0}\">{0}</span> {1}</p>",
            c.status.as_str(),
            escape(&c.summary)
        );
        if let Some(hint) = &c.hint {
            let _ = writeln!(out, "<p class=\"hint\">Try: {}</p>", escape(hint));
        }
        for (key, query) in c.queries() {
            let _ = writeln!(
                out,
                "<p class=\"query\">{} <code>{}</code></p>",
                escape(key),
                escape(query)
            );
        }
        if let Some(link) = c
            .explore()
            .filter(|l| l.starts_with("http://") || l.starts_with("https://"))
        {
            let _ = writeln!(
                out,
                "<p><a class=\"explore\" href=\"{}\" rel=\"noreferrer\">Open in Grafana Explore</a></p>",
                escape(link)
            );
        }
        for (series, summary) in &c.latency_ms {
            out.push_str(&crate::report::chart::histogram(series, summary, slo_ms));
        }
        // The raw record, for whoever needs more than the lines above.
        let evidence = serde_json::to_string_pretty(&c.evidence).unwrap_or_default();
        let _ = writeln!(
            out,
            "<details><summary>Evidence (JSON)</summary><pre>{}</pre></details>",
            escape(&evidence)
        );
    }
    out.push_str("</body></html>\n");
    out
}
