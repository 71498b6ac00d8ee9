//! `pillars verify`: resolve the target and the plan once, create the report
//! files, run the selected checks in catalog order, write the report, and
//! turn the verdicts into an exit code.
//!
//! Uses: target, checks, stack::sim, report, acceptance (feature runs).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use crate::checks::{self, CheckCtx, CheckSettings, CheckSpec, Status, Verdict};
use crate::cli::{Color, VerifyArgs};
use crate::console::Console;
use crate::exit;
use crate::ids::Seed;
use crate::report::{CheckReport, ReportDir, RunReport, TargetReport, Totals, model, terminal};
use crate::run::RunError;
use crate::stack::compose::{ComposeStack, docker_preflight, wait_healthy};
use crate::stack::sim::{Faults, SimOptions, SimStack, SimTarget, Variants};
use crate::target::{Env, Target, TargetKind};

/// Which target a run is against, before anything is started.
#[derive(Debug, Clone)]
pub enum TargetChoice {
    Sim(Box<SimOptions>),
    /// The Compose stack: its target file, and the stack to stand up when
    /// it is not running yet.
    Compose(PathBuf),
    File(PathBuf),
}

impl TargetChoice {
    /// `sim`, `compose`, `aws` or a path; sim faults and variants only go
    /// with `sim`.
    pub fn parse(name: &str, sim_faults: &[String], sim_variants: &[String]) -> Result<TargetChoice, RunError> {
        let choice = match name {
            "sim" => {
                let faults = Faults::parse(sim_faults.iter().map(String::as_str))?;
                let variants = Variants::parse(sim_variants.iter().map(String::as_str))?;
                return Ok(TargetChoice::Sim(Box::new(SimOptions {
                    faults,
                    variants,
                    ..SimOptions::default()
                })));
            }
            "compose" => TargetChoice::Compose(PathBuf::from("compose/target.toml")),
            "aws" => TargetChoice::File(PathBuf::from("infra/target.toml")),
            path => TargetChoice::File(PathBuf::from(path)),
        };
        if !sim_variants.is_empty() {
            return Err(RunError::Usage(format!(
                "--sim-variant only applies to the embedded reference stack, but the target is `{name}`; drop --sim-variant or use --target sim"
            )));
        }
        if !sim_faults.is_empty() {
            return Err(RunError::Usage(format!(
                "--sim-fault only applies to the embedded reference stack, but the target is `{name}`; drop --sim-fault or use --target sim"
            )));
        }
        Ok(choice)
    }

    /// Starts what the choice needs and returns the target; a sim is kept
    /// running for as long as the returned handle lives.
    pub async fn open(&self, env: &Env) -> Result<(Target, Option<SimStack>), RunError> {
        match self {
            TargetChoice::Sim(options) => {
                let sim = SimStack::start(options.as_ref().clone()).await?;
                Ok((sim.target(env)?, Some(sim)))
            }
            TargetChoice::File(path) | TargetChoice::Compose(path) => Ok((Target::from_file(path, env)?, None)),
        }
    }
}

/// Everything a verify run needs, validated.
#[derive(Debug)]
pub struct VerifyPlan {
    pub target: TargetChoice,
    pub checks: Vec<&'static CheckSpec>,
    pub report_dir: PathBuf,
    pub seed: Seed,
    pub run_id: String,
    pub settings: CheckSettings,
    pub color: Color,
    /// Leave a Compose stack this run stood up running afterwards.
    pub keep_stack: bool,
}

