//! Steps about load and capacity.

use cucumber::{then, when};

use crate::acceptance::world::{AcceptanceError, PillarsWorld};

#[when(expr = "a capacity search steps {int} spans per second up by {float} times each step")]
async fn a_capacity_search_runs(world: &mut PillarsWorld, rate: u64, factor: f64) -> Result<(), AcceptanceError> {
    world.run_capacity(rate, factor).await
}

#[then(expr = "it brackets the breaking point within {int} % of {int} units per second")]
fn it_brackets(world: &mut PillarsWorld, percent: u64, expected: u64) -> Result<(), AcceptanceError> {
    world.expect_bracket(expected as f64, percent as f64 / 100.0)
}
