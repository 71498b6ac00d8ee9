//! Steps about `pillars lint`: lint some paths, then judge the findings.

use cucumber::{then, when};

use crate::acceptance::world::{AcceptanceError, PillarsWorld};

#[when(expr = "pillars lints {string}")]
fn pillars_lints(world: &mut PillarsWorld, path: String) {
    world.lint(&[&path], None);
}

#[when(expr = "pillars lints {string} with the scenarios in {string}")]
fn pillars_lints_with_scenarios(world: &mut PillarsWorld, path: String, scenarios: String) {
    world.lint(&[&path], Some(&scenarios));
}

#[then("lint finds nothing")]
fn lint_finds_nothing(world: &mut PillarsWorld) -> Result<(), AcceptanceError> {
    world.expect_lint_clean()
}

#[then(expr = "lint reports {string} at {string} line {int}")]
fn lint_reports(world: &mut PillarsWorld, rule: String, file: String, line: u32) -> Result<(), AcceptanceError> {
    world.expect_lint_finding(&rule, &file, line)
}

#[then(expr = "every lint finding is {string}")]
fn every_lint_finding_is(world: &mut PillarsWorld, rule: String) -> Result<(), AcceptanceError> {
    world.expect_lint_only(&rule)
}

#[then(expr = "lint cannot read its input and says {string}")]
fn lint_cannot_read(world: &mut PillarsWorld, text: String) -> Result<(), AcceptanceError> {
    world.expect_lint_unreadable(&text)
}
