//! The embedded reference stack (crate `pillars-sim`) as a target: the
//! stack itself lives in its own crate, written from the components'
//! contracts and sharing no code with the harness; this module is the one
//! gate to it (how to start and configure it, no codec), and turns the
//! target file it prints into a [`Target`].
//!
//! Uses: target, env, `pillars-sim`.

pub use pillars_sim::{
    DEFAULT_GRAFANA_SUB_PATH, FaroSettings, FaultError, Faults, GrafanaAuth, LogExport, SimError, SimOptions, SimStack,
    VariantError, Variants, cadvisor, faults, variants,
};

use crate::env::Env;
use crate::target::{Target, TargetError, TargetKind};

/// A running reference stack as a target.
pub trait SimTarget {
    /// The target for this stack. From `env` only `PILLARS_TIMEOUT_SCALE`
    /// and the secret its file names are read, never the OTLP endpoint
    /// variables or `DOCKER_HOST`.
    fn target(&self, env: &Env) -> Result<Target, TargetError>;
}

impl SimTarget for SimStack {
    fn target(&self, env: &Env) -> Result<Target, TargetError> {
        Target::from_toml(&self.target_toml(), TargetKind::Sim, env)
    }
}
