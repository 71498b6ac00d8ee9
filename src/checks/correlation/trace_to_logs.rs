//! `correlation.trace_to_logs`: the Loki query Grafana's Tempo datasource
//! builds from its `tracesToLogsV2` settings for the backend's server span
//! returns that request's log lines, and the Loki datasource's derived
//! fields extract the trace id back from them — both halves of the
//! trace ⇄ logs link a person clicks.
//!
//! Uses: checks::correlation::{session, settings, links}, query::loki.

use serde::Serialize;

use crate::checks::correlation::links::{DerivedField, TracesToLogs, derived_fields, loki_query, traces_to_logs};
use crate::checks::correlation::session::{NoSpan, backend_span};
use crate::checks::correlation::settings::Correlations;
use crate::checks::{CheckCtx, Outcome, Verdict};
use crate::measure::wait::{Probe, wait_for};
use crate::query::loki::LogLine;
use crate::target::Store;

#[derive(Debug, Clone, Copy)]
enum Reason {
    NoLink,
    NoBackendSpan,
    NoLines,
    DerivedFieldMismatch,
    Unreachable,
    NotConfigured,
}

impl Reason {
    const fn as_str(self) -> &'static str {
        match self {
            Reason::NoLink => "no_link",
            Reason::NoBackendSpan => "no_backend_span",
            Reason::NoLines => "no_lines",
            Reason::DerivedFieldMismatch => "derived_field_mismatch",
            Reason::Unreachable => "unreachable",
            Reason::NotConfigured => "not_configured",
        }
    }
}

#[derive(Debug, Default, Serialize)]
struct Evidence {
    settings_from: String,
    traces_to_logs: Option<TracesToLogs>,
    derived_fields: Vec<DerivedField>,
    trace_id: String,
    span_id: String,
    /// The exact LogQL Grafana's link runs, and its range in unix ns.
    logql: Option<String>,
    range_ns: Option<(u64, u64)>,
    lines_found: usize,
    sample_lines: Vec<LogLine>,
    /// What each derived field extracted from the lines.
    extracted: Vec<(String, Option<String>)>,
    error: Option<String>,
}

pub async fn run(ctx: &CheckCtx) -> Outcome {
    let (Some(loki), Some(tempo)) = (ctx.loki(), ctx.tempo()) else {
        return Outcome::new(
            Verdict::Skip(Reason::NotConfigured.as_str()),
            "the target names no Loki or no Tempo read endpoint",
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
        .and_then(|d| traces_to_logs(&d.json_data))
    else {
        return fail(
            evidence,
            Reason::NoLink,
            "the Tempo datasource has no tracesToLogsV2 settings".into(),
        );
    };
    evidence.derived_fields = settings
        .by_uid(&cfg.datasource_uid)
        .or_else(|| settings.of(ctx, Store::Loki))
        .map(|d| derived_fields(&d.json_data))
        .unwrap_or_default();
    evidence.traces_to_logs = Some(cfg.clone());

    let span = match backend_span(ctx, &tempo).await {
        Ok(span) => span,
        Err(NoSpan::NotDriven(outcome)) => return outcome,
        Err(NoSpan::Unreachable(err)) => {
            return Outcome::new(Verdict::Error(Reason::Unreachable.as_str()), err).with_evidence(evidence);
        }
        Err(NoSpan::Missing(summary)) => return fail(evidence, Reason::NoBackendSpan, summary),
    };
    evidence.trace_id = span.trace_id.to_string();
    evidence.span_id = span.span_id.to_string();
    let (logql, range) = match loki_query(&span, &cfg) {
        Ok(Some(link)) => (link.logql, link.range_ns),
        Ok(None) => {
            let keys: Vec<&str> = cfg.tags.iter().map(|t| t.key.as_str()).collect();
            return fail(
                evidence,
                Reason::NoLink,
                format!(
                    "the span carries none of the link's tags ({}), so Grafana shows no logs link",
                    keys.join(", ")
                ),
            );
        }
        Err(e) => return fail(evidence, Reason::NoLink, e),
    };
    evidence.logql = Some(logql.clone());
    evidence.range_ns = Some(range);

    let lines = wait_for(ctx.target.limits.wait, "the linked log lines", || async {
        match loki.query_range(&logql, range, 100).await {
            Ok(lines) if !lines.is_empty() => Probe::Ready(lines),
            Ok(_) => Probe::NotYet("no lines".into()),
            Err(e) if e.is_unreachable() => Probe::GiveUp(e.to_string()),
            Err(e) => Probe::NotYet(e.to_string()),
        }
    })
    .await;
    let lines = match lines {
        Ok(lines) => lines,
        Err(e) if e.gave_up => {
            evidence.error = Some(e.to_string());
            return Outcome::new(Verdict::Error(Reason::Unreachable.as_str()), e.to_string()).with_evidence(evidence);
        }
        Err(e) => {
            evidence.error = Some(e.to_string());
            let summary = format!(
                "Grafana's logs link for trace {} finds no lines: {logql}",
                span.trace_id
            );
            return fail(evidence, Reason::NoLines, summary);
        }
    };
    evidence.lines_found = lines.len();
    evidence.sample_lines = lines.iter().take(3).cloned().collect();

    let want = span.trace_id.to_string();
    let mut matched = false;
    for field in &evidence.derived_fields {
        for line in lines.iter().take(10) {
            let value = field.extract(line).unwrap_or_else(|e| {
                evidence.error = Some(e);
                None
            });
            matched |= value.as_deref() == Some(want.as_str());
            evidence.extracted.push((field.name.clone(), value));
        }
    }
    if !matched {
        let summary = if evidence.derived_fields.is_empty() {
            "the Loki datasource has no derived fields, so its lines link back to no trace".to_owned()
        } else {
            let regexes: Vec<String> = evidence
                .derived_fields
                .iter()
                .map(|f| format!("{} `{}`", f.matcher_type.as_deref().unwrap_or("regex"), f.matcher_regex))
                .collect();
            format!(
                "{} line(s) found, but the Loki derived fields ({}) do not extract trace id {want} from them",
                lines.len(),
                regexes.join(", ")
            )
        };
        return fail(evidence, Reason::DerivedFieldMismatch, summary);
    }
    Outcome::new(
        Verdict::Pass,
        format!(
            "Grafana's logs link finds {} line(s) and the derived field leads back to the trace",
            lines.len()
        ),
    )
    .with_evidence(evidence)
}
