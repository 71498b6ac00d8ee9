//! The command line: `args` is what clap parses (every flag, its help
//! text), `plan` turns it into a resolved [`Command`](crate::commands::Command)
//! with [`Cli::resolve`]. Clap's types stay here; the library below takes
//! plain plans.
//!
//! Uses: commands (the plans it builds), and through `args` checks and
//! stack::sim for help texts.

mod args;
mod plan;

pub use args::{
    BenchCommand, BenchEmitArgs, BenchLoadArgs, Cli, Color, Command, LoadArgs, Lookup, RunArgs, SimArgs, StackCommand,
    VerifyArgs,
};
