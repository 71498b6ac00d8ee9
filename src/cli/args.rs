//! The command line, as clap reads it: parsing only. `cli::plan` turns it
//! into the validated plans of `commands`.
//!
//! The flags every run against a target takes (`--target`, `--report-dir`,
//! `--seed`, `--sim-fault`, `--sim-variant`) are one struct, [`RunArgs`],
//! flattened into `verify`, `load` and `capacity`; each command words their
//! help for what it writes (`mut_arg`).
//!
//! Uses: checks (trace lookups), stack::sim (fault and variant lists).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::checks::{TraceLookup, TransportChoice};

const ABOUT: &str = "Load generator and end-to-end verifier for the Grafana observability stack \
(Alloy, Mimir, Loki, Tempo, Pyroscope, Grafana).";

const LONG_ABOUT: &str = "Load generator and end-to-end verifier for the Grafana observability stack \
(Alloy, Mimir, Loki, Tempo, Pyroscope, Grafana).

pillars sends synthetic telemetry through the collector, reads it back from each store (directly \
or through Grafana's datasource proxy), and says whether the stack works, how fast data becomes \
queryable, and how much of it arrived.

Exit codes: 0 all checks passed, 1 a check failed (the stack is wrong), 2 usage or configuration \
error, 3 the target could not be reached, 130 interrupted.";

#[derive(Debug, Parser)]
#[command(name = "pillars", version, about = ABOUT, long_about = LONG_ABOUT)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Verify a stack: send telemetry, read it back, judge each check and
    /// write run.json, junit.xml and report.html.
    Verify(VerifyArgs),
    /// Serve the embedded reference stack in the foreground and print the
    /// target file that points at it. Ctrl-C stops it.
    Sim(SimArgs),
    /// List the check catalog: ids, pillars, what passing means, and the
    /// reasons each can give.
    Checks(ChecksArgs),
    /// Measure the harness's own throughput against a loopback sink.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Drive a load scenario (scenarios/*.toml) against a stack, watched:
    /// a marker a second through each pillar, memory headroom, live rates.
    /// Reports what each kind offered, got accepted and got refused, each
    /// pillar's ingest latency, and exits 1 when a gate of the scenario
    /// breaks. Writes load.json and report.html; Ctrl-C writes what it has.
    Load(LoadArgs),
    /// Search for the breaking point: step a scenario's rate up until a gate
    /// (refused share, p99 ingest latency, completeness, memory headroom)
    /// breaks, bisect, and say what it means for the instance. Writes
    /// capacity.json and report.html; Ctrl-C ends it with the steps so far.
    Capacity(LoadArgs),
    /// Probe the stack continuously: every interval one item per pillar
    /// (traces, logs, metrics, profiles) through its round trip, each
    /// judged found, missing (the store answered without it) or undecided
    /// (its write or reads failed), served as OpenMetrics on /metrics for
    /// Prometheus to scrape. Runs until Ctrl-C or --duration; exits 1 when a
    /// probe went missing.
    Canary(CanaryArgs),
    /// Put the reports of a split run's shards (`load --shard 1/2`, …, on
    /// several machines) back together: counts summed, latency histograms
    /// merged exactly, memory side by side. Writes load.json or
    /// capacity.json and report.html, and exits as the run would have.
    Merge(MergeArgs),
    /// Compare two records of one kind (run.json, load.json or
    /// capacity.json; e.g. last night's and tonight's): every figure side
    /// by side with its change, regressions marked. Exits 1 when anything
    /// regressed beyond --threshold.
    Diff(DiffArgs),
    /// Write a commented target file for a real stack: the app behind its
    /// load balancer, Grafana at its sub-path, a service-account token
    /// variable, and which checks need which endpoint.
    Init(Box<InitArgs>),
    /// Stand the Compose stack (compose/docker-compose.yml) up or down, or
    /// show it. Needs a Docker engine (DOCKER_HOST).
    #[command(subcommand)]
    Stack(StackCommand),
    /// Check a deployment's files (Compose, Alloy, Grafana provisioning,
    /// Terraform, CI workflows) for the correlation and routing mistakes
    /// the runtime checks would find after a deploy. Exits 0 clean, 1 with
    /// findings, 2 when an input cannot be read.
    Lint(LintArgs),
}

