//! Dispatch of the subcommands, and the error every command can end in,
//! with the exit code it maps to.
//!
//! Uses: everything public.

use std::io::Write;

use crate::cli::{BenchCommand, Cli, Command, LoadArgs, SimArgs, StackCommand};
use crate::console::Console;
use crate::ids::Seed;
use crate::load::progress::Progress;
use crate::load::scenario::Scenario;
use crate::report::ReportError;
use crate::stack::compose::{ComposeError, ComposeStack, docker_preflight};
use crate::stack::sim::{
    FaroSettings, FaultError, Faults, GrafanaAuth, SimError, SimOptions, SimStack, SimTarget, VariantError, Variants,
};
use crate::target::{Env, TargetError};
use crate::{acceptance, bench, checks, exit, verify};

/// Why a command could not do its job. Each variant says what was tried and
/// what to do; `exit_code` says how the process ends.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Fault(#[from] FaultError),
    #[error(transparent)]
    Variant(#[from] VariantError),
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("{0}")]
    Usage(String),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Bench(#[from] bench::BenchError),
    #[error(transparent)]
    Compose(#[from] ComposeError),
    /// The stack failed `stack.ready` before any load was sent.
    #[error(
        "not loading `{target}`{origin}: stack.ready {}: {summary}; start the stack (pillars stack up, pillars sim) or fix the target file", status.as_str()
    )]
    NotReady {
        target: String,
        /// ` (path)` of a target file, else empty.
        origin: String,
        status: checks::Status,
        summary: String,
    },
}

impl RunError {
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Bench(_) => exit::CHECK_FAILED,
            RunError::Compose(ComposeError::NoDocker { .. }) => exit::UNREACHABLE,
            RunError::Compose(_) => exit::CHECK_FAILED,
            RunError::NotReady { status, .. } if *status == checks::Status::Fail => exit::CHECK_FAILED,
            RunError::NotReady { .. } => exit::UNREACHABLE,
            _ => exit::USAGE,
        }
    }
}

/// Runs one command. Returns the exit code for runs that finished.
pub async fn run(cli: Cli, console: &mut Console) -> Result<u8, RunError> {
    crate::interrupt::install();
    match cli.command {
        Command::Verify(args) => {
            let mut plan = verify::VerifyPlan::from_args(&args)?;
            if let Some(path) = &args.sim_datasources {
                match &mut plan.target {
                    verify::TargetChoice::Sim(options) => options.grafana_datasources = Some(read_provisioning(path)?),
                    verify::TargetChoice::File(_) | verify::TargetChoice::Compose(_) => {
                        return Err(RunError::Usage("--sim-datasources only applies to --target sim".into()));
                    }
                }
            }
            match &args.features {
                Some(dir) => acceptance::run_features_cli(dir, plan.target, console).await,
                None => verify::verify(plan, console).await,
            }
        }
        Command::Sim(args) => serve_sim(args, console).await,
        Command::Checks => {
            for spec in checks::CATALOG {
                let pillar = serde_json::to_value(spec.pillar).unwrap_or_default();
                let _ = writeln!(
                    console.out,
                    "{:<28} {:<12} {}",
                    spec.id,
                    pillar.as_str().unwrap_or_default(),
                    spec.summary
                );
            }
            Ok(exit::OK)
        }
        Command::Stack(command) => stack(command, console).await,
        Command::Load(args) => load(args, console).await,
        Command::Capacity(args) => capacity(args, console).await,
        Command::Bench(BenchCommand::Emit(args)) => {
            let result = bench::emit::run(&args, console).await?;
            let _ = write!(console.out, "{result}");
            Ok(exit::OK)
        }
        Command::Bench(BenchCommand::Load(args)) => {
            let result = bench::load::run(&args, console).await?;
            let _ = write!(console.out, "{result}");
            Ok(exit::OK)
        }
    }
}

