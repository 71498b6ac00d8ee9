//! Gherkin acceptance: the cucumber World, step definitions that are thin
//! wrappers over `checks`, and the runner used by `tests/acceptance.rs` and
//! `pillars verify --features`.

mod runner;
mod steps;
mod world;

pub use runner::{FeatureSummary, run_features};
pub(crate) use runner::run_features_cli;
pub use world::{AcceptanceError, PillarsWorld};
