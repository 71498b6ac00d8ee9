//! pillars: a load generator and end-to-end verification harness for the
//! Grafana observability stack (Alloy, Mimir, Loki, Tempo, Pyroscope,
//! Grafana) that watches a web app.
//!
//! Data flows one way: `emit` sends synthetic telemetry to the stack,
//! `query` reads it back, `checks` judge with `measure`'s clocks, and
//! `report` renders the outcomes. `stack` stands targets up, including the
//! embedded reference stack. See `shared/DESIGN.md` for the module map.

pub mod acceptance;
pub mod bench;
pub mod checks;
pub mod cli;
pub mod console;
pub mod emit;
pub mod exit;
pub mod ids;
pub mod interrupt;
pub mod load;
pub mod measure;
pub mod query;
pub mod report;
mod run;
pub mod secrets;
pub mod stack;
pub mod target;
pub mod textfile;
pub mod verify;

pub use cli::Cli;
pub use console::Console;
pub use run::{RunError, run};