#[derive(Debug, Subcommand)]
pub enum StackCommand {
    /// Build and start every service, then wait for each on its health
    /// endpoint.
    Up {
        /// How long each service may take to become healthy.
        #[arg(long, default_value = "4m", value_parser = humantime::parse_duration)]
        per_service: std::time::Duration,
        #[arg(long, default_value = "compose/docker-compose.yml")]
        file: PathBuf,
    },
    /// Stop every service and remove its volumes.
    Down {
        #[arg(long, default_value = "compose/docker-compose.yml")]
        file: PathBuf,
    },
    /// The Docker engine's version and the services' state.
    Status {
        #[arg(long, default_value = "compose/docker-compose.yml")]
        file: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lookup {
    /// Trace by id (`/api/traces/<id>`) only.
    ById,
    /// TraceQL search (`/api/search`) only.
    Search,
    /// Both, side by side.
    Both,
}

impl From<Lookup> for TraceLookup {
    fn from(l: Lookup) -> Self {
        match l {
            Lookup::ById => TraceLookup::ById,
            Lookup::Search => TraceLookup::Search,
            Lookup::Both => TraceLookup::Both,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransportArg {
    /// OTLP/HTTP (`ingest.otlp_http`, port 4318) only.
    Http,
    /// OTLP/gRPC (`ingest.otlp_grpc`, port 4317) only.
    Grpc,
    /// Every transport the target names, each reported.
    Both,
}

impl From<TransportArg> for TransportChoice {
    fn from(t: TransportArg) -> Self {
        match t {
            TransportArg::Http => TransportChoice::Http,
            TransportArg::Grpc => TransportChoice::Grpc,
            TransportArg::Both => TransportChoice::Both,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    /// Colour when standard output is a terminal and NO_COLOR is unset.
    Auto,
    Always,
    Never,
}

/// Which stack to run against: shared by every command that opens a target.
#[derive(Debug, Args)]
pub struct StackArgs {
    /// Where the stack lives: `sim` (the embedded reference stack, in this
    /// process), `compose` (compose/target.toml), `aws` (infra/target.toml)
    /// or the path of a target TOML file.
    #[arg(long, env = "PILLARS_TARGET", default_value = "sim")]
    pub target: String,

    /// Turn on a fault of the embedded reference stack, NAME[=VALUE]
    /// (repeatable; `pillars sim --help` lists them). Only with `--target sim`.
    #[arg(long = "sim-fault", value_name = "NAME[=VALUE]")]
    pub sim_faults: Vec<String>,

    /// Reproduce a deployment choice in the embedded reference stack,
    /// NAME=VALUE (repeatable; e.g. `log_export=loki_exporter`, the
    /// deployment's log pipeline; `pillars sim --help` lists them). Only
    /// with `--target sim`.
    #[arg(long = "sim-variant", value_name = "NAME=VALUE")]
    pub sim_variants: Vec<String>,
}

/// The flags of a run against a target, shared by `verify`, `load` and
/// `capacity`. Worded for `verify`; `LoadArgs` rewords them.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub stack: StackArgs,

    /// Directory for run.json, junit.xml and report.html
    /// [default: reports/<run-id>].
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,

    /// Seed every id of the run derives from; reuse a report's seed to
    /// replay it.
    #[arg(long)]
    pub seed: Option<u64>,
}

#[derive(Debug, Args)]
// `--only` is listed right after `--target`, as it always was.
#[command(
    mut_arg("only", |a| a.display_order(1)),
    mut_arg("report_dir", |a| a.display_order(2)),
    mut_arg("seed", |a| a.display_order(3)),
    mut_arg("sim_faults", |a| a.display_order(4)),
    mut_arg("sim_variants", |a| a.display_order(5)),
)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub run: RunArgs,

    /// Run only this check (repeatable); `pillars checks` lists the ids.
    #[arg(long = "only", value_name = "CHECK_ID")]
    pub only: Vec<String>,

    /// Synthetic traces `traces.roundtrip` sends.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub traces: u64,

    /// How `traces.roundtrip` looks traces up.
    #[arg(long, value_enum, default_value_t = Lookup::Both)]
    pub trace_lookup: Lookup,

    /// Which OTLP transports the traces, metrics and logs round trips send
    /// over [default: each signal's protocol in the target, as the
    /// backend's exporter is configured].
    #[arg(long, value_enum)]
    pub transport: Option<TransportArg>,

    /// With `--target sim`: provision Grafana's datasources from this file
    /// (Grafana's provisioning YAML) instead of the built-in one.
    #[arg(long, value_name = "FILE")]
    pub sim_datasources: Option<PathBuf>,

    /// Run the Gherkin features in this directory instead of the catalog
    /// (as `cargo test` does), against the same target.
    #[arg(long, value_name = "DIR")]
    pub features: Option<PathBuf>,

    /// When to colour the summary table.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,

    /// With `--target compose`: leave the stack running if this run stood
    /// it up (it is stopped otherwise, on failure too).
    #[arg(long)]
    pub keep_stack: bool,
}

#[derive(Debug, Args)]
#[command(
    mut_arg("target", |a| a.help("Where the stack lives, as for `verify`")),
    mut_arg("report_dir", |a| a.help(
        "Directory for load.json or capacity.json and report.html [default: reports/<run-id>]"
    )),
    mut_arg("seed", |a| a.help(
        "The run's seed (ids, payloads); replaying it sends the same data [default: from the clock]"
    )),
    mut_arg("sim_faults", |a| a.help("A fault of the embedded reference stack, NAME[=VALUE] (repeatable)")),
    mut_arg("sim_variants", |a| a.help(
        "A deployment variant of the embedded reference stack, NAME=VALUE (repeatable; `pillars sim --help` lists them)"
    )),
)]
pub struct LoadArgs {
    /// The scenario file, e.g. scenarios/smoke.toml.
    #[arg(long, value_name = "FILE")]
    pub scenario: PathBuf,

    /// Run as shard INDEX of COUNT, one copy per machine (e.g. 1/2 and 2/2):
    /// each sends 1/COUNT of every rate with ids of its own; `pillars merge`
    /// puts their reports together.
    #[arg(long, value_name = "INDEX/COUNT")]
    pub shard: Option<crate::load::shard::Shard>,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' report directories (or their load.json/capacity.json),
    /// one per shard.
    #[arg(required = true, value_name = "DIR")]
    pub inputs: Vec<PathBuf>,
    /// Where the merged load.json/capacity.json and report.html go
    /// [default: reports/<run-id>-merged].
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The app's public base URL, the load balancer's (e.g.
    /// https://app.example): /api/*, /health and /collect go through it.
    #[arg(long, value_name = "URL")]
    pub base_url: url::Url,
    /// Grafana's URL with its sub-path [default: <base-url>/grafana].
    #[arg(long, value_name = "URL")]
    pub grafana: Option<url::Url>,
    /// The collector's OTLP/HTTP URL, when pillars can reach it (e.g.
    /// http://10.0.0.5:4318); without it the OTLP round trips are skipped.
    #[arg(long, value_name = "URL")]
    pub otlp_http: Option<url::Url>,
    /// Pyroscope's URL, when pillars can reach it.
    #[arg(long, value_name = "URL")]
    pub pyroscope: Option<url::Url>,
    /// The environment variable that will hold a Grafana service-account
    /// token.
    #[arg(long, value_name = "VAR", default_value = "PILLARS_GRAFANA_TOKEN")]
    pub token_env: String,
    /// The target's name, as reports show it.
    #[arg(long, default_value = "staging")]
    pub name: String,
    /// Where to write it.
    #[arg(long, value_name = "FILE", default_value = "target.toml")]
    pub out: PathBuf,
    /// Replace the file if it exists.
    #[arg(long)]
    pub force: bool,
}

const LINT_AFTER_HELP: &str = "\
Files read (directories are walked; hidden ones, target/ and node_modules/ skipped):
  *.yml, *.yaml        Docker Compose, Grafana datasource provisioning, GitHub workflows,
                       Loki / Tempo / Mimir / Pyroscope configs (recognised by their keys)
  *.alloy, *.alloy.tftpl   Alloy configuration (Terraform interpolations kept opaque)
  *.tf                 grafana_data_source, S3 lifecycle rules, ALB listener rules,
                       ECS task definitions' environment
  *.tftpl              EC2 user-data templates: their NAME=value environment lines
  requirements*.txt, package.json   which SDKs the apps use
  scenarios/*.toml     load scenarios, for the collector's rate limit

Rules: exemplar.label, logs.derived_field, traces_to_logs.tags, traces_to_metrics.tags,
traces_to_profiles.tags, profiles.span_profiles, traces.sampler, collector.route,
collector.cors, collector.rate_limit, storage.prefix, grafana.url, memory.budget,
ci.health_step (see the README for each, with an example finding).

Exit codes: 0 no findings, 1 findings, 2 an input could not be read or parsed (the error
names the file, line and column) or a bad flag.

In GitHub Actions: `pillars lint --format sarif deploy/ > lint.sarif` and upload it with
github/codeql-action/upload-sarif to annotate the pull request.";

#[derive(Debug, Args)]
pub struct CanaryArgs {
    #[command(flatten)]
    pub stack: StackArgs,

    /// Between one round of probes and the next (1s to 1h).
    #[arg(long, default_value = "15s", value_parser = interval)]
    pub interval: std::time::Duration,

    /// Stop after this long, waiting for the probes in flight [default:
    /// run until Ctrl-C or SIGTERM].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<std::time::Duration>,

    /// Stop after this many rounds, waiting for the probes in flight (with
    /// --duration, whichever comes first).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub rounds: Option<u64>,

    /// How long a probe may take to be read back before it counts as
    /// missing [default: the target's max_wait].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub max_wait: Option<std::time::Duration>,

    /// Where to serve /metrics (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:9470")]
    pub listen: std::net::SocketAddr,

    /// Seed the probes' ids derive from [default: from the clock].
    #[arg(long)]
    pub seed: Option<u64>,

    /// Directory for canary.json, written when the run ends
    /// [default: reports/<run-id>].
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
}

/// A probe interval: from a second to an hour.
fn interval(text: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| format!("{text:?}: {e}"))?;
    if (std::time::Duration::from_secs(1)..=std::time::Duration::from_secs(3600)).contains(&d) {
        Ok(d)
    } else {
        Err(format!("{text} is outside 1s..=1h"))
    }
}

#[derive(Debug, Args)]
#[command(after_help = LINT_AFTER_HELP)]
pub struct LintArgs {
    /// Files or directories of the deployment.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
    /// A directory of load scenarios (*.toml) whose Faro rates the
    /// receiver's rate limit must carry; scenarios/ directories under the
    /// paths are read anyway.
    #[arg(long, value_name = "DIR")]
    pub scenarios: Option<PathBuf>,
    /// What to print: a table, lint.json's JSON, SARIF 2.1.0, or JUnit XML.
    #[arg(long, value_enum, default_value_t = LintFormatArg::Table)]
    pub format: LintFormatArg,
    /// Also write lint.json, lint.sarif, junit.xml and report.html here.
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// The memory the instance leaves for containers, in MiB (t3.medium:
    /// 2700), that the Compose services' limits must fit in.
    #[arg(long, value_name = "MIB", default_value_t = 2700)]
    pub memory_budget_mib: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LintFormatArg {
    Table,
    Json,
    Sarif,
    Junit,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The earlier record: a report directory, or its run.json,
    /// load.json or capacity.json.
    #[arg(value_name = "OLD")]
    pub old: PathBuf,
    /// The later record, of the same kind.
    #[arg(value_name = "NEW")]
    pub new: PathBuf,
    /// The share a latency percentile, a rate or a capacity may worsen by
    /// before it counts as a regression (a check that stops passing always
    /// does).
    #[arg(long, default_value_t = 0.2, value_parser = parse_share)]
    pub threshold: f64,
}

fn parse_share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if (0.0..=10.0).contains(&x) => Ok(x),
        _ => Err(format!("`{text}` is not a share from 0 to 10 (0.2 is 20 %)")),
    }
}

#[derive(Debug, Args)]
#[command(after_help = sim_faults_help())]
pub struct SimArgs {
    /// Turn on a fault, NAME[=VALUE] (repeatable); see the list below.
    #[arg(long = "fault", value_name = "NAME[=VALUE]")]
    pub faults: Vec<String>,

    /// Reproduce a deployment choice, NAME=VALUE (repeatable); see the
    /// list below.
    #[arg(long = "variant", value_name = "NAME=VALUE")]
    pub variants: Vec<String>,

    /// How long a trace must be idle before TraceQL search finds it, as
    /// Tempo's ingester flushes it (e.g. "2s", "10s").
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub search_idle: std::time::Duration,

    /// Also write the target file to this path.
    #[arg(long, value_name = "PATH")]
    pub write_target: Option<PathBuf>,

    /// Provision Grafana's datasources from this file (Grafana's
    /// provisioning YAML) instead of the built-in one.
    #[arg(long, value_name = "FILE")]
    pub grafana_datasources: Option<PathBuf>,

    /// Where Grafana is served.
    #[arg(long, default_value = crate::stack::sim::DEFAULT_GRAFANA_SUB_PATH, value_name = "PATH")]
    pub grafana_sub_path: String,

    /// Require this bearer token (read from the named environment variable)
    /// on Grafana's API; the printed target names the same variable.
    #[arg(long, value_name = "VAR")]
    pub grafana_token_env: Option<String>,

    /// The Faro receiver's rate limit: requests per second refilled.
    #[arg(long, default_value_t = 50.0)]
    pub faro_rate: f64,

    /// The Faro receiver's rate limit: burst size.
    #[arg(long, default_value_t = 100.0)]
    pub faro_burst: f64,
}

fn sim_faults_help() -> String {
    // Pre-wrapped at the width clap wraps help at (`COLUMNS`, else the
    // terminal's, at most 100), so that clap leaves the lines alone and each
    // description continues under its own column.
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
        .or_else(|| terminal_size::terminal_size().map(|(w, _)| usize::from(w.0)))
        .unwrap_or(100)
        .min(100);
    let (faults, variants) = (crate::stack::sim::faults::KNOWN, crate::stack::sim::variants::KNOWN);
    // One name column for both lists.
    let names = faults
        .iter()
        .chain(variants)
        .map(|(name, _)| name.len())
        .max()
        .unwrap_or(0);
    format!(
        "Faults:\n{}\nVariants:\n{}",
        aligned(faults, names, width),
        aligned(variants, names, width)
    )
}

/// `name  what` rows with the names in a column `name_width` wide and each
/// `what` wrapped at `width` under its own column.
fn aligned(rows: &[(&str, &str)], name_width: usize, width: usize) -> String {
    let room = width.saturating_sub(name_width + 4).max(30);
    let mut text = String::new();
    for (name, what) in rows {
        let mut line = String::new();
        let mut first = true;
        let mut flush = |line: &mut String, text: &mut String| {
            let label = if first { *name } else { "" };
            text.push_str(&format!("  {label:<name_width$}  {line}\n"));
            line.clear();
            first = false;
        };
        for word in what.split_whitespace() {
            if !line.is_empty() && line.len() + 1 + word.len() > room {
                flush(&mut line, &mut text);
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        flush(&mut line, &mut text);
    }
    text
}

#[derive(Debug, clap::Args)]
pub struct ChecksArgs {
    /// Print the catalog as JSON (id, pillar, summary, reasons), for scripts.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Spans per second through the harness's load path, side by side with a
    /// raw client sending the same pre-encoded bytes, against loopback sinks:
    /// over OTLP/HTTP beside a raw POST, over OTLP/gRPC beside a raw tonic
    /// unary call.
    Emit(BenchEmitArgs),
    /// The load path against a loopback server: HTTP requests/s through
    /// pillars' goose users (traceparent and recording) beside plain goose,
    /// OTLP spans/s over HTTP and gRPC beside raw clients (as `bench emit`),
    /// and this process's peak memory at
    /// 10k spans/s + 1k lines/s + 100 req/s. Build with --release for
    /// representative figures.
    Load(BenchLoadArgs),
}

#[derive(Debug, Args, Clone)]
pub struct BenchLoadArgs {
    /// Seconds each measured HTTP round lasts (whole seconds, goose's run time).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub seconds: u64,
    /// Rounds; each runs the baseline and the harness back to back, and the
    /// median of the rounds' ratios is judged.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub rounds: u32,
    /// goose users in the HTTP rounds.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub users: u64,
    /// Seconds the mixed load runs while memory is sampled.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub mixed_seconds: u64,
}

#[derive(Debug, Args, Clone)]
pub struct BenchEmitArgs {
    /// Seconds each measured round lasts (0.1 to 60, fractions allowed).
    #[arg(long, default_value_t = 3.0, value_parser = round_seconds)]
    pub seconds: f64,
    /// Rounds; each runs the baseline and the harness back to back, and the
    /// median of the rounds' ratios is judged.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub rounds: u32,
    /// Traces per export request.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub batch_traces: u64,
    /// Spans per trace.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub spans_per_trace: u32,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub concurrency: u32,
}

/// A round length in seconds: finite, from 0.1 to 60.
fn round_seconds(text: &str) -> Result<f64, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if (0.1..=60.0).contains(&seconds) {
        Ok(seconds)
    } else {
        Err(format!("{text} is outside 0.1..=60 seconds"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn round_seconds_are_finite_and_bounded() {
        assert_eq!(round_seconds("0.5"), Ok(0.5));
        for bad in ["inf", "NaN", "-1", "0", "61", "soon"] {
            assert!(round_seconds(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
