//! `pillars load`: a scenario's traffic against a ready target, watched
//! (ingest markers, memory headroom, live rates), then `load.json` and
//! `report.html`. Exits 1 when a gate broke, 3 when a pillar could not be
//! judged at all, 130/143 when a signal stopped it.
//!
//! Uses: load, report, target, commands::prepared, console, env.

use std::io::Write;

use crate::commands::prepared::{RunIdentity, start_load, test_double, write_report};
use crate::console::{Console, printable};
use crate::env::Env;
use crate::error::RunError;
use crate::exit;
use crate::load::progress::Progress;
use crate::load::scenario::Scenario;
use crate::report::{LoadReport, Report, terminal};
use crate::target::TargetChoice;

/// A load run: the scenario, against which target, as which run.
#[derive(Debug)]
pub struct LoadPlan {
    pub scenario: Scenario,
    pub target: TargetChoice,
    pub run: RunIdentity,
}

pub(super) async fn run(plan: LoadPlan, env: &Env, console: &mut Console) -> Result<u8, RunError> {
    let LoadPlan {
        mut scenario,
        target,
        run,
    } = plan;
    let (dir, opened) = start_load(&mut scenario, &target, &run, env).await?;
    let target = opened.target.clone();
    let _ = writeln!(
        console.err,
        "pillars load: scenario `{}` against `{}`{} for {}; Ctrl-C stops it and writes what it has",
        printable(&scenario.name),
        printable(&target.name),
        test_double(&target),
        humantime::format_duration(scenario.total_duration())
    );
    let progress = Progress::for_stderr(env);
    let outcome = crate::load::run::run(&scenario, target.clone(), run.seed, run.run_id.clone(), &progress).await;
    opened.close().await;
    let report = LoadReport::of(&scenario, &target, run.of(), outcome);
    let _ = write!(console.out, "{}", terminal::load(&report));
    write_report(&dir, Report::Load(&report), console)?;
    Ok(if report.interrupted {
        crate::interrupt::exit_code()
    } else if report.broken.is_some() {
        exit::CHECK_FAILED
    } else if report.undecided() {
        exit::UNREACHABLE
    } else {
        exit::OK
    })
}
