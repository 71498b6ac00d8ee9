//! Steps about the stack as a whole and about any check's verdict.

use cucumber::{given, then, when};

use crate::acceptance::world::{AcceptanceError, PillarsWorld};
use crate::checks::Status;

#[given("the stack is ready")]
async fn the_stack_is_ready(world: &mut PillarsWorld) -> Result<(), AcceptanceError> {
    world.run_check("stack.ready").await?;
    world.expect("stack.ready", Status::Pass, None)
}

#[given(expr = "the reference stack has the fault {string}")]
fn the_reference_stack_has_the_fault(world: &mut PillarsWorld, spec: String) -> Result<(), AcceptanceError> {
    world.add_fault(&spec)
}

#[when(expr = "the check {string} runs")]
async fn the_check_runs(world: &mut PillarsWorld, id: String) -> Result<(), AcceptanceError> {
    world.run_check(&id).await.map(drop)
}

#[then(expr = "the check {string} passes")]
fn the_check_passes(world: &mut PillarsWorld, id: String) -> Result<(), AcceptanceError> {
    world.expect(&id, Status::Pass, None)
}

#[then(expr = "the check {string} fails with reason {string}")]
fn the_check_fails_with(world: &mut PillarsWorld, id: String, reason: String) -> Result<(), AcceptanceError> {
    world.expect(&id, Status::Fail, Some(&reason))
}
