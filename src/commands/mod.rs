//! The subcommands, as peers. Each file takes one resolved plan — plain
//! library types, built from the command line by `cli` — and the
//! environment snapshot, and returns the exit code of a run that finished
//! or the [`RunError`] it ended in. [`run`] is the one place that picks the
//! command.
//!
//! - `verify`: the catalog checks (or the Gherkin features) against a target;
//! - `load`, `capacity`: a watched load scenario, a capacity search; both
//!   start from what `prepared` settles (report files, a ready target);
//! - `canary`: a probe per pillar every interval, served as `/metrics`;
//! - `sim`: the embedded reference stack in the foreground;
//! - `stack`: the Compose stack up, down, status;
//! - `merge`: the reports of a split run's shards, as one;
//! - `bench`: the harness's own throughput;
//! - `checks`: the catalog listing;
//! - `lint`: static rules over a deployment's files.
//!
//! `prepared` also holds what every run settles first: its seed, run id and
//! report directory.
//!
//! Uses: everything below it — target, checks, stack, load, report,
//! acceptance, bench, console, env, error, exit.

mod bench;
mod canary;
mod capacity;
mod checks;
mod diff;
mod init;
mod lint;
mod load;
mod merge;
mod prepared;
mod sim;
mod stack;
mod verify;

pub use bench::BenchPlan;
pub use canary::CanaryPlan;
pub use capacity::{CapacityPlan, require_search};
pub use diff::DiffPlan;
pub use init::InitPlan;
pub use lint::{LintFormat, LintPlan};
pub use load::LoadPlan;
pub use merge::MergePlan;
pub use prepared::{RunIdentity, run_id};
pub use sim::SimPlan;
pub use stack::StackPlan;
pub use verify::{VerifyPlan, exit_code, select_checks, target_report};

use crate::console::Console;
use crate::env::Env;
use crate::error::RunError;

/// A command, resolved and validated: what the binary was asked to do.
#[derive(Debug)]
pub enum Command {
    Verify(VerifyPlan),
    Sim(SimPlan),
    Checks {
        /// As JSON rather than a table.
        json: bool,
    },
    Bench(BenchPlan),
    Load(LoadPlan),
    Capacity(CapacityPlan),
    Canary(CanaryPlan),
    Merge(MergePlan),
    Diff(DiffPlan),
    Init(InitPlan),
    Stack(StackPlan),
    Lint(LintPlan),
}

/// Runs one command. Returns the exit code for runs that finished.
pub async fn run(command: Command, env: &Env, console: &mut Console) -> Result<u8, RunError> {
    crate::interrupt::install();
    match command {
        Command::Verify(plan) => verify::run(plan, env, console).await,
        Command::Sim(plan) => sim::run(plan, env, console).await,
        Command::Checks { json } => checks::run(json, console),
        Command::Bench(plan) => bench::run(plan, console).await,
        Command::Load(plan) => load::run(plan, env, console).await,
        Command::Capacity(plan) => capacity::run(plan, env, console).await,
        Command::Canary(plan) => canary::run(plan, env, console).await,
        Command::Merge(plan) => merge::run(plan, console),
        Command::Diff(plan) => diff::run(plan, console),
        Command::Init(plan) => init::run(plan, console),
        Command::Stack(plan) => stack::run(plan, env, console).await,
        Command::Lint(plan) => lint::run(plan, console),
    }
}
