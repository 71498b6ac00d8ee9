//! What a run settles before it starts. Every run (verify, load, capacity)
//! has a seed, a run id derived from it and a report directory, created
//! first so a bad path fails in the first second rather than after the
//! load; load and capacity also check the target is ready before any load
//! is sent, so a stack that is down is one clear message, not a report
//! full of refusals.
//!
//! Uses: ids, target, checks (`stack.ready`), report, stack::sim, console,
//! env.

use std::io::Write;
use std::path::PathBuf;

use crate::checks;
use crate::console::Console;
use crate::env::Env;
use crate::error::RunError;
use crate::ids::Seed;
use crate::load::shard::Shard;
use crate::report::{Report, ReportDir, RunOf};
use crate::target::{Opened, TargetChoice, TargetKind};

/// A run's seed, id and report directory, and the shard it is, if any.
#[derive(Debug, Clone)]
pub struct RunIdentity {
    pub seed: Seed,
    pub run_id: String,
    pub report_dir: PathBuf,
    pub shard: Option<Shard>,
}

impl RunIdentity {
    /// `seed`, or one from the clock (a shard's own, mixed from it); the
    /// run id from it (a shard's ending `-s1of2`); `report_dir`, or
    /// `reports/<run-id>`.
    pub fn new(seed: Option<u64>, report_dir: Option<PathBuf>, shard: Option<Shard>) -> RunIdentity {
        let seed = seed.map(Seed).unwrap_or_else(Seed::from_time);
        let seed = shard.map_or(seed, |s| s.seed(seed));
        let run_id = run_id(seed) + &shard.map(Shard::run_id_suffix).unwrap_or_default();
        let report_dir = report_dir.unwrap_or_else(|| PathBuf::from("reports").join(&run_id));
        RunIdentity {
            seed,
            run_id,
            report_dir,
            shard,
        }
    }
}

impl RunIdentity {
    /// Which run its records are of.
    pub fn of(&self) -> RunOf {
        RunOf {
            seed: self.seed,
            run_id: self.run_id.clone(),
            shard: self.shard,
        }
    }
}

/// `<UTC timestamp>-<4 hex of the seed>`: sorts by time, unique per seed.
pub fn run_id(seed: Seed) -> String {
    let stamp: String = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    format!("{stamp}-{:04x}", seed.0 & 0xffff)
}

/// Everything a load or capacity run does before sending: its report
/// directory (so a bad path fails first), the target opened and found
/// ready, and the scenario's latency gate bound to the target's SLO.
pub(super) async fn start_load(
    scenario: &mut crate::load::scenario::Scenario,
    choice: &TargetChoice,
    run: &RunIdentity,
    env: &Env,
) -> Result<(ReportDir, Opened), RunError> {
    let dir = ReportDir::create(&run.report_dir)?;
    let opened = open_ready(choice, run, env).await?;
    scenario.for_target(opened.target.limits.ingest_slo);
    Ok((dir, opened))
}

/// Opens the target and checks it is ready before any load is sent.
async fn open_ready(choice: &TargetChoice, run: &RunIdentity, env: &Env) -> Result<Opened, RunError> {
    let opened = choice.open(env).await?;
    let target = opened.target.clone();
    let ready = checks::find("stack.ready").expect("stack.ready is in the catalog");
    let ctx = checks::CheckCtx::new(target.clone(), run.run_id.clone(), run.seed, Default::default());
    let outcome = ready.run(&ctx).await;
    match outcome.status() {
        checks::Status::Pass | checks::Status::Skip => Ok(opened),
        status => {
            opened.close().await;
            Err(RunError::NotReady {
                target: crate::console::printable(&target.name).into_owned(),
                origin: origin(&target),
                status,
                summary: outcome.summary,
            })
        }
    }
}

/// ` (path)` of a target file, for messages that name the target; empty
/// for the reference stack.
pub(super) fn origin(target: &crate::target::Target) -> String {
    match &target.kind {
        TargetKind::File(path) => format!(" ({})", path.display()),
        TargetKind::Sim => String::new(),
    }
}

/// ` (the embedded reference stack: …)` for the reference stack, as the
/// verify banner says it; empty for a real target.
pub(super) fn test_double(target: &crate::target::Target) -> &'static str {
    match target.kind {
        TargetKind::Sim => " (the embedded reference stack: an in-process test double, not a deployment)",
        TargetKind::File(_) => "",
    }
}

/// Writes a load or capacity report and says where it went.
pub(super) fn write_report(dir: &ReportDir, report: Report<'_>, console: &mut Console) -> Result<(), RunError> {
    let paths: Vec<String> = dir.write(report)?.iter().map(|p| p.display().to_string()).collect();
    let _ = writeln!(console.out, "report: {}", paths.join(" and "));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_dir_defaults_to_reports_and_the_run_id() {
        let run = RunIdentity::new(Some(0xbeef), None, None);
        assert_eq!(run.seed, Seed(0xbeef));
        assert!(run.run_id.ends_with("-beef"), "{}", run.run_id);
        assert_eq!(run.report_dir, PathBuf::from("reports").join(&run.run_id));
        let run = RunIdentity::new(Some(1), Some("out".into()), None);
        assert_eq!(run.report_dir, PathBuf::from("out"));
        let shard = RunIdentity::new(Some(0xbeef), None, Some(Shard { index: 2, count: 2 }));
        assert!(shard.run_id.ends_with("-s2of2"), "{}", shard.run_id);
        assert_ne!(shard.seed, Seed(0xbeef));
        assert_eq!(shard.report_dir, PathBuf::from("reports").join(&shard.run_id));
    }
}
