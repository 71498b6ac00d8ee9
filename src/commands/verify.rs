//! `pillars verify`: create the report files, open the target (standing the
//! Compose stack up when it is not running), run the selected checks in
//! catalog order, write the report, and turn the verdicts into an exit
//! code. With `--features DIR`, the Gherkin features run instead.
//!
//! Uses: target, checks, stack::{sim, compose}, report, acceptance
//! (feature runs), commands::prepared, console, env.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::checks::{self, CheckCtx, CheckSettings, CheckSpec, Outcome, Status};
use crate::commands::prepared::RunIdentity;
use crate::console::{ColorWhen, Console};
use crate::env::Env;
use crate::error::RunError;
use crate::exit;
use crate::report::run::{SCHEMA_VERSION, now_rfc3339};
use crate::report::{CheckReport, Report, ReportDir, RunReport, TargetReport, Totals, terminal};
use crate::stack::compose::{ComposeStack, docker_preflight, wait_healthy};
use crate::stack::sim::SimStack;
use crate::target::{Target, TargetChoice, TargetKind};

/// Everything a verify run needs, validated.
#[derive(Debug)]
pub struct VerifyPlan {
    pub target: TargetChoice,
    pub checks: Vec<&'static CheckSpec>,
    pub run: RunIdentity,
    pub settings: CheckSettings,
    /// When to colour the summary table.
    pub color: ColorWhen,
    /// Leave a Compose stack this run stood up running afterwards.
    pub keep_stack: bool,
    /// Run the Gherkin features in this directory instead of the catalog.
    pub features: Option<PathBuf>,
}

/// The catalog checks `only` names, in catalog order whatever order they
/// came in; every check when `only` is empty.
pub fn select_checks(only: &[String]) -> Result<Vec<&'static CheckSpec>, RunError> {
    if only.is_empty() {
        return Ok(checks::CATALOG.iter().collect());
    }
    let mut picked = Vec::new();
    for id in only {
        let spec = checks::find(id).ok_or_else(|| {
            let known: Vec<_> = checks::CATALOG.iter().map(|c| c.id).collect();
            RunError::Usage(format!(
                "unknown check `{id}` in --only; known checks: {}",
                known.join(", ")
            ))
        })?;
        if !picked.iter().any(|p: &&CheckSpec| p.id == spec.id) {
            picked.push(spec);
        }
    }
    Ok(checks::CATALOG
        .iter()
        .filter(|c| picked.iter().any(|p| p.id == c.id))
        .collect())
}

pub(super) async fn run(plan: VerifyPlan, env: &Env, console: &mut Console) -> Result<u8, RunError> {
    if let Some(dir) = &plan.features {
        return features(dir, plan.target, env, console).await;
    }
    // Fail on a bad report path before starting anything.
    let report_dir = ReportDir::create(&plan.run.report_dir)?;
    let compose = match &plan.target {
        TargetChoice::Compose(target_file) => compose_up(target_file, env, console).await?,
        _ => None,
    };
    let opened = plan.target.open(env).await?;
    let target_report = target_report(&opened.target, opened.sim.as_ref());
    let _ = write!(
        console.err,
        "{}",
        terminal::banner(&target_report, &plan.run.run_id, plan.run.seed.0)
    );

    let ctx = CheckCtx::new(
        opened.target.clone(),
        plan.run.run_id.clone(),
        plan.run.seed,
        plan.settings.clone(),
    );
    let started_at = now_rfc3339();
    let Ran {
        reports,
        interrupted,
        unreached,
    } = run_checks(&plan.checks, &ctx, console).await;
    let target = opened.target.clone();
    opened.close().await;
    if let Some(stack) = compose {
        compose_down(stack, plan.keep_stack, console).await;
    }

    let report = RunReport {
        schema_version: SCHEMA_VERSION,
        run_id: plan.run.run_id,
        seed: plan.run.seed.0,
        target: target_report,
        started_at,
        finished_at: now_rfc3339(),
        interrupted,
        totals: Totals::of(&reports),
        checks: reports,
    };
    let written = report_dir.write(Report::Run(&report))?;
    let paths: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
    if let Some(summary) = unreached {
        // One message, as `load` gives, instead of a table of connection errors.
        let origin = crate::commands::prepared::origin(&target);
        let _ = writeln!(
            console.err,
            "error: nothing of `{}`{origin} answered: stack.ready {summary}; start the stack \
             (pillars stack up, pillars sim) or fix the target file's URLs; the other checks did not run",
            crate::console::printable(&target.name)
        );
    } else {
        let color = plan.color.decide(console.out_is_terminal, env);
        let _ = write!(console.out, "{}", terminal::render(&report, color, console.out_width));
    }
    let _ = writeln!(console.out, "reports: {}", paths.join(", "));
    Ok(exit_code(&report))
}

/// What `run_checks` ran.
struct Ran {
    reports: Vec<CheckReport>,
    /// A signal stopped the run.
    interrupted: bool,
    /// `stack.ready` reached nothing, so nothing else ran: its summary.
    unreached: Option<String>,
}

