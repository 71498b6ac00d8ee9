//! `pillars bench emit|load`: the harness's own throughput against a
//! loopback sink, printed as `bench` measured it.
//!
//! Uses: bench, console.

use std::io::Write;

use crate::bench::{emit, load};
use crate::console::Console;
use crate::error::RunError;
use crate::exit;

/// Which benchmark, with its settings.
#[derive(Debug)]
pub enum BenchPlan {
    Emit(emit::Settings),
    Load(load::Settings),
}

pub(super) async fn run(plan: BenchPlan, console: &mut Console) -> Result<u8, RunError> {
    match plan {
        BenchPlan::Emit(args) => {
            let result = emit::run(&args, console).await?;
            let _ = write!(console.out, "{result}");
        }
        BenchPlan::Load(args) => {
            let result = load::run(&args, console).await?;
            let _ = write!(console.out, "{result}");
        }
    }
    Ok(exit::OK)
}
