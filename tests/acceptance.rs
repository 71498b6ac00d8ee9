//! Runs every feature under `features/` against `PILLARS_TARGET` (default:
//! the embedded reference stack), prints `N passed, N failed` and exits
//! non-zero when a scenario failed.

use std::path::Path;
use std::process::ExitCode;

use pillars::verify::TargetChoice;

fn main() -> ExitCode {
    let target_name = std::env::var("PILLARS_TARGET").unwrap_or_else(|_| "sim".to_owned());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let junit = Path::new(env!("CARGO_TARGET_TMPDIR")).join("acceptance-junit.xml");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(async {
        let target = TargetChoice::parse(&target_name, &[], &[])?;
        pillars::acceptance::run_features(&root.join("features"), target, Some(&junit)).await
    });
    match result {
        Ok(summary) => {
            println!("{summary}");
            if summary.succeeded() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
