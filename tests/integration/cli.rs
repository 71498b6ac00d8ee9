//! The binary's exit codes and messages, as scripts and CI see them.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::dead_target_toml;

fn pillars(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pillars"))
        .args(args)
        .current_dir(dir)
        .env_remove("PILLARS_TARGET")
        .env("NO_COLOR", "1")
        .output()
        .expect("run pillars")
}

/// Starts `pillars <args>` in `dir` with its output piped.
fn spawn(args: &[&str], dir: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_pillars"))
        .args(args)
        .current_dir(dir)
        .env_remove("PILLARS_TARGET")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Sends SIGINT to `child` and returns its exit code, failing when it has
/// not exited within `within`.
fn interrupt(child: &mut std::process::Child, within: Duration) -> Option<i32> {
    signal(child, "INT", within)
}

/// Sends `name` (INT, TERM) to `child` and returns its exit code, failing
/// when it has not exited within `within`.
fn signal(child: &mut std::process::Child, name: &str, within: Duration) -> Option<i32> {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        assert!(Instant::now() < deadline, "pillars did not stop on SIG{name}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn bad_target_file_exits_2_and_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "[ingest]\notlp_http = \"localhost:4318\"\n",
    )
    .unwrap();
    let out = pillars(&["verify", "--target", "bad.toml"], dir.path());
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("`ingest.otlp_http`") && stderr.contains("bad.toml"),
        "{stderr}"
    );

    std::fs::write(
        dir.path().join("typo.toml"),
        "[read]\ntempoo = \"http://127.0.0.1:3200\"\n",
    )
    .unwrap();
    let out = pillars(&["verify", "--target", "typo.toml"], dir.path());
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("tempoo"), "{stderr}");

    let out = pillars(&["verify", "--target", "missing.toml"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("missing.toml"));
}

#[test]
fn unreachable_target_exits_3_within_10_seconds() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dead.toml"), dead_target_toml()).unwrap();
    let started = Instant::now();
    let out = pillars(&["verify", "--target", "dead.toml", "--report-dir", "out"], dir.path());
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(3), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(took < Duration::from_secs(10), "took {took:?}");
    // The report is still written, and says why.
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/run.json")).unwrap()).unwrap();
    assert_eq!(run["checks"][0]["status"], "error");
    assert_eq!(run["checks"][0]["reason"], "nothing_reachable");
    // Nothing else runs: one message, not a row of connection errors.
    let checks = run["checks"].as_array().unwrap();
    assert!(checks.len() > 1);
    for check in &checks[1..] {
        assert_eq!(
            (&check["status"], &check["reason"]),
            (&"skip".into(), &"unreached".into()),
            "{check}"
        );
    }
    assert_eq!(run["totals"]["error"], 1);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(stderr.contains("error: nothing of `dead`"), "{stderr}");
    assert!(stderr.contains("the other checks did not run"), "{stderr}");
    assert!(!stdout.contains("STATUS"), "no summary table: {stdout}");
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("reports: ") && last.contains("report.html"),
        "{stdout}"
    );
}

/// Load and capacity check the stack is ready before sending anything: a
/// dead target is one message and exit 3, a stack that answers not ready
/// exit 1, and neither sends load.
#[test]
fn issue_6_load_against_a_stack_that_is_not_up_is_one_message() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dead.toml"), dead_target_toml()).unwrap();
    std::fs::write(
        dir.path().join("s.toml"),
        "name = \"s\"\nduration = \"60s\"\n[traffic.otlp_traces]\nrate = 10\n[search]\nstep_duration = \"60s\"\n",
    )
    .unwrap();
    for command in ["load", "capacity"] {
        let started = Instant::now();
        let out = pillars(
            &[
                command,
                "--target",
                "dead.toml",
                "--scenario",
                "s.toml",
                "--report-dir",
                "r",
            ],
            dir.path(),
        );
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{command}: {err}");
        assert!(started.elapsed() < Duration::from_secs(10), "{command}");
        assert!(
            err.contains("not loading `dead` (dead.toml)")
                && err.contains("collector")
                && err.contains("pillars stack up"),
            "{err}"
        );
    }
    let out = pillars(
        &[
            "load",
            "--sim-fault",
            "not_ready=loki",
            "--scenario",
            "s.toml",
            "--report-dir",
            "r",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("loki"), "{}", text(&out.stderr));
}

