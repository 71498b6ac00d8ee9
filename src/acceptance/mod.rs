//! Gherkin acceptance: the cucumber World, step definitions that are thin
//! wrappers over `checks`, and the runner used by `tests/acceptance.rs` and
//! `pillars verify --features`.

mod runner;
mod steps;
mod world;

pub(crate) use runner::run_features_cli;
pub use runner::{FeatureSummary, run_features};
pub use world::{AcceptanceError, PillarsWorld};
