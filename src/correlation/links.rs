//! Grafana's correlation links, rebuilt from the datasources' settings the
//! way Grafana builds them: exemplar destinations of the Prometheus
//! datasource, the Tempo datasource's `tracesToLogsV2` Loki query and
//! `tracesToProfiles` span-profile query (`createSpanLink.tsx`), and the Loki
//! datasource's derived fields (`shared/reference/api/02-grafana-http-api.md`
//! §2.6, `06-pyroscope.md` §6.3).
//!
//! Queries are built through `query::lang`, byte for byte what Grafana
//! writes for ordinary values. Grafana pastes tag values and names into
//! its query unescaped, so a value holding `"` or `\`, or a name that is
//! no label name, makes Grafana's link an invalid query: that is reported
//! as a broken link, and pillars never sends the broken text.
//!
//! Uses: query::{loki, tempo, lang}.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::query::lang::logql::{LogQuery, Selector, Stage, label_is};
use crate::query::lang::promql::Selector as Selector_;
use crate::query::lang::{LabelName, LangError, Matcher};
use crate::query::loki::LogLine;
use crate::query::tempo::ReadSpan;

/// One `exemplarTraceIdDestinations` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExemplarDestination {
    /// The exemplar label holding the trace id.
    pub name: String,
    #[serde(default)]
    pub datasource_uid: String,
}

pub fn exemplar_destinations(json_data: &Value) -> Vec<ExemplarDestination> {
    json_data
        .get("exemplarTraceIdDestinations")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

/// `tracesToLogsV2`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TracesToLogs {
    #[serde(rename = "datasourceUid")]
    pub datasource_uid: String,
    pub tags: Vec<Tag>,
    #[serde(rename = "filterByTraceID")]
    pub filter_by_trace_id: bool,
    #[serde(rename = "filterBySpanID")]
    pub filter_by_span_id: bool,
    pub custom_query: bool,
    pub query: String,
    pub span_start_time_shift: String,
    pub span_end_time_shift: String,
}

pub fn traces_to_logs(json_data: &Value) -> Option<TracesToLogs> {
    serde_json::from_value(json_data.get("tracesToLogsV2")?.clone()).ok()
}

/// `tracesToProfiles`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TracesToProfiles {
    #[serde(rename = "datasourceUid")]
    pub datasource_uid: String,
    pub tags: Vec<Tag>,
    #[serde(rename = "profileTypeId")]
    pub profile_type_id: String,
    pub custom_query: bool,
    pub query: String,
}

pub fn traces_to_profiles(json_data: &Value) -> Option<TracesToProfiles> {
    serde_json::from_value(json_data.get("tracesToProfiles")?.clone()).ok()
}

/// One Loki `derivedFields` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DerivedField {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub matcher_regex: String,
    /// `regex` (default) matches the line; `label` names a label.
    #[serde(default)]
    pub matcher_type: Option<String>,
    #[serde(default)]
    pub datasource_uid: Option<String>,
    #[serde(default)]
    pub url: String,
}

pub fn derived_fields(json_data: &Value) -> Vec<DerivedField> {
    json_data
        .get("derivedFields")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

impl DerivedField {
    /// What the field extracts from a line, as Grafana's Loki datasource
    /// does (`getDerivedFields.ts`): the regex's first capture group from
    /// the line (no group, no link), or, for a `label` field, the value of
    /// the first label whose name the regex finds, unanchored.
    pub fn extract(&self, line: &LogLine) -> Result<Option<String>, String> {
        let re = regex::Regex::new(&self.matcher_regex)
            .map_err(|e| format!("derived field {:?}: bad regex: {e}", self.name))?;
        if self.matcher_type.as_deref() == Some("label") {
            return Ok(line
                .stream
                .iter()
                .chain(&line.structured_metadata)
                .chain(&line.parsed)
                .find(|(name, _)| re.is_match(name))
                .map(|(_, value)| value.clone()));
        }
        Ok(re
            .captures(&line.line)
            .and_then(|c| c.get(1))
            .map(|m| m.as_str().to_owned())
            .filter(|v| !v.is_empty()))
    }
}

/// Grafana's default tags when a link names none (`defaultKeys`): a
/// dotted key maps to the key with its first dot made `_`.
const DEFAULT_LOG_TAGS: [&str; 6] = [
    "cluster",
    "hostname",
    "namespace",
    "pod",
    "service.name",
    "service.namespace",
];
const DEFAULT_PROFILE_TAGS: [&str; 2] = ["service.name", "service.namespace"];

/// Why Grafana shows no working link for a span.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoLink {
    #[error("the span carries none of the link's tags ({0}), so Grafana shows no link")]
    NoTags(String),
    #[error(
        "Grafana writes the span's `{tag}` value {value:?} into its query unescaped, which makes the link's query invalid"
    )]
    Unquotable { tag: String, value: String },
    #[error("the link maps `{tag}` to `{label}`, which is not a label name the store takes: {why}")]
    BadLabel { tag: String, label: String, why: LangError },
    #[error("the custom query uses `${{{0}}}`, which Grafana cannot fill for this span, so it shows no link")]
    UnknownVariable(String),
    #[error("{0}")]
    Invalid(String),
}

