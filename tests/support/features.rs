//! What `tests/acceptance.rs` and `tests/e2e.rs` share: the features
//! directory, a runtime for the run, the closing `N passed, N failed` line
//! and the exit code. Each includes this file (`#[path]`); neither is a
//! test of its own.

use std::fmt::Display;
use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;

use pillars::acceptance::FeatureSummary;

/// `features/` of this repository.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("features")
}

/// Runs `features` to its end on a fresh runtime, prints its closing line
/// (or the error that stopped it), and fails unless every scenario passed.
pub fn run<E: Display>(features: impl Future<Output = Result<FeatureSummary, E>>) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(features) {
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
