//! Steps about `pillars canary`: probe for a few rounds, then judge what
//! each pillar's probes came to.

use cucumber::{then, when};

use crate::acceptance::world::{AcceptanceError, PillarsWorld};

#[when(expr = "the canary probes every pillar for {int} rounds")]
async fn canary_probes(world: &mut PillarsWorld, rounds: u32) -> Result<(), AcceptanceError> {
    world.run_canary(rounds).await
}

#[then("every canary probe is found")]
fn every_probe_found(world: &mut PillarsWorld) -> Result<(), AcceptanceError> {
    world.expect_canary_all_found()
}

#[then(expr = "the canary's {string} probes are found")]
fn probes_found(world: &mut PillarsWorld, pillar: String) -> Result<(), AcceptanceError> {
    world.expect_canary(&pillar, true)
}

#[then(expr = "the canary's {string} probes are missing")]
fn probes_missing(world: &mut PillarsWorld, pillar: String) -> Result<(), AcceptanceError> {
    world.expect_canary(&pillar, false)
}