/// `name="value"` matchers for the tags the span (or its resource)
/// carries, named as configured (`getFormattedTags`).
fn tag_matchers(span: &ReadSpan, tags: &[Tag], defaults: &[&str]) -> Result<Vec<Matcher>, NoLink> {
    let owned: Vec<Tag>;
    let tags = if tags.is_empty() {
        owned = defaults
            .iter()
            .map(|k| Tag {
                key: (*k).to_owned(),
                value: if k.contains('.') {
                    k.replacen('.', "_", 1)
                } else {
                    String::new()
                },
            })
            .collect();
        &owned
    } else {
        tags
    };
    let mut out = Vec::new();
    for tag in tags {
        let Some(value) = span.attributes.get(&tag.key).or_else(|| span.resource.get(&tag.key)) else {
            continue;
        };
        if value.contains(['"', '\\', '\n']) {
            return Err(NoLink::Unquotable {
                tag: tag.key.clone(),
                value: value.clone(),
            });
        }
        let label = if tag.value.is_empty() { &tag.key } else { &tag.value };
        out.push(Matcher::eq(label, value.clone()).map_err(|why| NoLink::BadLabel {
            tag: tag.key.clone(),
            label: label.clone(),
            why,
        })?);
    }
    if out.is_empty() {
        let keys: Vec<&str> = tags.iter().map(|t| t.key.as_str()).collect();
        return Err(NoLink::NoTags(keys.join(", ")));
    }
    Ok(out)
}

/// Replaces Grafana's link variables (`templateSrv.replace` with the span's
/// scoped vars); a variable it cannot fill hides the link.
fn interpolate(template: &str, span: &ReadSpan, tags: &str) -> Result<String, NoLink> {
    let variable = regex::Regex::new(r"\$\{(\w+)(?:\.([^:^}]+))?(?::[^}]+)?\}").expect("a valid pattern");
    let mut unknown = None;
    let out = variable.replace_all(template, |c: &regex::Captures<'_>| {
        let path = c.get(2).map(|m| m.as_str());
        let value = match (&c[1], path) {
            ("__tags", None) => Some(tags.to_owned()),
            ("__span" | "__trace", Some("traceId")) => Some(span.trace_id.to_string()),
            ("__span", Some("spanId")) => Some(span.span_id.to_string()),
            ("__span", Some("name")) => Some(span.name.clone()),
            ("__span", Some(path)) => {
                span_tag(path).and_then(|key| span.attributes.get(key).or_else(|| span.resource.get(key)).cloned())
            }
            _ => None,
        };
        value.unwrap_or_else(|| {
            unknown.get_or_insert_with(|| c[0][2..c[0].len() - 1].to_owned());
            String::new()
        })
    });
    match unknown {
        Some(name) => Err(NoLink::UnknownVariable(name)),
        None => Ok(out.into_owned()),
    }
}

/// The tag key of a lodash path into `__span`: `tags.key` (no dots in the
/// key, as lodash splits on them) or `tags["dotted.key"]`.
fn span_tag(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("tags")?;
    if let Some(key) = rest.strip_prefix('.') {
        return (!key.contains(['.', '['])).then_some(key);
    }
    let inner = rest.strip_prefix('[')?.strip_suffix(']')?;
    inner
        .strip_prefix('"')
        .and_then(|k| k.strip_suffix('"'))
        .or_else(|| inner.strip_prefix('\'').and_then(|k| k.strip_suffix('\'')))
}

/// Parses a time shift such as `-5m` or `30s` into signed milliseconds.
fn shift_ms(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(0);
    }
    let (sign, body) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    humantime::parse_duration(body)
        .map(|d| sign * d.as_millis() as i64)
        .map_err(|e| format!("bad time shift {text:?}: {e}"))
}

