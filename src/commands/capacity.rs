//! `pillars capacity`: step a scenario's rate up until a gate breaks,
//! bisect, and say what it means for the instance; then `capacity.json`
//! and `report.html`. Ctrl-C ends the search with the steps so far.
//!
//! Uses: load (scenario, capacity search), report, target,
//! commands::prepared, console, env.

use std::io::Write;
use std::path::Path;

use crate::commands::prepared::{RunIdentity, start_load, test_double, write_report};
use crate::console::{Console, printable};
use crate::env::Env;
use crate::error::RunError;
use crate::exit;
use crate::load::progress::Progress;
use crate::load::scenario::Scenario;
use crate::report::{CapacityReport, Report, terminal};
use crate::target::TargetChoice;

/// A capacity search: the scenario (with a `[search]` section), against
/// which target, as which run.
#[derive(Debug)]
pub struct CapacityPlan {
    pub scenario: Scenario,
    pub target: TargetChoice,
    pub run: RunIdentity,
}

/// A capacity search needs the scenario's `[search]` section; `path` is
/// where the scenario was read from.
pub fn require_search(scenario: &Scenario, path: &Path) -> Result<(), RunError> {
    if scenario.search.is_none() {
        return Err(RunError::Usage(format!(
            "scenario `{}` has no [search] section; see scenarios/capacity.toml",
            path.display()
        )));
    }
    Ok(())
}

pub(super) async fn run(plan: CapacityPlan, env: &Env, console: &mut Console) -> Result<u8, RunError> {
    let CapacityPlan {
        mut scenario,
        target,
        run,
    } = plan;
    let (dir, opened) = start_load(&mut scenario, &target, &run, env).await?;
    let target = opened.target.clone();
    let _ = writeln!(
        console.err,
        "pillars capacity: scenario `{}` against `{}`{}; Ctrl-C ends the search with the steps so far",
        printable(&scenario.name),
        printable(&target.name),
        test_double(&target)
    );
    let progress = Progress::for_stderr(env);
    let err = &mut console.err;
    let search = crate::load::capacity::search(
        &scenario,
        target.clone(),
        run.seed,
        run.run_id.clone(),
        &progress,
        |step| {
            let line = terminal::capacity_step(step);
            if progress.is_hidden() {
                let _ = writeln!(err, "{line}");
            } else {
                progress.println(&line);
            }
        },
    )
    .await
    .map_err(RunError::Usage)?;
    opened.close().await;
    let report = CapacityReport::of(&scenario, &target, run.of(), search);
    let _ = writeln!(console.out, "{}", printable(&report.recommendation));
    write_report(&dir, Report::Capacity(&report), console)?;
    Ok(if report.interrupted {
        crate::interrupt::exit_code()
    } else {
        exit::OK
    })
}