impl VerifyPlan {
    pub fn from_args(args: &VerifyArgs) -> Result<VerifyPlan, RunError> {
        let target = TargetChoice::parse(&args.target, &args.sim_faults, &args.sim_variants)?;
        let checks = if args.only.is_empty() {
            checks::CATALOG.iter().collect()
        } else {
            let mut picked = Vec::new();
            for id in &args.only {
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
            // Catalog order, whatever order the flags came in.
            checks::CATALOG
                .iter()
                .filter(|c| picked.iter().any(|p| p.id == c.id))
                .collect()
        };
        let seed = args.seed.map(Seed).unwrap_or_else(Seed::from_time);
        let run_id = run_id(seed);
        let report_dir = args
            .report_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("reports").join(&run_id));
        Ok(VerifyPlan {
            target,
            checks,
            report_dir,
            seed,
            run_id,
            settings: CheckSettings {
                traces: args.traces,
                trace_lookup: args.trace_lookup.into(),
                ..CheckSettings::default()
            },
            color: args.color,
            keep_stack: args.keep_stack,
        })
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

/// Runs the plan and returns the exit code.
pub async fn verify(plan: VerifyPlan, console: &mut Console) -> Result<u8, RunError> {
    let env = Env::from_process();
    // Fail on a bad report path before starting anything.
    let report_dir = ReportDir::create(&plan.report_dir)?;
    let compose = match &plan.target {
        TargetChoice::Compose(target_file) => compose_up(target_file, console).await?,
        _ => None,
    };
    let (target, sim) = plan.target.open(&env).await?;
    let target_report = target_report(&target, sim.as_ref());
    let _ = write!(
        console.err,
        "{}",
        terminal::banner(&target_report, &plan.run_id, plan.seed.0)
    );

    let ctx = CheckCtx::new(Arc::new(target), plan.run_id.clone(), plan.seed, plan.settings.clone());
    let started_at = model::now_rfc3339();
    let mut reports = Vec::with_capacity(plan.checks.len());
    let mut interrupted = false;
    let ctrl_c = crate::interrupt::pressed();
    tokio::pin!(ctrl_c);
    for spec in &plan.checks {
        if interrupted {
            let outcome = checks::Outcome::new(Verdict::Skip("interrupted"), "not run: the run was interrupted");
            reports.push(CheckReport::new(spec, outcome));
            continue;
        }
        let _ = writeln!(console.err, "running {} …", spec.id);
        tokio::select! {
            outcome = spec.run(&ctx) => {
                let _ = writeln!(
                    console.err,
                    "  {} in {:.2}s",
                    outcome.status().as_str(),
                    outcome.duration.as_secs_f64()
                );
                reports.push(CheckReport::new(spec, outcome));
            }
            _ = &mut ctrl_c => {
                interrupted = true;
                let _ = writeln!(console.err, "interrupted: writing a partial report");
                let outcome = checks::Outcome::new(Verdict::Skip("interrupted"), "stopped by a signal (Ctrl-C or SIGTERM) before it finished");
                reports.push(CheckReport::new(spec, outcome));
            }
        }
    }
    if let Some(sim) = sim {
        sim.shutdown().await;
    }
    if let Some(stack) = compose {
        if plan.keep_stack {
            let _ = writeln!(
                console.err,
                "--keep-stack: the Compose stack stays up (pillars stack down)"
            );
        } else if let Err(e) = stack.down().await {
            let _ = writeln!(console.err, "warning: tearing the Compose stack down failed: {e}");
        }
    }

    let report = RunReport {
        schema_version: model::SCHEMA_VERSION,
        run_id: plan.run_id,
        seed: plan.seed.0,
        target: target_report,
        started_at,
        finished_at: model::now_rfc3339(),
        interrupted,
        totals: Totals::of(&reports),
        checks: reports,
    };
    report_dir.write(&report)?;
    let color = match plan.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => console.out_is_color_tty,
    };
    let _ = write!(console.out, "{}", terminal::render(&report, color));
    let _ = writeln!(
        console.out,
        "reports: {}",
        report_dir.path().join(crate::report::dir::RUN_JSON).display()
    );
    Ok(exit_code(&report))
}

/// Stands the Compose stack up when it is not already healthy; returns it
/// when this run started it (and so should stop it).
async fn compose_up(target_file: &std::path::Path, console: &mut Console) -> Result<Option<ComposeStack>, RunError> {
    let docker_host = std::env::var("DOCKER_HOST").ok();
    docker_preflight(docker_host.as_deref()).await?;
    if wait_healthy(std::time::Duration::from_secs(2)).await.is_ok() {
        let _ = writeln!(console.err, "the Compose stack is already up; leaving it as it is");
        return Ok(None);
    }
    let file = target_file
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join("docker-compose.yml");
    let stack = ComposeStack::new(&file).await?;
    let _ = writeln!(console.err, "standing up {} …", file.display());
    if let Err(e) = stack.up(std::time::Duration::from_secs(240)).await {
        let _ = stack.down().await;
        return Err(e.into());
    }
    Ok(Some(stack))
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