/// Runs `specs` one after the other; after a signal the rest are skipped
/// as interrupted, and after a `stack.ready` that reached no component as
/// unreached.
async fn run_checks(specs: &[&'static CheckSpec], ctx: &CheckCtx, console: &mut Console) -> Ran {
    let mut reports = Vec::with_capacity(specs.len());
    let mut interrupted = false;
    let mut unreached = None;
    let ctrl_c = crate::interrupt::pressed();
    tokio::pin!(ctrl_c);
    for spec in specs {
        if interrupted {
            let outcome = Outcome::interrupted("not run: the run was interrupted");
            reports.push(CheckReport::new(spec, outcome));
            continue;
        }
        if unreached.is_some() {
            let outcome = Outcome::unreached("not run: stack.ready reached no component of the target");
            reports.push(CheckReport::new(spec, outcome));
            continue;
        }
        let _ = writeln!(console.err, "running {} …", spec.id);
        tokio::select! {
            outcome = spec.run(ctx) => {
                let _ = writeln!(
                    console.err,
                    "  {} in {:.2}s",
                    outcome.status().as_str(),
                    outcome.duration.as_secs_f64()
                );
                if checks::reached_nothing(&outcome) {
                    unreached = Some(outcome.summary.clone());
                }
                reports.push(CheckReport::new(spec, outcome));
            }
            _ = &mut ctrl_c => {
                interrupted = true;
                let _ = writeln!(console.err, "interrupted: writing a partial report");
                let outcome = Outcome::interrupted("stopped by a signal (Ctrl-C or SIGTERM) before it finished");
                reports.push(CheckReport::new(spec, outcome));
            }
        }
    }
    Ran {
        reports,
        interrupted,
        unreached,
    }
}

/// `pillars verify --features DIR`: the closing `N passed, N failed` line,
/// and exit 1 unless every scenario passed.
async fn features(dir: &Path, target: TargetChoice, env: &Env, console: &mut Console) -> Result<u8, RunError> {
    let summary = crate::acceptance::run_features(dir, target, env.clone(), None).await?;
    let _ = writeln!(console.out, "{summary}");
    Ok(if summary.succeeded() {
        exit::OK
    } else {
        exit::CHECK_FAILED
    })
}

/// The report's account of the target; `sim` is the embedded reference
/// stack the run used, whose faults and variants it names.
pub fn target_report(target: &Target, sim: Option<&SimStack>) -> TargetReport {
    TargetReport {
        name: target.name.clone(),
        kind: match target.kind {
            TargetKind::Sim => "sim".into(),
            TargetKind::File(_) => "file".into(),
        },
        description: target.description.clone(),
        path: match &target.kind {
            TargetKind::File(p) => Some(p.display().to_string()),
            TargetKind::Sim => None,
        },
        endpoints: target.endpoints(),
        sim_faults: sim.map(|s| s.faults().specs()).unwrap_or_default(),
        sim_variants: sim.map(|s| s.variants().specs()).unwrap_or_default(),
    }
}

/// Stands the Compose stack up when it is not already healthy; returns it
/// when this run started it (and so should stop it).
async fn compose_up(target_file: &Path, env: &Env, console: &mut Console) -> Result<Option<ComposeStack>, RunError> {
    docker_preflight(env.docker_host()).await?;
    if wait_healthy(Duration::from_secs(2)).await.is_ok() {
        let _ = writeln!(console.err, "the Compose stack is already up; leaving it as it is");
        return Ok(None);
    }
    let file = target_file
        .parent()
        .unwrap_or(Path::new("."))
        .join("docker-compose.yml");
    let stack = ComposeStack::new(&file).await?;
    let _ = writeln!(console.err, "standing up {} …", file.display());
    if let Err(e) = stack.up(Duration::from_secs(240)).await {
        let _ = stack.down().await;
        return Err(e.into());
    }
    Ok(Some(stack))
}

/// Stops the Compose stack this run stood up, unless `--keep-stack`.
async fn compose_down(stack: ComposeStack, keep_stack: bool, console: &mut Console) {
    if keep_stack {
        let _ = writeln!(
            console.err,
            "--keep-stack: the Compose stack stays up (pillars stack down)"
        );
    } else if let Err(e) = stack.down().await {
        let _ = writeln!(console.err, "warning: tearing the Compose stack down failed: {e}");
    }
}

/// A failed check decides the run (the stack is wrong); otherwise an
/// undecided one makes it "could not decide".
pub fn exit_code(report: &RunReport) -> u8 {
    let has = |s: Status| report.checks.iter().any(|c| c.status == s);
    if has(Status::Fail) {
        exit::CHECK_FAILED
    } else if report.interrupted {
        crate::interrupt::exit_code()
    } else if has(Status::Error) {
        exit::UNREACHABLE
    } else {
        exit::OK
    }
}
