//! SARIF 2.1.0, as GitHub code scanning reads it: one run, the rules in
//! `tool.driver.rules`, one result per finding with its rule, level,
//! message and the file and line it annotates (uploaded with
//! `github/codeql-action/upload-sarif`).
//!
//! Uses: lint::{report, finding}.

use serde_json::{Value, json};

use crate::lint::finding::Rule;
use crate::lint::report::LintReport;

pub fn render(report: &LintReport) -> String {
    let rules: Vec<Value> = Rule::ALL
        .iter()
        .map(|r| {
            json!({
                "id": r.id(),
                "name": r.id(),
                "shortDescription": { "text": r.summary() },
                "fullDescription": { "text": r.summary() },
                "defaultConfiguration": { "level": r.severity().as_str() },
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let mut text = f.message.clone();
            for e in &f.evidence {
                text.push_str(&format!("\n- {e}"));
            }
            if !f.fix.is_empty() {
                text.push_str(&format!("\nFix: {}", f.fix));
            }
            json!({
                "ruleId": f.rule.id(),
                "ruleIndex": Rule::ALL.iter().position(|r| *r == f.rule),
                "level": f.severity.as_str(),
                "message": { "text": text },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri(&f.at.file()), "uriBaseId": "%SRCROOT%" },
                        "region": { "startLine": f.at.line },
                    }
                }],
            })
        })
        .collect();
    let sarif = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "pillars lint",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&sarif).expect("SARIF serializes") + "\n"
}

/// A repository-relative URI: `./` dropped, as code scanning matches files.
fn uri(file: &str) -> String {
    file.trim_start_matches("./").to_owned()
}
