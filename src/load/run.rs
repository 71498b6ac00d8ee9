//! `pillars load`'s run: a scenario's traffic against a target, every kind
//! side by side, watched by ingest markers and memory samples, stopped at
//! the plan's end or on Ctrl-C, then judged by the scenario's gates. What
//! it saw becomes `load.json` in `report::load`.
//!
//! A kind the target has no endpoint for is listed as not driven, never
//! silently dropped.
//!
//! Uses: load::{gate, session, scenario, progress}, check (context).

use std::sync::Arc;

use tokio::time::Instant;

use crate::check::CheckCtx;
use crate::ids::Seed;
use crate::load::gate::{self, Judged};
use crate::load::progress::Progress;
use crate::load::scenario::Scenario;
use crate::load::session::{self, Observed, Watch};
use crate::target::Target;

/// What a load run observed, and the gate it broke, if any.
#[derive(Debug)]
pub struct LoadRun {
    pub observed: Observed,
    /// Every gate, judged over the whole run.
    pub gates: Vec<Judged>,
}

/// Runs `scenario` against `target`.
pub async fn run(scenario: &Scenario, target: Arc<Target>, seed: Seed, run_id: String, progress: &Progress) -> LoadRun {
    let ctx = CheckCtx::new(target, run_id, seed, Default::default());
    let mix = scenario
        .traffic
        .iter()
        .map(|(kind, traffic)| (*kind, traffic.clone(), scenario.plan(*kind, 1.0)))
        .collect();
    let watch = Watch {
        origin: Instant::now(),
        marker_give_up: Watch::give_up_for(&scenario.gates),
        progress,
        name: &scenario.name,
    };
    let observed = session::observe(&ctx, mix, scenario.total_duration(), watch).await;
    progress.finish();
    let gates = gate::evaluate(&scenario.gates, &observed, 0.0);
    LoadRun { observed, gates }
}
