//! `pillars lint`: every rule fires on its deliberately broken fixture
//! (`tests/fixtures/lint/<rule>/broken`) at the right file and line, and
//! stays quiet on the fixed copy; `compose/` lints clean; SARIF has what
//! code scanning reads; exit codes 0, 1, 2.

use std::path::{Path, PathBuf};
use std::process::Command;

use pillars::lint::{LintError, LintReport, Options, Rule};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(rule: &str, copy: &str) -> PathBuf {
    root().join("tests/fixtures/lint").join(rule).join(copy)
}

fn lint(paths: &[PathBuf], scenarios: Option<&Path>) -> LintReport {
    LintReport::of(paths, scenarios, &Options::default()).unwrap()
}

/// (rule, file under the broken copy, line of the finding).
const BROKEN: [(&str, &str, u32); 15] = [
    ("exemplar.label", "grafana.tf", 10),
    ("logs.derived_field", "provisioning/datasources.yaml", 8),
    ("traces_to_logs.tags", "datasources.yaml", 12),
    ("traces_to_metrics.tags", "datasources.yaml", 11),
    ("traces_to_profiles.tags", "datasources.yaml", 12),
    ("profiles.span_profiles", "datasources.yaml", 8),
    ("traces.sampler", "templates/user-data.sh.tftpl", 6),
    ("exporter.protocol", "docker-compose.yml", 8),
    ("collector.route", "alb.tf", 22),
    ("collector.cors", "templates/config.alloy.tftpl", 6),
    ("collector.rate_limit", "config.alloy", 1),
    ("storage.prefix", "loki/loki.yaml", 12),
    ("grafana.url", "docker-compose.yml", 6),
    ("memory.budget", "docker-compose.yml", 2),
    ("ci.health_step", ".github/workflows/deploy.yml", 11),
];

#[test]
fn every_rule_fires_on_its_broken_fixture_and_not_on_the_fixed_one() {
    for (id, file, line) in BROKEN {
        let broken = fixture(id, "broken");
        let report = lint(std::slice::from_ref(&broken), None);
        assert!(
            !report.findings.is_empty(),
            "{id}: nothing found in {}",
            broken.display()
        );
        for f in &report.findings {
            assert_eq!(
                f.rule.id(),
                id,
                "{id}: the broken copy also breaks {}: {}",
                f.rule.id(),
                f.message
            );
            assert!(!f.fix.is_empty(), "{id}: a finding without a fix: {}", f.message);
        }
        let expected = broken.join(file);
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.at.path() == expected && f.at.line == line),
            "{id}: no finding at {file}:{line}; found {:?}",
            report
                .findings
                .iter()
                .map(|f| format!("{}:{}", f.at.file(), f.at.line))
                .collect::<Vec<_>>()
        );
        let fixed = lint(&[fixture(id, "fixed")], None);
        assert!(
            fixed.is_clean(),
            "{id}: the fixed copy has findings: {:?}",
            fixed.findings.iter().map(|f| &f.message).collect::<Vec<_>>()
        );
        assert_eq!(
            fixed.files.len(),
            report.files.len(),
            "{id}: both copies hold the same files"
        );
    }
}

#[test]
fn every_rule_has_a_fixture() {
    for rule in Rule::ALL {
        assert!(
            BROKEN.iter().any(|(id, ..)| *id == rule.id()),
            "{} has no fixture row",
            rule.id()
        );
    }
}

#[test]
fn the_exemplar_rule_reports_the_missing_and_the_unused_label() {
    let report = lint(&[fixture("exemplar.label", "broken")], None);
    let lines: Vec<(u32, &str)> = report
        .findings
        .iter()
        .map(|f| (f.at.line, f.message.as_str()))
        .collect();
    assert!(
        lines.iter().any(|(l, m)| *l == 10 && m.contains("`trace_id`")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|(l, m)| *l == 11 && m.contains("`traceID`")),
        "{lines:?}"
    );
}

#[test]
fn storage_rule_sees_the_root_writer_and_the_rule_nobody_needs() {
    let report = lint(&[fixture("storage.prefix", "broken")], None);
    let s3 = fixture("storage.prefix", "broken").join("s3.tf");
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.at.path() == s3 && f.at.line == 19 && f.message.contains("mimir-retention"))
    );
    assert!(report.findings.iter().any(|f| f.message.contains("never expired")));
}

#[test]
fn compose_lints_clean() {
    let report = lint(&[root().join("compose")], Some(&root().join("scenarios")));
    assert!(
        report.is_clean(),
        "compose/ has lint findings:\n{}",
        pillars::lint::render::terminal(&report)
    );
    // It did read the stack: Compose, Alloy, provisioning, every store's config.
    assert!(report.files.len() >= 8, "{:?}", report.files);
}

#[test]
fn sarif_has_what_code_scanning_reads() {
    let report = lint(&[fixture("grafana.url", "broken")], None);
    let sarif: serde_json::Value = serde_json::from_str(&pillars::lint::sarif::render(&report)).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), Rule::ALL.len());
    let result = &run["results"][0];
    assert_eq!(result["ruleId"], "grafana.url");
    assert_eq!(result["level"], "error");
    assert_eq!(
        rules[result["ruleIndex"].as_u64().unwrap() as usize]["id"],
        "grafana.url"
    );
    let location = &result["locations"][0]["physicalLocation"];
    assert!(
        location["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("grafana.url/broken/docker-compose.yml")
    );
    assert_eq!(location["region"]["startLine"], 6);
    assert!(result["message"]["text"].as_str().unwrap().contains("Fix:"));
}

