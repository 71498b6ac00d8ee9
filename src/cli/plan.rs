//! From the parsed command line to a resolved [`Command`]: flags checked
//! against each other, input files read (scenarios, provisioning files),
//! the target chosen (not yet opened), the run's seed, id and report
//! directory settled. Nothing is started or written here.
//!
//! Uses: cli::args, commands (the plans), target (the choice), stack::sim
//! (faults, variants, options), load::scenario, checks (settings), bench
//! (settings), env.

use std::path::Path;
use std::time::Duration;

use super::args::{
    BenchCommand, BenchEmitArgs, BenchLoadArgs, CanaryArgs, Cli, Color, Command as Args, LoadArgs, RunArgs, SimArgs,
    StackArgs, StackCommand, VerifyArgs,
};
use crate::checks::{CheckSettings, TransportChoice};
use crate::commands::{
    BenchPlan, CanaryPlan, CapacityPlan, Command, DiffPlan, InitPlan, LintFormat, LintPlan, LoadPlan, MergePlan,
    RunIdentity, SimPlan, StackPlan, VerifyPlan, require_search, select_checks,
};
use crate::console::ColorWhen;
use crate::env::Env;
use crate::error::RunError;
use crate::load::scenario::Scenario;
use crate::load::shard::Shard;
use crate::stack::sim::{FaroSettings, Faults, GrafanaAuth, SimOptions, Variants};
use crate::target::TargetChoice;

impl Cli {
    /// The command this command line asks for, validated. `env` is the
    /// snapshot the run will use (it names `pillars sim`'s token).
    pub fn resolve(self, env: &Env) -> Result<Command, RunError> {
        Ok(match self.command {
            Args::Verify(args) => Command::Verify(verify(args)?),
            Args::Sim(args) => Command::Sim(sim(args, env)?),
            Args::Checks(args) => Command::Checks { json: args.json },
            Args::Bench(BenchCommand::Emit(args)) => Command::Bench(BenchPlan::Emit(bench_emit(args))),
            Args::Bench(BenchCommand::Load(args)) => Command::Bench(BenchPlan::Load(bench_load(args))),
            Args::Load(args) => Command::Load(load(args)?),
            Args::Capacity(args) => Command::Capacity(capacity(args)?),
            Args::Canary(args) => Command::Canary(canary(args)?),
            Args::Init(args) => Command::Init(InitPlan {
                path: args.out,
                name: args.name,
                base_url: args.base_url,
                grafana: args.grafana,
                otlp_http: args.otlp_http,
                pyroscope: args.pyroscope,
                token_env: args.token_env,
                force: args.force,
            }),
            Args::Diff(args) => Command::Diff(DiffPlan {
                old: args.old,
                new: args.new,
                threshold: args.threshold,
            }),
            Args::Merge(args) => Command::Merge(MergePlan {
                inputs: args.inputs,
                report_dir: args.report_dir,
            }),
            Args::Stack(command) => Command::Stack(stack(command)),
            Args::Lint(args) => Command::Lint(lint(args)),
        })
    }
}

fn lint(args: super::args::LintArgs) -> LintPlan {
    use super::args::LintFormatArg as F;
    LintPlan {
        paths: args.paths,
        scenarios: args.scenarios,
        format: match args.format {
            F::Table => LintFormat::Table,
            F::Json => LintFormat::Json,
            F::Sarif => LintFormat::Sarif,
            F::Junit => LintFormat::Junit,
        },
        report_dir: args.report_dir,
        options: crate::lint::Options {
            memory_budget_mib: args.memory_budget_mib,
        },
    }
}

fn bench_emit(args: BenchEmitArgs) -> crate::bench::emit::Settings {
    crate::bench::emit::Settings {
        round: Duration::from_secs_f64(args.seconds),
        rounds: args.rounds,
        batch_traces: args.batch_traces,
        spans_per_trace: args.spans_per_trace,
        concurrency: args.concurrency,
    }
}

fn bench_load(args: BenchLoadArgs) -> crate::bench::load::Settings {
    crate::bench::load::Settings {
        round: Duration::from_secs(args.seconds),
        rounds: args.rounds,
        users: args.users,
        mixed: Duration::from_secs(args.mixed_seconds),
    }
}