/// `--transport both` with a broken 4317: exit 1, one check, each
/// transport in its summary and evidence.
#[test]
fn a_broken_grpc_receiver_fails_verify_with_both_transports() {
    let dir = tempfile::tempdir().unwrap();
    let out = pillars(
        &[
            "verify",
            "--only",
            "logs.roundtrip",
            "--transport",
            "both",
            "--sim-fault",
            "grpc_unavailable",
            "--report-dir",
            "out",
        ],
        dir.path(),
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/run.json")).unwrap()).unwrap();
    let check = &run["checks"][0];
    assert_eq!(
        (&check["id"], &check["reason"]),
        (&"logs.roundtrip".into(), &"rejected".into())
    );
    let summary = check["summary"].as_str().unwrap();
    assert!(
        summary.contains("OTLP/HTTP") && summary.contains("UNAVAILABLE"),
        "{summary}"
    );
    let legs: Vec<&str> = check["evidence"]["transports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["status"].as_str().unwrap())
        .collect();
    assert_eq!(legs, ["pass", "fail"]);
}

#[test]
fn a_failed_check_exits_1_and_the_report_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let out = pillars(
        &[
            "verify",
            "--only",
            "traces.roundtrip",
            "--sim-fault",
            "drop_traces=1",
            "--traces",
            "5",
            "--trace-lookup",
            "by-id",
            "--report-dir",
            "out",
            "--seed",
            "7",
        ],
        dir.path(),
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("not_found_by_id"), "{stdout}");
    assert!(text(&out.stderr).contains("not a deployment"));
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/run.json")).unwrap()).unwrap();
    assert_eq!(run["seed"], 7);
    assert_eq!(run["target"]["sim_faults"][0], "drop_traces=1");
    assert_eq!(run["checks"].as_array().unwrap().len(), 1);
    assert!(
        std::fs::read_to_string(dir.path().join("out/junit.xml"))
            .unwrap()
            .contains("<failure")
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for (args, says) in [
        (&["verify", "--only", "traces.nope"][..], "known checks"),
        (&["verify", "--sim-fault", "drop_everything"][..], "drop_traces"),
        (
            &["verify", "--target", "x.toml", "--sim-fault", "drop_traces"][..],
            "--sim-fault",
        ),
        (&["verify", "--traces", "0"][..], "traces"),
    ] {
        let out = pillars(args, dir.path());
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

#[test]
fn unwritable_report_dir_fails_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("file"), "").unwrap();
    let started = Instant::now();
    let out = pillars(&["verify", "--report-dir", "file/sub"], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--report-dir"));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn checks_lists_the_catalog() {
    let out = pillars(&["checks"], Path::new("."));
    let stdout = text(&out.stdout);
    let mut lines = stdout.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("CHECK") && header.contains("PILLAR"), "{stdout}");
    let column = header.find("PILLAR").unwrap();
    for (spec, line) in pillars::checks::CATALOG.iter().zip(lines) {
        assert!(line.starts_with(spec.id), "{stdout}");
        assert_eq!(
            line.find(char::is_whitespace).map(|_| &line[column - 2..column]),
            Some("  "),
            "{line}"
        );
    }
    let out = pillars(&["checks", "--json"], Path::new("."));
    let catalog: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(catalog.len(), pillars::checks::CATALOG.len());
    assert_eq!(catalog[0]["id"], "stack.ready");
    assert!(
        catalog[0]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "nothing_reachable")
    );
}

#[test]
fn issue_14_init_writes_a_target_that_loads_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let init = |extra: &[&str]| {
        let mut args = vec!["init", "--base-url", "https://app.example", "--out", "t.toml"];
        args.extend_from_slice(extra);
        pillars(&args, dir.path())
    };
    let out = init(&["--otlp-http", "http://10.0.0.5:4318"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("export PILLARS_GRAFANA_TOKEN="),
        "{}",
        text(&out.stdout)
    );
    let written = std::fs::read_to_string(dir.path().join("t.toml")).unwrap();
    let env = pillars::target::Env::from_pairs([("PILLARS_GRAFANA_TOKEN", "a-token-value")]);
    let target = pillars::target::Target::from_file(&dir.path().join("t.toml"), &env).unwrap();
    assert_eq!(target.grafana.unwrap().url.as_str(), "https://app.example/grafana");
    assert_eq!(target.otlp_traces.unwrap().as_str(), "http://10.0.0.5:4318/v1/traces");

    std::fs::write(dir.path().join("t.toml"), "name = \"mine\"\n").unwrap();
    let out = init(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("exists; pass --force"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("t.toml")).unwrap(),
        "name = \"mine\"\n"
    );
    let out = init(&["--force"]);
    assert_eq!(out.status.code(), Some(0));
    assert_ne!(
        std::fs::read_to_string(dir.path().join("t.toml")).unwrap(),
        written,
        "no --otlp-http this time"
    );
}

#[test]
fn issue_14_the_fault_list_keeps_its_columns() {
    for columns in ["80", "120"] {
        let out = Command::new(env!("CARGO_BIN_EXE_pillars"))
            .args(["sim", "--help"])
            .env("COLUMNS", columns)
            .output()
            .unwrap();
        let help = text(&out.stdout);
        let list = &help[help.find("Faults:").expect("a fault list")..];
        let width = columns.parse::<usize>().unwrap().min(100);
        let column = list.lines().nth(1).unwrap().find("ratio").expect("a description");
        for line in list.lines().filter(|l| !l.is_empty() && !l.ends_with(':')) {
            assert!(line.chars().count() <= width, "wider than {width}: {line:?}");
            let starts = line.len() - line.trim_start().len();
            assert!(
                starts == 2 || starts == column,
                "a line neither starts a row nor continues its description: {line:?}"
            );
        }
    }
}

#[test]
fn sim_serves_until_interrupted_and_prints_a_valid_target() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn(
        &["sim", "--fault", "delay_ms=10", "--write-target", "sim.toml"],
        dir.path(),
    );
    let target_file = dir.path().join("sim.toml");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !target_file.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    // The printed target is a valid target file that reaches the stack.
    let out = pillars(
        &[
            "verify",
            "--target",
            "sim.toml",
            "--only",
            "stack.ready",
            "--report-dir",
            "r",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));

    let code = interrupt(&mut child, Duration::from_secs(10));
    assert_eq!(code, Some(0));
    let output = child.wait_with_output().unwrap();
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("[ingest]") && stdout.contains("delay_ms=10"),
        "{stdout}"
    );
    assert!(text(&output.stderr).contains("stopped"));
}

