//! Which target a run is against, before anything is started: `sim` (the
//! embedded reference stack, started in this process), `compose` and `aws`
//! (built-in target files) or the path of a target file; and opening it,
//! with what it needs started (the reference stack, a target's tunnel) and
//! closed after.
//!
//! Uses: target::{model, resolve, error}, env, stack::{sim (the gate to the
//! reference stack), tunnel}.

use std::path::PathBuf;
use std::sync::Arc;

use super::error::TargetError;
use super::model::Target;
use crate::env::Env;
use crate::stack::sim::{SimError, SimOptions, SimStack, SimTarget};
use crate::stack::tunnel::{OpenTunnel, TunnelError};

/// The target file `--target compose` names: the local Docker Compose stack.
pub const COMPOSE_TARGET_FILE: &str = "compose/target.toml";
/// The target file `--target aws` names, rendered from Terraform's outputs.
pub const AWS_TARGET_FILE: &str = "infra/target.toml";
/// What writes [`AWS_TARGET_FILE`]: the laptop's target, Grafana through an
/// SSM tunnel.
pub const AWS_TARGET_COMMAND: &str =
    "terraform -chdir=infra output -raw pillars_laptop_target_toml > infra/target.toml";

/// Which target a run is against, before anything is started.
#[derive(Debug, Clone)]
pub enum TargetChoice {
    /// The embedded reference stack, with its faults and variants.
    Sim(Box<SimOptions>),
    /// The Compose stack: its target file, and the stack to stand up when
    /// it is not running yet.
    Compose(PathBuf),
    /// The AWS deploy: the target file rendered from Terraform's outputs.
    Aws(PathBuf),
    File(PathBuf),
}

/// A target opened for a run, with what it started: close it when the run
/// ends.
#[derive(Debug)]
pub struct Opened {
    pub target: Arc<Target>,
    /// The embedded reference stack, for `sim`.
    pub sim: Option<SimStack>,
    tunnel: Option<OpenTunnel>,
}

impl Opened {
    /// Stops the reference stack and closes the tunnel.
    pub async fn close(self) {
        if let Some(sim) = self.sim {
            sim.shutdown().await;
        }
        if let Some(tunnel) = self.tunnel {
            tunnel.close().await;
        }
    }
}

/// Why a chosen target could not be opened: the reference stack did not
/// start, or the target did not load.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(
        "`{}` does not exist yet: it is rendered from the Terraform outputs; write it with `{AWS_TARGET_COMMAND}` (after `terraform -chdir=infra apply`), or pass --target the path of a target file", path.display()
    )]
    NotRendered { path: PathBuf },
    #[error(transparent)]
    Tunnel(#[from] TunnelError),
}

impl TargetChoice {
    /// `sim`, `compose`, `aws` or the path of a target file. `sim` starts
    /// with no faults and no variants.
    pub fn parse(name: &str) -> TargetChoice {
        match name {
            "sim" => TargetChoice::Sim(Box::default()),
            "compose" => TargetChoice::Compose(PathBuf::from(COMPOSE_TARGET_FILE)),
            "aws" => TargetChoice::Aws(PathBuf::from(AWS_TARGET_FILE)),
            path => TargetChoice::File(PathBuf::from(path)),
        }
    }

    /// Starts what the choice needs (the reference stack, the target's
    /// tunnel) and returns the target with them.
    pub async fn open(&self, env: &Env) -> Result<Opened, OpenError> {
        let (target, sim) = match self {
            TargetChoice::Sim(options) => {
                let sim = SimStack::start(options.as_ref().clone()).await?;
                (sim.target(env)?, Some(sim))
            }
            TargetChoice::Aws(path) if !path.exists() => return Err(OpenError::NotRendered { path: path.clone() }),
            TargetChoice::File(path) | TargetChoice::Compose(path) | TargetChoice::Aws(path) => {
                (Target::from_file(path, env)?, None)
            }
        };
        let tunnel = match &target.tunnel {
            Some(tunnel) => Some(OpenTunnel::open(tunnel, env).await?),
            None => None,
        };
        Ok(Opened {
            target: Arc::new(target),
            sim,
            tunnel,
        })
    }
}
