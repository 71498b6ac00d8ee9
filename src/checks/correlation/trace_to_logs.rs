//! `correlation.trace_to_logs`: the Loki query Grafana's Tempo datasource
//! builds from its `tracesToLogsV2` settings for the backend's server span
//! returns that request's log lines, and the Loki datasource's derived
//! fields extract the trace id back from them — both halves of the
//! trace ⇄ logs link a person clicks.
//!
//! When either half finds nothing, the check looks for the trace's lines
//! by other means (the trace id in any line, or as structured metadata, in
//! the span's time range) and says where they are and which setting would
//! find them: a tag mapping or custom query for the first half, a regex
//! that matches the line the store holds for the second.
//!
//! Uses: check, correlation::{session, settings, links}, roundtrip::lookup,
//! query::{loki, lang}, wait.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::check::reason::{Shared, reasons};
use crate::check::spec::Budget;
use crate::check::{CheckCtx, CheckSettings, Outcome, Pillar, Verdict};
use crate::correlation::links::{DerivedField, TracesToLogs, derived_fields, loki_query, traces_to_logs};
use crate::correlation::session::{self, backend_span};
use crate::correlation::settings;
use crate::correlation::waterfall::Waterfall;
use crate::query::lang::logql::{LogQuery, Selector, Stage, label_is};
use crate::query::lang::{LangError, MatchOp, Matcher, regex_literal};
use crate::query::loki::{LogLine, LokiClient};
use crate::query::tempo::ReadSpan;
use crate::roundtrip::lookup::undecided_read;
use crate::target::Store;
use crate::wait::{Looked, read_until};

reasons! {
    /// Why the check did not pass, beside the shared reasons; reads that
    /// failed are `read_failed` or `unreachable`.
    pub enum Reason {
        NoLink,
        NoBackendSpan,
        NoLines,
        DerivedFieldMismatch,
    }
}

/// The settings, the backend span, a `wait` for the linked lines, then the
/// two searches for them elsewhere.
pub(crate) fn budget(settings: &CheckSettings) -> Budget {
    Budget::requests(1).then(session::spans_budget(settings)).then(Budget {
        waits: 1,
        ..Budget::requests(2)
    })
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
    /// Where the trace's lines were found by other means, when Grafana's
    /// link did not find them.
    whereabouts: Option<Whereabouts>,
    error: Option<String>,
    /// The followed request's trace, with its lines beside the span.
    waterfall: Option<Waterfall>,
}

/// The streams that hold a trace's lines, found without Grafana's query.
#[derive(Debug, Default, Serialize)]
struct Whereabouts {
    queries: Vec<String>,
    streams: Vec<BTreeMap<String, String>>,
    sample_line: Option<String>,
    /// The setting that would have found them, in words.
    suggestion: Option<String>,
}

/// Searches for the trace's lines by their id: in the line text, and as the
/// `trace_id` structured metadata Loki's OTLP endpoint keeps.
pub fn search_queries(trace_id: &str) -> Result<[LogQuery; 2], LangError> {
    let any = || Selector::new(vec![Matcher::new("service_name", MatchOp::Re, ".+")?]);
    Ok([
        LogQuery::new(any()?).then(Stage::Contains(trace_id.to_owned())),
        LogQuery::new(any()?).then(Stage::LabelFilter(vec![vec![label_is("trace_id", trace_id)?]])),
    ])
}

