//! Running the Gherkin features against a target: console output tee'd with
//! JUnit, skipped steps failing the run, `@sim` scenarios only on the
//! embedded reference stack, and a closing `N passed, N failed` line.
//!
//! Uses: acceptance::world, target (the choice), env.

use std::io::Write;
use std::path::{Path, PathBuf};

use cucumber::{World as _, WriterExt as _, writer};

use crate::acceptance::world::{PillarsWorld, set_target};
use crate::env::Env;
use crate::target::TargetChoice;

/// Why the features could not be run at all.
#[derive(Debug, thiserror::Error)]
pub enum FeatureRunError {
    #[error("no features directory at `{}`; run from the repository root or pass --features DIR", dir.display())]
    NoFeatures { dir: PathBuf },
    #[error("cannot create the JUnit file `{}`", path.display())]
    Junit {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Scenario counts of a feature run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureSummary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub parse_errors: usize,
}

/// The closing line test runners are read by.
impl std::fmt::Display for FeatureSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} passed, {} failed", self.passed, self.failed)
    }
}

impl FeatureSummary {
    pub fn succeeded(&self) -> bool {
        self.failed == 0 && self.parse_errors == 0 && self.passed > 0
    }
}

/// Runs every feature under `dir` against `target`, with `env` as the
/// environment the scenarios open it with, writing JUnit XML to `junit`
/// when given.
pub async fn run_features(
    dir: &Path,
    target: TargetChoice,
    env: Env,
    junit: Option<&Path>,
) -> Result<FeatureSummary, FeatureRunError> {
    if !dir.is_dir() {
        return Err(FeatureRunError::NoFeatures { dir: dir.to_owned() });
    }
    let on_sim = matches!(target, TargetChoice::Sim(_));
    set_target(target, env);
    let junit_out: Box<dyn Write> = match junit {
        Some(path) => Box::new(std::fs::File::create(path).map_err(|source| FeatureRunError::Junit {
            path: path.to_owned(),
            source,
        })?),
        None => Box::new(std::io::sink()),
    };
    let writer = writer::Basic::raw(std::io::stdout(), writer::Coloring::Auto, 0)
        .tee::<PillarsWorld, _>(
            JUnitQuiet(writer::JUnit::raw(junit_out, 0))
                .discard_stats_writes()
                .discard_arbitrary_writes(),
        )
        .normalized()
        .summarized();
    let result = PillarsWorld::cucumber()
        .with_writer(writer)
        .with_cli(cucumber::cli::Opts::<_, _, _, cucumber::cli::Empty>::default())
        .fail_on_skipped()
        .filter_run(dir, move |_, _, scenario| {
            on_sim || !scenario.tags.iter().any(|t| t == "sim")
        })
        .await;
    let stats = result.scenarios_stats();
    Ok(FeatureSummary {
        passed: stats.passed,
        failed: stats.failed,
        skipped: stats.skipped,
        parse_errors: cucumber::writer::Stats::parsing_errors(&*result),
    })
}

/// The JUnit writer without command-line options of its own: the runner
/// takes none (its arguments are pillars' or cargo's), and the console
/// writer's colouring options cannot be composed with JUnit's.
struct JUnitQuiet<O: Write>(writer::JUnit<PillarsWorld, O>);

impl<O: Write> cucumber::Writer<PillarsWorld> for JUnitQuiet<O> {
    type Cli = cucumber::cli::Empty;

    async fn handle_event(
        &mut self,
        event: cucumber::parser::Result<cucumber::Event<cucumber::event::Cucumber<PillarsWorld>>>,
        _cli: &Self::Cli,
    ) {
        self.0.handle_event(event, &writer::junit::Cli::default()).await;
    }
}

impl<O: Write> writer::NonTransforming for JUnitQuiet<O> {}
