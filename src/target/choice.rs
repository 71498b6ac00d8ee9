//! Which target a run is against, before anything is started: `sim` (the
//! embedded reference stack, started in this process), `compose` and `aws`
//! (built-in target files) or the path of a target file; and opening it.
//!
//! Uses: target::{model, resolve, error}, env, stack::sim (the gate to the
//! reference stack: starting it, loading the target it prints).

use std::path::PathBuf;

use super::error::TargetError;
use super::model::Target;
use crate::env::Env;
use crate::stack::sim::{SimError, SimOptions, SimStack, SimTarget};

/// The target file `--target compose` names: the local Docker Compose stack.
pub const COMPOSE_TARGET_FILE: &str = "compose/target.toml";
/// The target file `--target aws` names, rendered from Terraform's outputs.
pub const AWS_TARGET_FILE: &str = "infra/target.toml";

/// Which target a run is against, before anything is started.
#[derive(Debug, Clone)]
pub enum TargetChoice {
    /// The embedded reference stack, with its faults and variants.
    Sim(Box<SimOptions>),
    /// The Compose stack: its target file, and the stack to stand up when
    /// it is not running yet.
    Compose(PathBuf),
    File(PathBuf),
}

/// Why a chosen target could not be opened: the reference stack did not
/// start, or the target did not load.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error(transparent)]
    Target(#[from] TargetError),
}

impl TargetChoice {
    /// `sim`, `compose`, `aws` or the path of a target file. `sim` starts
    /// with no faults and no variants.
    pub fn parse(name: &str) -> TargetChoice {
        match name {
            "sim" => TargetChoice::Sim(Box::default()),
            "compose" => TargetChoice::Compose(PathBuf::from(COMPOSE_TARGET_FILE)),
            "aws" => TargetChoice::File(PathBuf::from(AWS_TARGET_FILE)),
            path => TargetChoice::File(PathBuf::from(path)),
        }
    }

    /// Starts what the choice needs and returns the target; a sim is kept
    /// running for as long as the returned handle lives.
    pub async fn open(&self, env: &Env) -> Result<(Target, Option<SimStack>), OpenError> {
        match self {
            TargetChoice::Sim(options) => {
                let sim = SimStack::start(options.as_ref().clone()).await?;
                Ok((sim.target(env)?, Some(sim)))
            }
            TargetChoice::File(path) | TargetChoice::Compose(path) => Ok((Target::from_file(path, env)?, None)),
        }
    }
}
