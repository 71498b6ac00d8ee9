//! `pillars sim`: the embedded reference stack in the foreground. Prints
//! the target file that points at it (validated as a user's copy would be
//! loaded), serves until Ctrl-C, and says what it received.
//!
//! Uses: stack::sim, target, console, env.

use std::io::Write;
use std::path::PathBuf;

use crate::console::Console;
use crate::env::Env;
use crate::error::RunError;
use crate::exit;
use crate::stack::sim::{SimOptions, SimStack, SimTarget};

/// The reference stack to serve, and where else to write its target file.
#[derive(Debug)]
pub struct SimPlan {
    pub options: SimOptions,
    pub write_target: Option<PathBuf>,
}

pub(super) async fn run(plan: SimPlan, env: &Env, console: &mut Console) -> Result<u8, RunError> {
    let sim = SimStack::start(plan.options).await?;
    // Validate what we print, the same way a user's copy will be loaded.
    sim.target(env)?;
    let toml = sim.target_toml();
    if let Some(path) = &plan.write_target {
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
