//! `pillars load`: a scenario's traffic against a ready target, watched
//! (ingest markers, memory headroom, live rates), then `load.json` and
//! `report.html`. Exits 1 when a gate broke, 3 when a pillar could not be
//! judged at all, 130/143 when a signal stopped it.
//!
//! Uses: load, report, target, commands::prepared, console, env.

use std::io::Write;

use crate::commands::prepared::{PreparedLoad, RunIdentity};
use crate::console::{Console, printable};
use crate::env::Env;
use crate::error::RunError;
use crate::exit;
use crate::load::progress::Progress;
use crate::load::scenario::Scenario;
use crate::target::TargetChoice;

/// A load run: the scenario, against which target, as which run.
#[derive(Debug)]
pub struct LoadPlan {
    pub scenario: Scenario,
    pub target: TargetChoice,
    pub run: RunIdentity,
}

pub(super) async fn run(plan: LoadPlan, env: &Env, console: &mut Console) -> Result<u8, RunError> {
    let LoadPlan { scenario, target, run } = plan;
    let files = PreparedLoad::prepare(&run, "load.json")?;
    let (target, sim) = files.open(&target, &run, env).await?;
    let _ = writeln!(
        console.err,
        "pillars load: scenario `{}` against `{}` for {}; Ctrl-C stops it and writes what it has",
        printable(&scenario.name),
        printable(&target.name),
        humantime::format_duration(scenario.total_duration())
    );
    let progress = Progress::for_stderr(env);
    let report = crate::load::run::run(&scenario, target, run.seed, run.run_id.clone(), &progress).await;
    if let Some(sim) = sim {
        sim.shutdown().await;
    }
    let json = serde_json::to_string_pretty(&report).expect("the load report serializes");
    let _ = write!(console.out, "{}", crate::load::run::render(&report));
    files.write(json, crate::report::load_html::render_load(&report), console)?;
    Ok(if report.interrupted {
        crate::interrupt::exit_code()
    } else if report.broken.is_some() {
        exit::CHECK_FAILED
    } else if report.ingest.values().any(|i| i.completeness.is_none()) {
        // No gate broke, but a pillar's could not be judged at all.
        exit::UNREACHABLE
    } else {
        exit::OK
    })
}
