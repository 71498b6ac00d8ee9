//! A load run split into two shards against one reference stack, then
//! merged: each shard sends half the rate with ids of its own (the same
//! `--seed` on both), and `pillars merge` sums the counts, merges the
//! latency histograms exactly, keeps memory side by side and renders the
//! same report. Merging the wrong set of records is a clear error.

use std::path::{Path, PathBuf};

use pillars::measure::latency::LatencyHistogram;
use pillars::stack::sim::SimStack;

use crate::common::{pillars_cli, pillars_command};

const SCENARIO: &str = "name = \"split\"\nduration = \"3s\"\n[traffic.otlp_traces]\nrate = 400\n";

async fn pillars(args: &[&str], dir: &Path) -> (i32, String) {
    pillars_cli(pillars_command().args(args).current_dir(dir).env("NO_COLOR", "1")).await
}

fn record(dir: &Path, name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
}

fn histogram(latency: &serde_json::Value) -> LatencyHistogram {
    let summary: pillars::measure::latency::LatencySummary = serde_json::from_value(latency.clone()).unwrap();
    summary.histogram().unwrap()
}

/// Two shards of one load run, side by side: their records and the dir.
async fn two_shards(sim: &SimStack) -> (tempfile::TempDir, [PathBuf; 2]) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("target.toml"), sim.target_toml()).unwrap();
    std::fs::write(dir.path().join("split.toml"), SCENARIO).unwrap();
    let root = dir.path();
    let shard = |i: u32| {
        let shard = format!("{i}/2");
        let out = format!("shard-{i}");
        async move {
            let args = [
                "load",
                "--scenario",
                "split.toml",
                "--target",
                "target.toml",
                "--seed",
                "42",
                "--shard",
                &shard,
                "--report-dir",
                &out,
            ];
            pillars(&args, root).await
        }
    };
    let ((one, out1), (two, out2)) = tokio::join!(shard(1), shard(2));
    assert_eq!((one, two), (0, 0), "{out1}\n{out2}");
    let dirs = [dir.path().join("shard-1"), dir.path().join("shard-2")];
    (dir, dirs)
}

