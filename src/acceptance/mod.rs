//! Gherkin acceptance: the cucumber World, step definitions that are thin
//! wrappers over `checks`, and the runner used by `tests/acceptance.rs`,
//! `tests/e2e.rs` and `pillars verify --features`.
//!
//! Uses: checks, load, stack::sim, target, env.

mod runner;
mod steps;
mod world;

pub use runner::{FeatureRunError, FeatureSummary, run_features};
pub use world::{AcceptanceError, PillarsWorld};
