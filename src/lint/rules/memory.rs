//! `memory.budget`: every container of a Compose file has a memory limit,
//! and the limits of those on the instance add up to at most its budget
//! (`shared/reference/deployment.md`: ~2.7 GB of a t3.medium). Services
//! labelled `pillars.budget: exclude` stand in for what runs elsewhere.
//!
//! Uses: lint::{model, finding, rules::Options}.

use crate::lint::finding::{Finding, Rule};
use crate::lint::model::Deployment;
use crate::lint::rules::Options;

const MIB: u64 = 1024 * 1024;

pub fn check(model: &Deployment, options: &Options, out: &mut Vec<Finding>) {
    for file in &model.compose_files {
        let counted: Vec<_> = file.services.iter().filter(|s| !s.excluded).collect();
        for service in counted.iter().filter(|s| s.memory_limit.is_none()) {
            out.push(
                Finding::new(
                    Rule::MemoryBudget,
                    service.at.clone(),
                    format!(
                        "service `{}` has no memory limit: it can take the instance's memory from the others",
                        service.name
                    ),
                )
                .fix("set mem_limit (or deploy.resources.limits.memory)"),
            );
        }
        let total: u64 = counted.iter().filter_map(|s| s.memory_limit).sum();
        let budget = options.memory_budget_mib * MIB;
        if total > budget {
            let mut finding = Finding::new(
                Rule::MemoryBudget,
                file.at.find("services:"),
                format!(
                    "the containers' memory limits add up to {} MiB, over the instance budget of {} MiB",
                    total / MIB,
                    options.memory_budget_mib
                ),
            );
            for s in &counted {
                if let Some(limit) = s.memory_limit {
                    finding = finding.evidence(format!("{}: {} MiB (line {})", s.name, limit / MIB, s.at.line));
                }
            }
            out.push(finding.fix(format!(
                "lower limits by {} MiB in all, or size the instance up (--memory-budget-mib)",
                (total - budget).div_ceil(MIB)
            )));
        }
    }
}
