//! Reports: run.json matches its committed schema; JUnit and the terminal
//! summary match golden files; the HTML page is self-contained.

use std::collections::BTreeMap;
use std::path::Path;

use clap::Parser;
use pillars::checks::Status;
use pillars::measure::latency::LatencyHistogram;
use pillars::report::{CheckReport, RunReport, TargetReport, Totals, html, junit, run, terminal};

fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var_os("PILLARS_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing {}; run with PILLARS_BLESS=1 to create it", path.display()));
    assert_eq!(
        actual, expected,
        "{name} differs from its golden file (PILLARS_BLESS=1 rewrites it)"
    );
}

fn fixed_report() -> RunReport {
    let mut histogram = LatencyHistogram::default();
    for ms in [12u64, 15, 15, 40, 90, 400] {
        histogram.record(std::time::Duration::from_millis(ms));
    }
    let checks = vec![
        CheckReport {
            id: "stack.ready".into(),
            pillar: "stack".into(),
            status: Status::Pass,
            reason: None,
            duration_ms: 12,
            summary: "2 component(s) ready".into(),
            evidence: serde_json::json!({ "components": [] }),
            latency_ms: BTreeMap::new(),
            hint: None,
        },
        CheckReport {
            id: "traces.roundtrip".into(),
            pillar: "traces".into(),
            status: Status::Fail,
            reason: Some("not_found_by_id".into()),
            duration_ms: 8021,
            summary: "3 of 20 traces not found by id in Tempo".into(),
            evidence: serde_json::json!({
                "seed": 7,
                "note": "<&\"'>",
                "traceql": "{ resource.service.name = \"pillars-traces\" }",
                "explore": "http://127.0.0.1:3000/grafana/explore?orgId=1&panes=x",
            }),
            latency_ms: BTreeMap::from([("traces.by_id".to_owned(), histogram.summary())]),
            hint: pillars::checks::hint("traces.roundtrip", "not_found_by_id").map(str::to_owned),
        },
        CheckReport {
            id: "logs.roundtrip".into(),
            pillar: "logs".into(),
            status: Status::Error,
            reason: Some("unreachable".into()),
            duration_ms: 3,
            summary: "could not reach loki".into(),
            evidence: serde_json::json!({ "seed": 7 }),
            latency_ms: BTreeMap::new(),
            hint: pillars::checks::hint("logs.roundtrip", "unreachable").map(str::to_owned),
        },
    ];
    RunReport {
        schema_version: run::SCHEMA_VERSION,
        run_id: "20261125T000000Z-0007".into(),
        seed: 7,
        target: TargetReport {
            name: "sim".into(),
            kind: "sim".into(),
            description: Some("embedded reference stack".into()),
            path: None,
            endpoints: BTreeMap::from([("read.tempo".to_owned(), "http://127.0.0.1:3200/".to_owned())]),
            sim_faults: vec!["drop_traces=0.15".into()],
            sim_variants: Vec::new(),
        },
        started_at: "2026-11-25T00:00:00.000Z".into(),
        finished_at: "2026-11-25T00:00:08.036Z".into(),
        interrupted: false,
        totals: Totals::of(&checks),
        checks,
    }
}

#[test]
fn terminal_summary_matches_golden() {
    golden("summary.txt", &terminal::render(&fixed_report(), false, None));
    let colored = terminal::render(&fixed_report(), true, None);
    assert!(colored.contains("\x1b[31mfail"), "{colored}");
}

#[test]
fn issue_14_the_summary_fits_the_terminal() {
    let whole = terminal::render(&fixed_report(), false, None);
    let widest = whole.lines().map(|l| l.chars().count()).max().unwrap();
    let width = 72;
    assert!(widest > width, "the fixture must have a row to cut: {whole}");
    let cut = terminal::render(&fixed_report(), false, Some(width));
    for line in cut.lines() {
        assert!(line.chars().count() <= width, "{line:?} is wider than {width}");
    }
    assert!(cut.contains('…'), "{cut}");
}

#[test]
fn junit_matches_golden() {
    let xml = junit::render(&fixed_report());
    golden("junit.xml", &xml);
    assert!(xml.contains("<failure type=\"not_found_by_id\""));
    assert!(xml.contains("<error type=\"unreachable\""));
}

#[test]
fn html_is_self_contained() {
    let page = html::render(&fixed_report());
    assert!(page.contains("<svg") && page.contains("traces.by_id"));
    assert!(page.contains("test double"));
    for external in ["src=\"http", "<link", "<script src", "url(", "fetch(", "XMLHttpRequest"] {
        assert!(!page.contains(external), "page loads {external}");
    }
    // One inline script, the copy buttons'; it reaches nothing outside.
    assert_eq!(page.matches("<script>").count(), 1);
    // Links go out only as anchors a person follows: Explore, and the
    // URLs the evidence holds.
    assert_eq!(
        page.matches("href=\"http").count(),
        page.matches("<a class=\"explore\" href=\"http").count() + page.matches("<a class=\"url\" href=\"http").count()
    );
    assert!(page.contains("<a class=\"explore\" href=\"http://127.0.0.1:3000/grafana/explore?orgId=1&amp;panes=x\""));
    assert!(
        page.contains("Try: the collector accepted the spans"),
        "the hint is shown"
    );
    assert!(page.contains("<code>{ resource.service.name = &quot;pillars-traces&quot; }</code>"));
    assert!(
        page.contains("<details><summary>Evidence (JSON)"),
        "evidence is collapsed"
    );
    assert!(page.contains("&lt;&amp;"), "evidence is escaped");
}

fn validator() -> jsonschema::Validator {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/run.schema.json")).unwrap(),
    )
    .unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

#[test]
fn schema_rejects_what_it_should() {
    let validator = validator();
    let good = serde_json::to_value(fixed_report()).unwrap();
    assert!(
        validator.is_valid(&good),
        "{:?}",
        validator.iter_errors(&good).map(|e| e.to_string()).collect::<Vec<_>>()
    );
    let mut bad = good.clone();
    bad["checks"][1]["reason"] = serde_json::Value::Null;
    assert!(
        !validator.is_valid(&bad),
        "a failed check without a reason passed the schema"
    );
    let mut bad = good;
    bad["checks"][0]["status"] = "ok".into();
    assert!(!validator.is_valid(&bad));
}

#[tokio::test]
async fn run_json_written_by_verify_matches_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let report_dir = dir.path().join("out");
    let cli = pillars::Cli::parse_from([
        "pillars",
        "verify",
        "--traces",
        "5",
        "--sim-fault",
        "drop_traces=0.5",
        "--report-dir",
        report_dir.to_str().unwrap(),
    ]);
    let code = pillars::run(cli, &mut pillars::Console::sink()).await.unwrap();
    assert_eq!(code, pillars::exit::CHECK_FAILED);
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report_dir.join("run.json")).unwrap()).unwrap();
    let validator = validator();
    let errors: Vec<String> = validator
        .iter_errors(&run)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // The other files render from it.
    let report: RunReport = serde_json::from_value(run).unwrap();
    assert_eq!(
        std::fs::read_to_string(report_dir.join("junit.xml")).unwrap(),
        junit::render(&report)
    );
}
