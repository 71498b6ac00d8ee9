//! pillars: a load generator and end-to-end verification harness for the
//! Grafana observability stack (Alloy, Mimir, Loki, Tempo, Pyroscope,
//! Grafana) that watches a web app.
//!
//! Data flows one way: `emit` sends synthetic telemetry to the stack,
//! `query` reads it back, `checks` judge with `measure`'s clocks, and
//! `report` renders the outcomes. `stack` stands targets up, including the
//! embedded reference stack. Below them all sit the leaves every layer may
//! use: `http` (the one client, capped reads, the error that says what came
//! back), `wait` (the one polling helper), `clock` (unix time), `ids`,
//! `target`, `secrets`, `console`, `textfile`. See `shared/DESIGN.md` for the module map.
//!
//! On top sit the commands: `cli` parses the command line and resolves it
//! into a plan, `commands` runs it (one file per subcommand), `error` is
//! what a command can end in and `exit` the codes the process ends with.
//! `env` is the one place that reads the environment: [`run`] takes a
//! snapshot once and passes it down.
//!
//! Each module's docs end in a `Uses:` line naming what it builds on; the
//! leaves (`http`, `wait`, `clock`, `ids`, `target`, `env`, `secrets`,
//! `console`, `textfile`, `interrupt`, `exit`) go unnamed.

pub mod acceptance;
pub mod bench;
pub mod canary;
mod check;
pub mod checks;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod console;
pub mod correlation;
pub mod dashboard;
pub mod emit;
pub mod env;
pub mod error;
pub mod exit;
pub mod http;
pub mod ids;
pub mod interrupt;
pub mod lint;
pub mod load;
pub mod measure;
pub mod query;
pub mod report;
pub mod roundtrip;
pub mod secrets;
pub mod stack;
pub mod target;
pub mod textfile;
pub mod wait;

pub use cli::Cli;
pub use console::Console;
pub use error::RunError;

/// Runs a parsed command line with the process environment: what the
/// binary does, and what tests call in-process.
pub async fn run(cli: Cli, console: &mut Console) -> Result<u8, RunError> {
    run_with(cli, &env::Env::from_process(), console).await
}

/// Runs a parsed command line with `env` as the environment: resolves it
/// into a command, then runs it.
pub async fn run_with(cli: Cli, env: &env::Env, console: &mut Console) -> Result<u8, RunError> {
    let command = cli.resolve(env)?;
    commands::run(command, env, console).await
}
