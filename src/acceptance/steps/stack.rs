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

#[given(expr = "the reference stack exports logs with {string}")]
fn the_reference_stack_exports_logs_with(world: &mut PillarsWorld, how: String) -> Result<(), AcceptanceError> {
    world.add_variant(&format!("log_export={how}"))
}

#[given(expr = "the OTLP round trips send over {string}")]
fn the_round_trips_send_over(world: &mut PillarsWorld, transport: String) -> Result<(), AcceptanceError> {
    world.send_over(&transport)
}

#[given(expr = "Grafana's datasources are provisioned from {string}")]
fn grafanas_datasources_are(world: &mut PillarsWorld, path: String) -> Result<(), AcceptanceError> {
    world.provision_datasources(&path)
}

#[when(expr = "the check {string} runs")]
async fn the_check_runs(world: &mut PillarsWorld, id: String) -> Result<(), AcceptanceError> {
    world.run_check(&id).await.map(drop)
}

#[then(expr = "the check {string} passes")]
fn the_check_passes(world: &mut PillarsWorld, id: String) -> Result<(), AcceptanceError> {
    world.expect(&id, Status::Pass, None)
}

#[then(expr = "the summary of {string} says {string}")]
fn the_summary_says(world: &mut PillarsWorld, id: String, text: String) -> Result<(), AcceptanceError> {
    world.expect_summary_says(&id, &text)
}

#[then(expr = "the check {string} fails with reason {string}")]
fn the_check_fails_with(world: &mut PillarsWorld, id: String, reason: String) -> Result<(), AcceptanceError> {
    world.expect(&id, Status::Fail, Some(&reason))
}
