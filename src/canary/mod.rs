//! `pillars canary`: the round trips as a continuous probe, one item per
//! pillar per interval, its outcome exported as OpenMetrics — what Loki
//! Canary, Tempo Vulture and mimir-continuous-test do for one store each,
//! for every pillar at once, with the same found / missing / undecided
//! verdicts as `verify`. Probe ids come from the run's seed and the
//! wall-clock second of their round, so no probe reads another's data: not
//! an earlier round's, nor, after a restart with the same `--seed`, an
//! earlier run's.
//!
//! - `run`: the loop and its summary;
//! - `metrics`: every exported metric, in one place;
//! - `serve`: `/metrics`.

pub mod metrics;
pub mod run;
pub mod serve;
