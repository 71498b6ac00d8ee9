//! Steps about traces: configure and run `traces.roundtrip`, and read its
//! evidence.

use std::str::FromStr;

use cucumber::{Parameter, then, when};

use crate::acceptance::world::{AcceptanceError, PillarsWorld};
use crate::checks::TraceLookup;

const CHECK: &str = "traces.roundtrip";

/// How traces are looked up, as an operator would say it.
#[derive(Debug, Clone, Copy, Parameter)]
#[param(name = "lookup", regex = "by id and by TraceQL search|by id|by TraceQL search")]
pub struct Lookup(TraceLookup);

impl FromStr for Lookup {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(Lookup(match s {
            "by id" => TraceLookup::ById,
            "by TraceQL search" => TraceLookup::Search,
            "by id and by TraceQL search" => TraceLookup::Both,
            other => return Err(format!("unknown lookup {other:?}")),
        }))
    }
}

#[when(expr = "{int} synthetic backend traces are sent and looked up {lookup}")]
async fn traces_are_sent(world: &mut PillarsWorld, count: u64, lookup: Lookup) -> Result<(), AcceptanceError> {
    let settings = world.settings_mut();
    settings.traces = count;
    settings.trace_lookup = lookup.0;
    world.run_check(CHECK).await.map(drop)
}

#[then(expr = "all {int} traces were found {lookup}")]
fn all_found(world: &mut PillarsWorld, count: u64, lookup: Lookup) -> Result<(), AcceptanceError> {
    let pointers: &[&str] = match lookup.0 {
        TraceLookup::ById => &["/by_id/found"],
        TraceLookup::Search => &["/search/found"],
        TraceLookup::Both => &["/by_id/found", "/search/found"],
    };
    for pointer in pointers {
        let found = world.evidence_number(CHECK, pointer)?;
        if found != count {
            return Err(world.evidence_error(CHECK, format!("{pointer} is {found}, expected {count}")));
        }
    }
    Ok(())
}

#[then(expr = "the evidence lists between {int} and {int} missing trace ids")]
fn missing_listed(world: &mut PillarsWorld, low: usize, high: usize) -> Result<(), AcceptanceError> {
    let listed = world.evidence_len(CHECK, "/by_id/missing")?;
    if (low..=high).contains(&listed) {
        Ok(())
    } else {
        Err(world.evidence_error(CHECK, format!("{listed} missing ids listed, expected {low} to {high}")))
    }
}
