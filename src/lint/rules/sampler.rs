//! `traces.sampler`: `traceidratio` decides from the trace id alone and
//! ignores the caller's `traceparent` flags, so below 1.0 it drops the
//! backend half of traces the frontend sampled (and keeps halves the
//! frontend dropped). `parentbased_traceidratio` follows the caller.
//!
//! Uses: lint::{model, finding}.

use crate::lint::finding::{Finding, Rule};
use crate::lint::model::Deployment;

pub fn check(model: &Deployment, out: &mut Vec<Finding>) {
    for container in &model.containers {
        let Some(sampler) = container.env("OTEL_TRACES_SAMPLER") else {
            continue;
        };
        if sampler.value != "traceidratio" {
            continue;
        }
        let arg = container.env("OTEL_TRACES_SAMPLER_ARG");
        // The SDK's default ratio is 1.0.
        let ratio = arg.map_or(Some(1.0), |a| a.value.trim().parse::<f64>().ok());
        if ratio.is_some_and(|r| r >= 1.0) {
            continue;
        }
        let shown = arg.map_or("1.0".to_owned(), |a| a.value.clone());
        let mut finding = Finding::new(
            Rule::Sampler,
            sampler.at.clone(),
            format!(
                "`{}` samples with traceidratio at {shown}: it ignores the frontend's sampling decision, so frontend → backend traces break",
                container.name
            ),
        )
        .evidence(format!("OTEL_TRACES_SAMPLER=traceidratio at {}:{}", sampler.at.file(), sampler.at.line));
        if let Some(arg) = arg {
            let note = if ratio.is_none() {
                " (set outside these files; the deployment uses 0.1 in production)"
            } else {
                ""
            };
            finding = finding.evidence(format!(
                "OTEL_TRACES_SAMPLER_ARG={}{note} at {}:{}",
                arg.value,
                arg.at.file(),
                arg.at.line
            ));
        }
        out.push(finding.fix("set OTEL_TRACES_SAMPLER=parentbased_traceidratio (same ratio argument)"));
    }
}
