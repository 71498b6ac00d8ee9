//! Steps about load and capacity.

use std::str::FromStr;

use cucumber::{Parameter, given, then, when};

use crate::acceptance::world::{AcceptanceError, PillarsWorld};
use crate::load::scenario::TrafficKind;

/// A traffic kind, as scenario files name it.
#[derive(Debug, Clone, Copy, Parameter)]
#[param(
    name = "kind",
    regex = "frontend_sessions|backend_requests|otlp_traces|otlp_logs|otlp_metrics|profiles"
)]
pub struct Kind(TrafficKind);

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        serde_json::from_value(serde_json::Value::String(s.to_owned()))
            .map(Kind)
            .map_err(|_| format!("unknown traffic kind {s:?}"))
    }
}

/// A gate of a load run, as `load.json` names it.
#[derive(Debug, Clone, Parameter)]
#[param(name = "gate", regex = "error_ratio|ingest_latency|completeness|memory_headroom")]
pub struct Gate(String);

impl FromStr for Gate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(Gate(s.to_owned()))
    }
}

#[given(expr = "the p99 ingest latency gate is {int} ms")]
fn latency_gate(world: &mut PillarsWorld, ms: u64) {
    world.set_latency_gate(std::time::Duration::from_millis(ms));
}

#[when(expr = "{kind} run at {float} per second for {int} seconds")]
async fn load_runs(world: &mut PillarsWorld, kind: Kind, rate: f64, seconds: u64) -> Result<(), AcceptanceError> {
    world.run_load(kind.0, rate, seconds).await
}

#[then("every gate holds")]
fn every_gate_holds(world: &mut PillarsWorld) -> Result<(), AcceptanceError> {
    world.expect_gate(None)
}

#[then(expr = "the load breaks the {gate} gate")]
fn the_load_breaks(world: &mut PillarsWorld, gate: Gate) -> Result<(), AcceptanceError> {
    world.expect_gate(Some(&gate.0))
}

#[then("every pillar's markers were read back")]
fn markers_read_back(world: &mut PillarsWorld) -> Result<(), AcceptanceError> {
    world.expect_markers_read_back()
}

#[then(expr = "{kind} were refused as {word}, each sent once")]
fn refused_once(world: &mut PillarsWorld, kind: Kind, reason: String) -> Result<(), AcceptanceError> {
    world.expect_refused_once(kind.0, &reason)
}

#[when(expr = "a capacity search steps {int} spans per second up by {float} times each step")]
async fn a_capacity_search_runs(world: &mut PillarsWorld, rate: u64, factor: f64) -> Result<(), AcceptanceError> {
    world.run_capacity(rate, factor).await
}

#[then(expr = "it brackets the breaking point within {int} % of {int} units per second")]
fn it_brackets(world: &mut PillarsWorld, percent: u64, expected: u64) -> Result<(), AcceptanceError> {
    world.expect_bracket(expected as f64, percent as f64 / 100.0)
}