async fn stack(command: StackCommand, console: &mut Console) -> Result<u8, RunError> {
    let docker_host = std::env::var("DOCKER_HOST").ok();
    let version = docker_preflight(docker_host.as_deref()).await?;
    let _ = writeln!(console.err, "Docker engine {version}");
    match command {
        StackCommand::Up { per_service, file } => {
            let stack = ComposeStack::new(&file).await?;
            let _ = writeln!(console.err, "starting {}; waiting for each service …", file.display());
            stack.up(per_service).await?;
            let _ = writeln!(
                console.out,
                "the stack is up; verify it with: pillars verify --target compose"
            );
        }
        StackCommand::Down { file } => {
            ComposeStack::new(&file).await?.down().await?;
            let _ = writeln!(console.out, "the stack is down");
        }
        StackCommand::Status { file } => {
            let _ = write!(console.out, "{}", ComposeStack::new(&file).await?.status().await?);
        }
    }
    Ok(exit::OK)
}

/// What `load` and `capacity` settle before they start: the target, the
/// seed and run id, and the report files, created so a bad path fails in
/// the first second rather than after the load.
struct LoadRun {
    choice: verify::TargetChoice,
    seed: Seed,
    run_id: String,
    json_path: std::path::PathBuf,
    html_path: std::path::PathBuf,
}

impl LoadRun {
    fn prepare(args: &LoadArgs, file: &str) -> Result<LoadRun, RunError> {
        let choice = verify::TargetChoice::parse(&args.target, &args.sim_faults, &args.sim_variants)?;
        let seed = args.seed.map(Seed).unwrap_or_else(Seed::from_time);
        let run_id = verify::run_id(seed);
        let dir = args
            .report_dir
            .clone()
            .unwrap_or_else(|| std::path::PathBuf::from("reports").join(&run_id));
        let (json_path, html_path) = (dir.join(file), dir.join("report.html"));
        crate::report::dir::prepare(&dir)?;
        Ok(LoadRun {
            choice,
            seed,
            run_id,
            json_path,
            html_path,
        })
    }

    /// Opens the target and checks it is ready before any load is sent, so
    /// a stack that is down is one clear message, not a report full of
    /// refusals.
    async fn open(&self) -> Result<(std::sync::Arc<crate::target::Target>, Option<SimStack>), RunError> {
        let (target, sim) = self.choice.open(&Env::from_process()).await?;
        let target = std::sync::Arc::new(target);
        let ready = checks::find("stack.ready").expect("stack.ready is in the catalog");
        let ctx = checks::CheckCtx::new(target.clone(), self.run_id.clone(), self.seed, Default::default());
        let outcome = ready.run(&ctx).await;
        match outcome.status() {
            checks::Status::Pass | checks::Status::Skip => Ok((target, sim)),
            status => {
                if let Some(sim) = sim {
                    sim.shutdown().await;
                }
                let origin = match &target.kind {
                    crate::target::TargetKind::File(path) => format!(" ({})", path.display()),
                    crate::target::TargetKind::Sim => String::new(),
                };
                Err(RunError::NotReady {
                    target: crate::console::printable(&target.name).into_owned(),
                    origin,
                    status,
                    summary: outcome.summary,
                })
            }
        }
    }

    /// Writes the JSON record and the HTML page rendered from it.
    fn write(&self, json: String, html: String, console: &mut Console) -> Result<(), RunError> {
        for (path, text) in [(&self.json_path, json), (&self.html_path, html)] {
            crate::report::dir::write_atomic(path, &text)?;
        }
        let _ = writeln!(
            console.out,
            "report: {} and {}",
            self.json_path.display(),
            self.html_path.display()
        );
        Ok(())
    }
}

