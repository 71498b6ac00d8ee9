//! The embedded reference stack (crate `pillars-sim`) as a target: the
//! stack itself lives in its own crate, written from the components'
//! contracts and sharing no code with the harness; this module only turns
//! the target file it prints into a [`Target`].
//!
//! Uses: target, `pillars-sim`.

pub use pillars_sim::{
    DEFAULT_GRAFANA_SUB_PATH, FaroSettings, FaultError, Faults, GrafanaAuth, LogExport, SimError, SimOptions, SimStack,
    VariantError, Variants, cadvisor, faults, variants,
};

use crate::target::{Env, Target, TargetError, TargetKind};

/// A running reference stack as a target.
pub trait SimTarget {
    /// The target for this stack; only `PILLARS_TIMEOUT_SCALE` is read
    /// from `env`, never the OTLP endpoint variables.
    fn target(&self, env: &Env) -> Result<Target, TargetError>;
}

impl SimTarget for SimStack {
    fn target(&self, env: &Env) -> Result<Target, TargetError> {
        Target::from_toml(&self.target_toml(), TargetKind::Sim, env)
    }
}
