//! Runs every feature under `features/` against `PILLARS_TARGET` (default:
//! the embedded reference stack), prints `N passed, N failed` and exits
//! non-zero when a scenario failed.

use std::path::Path;
use std::process::ExitCode;

use pillars::env::Env;
use pillars::target::TargetChoice;

#[path = "support/features.rs"]
mod features;

fn main() -> ExitCode {
    let env = Env::from_process();
    let target = TargetChoice::parse(env.get("PILLARS_TARGET").unwrap_or("sim"));
    let junit = Path::new(env!("CARGO_TARGET_TMPDIR")).join("acceptance-junit.xml");
    features::run(async move { pillars::acceptance::run_features(&features::dir(), target, env, Some(&junit)).await })
}
