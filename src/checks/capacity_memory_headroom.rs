//! `capacity.memory_headroom`: every container keeps its working set under
//! its limit by the target's margin (`limits.memory_headroom`), and their
//! sum stays under the instance budget (`limits.memory_budget_mb`) by the
//! same margin. Memory is read a few times, a second apart, from the best
//! source the target has: cAdvisor's series in Mimir
//! (`shared/reference/api/08-container-memory.md`), else the Docker
//! Engine's stats for the Compose project, else this process on the
//! embedded stack; the least headroom each container showed is judged.
//!
//! Uses: check, measure::memory.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::check::reason::{Shared, reasons};
use crate::check::spec::Budget;
use crate::check::{CheckCtx, CheckSettings, Outcome, Verdict};
use crate::measure::memory::{self, ContainerMemory, Headroom, Source};

reasons! {
    /// Why `capacity.memory_headroom` did not pass, beside the shared
    /// `unreachable`.
    pub enum Reason {
        LowHeadroom,
        OverBudget,
        NoMemorySource,
    }
}

/// Readings taken, a second apart.
const READINGS: u32 = 3;
const APART: Duration = Duration::from_secs(1);
/// A reading from the Docker Engine: its container list, then their stats
/// side by side, each bounded by `measure::memory`'s 3 s.
const DOCKER_READING: Duration = Duration::from_secs(6);

/// Each reading: cAdvisor's two series from Mimir, else the Docker Engine;
/// the pauses between them.
pub(crate) fn budget(_: &CheckSettings) -> Budget {
    Budget {
        pauses: DOCKER_READING * READINGS + APART * (READINGS - 1),
        ..Budget::requests(2 * READINGS)
    }
}

#[derive(Debug, Serialize)]
struct Reading {
    containers: Vec<ContainerMemory>,
    headroom: Headroom,
}

#[derive(Debug, Serialize)]
struct Evidence {
    source: Option<Source>,
    margin: f64,
    budget_bytes: Option<u64>,
    /// The least free share of its limit each container showed.
    least_per_container: BTreeMap<String, f64>,
    /// The least free share of the budget.
    least_budget: Option<f64>,
    readings: Vec<Reading>,
}

pub async fn run(ctx: &CheckCtx) -> Outcome {
    let limits = &ctx.target.limits;
    let sources = ctx.memory_sources();
    let mut evidence = Evidence {
        source: None,
        margin: limits.memory_headroom,
        budget_bytes: limits.memory_budget_bytes,
        least_per_container: BTreeMap::new(),
        least_budget: None,
        readings: Vec::new(),
    };
    for i in 0..READINGS {
        if i > 0 {
            tokio::time::sleep(APART).await;
        }
        match sources.sample().await {
            Ok(Some((source, containers))) => {
                evidence.source = Some(source);
                evidence.readings.push(Reading {
                    headroom: memory::headroom(&containers, limits.memory_budget_bytes),
                    containers,
                });
            }
            Ok(None) => {}
            Err(err) => {
                let summary = format!("could not read container memory from Mimir: {err}");
                return Outcome::new(Verdict::error(Shared::Unreachable), summary).with_evidence(evidence);
            }
        }
    }
    if evidence.readings.is_empty() {
        return Outcome::new(
            Verdict::skip(Reason::NoMemorySource),
            "no source of container memory: no cAdvisor series in Mimir and no Docker Engine answered",
        )
        .with_evidence(evidence);
    }
    for reading in &evidence.readings {
        for c in &reading.containers {
            if let Some(h) = c.headroom() {
                let least = evidence.least_per_container.entry(c.container.clone()).or_insert(h);
                *least = least.min(h);
            }
        }
        if let Some(b) = reading.headroom.budget {
            evidence.least_budget = Some(evidence.least_budget.map_or(b, |l: f64| l.min(b)));
        }
    }
    let (verdict, summary) = judge(&evidence.least_per_container, evidence.least_budget, evidence.margin);
    Outcome::new(verdict, summary).with_evidence(evidence)
}

/// The verdict on the least headroom per container and of the budget.
fn judge(per_container: &BTreeMap<String, f64>, budget: Option<f64>, margin: f64) -> (Verdict, String) {
    let pct = |h: f64| format!("{:.0} %", h * 100.0);
    let tight: Vec<String> = per_container
        .iter()
        .filter(|(_, h)| **h < margin)
        .map(|(c, h)| format!("{c} {}", pct(*h)))
        .collect();
    if !tight.is_empty() {
        return (
            Verdict::fail(Reason::LowHeadroom),
            format!(
                "{} under the {} margin: {}",
                if tight.len() == 1 {
                    "one container is"
                } else {
                    "containers are"
                },
                pct(margin),
                tight.join(", ")
            ),
        );
    }
    if let Some(b) = budget.filter(|b| *b < margin) {
        return (
            Verdict::fail(Reason::OverBudget),
            format!(
                "the containers together leave {} of the instance budget free, under the {} margin",
                pct(b),
                pct(margin)
            ),
        );
    }
    let least = per_container
        .iter()
        .min_by(|a, b| a.1.total_cmp(b.1))
        .map(|(c, h)| format!("least headroom {c} {}", pct(*h)))
        .unwrap_or_else(|| "no container reports a limit".to_owned());
    let budget = budget.map(|b| format!(", budget {} free", pct(b))).unwrap_or_default();
    (Verdict::Pass, format!("{least}{budget}; margin {}", pct(margin)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_container_and_the_budget_are_held_to_the_margin() {
        let per = |pairs: &[(&str, f64)]| -> BTreeMap<String, f64> {
            pairs.iter().map(|(c, h)| ((*c).to_owned(), *h)).collect()
        };
        let (v, s) = judge(&per(&[("loki", 0.4), ("tempo", 0.1)]), Some(0.5), 0.15);
        assert_eq!(v.reason(), Some("low_headroom"));
        assert!(s.contains("tempo 10 %") && !s.contains("loki"), "{s}");
        let (v, s) = judge(&per(&[("loki", 0.4)]), Some(0.05), 0.15);
        assert_eq!(v.reason(), Some("over_budget"), "{s}");
        let (v, s) = judge(&per(&[("loki", 0.4), ("tempo", 0.2)]), Some(0.3), 0.15);
        assert_eq!(v, Verdict::Pass);
        assert!(s.contains("tempo 20 %"), "{s}");
    }
}