/// What Grafana's trace-to-logs link opens.
#[derive(Debug, Clone, PartialEq)]
pub struct LogsLink {
    pub logql: LogQuery,
    /// Unix nanoseconds, start and end.
    pub range_ns: (u64, u64),
}

/// The Loki query and range Grafana's trace-to-logs link opens for `span`
/// (`getQueryForLoki`), or why it shows no working link.
pub fn loki_query(span: &ReadSpan, cfg: &TracesToLogs) -> Result<LogsLink, NoLink> {
    let range_ns = range(span, &cfg.span_start_time_shift, &cfg.span_end_time_shift).map_err(NoLink::Invalid)?;
    let logql = if cfg.custom_query {
        let tags = tag_matchers(span, &cfg.tags, &DEFAULT_LOG_TAGS)
            .map(|m| m.iter().map(Matcher::to_string).collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        LogQuery::from_settings(interpolate(&cfg.query, span, &tags)?)
    } else {
        let selector = Selector::new(tag_matchers(span, &cfg.tags, &DEFAULT_LOG_TAGS)?)
            .map_err(|e| NoLink::Invalid(format!("Grafana's query would select nothing: {e}")))?;
        let mut query = LogQuery::new(selector);
        let filter = |name: &str, id: String, label: &str| -> Result<[Stage; 2], LangError> {
            Ok([
                Stage::LineContainsLabel {
                    name: LabelName::new(name)?,
                    text: id.clone(),
                },
                Stage::LabelFilter(vec![vec![label_is(name, "true")?], vec![label_is(label, id)?]]),
            ])
        };
        let invalid = |e: LangError| NoLink::Invalid(e.to_string());
        if cfg.filter_by_trace_id {
            for stage in filter("log_line_contains_trace_id", span.trace_id.to_string(), "trace_id").map_err(invalid)? {
                query = query.then(stage);
            }
        }
        if cfg.filter_by_span_id {
            for stage in filter("log_line_contains_span_id", span.span_id.to_string(), "span_id").map_err(invalid)? {
                query = query.then(stage);
            }
        }
        query
    };
    Ok(LogsLink { logql, range_ns })
}

/// The span's time range in ms, shifted, with the end rounded up by 1 ms
/// when flooring would cut the span short (`getTimeRangeFromSpan`).
fn range(span: &ReadSpan, start_shift: &str, end_shift: &str) -> Result<(u64, u64), String> {
    let start_ms = (span.start_unix_nanos / 1_000_000) as i64 + shift_ms(start_shift)?;
    let end_exact_ms = span.end_unix_nanos as f64 / 1e6;
    let mut end_ms = end_exact_ms.floor() as i64 + shift_ms(end_shift)?;
    if end_exact_ms.floor() as i64 == end_ms {
        end_ms += 1;
    }
    Ok(((start_ms.max(0) as u64) * 1_000_000, (end_ms.max(0) as u64) * 1_000_000))
}

/// The label selector, profile type and span ids of the span-profile query
/// Grafana's trace-to-profiles link runs.
pub fn profile_query(
    span: &ReadSpan,
    cfg: &TracesToProfiles,
    default_type: &str,
) -> Result<(Selector_, String, Vec<String>), NoLink> {
    let selector = if cfg.custom_query {
        let tags = tag_matchers(span, &cfg.tags, &DEFAULT_PROFILE_TAGS)
            .map(|m| m.iter().map(Matcher::to_string).collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        Selector_::from_settings(interpolate(&cfg.query, span, &tags)?)
    } else {
        Selector_::labels(tag_matchers(span, &cfg.tags, &DEFAULT_PROFILE_TAGS)?)
            .map_err(|e| NoLink::Invalid(e.to_string()))?
    };
    let profile_type = if cfg.profile_type_id.is_empty() {
        default_type.to_owned()
    } else {
        cfg.profile_type_id.clone()
    };
    Ok((selector, profile_type, vec![span.span_id.to_string()]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn span() -> ReadSpan {
        ReadSpan {
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap(),
            span_id: "00f067aa0ba902b7".parse().unwrap(),
            parent_span_id: None,
            name: "GET /api/delay/fast".into(),
            kind: "SPAN_KIND_SERVER".into(),
            service_name: Some("durable-code-backend".into()),
            resource: BTreeMap::from([
                ("service.name".into(), "durable-code-backend".into()),
                ("service.namespace".into(), "durable-code".into()),
            ]),
            attributes: BTreeMap::new(),
            start_unix_nanos: 1_735_689_600_000_000_000,
            end_unix_nanos: 1_735_689_600_250_000_500,
        }
    }

    #[test]
    fn trace_to_logs_query_is_grafanas() {
        let cfg = TracesToLogs {
            datasource_uid: "loki".into(),
            tags: vec![Tag {
                key: "service.name".into(),
                value: "service_name".into(),
            }],
            filter_by_trace_id: true,
            ..Default::default()
        };
        let LogsLink {
            logql: query,
            range_ns: (start, end),
        } = loki_query(&span(), &cfg).unwrap();
        assert_eq!(
            query.to_string(),
            "{service_name=\"durable-code-backend\"} | label_format log_line_contains_trace_id=`{{ contains \"4bf92f3577b34da6a3ce929d0e0e4736\" __line__  }}` | log_line_contains_trace_id=\"true\" or trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\""
        );
        assert_eq!(start, 1_735_689_600_000_000_000);
        assert_eq!(end, 1_735_689_600_251_000_000);
        // A tag rename to a label the span does not carry gives no link.
        let cfg = TracesToLogs {
            tags: vec![Tag {
                key: "k8s.pod.name".into(),
                value: "pod".into(),
            }],
            ..cfg
        };
        assert!(matches!(loki_query(&span(), &cfg), Err(NoLink::NoTags(_))));
        // A value Grafana would paste unescaped breaks the link.
        let mut odd = span();
        odd.resource.insert("k8s.pod.name".into(), "a\"b".into());
        assert!(matches!(loki_query(&odd, &cfg), Err(NoLink::Unquotable { .. })));
    }

    #[test]
    fn default_profile_tags_include_the_namespace() {
        let (selector, ty, spans) = profile_query(
            &span(),
            &TracesToProfiles::default(),
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds",
        )
        .unwrap();
        assert_eq!(
            selector.to_string(),
            "{service_name=\"durable-code-backend\", service_namespace=\"durable-code\"}"
        );
        assert_eq!(ty, "process_cpu:cpu:nanoseconds:cpu:nanoseconds");
        assert_eq!(spans, vec!["00f067aa0ba902b7"]);
    }

    #[test]
    fn derived_fields_extract_by_regex_or_label() {
        let line = LogLine {
            stream: BTreeMap::new(),
            structured_metadata: BTreeMap::from([("trace_id".into(), "abc123".into())]),
            parsed: BTreeMap::new(),
            ts_ns: 1,
            line: r#"{"body":"x","traceid":"abc123"}"#.into(),
        };
        let by_label = DerivedField {
            name: "TraceID".into(),
            matcher_regex: "trace_id".into(),
            matcher_type: Some("label".into()),
            datasource_uid: Some("tempo".into()),
            url: String::new(),
        };
        assert_eq!(by_label.extract(&line).unwrap().as_deref(), Some("abc123"));
        // Grafana tests the regex against label names, unanchored.
        let loose = DerivedField {
            matcher_regex: "trace".into(),
            ..by_label.clone()
        };
        assert_eq!(loose.extract(&line).unwrap().as_deref(), Some("abc123"));
        let by_regex = DerivedField {
            matcher_regex: r#""traceid":"(\w+)""#.into(),
            matcher_type: None,
            ..by_label.clone()
        };
        assert_eq!(by_regex.extract(&line).unwrap().as_deref(), Some("abc123"));
        let wrong = DerivedField {
            matcher_regex: r#""trace_id":"(\w+)""#.into(),
            ..by_regex
        };
        assert_eq!(wrong.extract(&line).unwrap(), None);
    }

    #[test]
    fn settings_parse_from_provisioned_json_data() {
        let json = serde_json::json!({
            "exemplarTraceIdDestinations": [{ "name": "traceID", "datasourceUid": "tempo" }],
            "tracesToLogsV2": { "datasourceUid": "loki", "filterByTraceID": true, "tags": [{ "key": "service.name", "value": "service_name" }] },
            "tracesToProfiles": { "datasourceUid": "pyroscope", "profileTypeId": "x" },
            "derivedFields": [{ "name": "TraceID", "matcherRegex": "trace_id", "matcherType": "label" }]
        });
        assert_eq!(exemplar_destinations(&json)[0].name, "traceID");
        assert!(traces_to_logs(&json).unwrap().filter_by_trace_id);
        assert_eq!(traces_to_profiles(&json).unwrap().profile_type_id, "x");
        assert_eq!(derived_fields(&json)[0].matcher_type.as_deref(), Some("label"));
        assert_eq!(shift_ms("-5m").unwrap(), -300_000);
    }
}