fn golden(name: &str, actual: &str) {
    let path = root().join("tests/golden").join(name);
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

#[test]
fn terminal_table_and_junit_match_golden() {
    // Through the binary, from the repository root, so paths are as CI prints them.
    let fixture = "tests/fixtures/lint/storage.prefix/broken";
    let (_, table) = pillars(&["lint", fixture]);
    golden("lint-summary.txt", &table);
    let (_, junit) = pillars(&["lint", fixture, "--format", "junit"]);
    golden("lint-junit.xml", &junit);
}

#[test]
fn lint_json_follows_its_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("schema/lint.schema.json")).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for copy in ["broken", "fixed"] {
        for (id, ..) in BROKEN {
            let record: serde_json::Value = serde_json::from_str(&lint(&[fixture(id, copy)], None).to_json()).unwrap();
            let errors: Vec<String> = validator
                .iter_errors(&record)
                .map(|e| format!("{e} at {}", e.instance_path))
                .collect();
            assert!(
                errors.is_empty(),
                "{id}/{copy}: lint.json breaks its schema: {errors:?}"
            );
        }
    }
}

#[test]
fn malformed_files_name_their_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "config.alloy",
            "loki.write \"x\" {\n  endpoint { url = [1, 2 }\n}\n",
            "config.alloy:2:",
        ),
        ("main.tf", "resource \"a\" \"b\" {\n  x = \n", "main.tf:"),
        ("docker-compose.yml", "services:\n  a: [\n", "docker-compose.yml:"),
    ];
    for (name, text, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let err = LintReport::of(std::slice::from_ref(&path), None, &Options::default()).unwrap_err();
        assert!(matches!(err, LintError::Syntax { .. }), "{name}: {err}");
        assert!(err.to_string().contains(expected), "{name}: {err}");
        std::fs::remove_file(&path).unwrap();
    }
}

fn pillars(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pillars"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn exit_codes_say_clean_findings_or_unreadable() {
    let (code, out) = pillars(&["lint", "tests/fixtures/lint/collector.route/fixed"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no findings"), "{out}");
    let (code, out) = pillars(&["lint", "tests/fixtures/lint/collector.route/broken"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("alb.tf:22") && out.contains("collector.route"), "{out}");
    let (code, out) = pillars(&["lint", "tests/fixtures/lint/no-such-dir"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("no-such-dir"), "{out}");
}

#[test]
fn report_dir_holds_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("lint");
    let (code, out) = pillars(&[
        "lint",
        "tests/fixtures/lint/ci.health_step/broken",
        "--format",
        "sarif",
        "--report-dir",
        reports.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("\"version\": \"2.1.0\""), "{out}");
    for name in ["lint.json", "lint.sarif", "junit.xml", "report.html"] {
        assert!(reports.join(name).is_file(), "{name} missing");
    }
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("lint.json")).unwrap()).unwrap();
    assert_eq!(record["schema_version"], 1);
    assert_eq!(record["findings"][0]["rule"], "ci.health_step");
    assert_eq!(record["findings"][0]["line"], 11);
    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    assert!(junit.contains("<testcase classname=\"lint\" name=\"ci.health_step\">") && junit.contains("<failure"));
}

#[test]
fn a_symlink_loop_is_not_followed_and_other_files_are_passed_over() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("deploy")).unwrap();
    std::os::unix::fs::symlink("..", dir.path().join("deploy/loop")).unwrap();
    std::fs::copy(
        fixture("grafana.url", "fixed").join("docker-compose.yml"),
        dir.path().join("deploy/compose.yml"),
    )
    .unwrap();
    std::fs::write(dir.path().join("deploy/notes.md"), "# not a deployment file\n").unwrap();
    let report = lint(&[dir.path().to_owned()], None);
    assert_eq!(report.files, [dir.path().join("deploy/compose.yml")]);
    assert!(report.is_clean());
    let empty = tempfile::tempdir().unwrap();
    let err = LintReport::of(&[empty.path().to_owned()], None, &Options::default()).unwrap_err();
    assert!(matches!(err, LintError::NothingToLint(_)), "{err}");
}

#[test]
fn scenarios_from_any_directory_count_for_the_rate_limit() {
    let dir = tempfile::tempdir().unwrap();
    let profiles = dir.path().join("load-profiles");
    std::fs::create_dir(&profiles).unwrap();
    let broken = fixture("collector.rate_limit", "broken");
    std::fs::copy(broken.join("scenarios/browsers.toml"), profiles.join("browsers.toml")).unwrap();
    let config = broken.join("config.alloy");
    let report = lint(std::slice::from_ref(&config), Some(&profiles));
    assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
    assert_eq!(report.findings[0].rule, Rule::CollectorRateLimit);
    assert!(report.files.contains(&profiles.join("browsers.toml")));
    // Without the scenarios there is no rate to hold the limit to.
    assert!(lint(&[config], None).is_clean());
}
