//! The rules, one file per concern, each a function from the deployment
//! model (and the pipeline read from it) to findings. A rule that lacks
//! the files to decide says nothing: lint reports what the files show.
//!
//! Uses: lint::{model, pipeline, finding}.

mod collector;
mod correlation;
mod exporter;
mod grafana_url;
mod health_steps;
mod memory;
mod sampler;
mod storage;

use crate::lint::finding::Finding;
use crate::lint::model::Deployment;
use crate::lint::pipeline::Pipeline;

/// What the rules need beyond the files.
#[derive(Debug, Clone)]
pub struct Options {
    /// The memory the instance leaves for containers, in MiB.
    pub memory_budget_mib: u64,
}

impl Default for Options {
    fn default() -> Self {
        // t3.medium: ~2.7 GB of its 4 GiB for containers.
        Options {
            memory_budget_mib: 2700,
        }
    }
}

/// Every finding, ordered by file, line and rule.
pub fn check(model: &Deployment, options: &Options) -> Vec<Finding> {
    let pipeline = Pipeline::of(model);
    let mut out = Vec::new();
    correlation::exemplar_label(model, &pipeline, &mut out);
    correlation::derived_field(model, &pipeline, &mut out);
    correlation::traces_to_logs_tags(model, &pipeline, &mut out);
    correlation::traces_to_metrics_tags(model, &mut out);
    correlation::traces_to_profiles_tags(model, &mut out);
    correlation::span_profiles(model, &mut out);
    sampler::check(model, &mut out);
    exporter::protocol(model, &mut out);
    collector::route(model, &pipeline, &mut out);
    collector::cors(model, &pipeline, &mut out);
    collector::rate_limit(model, &pipeline, &mut out);
    storage::check(model, &mut out);
    grafana_url::check(model, &mut out);
    memory::check(model, options, &mut out);
    health_steps::check(model, &mut out);
    out.sort_by_key(|f| (f.at.file(), f.at.line, f.rule));
    out
}
