//! Reading traces back from Tempo, directly or through Grafana's datasource
//! proxy: readiness, trace by id (v1 and v2) and TraceQL search.
//!
//! Follows `shared/reference/api/03-tempo.md`: v1 answers `batches` with
//! base64 ids and 404 with an empty body when the trace is unknown; v2 never
//! 404s, an empty `trace` means not found; search returns hex ids with leading
//! zeros trimmed. `start`/`end` are unix seconds.
//!
//! Uses: target, ids, http.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::http::{HttpError, ReadClient};
use crate::ids::{SpanId, TraceId};
use crate::query::lang::traceql::SpansetFilter;
use crate::target::ReadEndpoint;

/// A span as read back, ids decoded, attributes flattened to strings.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReadSpan {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent_span_id: Option<SpanId>,
    pub name: String,
    pub kind: String,
    pub service_name: Option<String>,
    /// Resource attributes of the span's batch.
    pub resource: BTreeMap<String, String>,
    pub attributes: BTreeMap<String, String>,
    pub start_unix_nanos: u64,
    pub end_unix_nanos: u64,
}

/// A trace as read back: its spans, in the order Tempo returned them.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ReadTrace {
    pub spans: Vec<ReadSpan>,
}

/// One trace in a search result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SearchHit {
    pub trace_id: TraceId,
    pub root_service_name: Option<String>,
    pub root_trace_name: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TempoClient {
    read: ReadClient,
}

const WHAT: &str = "Tempo";

impl TempoClient {
    pub fn new(http: reqwest::Client, endpoint: &ReadEndpoint, timeout: Duration) -> Self {
        TempoClient {
            read: ReadClient::new(http, endpoint, timeout, WHAT),
        }
    }

    pub fn base(&self) -> &Url {
        self.read.base()
    }

    /// `GET /ready`: 200 `ready` once the ring is up.
    pub async fn ready(&self) -> Result<(), HttpError> {
        self.read.expect_ok("ready").await
    }

    /// `GET /api/echo`: 200 `echo` when the query frontend serves. Through
    /// Grafana this is what stands in for a Tempo health check.
    pub async fn echo(&self) -> Result<(), HttpError> {
        self.read.expect_ok("api/echo").await
    }

    /// `GET /api/traces/<id>`; `None` when Tempo answers 404.
    pub async fn trace_v1(&self, id: TraceId, range: Option<(u64, u64)>) -> Result<Option<ReadTrace>, HttpError> {
        let answer = self
            .read
            .get(&format!("api/traces/{id}"), &range_query(range), &[])
            .await?;
        if answer.status == 404 {
            return Ok(None);
        }
        let parsed: TraceV1 = answer.json(WHAT)?;
        let trace = flatten(parsed.batches).map_err(|e| HttpError::decode(WHAT, &answer.url, e))?;
        Ok((!trace.spans.is_empty()).then_some(trace))
    }

    /// `GET /api/v2/traces/<id>`; `None` when the `trace` object is empty.
    pub async fn trace_v2(&self, id: TraceId, range: Option<(u64, u64)>) -> Result<Option<ReadTrace>, HttpError> {
        let answer = self
            .read
            .get(&format!("api/v2/traces/{id}"), &range_query(range), &[])
            .await?;
        // Newer frontends do answer 404; treat it as the empty trace.
        if answer.status == 404 {
            return Ok(None);
        }
        let parsed: TraceV2 = answer.json(WHAT)?;
        let batches = parsed.trace.map(|t| t.resource_spans).unwrap_or_default();
        let trace = flatten(batches).map_err(|e| HttpError::decode(WHAT, &answer.url, e))?;
        Ok((!trace.spans.is_empty()).then_some(trace))
    }

    /// `GET /api/search?q=<TraceQL>&start&end&limit`.
    pub async fn search(
        &self,
        traceql: &SpansetFilter,
        range: Option<(u64, u64)>,
        limit: u32,
    ) -> Result<Vec<SearchHit>, HttpError> {
        let mut query = vec![("q", traceql.to_string()), ("limit", limit.to_string())];
        query.extend(range_query(range));
        let answer = self.read.get("api/search", &query, &[]).await?;
        let parsed: SearchResponse = answer.json(WHAT)?;
        parsed
            .traces
            .into_iter()
            .map(|t| t.hit().map_err(|e| HttpError::decode(WHAT, &answer.url, e)))
            .collect()
    }
}

fn range_query(range: Option<(u64, u64)>) -> Vec<(&'static str, String)> {
    match range {
        Some((start, end)) => vec![("start", start.to_string()), ("end", end.to_string())],
        None => Vec::new(),
    }
}