#[test]
fn the_compose_stack_without_docker_is_one_message_and_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_pillars"))
        .args(["stack", "status"])
        .current_dir(dir.path())
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("needs a Docker engine") && stderr.contains("DOCKER_HOST"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn verify_against_compose_without_docker_says_so_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let report_dir = dir.path().join("out");
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_pillars"))
        .args([
            "verify",
            "--target",
            "compose",
            "--report-dir",
            report_dir.to_str().unwrap(),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("needs a Docker engine"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn load_reports_refusals_and_exits_1_over_the_error_gate() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.toml"),
        "name = \"t\"\nduration = \"2s\"\n[traffic.otlp_logs]\nrate = 200\n[gates]\nmax_error_ratio = 0.1\n",
    )
    .unwrap();
    let out = pillars(
        &[
            "load",
            "--scenario",
            "s.toml",
            "--sim-fault",
            "reject_ratio=0.5",
            "--report-dir",
            "out",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}{}", text(&out.stdout), text(&out.stderr));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/load.json")).unwrap()).unwrap();
    let logs = &report["kinds"]["otlp_logs"];
    assert!(logs["refused_units"].as_u64().unwrap() > 0, "{logs}");
    assert!((logs["error_ratio"].as_f64().unwrap() - 0.5).abs() < 0.1, "{logs}");
    // Every gate is in the record with its figure and limit; the broken one
    // is the first that did not hold.
    let gates = report["gates"].as_array().expect("gates");
    let first = gates
        .iter()
        .find(|g| g["held"] == false)
        .expect("a gate that did not hold");
    assert_eq!(
        (&first["gate"], &first["kind"]),
        (&"error_ratio".into(), &"otlp_logs".into()),
        "{first}"
    );
    assert_eq!(report["broken"]["gate"], "error_ratio");
    assert!(
        gates.iter().any(|g| g["gate"] == "completeness" && g["held"] == true),
        "{gates:?}"
    );
    let stdout = text(&out.stdout);
    assert!(stdout.contains("✗ error_ratio"), "{stdout}");

    std::fs::write(
        dir.path().join("bad.toml"),
        "name = \"t\"\nduration = \"2s\"\n[traffic.otlp_logz]\nrate = 1\n",
    )
    .unwrap();
    let out = pillars(&["load", "--scenario", "bad.toml"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("otlp_logz"), "{}", text(&out.stderr));
}

/// What an interrupted `load` or `capacity` run left: its JSON record,
/// its report page and its stdout.
struct Interrupted {
    record: serde_json::Value,
    html: String,
    stdout: String,
}

/// Runs `pillars <command>` on `scenario`, presses Ctrl-C after `after`,
/// and expects exit 130 within 15 s with `file` and report.html written.
fn interrupted(command: &str, scenario: &str, after: Duration, file: &str) -> Interrupted {
    stopped(&[command], scenario, after, "INT", Duration::from_secs(15), file)
}

/// Runs `pillars <args> --scenario … --report-dir r`, sends `signal` after
/// `after`, and expects its exit code (130 for INT, 143 for TERM) within
/// `within`, with `file` and report.html written whole.
fn stopped(
    args: &[&str],
    scenario: &str,
    after: Duration,
    signal_name: &str,
    within: Duration,
    file: &str,
) -> Interrupted {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("scenario.toml"), scenario).unwrap();
    let args = [args, &["--scenario", "scenario.toml", "--report-dir", "r"]].concat();
    let mut child = spawn(&args, dir.path());
    std::thread::sleep(after);
    let code = signal(&mut child, signal_name, within);
    let output = child.wait_with_output().unwrap();
    let want = if signal_name == "TERM" { 143 } else { 130 };
    assert_eq!(code, Some(want), "{}", text(&output.stderr));
    let read = |name: &str| std::fs::read_to_string(dir.path().join("r").join(name)).unwrap();
    let run = Interrupted {
        record: serde_json::from_str(&read(file)).unwrap(),
        html: read("report.html"),
        stdout: text(&output.stdout),
    };
    assert_eq!(run.record["interrupted"], true, "{}", run.record);
    assert!(run.html.contains("interrupted"));
    run
}

