//! `report.html`: one self-contained page (no external assets) with the
//! check table, each check's evidence, and an SVG histogram per latency
//! series. Rendered from the run report only.
//!
//! Uses: report::{run, junit (escaping)}, checks (statuses), measure
//! (latency summaries).

use std::fmt::Write as _;

use crate::correlation::waterfall::Waterfall;
use crate::report::junit::escape;
use crate::report::run::RunReport;

pub const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.4em;text-align:left;vertical-align:top}\
.pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}.error{color:#8250df;font-weight:600}.skip{color:#888}\
pre{background:#f6f8fa;padding:.8em;overflow:auto;max-height:30em}.note{background:#fff8c5;padding:.5em 1em;border-radius:4px}\
svg{background:#fafafa;border:1px solid #eee;margin:.5em 1em .5em 0}figure{display:inline-block;margin:0;vertical-align:top}figcaption{font-size:12px;color:#555;max-width:720px}\
ul.legend{display:flex;flex-wrap:wrap;gap:0 1em;list-style:none;margin:.2em 0;padding:0}ul.legend li{white-space:nowrap}.multiples{display:flex;flex-wrap:wrap}.multiples figcaption{max-width:352px}\
tr.broken td{background:#ffebe9}\
.hint{background:#ddf4ff;padding:.5em 1em;border-radius:4px}.query code{white-space:pre-wrap;word-break:break-all}\
.evidence table{width:auto;font-size:13px}.evidence th{font-weight:600;color:#444;white-space:nowrap}.evidence td,.evidence th{padding:.15em .6em}\
.kv .kv{margin:0}.rows th{background:#f6f8fa}.evidence td{overflow-wrap:anywhere;min-width:3.5em}.none{color:#888}a.url{word-break:break-all}button.copy{font-size:11px;margin-left:.4em}";

/// What every report of a run against the reference stack says first.
pub const TEST_DOUBLE_NOTE: &str = "<p class=\"note\">Target: the embedded reference stack, an in-process test double. These results say nothing about a deployment.</p>\n";

pub fn render(report: &RunReport) -> String {
    let mut out = String::new();
    let title = format!("pillars run {}", report.run_id);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}{}</style></head><body>\n",
        escape(&title),
        crate::report::waterfall::STYLE
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
                "<p class=\"query\">{} <code>{q}</code> <button type=\"button\" class=\"copy\" data-copy=\"{q}\">Copy</button></p>",
                escape(key),
                q = escape(query)
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
        // The followed request's trace, drawn instead of tabled.
        let mut evidence = c.evidence.clone();
        let waterfall = evidence.as_object_mut().and_then(|o| o.remove("waterfall"));
        if let Some(drawn) = waterfall
            .and_then(|w| serde_json::from_value::<Waterfall>(w).ok())
            .and_then(|w| crate::report::waterfall::render(&w))
        {
            out.push_str("<h3>The request it followed</h3>\n");
            out.push_str(&drawn);
        }
        if evidence.as_object().is_some_and(|o| !o.is_empty()) {
            out.push_str("<div class=\"evidence\">");
            evidence_html(&evidence, 0, &mut out);
            out.push_str("</div>\n");
        }
        // The raw record, for whoever needs more than the lines above.
        let evidence = serde_json::to_string_pretty(&c.evidence).unwrap_or_default();
        let _ = writeln!(
            out,
            "<details><summary>Evidence (JSON)</summary><pre>{}</pre></details>",
            escape(&evidence)
        );
    }
    out.push_str(COPY_SCRIPT);
    out.push_str("</body></html>\n");
    out
}

/// The copy buttons beside queries: the query to the clipboard, or, where
/// the page may not use it (some browsers refuse `file://`), the query
/// selected for Ctrl-C. The page reads the same without it. It marks the
/// body when it ran, which the browser test looks for.
const COPY_SCRIPT: &str = "<script>\
document.addEventListener('click',function(e){var b=e.target.closest('button.copy');if(!b)return;\
var code=b.previousElementSibling;function select(){var r=document.createRange();r.selectNodeContents(code);\
var s=window.getSelection();s.removeAllRanges();s.addRange(r);b.textContent='Press Ctrl-C';}\
if(navigator.clipboard){navigator.clipboard.writeText(b.dataset.copy).then(function(){b.textContent='Copied';},select);}else{select();}});\
document.body.dataset.script='ran';</script>\n";

/// Rows of a list shown before the rest is counted.
const MAX_ROWS: usize = 50;

/// Evidence as a person reads it: an object as a two-column table, a list
/// of records (missing ids, datasources, components) as a table with a
/// column per field, a list of values inline; deeper than three levels,
/// compact JSON.
fn evidence_html(value: &serde_json::Value, depth: usize, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Object(fields) if depth < 3 => {
            out.push_str("<table class=\"kv\">");
            for (key, v) in fields {
                let _ = write!(out, "<tr><th>{}</th><td>", escape(key));
                evidence_html(v, depth + 1, out);
                out.push_str("</td></tr>");
            }
            out.push_str("</table>");
        }
        Value::Array(items) if items.is_empty() => out.push_str("<span class=\"none\">none</span>"),
        Value::Array(items) if depth < 3 && items.iter().all(Value::is_object) => {
            let mut columns: Vec<&str> = Vec::new();
            for item in items.iter().take(MAX_ROWS) {
                for key in item.as_object().into_iter().flat_map(|o| o.keys()) {
                    if !columns.contains(&key.as_str()) {
                        columns.push(key);
                    }
                }
            }
            out.push_str("<table class=\"rows\"><tr>");
            for column in &columns {
                let _ = write!(out, "<th>{}</th>", escape(column));
            }
            out.push_str("</tr>");
            for item in items.iter().take(MAX_ROWS) {
                out.push_str("<tr>");
                for column in &columns {
                    out.push_str("<td>");
                    match item.get(column) {
                        // A record inside a row: its fields one per line, so
                        // the table wraps instead of scrolling.
                        Some(serde_json::Value::Object(fields)) => {
                            let lines: Vec<String> = fields
                                .iter()
                                .map(|(k, v)| format!("{}: {}", escape(k), escape(&scalar(v))))
                                .collect();
                            out.push_str(&lines.join("<br>"));
                        }
                        Some(v) => evidence_html(v, 3, out),
                        None => {}
                    }
                    out.push_str("</td>");
                }
                out.push_str("</tr>");
            }
            out.push_str("</table>");
            more(items.len(), out);
        }
        Value::Array(items) if items.iter().all(|v| !v.is_object() && !v.is_array()) => {
            let shown: Vec<String> = items.iter().take(MAX_ROWS).map(scalar).collect();
            let _ = write!(out, "<code>{}</code>", escape(&shown.join(", ")));
            more(items.len(), out);
        }
        Value::String(text) if text.starts_with("http://") || text.starts_with("https://") => {
            let _ = write!(
                out,
                "<a class=\"url\" href=\"{0}\" rel=\"noreferrer\">{0}</a>",
                escape(text)
            );
        }
        Value::Null => out.push_str("<span class=\"none\">–</span>"),
        Value::String(_) | Value::Number(_) | Value::Bool(_) => {
            let _ = write!(out, "{}", escape(&scalar(value)));
        }
        deeper => {
            let _ = write!(out, "<code>{}</code>", escape(&deeper.to_string()));
        }
    }
}

fn scalar(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn more(total: usize, out: &mut String) {
    if total > MAX_ROWS {
        let _ = write!(out, " <span class=\"none\">… {} more</span>", total - MAX_ROWS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_reads_as_tables() {
        let evidence = serde_json::json!({
            "by_id": { "found": 3, "missing": [{ "id": "abc", "slot": 2 }, { "id": "def", "slot": 4 }] },
            "ids": ["x", "y"],
            "datasources": [{ "uid": "loki", "health": { "ok": true, "detail": "<fine>" } }],
            "last_error": null,
            "undecided": [],
        });
        let mut out = String::new();
        evidence_html(&evidence, 0, &mut out);
        assert!(out.starts_with("<table class=\"kv\">"), "{out}");
        assert!(
            out.contains("<table class=\"rows\"><tr><th>id</th><th>slot</th></tr><tr><td>abc</td><td>2</td></tr>"),
            "{out}"
        );
        assert!(out.contains("<code>x, y</code>"), "{out}");
        assert!(out.contains("detail: &lt;fine&gt;<br>ok: true"), "{out}");
        assert!(out.contains("<span class=\"none\">none</span>"), "{out}");
        let many =
            serde_json::json!({ "missing": (0..60).map(|i| serde_json::json!({ "id": i })).collect::<Vec<_>>() });
        let mut out = String::new();
        evidence_html(&many, 0, &mut out);
        assert!(out.contains("… 10 more"), "{out}");
    }
}