// Wire shapes. Only what the harness reads is declared; unknown fields are
// ignored because Tempo adds fields between versions.

#[derive(Debug, Deserialize)]
struct TraceV1 {
    #[serde(default)]
    batches: Vec<Batch>,
}

#[derive(Debug, Deserialize)]
struct TraceV2 {
    trace: Option<TraceV2Body>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TraceV2Body {
    #[serde(default)]
    resource_spans: Vec<Batch>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Batch {
    #[serde(default)]
    resource: Option<Resource>,
    #[serde(default, alias = "instrumentationLibrarySpans")]
    scope_spans: Vec<ScopeSpans>,
}

#[derive(Debug, Deserialize)]
struct Resource {
    #[serde(default)]
    attributes: Vec<KeyValue>,
}

#[derive(Debug, Deserialize)]
struct ScopeSpans {
    #[serde(default)]
    spans: Vec<WireSpan>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireSpan {
    trace_id: String,
    span_id: String,
    #[serde(default)]
    parent_span_id: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: Option<serde_json::Value>,
    #[serde(default)]
    attributes: Vec<KeyValue>,
    #[serde(default)]
    start_time_unix_nano: Option<serde_json::Value>,
    #[serde(default)]
    end_time_unix_nano: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct KeyValue {
    /// jsonpb leaves an empty key out.
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct SearchResponse {
    #[serde(default)]
    traces: Vec<SearchTrace>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchTrace {
    /// Trimmed of leading zeros; the all-zero id trims to nothing, and
    /// jsonpb then leaves the field out.
    #[serde(rename = "traceID", default)]
    trace_id: String,
    root_service_name: Option<String>,
    root_trace_name: Option<String>,
}

/// What Tempo names the root of a trace whose root span has not arrived
/// (`pkg/search/util.go`): no service, no name.
const ROOT_NOT_YET_RECEIVED: &str = "<root span not yet received>";

impl SearchTrace {
    fn hit(self) -> Result<SearchHit, crate::ids::IdError> {
        let trace_id = if self.trace_id.is_empty() {
            TraceId([0; 16])
        } else {
            TraceId::from_trimmed_hex(&self.trace_id)?
        };
        let known = |name: Option<String>| name.filter(|n| n != ROOT_NOT_YET_RECEIVED);
        Ok(SearchHit {
            trace_id,
            root_service_name: known(self.root_service_name),
            root_trace_name: known(self.root_trace_name),
        })
    }
}

/// The string form of an OTLP JSON `AnyValue` (`{"stringValue":"x"}`,
/// `{"intValue":"3"}`, …).
fn any_value_text(value: &serde_json::Value) -> String {
    let Some(obj) = value.as_object() else {
        return value.to_string();
    };
    match obj.iter().next() {
        Some((_, serde_json::Value::String(s))) => s.clone(),
        Some((_, other)) => other.to_string(),
        None => String::new(),
    }
}

fn kind_text(kind: Option<&serde_json::Value>) -> String {
    const NAMES: [&str; 6] = [
        "SPAN_KIND_UNSPECIFIED",
        "SPAN_KIND_INTERNAL",
        "SPAN_KIND_SERVER",
        "SPAN_KIND_CLIENT",
        "SPAN_KIND_PRODUCER",
        "SPAN_KIND_CONSUMER",
    ];
    match kind {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .and_then(|i| NAMES.get(i as usize))
            .map_or_else(|| n.to_string(), |s| (*s).to_owned()),
        _ => NAMES[0].to_owned(),
    }
}

/// A 64-bit time that JSON writes as a string (or, from some encoders, a
/// number).
fn nanos(v: Option<&serde_json::Value>) -> u64 {
    match v {
        Some(serde_json::Value::String(s)) => s.parse().unwrap_or(0),
        Some(serde_json::Value::Number(n)) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

fn flatten(batches: Vec<Batch>) -> Result<ReadTrace, crate::ids::IdError> {
    let mut spans = Vec::new();
    for batch in batches {
        let resource: BTreeMap<String, String> = batch
            .resource
            .as_ref()
            .map(|r| {
                r.attributes
                    .iter()
                    .map(|kv| (kv.key.clone(), any_value_text(&kv.value)))
                    .collect()
            })
            .unwrap_or_default();
        let service_name = resource.get("service.name").cloned();
        for scope in batch.scope_spans {
            for span in scope.spans {
                let parent_span_id = match span.parent_span_id.as_deref() {
                    None | Some("") => None,
                    Some(p) => Some(SpanId::from_base64(p)?),
                };
                spans.push(ReadSpan {
                    trace_id: TraceId::from_base64(&span.trace_id)?,
                    span_id: SpanId::from_base64(&span.span_id)?,
                    parent_span_id,
                    name: span.name,
                    kind: kind_text(span.kind.as_ref()),
                    service_name: service_name.clone(),
                    resource: resource.clone(),
                    start_unix_nanos: nanos(span.start_time_unix_nano.as_ref()),
                    end_unix_nanos: nanos(span.end_time_unix_nano.as_ref()),
                    attributes: span
                        .attributes
                        .iter()
                        .map(|kv| (kv.key.clone(), any_value_text(&kv.value)))
                        .collect(),
                });
            }
        }
    }
    Ok(ReadTrace { spans })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_example_from_the_reference_parses() {
        // shared/reference/api/03-tempo.md §3.2.
        let body = r#"{"batches":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"harness-backend"}}]},
          "scopeSpans":[{"scope":{"name":"harness"},"spans":[
            {"traceId":"S/kvNXezTaajzpKdDg5HNg==","spanId":"APBnqgupArc=","name":"GET /api/x","kind":"SPAN_KIND_SERVER",
             "startTimeUnixNano":"1735689600000000000","endTimeUnixNano":"1735689600250000000",
             "attributes":[{"key":"pillars.seq","value":{"intValue":"7"}}],"status":{}}]}]}]}"#;
        let parsed: TraceV1 = serde_json::from_str(body).unwrap();
        let trace = flatten(parsed.batches).unwrap();
        let span = &trace.spans[0];
        assert_eq!(span.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(span.span_id.to_string(), "00f067aa0ba902b7");
        assert_eq!(span.parent_span_id, None);
        assert_eq!(span.kind, "SPAN_KIND_SERVER");
        assert_eq!(span.service_name.as_deref(), Some("harness-backend"));
        assert_eq!(span.attributes["pillars.seq"], "7");
        assert_eq!(span.start_unix_nanos, 1_735_689_600_000_000_000);
        assert_eq!(span.end_unix_nanos - span.start_unix_nanos, 250_000_000);
    }

    #[test]
    fn search_hits_take_tempos_trimmed_ids_and_its_placeholder_root() {
        let body = r#"{"traces":[
          {"traceID":"2f3577b34da6a3ce929d0e0e4736","rootServiceName":"<root span not yet received>","startTimeUnixNano":"1"},
          {"rootServiceName":"backend","rootTraceName":"GET /api/x"}]}"#;
        let parsed: SearchResponse = serde_json::from_str(body).unwrap();
        let hits: Vec<SearchHit> = parsed.traces.into_iter().map(|t| t.hit().unwrap()).collect();
        assert_eq!(hits[0].trace_id.to_string(), "00002f3577b34da6a3ce929d0e0e4736");
        assert_eq!(
            (hits[0].root_service_name.as_deref(), hits[0].root_trace_name.as_deref()),
            (None, None)
        );
        assert_eq!(hits[1].trace_id, TraceId([0; 16]), "the all-zero id has no traceID");
        assert_eq!(hits[1].root_service_name.as_deref(), Some("backend"));
    }

    #[test]
    fn v2_empty_trace_is_not_found() {
        let parsed: TraceV2 = serde_json::from_str(r#"{"trace":{},"metrics":{}}"#).unwrap();
        let batches = parsed.trace.map(|t| t.resource_spans).unwrap_or_default();
        assert!(flatten(batches).unwrap().spans.is_empty());
    }

    #[test]
    fn search_example_from_the_reference_parses() {
        // shared/reference/api/03-tempo.md §3.3, with a trimmed id.
        let body = r#"{"traces":[{"traceID":"f3e0cee77ae5dc9c17ade3689eb2e54","rootServiceName":"shop-backend","rootTraceName":"update-billing",
          "startTimeUnixNano":"1684778327699392724","durationMs":557,
          "spanSets":[{"spans":[{"spanID":"563d623c76514f8e","startTimeUnixNano":"1684778327735077898","durationNanos":"446979497",
             "attributes":[{"key":"status","value":{"stringValue":"error"}}]}],"matched":1}]}],
          "metrics":{"inspectedBytes":"1","totalBlocks":13}}"#;
        let parsed: SearchResponse = serde_json::from_str(body).unwrap();
        let id = TraceId::from_trimmed_hex(&parsed.traces[0].trace_id).unwrap();
        assert_eq!(id.to_string(), "0f3e0cee77ae5dc9c17ade3689eb2e54");
    }
}
