//! `pillars diff`: a check that stops passing is a regression (exit 1), the
//! same run twice is none (exit 0), and records of two kinds are a usage
//! error (exit 2).

use std::path::Path;

use crate::common::{pillars_cli, pillars_command};

async fn pillars(args: &[&str], dir: &Path) -> (i32, String) {
    pillars_cli(pillars_command().args(args).current_dir(dir).env("NO_COLOR", "1")).await
}

#[tokio::test]
async fn issue_14_diff_flags_a_check_that_stopped_passing() {
    let dir = tempfile::tempdir().unwrap();
    let verify = |out: &'static str, fault: Option<&'static str>| {
        let mut args = vec![
            "verify",
            "--only",
            "traces.roundtrip",
            "--traces",
            "5",
            "--report-dir",
            out,
        ];
        if let Some(fault) = fault {
            args.extend(["--sim-fault", fault]);
        }
        args
    };
    let (code, output) = pillars(&verify("good", None), dir.path()).await;
    assert_eq!(code, 0, "{output}");
    let (code, output) = pillars(&verify("bad", Some("drop_traces=1")), dir.path()).await;
    assert_eq!(code, 1, "{output}");

    let (code, output) = pillars(&["diff", "good", "bad"], dir.path()).await;
    assert_eq!(code, 1, "{output}");
    let row = output
        .lines()
        .find(|l| l.contains("traces.roundtrip") && l.contains("fail"))
        .unwrap_or_else(|| panic!("no status row: {output}"));
    assert!(row.trim_start().starts_with('✗'), "{row}");
    assert!(output.contains("1 regression(s)"), "{output}");

    // Better is no regression; the same run is none either.
    let (code, output) = pillars(&["diff", "bad", "good"], dir.path()).await;
    assert_eq!(code, 0, "{output}");
    let (code, output) = pillars(&["diff", "good/run.json", "good"], dir.path()).await;
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("no regressions"), "{output}");

    std::fs::create_dir(dir.path().join("empty")).unwrap();
    for (args, says) in [
        (&["diff", "good", "empty"][..], "holds no run.json"),
        (&["diff", "good", "nowhere"][..], "cannot read `nowhere`"),
        (&["diff", "good", "bad", "--threshold=-1"][..], "not a share"),
    ] {
        let (code, output) = pillars(args, dir.path()).await;
        assert_eq!(code, 2, "{args:?}: {output}");
        assert!(output.contains(says), "{args:?}: {output}");
    }
}