pub async fn run(ctx: &CheckCtx) -> Outcome {
    let clients = ctx.loki().zip(ctx.tempo());
    let ((loki, tempo), settings) =
        match settings::start(ctx, clients, "the target names no Loki or no Tempo read endpoint").await {
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

    let (span, trace) = match backend_span(ctx, "correlation.trace_to_logs", &tempo).await {
        Ok(followed) => (followed.span, followed.trace),
        Err(no_span) => return no_span.outcome(evidence, Reason::NoBackendSpan),
    };
    let grafana = ctx.target.grafana.as_ref();
    evidence.waterfall = Some(Waterfall::of(span.trace_id, &trace, grafana));
    evidence.trace_id = span.trace_id.to_string();
    evidence.span_id = span.span_id.to_string();
    let link = match loki_query(&span, &cfg) {
        Ok(link) => link,
        Err(no_link) => {
            let summary = format!("Grafana's logs link for trace {}: {no_link}", span.trace_id);
            return fail(evidence, Reason::NoLink, summary);
        }
    };
    let (logql, range) = (link.logql, link.range_ns);
    evidence.logql = Some(logql.to_string());
    evidence.range_ns = Some(range);

    let looked = read_until(ctx.target.limits.wait, || async {
        let lines = loki.query_range(&logql, range, 100).await?;
        Ok((!lines.is_empty()).then_some(lines))
    })
    .await;
    if let Some((verdict, summary)) = undecided_read(&looked, "the linked log lines from Loki") {
        evidence.error = Some(summary.clone());
        return Outcome::new(verdict, summary).with_evidence(evidence);
    }
    let Looked::Found(lines) = looked else {
        let whereabouts = match find_elsewhere(&loki, &span, range).await {
            Ok(w) => w,
            Err(outcome) => return outcome.with_evidence(evidence),
        };
        let mut summary = format!(
            "Grafana's logs link for trace {} finds no lines: {logql}",
            span.trace_id
        );
        match whereabouts.streams.first() {
            Some(stream) => {
                summary.push_str(&format!("; lines for this trace are under {}", stream_text(stream)));
                if let Some(suggestion) = &whereabouts.suggestion {
                    summary.push_str(&format!("; {suggestion}"));
                }
                if let Some(why) = link_mismatch(&cfg, &span, stream) {
                    summary.push_str(&format!(" ({why})"));
                }
            }
            None => summary.push_str(&format!(
                "; no line of any stream mentions trace {} in the span's time range, as text or as trace_id metadata",
                span.trace_id
            )),
        }
        evidence.whereabouts = Some(whereabouts);
        return fail(evidence, Reason::NoLines, summary);
    };
    evidence.lines_found = lines.len();
    evidence.sample_lines = lines.iter().take(3).cloned().collect();
    let logql_text = logql.to_string();
    evidence.waterfall = evidence.waterfall.take().map(|w| {
        let first = lines.first().map(|l| l.line.as_str()).unwrap_or_default();
        w.found(
            span.span_id,
            Pillar::Logs,
            format!("{} log line(s) through Grafana's link, first: {first}", lines.len()),
            grafana.map(|g| (g, Store::Loki, logql_text.as_str())),
        )
    });

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
        let mut summary = if evidence.derived_fields.is_empty() {
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
        if let Some(fix) = lines.iter().find_map(|l| derived_field_fix(l, &want)) {
            summary.push_str(&format!("; {fix}"));
        }
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

/// Looks for the trace's lines without Grafana's query, widening the span's
/// range by a minute each side for clock skew and batching.
async fn find_elsewhere(loki: &LokiClient, span: &ReadSpan, (start, end): (u64, u64)) -> Result<Whereabouts, Outcome> {
    const MINUTE_NS: u64 = 60_000_000_000;
    let range = (start.saturating_sub(MINUTE_NS), end + MINUTE_NS);
    let queries = search_queries(&span.trace_id.to_string()).map_err(|e| Outcome::bad_query("the trace search", e))?;
    let mut out = Whereabouts::default();
    for query in &queries {
        out.queries.push(query.to_string());
        let lines = loki.query_range(query, range, 20).await.map_err(|e| {
            Outcome::new(
                Verdict::error(Shared::of(&e)),
                format!("Grafana's logs link found no lines, and searching Loki for the trace's lines failed: {e}"),
            )
        })?;
        for line in lines {
            if !out.streams.contains(&line.stream) {
                out.streams.push(line.stream.clone());
            }
            out.sample_line.get_or_insert(line.line);
        }
    }
    // The span's own service's streams first: the frontend's lines carry
    // the same trace id, but they are not what the link should find.
    if let Some(service) = span.resource.get("service.name") {
        out.streams
            .sort_by_key(|stream| !stream.values().any(|v| v.contains(service.as_str())));
    }
    out.suggestion = out.streams.first().and_then(|stream| tag_fix(span, stream));
    Ok(out)
}

fn stream_text(stream: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = stream.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("`{{{}}}`", pairs.join(", "))
}

/// How the link's tags miss the stream: the label each maps to, and the
/// value the stream carries under it.
fn link_mismatch(cfg: &TracesToLogs, span: &ReadSpan, stream: &BTreeMap<String, String>) -> Option<String> {
    cfg.tags.iter().find_map(|tag| {
        let label = if tag.value.is_empty() { &tag.key } else { &tag.value };
        let value = span.attributes.get(&tag.key).or_else(|| span.resource.get(&tag.key))?;
        (stream.get(label) != Some(value)).then(|| match stream.get(label) {
            Some(held) => format!(
                "the Tempo datasource maps {} → {label}, and these streams carry {label}={held:?}, not {value:?}",
                tag.key
            ),
            None => format!(
                "the Tempo datasource maps {} → {label}, which these streams do not carry",
                tag.key
            ),
        })
    })
}

/// A `tracesToLogsV2` setting that would select the stream: a tag mapping
/// when a label holds the span's `service.name`, else a custom query when a
/// label holds `<service.namespace>/<service.name>` (Loki's
/// `service_name` for `otelcol.exporter.loki`'s `job`).
fn tag_fix(span: &ReadSpan, stream: &BTreeMap<String, String>) -> Option<String> {
    let service = span.resource.get("service.name")?;
    if let Some((label, _)) = stream.iter().find(|(_, v)| *v == service) {
        return Some(format!("map the tag service.name → {label} in tracesToLogsV2"));
    }
    let namespace = span.resource.get("service.namespace")?;
    let qualified = format!("{namespace}/{service}");
    // Loki's own `service_name` before the label it was derived from.
    let (label, _) = stream
        .get_key_value("service_name")
        .filter(|(_, v)| **v == qualified)
        .or_else(|| stream.iter().find(|(_, v)| **v == qualified))?;
    Some(format!(
        // A Grafana setting, spelled as Grafana reads it: not a query pillars sends.
        "a custom tracesToLogsV2 query such as {{{label}=\"${{__span.tags[\"service.namespace\"]}}/${{__span.tags[\"service.name\"]}}\"}} |= \"${{__trace.traceId}}\" would select them" // Grafana setting text
    ))
}

/// A derived field that would read `trace_id` back from this line: the
/// structured metadata label that holds it, or a regex on the key before
/// it in the text.
fn derived_field_fix(line: &LogLine, trace_id: &str) -> Option<String> {
    if let Some((label, _)) = line.structured_metadata.iter().find(|(_, v)| *v == trace_id) {
        return Some(format!(
            "a derived field with matcherType label and matcherRegex `{label}` would"
        ));
    }
    let at = line.line.find(trace_id)?;
    let before = &line.line[..at];
    let key_start = before
        .rfind(|c: char| c.is_whitespace() || c == ',' || c == '{')
        .map_or(0, |i| i + 1);
    let key = &before[key_start..];
    (!key.is_empty()).then(|| {
        format!(
            "the lines hold it as `{key}{trace_id}`: matcherRegex `{}(\\w+)` would extract it",
            regex_literal(key)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str, metadata: &[(&str, &str)]) -> LogLine {
        LogLine {
            stream: BTreeMap::new(),
            structured_metadata: metadata
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            parsed: BTreeMap::new(),
            ts_ns: 1,
            line: text.to_owned(),
        }
    }

    #[test]
    fn a_regex_that_matches_the_line_the_store_holds() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        let exporter = line(&format!(r#"{{"body":"x","traceid":"{id}","spanid":"00f0"}}"#), &[]);
        let fix = derived_field_fix(&exporter, id).unwrap();
        assert!(fix.contains(r#"matcherRegex `"traceid":"(\w+)`"#), "{fix}");
        let faro = line(&format!("kind=log traceID={id} spanID=00f0"), &[]);
        assert!(derived_field_fix(&faro, id).unwrap().contains(r"`traceID=(\w+)`"));
        let otlp = line("plain body", &[("trace_id", id)]);
        assert!(
            derived_field_fix(&otlp, id)
                .unwrap()
                .contains("matcherType label and matcherRegex `trace_id`")
        );
        assert_eq!(derived_field_fix(&line("nothing", &[]), id), None);
    }
}
