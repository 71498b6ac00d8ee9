//! The lint record as people read it: the terminal table, JUnit (one test
//! case per rule, a failure per finding) and a self-contained HTML page.
//!
//! Uses: lint::report, report::junit (XML escaping).

use std::fmt::Write as _;

use crate::lint::finding::Rule;
use crate::lint::report::LintReport;
use crate::report::junit::escape;

pub fn terminal(report: &LintReport) -> String {
    let mut out = String::new();
    if report.is_clean() {
        let _ = writeln!(
            out,
            "pillars lint: {}, {} rules, no findings",
            plural(report.files.len(), "file"),
            Rule::ALL.len()
        );
        return out;
    }
    let place = |f: &crate::lint::finding::Finding| format!("{}:{}", f.at.file(), f.at.line);
    let w_place = report.findings.iter().map(|f| place(f).len()).max().unwrap_or(0).max(8);
    let w_rule = report
        .findings
        .iter()
        .map(|f| f.rule.id().len())
        .max()
        .unwrap_or(0)
        .max(4);
    let _ = writeln!(
        out,
        "{:<w_place$}  {:<w_rule$}  {:<7}  finding",
        "location", "rule", "level"
    );
    for f in &report.findings {
        let _ = writeln!(
            out,
            "{:<w_place$}  {:<w_rule$}  {:<7}  {}",
            place(f),
            f.rule.id(),
            f.severity.as_str(),
            f.message
        );
        let indent = "    ";
        for e in &f.evidence {
            let _ = writeln!(out, "{indent}· {e}");
        }
        if !f.fix.is_empty() {
            let _ = writeln!(out, "{indent}fix: {}", f.fix);
        }
    }
    let _ = writeln!(
        out,
        "\npillars lint: {}, {}, {}",
        plural(report.files.len(), "file"),
        plural(report.errors, "error"),
        plural(report.warnings, "warning")
    );
    out
}

/// `1 file`, `2 files`.
fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

pub fn junit(report: &LintReport) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let failed = Rule::ALL
        .iter()
        .filter(|r| report.findings.iter().any(|f| f.rule == **r))
        .count();
    let _ = writeln!(
        out,
        "<testsuites name=\"pillars lint\" tests=\"{}\" failures=\"{failed}\" errors=\"0\">",
        Rule::ALL.len()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"lint\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" skipped=\"0\">",
        Rule::ALL.len()
    );
    for rule in Rule::ALL {
        let findings: Vec<_> = report.findings.iter().filter(|f| f.rule == rule).collect();
        let _ = write!(out, "    <testcase classname=\"lint\" name=\"{}\"", escape(rule.id()));
        if findings.is_empty() {
            out.push_str("/>\n");
            continue;
        }
        out.push_str(">\n");
        for f in findings {
            let mut body = format!("{}:{}: {}", f.at.file(), f.at.line, f.message);
            for e in &f.evidence {
                body.push_str(&format!("\n  {e}"));
            }
            body.push_str(&format!("\n  fix: {}", f.fix));
            let _ = writeln!(
                out,
                "      <failure type=\"{}\" message=\"{}\">{}</failure>",
                f.severity.as_str(),
                escape(&format!("{}:{}: {}", f.at.file(), f.at.line, f.message)),
                escape(&body)
            );
        }
        out.push_str("    </testcase>\n");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

pub fn html(report: &LintReport) -> String {
    let mut rows = String::new();
    for f in &report.findings {
        let evidence: String = f.evidence.iter().map(|e| format!("<li>{}</li>", escape(e))).collect();
        let _ = writeln!(
            rows,
            "<tr class=\"{}\"><td><code>{}:{}</code></td><td><code>{}</code></td><td>{}</td><td>{}<ul>{evidence}</ul><p><b>Fix:</b> {}</p></td></tr>",
            f.severity.as_str(),
            escape(&f.at.file()),
            f.at.line,
            f.rule.id(),
            f.severity.as_str(),
            escape(&f.message),
            escape(&f.fix)
        );
    }
    let files: String = report
        .files
        .iter()
        .map(|p| format!("<li><code>{}</code></li>", escape(&p.display().to_string())))
        .collect();
    let verdict = if report.is_clean() {
        "no findings".to_owned()
    } else {
        format!("{} errors, {} warnings", report.errors, report.warnings)
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>pillars lint: {verdict}</title>\n<style>\
body{{font-family:system-ui,sans-serif;margin:2rem;max-width:80rem}}table{{border-collapse:collapse;width:100%}}\
td,th{{border-bottom:1px solid #ddd;padding:.4rem;text-align:left;vertical-align:top}}\
tr.error td:nth-child(3){{color:#b00020}}tr.warning td:nth-child(3){{color:#a05a00}}ul{{margin:.3rem 0}}\
</style></head><body>\n<h1>pillars lint: {verdict}</h1>\n\
<table><thead><tr><th>location</th><th>rule</th><th>level</th><th>finding</th></tr></thead><tbody>\n{rows}</tbody></table>\n\
<h2>Files read ({})</h2><ul>{files}</ul>\n</body></html>\n",
        report.files.len()
    )
}
