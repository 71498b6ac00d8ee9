//! `pillars bench emit|load`: the harness's own throughput against a
//! loopback sink, printed as `bench` measured it.
//!
//! Uses: bench, console.

use std::io::Write;

use crate::cli::{BenchEmitArgs, BenchLoadArgs};
use crate::console::Console;
use crate::error::RunError;
use crate::exit;

/// Which benchmark, with its settings. The settings are still `bench`'s
/// clap structs, which `bench` takes as they are.
#[derive(Debug)]
pub enum BenchPlan {
    Emit(BenchEmitArgs),
    Load(BenchLoadArgs),
}

pub(super) async fn run(plan: BenchPlan, console: &mut Console) -> Result<u8, RunError> {
    match plan {
        BenchPlan::Emit(args) => {
            let result = crate::bench::emit::run(&args, console).await?;
            let _ = write!(console.out, "{result}");
        }
        BenchPlan::Load(args) => {
            let result = crate::bench::load::run(&args, console).await?;
            let _ = write!(console.out, "{result}");
        }
    }
    Ok(exit::OK)
}