async fn load(args: LoadArgs, console: &mut Console) -> Result<u8, RunError> {
    let scenario = Scenario::from_file(&args.scenario).map_err(|e| RunError::Usage(e.to_string()))?;
    let run = LoadRun::prepare(&args, "load.json")?;
    let (target, sim) = run.open().await?;
    let _ = writeln!(
        console.err,
        "pillars load: scenario `{}` against `{}` for {}; Ctrl-C stops it and writes what it has",
        crate::console::printable(&scenario.name),
        crate::console::printable(&target.name),
        humantime::format_duration(scenario.total_duration())
    );
    let progress = Progress::for_stderr();
    let report = crate::load::run::run(&scenario, target, run.seed, run.run_id.clone(), &progress).await;
    if let Some(sim) = sim {
        sim.shutdown().await;
    }
    let json = serde_json::to_string_pretty(&report).expect("the load report serializes");
    let _ = write!(console.out, "{}", crate::load::run::render(&report));
    run.write(json, crate::report::load_html::render_load(&report), console)?;
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

async fn capacity(args: LoadArgs, console: &mut Console) -> Result<u8, RunError> {
    let scenario = Scenario::from_file(&args.scenario).map_err(|e| RunError::Usage(e.to_string()))?;
    if scenario.search.is_none() {
        return Err(RunError::Usage(format!(
            "scenario `{}` has no [search] section; see scenarios/capacity.toml",
            args.scenario.display()
        )));
    }
    let run = LoadRun::prepare(&args, "capacity.json")?;
    let (target, sim) = run.open().await?;
    let _ = writeln!(
        console.err,
        "pillars capacity: scenario `{}` against `{}`; Ctrl-C ends the search with the steps so far",
        crate::console::printable(&scenario.name),
        crate::console::printable(&target.name)
    );
    let progress = Progress::for_stderr();
    let err = &mut console.err;
    let report = crate::load::capacity::search(&scenario, target, run.seed, run.run_id.clone(), &progress, |step| {
        let line = crate::load::capacity::step_line(step);
        if progress.is_hidden() {
            let _ = writeln!(err, "{line}");
        } else {
            progress.println(&line);
        }
    })
    .await
    .map_err(RunError::Usage)?;
    if let Some(sim) = sim {
        sim.shutdown().await;
    }
    let json = serde_json::to_string_pretty(&report).expect("the capacity report serializes");
    let _ = writeln!(console.out, "{}", crate::console::printable(&report.recommendation));
    run.write(json, crate::report::load_html::render_capacity(&report), console)?;
    Ok(if report.interrupted {
        crate::interrupt::exit_code()
    } else {
        exit::OK
    })
}

/// Reads a Grafana datasource provisioning file.
pub fn read_provisioning(path: &std::path::Path) -> Result<String, RunError> {
    crate::textfile::read(path).map_err(|e| {
        RunError::Usage(format!(
            "cannot read the datasource provisioning file `{}`: {e}; pass a Grafana provisioning YAML",
            path.display()
        ))
    })
}

async fn serve_sim(args: SimArgs, console: &mut Console) -> Result<u8, RunError> {
    let faults = Faults::parse(args.faults.iter().map(String::as_str))?;
    let variants = Variants::parse(args.variants.iter().map(String::as_str))?;
    let grafana_auth = match &args.grafana_token_env {
        None => GrafanaAuth::default(),
        Some(var) => GrafanaAuth {
            token: Some(
                std::env::var(var)
                    .map_err(|_| {
                        RunError::Usage(format!(
                            "--grafana-token-env names `{var}`, which is not set; export {var}=<token>"
                        ))
                    })
                    .inspect(|token| crate::secrets::register(token))?,
            ),
            basic: None,
        },
    };
    if !(args.faro_rate > 0.0 && args.faro_burst >= 1.0) {
        return Err(RunError::Usage(
            "--faro-rate must be above 0 and --faro-burst at least 1".into(),
        ));
    }
    let sim = SimStack::start(SimOptions {
        faults,
        variants,
        search_idle: args.search_idle,
        grafana_datasources: args.grafana_datasources.as_deref().map(read_provisioning).transpose()?,
        grafana_auth,
        grafana_token_env: args.grafana_token_env.clone(),
        grafana_sub_path: args.grafana_sub_path.clone(),
        faro: FaroSettings {
            rate: args.faro_rate,
            burst: args.faro_burst,
            ..FaroSettings::default()
        },
        ..SimOptions::default()
    })
    .await?;
    // Validate what we print, the same way a user's copy will be loaded.
    sim.target(&Env::from_process())?;
    let toml = sim.target_toml();
    if let Some(path) = &args.write_target {
        std::fs::write(path, &toml).map_err(|source| RunError::Io {
            what: format!("cannot write the target file `{}`", path.display()),
            source,
        })?;
    }
    let _ = write!(console.out, "{toml}");
    let _ = console.out.flush();
    let _ = writeln!(
        console.err,
        "serving the embedded reference stack (a test double, not a deployment); Ctrl-C stops it"
    );
    crate::interrupt::pressed().await;
    let counts = sim.trace_counts();
    sim.shutdown().await;
    let _ = writeln!(
        console.err,
        "stopped; received {} span(s) in {} export request(s)",
        counts.spans_received, counts.export_requests
    );
    Ok(exit::OK)
}
