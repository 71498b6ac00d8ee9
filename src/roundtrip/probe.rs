//! Probes: one item at a time through a pillar's round trip, the way the
//! load markers and `pillars canary` watch a stack. Probe `n` has its own
//! run id and seed, so nothing an earlier probe (or an earlier process)
//! wrote can satisfy it: a restart never turns into false "missing". The
//! seed keeps the run's low 32 bits, which name the service, so probes add
//! no new services or streams to the stores.
//!
//! Uses: check (context, ledger), roundtrip::pillars.

use std::sync::Arc;
use std::time::Duration;

use crate::check::ledger::{IngestLedger, PillarIngest};
use crate::check::{CheckCtx, CheckSettings, Pillar, TraceLookup};
use crate::ids::Seed;
use crate::roundtrip::pillars::{NotMeasured, ROUND_TRIPS, measure};

/// The pillars probes run through, with the check that judges each: every
/// round trip but the browser one (its receiver rate-limits by design).
pub(crate) fn pillars() -> impl Iterator<Item = (Pillar, &'static str)> {
    ROUND_TRIPS
        .into_iter()
        .filter(|(pillar, _)| *pillar != Pillar::Frontend)
}

/// Sends probes against one target.
#[derive(Debug, Clone)]
pub(crate) struct Prober {
    ctx: CheckCtx,
    /// What probe ids are tagged with (`m` for markers, `c` for canary).
    tag: &'static str,
}

impl Prober {
    /// Probes of `ctx`'s run: every round trip one item wide, in a ledger
    /// of its own. A probe not read back within `give_up` (or the target's
    /// own `max_wait`, if shorter) counts as missing.
    pub fn new(ctx: &CheckCtx, give_up: Duration, tag: &'static str) -> Prober {
        let mut target = (*ctx.target).clone();
        target.limits.wait = target.limits.wait.min(give_up);
        target.limits.max_wait = target.limits.max_wait.min(give_up);
        Prober {
            ctx: CheckCtx {
                target: Arc::new(target),
                settings: one_each(),
                ledger: Arc::new(IngestLedger::default()),
                ..ctx.clone()
            },
            tag,
        }
    }

    /// The context probe `n` runs in; distinct for every `n` below 2^32.
    fn nth(&self, n: u64) -> CheckCtx {
        CheckCtx {
            run_id: format!("{}-{}{n}", self.ctx.run_id, self.tag),
            seed: Seed(self.ctx.seed.0 ^ ((n + 1) << 32)),
            ..self.ctx.clone()
        }
    }

    /// Sends probe `n` through `pillar`'s round trip and waits for it.
    pub async fn probe(&self, n: u64, pillar: Pillar, check: &str) -> Result<PillarIngest, NotMeasured> {
        measure(&self.nth(n), pillar, check).await
    }
}

/// A probe's settings: every round trip one item wide.
fn one_each() -> CheckSettings {
    CheckSettings {
        traces: 1,
        spans_per_trace: 1,
        logs: 1,
        metrics: 1,
        profiles: 1,
        trace_lookup: TraceLookup::ById,
        ..CheckSettings::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_probe_has_its_own_ids_and_the_runs_service() {
        let target = crate::target::Target::from_toml(
            "[ingest]\notlp_http = \"http://c:4318\"\n",
            crate::target::TargetKind::File("t.toml".into()),
            &crate::target::Env::default(),
        )
        .unwrap();
        let ctx = CheckCtx::new(Arc::new(target), "run".into(), Seed(0xABCD_1234), Default::default());
        let prober = Prober::new(&ctx, Duration::from_secs(5), "c");
        let (a, b) = (prober.nth(0), prober.nth(1));
        assert_eq!((a.run_id.as_str(), b.run_id.as_str()), ("run-c0", "run-c1"));
        assert_ne!(a.seed, b.seed);
        assert_eq!(a.seed.0 as u32, ctx.seed.0 as u32, "the low bits name the service");
        assert!(a.target.limits.max_wait <= Duration::from_secs(5));
        assert_eq!(a.settings.traces, 1);
    }
}