impl From<Color> for ColorWhen {
    fn from(c: Color) -> Self {
        match c {
            Color::Auto => ColorWhen::Auto,
            Color::Always => ColorWhen::Always,
            Color::Never => ColorWhen::Never,
        }
    }
}

/// `--target` with the sim's faults and variants, which only go with `sim`.
fn target_choice(run: &RunArgs) -> Result<TargetChoice, RunError> {
    choose_target(&run.stack)
}

/// The target named, with the reference stack's faults and variants,
/// which only it takes.
fn choose_target(stack: &StackArgs) -> Result<TargetChoice, RunError> {
    let (name, faults, variants) = (&stack.target, &stack.sim_faults, &stack.sim_variants);
    let mut choice = TargetChoice::parse(name);
    match &mut choice {
        TargetChoice::Sim(options) => {
            options.faults = Faults::parse(faults.iter().map(String::as_str))?;
            options.variants = Variants::parse(variants.iter().map(String::as_str))?;
        }
        TargetChoice::Compose(_) | TargetChoice::Aws(_) | TargetChoice::File(_) => {
            for (flag, given) in [("--sim-variant", variants), ("--sim-fault", faults)] {
                if !given.is_empty() {
                    return Err(RunError::Usage(format!(
                        "{flag} only applies to the embedded reference stack, but the target is `{name}`; drop {flag} or use --target sim"
                    )));
                }
            }
        }
    }
    Ok(choice)
}

fn canary(args: CanaryArgs) -> Result<CanaryPlan, RunError> {
    if args.max_wait.is_some_and(|w| w.is_zero()) {
        return Err(RunError::Usage("--max-wait must be more than 0s".into()));
    }
    Ok(CanaryPlan {
        target: choose_target(&args.stack)?,
        run: RunIdentity::new(args.seed, args.report_dir, None),
        interval: args.interval,
        duration: args.duration,
        rounds: args.rounds,
        max_wait: args.max_wait,
        listen: args.listen,
    })
}

fn verify(args: VerifyArgs) -> Result<VerifyPlan, RunError> {
    let mut target = target_choice(&args.run)?;
    let checks = select_checks(&args.only)?;
    let run = RunIdentity::new(args.run.seed, args.run.report_dir, None);
    if let Some(path) = &args.sim_datasources {
        match &mut target {
            TargetChoice::Sim(options) => options.grafana_datasources = Some(read_provisioning(path)?),
            TargetChoice::File(_) | TargetChoice::Aws(_) | TargetChoice::Compose(_) => {
                return Err(RunError::Usage("--sim-datasources only applies to --target sim".into()));
            }
        }
    }
    Ok(VerifyPlan {
        target,
        checks,
        run,
        settings: CheckSettings {
            traces: args.traces,
            trace_lookup: args.trace_lookup.into(),
            transport: args.transport.map_or(TransportChoice::Target, Into::into),
            ..CheckSettings::default()
        },
        color: args.color.into(),
        keep_stack: args.keep_stack,
        features: args.features,
    })
}

fn load(args: LoadArgs) -> Result<LoadPlan, RunError> {
    let scenario = read_scenario(&args.scenario, args.shard)?;
    Ok(LoadPlan {
        scenario,
        target: target_choice(&args.run)?,
        run: RunIdentity::new(args.run.seed, args.run.report_dir, args.shard),
    })
}

fn capacity(args: LoadArgs) -> Result<CapacityPlan, RunError> {
    let scenario = read_scenario(&args.scenario, args.shard)?;
    require_search(&scenario, &args.scenario)?;
    Ok(CapacityPlan {
        scenario,
        target: target_choice(&args.run)?,
        run: RunIdentity::new(args.run.seed, args.run.report_dir, args.shard),
    })
}

/// The scenario at `path`, a shard's share of it when the run is one.
fn read_scenario(path: &Path, shard: Option<Shard>) -> Result<Scenario, RunError> {
    let scenario = Scenario::from_file(path).map_err(|e| RunError::Usage(e.to_string()))?;
    Ok(match shard {
        Some(shard) => shard.split(scenario),
        None => scenario,
    })
}

