//! `correlation.trace_to_profile`: the backend's server span carries
//! `pyroscope.profile.id`, and the span-profile query Grafana builds from
//! the Tempo datasource's `tracesToProfiles` (datasource, profile type,
//! tags) returns a non-empty flame graph
//! (`shared/reference/api/06-pyroscope.md` §6.3).
//!
//! Uses: check, correlation::{session, settings, links}, roundtrip::lookup,
//! emit, query::pyroscope, wait.

use serde::Serialize;

use crate::check::reason::reasons;
use crate::check::spec::Budget;
use crate::check::{CheckCtx, CheckSettings, Outcome, Pillar, Verdict};
use crate::clock::unix_now;
use crate::correlation::links::{TracesToProfiles, profile_query, traces_to_profiles};
use crate::correlation::session::{self, backend_span};
use crate::correlation::settings;
use crate::correlation::waterfall::Waterfall;
use crate::emit::pprof::PROFILE_TYPE;
use crate::roundtrip::lookup::undecided_read;
use crate::target::Store;
use crate::wait::{Looked, read_until};

/// The span attribute Grafana shows the profiles link for.
const PROFILE_ID_ATTRIBUTE: &str = "pyroscope.profile.id";

reasons! {
    /// Why the check did not pass, beside the shared reasons; reads that
    /// failed are `read_failed` or `unreachable`.
    pub enum Reason {
        NoLink,
        NoBackendSpan,
        NoProfileId,
        EmptyFlamegraph,
    }
}

/// The settings, the backend span, then a `wait` for its flame graph.
pub(crate) fn budget(settings: &CheckSettings) -> Budget {
    Budget::requests(1).then(session::spans_budget(settings)).then(Budget {
        waits: 1,
        ..Budget::default()
    })
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
    /// The followed request's trace, with its profile beside the span.
    waterfall: Option<Waterfall>,
}

pub async fn run(ctx: &CheckCtx) -> Outcome {
    let clients = ctx.pyroscope().zip(ctx.tempo());
    let ((pyroscope, tempo), settings) =
        match settings::start(ctx, clients, "the target names no Pyroscope or no Tempo read endpoint").await {
            Ok(started) => started,
            Err(outcome) => return outcome,
        };
    let mut evidence = Evidence {
        settings_from: settings.source.clone(),
        ..Evidence::default()
    };
    let fail = |evidence: Evidence, reason: Reason, summary: String| {
        Outcome::new(Verdict::fail(reason), summary).with_evidence(evidence)
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

    let (span, trace) = match backend_span(ctx, "correlation.trace_to_profile", &tempo).await {
        Ok(followed) => (followed.span, followed.trace),
        Err(no_span) => return no_span.outcome(evidence, Reason::NoBackendSpan),
    };
    let grafana = ctx.target.grafana.as_ref();
    evidence.waterfall = Some(Waterfall::of(span.trace_id, &trace, grafana));
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
    let (selector, profile_type, spans) = match profile_query(&span, &cfg, PROFILE_TYPE) {
        Ok(query) => query,
        Err(no_link) => {
            let summary = format!("Grafana's profiles link for span {}: {no_link}", span.span_id);
            return fail(evidence, Reason::NoLink, summary);
        }
    };
    evidence.label_selector = selector.to_string();
    evidence.profile_type = profile_type.clone();
    evidence.span_selector = spans.clone();
    let start_ms = (span.start_unix_nanos / 1_000_000) as i64 - 60_000;
    let end_ms = (unix_now().as_millis() as i64).max((span.end_unix_nanos / 1_000_000) as i64) + 60_000;
    let looked = read_until(ctx.target.limits.wait, || async {
        let graph = pyroscope
            .span_flamegraph(&profile_type, &selector, &spans, (start_ms, end_ms))
            .await?;
        Ok((graph.total > 0).then_some(graph))
    })
    .await;
    if let Some((verdict, summary)) = undecided_read(&looked, "the span's flame graph from Pyroscope") {
        evidence.error = Some(summary.clone());
        return Outcome::new(verdict, summary).with_evidence(evidence);
    }
    match looked {
        Looked::Found(graph) => {
            evidence.total = graph.total;
            evidence.frames = graph.names;
            let total = evidence.total;
            let selector_text = evidence.label_selector.clone();
            evidence.waterfall = evidence.waterfall.take().map(|w| {
                w.found(
                    span.span_id,
                    Pillar::Profiles,
                    format!("{profile_type}: {:.1} ms of samples for the span", total as f64 / 1e6),
                    grafana.map(|g| (g, Store::Pyroscope, selector_text.as_str())),
                )
            });
            Outcome::new(
                Verdict::Pass,
                format!(
                    "the span's profile holds {total} ns of samples for span {}",
                    span.span_id
                ),
            )
            .with_evidence(evidence)
        }
        _ => {
            let summary = format!(
                "Grafana's profiles link for span {} ({profile_type}, {selector}) shows an empty flame graph: do the profiles carry the `span_id` label?",
                span.span_id
            );
            fail(evidence, Reason::EmptyFlamegraph, summary)
        }
    }
}
