//! Standing a target up and down: `compose` (the Docker Compose stack,
//! with a preflight that answers within seconds), `sim` (the one gate to the
//! embedded reference stack, crate `pillars-sim`), `tunnel` (a target's SSM
//! port forward).
//!
//! Uses: target, wait, query::{docker, http}, `pillars-sim`.

pub mod compose;
pub mod sim;
pub mod tunnel;