fn sim(args: SimArgs, env: &Env) -> Result<SimPlan, RunError> {
    let faults = Faults::parse(args.faults.iter().map(String::as_str))?;
    let variants = Variants::parse(args.variants.iter().map(String::as_str))?;
    let grafana_auth = match &args.grafana_token_env {
        None => GrafanaAuth::default(),
        Some(var) => {
            let token = env.get(var).ok_or_else(|| {
                RunError::Usage(format!(
                    "--grafana-token-env names `{var}`, which is not set; export {var}=<token>"
                ))
            })?;
            crate::secrets::register(token);
            GrafanaAuth {
                token: Some(token.to_owned()),
                basic: None,
            }
        }
    };
    if !(args.faro_rate > 0.0 && args.faro_burst >= 1.0) {
        return Err(RunError::Usage(
            "--faro-rate must be above 0 and --faro-burst at least 1".into(),
        ));
    }
    let options = SimOptions {
        faults,
        variants,
        search_idle: args.search_idle,
        grafana_datasources: args.grafana_datasources.as_deref().map(read_provisioning).transpose()?,
        grafana_auth,
        grafana_token_env: args.grafana_token_env,
        grafana_sub_path: args.grafana_sub_path,
        faro: FaroSettings {
            rate: args.faro_rate,
            burst: args.faro_burst,
            ..FaroSettings::default()
        },
        ..SimOptions::default()
    };
    Ok(SimPlan {
        options,
        write_target: args.write_target,
    })
}

/// Reads a Grafana datasource provisioning file.
fn read_provisioning(path: &Path) -> Result<String, RunError> {
    crate::textfile::read(path).map_err(|e| {
        RunError::Usage(format!(
            "cannot read the datasource provisioning file `{}`: {e}; pass a Grafana provisioning YAML",
            path.display()
        ))
    })
}

fn stack(command: StackCommand) -> StackPlan {
    match command {
        StackCommand::Up { per_service, file } => StackPlan::Up { per_service, file },
        StackCommand::Down { file } => StackPlan::Down { file },
        StackCommand::Status { file } => StackPlan::Status { file },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn resolve(args: &[&str]) -> Result<Command, RunError> {
        Cli::parse_from([&["pillars"], args].concat()).resolve(&Env::default())
    }

    #[test]
    fn sim_flags_only_go_with_the_sim() {
        let err = resolve(&[
            "load",
            "--scenario",
            "scenarios/smoke.toml",
            "--target",
            "x.toml",
            "--sim-variant",
            "log_export=loki_exporter",
        ])
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("--sim-variant only applies"), "{err}");
        let Command::Verify(plan) = resolve(&["verify", "--sim-fault", "drop_traces=1", "--seed", "7"]).unwrap() else {
            panic!("verify resolves to a verify plan");
        };
        assert!(matches!(&plan.target, TargetChoice::Sim(o) if o.faults.specs() == ["drop_traces=1"]));
        assert_eq!(plan.run.seed.0, 7);
        assert_eq!(plan.checks.len(), crate::checks::CATALOG.len());
    }

    #[test]
    fn the_sim_token_comes_from_the_snapshot() {
        let cli = Cli::parse_from(["pillars", "sim", "--grafana-token-env", "PILLARS_TEST_SIM_TOKEN"]);
        let err = cli.resolve(&Env::default()).unwrap_err().to_string();
        assert!(err.contains("export PILLARS_TEST_SIM_TOKEN=<token>"), "{err}");
        let cli = Cli::parse_from(["pillars", "sim", "--grafana-token-env", "PILLARS_TEST_SIM_TOKEN"]);
        let env = Env::from_pairs([("PILLARS_TEST_SIM_TOKEN", "sim-s3cret")]);
        let Command::Sim(plan) = cli.resolve(&env).unwrap() else {
            panic!("sim resolves to a sim plan");
        };
        assert_eq!(plan.options.grafana_auth.token.as_deref(), Some("sim-s3cret"));
    }
}
