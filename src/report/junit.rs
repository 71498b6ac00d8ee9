//! `junit.xml`: one testcase per check. A failed check is a `<failure>` (the
//! stack is wrong), an undecided one an `<error>` (pillars could not tell),
//! a skipped one `<skipped>`, as CI systems read them.
//!
//! Uses: report::run, checks (statuses).

use std::fmt::Write as _;

use crate::checks::Status;
use crate::report::run::{CheckReport, RunReport};

pub fn render(report: &RunReport) -> String {
    let t = &report.totals;
    let secs = |ms: u64| format!("{:.3}", ms as f64 / 1000.0);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let counts = format!(
        "tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\"",
        report.checks.len(),
        t.fail,
        t.error,
        t.skip,
        secs(report.duration_ms())
    );
    let _ = writeln!(out, "<testsuites name=\"pillars\" {counts}>");
    let _ = writeln!(
        out,
        "  <testsuite name=\"pillars.verify\" {counts} timestamp=\"{}\">",
        escape(&report.started_at)
    );
    out.push_str("    <properties>\n");
    for (name, value) in [
        ("target", report.target.name.as_str()),
        ("target_kind", report.target.kind.as_str()),
        ("run_id", report.run_id.as_str()),
        ("seed", &report.seed.to_string()),
    ] {
        let _ = writeln!(out, "      <property name=\"{name}\" value=\"{}\"/>", escape(value));
    }
    out.push_str("    </properties>\n");
    for c in &report.checks {
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\"",
            escape(&c.pillar),
            escape(&c.id),
            secs(c.duration_ms)
        );
        let element = match c.status {
            Status::Pass => None,
            Status::Fail => Some("failure"),
            Status::Error => Some("error"),
            Status::Skip => Some("skipped"),
        };
        match element {
            None => out.push_str("/>\n"),
            Some(element) => {
                out.push_str(">\n");
                let reason = c.reason.as_deref().unwrap_or_default();
                let _ = writeln!(
                    out,
                    "      <{element} type=\"{}\" message=\"{}\">{}</{element}>",
                    escape(reason),
                    escape(&c.summary),
                    escape_text(&body(c))
                );
                out.push_str("    </testcase>\n");
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// A failure's body as a person reads it in a CI test view: the summary,
/// what to try, the queries and the Explore link, then the evidence.
fn body(c: &CheckReport) -> String {
    let mut text = c.summary.clone();
    if let Some(hint) = &c.hint {
        let _ = write!(text, "\nhint: {hint}");
    }
    for (key, query) in c.queries() {
        let _ = write!(text, "\n{key}: {query}");
    }
    if let Some(link) = c.explore() {
        let _ = write!(text, "\nexplore: {link}");
    }
    let evidence = serde_json::to_string_pretty(&c.evidence).unwrap_or_default();
    let _ = write!(text, "\n\nevidence:\n{evidence}");
    text
}

/// Escapes element content, where quotes may stay as they are.
fn escape_text(text: &str) -> String {
    escape(text).replace("&quot;", "\"").replace("&apos;", "'")
}

/// Escapes text for XML attributes and content; drops characters XML 1.0
/// cannot carry.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}
