//! `correlation.trace_to_profile`: the backend's server span carries
//! `pyroscope.profile.id`, and the span-profile query Grafana builds from
//! the Tempo datasource's `tracesToProfiles` (datasource, profile type,
//! tags) returns a non-empty flame graph
//! (`shared/reference/api/06-pyroscope.md` §6.3).
//!
//! Uses: checks::correlation::{session, settings, links}, query::pyroscope.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::checks::correlation::links::{TracesToProfiles, profile_query, traces_to_profiles};
use crate::checks::correlation::session::{NoSpan, backend_span};
use crate::checks::correlation::settings::Correlations;
use crate::checks::{CheckCtx, Outcome, Verdict};
use crate::emit::pprof::PROFILE_TYPE;
use crate::measure::wait::{Probe, wait_for};
use crate::target::Store;

/// The span attribute Grafana shows the profiles link for.
const PROFILE_ID_ATTRIBUTE: &str = "pyroscope.profile.id";

#[derive(Debug, Clone, Copy)]
enum Reason {
    NoLink,
    NoBackendSpan,
    NoProfileId,
    EmptyFlamegraph,
    Unreachable,
    NotConfigured,
}

impl Reason {
    const fn as_str(self) -> &'static str {
        match self {
            Reason::NoLink => "no_link",
            Reason::NoBackendSpan => "no_backend_span",
            Reason::NoProfileId => "no_profile_id",
            Reason::EmptyFlamegraph => "empty_flamegraph",
            Reason::Unreachable => "unreachable",
            Reason::NotConfigured => "not_configured",
        }
    }
}

#[derive(Debug, Default, Serialize)]
struct Evidence {
    settings_from: String,
    traces_to_profiles: Option<TracesToProfiles>,
    span_id: String,
    trace_id: String,
    profile_id_attribute: Option<String>,
    profile_type: String,
    label_selector: String,
    span_selector: Vec<String>,
    total: u64,
    frames: Vec<String>,
    error: Option<String>,
}

pub async fn run(ctx: &CheckCtx) -> Outcome {
    let (Some(pyroscope), Some(tempo)) = (ctx.pyroscope(), ctx.tempo()) else {
        return Outcome::new(
            Verdict::Skip(Reason::NotConfigured.as_str()),
            "the target names no Pyroscope or no Tempo read endpoint",
        );
    };
    let settings = match Correlations::load(ctx).await {
        Ok(s) => s,
        Err(outcome) => return outcome,
    };
    let mut evidence = Evidence {
        settings_from: settings.source.clone(),
        ..Evidence::default()
    };
    let fail = |evidence: Evidence, reason: Reason, summary: String| {
        Outcome::new(Verdict::Fail(reason.as_str()), summary).with_evidence(evidence)
    };
    let Some(cfg) = settings
        .of(ctx, Store::Tempo)
        .and_then(|d| traces_to_profiles(&d.json_data))
    else {
        return fail(
            evidence,
            Reason::NoLink,
            "the Tempo datasource has no tracesToProfiles settings".into(),
        );
    };
    evidence.traces_to_profiles = Some(cfg.clone());

    let span = match backend_span(ctx, &tempo).await {
        Ok(span) => span,
        Err(NoSpan::NotDriven(outcome)) => return outcome,
        Err(NoSpan::Unreachable(err)) => {
            return Outcome::new(Verdict::Error(Reason::Unreachable.as_str()), err).with_evidence(evidence);
        }
        Err(NoSpan::Missing(summary)) => return fail(evidence, Reason::NoBackendSpan, summary),
    };
    evidence.span_id = span.span_id.to_string();
    evidence.trace_id = span.trace_id.to_string();
    evidence.profile_id_attribute = span.attributes.get(PROFILE_ID_ATTRIBUTE).cloned();
    if evidence.profile_id_attribute.is_none() {
        let summary = format!(
            "the backend span {} has no `{PROFILE_ID_ATTRIBUTE}` attribute, so Grafana shows no profiles link (is pyroscope-otel installed?)",
            span.span_id
        );
        return fail(evidence, Reason::NoProfileId, summary);
    }
    let (selector, profile_type, spans) = profile_query(&span, &cfg, PROFILE_TYPE);
    evidence.label_selector = selector.clone();
    evidence.profile_type = profile_type.clone();
    evidence.span_selector = spans.clone();
    let start_ms = (span.start_unix_nanos / 1_000_000) as i64 - 60_000;
    let end_ms = (unix_now().as_millis() as i64).max((span.end_unix_nanos / 1_000_000) as i64) + 60_000;
    let graph = wait_for(ctx.target.limits.wait, "the span's flame graph", || async {
        match pyroscope
            .span_flamegraph(&profile_type, &selector, &spans, (start_ms, end_ms))
            .await
        {
            Ok(g) if g.total > 0 => Probe::Ready(g),
            Ok(_) => Probe::NotYet("empty flame graph".into()),
            Err(e) if e.is_unreachable() => Probe::GiveUp(e.to_string()),
            Err(e) => Probe::NotYet(e.to_string()),
        }
    })
    .await;
    match graph {
        Ok(graph) => {
            evidence.total = graph.total;
            evidence.frames = graph.names;
            let total = evidence.total;
            Outcome::new(
                Verdict::Pass,
                format!(
                    "the span's profile holds {total} ns of samples for span {}",
                    span.span_id
                ),
            )
            .with_evidence(evidence)
        }
        Err(e) if e.gave_up => {
            evidence.error = Some(e.to_string());
            Outcome::new(Verdict::Error(Reason::Unreachable.as_str()), e.to_string()).with_evidence(evidence)
        }
        Err(e) => {
            evidence.error = Some(e.to_string());
            let summary = format!(
                "Grafana's profiles link for span {} ({profile_type}, {selector}) shows an empty flame graph: do the profiles carry the `span_id` label?",
                span.span_id
            );
            fail(evidence, Reason::EmptyFlamegraph, summary)
        }
    }
}

fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}
