//! `pillars stack up|down|status`: the Compose stack, after a Docker
//! preflight that answers within seconds.
//!
//! Uses: stack::compose, env (`DOCKER_HOST`), console.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use crate::console::Console;
use crate::env::Env;
use crate::error::RunError;
use crate::exit;
use crate::stack::compose::{ComposeStack, docker_preflight};

/// What to do with the Compose stack of `file`.
#[derive(Debug)]
pub enum StackPlan {
    /// Build and start every service, then wait for each on its health
    /// endpoint, each for up to `per_service`.
    Up { per_service: Duration, file: PathBuf },
    /// Stop every service and remove its volumes.
    Down { file: PathBuf },
    /// The services' state.
    Status { file: PathBuf },
}

pub(super) async fn run(plan: StackPlan, env: &Env, console: &mut Console) -> Result<u8, RunError> {
    let version = docker_preflight(env.docker_host()).await?;
    let _ = writeln!(console.err, "Docker engine {version}");
    match plan {
        StackPlan::Up { per_service, file } => {
            let stack = ComposeStack::new(&file).await?;
            let _ = writeln!(console.err, "starting {}; waiting for each service …", file.display());
            stack.up(per_service).await?;
            let _ = writeln!(
                console.out,
                "the stack is up; verify it with: pillars verify --target compose"
            );
        }
        StackPlan::Down { file } => {
            ComposeStack::new(&file).await?.down().await?;
            let _ = writeln!(console.out, "the stack is down");
        }
        StackPlan::Status { file } => {
            let _ = write!(console.out, "{}", ComposeStack::new(&file).await?.status().await?);
        }
    }
    Ok(exit::OK)
}