/// Ctrl-C stops a load run, goose users included, and still writes its
/// report, marked interrupted.
#[test]
fn issue_6_load_stops_on_sigint_with_a_partial_report() {
    let run = interrupted(
        "load",
        "name = \"long\"\nduration = \"60s\"\n[traffic.backend_requests]\nrate = 5\n[traffic.otlp_traces]\nrate = 100\n",
        Duration::from_secs(3),
        "load.json",
    );
    let record = &run.record;
    assert!(record["duration_secs"].as_f64().unwrap() < 30.0, "{record}");
    assert!(
        record["kinds"]["backend_requests"]["accepted_units"].as_u64().unwrap() > 0,
        "{record}"
    );
    assert!(run.html.contains("<svg"));
    assert!(run.stdout.contains("(interrupted)"));
}

/// Ctrl-C ends a capacity search with the steps it finished, in both files.
#[test]
fn issue_6_capacity_stops_on_sigint_with_the_steps_so_far() {
    let run = interrupted(
        "capacity",
        "name = \"ramp\"\n[traffic.otlp_traces]\nrate = 100\n[search]\nmax_steps = 8\nstep_duration = \"2s\"\n",
        Duration::from_secs(5),
        "capacity.json",
    );
    let steps = run.record["steps"].as_array().unwrap();
    assert!((1..8).contains(&steps.len()), "{}", run.record);
}

/// SIGTERM (a cancelled CI job, a stopped container) stops a load run like
/// Ctrl-C, with exit 143 and its report written whole.
#[test]
fn issue_10_sigterm_stops_load_with_exit_143_and_a_whole_report() {
    let run = stopped(
        &["load"],
        "name = \"long\"\nduration = \"60s\"\n[traffic.otlp_traces]\nrate = 100\n",
        Duration::from_secs(3),
        "TERM",
        Duration::from_secs(15),
        "load.json",
    );
    assert!(run.record["duration_secs"].as_f64().unwrap() < 30.0, "{}", run.record);
}

/// Ctrl-C while load winds down (its last markers still being read back,
/// made slow here) does not wait for them: the report is written at once.
#[test]
fn issue_10_ctrl_c_during_the_wind_down_still_writes_the_report() {
    let started = Instant::now();
    let run = stopped(
        &["load", "--sim-fault", "delay_ms=20000"],
        "name = \"short\"\nduration = \"2s\"\n[traffic.otlp_traces]\nrate = 50\n[gates]\np99_ingest_latency = \"30s\"\n",
        Duration::from_secs(4),
        "INT",
        Duration::from_secs(5),
        "load.json",
    );
    assert!(started.elapsed() < Duration::from_secs(12), "{:?}", started.elapsed());
    assert!(run.stdout.contains("(interrupted)"), "{}", run.stdout);
}

/// SIGTERM during verify: exit 143 and a valid, partial run.json.
#[test]
fn issue_10_sigterm_stops_verify_with_a_valid_partial_report() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn(&["verify", "--report-dir", "r"], dir.path());
    std::thread::sleep(Duration::from_secs(3));
    let code = signal(&mut child, "TERM", Duration::from_secs(15));
    let output = child.wait_with_output().unwrap();
    assert_eq!(code, Some(143), "{}", text(&output.stderr));
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("r/run.json")).unwrap()).unwrap();
    assert_eq!(run["interrupted"], true, "{run}");
    assert!(
        !std::fs::read_to_string(dir.path().join("r/junit.xml"))
            .unwrap()
            .is_empty()
    );
}