#[tokio::test]
async fn issue_13_two_shards_merge_into_one_exact_report() {
    let sim = SimStack::start(Default::default()).await.unwrap();
    let (dir, [one, two]) = two_shards(&sim).await;
    let (a, b) = (record(&one, "load.json"), record(&two, "load.json"));
    assert_eq!(a["shard"], serde_json::json!({"index": 1, "count": 2}));
    assert_ne!(a["seed"], b["seed"], "each shard seeds its own ids");

    // Each shard sent half of 400 spans/s.
    for r in [&a, &b] {
        let offered = r["kinds"]["otlp_traces"]["offered_units"].as_f64().unwrap();
        assert!((offered - 600.0).abs() <= 120.0, "a shard offered {offered} of ~600");
    }
    // No shard's ids collided with the other's: every trace sent is its own
    // trace in the stack (load batches of 5-span traces, one per marker).
    let traces: u64 = [&a, &b]
        .iter()
        .map(|r| {
            r["kinds"]["otlp_traces"]["accepted_units"].as_u64().unwrap() / 5
                + r["ingest"]["traces"]["sent"].as_u64().unwrap()
        })
        .sum();
    assert_eq!(sim.trace_counts().traces, traces);

    let (code, output) = pillars(&["merge", "shard-1", "shard-2", "--report-dir", "merged"], dir.path()).await;
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("otlp_traces"), "{output}");
    let merged_dir = dir.path().join("merged");
    let m = record(&merged_dir, "load.json");
    let sum = |path: &[&str]| -> u64 {
        [&a, &b]
            .iter()
            .map(|r| path.iter().fold(*r, |v, k| &v[*k]).as_u64().unwrap())
            .sum()
    };
    for field in ["offered_units", "accepted_units", "refused_units", "bytes_sent"] {
        assert_eq!(
            m["kinds"]["otlp_traces"][field].as_u64().unwrap(),
            sum(&["kinds", "otlp_traces", field]),
            "{field}"
        );
    }
    assert_eq!(
        m["ingest"]["traces"]["sent"].as_u64().unwrap(),
        sum(&["ingest", "traces", "sent"])
    );
    // Latency merged exactly: the merged histogram is both shards' together.
    for (what, path) in [
        ("send", &["kinds", "otlp_traces", "latency_ms"][..]),
        ("ingest", &["ingest", "traces", "latency_ms"][..]),
    ] {
        let at = |r: &serde_json::Value| path.iter().fold(r, |v, k| &v[*k]).clone();
        let mut both = histogram(&at(&a));
        both.merge(&histogram(&at(&b)));
        let merged: pillars::measure::latency::LatencySummary = serde_json::from_value(at(&m)).unwrap();
        assert_eq!(merged, both.summary(), "{what}");
    }
    assert_eq!(m["merged"].as_array().unwrap().len(), 2);
    assert!(m["shard"].is_null());
    // The gates are judged again on the merged figures, by the shards' limits.
    let gates = m["gates"].as_array().expect("merged gates");
    let latency = gates
        .iter()
        .find(|g| g["gate"] == "ingest_latency" && g["pillar"] == "traces")
        .expect("the traces latency gate");
    assert_eq!(latency["p99_ms"], m["ingest"]["traces"]["latency_ms"]["p99"]);
    let shard_limit = a["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["gate"] == "ingest_latency")
        .map(|g| g["limit"].clone());
    assert_eq!(Some(latency["limit"].clone()), shard_limit);
    assert!(gates.iter().all(|g| g["held"] == true), "{gates:?}");
    let containers: Vec<String> = m["timeline"]["memory"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["containers"].as_array().unwrap().iter())
        .map(|c| c["container"].as_str().unwrap().to_owned())
        .collect();
    for shard in ["(shard 1/2)", "(shard 2/2)"] {
        assert!(containers.iter().any(|c| c.ends_with(shard)), "{containers:?}");
    }
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/load.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for r in [&a, &b, &m] {
        let errors: Vec<String> = validator.iter_errors(r).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}");
    }
    let html = std::fs::read_to_string(merged_dir.join("report.html")).unwrap();
    assert!(
        html.contains("<svg") && html.contains("shard 2/2"),
        "the merged page draws both shards"
    );
}

#[tokio::test]
async fn issue_13_merging_the_wrong_records_says_which_and_why() {
    let sim = SimStack::start(Default::default()).await.unwrap();
    let (dir, _) = two_shards(&sim).await;
    let cases: [(&[&str], &str); 4] = [
        (&["merge", "shard-1"], "shard 2/2 missing"),
        (&["merge", "shard-1", "shard-1"], "there twice"),
        (&["merge", "shard-1", "nowhere"], "cannot read `nowhere`"),
        (
            &["merge", "shard-1", "shard-2", "--report-dir", "shard-2"],
            "where shard",
        ),
    ];
    for (args, says) in cases {
        let (code, output) = pillars(args, dir.path()).await;
        assert_eq!(code, 2, "{args:?}: {output}");
        assert!(output.contains(says), "{args:?}: {output}");
    }
    // A shard's own record was not touched by the refused merge.
    assert!(record(&dir.path().join("shard-2"), "load.json")["shard"]["index"] == 2);

    // A whole run is not a shard.
    std::fs::write(dir.path().join("whole.toml"), SCENARIO.replace("3s", "1s")).unwrap();
    let (code, output) = pillars(
        &[
            "load",
            "--scenario",
            "whole.toml",
            "--target",
            "target.toml",
            "--report-dir",
            "whole",
        ],
        dir.path(),
    )
    .await;
    assert_eq!(code, 0, "{output}");
    let (code, output) = pillars(&["merge", "whole", "shard-1", "shard-2"], dir.path()).await;
    assert_eq!(code, 2, "{output}");
    assert!(output.contains("is a whole run, not a shard"), "{output}");
}
